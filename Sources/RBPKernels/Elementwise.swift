// Fused elementwise kernels of the recurrences, each one pass: pre-activation
// to activation and slope (`activate`, and `activateDrive` with a BPTT
// step's drive added), the adjoint step s = d ⊙ (v + g), a pass with its
// change (`activateChange`, `adjointChange`), the bias gradient's column
// sums and the mse with its gradient; and the cache hint for strided rows.
// The activations are defined here, once, because these kernels need them;
// the inverse activations and losses live with the models in the core module.

import CRBPKernels

/// An elementwise activation `f` and its derivative.
///
/// | case | f(z) | f'(z), from x = f(z) |
/// |---|---|---|
/// | `tanh` | tanh z | 1 − x² |
/// | `logistic` | 1/(1 + e⁻ᶻ) | x (1 − x) |
/// | `linear` | z | 1 |
/// | `relu` | max(0, z) | 1 if z > 0 else 0 |
public enum Activation: String, CaseIterable, Sendable, Codable {
  /// tanh z
  case tanh
  /// 1 / (1 + e^−z)
  case logistic
  /// z
  case linear
  /// max(0, z)
  case relu

  /// f(z)
  @inlinable
  public func value<T: KernelScalar>(_ z: T) -> T {
    switch self {
    case .tanh: return T._tanh(z)
    case .logistic: return 1 / (1 + T._exp(-z))
    case .linear: return z
    case .relu: return z > 0 ? z : 0
    }
  }

  /// f'(z), computed from the pre-activation `z` and the value `x = f(z)`.
  @inlinable
  public func slope<T: KernelScalar>(preactivation z: T, value x: T) -> T {
    switch self {
    case .tanh: return 1 - x * x
    case .logistic: return x * (1 - x)
    case .linear: return 1
    case .relu: return z > 0 ? 1 : 0
    }
  }
}

/// `x = f(z)` and `d = f'(z)` in one pass over `count` elements.
/// `x` may be the same buffer as `z`; `d` must not overlap either.
///
/// - Parameters:
///   - f: the activation.
///   - z: pre-activations, `count`.
///   - x: activations out, `count`.
///   - d: slopes out, `count`; pass `nil` when they are not needed.
///   - count: the number of elements.
///   - kernels: the instruction set's kernels (tests choose one).
@_specialize(exported:true,where T == Float)
@_specialize(exported:true,where T == Double)
public func activate<T: KernelScalar>(
  _ f: Activation, z: UnsafePointer<T>, x: UnsafeMutablePointer<T>,
  slope d: UnsafeMutablePointer<T>?, count: Int, kernels: KernelTable = .active
) {
  typealias V = T.Vector
  let width = V.scalarCount
  let vectorEnd = count / width * width
  switch f {
  case .linear:
    if UnsafePointer(x) != z { x.update(from: z, count: count) }
    d?.update(repeating: 1, count: count)
  case .relu:
    let zr = UnsafeRawPointer(z), xr = UnsafeMutableRawPointer(x)
    var i = 0
    while i < vectorEnd {
      let off = i &* MemoryLayout<T>.stride
      let v = zr.loadUnaligned(fromByteOffset: off, as: V.self)
      let positive = v .> V()
      xr.storeBytes(of: V().replacing(with: v, where: positive), toByteOffset: off, as: V.self)
      if let d {
        UnsafeMutableRawPointer(d).storeBytes(
          of: V().replacing(with: 1, where: positive), toByteOffset: off, as: V.self)
      }
      i &+= width
    }
    while i < count {
      let v = z[i]
      x[i] = v > 0 ? v : 0
      d?[i] = v > 0 ? 1 : 0
      i += 1
    }
  case .tanh, .logistic:
    T._activateSmooth(f, z: z, x: x, slope: d, count: count, kernels)
  }
}

/// A trajectory step's activation with the drive added: over `rows` rows
/// of `count` (z, x and slopes alike), `x = f(z + t)`, `slope = f'(z + t)`
/// with `t = bias + u` on the first `inputCount` units (`u` of row r at
/// `inputs + r·inputStride`) and `t = bias` beyond. The bits of adding
/// `bias + u` into `z` (as a product's β = 1 does) and then `activate`.
@_specialize(exported:true,where T == Float)
@_specialize(exported:true,where T == Double)
public func activateDrive<T: KernelScalar>(
  _ f: Activation, z: UnsafePointer<T>, bias: UnsafePointer<T>, inputs: UnsafePointer<T>, inputStride: Int,
  inputCount: Int, x: UnsafeMutablePointer<T>, slope d: UnsafeMutablePointer<T>, rows: Int, count: Int,
  kernels: KernelTable = .active
) {
  precondition(inputCount <= count, "activateDrive: \(inputCount) inputs for \(count) units")
  switch f {
  case .tanh, .logistic:
    T._activateDrive(
      f, z: z, bias: bias, inputs: inputs, inputStride: inputStride, inputCount: inputCount, x: x,
      slope: d, rows: rows, count: count, kernels)
  case .linear, .relu:
    for r in 0..<rows {
      let (zr, xr, ur) = (z + r &* count, x + r &* count, inputs + r &* inputStride)
      for j in 0..<count { xr[j] = zr[j] + (j < inputCount ? bias[j] + ur[j] : bias[j]) }
      activate(f, z: xr, x: xr, slope: d + r &* count, count: count, kernels: kernels)
    }
  }
}

/// The adjoint step `s = d ⊙ (v + g)` over `count` elements (`s = d ⊙ v`
/// when `g` is nil). `s` may be the same buffer as `v`.
///
/// - Parameters:
///   - d: slopes f'(z), `count`.
///   - v: back-propagated term (e.g. Wᵀs), `count`.
///   - g: loss gradient ∂L/∂x, `count`, or nil.
///   - s: result, `count`.
///   - count: the number of elements.
///   - kernels: the instruction set's kernels.
@inlinable
public func adjointStep<T: KernelScalar>(
  slope d: UnsafePointer<T>, _ v: UnsafePointer<T>, plus g: UnsafePointer<T>?,
  into s: UnsafeMutablePointer<T>, count: Int, kernels: KernelTable = .active
) {
  T._adjointStep(d, v, g, s, count: count, kernels)
}

/// `out[j] += scale · a[r, j]` for every row r of the `rows`×`columns`
/// matrix `a`, the rows in order: a column sum (the bias gradient Σ_t Σ_p
/// s), with the bits of the scalar loop and `out` held in registers.
@inlinable
public func addScaledRows<T: KernelScalar>(
  _ a: UnsafePointer<T>, rows: Int, columns: Int, scale: T, into out: UnsafeMutablePointer<T>,
  kernels: KernelTable = .active
) {
  T._addScaledRows(a, rows: rows, columns: columns, scale: scale, into: out, kernels)
}

/// Σ_k ½ (x_k − y_k)² over `count` elements, in Double whatever T, with
/// element k in running sum k mod 8 and the eight sums added in a fixed
/// order (the same value on every instruction set); and g = x − y, in T,
/// when `g` is given.
@inlinable
public func meanSquared<T: KernelScalar>(
  _ x: UnsafePointer<T>, _ y: UnsafePointer<T>, count: Int, gradient g: UnsafeMutablePointer<T>? = nil,
  kernels: KernelTable = .active
) -> Double {
  T._meanSquared(x, ldx: count, y, ldy: count, gradient: g, ldg: count, rows: 1, count: count, kernels)
}

/// `meanSquared` of each of `rows` rows (row strides `ldx`, `ldy`, `ldg`),
/// the rows' values added in order: a block of sequences at one step in
/// one call.
@inlinable
public func meanSquared<T: KernelScalar>(
  rows: Int, count: Int, _ x: UnsafePointer<T>, ldx: Int, _ y: UnsafePointer<T>, ldy: Int,
  gradient g: UnsafeMutablePointer<T>? = nil, ldg: Int = 0, kernels: KernelTable = .active
) -> Double {
  T._meanSquared(x, ldx: ldx, y, ldy: ldy, gradient: g, ldg: ldg, rows: rows, count: count, kernels)
}

/// (max |u − v|, max |u|) over `count` elements, vectorised: the change of
/// a pass and the scale it is measured against. The first is NaN when any
/// difference is NaN.
@_specialize(exported:true,where T == Float)
@_specialize(exported:true,where T == Double)
public func maxDifference<T: KernelScalar>(
  _ u: UnsafePointer<T>, _ v: UnsafePointer<T>, count: Int, kernels: KernelTable = .active
) -> (difference: Double, scale: Double) {
  let (worst, scale) = T._maxDifference(u, v, count: count, kernels)
  return (Double(worst), Double(scale))
}

/// One pass of the adjoint relaxation on a row: `s = d ⊙ (v + g)` (`s`
/// may be `v` or `previous`) and its change from `previous`,
/// (max |s − previous|, max |s|), in one pass; the bits of `adjointStep`
/// followed by `maxDifference(s, previous)`.
@inlinable
public func adjointChange<T: KernelScalar>(
  slope d: UnsafePointer<T>, _ v: UnsafePointer<T>, plus g: UnsafePointer<T>, into s: UnsafeMutablePointer<T>,
  previous: UnsafePointer<T>, count: Int, kernels: KernelTable = .active
) -> (difference: Double, scale: Double) {
  var out: (T, T) = (0, 0)
  withUnsafeMutablePointer(to: &out) { o in
    o.withMemoryRebound(to: T.self, capacity: 2) {
      T._adjointChange(
        d, v, g, into: s, previous: previous, ld: count, rows: 1, count: count, accumulators: nil,
        out: $0, kernels)
    }
  }
  return (Double(out.0), Double(out.1))
}

/// `adjointChange` on `rows` rows `ld` apart (all five arrays alike), row
/// r's (max |s − previous|, max |s|) in `out[2r]`, `out[2r+1]`.
@inlinable
public func adjointChange<T: KernelScalar>(
  slope d: UnsafePointer<T>, _ v: UnsafePointer<T>, plus g: UnsafePointer<T>, into s: UnsafeMutablePointer<T>,
  previous: UnsafePointer<T>, ld: Int, rows: Int, count: Int, changes out: UnsafeMutablePointer<T>,
  kernels: KernelTable = .active
) {
  T._adjointChange(
    d, v, g, into: s, previous: previous, ld: ld, rows: rows, count: count, accumulators: nil, out: out,
    kernels)
}

/// `adjointChange` on `rows` rows `ld` apart for a pass that visits the
/// units in several blocks: each row's maxima update its running maxima
/// in `accumulators` (`changeAccumulators` elements per row, zero before
/// the pass's first block), which `finishChanges` reduces once per pass.
@inlinable
public func adjointChange<T: KernelScalar>(
  slope d: UnsafePointer<T>, _ v: UnsafePointer<T>, plus g: UnsafePointer<T>, into s: UnsafeMutablePointer<T>,
  previous: UnsafePointer<T>, ld: Int, rows: Int, count: Int, accumulators: UnsafeMutablePointer<T>,
  kernels: KernelTable = .active
) {
  T._adjointChange(
    d, v, g, into: s, previous: previous, ld: ld, rows: rows, count: count, accumulators: accumulators,
    out: nil, kernels)
}

/// Elements of the running maxima of one row (see `finishChanges`): three
/// vectors as wide as the widest instruction set's, 64 bytes each.
@inlinable
public func changeAccumulators<T: KernelScalar>(_: T.Type) -> Int { 3 * 64 / MemoryLayout<T>.stride }

/// Row r's running maxima (`changeAccumulators` elements from
/// `accumulators + r · changeAccumulators`) reduced into `out[2r]` (the
/// largest change, NaN when one was NaN) and `out[2r+1]` (the largest
/// value): what one call over all of the row's units gives.
@inlinable
public func finishChanges<T: KernelScalar>(
  _ accumulators: UnsafePointer<T>, rows: Int, into out: UnsafeMutablePointer<T>, kernels: KernelTable = .active
) {
  T._finishChanges(accumulators, rows: rows, into: out, kernels)
}

/// One pass of a fixed-point iteration on a row: `fx = f(z)` and its
/// change from `x`, (max |fx − x|, max |fx|), in one pass; the bits of
/// `activate` followed by `maxDifference(fx, x)`. `fx` may be `x`.
@inlinable
public func activateChange<T: KernelScalar>(
  _ f: Activation, z: UnsafePointer<T>, previous x: UnsafePointer<T>, into fx: UnsafeMutablePointer<T>, count: Int,
  kernels: KernelTable = .active
) -> (difference: Double, scale: Double) {
  var out: (T, T) = (0, 0)
  withUnsafeMutablePointer(to: &out) { o in
    o.withMemoryRebound(to: T.self, capacity: 2) {
      activateChange(f, z: z, previous: x, into: fx, ld: count, rows: 1, count: count, changes: $0, kernels: kernels)
    }
  }
  return (Double(out.0), Double(out.1))
}

/// `activateChange` on `rows` rows `ld` apart (z, x and fx alike), row r's
/// (max |fx − x|, max |fx|) in `out[2r]`, `out[2r+1]`. `fx` may be `x`.
@inlinable
public func activateChange<T: KernelScalar>(
  _ f: Activation, z: UnsafePointer<T>, previous x: UnsafePointer<T>, into fx: UnsafeMutablePointer<T>, ld: Int,
  rows: Int, count: Int, changes out: UnsafeMutablePointer<T>, kernels: KernelTable = .active
) {
  // z is written only with an addend.
  activateChange(
    f, z: UnsafeMutablePointer(mutating: z), adding: nil, previous: x, into: fx, ld: ld, rows: rows,
    count: count, accumulators: nil, out: out, kernels: kernels)
}

/// `activateChange` on `rows` rows `ld` apart for a pass that visits the
/// units in several blocks: with an addend `a`, z + a first replaces z
/// (fx = f(z + a), the bits of a product's β = 1 update of a C holding
/// a); each row's maxima update its running maxima in `accumulators` (see
/// `adjointChange`). `fx` may be `x`.
@inlinable
public func activateChange<T: KernelScalar>(
  _ f: Activation, z: UnsafeMutablePointer<T>, adding a: UnsafePointer<T>?, previous x: UnsafePointer<T>,
  into fx: UnsafeMutablePointer<T>, ld: Int, rows: Int, count: Int, accumulators: UnsafeMutablePointer<T>,
  kernels: KernelTable = .active
) {
  activateChange(
    f, z: z, adding: a, previous: x, into: fx, ld: ld, rows: rows, count: count,
    accumulators: accumulators, out: nil, kernels: kernels)
}

/// The forms above in one: maxima into `accumulators` when given, else
/// into `out`.
@inlinable
func activateChange<T: KernelScalar>(
  _ f: Activation, z: UnsafeMutablePointer<T>, adding a: UnsafePointer<T>?, previous x: UnsafePointer<T>,
  into fx: UnsafeMutablePointer<T>, ld: Int, rows: Int, count: Int, accumulators acc: UnsafeMutablePointer<T>?,
  out: UnsafeMutablePointer<T>?, kernels: KernelTable
) {
  switch f {
  case .tanh, .logistic:
    T._activateChange(
      f, z: z, adding: a, previous: x, into: fx, ld: ld, rows: rows, count: count, accumulators: acc,
      out: out, kernels)
  case .linear, .relu:
    // Element by element, each x read before its fx is written (fx may be
    // x): the values of `activate` and the maxima of `maxDifference`. The
    // running maxima sit in the first lane of each accumulator vector.
    let lanes = changeAccumulators(T.self) / 3
    for r in 0..<rows {
      let o = r &* ld
      let row = acc.map { $0 + r &* 3 &* lanes }
      var (worst, scale, isNaN) = row.map { ($0[0], $0[lanes], $0[2 &* lanes].isNaN) } ?? (T(0), T(0), false)
      for i in 0..<count {
        var v = z[o &+ i]
        if let a {
          v += a[o &+ i]
          z[o &+ i] = v
        }
        let y = f.value(v)
        let change = abs(y - x[o &+ i])
        if change.isNaN { isNaN = true } else if change > worst { worst = change }
        if abs(y) > scale { scale = abs(y) }
        fx[o &+ i] = y
      }
      if let row {
        (row[0], row[lanes], row[2 &* lanes]) = (worst, scale, isNaN ? .nan : 0)
      } else if let out {
        (out[2 &* r], out[2 &* r &+ 1]) = (isNaN ? .nan : worst, scale)
      }
    }
  }
}

/// Copies a short row of `count` elements (no overlap) with vector moves
/// inline: the engine copies many rows of tens of elements (packing B
/// panels, time-major inputs and targets), where a call to `memmove` costs
/// as much as the copy. Longer rows go to `memmove`.
@inlinable @inline(__always)
public func copyRow<T: KernelScalar>(_ source: UnsafePointer<T>, to target: UnsafeMutablePointer<T>, count: Int) {
  typealias V = T.Vector
  guard count <= 16 * V.scalarCount else {
    target.update(from: source, count: count)
    return
  }
  let (s, t) = (UnsafeRawPointer(source), UnsafeMutableRawPointer(target))
  let step = MemoryLayout<V>.stride
  var i = 0, offset = 0
  while i &+ V.scalarCount <= count {
    t.storeBytes(of: s.loadUnaligned(fromByteOffset: offset, as: V.self), toByteOffset: offset, as: V.self)
    i &+= V.scalarCount
    offset &+= step
  }
  // The rest, under one vector, in moves of 16, 8 and 4 bytes (the bits as
  // they are): a row of 4 floats, one time step of 4 inputs, is one move.
  var left = (count &- i) &* MemoryLayout<T>.stride
  while left >= 16 {
    t.storeBytes(
      of: s.loadUnaligned(fromByteOffset: offset, as: SIMD2<UInt64>.self), toByteOffset: offset, as: SIMD2<UInt64>.self)
    (offset, left) = (offset &+ 16, left &- 16)
  }
  if left >= 8 {
    t.storeBytes(of: s.loadUnaligned(fromByteOffset: offset, as: UInt64.self), toByteOffset: offset, as: UInt64.self)
    (offset, left) = (offset &+ 8, left &- 8)
  }
  if left >= 4 {
    t.storeBytes(of: s.loadUnaligned(fromByteOffset: offset, as: UInt32.self), toByteOffset: offset, as: UInt32.self)
  }
}

/// Asks the cache for `rows` rows of `count` elements, `stride` elements
/// apart, before they are read (one row per sequence of a sequence-major
/// array at the next step): a hint, with no effect on any result.
@inlinable
public func prefetchRows<T: KernelScalar>(_ base: UnsafePointer<T>, rows: Int, stride: Int, count: Int) {
  rbp_prefetch_rows(base, rows, stride * MemoryLayout<T>.stride, count * MemoryLayout<T>.stride)
}
