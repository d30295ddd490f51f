// The reference workloads of SPEC §6, for `rbp bench workloads` and the
// package benchmarks: one gradient step each (forward and backward,
// returning ∂L/∂W and ∂L/∂b), tanh units, mse on all units, identity
// coupling with I = N, x(0) = 0, W with spectral norm about 0.5. Nominal
// flops: 6·N²·B·T per trajectory step; 2·N²·B per steady pass (forward and
// adjoint) plus the gradient's product.
//
// Two more measure the engine as `rbp train` and `rbp sweep` use it, on the
// network of the sweep benchmark (trajectories, N = 32, T = 50, P = B = 16,
// I = 4, O = 2, dense coupling, Adam):
// - `epoch`: one training epoch (the minibatch gradient, the optimizer
//   step, validation, the epoch's bookkeeping) against one gradient step of
//   the same network on the same minibatch, timed in the same process;
// - `sweep`: a 64-run sweep of that network (8 learning rates × 8 seeds,
//   30 full-batch epochs) through `rbp sweep`, the whole process, started
//   and timed from its start to its exit.
//
// Legend: N units, T steps, B patterns (sequences) per step.

import Dispatch
import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTrain

/// A workload's median time per step (per epoch, per sweep), its nominal
/// GFLOP/s and what it is.
public struct WorkloadTiming: Sendable {
  /// Median milliseconds per step.
  public var ms: Double
  /// Nominal GFLOP/s at that time.
  public var gflops: Double
  /// What was timed, in words.
  public var what: String
  /// For `epoch`: the epoch's time in gradient steps of the same network.
  public var gradientSteps: Double?
}

/// How one network's step uses several threads.
public enum OneNetworkSplit: Sendable {
  /// Each thread takes a share of the patterns; the gradients are summed.
  case patterns
  /// The whole batch, each matrix product split across the threads.
  case products
}

/// A workload built and ready to run: its step, its nominal flops and what
/// it is. Building it (networks, data, workspaces) is not part of a step.
public struct PreparedStep {
  /// Nominal floating-point operations of one step.
  public let flops: Double
  /// What a step does, in words.
  public let what: String
  /// One step.
  public let step: () throws -> Void
}

/// W1–W4.
public enum ReferenceWorkload: String, CaseIterable, Sendable {
  /// BPTT, N = 64, T = 100, B = 32.
  case w1 = "W1"
  /// BPTT on 256 networks, N = 32, T = 50, B = 16.
  case w2 = "W2"
  /// Steady states and RBP, N = 256, B = 64, the default (auto) solvers.
  case w3 = "W3"
  /// BPTT, N = 512, T = 50, B = 64.
  case w4 = "W4"

  /// The trajectory workloads' sizes (nil for W3).
  var trajectory: (units: Int, steps: Int, batch: Int, networks: Int)? {
    switch self {
    case .w1: return (64, 100, 32, 1)
    case .w2: return (32, 50, 16, 256)
    case .w3: return nil
    case .w4: return (512, 50, 64, 1)
    }
  }

  /// The workload in `precision` on `threads` threads: many networks go
  /// one per thread at a time on single-threaded kernels; one network's
  /// step is split by `split`; W3's patterns are split across the threads.
  ///
  /// Every public entry point of this module takes a `Precision` and picks
  /// the scalar type inside it, so that the generic code below is
  /// specialised in this module (a generic entry point called from another
  /// module ran unspecialised, three times slower).
  public func prepare(
    _ precision: Precision, threads: Int, split: OneNetworkSplit = .products
  ) throws
    -> PreparedStep
  {
    switch precision {
    case .f32: try prepare(Float.self, threads: threads, split: split)
    case .f64: try prepare(Double.self, threads: threads, split: split)
    }
  }

  func prepare<T: KernelScalar>(_: T.Type, threads: Int, split: OneNetworkSplit) throws -> PreparedStep {
    precondition(threads >= 1, "threads must be at least 1")
    guard let (n, steps, b, networks) = trajectory else { return try steady(T.self, threads: threads) }
    var rng = SeededGenerator(seed: 7)
    let nets = try (0..<networks).map { i in
      try TrajectoryNetwork(
        parameters: referenceParameters(T.self, units: n, seed: UInt64(i), initialState: true),
        activation: .tanh, loss: .mse)
    }
    let u = (0..<b * steps * n).map { _ in T(gaussian(&rng)) }
    let y = (0..<b * steps * n).map { _ in T(Double.random(in: -0.5...0.5, using: &rng)) }
    let batch = try TrajectoryBatch(count: b, steps: steps, inputs: u, inputWidth: n, targets: y, outputWidth: n)
    let workspaces = (0..<threads).map { _ in KernelWorkspace<T>() }
    let flops = 6.0 * Double(n * n * b * steps * networks)
    let what = networks > 1 ? "BPTT, \(networks) networks N=\(n) T=\(steps) B=\(b)" : "BPTT N=\(n) T=\(steps) B=\(b)"
    if networks > 1 {
      return PreparedStep(flops: flops, what: what) {
        try onEachThread(threads) { w in
          for k in stride(from: w, to: networks, by: threads) {
            _ = try nets[k].gradient(batch: batch, workspace: workspaces[w], keepingTrajectory: false)
          }
        }
      }
    }
    if threads > 1 && split == .patterns {
      let parts = (0..<threads).map { w in batch.subset(Array(w * b / threads..<(w + 1) * b / threads)) }
      return PreparedStep(flops: flops, what: what + ", patterns split") {
        let sums = WorkerSlots<Parameters<T>>(count: threads)
        try onEachThread(threads) { w in
          sums[w] = try nets[0].gradient(batch: parts[w], workspace: workspaces[w], keepingTrajectory: false).gradient
        }
        var total = sums[0]!
        for w in 1..<threads { for i in total.values.indices { total.values[i] += sums[w]!.values[i] } }
      }
    }
    return PreparedStep(flops: flops, what: what + (threads > 1 ? ", products split" : "")) {
      _ = try nets[0].gradient(batch: batch, workspace: workspaces[0], threads: threads, keepingTrajectory: false)
    }
  }

  /// W3: the patterns split across `threads`, forward and adjoint to a
  /// change below 1e-6 by the default (auto) solvers, which solve this
  /// contractive W in block Gauss–Seidel passes.
  func steady<T: KernelScalar>(_: T.Type, threads: Int) throws -> PreparedStep {
    let (n, b) = (256, 64)
    var rng = SeededGenerator(seed: 3)
    let net = try SteadyNetwork(
      parameters: referenceParameters(T.self, units: n, seed: 1, initialState: false),
      activation: .tanh, loss: .mse)
    let x = Matrix<T>(rows: b, cols: n, elements: (0..<b * n).map { _ in T(gaussian(&rng)) })
    let y = Matrix<T>(
      rows: b, cols: n, elements: (0..<b * n).map { _ in T(Double.random(in: -0.5...0.5, using: &rng)) })
    let batch = try SteadyBatch(inputs: x, targets: y)
    let options = SolverOptions(tolerance: 1e-6, maxIterations: 1000)
    let settings = SteadySolverSettings(
      forward: .auto, forwardOptions: options, adjoint: .auto, adjointOptions: options)
    let parts = (0..<threads).map { w in batch.subset(Array(w * b / threads..<(w + 1) * b / threads)) }
    let workspaces = (0..<threads).map { _ in KernelWorkspace<T>() }
    let probe = try net.gradient(batch: batch, settings: settings)
    let (forward, adjoint) = (probe.forward.iterations.max()!, probe.adjoint.iterations.max()!)
    return PreparedStep(
      flops: 2.0 * Double(n * n * b) * Double(forward + adjoint + 1),
      what: "steady N=256 B=64, \(forward)+\(adjoint) passes, auto solvers"
    ) {
      try onEachThread(threads) { w in
        _ = try net.gradient(batch: parts[w], settings: settings, workspace: workspaces[w])
      }
    }
  }
}

/// Random parameters with W of spectral norm about 0.5 (entries
/// N(0, 0.25²/N)), identity coupling, I = O = N.
func referenceParameters<T: KernelScalar>(
  _: T.Type, units n: Int, seed: UInt64, initialState: Bool
) throws
  -> Parameters<T>
{
  var rng = SeededGenerator(seed: seed)
  let shape = try NetworkShape(units: n, inputs: n, outputs: n, coupling: .identity)
  return Parameters<T>.random(
    layout: ParameterLayout(shape: shape, hasInitialState: initialState), gain: 0.25, using: &rng)
}

/// Runs `body(w)` for w in 0..<threads at once and rethrows the first error.
func onEachThread(_ threads: Int, _ body: @Sendable (Int) throws -> Void) throws {
  let errors = WorkerSlots<Error>(count: threads)
  DispatchQueue.concurrentPerform(iterations: threads) { w in
    do { try body(w) } catch { errors[w] = error }
  }
  if let first = errors.all.compactMap({ $0 }).first { throw first }
}

/// Times workloads for at least `seconds` each.
public struct WorkloadTimer: Sendable {
  /// The least seconds of timing per case.
  public var seconds: Double

  /// A timer of at least `seconds` per case.
  public init(seconds: Double) { self.seconds = seconds }

  /// W1–W4 in `precision` on `threads` threads; one network on several
  /// threads is timed split both ways, and the faster counts.
  public func time(_ workload: ReferenceWorkload, _ precision: Precision, threads: Int) throws -> WorkloadTiming {
    let splits: [OneNetworkSplit] =
      threads > 1 && workload.trajectory?.networks == 1 ? [.patterns, .products] : [.products]
    var best: WorkloadTiming? = nil
    for split in splits {
      let prepared = try workload.prepare(precision, threads: threads, split: split)
      let ms = try medianMilliseconds(prepared.step)
      if best == nil || ms < best!.ms {
        best = WorkloadTiming(ms: ms, gflops: prepared.flops / (ms * 1e-3) * 1e-9, what: prepared.what)
      }
    }
    return best!
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
    let batch = try TrajectoryBatch(
      count: s.patterns, steps: s.steps, inputs: u, inputWidth: s.inputs, targets: y,
      outputWidth: s.outputs)
    try DatasetFile.write(.trajectory(batch), to: folder + "/data.h5")
    return folder
  }

  /// One `rbp train` epoch on the sweep benchmark's network against one
  /// gradient step of the same network on the same minibatch, both in this
  /// process, in `precision`.
  public func epoch(_ precision: Precision, threads: Int) throws -> WorkloadTiming {
    switch precision {
    case .f32: try epoch(Float.self, threads: threads)
    case .f64: try epoch(Double.self, threads: threads)
    }
  }

  func epoch<T: KernelScalar & HDF5Numeric>(_: T.Type, threads: Int) throws -> WorkloadTiming {
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
      preconditionFailure("the benchmark's dataset is written as trajectories")
    }
    var rng = SeededGenerator(seed: plan.seed)
    let params = Parameters<T>.random(
      layout: ParameterLayout(shape: plan.shape, hasInitialState: true), gain: plan.gain,
      using: &rng)
    let net = try TrajectoryNetwork(parameters: params, activation: plan.activation, loss: plan.loss)
    let workspace = KernelWorkspace<T>()
    let step = try medianMilliseconds {
      _ = try net.gradient(batch: batch, workspace: workspace, threads: threads, keepingTrajectory: false)
    }
    // Epochs: enough for `seconds` of training, in three runs; the fastest counts.
    let probe = try train(epochs: 20)
    let epochs = max(20, Int(seconds / 3 / probe))
    let ms = try (0..<3).map { _ in try train(epochs: epochs) }.min()! * 1e3
    let s = Self.sweepShape
    let flops = 6.0 * Double(s.units * s.units * s.patterns * s.steps)
    return WorkloadTiming(
      ms: ms, gflops: flops / (ms * 1e-3) * 1e-9,
      what: String(
        format: "one rbp train epoch = %.2f gradient steps (%.3f ms), N=32 T=50 B=16 I=4 O=2", ms / step, step),
      gradientSteps: ms / step)
  }

  /// The 64-run sweep through `executable sweep … --jobs threads`, the
  /// whole process; its output folder is removed outside the timing.
  public func sweep(_ precision: Precision, threads: Int, executable: String) throws -> WorkloadTiming {
    let folder = try sweepDataset()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let lrs = [0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.03, 0.05]
    let spec =
      #"{"data": "data.h5", "base": {"units": 32, "coupling": "dense", "epochs": 30, "precision": "\#(precision.rawValue)"}, "#
      + #""grid": {"lr": [\#(lrs.map { "\($0)" }.joined(separator: ", "))], "seed": [0, 1, 2, 3, 4, 5, 6, 7]}}"#
    try spec.write(toFile: folder + "/spec.json", atomically: true, encoding: .utf8)
    var round = 0
    let ms = try medianMilliseconds(
      {
        round += 1
        let status = try runToExit(
          executable,
          ["sweep", folder + "/spec.json", "--out", folder + "/sweep-\(round)", "--jobs", "\(threads)", "--quiet"])
        guard status == 0 else { throw BenchError(message: "\(executable) sweep exited with status \(status)") }
      }, untimed: { try? FileManager.default.removeItem(atPath: folder + "/sweep-\(round)") })
    let s = Self.sweepShape
    let flops = 64 * 30 * 6.0 * Double(s.units * s.units * s.patterns * s.steps)
    return WorkloadTiming(
      ms: ms, gflops: flops / (ms * 1e-3) * 1e-9,
      what: "rbp sweep, 64 runs N=32 T=50 B=16 I=4 O=2, 30 epochs, whole process")
  }

  /// Median milliseconds of single calls after a warm-up: at least 5 calls,
  /// and as many as fit in `seconds`; `cleanup` runs after each call,
  /// outside the timing.
  public func medianMilliseconds(_ body: () throws -> Void, untimed cleanup: () -> Void = {}) throws -> Double {
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

/// Runs `executable` with `arguments` and waits for it in `waitpid`,
/// returning its exit status (128 + the signal that ended it). Foundation's
/// `Process.waitUntilExit` polls its run loop and can return tens of
/// milliseconds after the child has ended, which a timing would count.
func runToExit(_ executable: String, _ arguments: [String]) throws -> Int32 {
  let argv = ([executable] + arguments).map { strdup($0) } + [nil]
  defer { for a in argv { free(a) } }
  var pid: pid_t = 0
  let spawned = posix_spawn(&pid, executable, nil, nil, argv, environ)
  guard spawned == 0 else {
    throw BenchError(message: "\(executable): cannot start (\(String(cString: strerror(spawned))))")
  }
  var status: Int32 = 0
  while waitpid(pid, &status, 0) < 0 {
    guard errno == EINTR else { throw BenchError(message: "\(executable): waitpid failed (errno \(errno))") }
  }
  let signal = status & 0x7f
  return signal == 0 ? (status >> 8) & 0xff : 128 + signal
}

/// A benchmark that could not run (a child process that failed).
public struct BenchError: Error, CustomStringConvertible {
  /// What failed.
  public var message: String
  public var description: String { message }
}
