// `rbp bench workloads`: the reference workloads of SPEC §6, one gradient
// step each (forward and backward, returning ∂L/∂W and ∂L/∂b), tanh units,
// mse on all units, identity coupling with I = N, x(0) = 0, W with spectral
// norm about 0.5; median wall time per step, in f32 and f64, on 1 thread and
// on all cores (patterns or networks split across threads, as the trainer
// does). Nominal flops: 6·N²·B·T per step for trajectories.

import ArgumentParser
import Dispatch
import Foundation
import RBPCore
import RBPKernels
import RBPTrain

struct Workloads: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Time the reference workloads W1–W4 of the specification.")

  @Option(help: "f32, f64 or both (comma-separated).") var precision = "f32,f64"
  @Option(help: "Threads to measure (repeatable).") var threads: [Int] = [1, 2]
  @Option(help: "Workloads to run (comma-separated).") var only = "W1,W2,W3,W4"
  @Option(help: "Minimum seconds of timing per case.") var seconds = 1.0
  @Flag(help: "One JSON object per line.") var json = false

  func run() throws {
    try reporting {
      let precisions = try Precision.parseList(precision)
      if !json { print("kernels: \(KernelISA.active)\nworkload prec thr   ms/step   GFLOP/s  what") }
      for prec in precisions {
        for t in threads {
          guard t >= 1 else { throw CLIFailure(message: "--threads must be at least 1") }
          for w in only.split(separator: ",").map(String.init) {
            let r = prec == .f32 ? try workload(w, Float.self, threads: t) : try workload(w, Double.self, threads: t)
            if json {
              print(#"{"workload":"\#(w)","precision":"\#(prec)","threads":\#(t),"ms":\#(r.ms),"gflops":\#(r.gflops)}"#)
            } else {
              print(String(format: "%-8@ %-4@ %3d  %8.3f  %8.2f  %@", w as NSString, prec.rawValue as NSString, t,
                           r.ms, r.gflops, r.what as NSString))
            }
          }
        }
      }
    }
  }

  func workload<T: KernelScalar>(_ name: String, _: T.Type, threads: Int) throws -> (ms: Double, gflops: Double, what: String) {
    switch name {
    case "W1": return try trajectory(T.self, units: 64, steps: 100, batch: 32, networks: 1, threads: threads, what: "BPTT N=64 T=100 B=32")
    case "W2": return try trajectory(T.self, units: 32, steps: 50, batch: 16, networks: 256, threads: threads,
                                     what: "BPTT, 256 networks N=32 T=50 B=16")
    case "W3": return try steady(T.self, threads: threads)
    case "W4": return try trajectory(T.self, units: 512, steps: 50, batch: 64, networks: 1, threads: threads, what: "BPTT N=512 T=50 B=64")
    default: throw CLIFailure(message: "--only: unknown workload '\(name)' (W1, W2, W3, W4)")
    }
  }

  /// Random W scaled to spectral norm ≈ 0.5 (entries N(0, 0.25²/N) give ‖W‖ ≈ 0.5).
  func network<T: KernelScalar>(_: T.Type, units n: Int, seed: UInt64, trajectory: Bool) throws -> Parameters<T> {
    var rng = SeededGenerator(seed: seed)
    let shape = try NetworkShape(units: n, inputs: n, outputs: n, coupling: .identity)
    return Parameters<T>.random(layout: ParameterLayout(shape: shape, hasInitialState: trajectory), gain: 0.25, using: &rng)
  }

  func trajectory<T: KernelScalar>(
    _: T.Type, units n: Int, steps: Int, batch b: Int, networks: Int, threads: Int, what: String
  ) throws -> (ms: Double, gflops: Double, what: String) {
    var rng = SeededGenerator(seed: 7)
    let nets = try (0..<networks).map { i in
      try TrajectoryNetwork(parameters: network(T.self, units: n, seed: UInt64(i), trajectory: true), activation: .tanh, loss: .mse)
    }
    let u = (0..<b * steps * n).map { _ in T(gaussian(&rng)) }
    let y = (0..<b * steps * n).map { _ in T(Double.random(in: -0.5...0.5, using: &rng)) }
    let batch = try TrajectoryBatch(count: b, steps: steps, inputs: u, inputWidth: n, targets: y, outputWidth: n)
    let workspaces = (0..<threads).map { _ in GEMMWorkspace<T>() }
    let flops = 6.0 * Double(n * n * b * steps * networks)
    let step: () throws -> Void
    if networks > 1 {
      // Many networks: one network per worker at a time, single-threaded kernels.
      step = {
        let failures = FailureBox()
        DispatchQueue.concurrentPerform(iterations: threads) { w in
          for k in stride(from: w, to: networks, by: threads) {
            do { _ = try nets[k].gradient(batch: batch, workspace: workspaces[w], keepingTrajectory: false) } catch { failures.record(error) }
          }
        }
        try failures.check()
      }
    } else if threads > 1 {
      // One network on several threads, split two ways; the faster counts.
      // Patterns: the batch split across workers, gradients summed.
      let parts = (0..<threads).map { w in Array(stride(from: w * b / threads, to: (w + 1) * b / threads, by: 1)) }
      let shards = parts.map { batch.subset($0) }
      let byPatterns = try medianMilliseconds {
        let failures = FailureBox()
        let sums = WorkerSlots<Parameters<T>>(count: threads)
        DispatchQueue.concurrentPerform(iterations: threads) { w in
          do { sums[w] = try nets[0].gradient(batch: shards[w], workspace: workspaces[w], keepingTrajectory: false).gradient } catch { failures.record(error) }
        }
        try failures.check()
        var total = sums[0]!
        for w in 1..<threads { for i in total.values.indices { total.values[i] += sums[w]!.values[i] } }
      }
      // Products: the whole batch, each matrix product on every thread.
      let byProducts = try medianMilliseconds {
        _ = try nets[0].gradient(batch: batch, workspace: workspaces[0], threads: threads, keepingTrajectory: false)
      }
      let ms = min(byPatterns, byProducts)
      let split = byPatterns <= byProducts ? "patterns split" : "products split"
      return (ms, flops / (ms * 1e-3) * 1e-9, what + ", " + split)
    } else {
      step = { _ = try nets[0].gradient(batch: batch, workspace: workspaces[0], keepingTrajectory: false) }
    }
    let ms = try medianMilliseconds(step)
    return (ms, flops / (ms * 1e-3) * 1e-9, what)
  }

  func steady<T: KernelScalar>(_: T.Type, threads: Int) throws -> (ms: Double, gflops: Double, what: String) {
    let (n, b) = (256, 64)
    var rng = SeededGenerator(seed: 3)
    let net = try SteadyNetwork(parameters: network(T.self, units: n, seed: 1, trajectory: false), activation: .tanh, loss: .mse)
    let x = Matrix<T>(rows: b, cols: n, elements: (0..<b * n).map { _ in T(gaussian(&rng)) })
    let y = Matrix<T>(rows: b, cols: n, elements: (0..<b * n).map { _ in T(Double.random(in: -0.5...0.5, using: &rng)) })
    let batch = try SteadyBatch(inputs: x, targets: y)
    // The default solvers (`auto`): on this contractive W, block
    // Gauss–Seidel sweeps forward and back.
    let settings = SteadySolverSettings(forward: .auto, forwardOptions: SolverOptions(tolerance: 1e-6, maxIterations: 1000),
                                        adjoint: .auto, adjointOptions: SolverOptions(tolerance: 1e-6, maxIterations: 1000))
    let parts = (0..<threads).map { w in Array(stride(from: w * b / threads, to: (w + 1) * b / threads, by: 1)) }
    let shards = parts.map { batch.subset($0) }
    let workspaces = (0..<threads).map { _ in GEMMWorkspace<T>() }
    let probe = try net.gradient(batch: batch, settings: settings)
    let (forward, adjoint) = (probe.forward.iterations.max()!, probe.adjoint.iterations.max()!)
    let sweeps = forward + adjoint
    let ms = try medianMilliseconds {
      let failures = FailureBox()
      DispatchQueue.concurrentPerform(iterations: threads) { w in
        do { _ = try net.gradient(batch: shards[w], settings: settings, workspace: workspaces[w]) } catch { failures.record(error) }
      }
      try failures.check()
    }
    // Nominal: 2·N²·B per sweep (forward and adjoint) plus the gradient GEMM.
    let flops = 2.0 * Double(n * n * b) * Double(sweeps + 1)
    return (ms, flops / (ms * 1e-3) * 1e-9, "steady N=256 B=64, \(forward)+\(adjoint) sweeps, auto solvers")
  }

  /// Median milliseconds of single calls after a warm-up: at least 5 calls,
  /// and as many as fit in `seconds`.
  func medianMilliseconds(_ body: () throws -> Void) throws -> Double {
    try body()
    var samples: [Double] = []
    var total = 0.0
    while total < seconds || samples.count < 5 {
      let t0 = DispatchTime.now().uptimeNanoseconds
      try body()
      let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6
      samples.append(dt)
      total += dt * 1e-3
    }
    samples.sort()
    return samples[samples.count / 2]
  }
}

/// The first error raised by any worker.
final class FailureBox: @unchecked Sendable {
  private let lock = NSLock()
  private var error: Error?
  func record(_ e: Error) { lock.withLock { if error == nil { error = e } } }
  func check() throws { if let error = lock.withLock({ error }) { throw error } }
}
