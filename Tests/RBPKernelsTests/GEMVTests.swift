// GEMV and its transpose against the naive reference in Double, over edge
// lengths around the vector width and the four-row grouping, with α and β
// of 0, 1 and other values, in both precisions, on every instruction set
// this CPU supports.

import RBPCore
import RBPTestSupport
import Testing

@testable import RBPKernels

func checkGEMV<T: KernelScalar>(
  _: T.Type, trans: Bool, m: Int, n: Int,
  alpha: Double, beta: Double, seed: UInt64, isa: KernelISA
) -> String? {
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
  gemv(
    trans: trans, m: m, n: n, alpha: T(alpha), a: a, lda: lda, x: x, beta: T(beta), y: &y,
    kernels: isa.kernels)
  let (ratio, i) = worstRatio(y, want, bound: bound)
  if ratio <= 1 { return nil }
  return
    "\(T.self) \(isa) trans=\(trans) \(m)x\(n) α=\(alpha) β=\(beta): y[\(i)] = \(y[i]), expected \(want[i]) (\(ratio)× the bound)"
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
        if let f = checkGEMV(
          T.self, trans: trans, m: m, n: n, alpha: sc.alpha, beta: sc.beta,
          seed: UInt64(index), isa: isa)
        {
          failures.append(f)
        }
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

  /// Aᵀ(A v) in one pass against two naive products in Double, and ‖A v‖²,
  /// over row counts around the group of eight and widths around the
  /// vector, with a row stride wider than the rows.
  @Test func gramVectorMatchesTwoProducts() {
    func check<T: KernelScalar>(_: T.Type, isa: KernelISA) {
      for (m, n) in [(1, 1), (3, 5), (8, 8), (9, 17), (16, 33), (21, 64), (64, 7)] {
        var rng = SeededGenerator(seed: UInt64(m * 100 + n))
        let lda = n + 2
        let a = randomArray(T.self, m * lda, &rng), v = randomArray(T.self, n, &rng)
        let ad = a.map(Double.init), vd = v.map(Double.init)
        var av = [Double](repeating: 0, count: m), want = [Double](repeating: 0, count: n)
        gemvReference(trans: false, m: m, n: n, alpha: 1, a: ad, lda: lda, x: vd, beta: 0, y: &av)
        gemvReference(trans: true, m: m, n: n, alpha: 1, a: ad, lda: lda, x: av, beta: 0, y: &want)
        var out = [T](repeating: .nan, count: n + 1)
        out[n] = 42
        let squares = gramVector(m: m, n: n, a: a, lda: lda, v: v, into: &out, kernels: isa.kernels)
        let tolerance = 16 * Double(T.ulpOfOne) * Double(m + n + 2)
        let scale = (want.map(abs).max() ?? 0) + 1
        #expect(
          zip(out, want).allSatisfy { abs(Double($0) - $1) <= tolerance * scale } && out[n] == 42,
          "\(T.self) \(isa) \(m)×\(n)")
        let norm2 = av.reduce(0) { $0 + $1 * $1 }
        #expect(abs(squares - norm2) <= tolerance * (norm2 + 1), "\(T.self) \(isa) \(m)×\(n): ‖A v‖²")
      }
    }
    for isa in testedISAs {
      check(Float.self, isa: isa)
      check(Double.self, isa: isa)
    }
  }
}
