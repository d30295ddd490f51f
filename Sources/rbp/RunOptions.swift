// The flags of a training run, shared by `train` (and the keys of JSON
// configs, which use the same names). Parsing only: turning them into a
// RunConfig names the flag of any bad value.

import ArgumentParser
import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTrain

/// The steady-state solver flags: part of `train`'s flags, and taken by
/// the analysis commands (`eval`, `grad`, `fixed-points`) to override the
/// checkpoint's stored settings.
struct SolverFlags: ParsableArguments {
  @Option(help: "Forward solver: auto (relaxation with fallbacks, the default), iterate, anderson or newton.") var solver: String?
  @Option(help: "Damping α of iterate/anderson, in (0, 1].") var damping: Double?
  @Option(help: "Anderson memory.") var memory: Int?
  @Option(help: "Forward tolerance, ∞-norm residual relative to max(1, ‖x‖∞) (default: 32·√N·ε, at least 1e-6 in f32 and 1e-12 in f64).") var tolerance: Double?
  @Option(name: .customLong("max-iterations"), help: "Iteration limit of each solver stage (default 1000).") var maxIterations: Int?
  @Option(help: "Adjoint solver: auto (iterate, then gmres, then direct; the default), iterate, neumann, direct or gmres.") var adjoint: String?
  @Option(help: "Neumann terms.") var terms: Int?
  @Option(help: "GMRES restart length.") var restart: Int?
  @Option(name: .customLong("adjoint-tolerance"), help: "Adjoint tolerance (default: the forward tolerance).") var adjointTolerance: Double?

  /// Sets the solver keys of `c` that were given as flags.
  func apply(to c: inout RunConfig) {
    if let solver { c.solver = solver }
    if let damping { c.damping = damping }
    if let memory { c.memory = memory }
    if let tolerance { c.tolerance = tolerance }
    if let maxIterations { c.maxIterations = maxIterations }
    if let adjoint { c.adjoint = adjoint }
    if let terms { c.terms = terms }
    if let restart { c.restart = restart }
    if let adjointTolerance { c.adjointTolerance = adjointTolerance }
  }
}

struct RunOptions: ParsableArguments {
  @Option(help: "steady or trajectory (default: the dataset's kind).") var model: String?
  @Option(help: "Units N (default: the task's suggestion, or outputs + 8).") var units: Int?
  @Option(help: "tanh, logistic, linear or relu.") var activation: String?
  @Option(help: "mse or bce.") var loss: String?
  @Option(help: "dense or identity.") var coupling: String?
  @Option(help: "Leak α in (0, 1] (trajectories).") var leak: Double?
  @Option(help: "Scale of the random initial weights: ‖W‖₂ ≈ 2·gain (default: 0.4/max f' for steady models, a contractive start; 1 for trajectories).") var gain: Double?
  @OptionGroup var solverFlags: SolverFlags
  @Option(help: "Steady stabiliser: jacobian (the default for steady models) or none.") var stabilizer: String?
  @Option(name: .customLong("stability-weight"), help: "Weight λ of the jacobian stabiliser (default 0.1).") var stabilityWeight: Double?
  @Option(name: .customLong("stability-threshold"), help: "Estimated ρ(D W) from which the stabiliser applies to a pattern (default 0.9).") var stabilityThreshold: Double?
  @Flag(name: .customLong("warm-start"), help: "Steady: start each step's solves from the pattern's last fixed point (faster; validation and eval always relax from the initial state).") var warmStart = false
  @Option(name: .customLong("max-retries"), help: "Failed steps in a row retried at half the learning rate before the run stops (default 4).") var maxRetries: Int?
  @Option(help: "BPTT mode: full, checkpointed or truncated.") var bptt: String?
  @Option(help: "Truncated BPTT window.") var window: Int?
  @Option(help: "sgd, momentum or adam.") var optimizer: String?
  @Option(help: "Learning rate η.") var lr: Double?
  @Option(help: "Momentum, or Adam's β1.") var momentum: Double?
  @Option(help: "Adam's β2.") var beta2: Double?
  @Option(help: "Clip the gradient's 2-norm to this.") var clip: Double?
  @Option(name: .customLong("weight-decay"), help: "Decoupled weight decay.") var weightDecay: Double?
  @Option(name: .customLong("lr-decay"), help: "Multiply η by this after each epoch.") var lrDecay: Double?
  @Option(help: "Epochs.") var epochs: Int?
  @Option(help: "Minibatch size.") var batch: Int?
  @Option(help: "Random seed.") var seed: UInt64?
  @Option(help: "Worker threads (results do not depend on it).") var threads: Int?
  @Option(help: "f32 or f64.") var precision: String?
  @Option(name: .customLong("checkpoint-every"), help: "Checkpoint every k epochs (and at the end).") var checkpointEvery: Int?
  @Option(name: .customLong("target-loss"), help: "Stop once the validation loss is at most this.") var targetLoss: Double?
  @Flag(name: .customLong("stop-when-solved"), help: "Stop once the classic task counts as solved.") var stopWhenSolved = false

  func config() throws -> RunConfig {
    func choice<E: RawRepresentable & CaseIterable>(_ value: String?, _ flag: String, _: E.Type) throws -> E?
    where E.RawValue == String {
      guard let value else { return nil }
      guard let e = E(rawValue: value) else {
        throw CLIFailure(message: "--\(flag): '\(value)' is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      return e
    }
    var c = RunConfig()
    c.model = try choice(model, "model", ModelKind.self)
    c.units = units
    c.activation = try choice(activation, "activation", Activation.self)
    c.loss = try choice(loss, "loss", Loss.self)
    c.coupling = try choice(coupling, "coupling", Coupling.self)
    c.leak = leak
    c.gain = gain
    solverFlags.apply(to: &c)
    c.stabilizer = stabilizer
    c.stabilityWeight = stabilityWeight
    c.stabilityThreshold = stabilityThreshold
    c.warmStart = warmStart ? true : nil
    c.maxRetries = maxRetries
    c.bptt = bptt
    c.window = window
    c.optimizer = try choice(optimizer, "optimizer", OptimizerKind.self)
    c.lr = lr
    c.momentum = momentum
    c.beta2 = beta2
    c.clip = clip
    c.weightDecay = weightDecay
    c.lrDecay = lrDecay
    c.epochs = epochs
    c.batch = batch
    c.seed = seed
    c.threads = threads
    c.precision = precision
    c.checkpointEvery = checkpointEvery
    c.targetLoss = targetLoss
    c.stopWhenSolved = stopWhenSolved ? true : nil
    return c
  }
}

/// Reads a JSON run configuration file strictly.
func readConfig(_ path: String) throws -> RunConfig {
  guard let data = FileManager.default.contents(atPath: path) else {
    throw CLIFailure(message: "\(path): cannot read the configuration file")
  }
  return try RunConfig.parse(json: data, source: path)
}
