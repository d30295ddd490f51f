// GEMM and GEMV throughput under package-benchmark: square products at
// n = 32…1024, the engine's shapes, and GEMV, in f32 and f64, each
// reporting wall clock and a GFLOP/s metric. Inputs are built outside the
// measured region. For ratios against OpenBLAS measured in the same run,
// use scripts/bench_kernels.py.

import Benchmark
import Dispatch
import RBPBench
import RBPKernels

/// GFLOP/s of the measured loop, recorded per benchmark.
let gflops = BenchmarkMetric.custom("GFLOP/s", polarity: .prefersLarger, useScalingFactor: false)

let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, gflops],
    warmupIterations: 3,
    scalingFactor: .one,
    maxDuration: .milliseconds(400),
    maxIterations: 200)

  // The cases of `rbp bench kernels` (RBPBench), and the largest square on
  // two threads.
  for c in kernelCases(sizes: [32, 64, 128, 256, 512, 1024], squareOnly: false) {
    switch c.kind {
    case .gemm:
      registerGEMM(Float.self, "f32", name: c.name, m: c.m, n: c.n, k: c.k, transA: c.transA, transB: c.transB)
      registerGEMM(Double.self, "f64", name: c.name, m: c.m, n: c.n, k: c.k, transA: c.transA, transB: c.transB)
    case .gemv:
      registerGEMV(Float.self, "f32", name: c.name, n: c.n, trans: c.transA)
      registerGEMV(Double.self, "f64", name: c.name, n: c.n, trans: c.transA)
    }
  }
  registerGEMM(Float.self, "f32", name: "1024x1024x1024 2 threads", m: 1024, n: 1024, k: 1024, threads: 2)
  registerGEMM(Double.self, "f64", name: "1024x1024x1024 2 threads", m: 1024, n: 1024, k: 1024, threads: 2)
}

/// Operands of one benchmark, built by its setup hook (outside every
/// measured region) and freed by its teardown.
final class Operands<T: KernelScalar>: @unchecked Sendable {
  var buffers: [UnsafeMutablePointer<T>] = []
  let workspace = KernelWorkspace<T>()

  func make(_ counts: [Int]) {
    var g = SystemRandomNumberGenerator()
    buffers = counts.map { count in
      let p = UnsafeMutablePointer<T>.allocate(capacity: count)
      for i in 0..<count { p[i] = T(Double.random(in: -1...1, using: &g)) }
      return p
    }
  }

  func free() {
    for buffer in buffers { buffer.deallocate() }
    buffers = []
  }
}

/// Times `reps` calls and records their GFLOP/s.
func measureLoop(_ benchmark: Benchmark, flopsPerCall: Double, _ call: () -> Void) {
  let reps = max(1, Int(8_000_000 / flopsPerCall))
  benchmark.startMeasurement()
  let start = DispatchTime.now().uptimeNanoseconds
  for _ in 0..<reps { call() }
  let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
  benchmark.stopMeasurement()
  benchmark.measurement(gflops, Int(flopsPerCall * Double(reps) / seconds * 1e-9))
}

func registerGEMM<T: KernelScalar>(
  _: T.Type, _ precision: String, name: String, m: Int, n: Int, k: Int,
  transA: Bool = false, transB: Bool = false, threads: Int = 1
) {
  let ops = Operands<T>()
  Benchmark(
    "gemm \(precision) \(name)",
    closure: { benchmark in
      let (a, b, c) = (ops.buffers[0], ops.buffers[1], ops.buffers[2])
      measureLoop(benchmark, flopsPerCall: 2 * Double(m * n * k)) {
        gemm(
          transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: transA ? m : k,
          b: b, ldb: transB ? k : n, c: c, ldc: n, threads: threads, workspace: ops.workspace)
      }
      blackHole(c[0])
    },
    setup: {
      ops.make([m * k, k * n, m * n])
      // Sizes the workspace before anything is measured.
      gemm(
        transA: transA, transB: transB, m: m, n: n, k: k, a: ops.buffers[0],
        lda: transA ? m : k, b: ops.buffers[1], ldb: transB ? k : n, c: ops.buffers[2],
        ldc: n, threads: threads, workspace: ops.workspace)
    },
    teardown: { ops.free() })
}

func registerGEMV<T: KernelScalar>(_: T.Type, _ precision: String, name: String, n: Int, trans: Bool) {
  let ops = Operands<T>()
  Benchmark(
    "gemv \(precision) \(name)",
    closure: { benchmark in
      let (a, x, y) = (ops.buffers[0], ops.buffers[1], ops.buffers[2])
      measureLoop(benchmark, flopsPerCall: 2 * Double(n * n)) {
        gemv(trans: trans, m: n, n: n, a: a, lda: n, x: x, y: y)
      }
      blackHole(y[0])
    },
    setup: { ops.make([n * n, n, n]) },
    teardown: { ops.free() })
}
