// A run configuration resolved against its dataset: every default filled
// in (some depend on the dataset's kind, sizes or task), every value
// checked, with errors naming the key and the value.

import Foundation
import RBPCore
import RBPKernels
import RBPStore

/// What a dataset tells the plan: kind, sizes, and its task if it is a classic one.
public struct DatasetSummary: Sendable {
  public var path: String
  public var kind: ModelKind
  public var count: Int
  /// T for trajectories, 1 for steady states.
  public var steps: Int
  public var inputs: Int
  public var outputs: Int
  public var task: ClassicTask?
  public var hasTestSet: Bool

  /// Reads the summary from a dataset file without loading its arrays.
  public static func read(_ path: String) throws -> DatasetSummary {
    let file = try HDF5File.open(path)
    guard file.hasAttribute("format"), try file.stringAttribute("format") == FileFormat.dataset.rawValue else {
      throw HDF5Error(file: path, path: "", message: "is not an rbp-dataset file (attribute 'format')")
    }
    let kindName = file.hasAttribute("kind") ? try file.stringAttribute("kind") : ""
    guard let kind = ModelKind(rawValue: kindName) else {
      throw HDF5Error(file: path, path: "", message: "attribute 'kind' is \"\(kindName)\", expected \"steady\" or \"trajectory\"")
    }
    let inShape = try file.dataset("inputs").shape, outShape = try file.dataset("targets").shape
    guard let count = inShape.first, count > 0 else {
      throw HDF5Error(file: path, path: "/inputs", message: "has no patterns")
    }
    if kind == .trajectory && inShape.count == 3 && inShape[1] == 0 {
      throw HDF5Error(file: path, path: "/inputs", message: "has no steps")
    }
    let task = file.hasAttribute("task") ? ClassicTask(rawValue: try file.stringAttribute("task")) : nil
    let steps = kind == .trajectory && inShape.count == 3 ? inShape[1] : 1
    return DatasetSummary(path: path, kind: kind, count: count, steps: steps, inputs: inShape.last ?? 0,
                          outputs: outShape.last ?? 0, task: task, hasTestSet: file.exists("test"))
  }
}

/// A fully resolved, validated run.
public struct TrainingPlan: Sendable {
  public var config: RunConfig
  /// The configuration with every default filled in, each setting present
  /// only where it applies to the model (solver settings for steady states,
  /// BPTT settings for trajectories), without `threads` and
  /// `checkpoint-every`, which change no result: what identifies the run.
  public var resolvedConfig: RunConfig
  public var model: ModelKind
  public var shape: NetworkShape
  public var activation: Activation
  public var loss: Loss
  public var leak: Double
  public var gain: Double
  /// Steady solver settings; their tolerances, when not given, follow the
  /// precision each solve runs in (`SolverOptions.defaultTolerance`).
  public var steady: SteadySolverSettings
  public var bptt: BPTTMode
  public var optimizer: OptimizerSettings
  public var lrDecay: Double
  public var epochs: Int
  public var batch: Int
  public var seed: UInt64
  public var threads: Int
  public var doublePrecision: Bool
  public var checkpointEvery: Int
  public var targetLoss: Double?
  public var stopWhenSolved: Bool
  public var warmStart: Bool
  public var maxRetries: Int
}

extension RunConfig {
  /// Fills defaults from the dataset and checks every value.
  public func resolved(for data: DatasetSummary) throws -> TrainingPlan {
    func check(_ ok: Bool, _ message: @autoclosure () -> String) throws {
      if !ok { throw ConfigError(message()) }
    }
    let model = self.model ?? data.kind
    try check(model == data.kind, "model \(model.rawValue) does not fit \(data.path), a \(data.kind.rawValue) dataset")
    let units = self.units ?? data.task?.suggestedUnits ?? data.outputs + 8
    try check(units >= data.outputs && units >= 1, "units must be at least the \(data.outputs) outputs, got \(units)")
    let coupling = self.coupling ?? (data.task == .patterns ? .identity : .dense)
    let shape: NetworkShape
    do { shape = try NetworkShape(units: units, inputs: data.inputs, outputs: data.outputs, coupling: coupling) } catch {
      throw ConfigError("\(error)")
    }
    let activation = self.activation ?? data.task?.activation ?? .tanh
    let loss = self.loss ?? .mse
    try check(loss != .bce || activation == .logistic, "loss bce needs activation logistic, got \(activation.rawValue)")
    let leak = self.leak ?? 1
    try check(leak > 0 && leak <= 1, "leak must be in (0, 1], got \(leak)")
    try check(model == .trajectory || self.leak == nil, "leak applies to trajectory models only")
    let gain = self.gain ?? Parameters<Double>.defaultGain(steady: model == .steady, activation: activation)
    try check(gain >= 0 && gain.isFinite, "gain must be >= 0, got \(gain)")
    let precision = self.precision ?? "f32"
    try check(["f32", "f64"].contains(precision), "precision must be f32 or f64, got \(precision)")
    let double = precision == "f64"
    if let tolerance { try check(tolerance > 0 && tolerance.isFinite, "tolerance must be positive, got \(tolerance)") }
    let maxIterations = self.maxIterations ?? SolverOptions.defaultMaxIterations
    try check(maxIterations >= 1, "max-iterations must be at least 1, got \(maxIterations)")
    let damping = self.damping ?? 1
    try check(damping > 0 && damping <= 1, "damping must be in (0, 1], got \(damping)")
    let memory = self.memory ?? 5
    try check(memory >= 1, "memory must be at least 1, got \(memory)")
    let forward: ForwardMethod
    switch solver ?? "auto" {
    case "auto": forward = .auto
    case "iterate": forward = .iterate(damping: damping)
    case "anderson": forward = .anderson(memory: memory, regularization: 1e-10, damping: damping)
    case "newton": forward = .newton
    case let other: throw ConfigError("solver must be auto, iterate, anderson or newton, got \(other)")
    }
    let terms = self.terms ?? 50, restart = self.restart ?? 30
    try check(terms >= 1, "terms must be at least 1, got \(terms)")
    try check(restart >= 1, "restart must be at least 1, got \(restart)")
    let adjointMethod: AdjointMethod
    switch adjoint ?? "auto" {
    case "auto": adjointMethod = .auto
    case "iterate": adjointMethod = .iterate
    case "neumann": adjointMethod = .neumann(terms: terms)
    case "direct": adjointMethod = .direct
    case "gmres": adjointMethod = .gmres(restart: restart)
    case let other: throw ConfigError("adjoint must be auto, iterate, neumann, direct or gmres, got \(other)")
    }
    let adjointTolerance = self.adjointTolerance ?? tolerance
    if let adjointTolerance {
      try check(adjointTolerance > 0 && adjointTolerance.isFinite, "adjoint-tolerance must be positive, got \(adjointTolerance)")
    }
    let stabilizerName = self.stabilizer ?? (model == .steady ? "jacobian" : "none")
    try check(model == .steady || stabilizerName == "none", "stabilizer applies to steady models only")
    let stabilizer: Stabilizer?
    switch stabilizerName {
    case "none": stabilizer = nil
    case "jacobian":
      guard case let .jacobian(defaultWeight, defaultThreshold) = Stabilizer.standard else { fatalError("unreachable") }
      let weight = stabilityWeight ?? defaultWeight, threshold = stabilityThreshold ?? defaultThreshold
      try check(weight >= 0 && weight.isFinite, "stability-weight must be >= 0, got \(weight)")
      try check(threshold >= 0 && threshold.isFinite, "stability-threshold must be >= 0, got \(threshold)")
      stabilizer = .jacobian(weight: weight, threshold: threshold)
    case let other: throw ConfigError("stabilizer must be none or jacobian, got \(other)")
    }
    let maxRetries = self.maxRetries ?? 4
    try check(maxRetries >= 0, "max-retries must be >= 0, got \(maxRetries)")
    let window = self.window ?? 10
    try check(window >= 1, "window must be at least 1, got \(window)")
    let mode: BPTTMode
    switch bptt ?? "full" {
    case "full": mode = .full
    case "checkpointed": mode = .checkpointed(every: nil)
    case "truncated": mode = .truncated(window: window)
    case let other: throw ConfigError("bptt must be full, checkpointed or truncated, got \(other)")
    }
    let kind = optimizer ?? .adam
    let settings = OptimizerSettings(kind: kind, learningRate: lr ?? (kind == .adam ? 0.01 : 0.1),
                                     beta1: momentum ?? 0.9, beta2: beta2 ?? 0.999, clipNorm: clip,
                                     weightDecay: weightDecay ?? 0)
    do { try settings.validate() } catch { throw ConfigError("\(error)") }
    let lrDecay = self.lrDecay ?? 1
    try check(lrDecay > 0 && lrDecay <= 1, "lr-decay must be in (0, 1], got \(lrDecay)")
    let epochs = self.epochs ?? 100
    try check(epochs >= 0, "epochs must be >= 0, got \(epochs)")
    let batch = self.batch ?? min(max(data.count, 1), 32)
    try check(batch >= 1, "batch must be at least 1, got \(batch)")
    let threads = self.threads ?? 1
    try check(threads >= 1, "threads must be at least 1, got \(threads)")
    let every = checkpointEvery ?? 0
    try check(every >= 0, "checkpoint-every must be >= 0, got \(every)")
    if let t = targetLoss { try check(t >= 0, "target-loss must be >= 0, got \(t)") }
    let steady = SteadySolverSettings(forward: forward, adjoint: adjointMethod, tolerance: tolerance,
                                      adjointTolerance: adjointTolerance, maxIterations: maxIterations,
                                      stabilizer: stabilizer)
    // Solver settings are checked here, before any output exists, not at
    // the first solve.
    do { try steady.validate() } catch { throw ConfigError("\(error)") }
    // Every default above, written down once more only as values.
    var resolved = RunConfig()
    (resolved.model, resolved.units, resolved.activation, resolved.loss) = (model, units, activation, loss)
    (resolved.coupling, resolved.gain, resolved.optimizer, resolved.lr) = (coupling, gain, kind, settings.learningRate)
    (resolved.momentum, resolved.beta2, resolved.clip) = (settings.beta1, settings.beta2, clip)
    (resolved.weightDecay, resolved.lrDecay, resolved.epochs) = (settings.weightDecay, lrDecay, epochs)
    (resolved.batch, resolved.seed, resolved.precision) = (batch, seed ?? 0, precision)
    (resolved.targetLoss, resolved.stopWhenSolved, resolved.maxRetries) = (targetLoss, stopWhenSolved ?? false, maxRetries)
    switch model {
    case .steady:
      let units = shape.units
      let defaultTolerance = double ? SolverOptions.defaultTolerance(for: Double.self, units: units)
                                    : SolverOptions.defaultTolerance(for: Float.self, units: units)
      (resolved.solver, resolved.damping, resolved.memory) = (solver ?? "auto", damping, memory)
      (resolved.tolerance, resolved.maxIterations) = (tolerance ?? defaultTolerance, maxIterations)
      (resolved.adjoint, resolved.terms, resolved.restart) = (adjoint ?? "auto", terms, restart)
      resolved.adjointTolerance = adjointTolerance ?? resolved.tolerance
      (resolved.warmStart, resolved.stabilizer) = (warmStart ?? false, stabilizerName)
      if case let .jacobian(weight, threshold)? = stabilizer {
        (resolved.stabilityWeight, resolved.stabilityThreshold) = (weight, threshold)
      }
    case .trajectory:
      (resolved.leak, resolved.bptt) = (leak, bptt ?? "full")
      if case .truncated = mode { resolved.window = window }
    }
    return TrainingPlan(config: self, resolvedConfig: resolved, model: model, shape: shape, activation: activation, loss: loss, leak: leak,
                        gain: gain, steady: steady, bptt: mode, optimizer: settings, lrDecay: lrDecay, epochs: epochs,
                        batch: batch, seed: seed ?? 0, threads: threads, doublePrecision: double,
                        checkpointEvery: every, targetLoss: targetLoss, stopWhenSolved: stopWhenSolved ?? false,
                        warmStart: warmStart ?? false, maxRetries: maxRetries)
  }
}
