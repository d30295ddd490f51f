// `rbp bench workloads`: the reference workloads of SPEC §6, one gradient
// step each (forward and backward, returning ∂L/∂W and ∂L/∂b), tanh units,
// mse on all units, identity coupling with I = N, x(0) = 0, W with spectral
// norm about 0.5; median wall time per step, in f32 and f64, on 1 thread and
// on all cores (patterns or networks split across threads, as the trainer
// does). Nominal flops: 6·N²·B·T per step for trajectories.
//
// Two workloads measure the engine as `rbp train` and `rbp sweep` use it,
// on the network of the sweep benchmark (trajectories, N = 32, T = 50,
// P = B = 16, I = 4, O = 2, dense coupling, Adam):
// - `epoch`: one training epoch (the minibatch gradient, the optimizer
//   step, validation, the epoch's bookkeeping) against one gradient step of
//   the same network on the same minibatch, timed in the same process;
// - `sweep`: a 64-run sweep of that network (8 learning rates × 8 seeds,
//   30 full-batch epochs) through `rbp sweep`, the whole process, spawned
//   and timed from its start to its exit.

import ArgumentParser
import Dispatch
import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTrain

struct Workloads: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Time the reference workloads W1–W4 of the specification.")

  @Option(help: "f32, f64 or both (comma-separated).") var precision = "f32,f64"
  @Option(help: "Threads to measure (repeatable).") var threads: [Int] = [1, 2]
  @Option(help: "Workloads to run (comma-separated): W1, W2, W3, W4, epoch, sweep.") var only = "W1,W2,W3,W4"
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
              let ratio = r.ratio.map { #","gradient_steps":\#($0)"# } ?? ""
              print(#"{"workload":"\#(w)","precision":"\#(prec)","threads":\#(t),"ms":\#(r.ms),"gflops":\#(r.gflops)\#(ratio)}"#)
            } else {
              print(String(format: "%-8@ %-4@ %3d  %8.3f  %8.2f  %@", w as NSString, prec.rawValue as NSString, t,
                           r.ms, r.gflops, r.what as NSString))
            }
          }
        }
      }
    }
  }

  /// One workload's median time per step (per epoch, per sweep), its
  /// nominal GFLOP/s, what it is, and for `epoch`, the epoch's time in
  /// gradient steps of the same network.
  typealias Timing = (ms: Double, gflops: Double, what: String, ratio: Double?)

  func workload<T: KernelScalar & HDF5Numeric>(_ name: String, _: T.Type, threads: Int) throws -> Timing {
    func plain(_ r: (ms: Double, gflops: Double, what: String)) -> Timing { (r.ms, r.gflops, r.what, nil) }
    switch name {
    case "W1": return plain(try trajectory(T.self, units: 64, steps: 100, batch: 32, networks: 1, threads: threads,
                                           what: "BPTT N=64 T=100 B=32"))
    case "W2": return plain(try trajectory(T.self, units: 32, steps: 50, batch: 16, networks: 256, threads: threads,
                                           what: "BPTT, 256 networks N=32 T=50 B=16"))
    case "W3": return plain(try steady(T.self, threads: threads))
    case "W4": return plain(try trajectory(T.self, units: 512, steps: 50, batch: 64, networks: 1, threads: threads,
                                           what: "BPTT N=512 T=50 B=64"))
    case "epoch": return try epoch(T.self, threads: threads)
    case "sweep": return try sweep(T.self, threads: threads)
    default: throw CLIFailure(message: "--only: unknown workload '\(name)' (W1, W2, W3, W4, epoch, sweep)")
    }
  }

  /// The sweep benchmark's network and data: N = 32, T = 50, 16
  /// sequences of 4 inputs and 2 targets.
  static let sweepShape = (units: 32, steps: 50, patterns: 16, inputs: 4, outputs: 2)

  /// A scratch folder holding the sweep benchmark's dataset, `data.h5`.
  func sweepDataset() throws -> String {
    let folder = NSTemporaryDirectory() + "/rbp-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let s = Self.sweepShape
    var rng = SeededGenerator(seed: 11)
    let u = (0..<s.patterns * s.steps * s.inputs).map { _ in gaussian(&rng) }
    let y = (0..<s.patterns * s.steps * s.outputs).map { _ in tanh(gaussian(&rng)) }
    let batch = try TrajectoryBatch(count: s.patterns, steps: s.steps, inputs: u, inputWidth: s.inputs, targets: y,
                                    outputWidth: s.outputs)
    try DatasetFile.write(.trajectory(batch), to: folder + "/data.h5")
    return folder
  }

  func epoch<T: KernelScalar & HDF5Numeric>(_: T.Type, threads: Int) throws -> Timing {
    let folder = try sweepDataset()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let data = folder + "/data.h5"
    let summary = try DatasetSummary.read(data)
    var config = RunConfig()
    (config.units, config.coupling, config.threads) = (Self.sweepShape.units, .dense, threads)
    config.precision = T.self == Double.self ? .f64 : .f32
    /// Seconds per epoch of a fresh run of `epochs` epochs (the final
    /// checkpoint's write included).
    func train(epochs: Int) throws -> Double {
      config.epochs = epochs
      let plan = try config.resolved(for: summary)
      let trainer = try Trainer<T>(plan: plan, data: data, summary: summary, checkpoint: folder + "/checkpoint.h5")
      let t0 = DispatchTime.now().uptimeNanoseconds
      _ = try trainer.run()
      return Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 / Double(epochs)
    }
    // The same network's gradient step on the whole minibatch.
    let plan = try config.resolved(for: summary)
    guard case .trajectory(let batch) = try DatasetFile.read(data, as: T.self) else {
      throw CLIFailure(message: "the benchmark's dataset is not a trajectory dataset")
    }
    var rng = SeededGenerator(seed: plan.seed)
    let params = Parameters<T>.random(layout: ParameterLayout(shape: plan.shape, hasInitialState: true), gain: plan.gain,
                                      using: &rng)
    let net = try TrajectoryNetwork(parameters: params, activation: plan.activation, loss: plan.loss)
    let workspace = GEMMWorkspace<T>()
    let step = try medianMilliseconds {
      _ = try net.gradient(batch: batch, workspace: workspace, threads: threads, keepingTrajectory: false)
    }
    // Epochs: enough for `seconds` of training, in three runs; the fastest counts.
    let probe = try train(epochs: 20)
    let epochs = max(20, Int(seconds / 3 / probe))
    let ms = try (0..<3).map { _ in try train(epochs: epochs) }.min()! * 1e3
    let s = Self.sweepShape
    let flops = 6.0 * Double(s.units * s.units * s.patterns * s.steps)
    return (ms, flops / (ms * 1e-3) * 1e-9,
            String(format: "one rbp train epoch = %.2f gradient steps (%.3f ms), N=32 T=50 B=16 I=4 O=2", ms / step, step),
            ms / step)
  }

  func sweep<T: KernelScalar & HDF5Numeric>(_: T.Type, threads: Int) throws -> Timing {
    let folder = try sweepDataset()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let lrs = [0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.03, 0.05]
    let spec = #"{"data": "data.h5", "base": {"units": 32, "coupling": "dense", "epochs": 30, "precision": "\#(T.self == Double.self ? "f64" : "f32")"}, "#
      + #""grid": {"lr": [\#(lrs.map { "\($0)" }.joined(separator: ", "))], "seed": [0, 1, 2, 3, 4, 5, 6, 7]}}"#
    try spec.write(toFile: folder + "/spec.json", atomically: true, encoding: .utf8)
    let binary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    var round = 0
    let ms = try medianMilliseconds({
      round += 1
      let process = Process()
      process.executableURL = URL(fileURLWithPath: binary)
      process.arguments = ["sweep", folder + "/spec.json", "--out", folder + "/sweep-\(round)", "--jobs", "\(threads)",
                           "--quiet"]
      try process.run()
      process.waitUntilExit()
      guard process.terminationStatus == 0 else {
        throw CLIFailure(message: "rbp sweep exited with status \(process.terminationStatus)")
      }
    }, untimed: { try? FileManager.default.removeItem(atPath: folder + "/sweep-\(round)") })
    let s = Self.sweepShape
    let flops = 64 * 30 * 6.0 * Double(s.units * s.units * s.patterns * s.steps)
    return (ms, flops / (ms * 1e-3) * 1e-9, "rbp sweep, 64 runs N=32 T=50 B=16 I=4 O=2, 30 epochs, whole process", nil)
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
  /// and as many as fit in `seconds`; `cleanup` runs after each call,
  /// outside the timing.
  func medianMilliseconds(_ body: () throws -> Void, untimed cleanup: () -> Void = {}) throws -> Double {
    try body()
    cleanup()
    var samples: [Double] = []
    var total = 0.0
    while total < seconds || samples.count < 5 {
      let t0 = DispatchTime.now().uptimeNanoseconds
      try body()
      let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6
      cleanup()
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
