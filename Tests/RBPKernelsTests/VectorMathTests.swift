// The vectorised Float tanh and exp against the C library in Double, over a
// dense sweep of arguments (tiny, moderate, saturating), measured in ulps of
// the exact result.

import Foundation
import Testing
@testable import RBPKernels

/// Largest error in ulps of the Double reference over `xs`.
func worstUlps(_ xs: [Float], _ fast: (Float.Vector) -> Float.Vector, _ exact: (Double) -> Double) -> (Double, Float) {
  typealias V = Float.Vector
  var worst = (0.0, Float(0))
  var i = 0
  while i + V.scalarCount <= xs.count {
    var v = V()
    for k in 0..<V.scalarCount { v[k] = xs[i + k] }
    let y = fast(v)
    for k in 0..<V.scalarCount {
      let e = exact(Double(xs[i + k]))
      let ulp = Double(Float(e).ulp)
      let err = e.isInfinite ? (Double(y[k]) == e ? 0 : .infinity) : abs(Double(y[k]) - e) / max(ulp, Double(Float.leastNonzeroMagnitude))
      if err > worst.0 { worst = (err, xs[i + k]) }
    }
    i += V.scalarCount
  }
  return worst
}

@Suite("Vectorised Float math")
struct VectorMathTests {
  let arguments: [Float] = {
    var xs: [Float] = []
    var x: Float = 1e-8
    while x < 30 { xs += [x, -x]; x *= 1.0005 }
    for k in -2000...2000 { xs.append(Float(k) / 100) }
    while xs.count % 64 != 0 { xs.append(0) }
    return xs
  }()

  @Test func tanhIsWithinAFewUlps() {
    let (ulps, at) = worstUlps(arguments, vectorTanh, Foundation.tanh)
    #expect(ulps <= 5, "tanh: \(ulps) ulps at \(at)")
  }

  @Test func expIsWithinAFewUlps() {
    let xs = arguments.map { $0 * 3 }.filter { abs($0) < 87 }
    let padded = xs + [Float](repeating: 0, count: (Float.Vector.scalarCount - xs.count % Float.Vector.scalarCount) % Float.Vector.scalarCount)
    let (ulps, at) = worstUlps(padded, vectorExp, Foundation.exp)
    #expect(ulps <= 2, "exp: \(ulps) ulps at \(at)")
    var big = Float.Vector(repeating: 100)
    big[0] = -100
    let y = vectorExp(big)
    #expect(y[0] == 0 && y[1] == .infinity)
  }
}
