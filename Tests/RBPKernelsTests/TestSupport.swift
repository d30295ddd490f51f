// Shared helpers for the kernel tests: a seeded generator, random matrices,
// and an error bound for comparing a fast kernel with the naive oracle.

import Foundation
import RBPKernels

/// SplitMix64: small, seeded, reproducible.
struct SeededGenerator: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// `count` values uniform in [−1, 1), from the top 53 bits of each draw
/// (written out: the generic `Double.random(in:using:)` is unspecialised
/// in a debug build and made drawing most of the kernel suites' time).
func randomArray<T: KernelScalar>(_: T.Type, _ count: Int, _ rng: inout SeededGenerator) -> [T] {
  var values = [T](repeating: 0, count: count)
  for i in 0..<count { values[i] = T(Double(rng.next() >> 11) * 0x1p-52 - 1) }
  return values
}

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
