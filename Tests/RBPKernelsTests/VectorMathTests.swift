// The vectorised Float tanh and exp of every instruction set against the C
// library in Double, over a dense sweep of arguments (tiny, moderate,
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
    let err = e.isInfinite ? (Double(y) == e ? 0 : .infinity)
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
    while x < 30 { xs += [x, -x]; x *= 1.0005 }
    for k in -2000...2000 { xs.append(Float(k) / 100) }
    return xs + [0, -0.0, 1e-30, -1e-30]   // a length that leaves a tail
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
