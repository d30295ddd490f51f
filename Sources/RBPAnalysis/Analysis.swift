// What rbp computes from a trained network without training it. The
// command line (`rbp states`, `rbp grad`, `rbp invert`, `rbp fixed-points`)
// and the C library (`librbp`, and Python over it) both call this layer, so
// each computation has one implementation:
//   states              the forward pass: each pattern's steady state (and
//                       whether it settled), or trajectories x(0…T)
//   gradient            ∂J/∂θ of the network's loss, or ∂R/∂θ and ∂R/∂a for a
//                       given cotangent c = ∂R/∂x (SPEC §1.4): RBP for steady
//                       networks, BPTT for trajectories, in f32 or f64
//   finiteDifferences   the same ∂/∂θ by central differences, in f64
// (the inverse and the fixed-point search are in the files beside this one).
//
// Arrays are f64, row-major and sequence-major: states (P, N) steady or
// (P, T+1, N) with x(0) for trajectories; cotangents and adjoints (P, N) or
// (P, T, N) for t = 1…T. Legend: P patterns, T steps, N units, I inputs,
// O outputs (the last O units).

import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTrain

/// A network and the solver settings an analysis runs it with.
public struct Analysis: Sendable {
  /// The network, with the run configuration that trained it (if any).
  public let checkpoint: Checkpoint
  /// The run's configuration resolved against the data, with the solver
  /// settings given to the analysis in place of the run's.
  public let plan: TrainingPlan

  /// - Parameters:
  ///   - checkpoint: the network, and the run that trained it.
  ///   - source: what names the checkpoint in errors (its path).
  ///   - solver: solver settings that override the run's (unset ones keep
  ///     the run's, or the defaults for the precision a solve runs in).
  ///   - data: the dataset the analysis reads, when it is a file; without
  ///     one, the network's own sizes stand for it.
  public init(
    checkpoint: Checkpoint, source: String, solver: RunConfig = RunConfig(),
    data: DatasetSummary? = nil
  ) throws {
    var config = RunConfig()
    if let saved = checkpoint.config {
      config = try RunConfig.parse(json: Data(saved.utf8), source: source + " (config)")
    }
    config = config.overridden(by: solver)
    let shape = checkpoint.shape
    config.units = shape.units
    config.activation = checkpoint.activation
    config.loss = checkpoint.loss
    config.coupling = shape.coupling
    config.model = checkpoint.model
    config.leak = checkpoint.model == .trajectory ? checkpoint.leak : nil
    let summary: DatasetSummary
    if let data {
      summary = data
    } else {
      // Arrays in memory: the sizes the network was built for, and none of
      // the run's settings that are about splitting a dataset file.
      summary = DatasetSummary(
        path: source, kind: checkpoint.model, count: 2, steps: 1, inputs: shape.inputs,
        outputs: shape.outputs, task: nil, hasTestSet: false)
      config.valFraction = nil
    }
    self.checkpoint = checkpoint
    plan = try config.resolved(for: summary)
  }

  /// Throws unless `data` fits the network: its inputs, outputs and initial
  /// states have the network's widths. `source` names the data in errors.
  public func check(_ data: DatasetContents<Double>, source: String) throws {
    let shape = checkpoint.shape
    guard checkpoint.model == data.kind else {
      throw RBPError.invalid("\(source): \(data.kind.rawValue) data for a \(checkpoint.model.rawValue) network")
    }
    let (inputs, outputs, initial): (Int, Int, Int?) =
      switch data {
      case .steady(let b): (b.inputs.cols, b.targets.cols, b.initial?.cols)
      case .trajectory(let b): (b.inputWidth, b.outputWidth, b.initial?.cols)
      }
    guard inputs == shape.inputs, outputs == shape.outputs else {
      throw RBPError.invalid(
        "\(source): \(inputs) inputs and \(outputs) outputs, the network has "
          + "\(shape.inputs) and \(shape.outputs)")
    }
    if let initial, initial != shape.units {
      throw RBPError.invalid("\(source): initial states of \(initial) units, the network has \(shape.units)")
    }
  }

  /// The BPTT mode the gradients use: checkpointed runs are differentiated
  /// in full, since the states are returned anyway.
  var gradientMode: BPTTMode { plan.bptt == .checkpointed(every: nil) ? .full : plan.bptt }
}

/// The forward pass of a dataset: states shaped as in the gradients file,
/// the loss, and for steady networks whether each pattern settled (the
/// others' rows are NaN).
public struct StatesResult: Sendable {
  /// The states, row-major in `shape`.
  public var states: [Double]
  /// (P, N) steady, (P, T+1, N) trajectory.
  public var shape: [Int]
  /// The loss over the patterns that settled.
  public var loss: Double
  /// Steady networks: whether each pattern settled; nil for trajectories.
  public var settled: [Bool]?
}

extension Analysis {
  /// The states of `data`, computed in precision T.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func states<T: KernelScalar>(_ data: DatasetContents<Double>, as _: T.Type) throws -> StatesResult {
    switch data {
    case .steady(let b):
      let net = try checkpoint.steadyNetwork(T.self)
      let r = try net.evaluate(batch: try b.converted(to: T.self), settings: plan.steady, allowingUnsettled: true)
      return StatesResult(
        states: convertedArray(r.states.elements, to: Double.self), shape: [b.count, net.shape.units], loss: r.loss,
        settled: r.diagnostics.status.map { $0 == .converged })
    case .trajectory(let b):
      let net = try checkpoint.trajectoryNetwork(T.self)
      let r = try net.run(try b.converted(to: T.self))
      let n = net.shape.units
      return StatesResult(
        states: sequenceMajor(convertedArray(r.states, to: Double.self), blocks: b.steps + 1, count: b.count, width: n),
        shape: [b.count, b.steps + 1, n], loss: r.loss, settled: nil)
    }
  }

  /// The shape a cotangent ∂R/∂x of `data` has: (P, N) steady, (P, T, N)
  /// trajectory.
  public func cotangentShape(_ data: DatasetContents<Double>) -> [Int] {
    switch data {
    case .steady(let b): [b.count, checkpoint.shape.units]
    case .trajectory(let b): [b.count, b.steps, checkpoint.shape.units]
    }
  }

  /// R(x) = ⟨c, x⟩ (or its mean over the patterns) for the cotangent `c`.
  func objective<T: KernelScalar>(
    _ c: [Double], _ data: DatasetContents<Double>, mean: Bool, as _: T.Type
  ) throws
    -> CotangentObjective<T>
  {
    let n = checkpoint.shape.units
    switch data {
    case .steady(let b):
      return try CotangentObjective(convertedArray(c, to: T.self), count: b.count, units: n, mean: mean)
    case .trajectory(let b):
      return try CotangentObjective(convertedArray(c, to: T.self), count: b.count, steps: b.steps, units: n, mean: mean)
    }
  }

  /// ∂J/∂θ of the network's loss on `data` or, with a cotangent c (shaped
  /// as `cotangentShape`), ∂R/∂θ and ∂R/∂a = s for R = ⟨c, x⟩ (divided by
  /// the settled patterns' count P when `mean`), computed in precision T.
  /// Steady patterns that do not settle are left out (their rows NaN,
  /// `settled` false); the stabiliser is not part of the objective.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func gradient<T: KernelScalar>(
    _ data: DatasetContents<Double>, cotangent c: [Double]? = nil, mean: Bool = false,
    as _: T.Type
  ) throws -> GradientsRecord {
    if let c, c.count != cotangentShape(data).reduce(1, *) {
      throw RBPError.invalid("the cotangent has \(c.count) values, expected \(cotangentShape(data))")
    }
    let objective = try c.map { try self.objective($0, data, mean: mean, as: T.self) }
    var record: GradientsRecord
    switch data {
    case .steady(let b):
      let net = try checkpoint.steadyNetwork(T.self)
      var settings = plan.steady
      settings.stabilizer = nil
      record = GradientsRecord(
        try net.gradient(
          batch: try b.converted(to: T.self), settings: settings, objective: objective,
          allowingUnsettled: true))
      let n = net.shape.units
      record.solverAttributes = [
        "solver": (plan.config.solver ?? .auto).rawValue,
        "adjoint_solver": (plan.config.adjoint ?? .auto).rawValue,
      ]
      record.toleranceAttributes = [
        "forward_tolerance": settings.forwardOptions(for: T.self, units: n).tolerance,
        "adjoint_tolerance": settings.adjointOptions(for: T.self, units: n).tolerance,
      ]
    case .trajectory(let b):
      let net = try checkpoint.trajectoryNetwork(T.self)
      record = try GradientsRecord(
        try net.gradient(
          batch: try b.converted(to: T.self), mode: gradientMode,
          objective: objective),
        count: b.count, steps: b.steps, units: net.shape.units)
    }
    record.objective = c == nil ? checkpoint.loss.rawValue : "cotangent"
    if c != nil {
      // ∂R/∂a_p = s_p, divided by P when R is the mean.
      let scale = mean ? 1 / Double(record.settled.map { $0.filter { $0 }.count } ?? data.count) : 1
      record.drive = record.adjoint.map { $0 * scale }
    }
    return record
  }

  /// Central differences (J(θ + h) − J(θ − h)) / 2h of the loss, or of R
  /// for a cotangent, over every parameter, in f64. A symmetric network's
  /// tied weights move in pairs, and its zero diagonal stays.
  public func finiteDifferences(
    _ data: DatasetContents<Double>, cotangent c: [Double]? = nil, mean: Bool = false,
    step: Double
  ) throws -> Parameters<Double> {
    guard step > 0 && step.isFinite else {
      throw RBPError.invalid("the finite-difference step must be positive, got \(step)")
    }
    let objective = try c.map { try self.objective($0, data, mean: mean, as: Double.self) }
    var g = Parameters<Double>(layout: checkpoint.parameters.layout)
    let layout = g.layout, n = layout.shape.units
    for i in g.values.indices {
      var plus = checkpoint.parameters, minus = plus
      plus.values[i] += step
      minus.values[i] -= step
      if checkpoint.symmetric && layout.w.contains(i) {
        let (r, c) = (i - layout.w.lowerBound).quotientAndRemainder(dividingBy: n)
        if r == c { continue }
        let mirror = layout.w.lowerBound + c * n + r
        plus.values[mirror] += step
        minus.values[mirror] -= step
      }
      g.values[i] = (try value(plus, data, objective) - value(minus, data, objective)) / (2 * step)
    }
    return g
  }

  /// The objective at parameters `p`, in f64.
  func value(
    _ p: Parameters<Double>, _ data: DatasetContents<Double>, _ objective: CotangentObjective<Double>?
  ) throws
    -> Double
  {
    switch data {
    case .steady(let b):
      var net = try SteadyNetwork(parameters: p, activation: checkpoint.activation, loss: checkpoint.loss)
      net.symmetric = checkpoint.symmetric
      return try net.evaluate(batch: b, settings: plan.steady, objective: objective).loss
    case .trajectory(let b):
      return try TrajectoryNetwork(
        parameters: p, activation: checkpoint.activation, loss: checkpoint.loss,
        leak: checkpoint.leak
      ).run(b, objective: objective).loss
    }
  }
}

/// Conversion of a batch read in f64 to the precision a solve runs in.
extension SteadyBatch<Double> {
  /// The same patterns in precision U.
  public func converted<U: KernelScalar>(to _: U.Type) throws -> SteadyBatch<U> {
    try SteadyBatch<U>(
      inputs: inputs.converted(to: U.self), targets: targets.converted(to: U.self),
      mask: mask?.converted(to: U.self), initial: initial?.converted(to: U.self))
  }
}

/// Conversion of a batch read in f64 to the precision a solve runs in.
extension TrajectoryBatch<Double> {
  /// The same sequences in precision U.
  public func converted<U: KernelScalar>(to _: U.Type) throws -> TrajectoryBatch<U> {
    try TrajectoryBatch<U>(
      count: count, steps: steps, inputs: convertedArray(inputs, to: U.self), inputWidth: inputWidth,
      targets: convertedArray(targets, to: U.self), outputWidth: outputWidth,
      mask: mask.map { convertedArray($0, to: U.self) },
      initial: initial?.converted(to: U.self))
  }
}

extension Analysis {
  /// `states(_:as:)` in `precision`: the one place the analysis layer's
  /// callers (the command line, the C library) choose f32 or f64.
  public func states(_ data: DatasetContents<Double>, in precision: Precision) throws -> StatesResult {
    switch precision {
    case .f64: try states(data, as: Double.self)
    case .f32: try states(data, as: Float.self)
    }
  }

  /// `gradient(_:cotangent:mean:as:)` in `precision`.
  public func gradient(
    _ data: DatasetContents<Double>, cotangent c: [Double]? = nil, mean: Bool = false,
    in precision: Precision
  ) throws -> GradientsRecord {
    switch precision {
    case .f64: try gradient(data, cotangent: c, mean: mean, as: Double.self)
    case .f32: try gradient(data, cotangent: c, mean: mean, as: Float.self)
    }
  }

  /// `writeGradientInPieces(_:cotangent:mean:pieceValues:to:as:)` in
  /// `precision`.
  @discardableResult
  public func writeGradientInPieces(
    _ b: TrajectoryBatch<Double>, cotangent given: ((Int, Int) throws -> [Double])?, mean: Bool, pieceValues: Int,
    to path: String, in precision: Precision
  ) throws -> GradientsRecord {
    switch precision {
    case .f64:
      try writeGradientInPieces(b, cotangent: given, mean: mean, pieceValues: pieceValues, to: path, as: Double.self)
    case .f32:
      try writeGradientInPieces(b, cotangent: given, mean: mean, pieceValues: pieceValues, to: path, as: Float.self)
    }
  }
}
