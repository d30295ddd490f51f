// The commands that use a trained network without training it:
//   rbp eval          metrics of a checkpoint on a dataset
//   rbp grad          the gradients file of SPEC §2 (rbp, bptt or central finite differences)
//   rbp invert        the drives that make given states steady (or trajectories the network's own)
//   rbp fixed-points  the distinct steady states of each pattern and their stability

import ArgumentParser
import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTrain

/// A checkpoint, its dataset and the solver settings of its run.
struct Loaded {
  var checkpoint: Checkpoint
  var data: DatasetContents<Double>
  var plan: TrainingPlan

  /// - Parameter solver: solver flags given on the command line, which
  ///   override the checkpoint's stored solver settings.
  init(checkpoint path: String, data dataPath: String, testSet: Bool = false, solver: SolverFlags? = nil) throws {
    checkpoint = try CheckpointFile.read(path)
    data = try DatasetFile.read(dataPath, as: Double.self, testSet: testSet)
    let summary = try DatasetSummary.read(dataPath)
    var config = RunConfig()
    if let saved = checkpoint.config { config = try RunConfig.parse(json: Data(saved.utf8), source: path + " (config)") }
    // The analysis commands use the solvers at their defaults for the
    // precision they run in, unless the run or the flags chose otherwise.
    solver?.apply(to: &config)
    try config.checkFinite(source: "flags")
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
    guard plan.shape.inputs == checkpoint.shape.inputs, plan.shape.outputs == checkpoint.shape.outputs else {
      throw CLIFailure(message: "\(dataPath): \(plan.shape.inputs) inputs and \(plan.shape.outputs) outputs, the checkpoint has "
                       + "\(checkpoint.shape.inputs) and \(checkpoint.shape.outputs)")
    }
  }
}

struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Evaluate a checkpoint on a dataset.")
  @Option(help: "The checkpoint.") var checkpoint: String
  @Option(help: "The dataset.") var data: String
  @Flag(help: "Use the dataset's /test set.") var test = false
  @Flag(help: "One JSON line.") var json = false
  @Option(help: "f32 or f64 (default: the precision the checkpoint was trained in, so the metrics are those training reported).")
  var precision: String?
  @OptionGroup var solver: SolverFlags

  func run() throws {
    try reporting {
      if let precision, !["f32", "f64"].contains(precision) {
        throw CLIFailure(message: "--precision: '\(precision)' is not f32 or f64")
      }
      let l = try Loaded(checkpoint: checkpoint, data: data, testSet: test, solver: solver)
      let task = try DatasetSummary.read(data).task
      // A checkpoint written by another tool (no run configuration) is evaluated in f64.
      let double = precision.map { $0 == "f64" } ?? (l.checkpoint.config == nil || l.plan.doublePrecision)
      func metrics<T: KernelScalar>(_ data: DatasetContents<T>) throws -> (loss: Double, accuracy: Double?, solved: Bool?) {
        let r = try evaluate(data, parameters: l.checkpoint.parameters.converted(to: T.self), plan: l.plan, task: task)
        return (r.loss, r.accuracy, r.solved)
      }
      let e = double ? try metrics(l.data) : try metrics(DatasetFile.read(data, as: Float.self, testSet: test))
      if json {
        var object: [String: Any?] = ["loss": e.loss, "patterns": l.data.count]
        if let accuracy = e.accuracy { object["accuracy"] = accuracy }
        if let solved = e.solved { object["solved"] = solved }
        writeLine(jsonLine(object))
      } else {
        print("loss \(format6(e.loss))" + (e.accuracy.map { "  accuracy \(format6($0))" } ?? "")
              + "  patterns \(l.data.count)" + (e.solved.map { $0 ? "  solved" : "  not solved" } ?? ""))
      }
    }
  }
}

struct Grad: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Write ∂J/∂θ, the states and the adjoints of a dataset.")
  @Option(help: "The checkpoint.") var checkpoint: String
  @Option(help: "The dataset.") var data: String
  @Option(help: "Output gradients file.") var out: String
  @Option(help: "rbp (steady), bptt (trajectory) or fd (central finite differences).") var method: String?
  @Option(help: "f64 (default) or f32.") var precision = "f64"
  @Option(help: "Finite-difference step.") var step = 1e-6
  @OptionGroup var solver: SolverFlags

  func run() throws {
    try reporting {
      guard ["f32", "f64"].contains(precision) else { throw CLIFailure(message: "--precision: '\(precision)' is not f32 or f64") }
      try refuseOverwritingInputs(outputs: [("--out", out)], inputs: [("--checkpoint", checkpoint), ("--data", data)])
      let l = try Loaded(checkpoint: checkpoint, data: data, solver: solver)
      let method = self.method ?? (l.checkpoint.model == .steady ? "rbp" : "bptt")
      let valid = l.checkpoint.model == .steady ? ["rbp", "fd"] : ["bptt", "fd"]
      guard valid.contains(method) else {
        throw CLIFailure(message: "--method: '\(method)' does not apply to a \(l.checkpoint.model.rawValue) model; use \(valid.joined(separator: " or "))")
      }
      guard step > 0 else { throw CLIFailure(message: "--step must be positive, got \(step)") }
      var record = precision == "f64" ? try exact(Double.self, l) : try exact(Float.self, l)
      if method == "fd" { record.gradient = try finiteDifferences(l) }
      try GradientsFile.write(record, to: out)
    }
  }

  func exact<T: KernelScalar & HDF5Numeric>(_: T.Type, _ l: Loaded) throws -> GradientsRecord {
    switch l.data {
    case .steady(let b):
      let net = try l.checkpoint.steadyNetwork(T.self)
      let batch = try SteadyBatch(inputs: b.inputs.converted(to: T.self), targets: b.targets.converted(to: T.self),
                                  mask: b.mask?.converted(to: T.self), initial: b.initial?.converted(to: T.self))
      // A gradient of the loss alone: no stabiliser.
      var settings = l.plan.steady
      settings.stabilizer = nil
      var record = GradientsRecord(try net.gradient(batch: batch, settings: settings))
      let n = net.shape.units
      record.solverAttributes = ["solver": l.plan.config.solver ?? "auto", "adjoint_solver": l.plan.config.adjoint ?? "auto"]
      record.toleranceAttributes = ["forward_tolerance": settings.forwardOptions(for: T.self, units: n).tolerance,
                                    "adjoint_tolerance": settings.adjointOptions(for: T.self, units: n).tolerance]
      return record
    case .trajectory(let b):
      let net = try l.checkpoint.trajectoryNetwork(T.self)
      let batch = try TrajectoryBatch(count: b.count, steps: b.steps, inputs: b.inputs.map { T($0) }, inputWidth: b.inputWidth,
                                      targets: b.targets.map { T($0) }, outputWidth: b.outputWidth,
                                      mask: b.mask?.map { T($0) }, initial: b.initial?.converted(to: T.self))
      let mode: BPTTMode = l.plan.bptt == .checkpointed(every: nil) ? .full : l.plan.bptt
      return try GradientsRecord(try net.gradient(batch: batch, mode: mode), count: b.count, steps: b.steps,
                                 units: net.shape.units)
    }
  }

  /// Central differences of J over every parameter, in f64.
  func finiteDifferences(_ l: Loaded) throws -> Parameters<Double> {
    var g = Parameters<Double>(layout: l.checkpoint.parameters.layout)
    for i in g.values.indices {
      var plus = l.checkpoint.parameters, minus = plus
      plus.values[i] += step
      minus.values[i] -= step
      g.values[i] = (try objective(plus, l) - objective(minus, l)) / (2 * step)
    }
    return g
  }

  func objective(_ p: Parameters<Double>, _ l: Loaded) throws -> Double {
    switch l.data {
    case .steady(let b):
      return try SteadyNetwork(parameters: p, activation: l.checkpoint.activation, loss: l.checkpoint.loss)
        .evaluate(batch: b, settings: l.plan.steady).loss
    case .trajectory(let b):
      return try TrajectoryNetwork(parameters: p, activation: l.checkpoint.activation, loss: l.checkpoint.loss,
                                   leak: l.checkpoint.leak).run(b).loss
    }
  }
}

struct Invert: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "The drives that make given states steady (or trajectories the network's own).")
  @Option(help: "The checkpoint.") var checkpoint: String
  @Option(help: "Any HDF5 file with /states: (P, N) steady or (P, T+1, N) trajectory.") var states: String
  @Option(help: "Output inverse file.") var out: String

  func run() throws {
    try reporting {
      try refuseOverwritingInputs(outputs: [("--out", out)], inputs: [("--checkpoint", checkpoint), ("--states", states)])
      let ck = try CheckpointFile.read(checkpoint)
      let s = try InverseFile.readStates(states)
      let n = ck.shape.units
      guard s.shape.last == n else {
        throw CLIFailure(message: "\(states): /states has \(s.shape.last ?? 0) units, the checkpoint has \(n)")
      }
      switch ck.model {
      case .steady:
        guard s.shape.count == 2 else { throw CLIFailure(message: "\(states): /states must be (P, N) for a steady model, got \(s.shape)") }
        let a = try ck.steadyNetwork(Double.self).drive(forStates: Matrix(rows: s.shape[0], cols: n, elements: s.values))
        try InverseFile.write(drive: a.elements, shape: [s.shape[0], n], model: .steady, to: out)
      case .trajectory:
        guard s.shape.count == 3, s.shape[1] >= 2 else {
          throw CLIFailure(message: "\(states): /states must be (P, T+1, N) with T >= 1 for a trajectory model, got \(s.shape)")
        }
        let a = try ck.trajectoryNetwork(Double.self).drives(forTrajectories: s.values, count: s.shape[0])
        try InverseFile.write(drive: a, shape: [s.shape[0], s.shape[1] - 1, n], model: .trajectory, to: out)
      }
    }
  }
}

struct FixedPoints: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fixed-points", abstract: "Find the distinct steady states of each pattern and their stability.")
  @Option(help: "The checkpoint (steady model).") var checkpoint: String
  @Option(help: "The dataset whose inputs define the patterns.") var data: String
  @Option(help: "Random starting states per pattern.") var starts = 20
  @Option(help: "Output file.") var out: String
  @Option(help: "Seed of the random starts.") var seed: UInt64 = 0
  @Option(help: "States closer than this (∞-norm) are one.") var distinct = 1e-4
  @OptionGroup var solver: SolverFlags

  func run() throws {
    try reporting {
      guard starts >= 1 else { throw CLIFailure(message: "--starts must be at least 1, got \(starts)") }
      try refuseOverwritingInputs(outputs: [("--out", out)], inputs: [("--checkpoint", checkpoint), ("--data", data)])
      let l = try Loaded(checkpoint: checkpoint, data: data, solver: solver)
      guard case let .steady(batch) = l.data else { throw CLIFailure(message: "\(checkpoint): fixed points need a steady model") }
      let net = try l.checkpoint.steadyNetwork(Double.self)
      var rng = SeededGenerator(seed: seed)
      // The network's own state of each pattern: relaxation from its initial
      // state (SPEC §1.1), one by one so that a pattern without one is reported.
      let workspace = GEMMWorkspace<Double>()
      let drives = net.drives(batch.inputs, workspace: workspace)
      var states: [Double] = [], pattern: [Double] = [], radius: [Double] = [], stable: [Double] = []
      var residual: [Double] = [], hits: [Double] = [], reached: [Double] = []
      for p in 0..<batch.count {
        var found = try net.findFixedPoints(input: batch.inputs.row(p), starts: starts, distinct: distinct, using: &rng)
        let start = batch.initial?.rows([p]) ?? Matrix(rows: 1, cols: net.shape.units)
        var own: [Double]? = nil
        var note = ""
        do {
          let settled = try net.settle(drives: drives.rows([p]), from: start, method: l.plan.steady.forward,
                                       options: l.plan.steady.forwardOptions(for: Double.self, units: net.shape.units),
                                       workspace: workspace)
          let state = settled.states.row(0)
          if !found.points.contains(where: { maxDistance($0.state, state) < distinct }) {
            found.points.append(FixedPoint(state: state, residual: settled.diagnostics.residuals[0],
                                           spectralRadius: net.spectralRadius(slopes: settled.slopes.row(0), using: &rng), hits: 0))
          }
          own = state
        } catch let error as RBPError {
          note = "; relaxation from the initial state reaches no stable state (\(error))"
        }
        for point in found.points {
          states += point.state
          pattern.append(Double(p))
          radius.append(point.spectralRadius)
          stable.append(point.stable ? 1 : 0)
          residual.append(point.residual)
          hits.append(Double(point.hits))
          reached.append(own.map { maxDistance(point.state, $0) < distinct } == true ? 1 : 0)
        }
        print("pattern \(p): \(found.points.count) fixed points (\(found.points.filter(\.stable).count) stable)"
              + (found.failedSolves > 0 ? ", \(found.failedSolves) solves did not converge" : "") + note)
      }
      let n = net.shape.units, k = pattern.count
      try writeHDF5Atomically(to: out) { f in
        try f.setAttribute("format", string: "rbp-fixed-points")
        try f.setAttribute("version", int: 1)
        try f.setAttribute("starts", int: starts)
        try f.write("states", states, shape: [k, n])
        try f.write("pattern", pattern, shape: [k])
        try f.write("spectral_radius", radius, shape: [k])
        try f.write("stable", stable, shape: [k])
        try f.write("residual", residual, shape: [k])
        try f.write("hits", hits, shape: [k])
        try f.write("reached", reached, shape: [k])
      }
    }
  }
}
