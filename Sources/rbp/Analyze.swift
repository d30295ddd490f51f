// The commands that use a trained network without training it:
//   rbp eval          metrics of a checkpoint on a dataset
//   rbp grad          the gradients file of SPEC §2 (rbp, bptt or central finite differences),
//                     for the network's loss or for a given cotangent ∂R/∂x
//   rbp states        the forward pass alone: the states a cotangent is computed from
//   rbp invert        the drives that make given states steady (or trajectories the network's own)
//   rbp fixed-points  the distinct steady states of each pattern and their stability

import ArgumentParser
import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTrain

extension SteadyBatch<Double> {
  /// The same patterns in precision U.
  func converted<U: KernelScalar>(to _: U.Type) throws -> SteadyBatch<U> {
    try SteadyBatch<U>(inputs: inputs.converted(to: U.self), targets: targets.converted(to: U.self),
                       mask: mask?.converted(to: U.self), initial: initial?.converted(to: U.self))
  }
}

extension TrajectoryBatch<Double> {
  /// The same sequences in precision U.
  func converted<U: KernelScalar>(to _: U.Type) throws -> TrajectoryBatch<U> {
    try TrajectoryBatch<U>(count: count, steps: steps, inputs: inputs.map { U($0) }, inputWidth: inputWidth,
                           targets: targets.map { U($0) }, outputWidth: outputWidth, mask: mask?.map { U($0) },
                           initial: initial?.converted(to: U.self))
  }
}

/// A checkpoint, its dataset and the solver settings of its run.
struct Loaded {
  var checkpoint: Checkpoint
  var data: DatasetContents<Double>
  var plan: TrainingPlan

  /// - Parameter solver: solver flags given on the command line, which
  ///   override the checkpoint's stored solver settings.
  init(checkpoint path: String, data dataPath: String, part: DatasetPart = .train, solver: SolverFlags? = nil) throws {
    checkpoint = try readCheckpoint(path)
    if part != .train, try !HDF5File.open(dataPath).exists(part.rawValue) {
      throw CLIFailure(message: "\(dataPath) has no \(part == .val ? "validation" : "test") set (/\(part.rawValue)); "
                       + "evaluate its training set without --\(part.rawValue)")
    }
    data = try DatasetFile.read(dataPath, as: Double.self, part: part)
    let summary = try DatasetSummary.read(dataPath)
    var config = RunConfig()
    if let saved = checkpoint.config { config = try RunConfig.parse(json: Data(saved.utf8), source: path + " (config)") }
    // The analysis commands use the solvers at their defaults for the
    // precision they run in, unless the run or the flags chose otherwise.
    try solver?.apply(to: &config)
    config.units = checkpoint.shape.units
    config.activation = checkpoint.activation
    config.loss = checkpoint.loss
    config.coupling = checkpoint.shape.coupling
    config.model = checkpoint.model
    config.leak = checkpoint.model == .trajectory ? checkpoint.leak : nil
    guard checkpoint.model == data.kind else {
      throw CLIFailure(message: "\(dataPath): a \(data.kind.rawValue) dataset for the \(checkpoint.model.rawValue) checkpoint \(path)")
    }
    plan = try config.resolved(for: summary)
    let (inputs, outputs): (Int, Int) = {
      switch data {
      case .steady(let b): return (b.inputs.cols, b.targets.cols)
      case .trajectory(let b): return (b.inputWidth, b.outputWidth)
      }
    }()
    guard inputs == checkpoint.shape.inputs, outputs == checkpoint.shape.outputs else {
      let group = part == .train ? "" : " (/\(part.rawValue))"
      throw CLIFailure(message: "\(dataPath)\(group): \(inputs) inputs and \(outputs) outputs, the checkpoint has "
                       + "\(checkpoint.shape.inputs) and \(checkpoint.shape.outputs)")
    }
    guard plan.shape.inputs == checkpoint.shape.inputs, plan.shape.outputs == checkpoint.shape.outputs else {
      throw CLIFailure(message: "\(dataPath): \(plan.shape.inputs) inputs and \(plan.shape.outputs) outputs, the checkpoint has "
                       + "\(checkpoint.shape.inputs) and \(checkpoint.shape.outputs)")
    }
  }
}

struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Evaluate a checkpoint on a dataset.",
                                                  discussion: SolverFlags.help)
  @Option(help: "The checkpoint.") var checkpoint: String
  @Option(help: "The dataset.") var data: String
  @Flag(help: "Use the dataset's /test set.") var test = false
  @Flag(help: "Use the dataset's /val set (what training validated on, when it has one).") var val = false
  @Flag(help: "One JSON line.") var json = false
  @Option(help: "f32 or f64 (default: the precision the checkpoint was trained in, so the metrics are those training reported).")
  var precision: String?
  @Option(help: "Accuracy and solved: sign, threshold, argmax or none (default: the run's metric, else the classic task's rule, else none).")
  var metric: String?
  @OptionGroup var solver: SolverFlags

  func run() throws {
    try reporting {
      if let precision, !["f32", "f64"].contains(precision) {
        throw CLIFailure(message: "--precision: '\(precision)' is not f32 or f64")
      }
      guard !(test && val) else { throw CLIFailure(message: "--test and --val: choose one") }
      let part: DatasetPart = test ? .test : val ? .val : .train
      var l = try Loaded(checkpoint: checkpoint, data: data, part: part, solver: solver)
      if let metric {
        guard let m = MetricName(rawValue: metric) else {
          throw CLIFailure(message: "--metric: '\(metric)' is not one of \(MetricName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        l.plan.metric = m
      }
      let task = try DatasetSummary.read(data).task
      // A checkpoint written by another tool (no run configuration) is evaluated in f64.
      let double = precision.map { $0 == "f64" } ?? (l.checkpoint.config == nil || l.plan.doublePrecision)
      func metrics<T: KernelScalar>(_ data: DatasetContents<T>) throws
        -> (loss: Double, accuracy: Double?, solved: Bool?, unsettled: Int)
      {
        let r = try evaluate(data, parameters: l.checkpoint.parameters.converted(to: T.self), plan: l.plan, task: task)
        return (r.loss, r.accuracy, r.solved, r.unsettled)
      }
      let e = double ? try metrics(l.data) : try metrics(DatasetFile.read(data, as: Float.self, part: part))
      if json {
        var object: [String: Any?] = ["loss": e.loss.isFinite ? e.loss : nil, "patterns": l.data.count,
                                      "accuracy": e.accuracy, "solved": e.solved]
        if l.checkpoint.model == .steady { object["unsettled"] = e.unsettled }
        writeLine(jsonLine(object))
      } else {
        print("loss \(format6(e.loss))" + (e.accuracy.map { "  accuracy \(format6($0))" } ?? "")
              + "  patterns \(l.data.count)" + (e.solved.map { $0 ? "  solved" : "  not solved" } ?? "")
              + (e.unsettled > 0 ? "  unsettled \(e.unsettled) (left out of the loss, wrong for the accuracy)" : ""))
      }
    }
  }
}

struct Grad: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write ∂J/∂θ, the states and the adjoints of a dataset; with --cotangent, ∂R/∂θ and ∂R/∂a for a given ∂R/∂x.",
    discussion: SolverFlags.help)
  @Option(help: "The checkpoint.") var checkpoint: String
  @Option(help: "The dataset.") var data: String
  @Option(help: "Output gradients file.") var out: String
  @Option(help: "rbp (steady), bptt (trajectory) or fd (central finite differences).") var method: String?
  @Option(help: "f64 (default) or f32.") var precision = "f64"
  @Option(help: "Finite-difference step.") var step = 1e-6
  @Option(help: ArgumentHelp("A file with /dstates = ∂R/∂x: (P, N) steady, (P, T, N) trajectory for t = 1…T.",
                             valueName: "C.h5"))
  var cotangent: String?
  @Flag(help: "With --cotangent: R is the mean over the patterns, so every gradient is divided by P (default: the sum).")
  var mean = false
  @Flag(help: "Print one JSON object: the file written and its summary.") var json = false
  @OptionGroup var solver: SolverFlags

  func run() throws {
    try reporting {
      guard ["f32", "f64"].contains(precision) else { throw CLIFailure(message: "--precision: '\(precision)' is not f32 or f64") }
      if mean && cotangent == nil { throw CLIFailure(message: "--mean applies only with --cotangent") }
      try refuseOverwritingInputs(outputs: [("--out", out)],
                                  inputs: [("--checkpoint", checkpoint), ("--data", data)] + (cotangent.map { [("--cotangent", $0)] } ?? []))
      let l = try Loaded(checkpoint: checkpoint, data: data, solver: solver)
      let method = self.method ?? (l.checkpoint.model == .steady ? "rbp" : "bptt")
      let valid = l.checkpoint.model == .steady ? ["rbp", "fd"] : ["bptt", "fd"]
      guard valid.contains(method) else {
        throw CLIFailure(message: "--method: '\(method)' does not apply to a \(l.checkpoint.model.rawValue) model; use \(valid.joined(separator: " or "))")
      }
      guard step > 0 else { throw CLIFailure(message: "--step must be positive, got \(step)") }
      if method != "fd", case .trajectory(let b) = l.data, b.count > 1,
         b.count * (b.steps + 1) * l.checkpoint.shape.units > Self.pieceValues {
        // Long trajectories: a piece of the sequences at a time, written as it is done.
        let record = precision == "f64" ? try trajectoryInPieces(Double.self, l, b) : try trajectoryInPieces(Float.self, l, b)
        if json { writeLine(jsonLine(summary(record, method: method, patterns: b.count))) }
        return
      }
      let c = try cotangent.map { try readCotangent($0, for: l) }
      var record = precision == "f64" ? try exact(Double.self, l, cotangent: c) : try exact(Float.self, l, cotangent: c)
      if method == "fd" {
        record.gradient = try finiteDifferences(l, cotangent: c.map { try objective(Double.self, $0, l) })
      }
      try GradientsFile.write(record, to: out)
      if let settled = record.settled, settled.contains(false) {
        let unsettled = settled.indices.filter { !settled[$0] }
        warn("\(unsettled.count) of \(settled.count) patterns did not settle and are left out of the gradient "
             + "(rows NaN, /settled = 0): " + unsettled.prefix(10).map(String.init).joined(separator: ", ")
             + (unsettled.count > 10 ? ", …" : ""))
      }
      if json { writeLine(jsonLine(summary(record, method: method, patterns: l.data.count))) }
    }
  }

  /// What --json prints: the file, the method, the objective's value and
  /// the gradient's size.
  func summary(_ record: GradientsRecord, method: String, patterns: Int) -> [String: Any?] {
    let norm = record.gradient.values.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return ["file": out, "method": method, "precision": precision, "objective": record.objective,
            "loss": record.loss, "gradient_norm": norm, "patterns": patterns,
            "unsettled": record.settled.map { $0.filter { !$0 }.count }]
  }

  /// Values of x(0…T) per piece when a trajectory dataset is done a piece
  /// of the sequences at a time (about 16 MB per array in f64). The tests
  /// set a small one (`RBP_TEST_PIECE_VALUES`) to cross piece boundaries
  /// on small data.
  static let pieceValues = ProcessInfo.processInfo.environment["RBP_TEST_PIECE_VALUES"].flatMap { Int($0) }
    .map { max($0, 1) } ?? 1 << 21

  /// The gradients file of a trajectory dataset whose states do not fit at
  /// once: BPTT on pieces of whole sequences, each piece's states, adjoints
  /// (and ∂R/∂a) written to the file as it is done, the parameter gradient
  /// and the objective summed over the pieces. Memory holds one piece.
  @discardableResult
  func trajectoryInPieces<T: KernelScalar & HDF5Numeric>(_: T.Type, _ l: Loaded, _ b: TrajectoryBatch<Double>) throws
    -> GradientsRecord
  {
    let net = try l.checkpoint.trajectoryNetwork(T.self)
    let n = net.shape.units
    let piece = max(1, Self.pieceValues / ((b.steps + 1) * n))
    let mode: BPTTMode = l.plan.bptt == .checkpointed(every: nil) ? .full : l.plan.bptt
    let given = try cotangent.map { try openCotangent($0, for: l) }
    return try GradientsFile.write(to: out, statesShape: [b.count, b.steps + 1, n], adjointShape: [b.count, b.steps, n],
                                   withDrive: given != nil) { rows in
      var total = [Double](repeating: 0, count: l.checkpoint.parameters.values.count)
      var value = 0.0
      for first in stride(from: 0, to: b.count, by: piece) {
        let indices = Array(first..<min(first + piece, b.count))
        let part = try b.subset(indices).converted(to: T.self)
        let objective = try given.map {
          try CotangentObjective(try $0.read(first, indices.count).map { T($0) }, count: indices.count, steps: b.steps,
                                 units: n, mean: false)
        }
        let g = try net.gradient(batch: part, mode: mode, objective: objective)
        // The loss is a mean over the piece: weigh it by the piece's size.
        let weight = given == nil ? Double(indices.count) : 1
        for (i, v) in g.gradient.values.enumerated() { total[i] += weight * Double(v) }
        value += weight * g.loss
        let r = try GradientsRecord(g, count: indices.count, steps: b.steps, units: n)
        let driveScale = mean ? 1 / Double(b.count) : 1
        try rows(first, r.states, r.adjoint, given == nil ? nil : r.adjoint.map { $0 * driveScale })
      }
      let scale = given == nil || mean ? 1 / Double(b.count) : 1
      var gradient = Parameters<Double>(layout: l.checkpoint.parameters.layout)
      gradient.values = total.map { $0 * scale }
      var record = GradientsRecord(loss: value * scale, gradient: gradient, model: .trajectory, states: [], statesShape: [],
                                   adjoint: [], adjointShape: [])
      record.objective = given == nil ? l.checkpoint.loss.rawValue : "cotangent"
      return record
    }
  }

  /// The rows of /dstates in `path`, checked against the dataset's patterns,
  /// steps and the network's units.
  func openCotangent(_ path: String, for l: Loaded) throws -> (shape: [Int], read: (Int, Int) throws -> [Double]) {
    let c = try CotangentFile.rows(path)
    let n = l.checkpoint.shape.units
    let expected: [Int]
    switch l.data {
    case .steady(let b): expected = [b.count, n]
    case .trajectory(let b): expected = [b.count, b.steps, n]
    }
    guard c.shape == expected else {
      let what = expected.count == 2 ? "(P, N)" : "(P, T, N)"
      throw CLIFailure(message: "\(path): /dstates is \(c.shape), expected \(expected) = \(what) for this "
                       + "\(l.checkpoint.model.rawValue) checkpoint and dataset")
    }
    return c
  }

  /// All of /dstates in `path`, checked as `openCotangent` does.
  func readCotangent(_ path: String, for l: Loaded) throws -> [Double] {
    let c = try openCotangent(path, for: l)
    return try c.read(0, c.shape[0])
  }

  func objective<T: KernelScalar>(_: T.Type, _ c: [Double], _ l: Loaded) throws -> CotangentObjective<T> {
    switch l.data {
    case .steady(let b):
      return try CotangentObjective(c.map { T($0) }, count: b.count, units: l.checkpoint.shape.units, mean: mean)
    case .trajectory(let b):
      return try CotangentObjective(c.map { T($0) }, count: b.count, steps: b.steps, units: l.checkpoint.shape.units,
                                    mean: mean)
    }
  }

  func exact<T: KernelScalar & HDF5Numeric>(_: T.Type, _ l: Loaded, cotangent c: [Double]?) throws -> GradientsRecord {
    let objective = try c.map { try self.objective(T.self, $0, l) }
    var record: GradientsRecord
    switch l.data {
    case .steady(let b):
      let net = try l.checkpoint.steadyNetwork(T.self)
      let batch = try b.converted(to: T.self)
      // A gradient of the objective alone: no stabiliser.
      var settings = l.plan.steady
      settings.stabilizer = nil
      record = GradientsRecord(try net.gradient(batch: batch, settings: settings, objective: objective,
                                                allowingUnsettled: true))
      let n = net.shape.units
      record.solverAttributes = ["solver": (l.plan.config.solver ?? .auto).rawValue,
                                 "adjoint_solver": (l.plan.config.adjoint ?? .auto).rawValue]
      record.toleranceAttributes = ["forward_tolerance": settings.forwardOptions(for: T.self, units: n).tolerance,
                                    "adjoint_tolerance": settings.adjointOptions(for: T.self, units: n).tolerance]
    case .trajectory(let b):
      let net = try l.checkpoint.trajectoryNetwork(T.self)
      let batch = try b.converted(to: T.self)
      let mode: BPTTMode = l.plan.bptt == .checkpointed(every: nil) ? .full : l.plan.bptt
      record = try GradientsRecord(try net.gradient(batch: batch, mode: mode, objective: objective), count: b.count,
                                   steps: b.steps, units: net.shape.units)
    }
    record.objective = c == nil ? l.checkpoint.loss.rawValue : "cotangent"
    if c != nil {
      // ∂R/∂a_p = s_p, divided by P when R is the mean.
      let scale = mean ? 1 / Double(record.settled.map { $0.filter { $0 }.count } ?? l.data.count) : 1
      record.drive = record.adjoint.map { $0 * scale }
    }
    return record
  }

  /// Central differences of J (or of ⟨c, x⟩ for a cotangent) over every
  /// parameter, in f64.
  func finiteDifferences(_ l: Loaded, cotangent: CotangentObjective<Double>?) throws -> Parameters<Double> {
    var g = Parameters<Double>(layout: l.checkpoint.parameters.layout)
    let layout = g.layout, n = layout.shape.units
    for i in g.values.indices {
      var plus = l.checkpoint.parameters, minus = plus
      plus.values[i] += step
      minus.values[i] -= step
      // A symmetric network's weights are tied in pairs, and its diagonal is 0.
      if l.checkpoint.symmetric && layout.w.contains(i) {
        let (r, c) = (i - layout.w.lowerBound).quotientAndRemainder(dividingBy: n)
        if r == c { continue }
        let mirror = layout.w.lowerBound + c * n + r
        plus.values[mirror] += step
        minus.values[mirror] -= step
      }
      g.values[i] = (try value(plus, l, cotangent) - value(minus, l, cotangent)) / (2 * step)
    }
    return g
  }

  func value(_ p: Parameters<Double>, _ l: Loaded, _ cotangent: CotangentObjective<Double>?) throws -> Double {
    switch l.data {
    case .steady(let b):
      var net = try SteadyNetwork(parameters: p, activation: l.checkpoint.activation, loss: l.checkpoint.loss)
      net.symmetric = l.checkpoint.symmetric
      return try net.evaluate(batch: b, settings: l.plan.steady, objective: cotangent).loss
    case .trajectory(let b):
      return try TrajectoryNetwork(parameters: p, activation: l.checkpoint.activation, loss: l.checkpoint.loss,
                                   leak: l.checkpoint.leak).run(b, objective: cotangent).loss
    }
  }
}

/// The forward pass alone: the states a cotangent ∂R/∂x is computed from.
struct States: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write the network's states for a dataset (fixed points, or trajectories with x(0)) and its loss.",
    discussion: SolverFlags.help)
  @Option(help: "The checkpoint.") var checkpoint: String
  @Option(help: "The dataset.") var data: String
  @Option(help: "Output states file: /states (P, N) steady, (P, T+1, N) trajectory.") var out: String
  @Option(help: "f64 (default) or f32.") var precision = "f64"
  @Flag(help: "Print one JSON object: the file written and its summary.") var json = false
  @OptionGroup var solver: SolverFlags

  func run() throws {
    try reporting {
      guard ["f32", "f64"].contains(precision) else { throw CLIFailure(message: "--precision: '\(precision)' is not f32 or f64") }
      try refuseOverwritingInputs(outputs: [("--out", out)], inputs: [("--checkpoint", checkpoint), ("--data", data)])
      let l = try Loaded(checkpoint: checkpoint, data: data, solver: solver)
      let r = precision == "f64" ? try forward(Double.self, l) : try forward(Float.self, l)
      try StatesFile.write(states: r.states, shape: r.shape, model: l.checkpoint.model, loss: r.loss,
                           settled: r.settled, to: out)
      if let settled = r.settled, settled.contains(false) {
        let unsettled = settled.indices.filter { !settled[$0] }
        warn("\(unsettled.count) of \(settled.count) patterns did not settle (rows NaN, /settled = 0): "
             + unsettled.prefix(10).map(String.init).joined(separator: ", ") + (unsettled.count > 10 ? ", …" : ""))
      }
      if json {
        writeLine(jsonLine(["file": out, "shape": r.shape, "loss": r.loss, "precision": precision,
                            "unsettled": r.settled.map { $0.filter { !$0 }.count }]))
      }
    }
  }

  func forward<T: KernelScalar>(_: T.Type, _ l: Loaded) throws
    -> (states: [Double], shape: [Int], loss: Double, settled: [Bool]?)
  {
    switch l.data {
    case .steady(let b):
      let net = try l.checkpoint.steadyNetwork(T.self)
      let batch = try b.converted(to: T.self)
      let r = try net.evaluate(batch: batch, settings: l.plan.steady, allowingUnsettled: true)
      return (r.states.elements.map(Double.init), [b.count, net.shape.units], r.loss,
              r.diagnostics.status.map { $0 == .converged })
    case .trajectory(let b):
      let net = try l.checkpoint.trajectoryNetwork(T.self)
      let batch = try b.converted(to: T.self)
      let r = try net.run(batch)
      let n = net.shape.units
      return (sequenceMajor(r.states.map(Double.init), blocks: b.steps + 1, count: b.count, width: n),
              [b.count, b.steps + 1, n], r.loss, nil)
    }
  }
}

struct Invert: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "The drives that make given states steady (or trajectories the network's own), and their Jacobian.")
  @Option(help: "The checkpoint.") var checkpoint: String
  @Option(help: "Any HDF5 file with /states: (P, N) steady or (P, T+1, N) trajectory.") var states: String
  @Option(help: "Output inverse file.") var out: String
  @Flag(help: "Also write /inverse_slopes = diag D⁻¹ (shaped as /drive): with W, all of ∂a/∂x = D⁻¹ − W.")
  var jacobian = false
  @Flag(help: "Also write, per pattern, /jacobian = ∂a/∂x and /sensitivity = ∂x/∂a = (D⁻¹ − W)⁻¹ (N×N steady, TN×TN trajectory; small networks).")
  var dense = false
  @Flag(help: "Print one JSON object: the file written and its summary.") var json = false

  /// Largest side M of the dense matrices, and most values in all of them.
  static let denseSide = 1024, denseValues = 1 << 25

  func run() throws {
    try reporting {
      try refuseOverwritingInputs(outputs: [("--out", out)], inputs: [("--checkpoint", checkpoint), ("--states", states)])
      let ck = try readCheckpoint(checkpoint)
      let s = try InverseFile.readStates(states)
      let n = ck.shape.units
      guard s.shape.last == n else {
        throw CLIFailure(message: "\(states): /states has \(s.shape.last ?? 0) units, the checkpoint has \(n)")
      }
      let count = s.shape[0]
      switch ck.model {
      case .steady:
        guard s.shape.count == 2 else { throw CLIFailure(message: "\(states): /states must be (P, N) for a steady model, got \(s.shape)") }
        try checkDenseSize(count: count, side: n)
        let net = try ck.steadyNetwork(Double.self)
        let x = Matrix(rows: count, cols: n, elements: s.values)
        let a = try net.drive(forStates: x)
        let k = jacobian || dense ? try net.inverseSlopes(forStates: x).elements : nil
        var matrices: (jacobian: [Double], sensitivity: [Double], size: Int)? = nil
        if dense {
          var j: [Double] = [], inverse: [Double] = []
          for p in 0..<count {
            let jp = try net.driveJacobian(atState: x.row(p))
            j += jp.elements
            inverse += try invertedOrNamed(jp.elements, side: n, pattern: p)
          }
          matrices = (j, inverse, n)
        }
        try InverseFile.write(drive: a.elements, shape: [count, n], model: .steady, inverseSlopes: k, dense: matrices, to: out)
        if json { writeLine(jsonLine(["file": out, "shape": [count, n], "jacobian": jacobian || dense, "dense": dense])) }
      case .trajectory:
        guard s.shape.count == 3, s.shape[1] >= 2 else {
          throw CLIFailure(message: "\(states): /states must be (P, T+1, N) with T >= 1 for a trajectory model, got \(s.shape)")
        }
        let steps = s.shape[1] - 1
        try checkDenseSize(count: count, side: steps * n)
        let net = try ck.trajectoryNetwork(Double.self)
        let a = try net.drives(forTrajectories: s.values, count: count)
        let k = jacobian || dense ? try net.inverseSlopes(forTrajectories: s.values, count: count) : nil
        var matrices: (jacobian: [Double], sensitivity: [Double], size: Int)? = nil
        if dense, let k {
          var j: [Double] = [], inverse: [Double] = []
          for p in 0..<count {
            let jp = net.driveJacobian(inverseSlopes: k[(p * steps * n)..<((p + 1) * steps * n)], steps: steps)
            j += jp
            inverse += try invertedOrNamed(jp, side: steps * n, pattern: p)
          }
          matrices = (j, inverse, steps * n)
        }
        try InverseFile.write(drive: a, shape: [count, steps, n], model: .trajectory, inverseSlopes: k,
                              dense: matrices, to: out)
        if json {
          writeLine(jsonLine(["file": out, "shape": [count, steps, n], "jacobian": jacobian || dense, "dense": dense]))
        }
      }
    }
  }

  func checkDenseSize(count: Int, side: Int) throws {
    guard dense else { return }
    guard side <= Self.denseSide, count.multipliedReportingOverflow(by: side * side).partialValue <= Self.denseValues,
          count <= Self.denseValues else {
      throw CLIFailure(message: "--dense: \(count) matrices of \(side)×\(side) are too many to write (at most side "
                       + "\(Self.denseSide) and \(Self.denseValues) values in all); use --jacobian, which keeps only the diagonal")
    }
  }

  func invertedOrNamed(_ j: [Double], side: Int, pattern: Int) throws -> [Double] {
    do { return try invertSquare(j, n: side) } catch {
      throw CLIFailure(message: "\(states): ∂a/∂x of pattern \(pattern) is singular, it has no sensitivity ∂x/∂a")
    }
  }
}

struct FixedPoints: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fixed-points", abstract: "Find the distinct steady states of each pattern and their stability.",
    discussion: SolverFlags.help)
  @Option(help: "The checkpoint (steady model).") var checkpoint: String
  @Option(help: "The dataset whose inputs define the patterns.") var data: String
  @Option(help: "Random starting states per pattern.") var starts = 20
  @Option(help: "Output file.") var out: String
  @Option(help: "Seed of the random starts.") var seed: UInt64 = 0
  @Option(help: "States closer than this (∞-norm) are one.") var distinct = 1e-4
  @Flag(help: "Print one JSON object (the file and its counts) instead of the summary line.") var json = false
  @Flag(help: "Print one line per pattern (its fixed points, how many stable) before the summary.") var verbose = false
  @OptionGroup var solver: SolverFlags

  /// Starts per pattern at most: each is a full solve, and the points found
  /// are held until the file is written.
  static let maxStarts = 100_000

  func run() throws {
    try reporting {
      guard (1...Self.maxStarts).contains(starts) else {
        throw CLIFailure(message: "--starts must be between 1 and \(Self.maxStarts), got \(starts)")
      }
      guard distinct > 0 && distinct.isFinite else {
        throw CLIFailure(message: "--distinct must be a positive finite distance, got \(distinct)")
      }
      try refuseOverwritingInputs(outputs: [("--out", out)], inputs: [("--checkpoint", checkpoint), ("--data", data)])
      let l = try Loaded(checkpoint: checkpoint, data: data, solver: solver)
      guard case let .steady(batch) = l.data else { throw CLIFailure(message: "\(checkpoint): fixed points need a steady model") }
      let net = try l.checkpoint.steadyNetwork(Double.self)
      var rng = SeededGenerator(seed: seed)
      // The network's own state of each pattern: relaxation from its initial
      // state (SPEC §1.1), one by one so that a pattern without one is reported.
      let workspace = GEMMWorkspace<Double>()
      let drives = net.drives(batch.inputs, workspace: workspace)
      let norm = net.spectralNorm()   // ‖W‖₂ once, for every pattern's solve
      var states: [Double] = [], pattern: [Double] = [], radius: [Double] = [], abscissa: [Double] = []
      var stable: [Double] = []
      var residual: [Double] = [], hits: [Double] = [], reached: [Double] = []
      var failedSolves = 0, unsettled: [Int] = []
      for p in 0..<batch.count {
        var found = try net.findFixedPoints(input: batch.inputs.row(p), starts: starts, distinct: distinct, using: &rng)
        let start = batch.initial?.rows([p]) ?? Matrix(rows: 1, cols: net.shape.units)
        var own: [Double]? = nil
        var note = ""
        do {
          let settled = try net.settle(drives: drives.rows([p]), from: start, method: l.plan.steady.forward,
                                       options: l.plan.steady.forwardOptions(for: Double.self, units: net.shape.units),
                                       norm: norm, workspace: workspace)
          let state = settled.states.row(0)
          if !found.points.contains(where: { maxDistance($0.state, state) < distinct }) {
            let d = settled.slopes.row(0)
            found.points.append(FixedPoint(state: state, residual: settled.diagnostics.residuals[0],
                                           spectralRadius: net.spectralRadius(slopes: d, using: &rng),
                                           abscissa: net.abscissa(slopes: d, using: &rng), hits: 0))
          }
          own = state
        } catch let error as RBPError {
          note = "; unsettled: relaxation from the initial state reaches no attractor (\(error))"
        }
        for point in found.points {
          states += point.state
          pattern.append(Double(p))
          radius.append(point.spectralRadius)
          abscissa.append(point.abscissa)
          stable.append(point.stable ? 1 : 0)
          residual.append(point.residual)
          hits.append(Double(point.hits))
          reached.append(own.map { maxDistance(point.state, $0) < distinct } == true ? 1 : 0)
        }
        if verbose && !json {
          print("pattern \(p): \(found.points.count) fixed points (\(found.points.filter(\.stable).count) stable)"
                + (found.failedSolves > 0 ? ", \(found.failedSolves) solves did not converge" : "") + note)
        }
        failedSolves += found.failedSolves
        if own == nil { unsettled.append(p) }
      }
      let n = net.shape.units, k = pattern.count
      try writeHDF5Atomically(to: out) { f in
        try f.setAttribute("format", string: "rbp-fixed-points")
        try f.setAttribute("version", int: 1)
        try f.setAttribute("starts", int: starts)
        try f.write("states", states, shape: [k, n])
        // Counts and indices as integers, flags as int8.
        try f.write("pattern", pattern.map { Int64($0) }, shape: [k])
        try f.write("spectral_radius", radius, shape: [k])
        try f.write("abscissa", abscissa, shape: [k])
        try f.write("stable", stable.map { Int8($0) }, shape: [k])
        try f.write("residual", residual, shape: [k])
        try f.write("hits", hits.map { Int64($0) }, shape: [k])
        try f.write("reached", reached.map { Int8($0) }, shape: [k])
      }
      let stableCount = Int(stable.reduce(0, +))
      let perPattern = (0..<batch.count).map { p in pattern.filter { Int($0) == p }.count }
      if json {
        writeLine(jsonLine(["file": out, "patterns": batch.count, "fixed_points": k, "stable": stableCount,
                            "per_pattern_min": perPattern.min() ?? 0, "per_pattern_max": perPattern.max() ?? 0,
                            "failed_solves": failedSolves, "unsettled_patterns": unsettled]))
      } else {
        print("\(batch.count) patterns: \(k) fixed points (\(perPattern.min() ?? 0)–\(perPattern.max() ?? 0) per pattern), "
              + "\(stableCount) stable" + (failedSolves > 0 ? "; \(failedSolves) of the solves did not converge" : "")
              + (unsettled.isEmpty ? "" : "; \(unsettled.count) patterns reach no attractor from their initial state")
              + "; \(out) (hits: how many of the \(starts) random starts reached each point)")
      }
    }
  }
}
