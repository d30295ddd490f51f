// Sweeps: many runs of one dataset from a spec (a base configuration, a
// grid whose cartesian product is taken over sorted keys, and/or an
// explicit list of runs), run concurrently on one machine (one run per
// worker, single-threaded inside, largest first) and split across machines
// into shards (i/n, from flags or the scheduler's rank variables). Each run
// leaves OUT/runs/<name>/checkpoint.h5 and result.json; a rerun skips runs
// with a result; each shard writes OUT/results-<i>-of-<n>.h5 and `merge`
// joins them into OUT/sweep.h5. A failing run is recorded with its reason;
// the others go on.

import Dispatch
import Foundation
import RBPCore
import RBPKernels
import RBPStore

/// A parsed sweep specification.
public struct SweepSpec: Sendable {
  /// The dataset every run trains on.
  public var data: String
  /// The runs' configurations, in run order.
  public var runs: [RunConfig]

  static let keys = ["data", "base", "grid", "runs"]

  /// Parses a spec strictly; `data` relative paths are taken from the
  /// current folder, else from the spec's folder.
  public static func parse(json: Data, source: String) throws -> SweepSpec {
    guard let object = try? JSONSerialization.jsonObject(with: json), let dict = object as? [String: Any] else {
      throw ConfigError("\(source): expected a JSON object with keys \(keys.joined(separator: ", "))")
    }
    if let key = duplicateJSONKey(in: json) { throw ConfigError("\(source): key '\(key)' is given twice") }
    if let unknown = dict.keys.sorted().first(where: { !keys.contains($0) }) {
      throw ConfigError("\(source): unknown key '\(unknown)'; expected \(keys.joined(separator: ", "))")
    }
    guard var data = dict["data"] as? String else { throw ConfigError("\(source): missing string key 'data' (the dataset)") }
    if !FileManager.default.fileExists(atPath: data) {
      let beside = URL(fileURLWithPath: source).deletingLastPathComponent().appendingPathComponent(data).path
      if FileManager.default.fileExists(atPath: beside) { data = beside }
    }
    let base = dict["base"] as? [String: Any] ?? [:]
    if dict["base"] != nil && dict["base"] as? [String: Any] == nil { throw ConfigError("\(source): 'base' must be an object") }
    var points: [[String: Any]] = []
    if let grid = dict["grid"] {
      guard let grid = grid as? [String: Any] else { throw ConfigError("\(source): 'grid' must be an object of arrays") }
      var combos: [[String: Any]] = [[:]]
      for key in grid.keys.sorted() {
        guard let values = grid[key] as? [Any], !values.isEmpty else {
          throw ConfigError("\(source): grid key '\(key)' must be a non-empty array")
        }
        combos = combos.flatMap { c in values.map { v in c.merging([key: v]) { $1 } } }
      }
      points += combos
    }
    if let list = dict["runs"] {
      guard let list = list as? [[String: Any]] else { throw ConfigError("\(source): 'runs' must be an array of objects") }
      points += list
    }
    if points.isEmpty { points = [[:]] }
    let runs = try points.enumerated().map { (i, point) -> RunConfig in
      let merged = base.merging(point) { $1 }
      return try RunConfig.parse(json: try JSONSerialization.data(withJSONObject: merged), source: "\(source) run \(i)")
    }
    return SweepSpec(data: data, runs: runs)
  }
}

/// Which part of a sweep this process runs: runs with index % count == index.
public struct Shard: Equatable, Sendable, CustomStringConvertible {
  public var index: Int
  public var count: Int

  public init(index: Int, count: Int) throws {
    guard count >= 1, index >= 0, index < count else {
      throw ConfigError("shard must be i/n with 0 <= i < n, got \(index)/\(count)")
    }
    self.index = index
    self.count = count
  }

  /// "i/n".
  public static func parse(_ text: String) throws -> Shard {
    let parts = text.split(separator: "/")
    guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
      throw ConfigError("--shard must be i/n, got '\(text)'")
    }
    return try Shard(index: i, count: n)
  }

  /// From the scheduler's variables: Slurm job arrays, Slurm tasks, Open MPI.
  public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> Shard? {
    for (rank, size) in [("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"), ("SLURM_PROCID", "SLURM_NTASKS"),
                         ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE")] {
      if let r = env[rank], let s = env[size] {
        guard let i = Int(r), let n = Int(s) else { throw ConfigError("\(rank)=\(r) and \(size)=\(s) are not integers") }
        // Slurm array ids may start at SLURM_ARRAY_TASK_MIN.
        let offset = rank == "SLURM_ARRAY_TASK_ID" ? Int(env["SLURM_ARRAY_TASK_MIN"] ?? "0") ?? 0 : 0
        return try Shard(index: i - offset, count: n)
      }
    }
    return nil
  }

  public var description: String { "\(index)/\(count)" }
  public var fileName: String { "results-\(index)-of-\(count).h5" }
}

/// Runs a sweep's shard.
public final class SweepRunner: Sendable {
  public let spec: SweepSpec
  public let out: String
  public let jobs: Int
  public let shard: Shard

  public init(spec: SweepSpec, out: String, jobs: Int, shard: Shard) throws {
    guard jobs >= 1 else { throw ConfigError("--jobs must be at least 1, got \(jobs)") }
    self.spec = spec
    self.out = out
    self.jobs = jobs
    self.shard = shard
  }

  public static func runName(_ index: Int) -> String { String(format: "run-%04d", index) }

  /// Runs this shard's runs that have no result yet; returns every record
  /// of the shard (earlier ones included) and writes the shard's file.
  public func run(progress: @escaping @Sendable (_ done: Int, _ total: Int, _ failed: Int, _ record: SweepRecord) -> Void) throws
    -> [SweepRecord]
  {
    let summary = try DatasetSummary.read(spec.data)
    try FileManager.default.createDirectory(atPath: out + "/runs", withIntermediateDirectories: true)
    let mine = spec.runs.indices.filter { $0 % shard.count == shard.index }
    var records: [Int: SweepRecord] = [:]
    var todo: [(index: Int, cost: Double)] = []
    for i in mine {
      if let done = readResult(i) { records[i] = done } else { todo.append((i, cost(spec.runs[i], summary))) }
    }
    todo.sort { $0.cost != $1.cost ? $0.cost > $1.cost : $0.index < $1.index }   // largest first
    let state = SweepState(queue: todo.map(\.index), records: records, finished: mine.count - todo.count,
                           failed: records.values.filter { $0.status != "ok" }.count)
    let total = mine.count
    DispatchQueue.concurrentPerform(iterations: min(jobs, max(todo.count, 1))) { _ in
      while let i = state.take() {
        let record = runOne(i, summary)
        state.finish(record) { done, failed in progress(done, total, failed, record) }
      }
    }
    let all = mine.compactMap { state.records[$0] }
    try SweepResultsFile.write(all, to: out + "/" + shard.fileName, attributes: ["data": spec.data, "shard": shard.description])
    if shard.count == 1 { try SweepResultsFile.write(all, to: out + "/sweep.h5", attributes: ["data": spec.data]) }
    return all
  }

  /// Cost estimate for ordering: N² × patterns × steps × epochs.
  func cost(_ c: RunConfig, _ s: DatasetSummary) -> Double {
    guard let plan = try? c.resolved(for: s) else { return .infinity }   // fails fast, first
    return Double(plan.shape.units * plan.shape.units) * Double(s.count) * Double(max(plan.epochs, 1))
  }

  func runDirectory(_ i: Int) -> String { out + "/runs/" + Self.runName(i) }

  func readResult(_ i: Int) -> SweepRecord? {
    guard let data = FileManager.default.contents(atPath: runDirectory(i) + "/result.json") else { return nil }
    return try? JSONDecoder().decode(SweepRecord.self, from: data)
  }

  /// Trains run i single-threaded; any error becomes a failed record.
  func runOne(_ i: Int, _ summary: DatasetSummary) -> SweepRecord {
    var config = spec.runs[i]
    config.threads = 1
    let dir = runDirectory(i)
    let start = DispatchTime.now().uptimeNanoseconds
    var record = SweepRecord(name: Self.runName(i), index: i, config: config.json, status: "failed", reason: "",
                             epochs: 0, seconds: 0, finalLoss: .nan, finalValidationLoss: .nan, finalAccuracy: nil,
                             solved: false, curve: [], validationCurve: [])
    do {
      try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
      let plan = try config.resolved(for: summary)
      let checkpoint = dir + "/checkpoint.h5"
      let history: [String: [Double]]
      let outcome: TrainingOutcome
      if plan.doublePrecision {
        let t = try Trainer<Double>(plan: plan, data: spec.data, summary: summary, checkpoint: checkpoint)
        outcome = try t.run()
        history = t.history
      } else {
        let t = try Trainer<Float>(plan: plan, data: spec.data, summary: summary, checkpoint: checkpoint)
        outcome = try t.run()
        history = t.history
      }
      record.status = "ok"
      record.epochs = outcome.epochs
      record.finalLoss = outcome.final?.loss ?? .nan
      record.finalValidationLoss = outcome.final?.validationLoss ?? .nan
      record.finalAccuracy = outcome.final?.validationAccuracy
      record.solved = outcome.final?.solved ?? false
      record.curve = history[HistoryKey.loss.rawValue] ?? []
      record.validationCurve = history[HistoryKey.valLoss.rawValue] ?? []
    } catch {
      record.reason = "\(error)"
    }
    record.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    if let data = try? JSONEncoder().encode(record) {
      try? data.write(to: URL(fileURLWithPath: dir + "/result.json"), options: .atomic)
    }
    return record
  }

  /// Joins every shard file in `out` into OUT/sweep.h5; returns the records.
  public static func merge(_ out: String) throws -> [SweepRecord] {
    let files = (try? FileManager.default.contentsOfDirectory(atPath: out))?
      .filter { $0.hasPrefix("results-") && $0.hasSuffix(".h5") }.sorted() ?? []
    guard !files.isEmpty else { throw ConfigError("\(out): no shard results (results-*-of-*.h5) to merge") }
    var byIndex: [Int: SweepRecord] = [:]
    var data = ""
    for f in files {
      for r in try SweepResultsFile.read(out + "/" + f) { byIndex[r.index] = r }
      if data.isEmpty, let file = try? HDF5File.open(out + "/" + f), file.hasAttribute("data") {
        data = (try? file.stringAttribute("data")) ?? ""
      }
    }
    let records = byIndex.values.sorted { $0.index < $1.index }
    try SweepResultsFile.write(records, to: out + "/sweep.h5", attributes: ["data": data])
    return records
  }
}

/// The shared work queue and results of a shard's workers, under one lock.
final class SweepState: @unchecked Sendable {
  private let lock = NSLock()
  private let queue: [Int]
  private var next = 0
  private(set) var records: [Int: SweepRecord]
  private var finished: Int
  private var failed: Int

  init(queue: [Int], records: [Int: SweepRecord], finished: Int, failed: Int) {
    self.queue = queue
    self.records = records
    self.finished = finished
    self.failed = failed
  }

  /// The next run to start, or nil when none is left.
  func take() -> Int? {
    lock.withLock {
      defer { next += 1 }
      return next < queue.count ? queue[next] : nil
    }
  }

  /// Records a finished run and reports (done, failed) under the lock.
  func finish(_ record: SweepRecord, report: (Int, Int) -> Void) {
    lock.withLock {
      records[record.index] = record
      finished += 1
      if record.status != "ok" { failed += 1 }
      report(finished, failed)
    }
  }
}
