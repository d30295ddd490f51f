// The checkpoint format of SPEC §2 (`format = "rbp-checkpoint"`): the
// network (model, activation, loss, sizes, leak, coupling, /params) that any
// tool can write, plus what the engine needs to continue a run exactly: the
// run configuration as JSON and the run's progress (`RunProgress`: step and
// epoch counters, optimizer state under /optimizer, the learning rate, the
// random generator's state, per-epoch /history). Checkpoints are written
// atomically.

import Foundation
import RBPCore
import RBPKernels

/// The steady-state solver's warm starts: each dataset pattern's last fixed
/// point, and whether it has one.
public struct WarmStarts: Sendable, Equatable {
  /// The last fixed point of each pattern, P×N (rows not known are zero).
  public var states: Matrix<Double>
  /// Whether each pattern has one.
  public var known: [Bool]
  /// These states and flags.
  public init(states: Matrix<Double>, known: [Bool]) {
    self.states = states
    self.known = known
  }
}

/// Everything a checkpoint holds. Parameters are kept in f64, which holds
/// f32 values exactly, so a run in either precision resumes bit for bit.
public struct Checkpoint: Sendable {
  /// Steady or trajectory.
  public var model: ModelKind
  /// The units' f.
  public var activation: Activation
  /// The loss on the output units.
  public var loss: Loss
  /// N, I, O and the coupling.
  public var shape: NetworkShape
  /// Trajectory networks only; 1 = no leak.
  public var leak: Double
  /// W, b, U and (trajectories) x0, in f64.
  public var parameters: Parameters<Double>
  /// The run configuration, JSON.
  public var config: String?
  /// The configuration with every default filled in, JSON (attribute
  /// `resolved_config`), and the run's identity: a hash of it and of the
  /// dataset's content (attribute `run_hash`).
  public var resolvedConfig: String?
  /// The run's identity (attribute `run_hash`).
  public var runHash: String?
  /// The dataset it was trained on: its path as given (attribute `data`) and
  /// a hash of its bytes (attribute `data_hash`).
  public var dataPath: String?
  /// A hash of the dataset's bytes (attribute `data_hash`).
  public var dataHash: String?
  /// Where the run that wrote it stands (nil: the file holds a network
  /// only, as one written by another tool may; such a file has no
  /// /optimizer).
  public var progress: RunProgress<Double>?
  /// Epochs finished (0 without progress).
  public var epoch: Int { progress?.epoch ?? 0 }
  /// Per-epoch metrics (empty without progress).
  public var history: History { progress?.history ?? History() }
  /// Steady models trained with warm starts: each pattern's last fixed
  /// point, under /solver.
  public var warmStarts: WarmStarts?
  /// What validated the run (attribute `validation`): "val" (the dataset's
  /// /val group), "val_fraction" (a split of the training patterns) or
  /// "train" (the training set).
  public var validation: String?
  /// The epoch with the lowest validation loss so far and that loss
  /// (attributes `best_epoch`, `best_val_loss`); its parameters are in
  /// best.h5 beside the checkpoint.
  public var bestEpoch: Int?
  /// The lowest validation loss so far (attribute `best_val_loss`).
  public var bestValidationLoss: Double?
  /// With `validation` "val_fraction": the dataset patterns split off for
  /// validation (dataset `/validation_patterns`, int64, ascending).
  public var validationPatterns: [Int]?
  /// Why the run stopped before its last epoch (attribute `stop_reason`),
  /// when it did: the checkpoint then holds the last good state.
  public var stopReason: String?
  /// The rbp version that wrote the checkpoint (attribute `rbp_version`;
  /// written always, read when present).
  public var rbpVersion: String?
  /// Steady models trained with `--symmetric`: W = Wᵀ with a zero diagonal
  /// (attribute `symmetric = 1`; W is stored whole).
  public var symmetric = false

  /// A checkpoint of these parameters and functions, with a run's
  /// configuration and progress when there is one.
  public init(
    model: ModelKind, activation: Activation, loss: Loss, leak: Double = 1,
    parameters: Parameters<Double>, config: String? = nil, progress: RunProgress<Double>? = nil
  ) {
    self.model = model
    self.activation = activation
    self.loss = loss
    self.shape = parameters.shape
    self.leak = leak
    self.parameters = parameters
    self.config = config
    self.progress = progress
    warmStarts = nil
    stopReason = nil
  }

  /// A checkpoint of a steady network alone (no run).
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init<T: KernelScalar>(_ net: SteadyNetwork<T>) {
    self.init(
      model: .steady, activation: net.activation, loss: net.loss,
      parameters: net.parameters.converted(to: Double.self))
  }

  /// A checkpoint of a trajectory network alone (no run).
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init<T: KernelScalar>(_ net: TrajectoryNetwork<T>) {
    self.init(
      model: .trajectory, activation: net.activation, loss: net.loss, leak: net.leak,
      parameters: net.parameters.converted(to: Double.self))
  }

  /// The steady network, in precision T; throws for a trajectory model.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func steadyNetwork<T: KernelScalar>(_: T.Type) throws -> SteadyNetwork<T> {
    guard model == .steady else { throw RBPError.invalid("the checkpoint holds a \(model) model, not a steady one") }
    var net = try SteadyNetwork(parameters: parameters.converted(to: T.self), activation: activation, loss: loss)
    net.symmetric = symmetric
    return net
  }

  /// The trajectory network, in precision T; throws for a steady model.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func trajectoryNetwork<T: KernelScalar>(_: T.Type) throws -> TrajectoryNetwork<T> {
    guard model == .trajectory else {
      throw RBPError.invalid("the checkpoint holds a \(model) model, not a trajectory one")
    }
    return try TrajectoryNetwork(
      parameters: parameters.converted(to: T.self), activation: activation,
      loss: loss, leak: leak)
  }
}

/// Reading and writing checkpoint files.
public enum CheckpointFile {
  /// Reads a checkpoint; throws naming the file and the field that is missing or wrong.
  public static func read(_ path: String) throws -> Checkpoint {
    let file = try HDF5File.open(path)
    try checkHeader(file, is: .checkpoint)
    func string(_ name: String) throws -> String {
      guard file.hasAttribute(name) else { throw file.fail("missing attribute '\(name)'") }
      return try file.stringAttribute(name)
    }
    func integer(_ name: String) throws -> Int {
      guard file.hasAttribute(name) else { throw file.fail("missing attribute '\(name)'") }
      let v = try file.numberAttribute(name)
      // Checked before converting: a corrupt file may hold any number.
      guard v.isFinite, v == v.rounded(), v >= 0, v <= 9_007_199_254_740_992 else {
        throw file.fail("attribute '\(name)' is \(v), expected a non-negative integer")
      }
      return Int(v)
    }
    let modelName = try string("model")
    guard let model = ModelKind(rawValue: modelName) else {
      throw file.fail("attribute 'model' is \"\(modelName)\", expected \"steady\" or \"trajectory\"")
    }
    let activationName = try string("activation")
    guard let activation = Activation(rawValue: activationName) else {
      throw file.fail(
        "attribute 'activation' is \"\(activationName)\", expected one of \(Activation.allCases.map(\.rawValue))")
    }
    let lossName = try string("loss")
    guard let loss = Loss(rawValue: lossName) else {
      throw file.fail("attribute 'loss' is \"\(lossName)\", expected one of \(Loss.allCases.map(\.rawValue))")
    }
    var coupling = Coupling.dense
    if file.hasAttribute("coupling") {
      let name = try file.stringAttribute("coupling")
      guard let c = Coupling(rawValue: name) else {
        throw file.fail("attribute 'coupling' is \"\(name)\", expected \"dense\" or \"identity\"")
      }
      coupling = c
    }
    let (n, i, o) = (try integer("units"), try integer("inputs"), try integer("outputs"))
    let shape = try wrap(path) { try NetworkShape(units: n, inputs: i, outputs: o, coupling: coupling) }
    var leak = 1.0
    if file.hasAttribute("leak") {
      guard model == .trajectory else { throw file.fail("attribute 'leak' is only allowed on trajectory models") }
      leak = try file.numberAttribute("leak")
    }
    let layout = ParameterLayout(shape: shape, hasInitialState: model == .trajectory)
    var params = Parameters<Double>(layout: layout)
    func block(_ name: String, _ expected: [Int], _ range: Range<Int>) throws {
      let (values, found) = try readArray(try file.group("params"), name, rank: expected.count, as: Double.self)
      guard found == expected else {
        throw HDF5Error(file: path, path: "/params/\(name)", message: "has shape \(found), expected \(expected)")
      }
      params.values.replaceSubrange(range, with: values)
    }
    guard file.exists("params") else { throw file.fail("missing group '/params'") }
    try block("W", [n, n], layout.w)
    try block("b", [n], layout.b)
    if coupling == .dense {
      try block("U", [n, i], layout.u)
    } else if file.exists("params/U") {
      throw HDF5Error(file: path, path: "/params/U", message: "must be absent with identity coupling")
    }
    if model == .trajectory { try block("x0", [n], layout.x0) }

    var checkpoint = Checkpoint(model: model, activation: activation, loss: loss, leak: leak, parameters: params)
    // The core's own checks (leak range, bce with logistic outputs).
    try wrap(path) {
      switch model {
      case .steady: _ = try checkpoint.steadyNetwork(Double.self)
      case .trajectory: _ = try checkpoint.trajectoryNetwork(Double.self)
      }
    }
    if file.hasAttribute("config") { checkpoint.config = try file.stringAttribute("config") }
    if file.hasAttribute("resolved_config") { checkpoint.resolvedConfig = try file.stringAttribute("resolved_config") }
    if file.hasAttribute("run_hash") { checkpoint.runHash = try file.stringAttribute("run_hash") }
    if file.hasAttribute("data") { checkpoint.dataPath = try file.stringAttribute("data") }
    if file.hasAttribute("data_hash") { checkpoint.dataHash = try file.stringAttribute("data_hash") }
    if file.hasAttribute("rbp_version") { checkpoint.rbpVersion = try file.stringAttribute("rbp_version") }
    checkpoint.progress = try readProgress(file, layout: layout, integer: integer)
    func warm(_ name: String) throws -> WarmStarts? {
      guard file.exists("solver/\(name)") else { return nil }
      let (states, shape) = try readArray(try file.group("solver"), name, rank: 2, as: Double.self)
      let (known, _) = try readArray(try file.group("solver"), name + "_known", rank: 1, as: Double.self)
      guard shape[1] == n, known.count == shape[0] else {
        throw HDF5Error(
          file: path, path: "/solver/\(name)", message: "has shape \(shape), expected (P, \(n)) with P known flags")
      }
      return WarmStarts(states: Matrix(rows: shape[0], cols: n, elements: states), known: known.map { $0 != 0 })
    }
    checkpoint.warmStarts = try warm("warm_start")
    if file.hasAttribute("stop_reason") { checkpoint.stopReason = try file.stringAttribute("stop_reason") }
    if file.hasAttribute("validation") {
      let source = try file.stringAttribute("validation")
      guard ["val", "val_fraction", "train"].contains(source) else {
        throw file.fail("attribute 'validation' is \"\(source)\", expected \"val\", \"val_fraction\" or \"train\"")
      }
      checkpoint.validation = source
    }
    if file.exists("validation_patterns") {
      let rows: [Double] = try file.dataset("validation_patterns").read()
      guard rows.allSatisfy({ $0 >= 0 && $0 == $0.rounded() && $0 < 9e15 }) else {
        throw HDF5Error(file: path, path: "/validation_patterns", message: "holds values that are not pattern indices")
      }
      checkpoint.validationPatterns = rows.map { Int($0) }
    }
    if file.hasAttribute("best_epoch") {
      let best = try integer("best_epoch")
      guard best >= 1, best <= checkpoint.epoch else {
        throw file.fail("attribute 'best_epoch' is \(best), expected an epoch in 1…\(checkpoint.epoch)")
      }
      checkpoint.bestEpoch = best
      guard file.hasAttribute("best_val_loss") else {
        throw file.fail("missing attribute 'best_val_loss' (with 'best_epoch')")
      }
      checkpoint.bestValidationLoss = try file.numberAttribute("best_val_loss")
    }
    if file.hasAttribute("symmetric") {
      let flag = try file.numberAttribute("symmetric")
      guard flag == 0 || flag == 1 else { throw file.fail("attribute 'symmetric' is \(flag), expected 0 or 1") }
      checkpoint.symmetric = flag == 1
      if checkpoint.symmetric {
        guard model == .steady else { throw file.fail("attribute 'symmetric' is only allowed on steady models") }
        guard checkpoint.parameters.weightsAreSymmetric else {
          throw HDF5Error(
            file: path, path: "/params/W",
            message: "is not symmetric with a zero diagonal, as attribute 'symmetric' = 1 says")
        }
      }
    }
    return checkpoint
  }

  /// The run's progress: present with /optimizer, which the engine always
  /// writes; counters, seed and history are read with it. Without
  /// /optimizer (a file from another tool) the counters are still checked,
  /// but there is no run to continue: it resumes as a new run from its
  /// parameters.
  static func readProgress(
    _ file: HDF5File, layout: ParameterLayout,
    integer: (String) throws -> Int
  ) throws -> RunProgress<Double>? {
    let epoch = file.hasAttribute("epoch") ? try integer("epoch") : 0
    let step = file.hasAttribute("step") ? try integer("step") : 0
    guard file.exists("optimizer") else { return nil }
    let g = try file.group("optimizer")
    let optimizer = try readOptimizer(g, layout: layout)
    var seed: UInt64? = nil
    if file.hasAttribute("rng_state") {
      let bits: [Int64] = try file.numericAttribute("rng_state")
      guard bits.count == 1 else { throw file.fail("attribute 'rng_state' holds \(bits.count) values, expected 1") }
      seed = UInt64(bitPattern: bits[0])
    }
    var history: [String: [Double]] = [:]
    if file.exists("history") {
      let h = try file.group("history")
      for name in try h.childNames() {
        let d = try h.dataset(name)
        let shape = try d.shape
        // One value per epoch: `loss` exactly `epoch` of them; a series
        // added by a later version of rbp may start late, never run ahead.
        guard shape.count == 1 else {
          throw HDF5Error(
            file: file.file, path: "/history/\(name)", message: "has shape \(shape), expected one value per epoch")
        }
        guard name == "loss" ? shape[0] == epoch : shape[0] <= epoch else {
          throw HDF5Error(
            file: file.file, path: "/history/\(name)",
            message: "has \(shape[0]) values, but attribute 'epoch' is \(epoch)"
              + (name == "loss" ? " (one per epoch)" : " (at most one per epoch)"))
        }
        history[name] = try d.read()
      }
    }
    if epoch > 0 && history["loss"] == nil {
      throw HDF5Error(file: file.file, path: "/history/loss", message: "is missing, but attribute 'epoch' is \(epoch)")
    }
    return RunProgress(
      epoch: epoch, step: step, optimizer: optimizer, learningRate: try g.numberAttribute("lr"), seed: seed,
      history: History(byName: history))
  }

  /// The optimizer under /optimizer. Its attributes carry the settings'
  /// names (`optimizer`, `lr`, `momentum`, `beta2`, `weight_decay`,
  /// `clip`); version-1 files wrote `kind`, `beta1` and `clip_norm`, which
  /// are read as well.
  static func readOptimizer(_ g: HDF5Group, layout: ParameterLayout) throws -> Optimizer<Double> {
    func named(_ name: String, or old: String) -> String { g.hasAttribute(name) || !g.hasAttribute(old) ? name : old }
    let kindName = try g.stringAttribute(named("optimizer", or: "kind"))
    guard let kind = OptimizerKind(rawValue: kindName) else {
      throw g.fail(
        "attribute 'optimizer' is \"\(kindName)\", expected one of \(OptimizerKind.allCases.map(\.rawValue))")
    }
    var settings = OptimizerSettings(
      kind: kind, learningRate: try g.numberAttribute("lr"),
      beta1: try g.numberAttribute(named("momentum", or: "beta1")),
      beta2: try g.numberAttribute("beta2"), epsilon: try g.numberAttribute("epsilon"),
      weightDecay: try g.numberAttribute("weight_decay"))
    let clip = named("clip", or: "clip_norm")
    if g.hasAttribute(clip) { settings.clipNorm = try g.numberAttribute(clip) }
    do { try settings.validate() } catch { throw g.fail("attributes: \(error)") }
    var opt = try wrap(g.file) { try Optimizer<Double>(settings: settings, layout: layout) }
    opt.step = try g.integerAttribute("step")
    guard opt.step >= 0 else { throw g.fail("attribute 'step' is \(opt.step), expected a non-negative integer") }
    for (name, keyPath) in [("first", \Optimizer<Double>.first), ("second", \Optimizer<Double>.second)] {
      let values: [Double] = try g.dataset(name).read()
      guard values.count == layout.count else {
        throw HDF5Error(
          file: g.file, path: g.childPath(name), message: "has \(values.count) values, expected \(layout.count)")
      }
      // A NaN moment would turn every later step into NaN (and f32's clamped
      // vector math could even hide it): refused, like non-finite parameters.
      if let bad = values.firstIndex(where: { !$0.isFinite }) {
        throw HDF5Error(
          file: g.file, path: g.childPath(name), message: "holds a non-finite value (\(values[bad])) at \(bad)")
      }
      // Adam's second moment is a mean of squares.
      if name == "second" && kind == .adam, let bad = values.firstIndex(where: { $0 < 0 }) {
        throw HDF5Error(
          file: g.file, path: g.childPath(name), message: "holds a negative second moment (\(values[bad])) at \(bad)")
      }
      opt[keyPath: keyPath] = Parameters(layout: layout, values: values)
    }
    return opt
  }

  /// Writes `checkpoint` to `path` atomically: a reader sees the old file
  /// or the new one, never a mix. With `behind`, the file is synced and put
  /// in place later, by `behind`.
  public static func write(_ checkpoint: Checkpoint, to path: String, behind: WriteBehind? = nil) throws {
    try writeHDF5Atomically(to: path, inMemory: builtInMemory(checkpoint), behind: behind) { file in
      try write(checkpoint, into: file)
    }
  }

  /// Writes `checkpoint` atomically to `path` and, with the same bytes,
  /// to `copy` (first), each a file of its own; `behind` as above.
  public static func write(
    _ checkpoint: Checkpoint, to path: String, copy: String, behind: WriteBehind? = nil
  ) throws {
    try writeHDF5Atomically(to: path, copy: copy, inMemory: builtInMemory(checkpoint), behind: behind) { file in
      try write(checkpoint, into: file)
    }
  }

  /// The largest checkpoint built in memory and written in one piece (its
  /// arrays' values, in f64): above it the library writes the file itself,
  /// so that a large network's checkpoint does not take twice its size in
  /// memory while it is written.
  static let inMemoryLimit = 64 << 20

  /// Whether `checkpoint` is small enough to build in memory: parameters,
  /// optimizer moments, history and warm starts, as f64.
  static func builtInMemory(_ checkpoint: Checkpoint) -> Bool {
    var values = checkpoint.parameters.values.count * 3
    values += checkpoint.history.byName.values.reduce(0) { $0 + $1.count }
    values += checkpoint.warmStarts.map { $0.states.rows * $0.states.cols } ?? 0
    return values * 8 <= inMemoryLimit
  }

  static func write(_ checkpoint: Checkpoint, into file: HDF5File) throws {
    try writeHeader(file, .checkpoint)
    let s = checkpoint.shape
    try file.setAttribute("model", string: checkpoint.model.rawValue)
    try file.setAttribute("activation", string: checkpoint.activation.rawValue)
    try file.setAttribute("loss", string: checkpoint.loss.rawValue)
    try file.setAttribute("units", int: s.units)
    try file.setAttribute("inputs", int: s.inputs)
    try file.setAttribute("outputs", int: s.outputs)
    try file.setAttribute("coupling", string: s.coupling.rawValue)
    if checkpoint.model == .trajectory { try file.setAttribute("leak", double: checkpoint.leak) }
    if checkpoint.symmetric { try file.setAttribute("symmetric", int: 1) }
    let p = checkpoint.parameters
    let params = try file.createGroup("params")
    try params.write("W", p.W.elements, shape: [s.units, s.units])
    try params.write("b", p.b, shape: [s.units])
    if s.coupling == .dense { try params.write("U", p.U.elements, shape: [s.units, s.inputs]) }
    if checkpoint.model == .trajectory { try params.write("x0", p.x0, shape: [s.units]) }
    if let config = checkpoint.config { try file.setAttribute("config", string: config) }
    if let resolved = checkpoint.resolvedConfig { try file.setAttribute("resolved_config", string: resolved) }
    if let hash = checkpoint.runHash { try file.setAttribute("run_hash", string: hash) }
    if let data = checkpoint.dataPath { try file.setAttribute("data", string: data) }
    if let hash = checkpoint.dataHash { try file.setAttribute("data_hash", string: hash) }
    if let source = checkpoint.validation { try file.setAttribute("validation", string: source) }
    if let rows = checkpoint.validationPatterns {
      try file.write("validation_patterns", rows.map { Int64($0) }, shape: [rows.count])
    }
    if let best = checkpoint.bestEpoch, let loss = checkpoint.bestValidationLoss {
      try file.setAttribute("best_epoch", int: best)
      try file.setAttribute("best_val_loss", double: loss)
    }
    // The engine that wrote it (SPEC §3: a run is known by its configuration, data and version).
    try file.setAttribute("rbp_version", string: RBPVersion.string)
    if let progress = checkpoint.progress { try writeProgress(progress, to: file) }
    if let warm = checkpoint.warmStarts {
      try file.write("solver/warm_start", warm.states.elements, shape: [warm.states.rows, warm.states.cols])
      try file.write("solver/warm_start_known", warm.known.map { $0 ? 1.0 : 0.0 }, shape: [warm.known.count])
    }
    if let reason = checkpoint.stopReason { try file.setAttribute("stop_reason", string: reason) }
  }

  static func writeProgress(_ progress: RunProgress<Double>, to file: HDF5File) throws {
    try file.setAttribute("step", int: progress.step)
    try file.setAttribute("epoch", int: progress.epoch)
    if let seed = progress.seed { try file.setAttribute("rng_state", [Int64(bitPattern: seed)]) }
    let opt = progress.optimizer
    let g = try file.createGroup("optimizer")
    try g.setAttribute("optimizer", string: opt.settings.kind.rawValue)
    // The rate the next update uses, which a resumed run continues with.
    try g.setAttribute("lr", double: progress.learningRate)
    try g.setAttribute("momentum", double: opt.settings.beta1)
    try g.setAttribute("beta2", double: opt.settings.beta2)
    try g.setAttribute("epsilon", double: opt.settings.epsilon)
    try g.setAttribute("weight_decay", double: opt.settings.weightDecay)
    if let clip = opt.settings.clipNorm { try g.setAttribute("clip", double: clip) }
    try g.setAttribute("step", int: opt.step)
    try g.write("first", opt.first.values, shape: [opt.first.values.count])
    try g.write("second", opt.second.values, shape: [opt.second.values.count])
    if !progress.history.isEmpty {
      let h = try file.createGroup("history")
      for (name, values) in progress.history.byName.sorted(by: { $0.key < $1.key }) {
        try h.write(name, values, shape: [values.count])
      }
    }
  }
}
