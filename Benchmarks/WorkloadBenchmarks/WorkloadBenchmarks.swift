// The reference workloads W1–W4 of the specification under
// package-benchmark: one gradient step each (forward and backward, ∂L/∂W
// and ∂L/∂b), f32 and f64, on one thread and with two threads inside the
// matrix products, reporting wall clock and nominal GFLOP/s (6·N²·B·T per
// trajectory step; 2·N²·B per steady sweep plus the gradient). The same
// problems as `rbp bench workloads`: tanh units, mse on all units, identity
// coupling, W with spectral norm about 0.5. For ratios against JAX measured
// in the same run, use scripts/compare_jax.py.

import Benchmark
import Dispatch
import RBPCore
import RBPKernels

let gflops = BenchmarkMetric.custom("GFLOP/s", polarity: .prefersLarger, useScalingFactor: false)

let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, gflops],
    warmupIterations: 2,
    scalingFactor: .one,
    maxDuration: .seconds(1),
    maxIterations: 100)

  for threads in [1, 2] {
    registerTrajectory(Float.self, "f32", "W1", units: 64, steps: 100, batch: 32, networks: 1, threads: threads)
    registerTrajectory(Double.self, "f64", "W1", units: 64, steps: 100, batch: 32, networks: 1, threads: threads)
    registerTrajectory(Float.self, "f32", "W2", units: 32, steps: 50, batch: 16, networks: 256, threads: threads)
    registerTrajectory(Double.self, "f64", "W2", units: 32, steps: 50, batch: 16, networks: 256, threads: threads)
    registerSteady(Float.self, "f32", threads: threads)
    registerSteady(Double.self, "f64", threads: threads)
    registerTrajectory(Float.self, "f32", "W4", units: 512, steps: 50, batch: 64, networks: 1, threads: threads)
    registerTrajectory(Double.self, "f64", "W4", units: 512, steps: 50, batch: 64, networks: 1, threads: threads)
  }
}

/// Random parameters with W of spectral norm about 0.5 (entries N(0, 0.25²/N)).
func parameters<T: KernelScalar>(_: T.Type, units n: Int, seed: UInt64, initialState: Bool) throws -> Parameters<T> {
  var rng = SeededGenerator(seed: seed)
  let shape = try NetworkShape(units: n, inputs: n, outputs: n, coupling: .identity)
  return Parameters<T>.random(layout: ParameterLayout(shape: shape, hasInitialState: initialState), gain: 0.25, using: &rng)
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

/// A BPTT workload: one network (its products on `threads`) or many
/// networks (one per thread at a time).
func registerTrajectory<T: KernelScalar>(
  _: T.Type, _ precision: String, _ name: String, units n: Int, steps: Int, batch b: Int, networks: Int, threads: Int
) {
  register("\(name) \(precision) \(threads) thread\(threads == 1 ? "" : "s")") {
    var rng = SeededGenerator(seed: 7)
    let nets = try (0..<networks).map { i in
      try TrajectoryNetwork(parameters: parameters(T.self, units: n, seed: UInt64(i), initialState: true),
                            activation: .tanh, loss: .mse)
    }
    let u = (0..<b * steps * n).map { _ in T(gaussian(&rng)) }
    let y = (0..<b * steps * n).map { _ in T(Double.random(in: -0.5...0.5, using: &rng)) }
    let batch = try TrajectoryBatch(count: b, steps: steps, inputs: u, inputWidth: n, targets: y, outputWidth: n)
    let workspaces = (0..<threads).map { _ in GEMMWorkspace<T>() }
    return (6.0 * Double(n * n * b * steps * networks), {
      if networks == 1 {
        blackHole(try nets[0].gradient(batch: batch, workspace: workspaces[0], threads: threads, keepingTrajectory: false).loss)
      } else {
        DispatchQueue.concurrentPerform(iterations: threads) { w in
          for k in stride(from: w, to: networks, by: threads) {
            blackHole(try? nets[k].gradient(batch: batch, workspace: workspaces[w], keepingTrajectory: false).loss)
          }
        }
      }
    })
  }
}

/// W3: steady states N = 256, B = 64, forward and adjoint to a change
/// below 1e-6 by the default (auto) solvers, which sweep this contractive
/// W in blocks (Gauss–Seidel), the patterns split across `threads`.
func registerSteady<T: KernelScalar>(_: T.Type, _ precision: String, threads: Int) {
  register("W3 \(precision) \(threads) thread\(threads == 1 ? "" : "s")") {
    let (n, b) = (256, 64)
    var rng = SeededGenerator(seed: 3)
    let net = try SteadyNetwork(parameters: parameters(T.self, units: n, seed: 1, initialState: false),
                                activation: .tanh, loss: .mse)
    let x = Matrix<T>(rows: b, cols: n, elements: (0..<b * n).map { _ in T(gaussian(&rng)) })
    let y = Matrix<T>(rows: b, cols: n, elements: (0..<b * n).map { _ in T(Double.random(in: -0.5...0.5, using: &rng)) })
    let batch = try SteadyBatch(inputs: x, targets: y)
    let options = SolverOptions(tolerance: 1e-6, maxIterations: 1000)
    let settings = SteadySolverSettings(forward: .auto, forwardOptions: options, adjoint: .auto, adjointOptions: options)
    let shards = (0..<threads).map { w in batch.subset(Array(w * b / threads ..< (w + 1) * b / threads)) }
    let workspaces = (0..<threads).map { _ in GEMMWorkspace<T>() }
    let probe = try net.gradient(batch: batch, settings: settings)
    let sweeps = probe.forward.iterations.max()! + probe.adjoint.iterations.max()!
    return (2.0 * Double(n * n * b) * Double(sweeps + 1), {
      DispatchQueue.concurrentPerform(iterations: threads) { w in
        blackHole(try? net.gradient(batch: shards[w], settings: settings, workspace: workspaces[w]).loss)
      }
    })
  }
}
