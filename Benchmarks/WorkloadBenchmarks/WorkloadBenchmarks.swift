// The reference workloads W1–W4 of the specification under
// package-benchmark: one gradient step each (forward and backward, ∂L/∂W
// and ∂L/∂b), f32 and f64, on one thread and with two threads inside the
// matrix products, reporting wall clock and nominal GFLOP/s (6·N²·B·T per
// trajectory step; 2·N²·B per steady sweep plus the gradient). The same
// problems, built by the same code (RBPBench), as `rbp bench workloads`.
// For ratios against JAX measured in the same run, use
// scripts/compare_jax.py.

import Benchmark
import Dispatch
import RBPBench
import RBPTrain

let gflops = BenchmarkMetric.custom("GFLOP/s", polarity: .prefersLarger, useScalingFactor: false)

let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, gflops],
    warmupIterations: 2,
    scalingFactor: .one,
    maxDuration: .seconds(1),
    maxIterations: 100)

  for threads in [1, 2] {
    for workload in ReferenceWorkload.allCases {
      registerWorkload(workload, .f32, threads: threads)
      registerWorkload(workload, .f64, threads: threads)
    }
  }
}

/// A workload as RBPBench builds it for `rbp bench workloads` (one network
/// with its products on `threads`, many networks one per thread).
func registerWorkload(_ workload: ReferenceWorkload, _ precision: Precision, threads: Int) {
  register("\(workload.rawValue) \(precision.rawValue) \(threads) thread\(threads == 1 ? "" : "s")") {
    let prepared = try workload.prepare(precision, threads: threads)
    return (prepared.flops, prepared.step)
  }
}

/// One workload's step, built by the benchmark's setup hook (outside every
/// measured region) and dropped by its teardown.
final class Prepared: @unchecked Sendable {
  var step: (() throws -> Void)?
  var flops = 0.0
}

/// Registers `name`, timing `prepare()`'s step and recording its GFLOP/s.
func register(_ name: String, prepare: @escaping @Sendable () throws -> (flops: Double, step: () throws -> Void)) {
  let prepared = Prepared()
  Benchmark(
    name,
    closure: { benchmark in
      guard let step = prepared.step else { return }
      for _ in benchmark.scaledIterations {
        benchmark.startMeasurement()
        let start = DispatchTime.now().uptimeNanoseconds
        try step()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        benchmark.stopMeasurement()
        benchmark.measurement(gflops, Int(prepared.flops / seconds * 1e-9))
      }
    },
    setup: {
      let (flops, step) = try prepare()
      prepared.flops = flops
      prepared.step = step
    },
    teardown: { prepared.step = nil })
}
