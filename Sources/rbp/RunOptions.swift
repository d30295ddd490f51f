// The flags of a training run, shared by `train` (and the keys of JSON
// configs, which use the same names). Parsing only: turning them into a
// RunConfig names the flag of any bad value.

import ArgumentParser
import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTrain

struct RunOptions: ParsableArguments {
  @Option(help: "steady or trajectory (default: the dataset's kind).") var model: String?
  @Option(help: "Units N (default: the task's suggestion, or outputs + 8).") var units: Int?
  @Option(help: "tanh, logistic, linear or relu.") var activation: String?
  @Option(help: "mse or bce.") var loss: String?
  @Option(help: "dense or identity.") var coupling: String?
  @Option(help: "Leak α in (0, 1] (trajectories).") var leak: Double?
  @Option(help: "Scale of the random initial weights.") var gain: Double?
  @Option(help: "Forward solver: iterate, anderson or newton.") var solver: String?
  @Option(help: "Damping α of iterate/anderson, in (0, 1].") var damping: Double?
  @Option(help: "Anderson memory.") var memory: Int?
  @Option(help: "Forward tolerance (∞-norm residual).") var tolerance: Double?
  @Option(name: .customLong("max-iterations"), help: "Iteration limit of the solvers.") var maxIterations: Int?
  @Option(help: "Adjoint solver: iterate, neumann, direct or gmres.") var adjoint: String?
  @Option(help: "Neumann terms.") var terms: Int?
  @Option(help: "GMRES restart length.") var restart: Int?
  @Option(name: .customLong("adjoint-tolerance"), help: "Adjoint tolerance.") var adjointTolerance: Double?
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
    c.solver = solver
    c.damping = damping
    c.memory = memory
    c.tolerance = tolerance
    c.maxIterations = maxIterations
    c.adjoint = adjoint
    c.terms = terms
    c.restart = restart
    c.adjointTolerance = adjointTolerance
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
