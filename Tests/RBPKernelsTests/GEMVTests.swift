// GEMV and its transpose against the naive reference in Double, over edge
// lengths around the vector width and the four-row grouping, with α and β
// of 0, 1 and other values, in both precisions, on every instruction set
// this CPU supports.

import Testing
@testable import RBPKernels

func checkGEMV<T: KernelScalar>(_: T.Type, trans: Bool, m: Int, n: Int,
                                alpha: Double, beta: Double, seed: UInt64, isa: KernelISA) -> String? {
  var rng = SeededGenerator(seed: seed)
  let lda = n + 3
  let a = randomArray(T.self, m * lda, &rng)
  let x = randomArray(T.self, trans ? m : n, &rng)
  var y = randomArray(T.self, trans ? n : m, &rng)
  if beta == 0 { for i in y.indices { y[i] = .nan } }
  let y0 = y.map(Double.init)
  var want = y0
  var bound = [Double](repeating: 0, count: y.count)
  let ad = a.map(Double.init), xd = x.map(Double.init)
  let absA = ad.map(abs), absX = xd.map(abs)
  gemvReference(trans: trans, m: m, n: n, alpha: alpha, a: ad, lda: lda, x: xd, beta: beta, y: &want)
  gemvReference(trans: trans, m: m, n: n, alpha: abs(alpha), a: absA, lda: lda, x: absX, y: &bound)
  let depth = trans ? m : n
  for i in bound.indices {
    bound[i] = 8 * Double(T.ulpOfOne) * Double(depth + 2) * (bound[i] + (beta == 0 ? 0 : abs(beta * y0[i]))) + 1e-300
  }
  gemv(trans: trans, m: m, n: n, alpha: T(alpha), a: a, lda: lda, x: x, beta: T(beta), y: &y,
       kernels: isa.kernels)
  let (ratio, i) = worstRatio(y, want, bound: bound)
  if ratio <= 1 { return nil }
  return "\(T.self) \(isa) trans=\(trans) \(m)x\(n) α=\(alpha) β=\(beta): y[\(i)] = \(y[i]), expected \(want[i]) (\(ratio)× the bound)"
}

func runGEMVSuite<T: KernelScalar>(_: T.Type) -> [String] {
  var failures: [String] = []
  for isa in testedISAs { failures += runGEMVSuite(T.self, isa: isa) }
  return failures
}

func runGEMVSuite<T: KernelScalar>(_: T.Type, isa: KernelISA) -> [String] {
  let w = T.gemmBlocking(for: isa).nr / 2
  let lengths = Array(Set([1, 2, 3, 4, 5, w - 1, w, w + 1, 2 * w + 3, 37])).sorted()
  var failures: [String] = []
  var index = 0
  for trans in [false, true] {
    for m in lengths {
      for n in lengths {
        let sc = scalings[index % scalings.count]
        index += 1
        if let f = checkGEMV(T.self, trans: trans, m: m, n: n, alpha: sc.alpha, beta: sc.beta,
                             seed: UInt64(index), isa: isa) { failures.append(f) }
      }
    }
  }
  return failures
}

@Suite("GEMV against the naive reference")
struct GEMVTests {
  @Test func float() {
    let failures = runGEMVSuite(Float.self)
    #expect(failures.isEmpty, "\(failures.count) failures; first: \(failures.prefix(3))")
  }
  @Test func double() {
    let failures = runGEMVSuite(Double.self)
    #expect(failures.isEmpty, "\(failures.count) failures; first: \(failures.prefix(3))")
  }
}
