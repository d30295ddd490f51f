// The commands that use a trained network without training it:
//   rbp eval          metrics of a checkpoint on a dataset
//   rbp grad          the gradients file of SPEC §2 (rbp, bptt or central finite differences),
//                     for the network's loss or for a given cotangent ∂R/∂x
//   rbp states        the forward pass alone: the states a cotangent is computed from
//   rbp invert        the drives that make given states steady (or trajectories the network's own)
//   rbp fixed-points  the distinct steady states of each pattern and their stability

import ArgumentParser
import Foundation
import RBPAnalysis
import RBPCore
import RBPKernels
import RBPStore
import RBPTrain

/// A checkpoint, its dataset and the solver settings of its run.
struct Loaded {
  var checkpoint: Checkpoint
  var data: DatasetContents<Double>
  var analysis: Analysis
  /// The run's plan (its metric may be changed by `rbp eval --metric`).
  var plan: TrainingPlan

  /// - Parameter solver: solver flags given on the command line, which
  ///   override the checkpoint's stored solver settings.
  init(checkpoint path: String, data dataPath: String, part: DatasetPart = .train, solver: SolverFlags? = nil) throws {
    checkpoint = try readCheckpoint(path)
    if part != .train, try !HDF5File.open(dataPath).exists(part.rawValue) {
      throw CLIFailure(
        message: "\(dataPath) has no \(part == .val ? "validation" : "test") set (/\(part.rawValue)); "
          + "evaluate its training set without --\(part.rawValue)")
    }
    data = try DatasetFile.read(dataPath, as: Double.self, part: part)
    guard checkpoint.model == data.kind else {
      throw CLIFailure(
        message: "\(dataPath): a \(data.kind.rawValue) dataset for the \(checkpoint.model.rawValue) checkpoint \(path)")
    }
    // The analysis commands use the solvers at their defaults for the
    // precision they run in, unless the run or the flags chose otherwise.
    analysis = try Analysis(
      checkpoint: checkpoint, source: path, solver: try solver?.overrides() ?? RunConfig(),
      data: try DatasetSummary.read(dataPath))
    plan = analysis.plan
    try analysis.check(data, source: dataPath + (part == .train ? "" : " (/\(part.rawValue))"))
  }

}

struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval",
    abstract: "Evaluate a checkpoint on a dataset.",
    discussion: SolverFlags.help)
  @Option(help: "The checkpoint.") var checkpoint: String
  @Option(help: "The dataset.") var data: String
  @Flag(help: "Use the dataset's /test set.") var test = false
  @Flag(help: "Use the dataset's /val set (what training validated on, when it has one).") var val = false
  @Flag(help: "One JSON line.") var json = false
  @Option(
    help:
      "f32 or f64 (default: the precision the checkpoint was trained in, so the metrics are those training reported).")
  var precision: String?
  @Option(
    help:
      "Accuracy and solved: sign, threshold, argmax or none (default: the run's metric, else the classic task's rule, else none)."
  )
  var metric: String?
  @OptionGroup var solver: SolverFlags

  func run() throws {
    try reporting {
      let chosen = try precision.map { try Precision.parse($0) }
      guard !(test && val) else { throw CLIFailure(message: "--test and --val: choose one") }
      let part: DatasetPart = test ? .test : val ? .val : .train
      var l = try Loaded(checkpoint: checkpoint, data: data, part: part, solver: solver)
      if let metric {
        guard let m = MetricName(rawValue: metric) else {
          throw CLIFailure(
            message:
              "--metric: '\(metric)' is not one of \(MetricName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        l.plan.metric = m
      }
      let task = try DatasetSummary.read(data).task
      // A checkpoint written by another tool (no run configuration) is evaluated in f64.
      let double = chosen.map { $0 == .f64 } ?? (l.checkpoint.config == nil || l.plan.precision == .f64)
      func metrics<T: KernelScalar>(
        _ data: DatasetContents<T>
      ) throws
        -> (loss: Double, accuracy: Double?, solved: Bool?, unsettled: Int)
      {
        let r = try evaluate(data, parameters: l.checkpoint.parameters.converted(to: T.self), plan: l.plan, task: task)
        return (r.loss, r.accuracy, r.solved, r.unsettled)
      }
      let e = double ? try metrics(l.data) : try metrics(DatasetFile.read(data, as: Float.self, part: part))
      if json {
        var object: [String: Any?] = [
          "loss": e.loss.isFinite ? e.loss : nil, "patterns": l.data.count,
          "accuracy": e.accuracy, "solved": e.solved,
        ]
        if l.checkpoint.model == .steady { object["unsettled"] = e.unsettled }
        writeLine(jsonLine(object))
      } else {
        print(
          "loss \(format6(e.loss))" + (e.accuracy.map { "  accuracy \(format6($0))" } ?? "")
            + "  patterns \(l.data.count)" + (e.solved.map { $0 ? "  solved" : "  not solved" } ?? "")
            + (e.unsettled > 0 ? "  unsettled \(e.unsettled) (left out of the loss, wrong for the accuracy)" : ""))
      }
    }
  }
}

struct Grad: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "grad",
    abstract:
      "Write ∂J/∂θ, the states and the adjoints of a dataset; with --cotangent, ∂R/∂θ and ∂R/∂a for a given ∂R/∂x.",
    discussion: SolverFlags.help)
  @Option(help: "The checkpoint.") var checkpoint: String
  @Option(help: "The dataset.") var data: String
  @Option(help: "Output gradients file.") var out: String
  @Option(help: "rbp (steady), bptt (trajectory) or fd (central finite differences).") var method: String?
  @Option(help: "f64 (default) or f32.") var precision = "f64"
  @Option(help: "Finite-difference step.") var step = 1e-6
  @Option(
    help: ArgumentHelp(
      "A file with /dstates = ∂R/∂x: (P, N) steady, (P, T, N) trajectory for t = 1…T.",
      valueName: "C.h5"))
  var cotangent: String?
  @Flag(
    help: "With --cotangent: R is the mean over the patterns, so every gradient is divided by P (default: the sum).")
  var mean = false
  @Flag(help: "Print one JSON object: the file written and its summary.") var json = false
  @OptionGroup var solver: SolverFlags

  func run() throws {
    try reporting {
      let precision = try Precision.parse(self.precision)
      if mean && cotangent == nil { throw CLIFailure(message: "--mean applies only with --cotangent") }
      try refuseOverwritingInputs(
        outputs: [("--out", out)],
        inputs: [("--checkpoint", checkpoint), ("--data", data)] + (cotangent.map { [("--cotangent", $0)] } ?? []))
      let l = try Loaded(checkpoint: checkpoint, data: data, solver: solver)
      let method = self.method ?? (l.checkpoint.model == .steady ? "rbp" : "bptt")
      let valid = l.checkpoint.model == .steady ? ["rbp", "fd"] : ["bptt", "fd"]
      guard valid.contains(method) else {
        throw CLIFailure(
          message:
            "--method: '\(method)' does not apply to a \(l.checkpoint.model.rawValue) model; use \(valid.joined(separator: " or "))"
        )
      }
      guard step > 0 else { throw CLIFailure(message: "--step must be positive, got \(step)") }
      let given = try cotangent.map { try l.openCotangent($0) }
      if method != "fd", case .trajectory(let b) = l.data, b.count > 1,
        b.count * (b.steps + 1) * l.checkpoint.shape.units > Self.pieceValues
      {
        // Long trajectories: a piece of the sequences at a time, written as it is done.
        let rows = given?.read
        let record = try l.analysis.writeGradientInPieces(
          b, cotangent: rows, mean: mean, pieceValues: Self.pieceValues,
          to: out, in: precision)
        if json { writeLine(jsonLine(summary(record, method: method, patterns: b.count))) }
        return
      }
      let c = try given.map { try $0.read(0, $0.shape[0]) }
      var record = try l.analysis.gradient(l.data, cotangent: c, mean: mean, in: precision)
      if method == "fd" {
        record.gradient = try l.analysis.finiteDifferences(l.data, cotangent: c, mean: mean, step: step)
      }
      try GradientsFile.write(record, to: out)
      if let settled = record.settled, settled.contains(false) {
        let unsettled = settled.indices.filter { !settled[$0] }
        warn(
          "\(unsettled.count) of \(settled.count) patterns did not settle and are left out of the gradient "
            + "(rows NaN, /settled = 0): " + unsettled.prefix(10).map(String.init).joined(separator: ", ")
            + (unsettled.count > 10 ? ", …" : ""))
      }
      if json { writeLine(jsonLine(summary(record, method: method, patterns: l.data.count))) }
    }
  }

  /// What --json prints: the file, the method, the objective's value and
  /// the gradient's size.
  func summary(_ record: GradientsRecord, method: String, patterns: Int) -> [String: Any?] {
    return [
      "file": out, "method": method, "precision": precision, "objective": record.objective,
      "loss": record.loss, "gradient_norm": record.gradientNorm, "patterns": patterns,
      "unsettled": record.settled.map { $0.filter { !$0 }.count },
    ]
  }

  /// Values of x(0…T) per piece when a trajectory dataset is done a piece
  /// of the sequences at a time (about 16 MB per array in f64). The tests
  /// set a small one (`RBP_TEST_PIECE_VALUES`) to cross piece boundaries
  /// on small data.
  static let pieceValues =
    ProcessInfo.processInfo.environment["RBP_TEST_PIECE_VALUES"].flatMap { Int($0) }
    .map { max($0, 1) } ?? 1 << 21
}

extension Loaded {
  /// The rows of /dstates in `path`, checked against the dataset's patterns,
  /// steps and the network's units.
  func openCotangent(_ path: String) throws -> (shape: [Int], read: (Int, Int) throws -> [Double]) {
    let c = try CotangentFile.rows(path)
    let expected = analysis.cotangentShape(data)
    guard c.shape == expected else {
      let what = expected.count == 2 ? "(P, N)" : "(P, T, N)"
      throw CLIFailure(
        message: "\(path): /dstates is \(c.shape), expected \(expected) = \(what) for this "
          + "\(checkpoint.model.rawValue) checkpoint and dataset")
    }
    return c
  }
}

/// The forward pass alone: the states a cotangent ∂R/∂x is computed from.
struct States: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "states",
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
      let precision = try Precision.parse(self.precision)
      try refuseOverwritingInputs(outputs: [("--out", out)], inputs: [("--checkpoint", checkpoint), ("--data", data)])
      let l = try Loaded(checkpoint: checkpoint, data: data, solver: solver)
      let r = try l.analysis.states(l.data, in: precision)
      try StatesFile.write(
        states: r.states, shape: r.shape, model: l.checkpoint.model, loss: r.loss,
        settled: r.settled, to: out)
      if let settled = r.settled, settled.contains(false) {
        let unsettled = settled.indices.filter { !settled[$0] }
        warn(
          "\(unsettled.count) of \(settled.count) patterns did not settle (rows NaN, /settled = 0): "
            + unsettled.prefix(10).map(String.init).joined(separator: ", ") + (unsettled.count > 10 ? ", …" : ""))
      }
      if json {
        writeLine(
          jsonLine([
            "file": out, "shape": r.shape, "loss": r.loss, "precision": precision.rawValue,
            "unsettled": r.settled.map { $0.filter { !$0 }.count },
          ]))
      }
    }
  }
}

struct Invert: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "invert",
    abstract: "The drives that make given states steady (or trajectories the network's own), and their Jacobian.")
  @Option(help: "The checkpoint.") var checkpoint: String
  @Option(help: "Any HDF5 file with /states: (P, N) steady or (P, T+1, N) trajectory.") var states: String
  @Option(help: "Output inverse file.") var out: String
  @Flag(help: "Also write /inverse_slopes = diag D⁻¹ (shaped as /drive): with W, all of ∂a/∂x = D⁻¹ − W.")
  var jacobian = false
  @Flag(
    help:
      "Also write, per pattern, /jacobian = ∂a/∂x and /sensitivity = ∂x/∂a = (D⁻¹ − W)⁻¹ (N×N steady, TN×TN trajectory; small networks)."
  )
  var dense = false
  @Flag(help: "Print one JSON object: the file written and its summary.") var json = false

  /// Largest side M of the dense matrices, and most values in all of them.
  static let denseSide = 1024, denseValues = 1 << 25

  func run() throws {
    try reporting {
      try refuseOverwritingInputs(
        outputs: [("--out", out)], inputs: [("--checkpoint", checkpoint), ("--states", states)])
      let ck = try readCheckpoint(checkpoint)
      let s = try InverseFile.readStates(states)
      if dense, s.shape.last == ck.shape.units {
        try checkDenseSize(count: s.shape[0], side: (ck.model == .steady ? 1 : max(s.shape[1] - 1, 1)) * ck.shape.units)
      }
      let analysis = try Analysis(checkpoint: ck, source: checkpoint)
      let r = try analysis.drives(
        forStates: s.values, shape: s.shape, jacobian: jacobian, dense: dense,
        source: states + ": /states")
      try InverseFile.write(
        drive: r.drive, shape: r.shape, model: ck.model, inverseSlopes: r.inverseSlopes,
        dense: r.dense, to: out)
      if json { writeLine(jsonLine(["file": out, "shape": r.shape, "jacobian": jacobian || dense, "dense": dense])) }
    }
  }

  func checkDenseSize(count: Int, side: Int) throws {
    guard side <= Self.denseSide, count.multipliedReportingOverflow(by: side * side).partialValue <= Self.denseValues,
      count <= Self.denseValues
    else {
      throw CLIFailure(
        message: "--dense: \(count) matrices of \(side)×\(side) are too many to write (at most side "
          + "\(Self.denseSide) and \(Self.denseValues) values in all); use --jacobian, which keeps only the diagonal")
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
      guard case let .steady(batch) = l.data else {
        throw CLIFailure(message: "\(checkpoint): fixed points need a steady model")
      }
      let r = try l.analysis.fixedPoints(batch, starts: starts, distinct: distinct, seed: seed)
      if verbose && !json {
        for (p, found) in r.perPattern.enumerated() {
          print(
            "pattern \(p): \(found.points) fixed points (\(found.stable) stable)"
              + (found.failedSolves > 0 ? ", \(found.failedSolves) solves did not converge" : "")
              + (found.note.isEmpty ? "" : "; unsettled: " + found.note))
        }
      }
      try FixedPointsFile.write(
        starts: starts, units: l.checkpoint.shape.units, states: r.states, pattern: r.pattern,
        spectralRadius: r.spectralRadius, abscissa: r.abscissa, stable: r.stable,
        residual: r.residual, hits: r.hits, reached: r.reached, to: out)
      let k = r.pattern.count, stableCount = r.stable.filter { $0 }.count
      let perPattern = r.perPattern.map(\.points)
      if json {
        writeLine(
          jsonLine([
            "file": out, "patterns": batch.count, "fixed_points": k, "stable": stableCount,
            "per_pattern_min": perPattern.min() ?? 0, "per_pattern_max": perPattern.max() ?? 0,
            "failed_solves": r.failedSolves, "unsettled_patterns": r.unsettled,
          ]))
      } else {
        print(
          "\(batch.count) patterns: \(k) fixed points (\(perPattern.min() ?? 0)–\(perPattern.max() ?? 0) per pattern), "
            + "\(stableCount) stable" + (r.failedSolves > 0 ? "; \(r.failedSolves) of the solves did not converge" : "")
            + (r.unsettled.isEmpty ? "" : "; \(r.unsettled.count) patterns reach no attractor from their initial state")
            + "; \(out) (hits: how many of the \(starts) random starts reached each point)")
      }
    }
  }
}
