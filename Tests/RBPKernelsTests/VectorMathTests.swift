// The vectorised Float tanh and exp of every instruction set against the C
// library in Double, over a dense pass of arguments (tiny, moderate,
// saturating), measured in ulps of the exact result; and NaN, ±∞ and the
// over- and underflow limits, which must come out as the C library's.

import CRBPKernels
import Foundation
import Testing

@testable import RBPKernels

/// Largest error in ulps of the Double reference over `xs`, and where.
func worstUlps(_ xs: [Float], _ ys: [Float], _ exact: (Double) -> Double) -> (Double, Float) {
  var worst = (0.0, Float(0))
  for (x, y) in zip(xs, ys) {
    let e = exact(Double(x))
    let ulp = Double(Float(e).ulp)
    let err =
      e.isInfinite
      ? (Double(y) == e ? 0 : .infinity)
      : abs(Double(y) - e) / max(ulp, Double(Float.leastNonzeroMagnitude))
    if err > worst.0 || err.isNaN { worst = (err.isNaN ? .infinity : err, x) }
  }
  return worst
}

/// tanh through the kernels' `activate` (values only).
func kernelTanh(_ xs: [Float], _ isa: KernelISA) -> [Float] {
  var ys = [Float](repeating: 0, count: xs.count)
  isa.kernels.kernels.pointee.activate_f32(0, xs, &ys, nil, xs.count)
  return ys
}

/// e^x through the kernels' vector exp.
func kernelExp(_ xs: [Float], _ isa: KernelISA) -> [Float] {
  var ys = [Float](repeating: 0, count: xs.count)
  isa.kernels.kernels.pointee.exp_f32(xs, &ys, xs.count)
  return ys
}

@Suite("Vectorised Float math")
struct VectorMathTests {
  let arguments: [Float] = {
    var xs: [Float] = []
    var x: Float = 1e-8
    while x < 30 {
      xs += [x, -x]
      x *= 1.0005
    }
    for k in -2000...2000 { xs.append(Float(k) / 100) }
    return xs + [0, -0.0, 1e-30, -1e-30]  // a length that leaves a tail
  }()

  @Test(arguments: testedISAs)
  func tanhIsWithinAFewUlps(isa: KernelISA) {
    let (ulps, at) = worstUlps(arguments, kernelTanh(arguments, isa), Foundation.tanh)
    #expect(ulps <= 5, "\(isa) tanh: \(ulps) ulps at \(at)")
  }

  @Test(arguments: testedISAs)
  func expIsWithinAFewUlps(isa: KernelISA) {
    let xs = arguments.map { $0 * 3 }.filter { abs($0) < 87 }
    let (ulps, at) = worstUlps(xs, kernelExp(xs, isa), Foundation.exp)
    #expect(ulps <= 2, "\(isa) exp: \(ulps) ulps at \(at)")
  }

  /// Limits and non-finite arguments: NaN stays NaN (a clamp must not turn
  /// it into a number), ±∞ and the saturated ranges give the exact limits.
  @Test(arguments: testedISAs)
  func limitsAndNonFinite(isa: KernelISA) {
    let xs: [Float] = [.nan, .infinity, -.infinity, 100, -100, 88.8, -87.4, 0]
    let e = kernelExp(xs, isa)
    #expect(e[0].isNaN && e[1] == .infinity && e[2] == 0 && e[3] == .infinity && e[4] == 0)
    #expect(e[5] == .infinity && e[6] == 0 && e[7] == 1)
    let t = kernelTanh(xs, isa)
    #expect(t[0].isNaN && t[1] == 1 && t[2] == -1 && t[3] == 1 && t[4] == -1 && t[7] == 0)
    var logistic = [Float](repeating: 0, count: xs.count), slope = logistic
    isa.kernels.kernels.pointee.activate_f32(1, xs, &logistic, &slope, xs.count)
    #expect(logistic[0].isNaN && slope[0].isNaN && logistic[1] == 1 && logistic[2] == 0)
  }
}

/// Largest difference in Double ulps from the C library over `xs`, and where.
func worstDoubleUlps(_ xs: [Double], _ ys: [Double], _ reference: (Double) -> Double) -> (Double, Double) {
  var worst = (0.0, 0.0)
  for (x, y) in zip(xs, ys) {
    let e = reference(x)
    let err = e.isInfinite || e == 0 ? (y == e ? 0 : .infinity) : abs(y - e) / e.ulp
    if err > worst.0 || err.isNaN { worst = (err.isNaN ? .infinity : err, x) }
  }
  return worst
}

@Suite("Vectorised Double math")
struct DoubleVectorMathTests {
  let arguments: [Double] = {
    var xs: [Double] = []
    var x = 1e-12
    while x < 40 {
      xs += [x, -x]
      x *= 1.0003
    }
    for k in -4000...4000 { xs.append(Double(k) / 200) }
    xs += [0.625, -0.625, 0.625.nextDown, (-0.625).nextUp, 20, 20.nextUp, 19.999]
    return xs + [0, -0.0, 1e-300, -1e-300, .leastNonzeroMagnitude]  // a length that leaves a tail
  }()

  func apply(_ kind: Int32, _ xs: [Double], _ isa: KernelISA) -> (values: [Double], slopes: [Double]) {
    var ys = [Double](repeating: 0, count: xs.count), ds = ys
    isa.kernels.kernels.pointee.activate_f64(kind, xs, &ys, &ds, xs.count)
    return (ys, ds)
  }

  @Test(arguments: testedISAs)
  func tanhIsWithinAFewUlps(isa: KernelISA) {
    let (ulps, at) = worstDoubleUlps(arguments, apply(0, arguments, isa).values, Foundation.tanh)
    #expect(ulps <= 3, "\(isa) tanh: \(ulps) ulps at \(at)")
  }

  @Test(arguments: testedISAs)
  func expIsWithinAFewUlps(isa: KernelISA) {
    let xs = arguments.map { $0 * 17 }.filter { abs($0) < 708 } + [-708, 709, 1e-20, -1e-20]
    var ys = [Double](repeating: 0, count: xs.count)
    isa.kernels.kernels.pointee.exp_f64(xs, &ys, xs.count)
    let (ulps, at) = worstDoubleUlps(xs, ys, Foundation.exp)
    #expect(ulps <= 2, "\(isa) exp: \(ulps) ulps at \(at)")
  }

  @Test(arguments: testedISAs)
  func logisticIsWithinAFewUlps(isa: KernelISA) {
    let xs = arguments.map { $0 * 10 }
    let (ulps, at) = worstDoubleUlps(xs, apply(1, xs, isa).values) { 1 / (1 + Foundation.exp(-$0)) }
    #expect(ulps <= 3, "\(isa) logistic: \(ulps) ulps at \(at)")
  }

  /// The slopes are 1 − tanh² and σ(1 − σ) of the values returned.
  @Test(arguments: testedISAs)
  func slopesFollowTheValues(isa: KernelISA) {
    let t = apply(0, arguments, isa), s = apply(1, arguments, isa)
    #expect(zip(t.values, t.slopes).allSatisfy { y, d in d == 1 - y * y })
    #expect(zip(s.values, s.slopes).allSatisfy { y, d in d == y * (1 - y) })
  }

  @Test(arguments: testedISAs)
  func limitsAndNonFinite(isa: KernelISA) {
    let xs: [Double] = [.nan, .infinity, -.infinity, 1000, -1000, 709.8, -708.4, 0, -0.0]
    var e = [Double](repeating: 0, count: xs.count)
    isa.kernels.kernels.pointee.exp_f64(xs, &e, xs.count)
    #expect(e[0].isNaN && e[1] == .infinity && e[2] == 0 && e[3] == .infinity && e[4] == 0)
    #expect(e[5] == .infinity && e[6] == 0 && e[7] == 1 && e[8] == 1)
    let t = apply(0, xs, isa).values
    #expect(t[0].isNaN && t[1] == 1 && t[2] == -1 && t[3] == 1 && t[4] == -1 && t[7] == 0)
    #expect(t[8] == 0 && t[8].sign == .minus)
    let l = apply(1, xs, isa)
    #expect(l.values[0].isNaN && l.slopes[0].isNaN && l.values[1] == 1 && l.values[2] == 0)
  }
}
