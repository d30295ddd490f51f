// Vectorised tanh and exp for Float, the precision training runs in: the
// activations of every step go through them, and the C library's scalar
// tanhf/expf were half the time of a BPTT step. Double keeps the C
// library (f64 is for checks, where the last bit matters more than speed).
//
// tanh: the rational approximation x·P(x²)/Q(x²) of degree 13/6 on
// [−9, 9] (the form and coefficients used by Eigen), ±1 beyond; within 5
// ulp of the exact tanh (VectorMathTests). exp: 2^k · p(r) with
// x = k·ln2 + r, |r| ≤ ln2/2 and a degree-7 Taylor polynomial; within 2 ulp.

/// Elementwise tanh of a Float vector.
@inline(__always)
func vectorTanh(_ x: Float.Vector) -> Float.Vector {
  typealias V = Float.Vector
  let clamped = pointwiseMax(pointwiseMin(x, V(repeating: 9)), V(repeating: -9))
  let x2 = clamped * clamped
  var p = V(repeating: -2.76076847742355e-16)
  p = p * x2 + 2.00018790482477e-13
  p = p * x2 + -8.60467152213735e-11
  p = p * x2 + 5.12229709037114e-08
  p = p * x2 + 1.48572235717979e-05
  p = p * x2 + 6.37261928875436e-04
  p = p * x2 + 4.89352455891786e-03
  p = p * clamped
  var q = V(repeating: 1.19825839466702e-06)
  q = q * x2 + 1.18534705686654e-04
  q = q * x2 + 2.26843463243900e-03
  q = q * x2 + 4.89352518554385e-03
  return p / q   // near 0 this is x·(α1/β0) = x·(1 − 1.3e-7): within an ulp
}

#if RBP_AVX512
typealias FloatBits = SIMD16<Int32>
#else
typealias FloatBits = SIMD8<Int32>
#endif

/// Elementwise e^x of a Float vector (0 below −87.3, +∞ above 88.7; the
/// rare vectors with such lanes take a slower masked path).
@inline(__always)
func vectorExp(_ x: Float.Vector) -> Float.Vector {
  typealias V = Float.Vector
  let c = pointwiseMax(pointwiseMin(x, V(repeating: 88.7)), V(repeating: -87.3))
  let k = (c * 1.44269504088896341).rounded(.toNearestOrEven)
  var r = c - k * 0.693359375          // ln 2, high part (exact in Float)
  r = r - k * -2.12194440e-4           // ln 2, low part
  var p = V(repeating: 1.0 / 5040)
  p = p * r + 1.0 / 720
  p = p * r + 1.0 / 120
  p = p * r + 1.0 / 24
  p = p * r + 1.0 / 6
  p = p * r + 0.5
  p = p * r + 1
  p = p * r + 1
  // 2^k from the exponent bits; k ∈ [−126, 128] after the clamp, split in two
  // halves so that neither overflows the exponent field.
  let ki = FloatBits(k, rounding: .towardZero)
  let a = ki &>> 1, b = ki &- a
  let scale = unsafeBitCast((a &+ 127) &<< 23, to: V.self)
  let half = unsafeBitCast((b &+ 127) &<< 23, to: V.self)
  // Past the clamp: e^−87.3 underflows to 0 below, and ∞ is restored above.
  let result = p * scale * half
  return x.max() > 88.7 || x.min() < -87.3
    ? result.replacing(with: 0, where: x .< V(repeating: -87.3)).replacing(with: .infinity, where: x .> V(repeating: 88.7))
    : result
}

/// x = f(z) and d = f'(z) for tanh and logistic over Float buffers, whole
/// vectors at a time, the tail in scalar code. `x` may be `z`.
@inline(__always)
func activateFloat(
  _ f: Activation, z: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>,
  slope d: UnsafeMutablePointer<Float>?, count: Int
) {
  typealias V = Float.Vector
  let width = V.scalarCount
  let zr = UnsafeRawPointer(z), xr = UnsafeMutableRawPointer(x)
  var i = 0
  while i + width <= count {
    let off = i &* 4
    let v = zr.loadUnaligned(fromByteOffset: off, as: V.self)
    let y: V
    let s: V
    if f == .tanh {
      y = vectorTanh(v)
      s = 1 - y * y
    } else {
      y = 1 / (1 + vectorExp(-v))
      s = y * (1 - y)
    }
    xr.storeBytes(of: y, toByteOffset: off, as: V.self)
    if let d { UnsafeMutableRawPointer(d).storeBytes(of: s, toByteOffset: off, as: V.self) }
    i &+= width
  }
  while i < count {
    let v = z[i]
    let y = f.value(v)
    x[i] = y
    d?[i] = f.slope(preactivation: v, value: y)
    i += 1
  }
}
