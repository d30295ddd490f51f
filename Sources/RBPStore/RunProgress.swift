// The state of a training run besides its parameters: what it carries from
// one step to the next and what a resumed run needs to continue bit for bit.
// The trainer holds one `RunProgress`; a checkpoint stores it (converted to
// f64) and `CheckpointFile` alone reads and writes it: epoch and step
// counters, the optimizer (settings, update count, moments under
// /optimizer), the learning rate the schedule has reached, the seed, and the
// per-epoch `/history` under typed keys.

import RBPCore
import RBPKernels

/// The per-epoch series of `/history`.
public enum HistoryKey: String, CaseIterable, Sendable {
  /// The training loss of the epoch.
  case loss
  /// The validation loss after the epoch.
  case valLoss = "val_loss"
  /// The validation accuracy after the epoch.
  case valAccuracy = "val_accuracy"
  /// The learning rate at the epoch's end (after any halving, before the decay).
  case lr
  /// Steps rejected (and retried at half the rate) in the epoch.
  case rejectedSteps = "rejected_steps"
  /// Forward solver iterations per pattern, mean.
  case forwardIterationsMean = "forward_iterations_mean"
  /// Forward solver iterations per pattern, most.
  case forwardIterationsMax = "forward_iterations_max"
  /// Adjoint solver iterations per pattern, mean.
  case adjointIterationsMean = "adjoint_iterations_mean"
  /// Adjoint solver iterations per pattern, most.
  case adjointIterationsMax = "adjoint_iterations_max"
  /// The largest final residual of a solve.
  case maxResidual = "max_residual"
  /// The largest ρ(D W) at a pattern's state.
  case maxSpectralRadius = "max_spectral_radius"
  /// Solves that needed a fallback stage (forward and adjoint counted apart).
  case fallbacks
  /// The stabiliser's penalty.
  case penalty
  /// The largest α(D W) at a pattern's state.
  case maxAbscissa = "max_abscissa"
  /// The smallest damping a relaxation ended with.
  case damping
  /// Training patterns left out of a step's gradient, unsettled.
  case unsettled
  /// Validation patterns that did not settle.
  case valUnsettled = "val_unsettled"
  /// The stabiliser's weight λ.
  case stabilityWeight = "stability_weight"
}

/// Per-epoch metrics, one value per epoch in each series.
public struct History: Sendable, Equatable {
  /// Every series by its name in files; names that are not `HistoryKey`s
  /// (written by another tool or a later version) are kept as they are, so
  /// a resumed run writes them back.
  public private(set) var byName: [String: [Double]]

  /// No series.
  public init() { byName = [:] }

  /// Series read from a file.
  public init(byName: [String: [Double]]) { self.byName = byName }

  /// The series, nil when it was never recorded.
  public subscript(key: HistoryKey) -> [Double]? { byName[key.rawValue] }

  /// Adds the epoch's value to a series.
  public mutating func append(_ value: Double, to key: HistoryKey) { byName[key.rawValue, default: []].append(value) }

  /// Whether no series was recorded.
  public var isEmpty: Bool { byName.isEmpty }
}

/// A training run's state besides its parameters.
public struct RunProgress<T: KernelScalar>: Sendable, Equatable {
  /// Epochs finished.
  public var epoch: Int
  /// Updates taken.
  public var step: Int
  /// The update rule, its update count and its moments.
  public var optimizer: Optimizer<T>
  /// The learning rate of the next update: the configured one after every
  /// epoch's decay and every rejected step's halving. A checkpoint stores it
  /// once, as /optimizer's attribute `lr`, so a run read back from one has it
  /// in `optimizer.settings` too (only a fresh run's settings hold the
  /// configured rate).
  public var learningRate: Double
  /// The seed of every random draw of the run: the initial parameters, and
  /// each epoch's shuffle, drawn from the seed and the epoch. It is the
  /// whole state of the run's random generator (attribute `rng_state`;
  /// nil in a file written without it).
  public var seed: UInt64?
  /// The per-epoch metrics so far.
  public var history: History

  /// A run before its first step.
  public init(optimizer: Optimizer<T>, seed: UInt64) {
    self.init(
      epoch: 0, step: 0, optimizer: optimizer, learningRate: optimizer.settings.learningRate, seed: seed,
      history: History())
  }

  /// A run that stands here.
  public init(epoch: Int, step: Int, optimizer: Optimizer<T>, learningRate: Double, seed: UInt64?, history: History) {
    self.epoch = epoch
    self.step = step
    self.optimizer = optimizer
    self.learningRate = learningRate
    self.seed = seed
    self.history = history
  }

  /// The same state with the optimizer's moments in precision U.
  public func converted<U: KernelScalar>(to: U.Type) -> RunProgress<U> {
    RunProgress<U>(
      epoch: epoch, step: step, optimizer: optimizer.converted(to: U.self), learningRate: learningRate,
      seed: seed, history: history)
  }
}
