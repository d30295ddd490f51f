// GEMM against the naive reference, computed in Double from the same
// inputs, over edge shapes (1, MR±1, NR±1, KC+1, non-square), each
// transpose, α and β of 0, 1 and other values, through every path: the
// small unpacked path, the packed path with the real and with tiny blockings
// (so every block boundary is crossed), the threaded path and the public
// entry point. Both precisions go through one generic helper, on every
// instruction set this CPU supports (generic, AVX2, AVX-512), each forced
// through its workspace.

import Foundation
import RBPCore
import RBPTestSupport
import Testing

@testable import RBPKernels

enum Path: String, CaseIterable, CustomStringConvertible {
  case entry, small, blocked, tinyBlocked, threaded, threadedSmall, packedSmall, packedThreaded
  var description: String { rawValue }
}

struct Shape: CustomStringConvertible {
  var m: Int, n: Int, k: Int
  var description: String { "\(m)x\(n)x\(k)" }
}

/// Edge shapes for the register tile and the depth block of precision T.
func edgeShapes<T: KernelScalar>(_: T.Type, isa: KernelISA) -> [Shape] {
  let bl = T.gemmBlocking(for: isa)
  let ms = [1, bl.mr - 1, bl.mr, bl.mr + 1, bl.mr + bl.mr / 3, bl.mr + 4, 2 * bl.mr + 5]
  let ns = [1, bl.nr - 1, bl.nr, bl.nr + 1, 2 * bl.nr + 3]
  let ks = [1, 7, bl.kc + 1]
  var shapes: [Shape] = []
  for m in ms { for n in ns { for k in ks { shapes.append(Shape(m: m, n: n, k: k)) } } }
  // Non-square shapes that cross MC and NC blocks of the real table.
  shapes.append(Shape(m: bl.mc + 7, n: 3, k: 19))
  shapes.append(Shape(m: 2, n: bl.nr * 3 + 1, k: 2 * bl.kc + 3))
  return shapes
}

let scalings: [(alpha: Double, beta: Double)] = [
  (1, 0), (1, 1), (0.75, 0), (-1.5, 1), (1, -0.5), (2, 0.25), (0, 0.5), (0, 0), (0.5, 1),
]

/// Runs one product through `path` and compares it with the Double
/// reference, element by element, against the bound
/// `8·ε·(k+2)·(|α|·Σ|a||b| + |β|·|c|)` plus a tiny absolute floor.
func checkGEMM<T: KernelScalar>(
  _: T.Type, path: Path, shape s: Shape, transA: Bool, transB: Bool,
  alpha: Double, beta: Double, seed: UInt64, isa: KernelISA = .active
) -> String? {
  var rng = SeededGenerator(seed: seed)
  // Pad leading dimensions so a kernel that ignores them fails.
  let lda = (transA ? s.m : s.k) + 3
  let ldb = (transB ? s.k : s.n) + 2
  let ldc = s.n + 1
  let a = randomArray(T.self, (transA ? s.k : s.m) * lda, &rng)
  let b = randomArray(T.self, (transB ? s.n : s.k) * ldb, &rng)
  var c = randomArray(T.self, s.m * ldc, &rng)
  if beta == 0 { for i in c.indices { c[i] = .nan } }  // β = 0 must not read C
  let c0 = c

  // The oracle in Double, from the same (rounded) inputs: the same for
  // every path (each draws these inputs from this seed), so computed once.
  let key = "\(T.self) \(s) \(transA) \(transB) \(alpha) \(beta) \(seed)"
  let (expected, bound) = OracleCache.shared.oracle(key) {
    let ad = a.map(Double.init), bd = b.map(Double.init)
    var expected = c0.map { Double($0) }
    var absA = ad.map(abs), absB = bd.map(abs)
    var bound = [Double](repeating: 0, count: expected.count)
    ad.withUnsafeBufferPointer { ap in
      bd.withUnsafeBufferPointer { bp in
        expected.withUnsafeMutableBufferPointer { cp in
          gemmReference(
            transA: transA, transB: transB, m: s.m, n: s.n, k: s.k, alpha: alpha,
            a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb,
            beta: beta, c: cp.baseAddress!, ldc: ldc)
        }
      }
    }
    absA.withUnsafeMutableBufferPointer { ap in
      absB.withUnsafeMutableBufferPointer { bp in
        bound.withUnsafeMutableBufferPointer { cp in
          gemmReference(
            transA: transA, transB: transB, m: s.m, n: s.n, k: s.k, alpha: abs(alpha),
            a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb,
            beta: 0, c: cp.baseAddress!, ldc: ldc)
        }
      }
    }
    let eps = Double(T.ulpOfOne)
    for i in bound.indices {
      let cTerm = beta == 0 ? 0 : abs(beta) * abs(Double(c0[i]))
      bound[i] = 8 * eps * Double(s.k + 2) * (bound[i] + cTerm) + 1e-300
    }
    return (expected, bound)
  }

  let problem = { (cp: UnsafeMutablePointer<T>, ap: UnsafePointer<T>, bp: UnsafePointer<T>) in
    GEMMProblem(
      transA: transA, transB: transB, m: s.m, n: s.n, k: s.k, alpha: T(alpha),
      a: ap, lda: lda, b: bp, ldb: ldb, beta: T(beta), c: cp, ldc: ldc, threads: 2)
  }
  let ws = KernelWorkspace<T>(isa: isa)
  let bl = T.gemmBlocking(for: isa)
  let tiny = GEMMBlocking(mr: bl.mr, nr: bl.nr, kc: 5, mc: 2 * bl.mr, nc: 2 * bl.nr)
  a.withUnsafeBufferPointer { ap in
    b.withUnsafeBufferPointer { bp in
      c.withUnsafeMutableBufferPointer { cp in
        let p = problem(cp.baseAddress!, ap.baseAddress!, bp.baseAddress!)
        ws.reserve(workers: 2, aCount: bl.mc * bl.kc, bCount: max(bl.kc * bl.nc, s.k * bl.nr))
        let w = ws.workers
        switch path {
        case .entry:
          gemm(
            transA: transA, transB: transB, m: s.m, n: s.n, k: s.k, alpha: T(alpha),
            a: p.a, lda: lda, b: p.b, ldb: ldb, beta: T(beta), c: p.c, ldc: ldc,
            threads: 2, workspace: ws)
        case .small:
          if s.k == 0 || alpha == 0 { scaleC(p) } else { smallGEMM(p, blocking: bl, ws.kernels, panel: w[0].packB) }
        case .blocked:
          if alpha == 0 {
            scaleC(p)
          } else {
            blockedGEMM(p, blocking: bl, ws.kernels, packA: w[0].packA, packB: w[0].packB)
          }
        case .tinyBlocked:
          if alpha == 0 {
            scaleC(p)
          } else {
            blockedGEMM(p, blocking: tiny, ws.kernels, packA: w[0].packA, packB: w[0].packB)
          }
        case .threaded:
          if alpha == 0 { scaleC(p) } else { threadedGEMM(p, workers: 2, ws, small: false, blocking: tiny) }
        case .threadedSmall:
          if alpha == 0 { scaleC(p) } else { threadedGEMM(p, workers: 2, ws, small: true) }
        case .packedSmall, .packedThreaded:
          // op(B) packed once by the public packB; the small path reads its panels.
          var packed = [T](repeating: .nan, count: packedBCount(k: s.k, n: s.n, workspace: ws))
          packed.withUnsafeMutableBufferPointer { pp in
            packB(transB: transB, k: s.k, n: s.n, b: p.b, ldb: ldb, into: pp.baseAddress!, workspace: ws)
            var q = p
            q.packedB = UnsafePointer(pp.baseAddress!)
            q.packedNR = bl.nr
            if s.k == 0 || alpha == 0 {
              scaleC(q)
            } else if path == .packedSmall {
              smallGEMM(q, blocking: bl, ws.kernels, panel: w[0].packB)
            } else {
              threadedGEMM(q, workers: 2, ws, small: true)
            }
          }
        }
      }
    }
  }

  // Padding columns of C (j ≥ n) must be untouched.
  for i in 0..<s.m where ldc > s.n {
    let before = c0[i * ldc + s.n], after = c[i * ldc + s.n]
    if !(before.isNaN && after.isNaN) && before != after {
      return "\(T.self) \(isa) \(path) \(s) tA=\(transA) tB=\(transB): wrote outside C at row \(i)"
    }
  }
  var got = c, want = expected, scale = bound
  for i in 0..<s.m where ldc > s.n {
    let j = i * ldc + s.n
    got[j] = 0
    want[j] = 0
    scale[j] = 1
  }
  let (ratio, index) = worstRatio(got, want, bound: scale)
  if ratio <= 1 { return nil }
  return "\(T.self) \(path) \(s) tA=\(transA) tB=\(transB) α=\(alpha) β=\(beta): "
    + "element \(index) is \(got[index]), expected \(want[index]) "
    + "(difference \(abs(Double(got[index]) - want[index])), \(ratio)× the bound)"
}

/// The reference results of the cases run so far, by case: the paths of
/// one precision and instruction set draw the same inputs, and the naive
/// product (unoptimised in a debug build) would otherwise dominate the
/// suite. The paths run in parallel, in step: a case missing is computed
/// holding the lock, so that the others wait for it instead of repeating it.
final class OracleCache: @unchecked Sendable {
  static let shared = OracleCache()
  private let lock = NSLock()
  private var entries: [String: (expected: [Double], bound: [Double])] = [:]

  func oracle(_ key: String, _ make: () -> ([Double], [Double])) -> ([Double], [Double]) {
    lock.lock()
    defer { lock.unlock() }
    if let known = entries[key] { return known }
    let made = make()
    entries[key] = made
    return made
  }
}

func runGEMMSuite<T: KernelScalar>(_: T.Type, path: Path) -> [String] {
  var failures: [String] = []
  for isa in testedISAs {
    failures += runGEMMSuite(T.self, path: path, isa: isa)
  }
  return failures
}

func runGEMMSuite<T: KernelScalar>(_: T.Type, path: Path, isa: KernelISA) -> [String] {
  var failures: [String] = []
  var caseIndex = 0
  for s in edgeShapes(T.self, isa: isa) {
    for transA in [false, true] {
      for transB in [false, true] {
        let sc = scalings[caseIndex % scalings.count]
        caseIndex += 1
        if let f = checkGEMM(
          T.self, path: path, shape: s, transA: transA, transB: transB,
          alpha: sc.alpha, beta: sc.beta, seed: UInt64(caseIndex), isa: isa)
        {
          failures.append(f)
        }
      }
    }
  }
  return failures
}

@Suite("GEMM against the naive reference")
struct GEMMTests {
  @Test(arguments: Path.allCases)
  func float(path: Path) {
    let failures = runGEMMSuite(Float.self, path: path)
    #expect(failures.isEmpty, "\(failures.count) failures; first: \(failures.prefix(3))")
  }

  @Test(arguments: Path.allCases)
  func double(path: Path) {
    let failures = runGEMMSuite(Double.self, path: path)
    #expect(failures.isEmpty, "\(failures.count) failures; first: \(failures.prefix(3))")
  }

  /// Every α/β pair on one shape per transpose, through the public entry point.
  @Test func everyScaling() {
    var failures: [String] = []
    for (i, sc) in scalings.enumerated() {
      for t in 0..<4 {
        let s = Shape(m: 9, n: 21, k: 13)
        if let f = checkGEMM(
          Float.self, path: .entry, shape: s, transA: t & 1 == 1, transB: t & 2 == 2,
          alpha: sc.alpha, beta: sc.beta, seed: UInt64(100 + i * 4 + t))
        {
          failures.append(f)
        }
        if let f = checkGEMM(
          Double.self, path: .entry, shape: s, transA: t & 1 == 1, transB: t & 2 == 2,
          alpha: sc.alpha, beta: sc.beta, seed: UInt64(200 + i * 4 + t))
        {
          failures.append(f)
        }
      }
    }
    #expect(failures.isEmpty, "\(failures.prefix(3))")
  }

  /// A product large enough for the public entry point to take the packed,
  /// threaded path: still within the bound of the reference.
  @Test func largeThroughEntryPoint() {
    let s = Shape(m: 300, n: 200, k: 270)
    #expect(
      checkGEMM(
        Float.self, path: .entry, shape: s, transA: false, transB: true,
        alpha: 1, beta: 0.5, seed: 7) == nil)
    #expect(
      checkGEMM(
        Double.self, path: .entry, shape: s, transA: true, transB: false,
        alpha: -1, beta: 0, seed: 8) == nil)
  }

  /// A product deeper than `smallPathMaxDepth` goes down the small path by
  /// depth blocks, each adding into C (β only on the first), each block's
  /// panel of B packed (transposed or not, narrow or wider than L2), in
  /// every instruction set.
  @Test(arguments: testedISAs)
  func deepProductsGoByDepthBlocksOnTheSmallPath(isa: KernelISA) {
    let n = 2 * Float.gemmBlocking(for: isa).nr + 3  // ldb = n + 2 in checkGEMM
    let s = Shape(m: 7, n: n, k: inPlaceSpanBytes / ((n + 2) * MemoryLayout<Float>.stride) + 17)
    #expect(s.k * (s.n + 2) * MemoryLayout<Float>.stride > inPlaceSpanBytes && s.k > smallPathMaxDepth)
    #expect(
      checkGEMM(
        Float.self, path: .small, shape: s, transA: false, transB: false,
        alpha: 1, beta: 0.5, seed: 11, isa: isa) == nil)
    #expect(
      checkGEMM(
        Double.self, path: .small, shape: s, transA: true, transB: false,
        alpha: -0.5, beta: 0, seed: 12, isa: isa) == nil)
    // Blocks whose rows still span more than L2: packed, block by block.
    let wide = Shape(m: 9, n: 520, k: smallPathMaxDepth + 6)
    #expect(smallPathDepthBlock * 522 * MemoryLayout<Float>.stride > inPlaceSpanBytes)
    for transB in [false, true] {
      #expect(
        checkGEMM(
          Float.self, path: .small, shape: wide, transA: false, transB: transB,
          alpha: 0.75, beta: -1, seed: 13, isa: isa) == nil)
    }
    #expect(
      checkGEMM(
        Double.self, path: .small, shape: wide, transA: true, transB: false,
        alpha: 1, beta: 0, seed: 14, isa: isa) == nil)
  }

  /// Deep products of a small C (the weight gradient over T·P rows) are
  /// split along the depth: through the entry point, on two threads, they
  /// match the reference for every transpose and scaling, in every
  /// instruction set, and any thread count gives the same bits as one.
  @Test(arguments: testedISAs)
  func deepProductsOfASmallCSplitTheDepth(isa: KernelISA) {
    // Small enough for the emulated CPUs of scripts/qemu_test.sh; deep
    // enough for five blocks, and a partial panel of C.
    for (s, seed) in [
      (Shape(m: 20, n: 40, k: 4 * smallPathDepthBlock + 7), UInt64(21)),
      (Shape(m: 9, n: 33, k: smallPathMaxDepth + 1), 22),
    ] {
      #expect(s.k > smallPathMaxDepth && s.m * s.n <= depthSplitMaxOutput)
      for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
        for (alpha, beta) in [(1.0, 0.0), (-0.5, 1.0), (2.0, 0.25)] {
          #expect(
            checkGEMM(
              Float.self, path: .entry, shape: s, transA: transA, transB: transB,
              alpha: alpha, beta: beta, seed: seed, isa: isa) == nil, "\(s) \(transA) \(transB)")
        }
      }
      #expect(
        checkGEMM(
          Double.self, path: .entry, shape: s, transA: true, transB: false,
          alpha: 1, beta: 0.5, seed: seed + 1, isa: isa) == nil)
    }
    // Enough multiply-adds for three workers.
    let (m, n, k) = (32, 48, 2100)
    #expect(m * n * k >= 3 * minimumVolumePerWorker)
    var rng = SeededGenerator(seed: 23)
    let a = randomArray(Float.self, m * k, &rng), b = randomArray(Float.self, n * k, &rng)
    let c0 = randomArray(Float.self, m * n, &rng)
    var results: [[Float]] = []
    for threads in [1, 2, 3, 8] {
      var c = c0
      gemm(
        transB: true, m: m, n: n, k: k, alpha: 0.5, a: a, lda: k, b: b, ldb: k, beta: 1, c: &c, ldc: n,
        threads: threads, workspace: KernelWorkspace(isa: isa))
      results.append(c)
    }
    #expect(results.allSatisfy { $0 == results[0] })
  }

  /// A B packed once (`packB`) gives the same bits as the unpacked product
  /// of op(B) stored untransposed, on the engine's shapes (B read in place,
  /// B packed panel by panel), on one thread and split across two: for a
  /// transposed B, the bits of the explicit transpose (what the engine
  /// multiplied by before it packed Wᵀ).
  @Test(arguments: [(64, 256, 256), (64, 512, 512), (32, 64, 64), (13, 70, 33), (16, 64, 2100)])
  func packedWeightsGiveTheSameBits(shape: (Int, Int, Int)) {
    let (m, n, k) = shape
    var rng = SeededGenerator(seed: 77)
    let a = randomArray(Float.self, m * k, &rng), b = randomArray(Float.self, k * n, &rng)
    // bt = op(B) stored n×k, so that op(B) = btᵀ.
    var bt = [Float](repeating: 0, count: n * k)
    for p in 0..<k { for j in 0..<n { bt[j * k + p] = b[p * n + j] } }
    let ws = KernelWorkspace<Float>()
    for transB in [false, true] {
      var packed = [Float](repeating: .nan, count: packedBCount(k: k, n: n, workspace: ws))
      if transB {
        packB(transB: true, k: k, n: n, b: bt, ldb: k, into: &packed, workspace: ws)
      } else {
        packB(k: k, n: n, b: b, ldb: n, into: &packed, workspace: ws)
      }
      for threads in [1, 2] {
        var plain = [Float](repeating: 0, count: m * n), fromPacked = plain
        gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &plain, ldc: n, threads: threads, workspace: ws)
        packed.withUnsafeBufferPointer { pp in
          if transB {
            gemm(
              transB: true, m: m, n: n, k: k, a: a, lda: k, b: bt, ldb: k, packedB: pp.baseAddress!,
              c: &fromPacked, ldc: n, threads: threads, workspace: ws)
          } else {
            gemm(
              m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, packedB: pp.baseAddress!,
              c: &fromPacked, ldc: n, threads: threads, workspace: ws)
          }
        }
        let differing = zip(plain, fromPacked).filter { $0.0 != $0.1 }.count
        #expect(differing == 0, "\(shape) transB \(transB) threads \(threads): \(differing) elements differ")
      }
    }
  }

  /// `packB` against its definition, panel[q·NR + j] = op(B)[q, j] with
  /// zeros past n, on every instruction set in both precisions: depths
  /// that leave part of a vector-square block (the transposing kernel's
  /// unit), widths that leave part of a panel, a leading dimension longer
  /// than the rows.
  @Test func packedPanelsMatchTheirDefinition() {
    func check<T: KernelScalar>(_: T.Type, isa: KernelISA) {
      let ws = KernelWorkspace<T>(isa: isa)
      let nr = ws.blocking.nr
      for (k, n) in [(1, 1), (7, 5), (16, 32), (37, 45), (64, 17)] {
        var rng = SeededGenerator(seed: UInt64(k * 100 + n))
        for transB in [false, true] {
          let ldb = (transB ? k : n) + 3
          let b = randomArray(T.self, (transB ? n : k) * ldb, &rng)
          var packed = [T](repeating: .nan, count: packedBCount(k: k, n: n, workspace: ws))
          packB(transB: transB, k: k, n: n, b: b, ldb: ldb, into: &packed, workspace: ws)
          var want = [T](repeating: 0, count: packed.count)
          for j in 0..<n {
            for q in 0..<k { want[j / nr * k * nr + q * nr + j % nr] = transB ? b[j * ldb + q] : b[q * ldb + j] }
          }
          #expect(packed == want, "\(T.self) \(isa) k \(k) n \(n) transB \(transB)")
        }
      }
    }
    for isa in testedISAs {
      check(Float.self, isa: isa)
      check(Double.self, isa: isa)
    }
  }

  /// A transposed B goes down the packed path unless its panels are
  /// already packed: a step's x·Wᵀ with W packed once (N = 512) stays on
  /// the small path.
  @Test func packedTransposedWeightsStayOnTheSmallPath() {
    let p = UnsafePointer<Float>(bitPattern: 64)!
    var problem = GEMMProblem<Float>(
      transA: false, transB: true, m: 64, n: 512, k: 512, alpha: 1,
      a: p, lda: 512, b: p, ldb: 512, beta: 1,
      c: UnsafeMutablePointer(bitPattern: 64)!, ldc: 512, threads: 1)
    #expect(!useSmallPath(problem))
    problem.packedB = p
    problem.packedNR = Float.gemmBlocking.nr
    #expect(useSmallPath(problem))
  }

  /// Threads split C into disjoint slices computed exactly as on one
  /// thread, so the result is bit-identical for any thread count, on the
  /// packed path (first shape) and the small path (second: n ≤ 64). Both
  /// are large enough that the entry point really uses several workers.
  @Test(arguments: [(400, 300, 301), (2000, 64, 300)])
  func threadCountDoesNotChangeBits(shape: (Int, Int, Int)) {
    let (m, n, k) = shape
    var rng = SeededGenerator(seed: 42)
    let a = randomArray(Float.self, m * k, &rng), b = randomArray(Float.self, k * n, &rng)
    // Only the shape counts here: the pointers are never read.
    let problem = GEMMProblem<Float>(
      transA: false, transB: false, m: m, n: n, k: k, alpha: 1,
      a: UnsafePointer(bitPattern: 64)!, lda: k,
      b: UnsafePointer(bitPattern: 64)!, ldb: n, beta: 0,
      c: UnsafeMutablePointer(bitPattern: 64)!, ldc: n, threads: 3)
    #expect(threadCount(for: problem) >= 2)
    var results: [[Float]] = []
    for threads in [1, 2, 3] {
      var c = [Float](repeating: 0, count: m * n)
      let ws = KernelWorkspace<Float>()
      gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n, threads: threads, workspace: ws)
      results.append(c)
    }
    #expect(results[0] == results[1] && results[0] == results[2])
  }

  /// Every instruction set the build has is known, the generic one runs
  /// everywhere, and the active one is the best this CPU supports unless
  /// `RBP_ISA` chose another.
  @Test func instructionSets() {
    #expect(KernelISA.generic.isSupported)
    #expect(KernelISA.supported.contains(.active))
    if ProcessInfo.processInfo.environment["RBP_ISA"] == nil {
      #expect(KernelISA.active == KernelISA.supported.last)
    }
    // Under emulation (scripts/qemu_test.sh) /proc/cpuinfo is the host's:
    // the script says which instruction set the emulated CPU must get.
    if let expected = ProcessInfo.processInfo.environment["RBP_EXPECT_ISA"] {
      #expect(KernelISA.active.rawValue == expected)
      return
    }
    #if arch(x86_64)
      let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
      if flags.contains(" avx2 ") && flags.contains(" fma ") { #expect(KernelISA.avx2.isSupported) }
      if !flags.contains(" avx2 ") { #expect(!KernelISA.avx2.isSupported) }
      if !flags.contains(" avx512f ") { #expect(!KernelISA.avx512.isSupported) }
    #endif
  }

  /// Empty products: C = β·C, or nothing at all.
  @Test func emptyDimensions() {
    var c: [Double] = [1, 2, 3, 4]
    let ws = KernelWorkspace<Double>()
    let a: [Double] = [9, 9], b: [Double] = [9, 9]
    gemm(m: 2, n: 2, k: 0, a: a, lda: 1, b: b, ldb: 2, beta: 0.5, c: &c, ldc: 2, workspace: ws)
    #expect(c == [0.5, 1, 1.5, 2])
    gemm(m: 0, n: 2, k: 3, a: a, lda: 3, b: b, ldb: 2, beta: 0, c: &c, ldc: 2, workspace: ws)
    #expect(c == [0.5, 1, 1.5, 2])
  }
}
