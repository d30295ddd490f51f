// Kernel timing for `rbp bench kernels` and the package benchmarks: the
// GEMM and GEMV cases the README quotes (squares, then the engine's
// shapes), the median time of a case in batches of calls, and the
// machine's FMA peak in registers, the "100 %" that a kernel's fraction of
// peak is measured against.

import Dispatch
import RBPKernels
import RBPTrain

/// One timed kernel call: GEMM `C(m×n) = A(m×k)·B(k×n)` (with the stated
/// transposes) or GEMV `y(m) = A(m×n)·x`.
public struct KernelCase: Sendable {
  /// Which kernel.
  public enum Kind: String, CustomStringConvertible, Sendable {
    case gemm, gemv
    public var description: String { rawValue }
  }
  /// GEMM or GEMV.
  public var kind: Kind
  /// The name the tables print, e.g. "W·X 256x256·256x64".
  public var name: String
  /// The sizes: C is m×n with depth k (GEMM); A is m×n (GEMV, k = 1).
  public var m: Int, n: Int, k: Int
  /// Whether A, B enter transposed.
  public var transA = false, transB = false
  /// The nominal floating-point operations of one call.
  public var flops: Double { kind == .gemm ? 2.0 * Double(m * n * k) : 2.0 * Double(m * n) }
}

/// The sizes of the README table: squares; then the engine's shapes, in
/// both layouts of the state block: N×B columns (`W·X`, `Wᵀ·S`, gradient
/// `S·Xᵀ`) and B×N rows (`X·W`, gradient `Sᵀ·X` over B·T = 3200 rows);
/// then GEMV.
public func kernelCases(sizes: [Int], squareOnly: Bool) -> [KernelCase] {
  var cases = sizes.map { KernelCase(kind: .gemm, name: "\($0)x\($0)x\($0)", m: $0, n: $0, k: $0) }
  if squareOnly { return cases }
  for (n, b) in [(64, 32), (32, 16), (256, 64), (512, 64)] {
    cases.append(KernelCase(kind: .gemm, name: "W·X \(n)x\(n)·\(n)x\(b)", m: n, n: b, k: n))
    cases.append(KernelCase(kind: .gemm, name: "Wᵀ·S \(n)x\(n)·\(n)x\(b)", m: n, n: b, k: n, transA: true))
    cases.append(KernelCase(kind: .gemm, name: "X·W \(b)x\(n)·\(n)x\(n)", m: b, n: n, k: n))
  }
  cases.append(KernelCase(kind: .gemm, name: "S·Xᵀ 64x3200·3200x64", m: 64, n: 64, k: 3200, transB: true))
  cases.append(KernelCase(kind: .gemm, name: "Sᵀ·X 64x3200·3200x64", m: 64, n: 64, k: 3200, transA: true))
  for n in [256, 1024] {
    cases.append(KernelCase(kind: .gemv, name: "A·x \(n)x\(n)", m: n, n: n, k: 1))
    cases.append(KernelCase(kind: .gemv, name: "Aᵀ·x \(n)x\(n)", m: n, n: n, k: 1, transA: true))
  }
  return cases
}

/// A packed-GEMM blocking other than the tuned one, for tuning: KC, and
/// MC and NC (rounded up to the register tile).
public struct BlockingOverride: Sendable, Equatable {
  /// Depth, rows and columns of the packed blocks.
  public var kc: Int, mc: Int, nc: Int
  /// This blocking.
  public init(kc: Int, mc: Int, nc: Int) { (self.kc, self.mc, self.nc) = (kc, mc, nc) }

  func workspace<T: KernelScalar>(_: T.Type) -> KernelWorkspace<T> {
    let base = T.gemmBlocking
    return KernelWorkspace<T>(
      blocking: GEMMBlocking(
        mr: base.mr, nr: base.nr, kc: kc, mc: roundUp(mc, base.mr), nc: roundUp(nc, base.nr)))
  }
}

/// `timeKernel` in `precision`, with the tuned blocking or `blocking`. The
/// public entry points of this module take a `Precision` so that the
/// generic code is specialised here.
public func timeKernel(
  _ c: KernelCase, _ precision: Precision, threads: Int, seconds: Double, blocking: BlockingOverride? = nil
) -> (gflops: Double, seconds: Double) {
  switch precision {
  case .f32:
    timeKernel(c, threads: threads, seconds: seconds, workspace: blocking?.workspace(Float.self) ?? KernelWorkspace())
  case .f64:
    timeKernel(c, threads: threads, seconds: seconds, workspace: blocking?.workspace(Double.self) ?? KernelWorkspace())
  }
}

/// The machine's FMA peak in `precision` on `threads` threads (see the
/// generic form).
public func fmaPeak(_ precision: Precision, threads: Int) -> Double {
  switch precision {
  case .f32: fmaPeak(Float.self, threads: threads)
  case .f64: fmaPeak(Double.self, threads: threads)
  }
}

/// Median seconds per call over batches that each last about 20 ms, after a
/// warm-up; stops once `seconds` of timing have accumulated.
func timeKernel<T: KernelScalar>(
  _ c: KernelCase, threads: Int, seconds: Double, workspace ws: KernelWorkspace<T>
)
  -> (gflops: Double, seconds: Double)
{
  var rng = SystemRandomNumberGenerator()
  let aCount = c.m * (c.kind == .gemm ? c.k : c.n)
  let bCount = c.kind == .gemm ? c.k * c.n : (c.transA ? c.m : c.n)
  let a = (0..<aCount).map { _ in T(Double.random(in: -1...1, using: &rng)) }
  let b = (0..<bCount).map { _ in T(Double.random(in: -1...1, using: &rng)) }
  var out = [T](repeating: 0, count: c.kind == .gemm ? c.m * c.n : max(c.m, c.n))
  let call: () -> Void = {
    a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        out.withUnsafeMutableBufferPointer { o in
          switch c.kind {
          case .gemm:
            gemm(
              transA: c.transA, transB: c.transB, m: c.m, n: c.n, k: c.k,
              a: a.baseAddress!, lda: c.transA ? c.m : c.k,
              b: b.baseAddress!, ldb: c.transB ? c.k : c.n,
              c: o.baseAddress!, ldc: c.n, threads: threads, workspace: ws)
          case .gemv:
            gemv(
              trans: c.transA, m: c.m, n: c.n, a: a.baseAddress!, lda: c.n,
              x: b.baseAddress!, y: o.baseAddress!)
          }
        }
      }
    }
  }
  call()
  let start = DispatchTime.now().uptimeNanoseconds
  call()
  let once = max(1e-7, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
  let reps = max(1, Int(0.02 / once))
  var samples: [Double] = []
  var total = 0.0
  while total < seconds || samples.count < 5 {
    let t0 = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<reps { call() }
    let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
    samples.append(dt / Double(reps))
    total += dt
  }
  samples.sort()
  let median = samples[samples.count / 2]
  return (c.flops / median * 1e-9, median)
}

/// The machine's FMA throughput in this precision with the active
/// instruction set: twelve independent vector accumulators per thread,
/// nothing but register FMAs, on `threads` threads at once. The "100 %" of
/// the fraction-of-peak column.
func fmaPeak<T: KernelScalar>(_: T.Type, threads: Int) -> Double {
  let iterations = 20_000_000
  let kernels = KernelTable.active
  let sink = UnsafeMutablePointer<T>.allocate(capacity: threads)
  defer { sink.deallocate() }
  let sinkAddress = Int(bitPattern: sink)
  let start = DispatchTime.now().uptimeNanoseconds
  DispatchQueue.concurrentPerform(iterations: threads) { w in
    let sink = UnsafeMutablePointer<T>(bitPattern: sinkAddress)!
    sink[w] = T._fmaLoop(kernels, iterations: iterations, seed: T(w + 1) * T(1e-9))
  }
  let dt = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
  let width = T.gemmBlocking(for: kernels.isa).nr / 2
  return Double(threads * iterations * 12 * 2 * width) / dt * 1e-9
}
