// Helpers of the kernel tests: the seeded generator's name, and an error
// bound for comparing a fast kernel with the naive oracle (random arrays
// come from RBPTestSupport).

import Foundation
import RBPCore
import RBPKernels

/// The engine's seeded generator (RBPCore), which `randomArray` of
/// RBPTestSupport draws from.
typealias SeededGenerator = RBPCore.SeededGenerator

/// Largest |x − y| / bound over two arrays, where `bound[i]` is the scale
/// the rounding error of element i is measured against; ≤ 1 means agreement.
func worstRatio<T: KernelScalar>(_ x: [T], _ y: [Double], bound: [Double]) -> (ratio: Double, index: Int) {
  var worst = (0.0, -1)
  for i in x.indices {
    let diff = abs(Double(x[i]) - y[i])
    let r = diff.isNaN ? .infinity : diff / bound[i]
    if r > worst.0 || (worst.1 < 0 && r.isNaN) { worst = (r, i) }
  }
  return worst
}

/// The instruction sets the kernel tests run on: every one this CPU
/// supports, or only the one an emulated run (scripts/qemu_test.sh) names
/// in RBP_EXPECT_ISA, the others being covered by the other runs.
let testedISAs: [KernelISA] = {
  if let name = ProcessInfo.processInfo.environment["RBP_EXPECT_ISA"], let isa = KernelISA(rawValue: name) {
    return [isa]
  }
  return KernelISA.supported
}()
