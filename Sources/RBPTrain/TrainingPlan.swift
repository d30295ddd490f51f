// A run configuration resolved against its dataset (`DatasetSummary`, in
// RBPStore): every default filled in (some depend on the dataset's kind,
// sizes or task), every value checked, with errors naming the key and the
// value.

import Foundation
import RBPCore
import RBPKernels
import RBPStore

/// A fully resolved, validated run.
public struct TrainingPlan: Sendable {
  /// The configuration as given.
  public var config: RunConfig
  /// The configuration with every default filled in, each setting present
  /// only where it applies to the model (solver settings for steady states,
  /// BPTT settings for trajectories), without `threads` and
  /// `checkpoint-every`, which change no result: what identifies the run.
  public var resolvedConfig: RunConfig
  /// Steady or trajectory.
  public var model: ModelKind
  /// N, I, O and the coupling.
  public var shape: NetworkShape
  /// The units' f.
  public var activation: Activation
  /// The loss on the output units.
  public var loss: Loss
  /// Trajectories: α (1 for steady models).
  public var leak: Double
  /// The scale of the random initial weights.
  public var gain: Double
  /// Steady solver settings; their tolerances, when not given, follow the
  /// precision each solve runs in (`SolverOptions.defaultTolerance`).
  public var steady: SteadySolverSettings
  /// Trajectories: how much BPTT keeps.
  public var bptt: BPTTMode
  /// The update rule and its coefficients.
  public var optimizer: OptimizerSettings
  /// The factor the learning rate is multiplied by after each epoch.
  public var lrDecay: Double
  /// The epochs to train.
  public var epochs: Int
  /// Patterns or sequences per minibatch.
  public var batch: Int
  /// The seed of the initial parameters and of every epoch's shuffle.
  public var seed: UInt64
  /// Threads a minibatch's gradient is spread over.
  public var threads: Int
  /// The precision training computes in.
  public var precision: Precision
  /// Epochs between checkpoints.
  public var checkpointEvery: Int
  /// Stop once the training loss is at most this.
  public var targetLoss: Double?
  /// Stop once the task counts as solved.
  public var stopWhenSolved: Bool
  /// Steady models: start each pattern's solve from its last fixed point.
  public var warmStart: Bool
  /// Rejected steps retried at half the rate before the run stops.
  public var maxRetries: Int
  /// Steady models: the fraction of a step's patterns that may be unsettled.
  public var maxUnsettled: Double
  /// Steady models: W = Wᵀ with a zero diagonal.
  public var symmetric: Bool
  /// The fraction of the training patterns split off for validation, when
  /// the dataset has no /val.
  public var valFraction: Double?
  /// Epochs without a better validation loss (by more than `minDelta`)
  /// after which the run stops.
  public var patience: Int?
  /// The improvement of the validation loss that counts for `patience`.
  public var minDelta: Double
  /// How accuracy and "solved" are measured (nil: the classic task's rule,
  /// or none for other data).
  public var metric: MetricName?
}

extension RunConfig {
  /// This configuration with every unset setting that has a fixed default
  /// (`Setting.fixedDefault`) set to it.
  public var withFixedDefaults: RunConfig {
    var filled = self
    for setting in Self.settings where setting.value(in: self) == nil {
      if let d = setting.fixedDefault { setting.set(d, in: &filled) }
    }
    return filled
  }

  /// Fills every default (the fixed ones from the declarations, the others
  /// from the dataset and the other settings) and checks every value.
  public func resolved(for data: DatasetSummary) throws -> TrainingPlan {
    func check(_ ok: Bool, _ message: @autoclosure () -> String) throws {
      if !ok { throw ConfigError(message()) }
    }
    try validate()
    let model = self.model ?? data.kind
    try check(model == data.kind, "model \(model.rawValue) does not fit \(data.path), a \(data.kind.rawValue) dataset")
    // A setting of the other model kind would be dropped, or enter the
    // run's identity while changing nothing: refused.
    for setting in Self.settings where setting.value(in: self) != nil {
      if setting.name == "stabilizer" && stabilizer == Stabilizer.Name.none { continue }
      switch (setting.scope, model) {
      case (.steady, .trajectory):
        throw ConfigError("\(setting.name) applies to steady models only; this is a trajectory run")
      case (.trajectory, .steady):
        throw ConfigError("\(setting.name) applies to trajectory models only; this is a steady run")
      default: continue
      }
    }
    // Defaults that depend on the data or on other settings.
    var c = withFixedDefaults
    c.model = model
    // memory: every unit is an output (and x(0) is given for all of them).
    // /initial gives the state of every unit, so its width is the network's.
    c.units =
      units ?? data.initialWidth
      ?? (data.task == .memory
        ? data.outputs : max(data.task?.suggestedUnits ?? 0, data.outputs + (data.task == nil ? 8 : 0)))
    c.coupling = coupling ?? ([.patterns, .memory].contains(data.task) ? .identity : .dense)
    c.activation = activation ?? data.task?.activation ?? .tanh
    c.gain = gain ?? Parameters<Double>.defaultGain(steady: model == .steady, activation: c.activation!)
    c.lr = lr ?? (c.optimizer! == .adam ? 0.01 : 0.1)
    c.batch = batch ?? min(max(data.count, 1), 32)
    c.stabilizer = stabilizer ?? (model == .steady ? .jacobian : Stabilizer.Name.none)
    let double = c.precision! == .f64
    c.tolerance =
      tolerance
      ?? (double
        ? SolverOptions.defaultTolerance(for: Double.self, units: c.units!)
        : SolverOptions.defaultTolerance(for: Float.self, units: c.units!))
    c.adjointTolerance = adjointTolerance ?? c.tolerance
    let units = c.units!, activation = c.activation!, loss = c.loss!
    try check(units >= data.outputs, "units must be at least the \(data.outputs) outputs, got \(units)")
    if let f = valFraction {
      try check(!data.hasValSet, "val_fraction: \(data.path) has a validation set (/val); leave val_fraction out")
      let held = Int((f * Double(data.count)).rounded())
      try check(
        held >= 1 && held < data.count,
        "val_fraction \(f) of \(data.count) patterns leaves \(held) for validation and \(data.count - held) for training; both need at least 1"
      )
    }
    if let width = data.initialWidth {
      try check(units == width, "units is \(units), but \(data.path) gives initial states (/initial) of \(width) units")
    }
    let shape: NetworkShape
    do {
      shape = try NetworkShape(units: units, inputs: data.inputs, outputs: data.outputs, coupling: c.coupling!)
    } catch {
      throw ConfigError("\(error)")
    }
    try check(loss != .bce || activation == .logistic, "loss bce needs activation logistic, got \(activation.rawValue)")
    let damping = c.damping!
    let forward = ForwardMethod(c.solver!, damping: damping, memory: c.memory!)
    let adjointMethod = AdjointMethod(c.adjoint!, terms: c.terms!, restart: c.restart!)
    let stabilizer = Stabilizer.named(c.stabilizer!, weight: c.stabilityWeight!, threshold: c.stabilityThreshold!)
    let mode = BPTTMode(c.bptt!, window: c.window!)
    let settings = OptimizerSettings(
      kind: c.optimizer!, learningRate: c.lr!, beta1: c.momentum!, beta2: c.beta2!,
      clipNorm: c.clip, weightDecay: c.weightDecay!)
    do { try settings.validate() } catch { throw ConfigError("\(error)") }
    // The solvers' own tolerances follow the precision each solve runs in
    // unless the run chose them (the analysis commands may run in another).
    let steady = SteadySolverSettings(
      forward: forward, adjoint: adjointMethod, tolerance: tolerance,
      adjointTolerance: adjointTolerance ?? tolerance, maxIterations: c.maxIterations!,
      stabilizer: stabilizer)
    // Solver settings are checked here, before any output exists, not at
    // the first solve.
    do { try steady.validate() } catch { throw ConfigError("\(error)") }
    // What identifies the run: every setting that applies to this model,
    // where it means something (the stabiliser's weights with a stabiliser,
    // the window in truncated BPTT).
    var resolved = RunConfig()
    for setting in Self.settings where setting.identifies {
      switch (setting.scope, model) {
      case (.steady, .trajectory), (.trajectory, .steady): continue
      default: setting.set(setting.value(in: c), in: &resolved)
      }
    }
    if stabilizer == nil { (resolved.stabilityWeight, resolved.stabilityThreshold) = (nil, nil) }
    if case .truncated = mode {} else { resolved.window = nil }
    return TrainingPlan(
      config: self, resolvedConfig: resolved, model: model, shape: shape, activation: activation,
      loss: loss, leak: c.leak!, gain: c.gain!, steady: steady, bptt: mode, optimizer: settings,
      lrDecay: c.lrDecay!, epochs: c.epochs!, batch: c.batch!, seed: UInt64(c.seed!),
      threads: c.threads!, precision: c.precision!, checkpointEvery: c.checkpointEvery!,
      targetLoss: c.targetLoss, stopWhenSolved: c.stopWhenSolved!, warmStart: c.warmStart!,
      maxRetries: c.maxRetries!, maxUnsettled: c.maxUnsettled ?? 1, symmetric: c.symmetric ?? false,
      valFraction: data.hasValSet ? nil : valFraction, patience: patience, minDelta: minDelta ?? 0,
      metric: metric)
  }
}

extension TrainingPlan {
  /// Throws unless this plan may continue the run `stored` planned, whose
  /// checkpoint is at `epoch`: every setting declared `.fixed` on resume
  /// keeps its resolved value, and epochs are left to train.
  public func checkResumable(from stored: TrainingPlan, at epoch: Int) throws {
    for setting in RunConfig.settings where setting.onResume == .fixed {
      let was = setting.value(in: stored.resolvedConfig), now = setting.value(in: resolvedConfig)
      guard was != now else { continue }
      let changeable = RunConfig.settings.filter { $0.onResume == .mayChange }.map(\.name)
      throw ConfigError(
        "--resume: \(setting.name) is \(was?.description ?? "unset") in the checkpoint, "
          + "\(now?.description ?? "unset") now; a resumed run keeps what defines it "
          + "(it may change \(changeable.joined(separator: ", ")))")
    }
    guard epochs > epoch else {
      throw ConfigError("--resume: the checkpoint is at epoch \(epoch), so --epochs \(epochs) leaves nothing to train")
    }
  }
}
