// A sweep planned before anything runs: every run resolved against the
// dataset, identified (a hash of its resolved configuration and the
// dataset's content) and costed; the runs dealt to shards so that each
// shard gets about the same work; and the shard of this process, from
// --shard or from the launcher's variables (Slurm arrays, Slurm tasks,
// Open MPI). Every process of a sweep computes the same plan from the same
// spec, and writes it to OUT/manifest.json for `merge`, `status` and
// `export`.

import Foundation
import RBPCore
import RBPStore

/// Which part of a sweep this process runs: the runs the plan deals to
/// shard `index` of `count`.
public struct Shard: Equatable, Sendable, CustomStringConvertible {
  /// i, from 0.
  public var index: Int
  /// n, the shards of the sweep.
  public var count: Int

  /// Shards of one sweep at most (a sweep of more runs gives some shards
  /// several runs each).
  public static let maxCount = 1_000_000

  /// Shard i of n; throws unless 0 ≤ i < n ≤ `maxCount`.
  public init(index: Int, count: Int) throws {
    guard count >= 1, count <= Self.maxCount else {
      throw ConfigError("a sweep has between 1 and \(Self.maxCount) shards, got \(count)")
    }
    guard index >= 0, index < count else {
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

  /// The shard from the launcher's variables, or nil outside any launcher.
  ///
  /// - A Slurm job array: task ids a, a+s, a+2s, … (`--array=a-b[:s]`) are
  ///   shards 0, 1, 2, … of `SLURM_ARRAY_TASK_COUNT`. With `shards` (the
  ///   sweep's total, `--shards`), the task id itself is the shard, so one
  ///   task can be resubmitted alone (`--array=3`). Lists (`--array=1,4,9`)
  ///   need `shards`.
  /// - Slurm tasks (`srun -n k`): `SLURM_PROCID` of `SLURM_NTASKS`, trusted
  ///   only inside a job step (`SLURM_STEP_ID` set, not the batch script).
  ///   A batch script given several tasks but no `srun` is an error, not
  ///   shard 0.
  /// - Open MPI (`mpirun -n k`): `OMPI_COMM_WORLD_RANK` of `_SIZE`.
  /// - An array whose tasks run several ranks: shard = task × ranks + rank.
  public static func fromEnvironment(
    _ env: [String: String] = ProcessInfo.processInfo.environment,
    shards: Int? = nil
  ) throws -> Shard? {
    func integer(_ key: String) throws -> Int? {
      guard let text = env[key] else { return nil }
      guard let value = Int(text) else { throw ConfigError("\(key)=\(text) is not an integer") }
      return value
    }
    var array: (index: Int, count: Int)? = nil
    if let id = try integer("SLURM_ARRAY_TASK_ID") {
      if let shards {
        guard id >= 0 && id < shards else {
          throw ConfigError("SLURM_ARRAY_TASK_ID=\(id) is not a shard of --shards \(shards) (0…\(shards - 1))")
        }
        array = (id, shards)
      } else {
        guard let count = try integer("SLURM_ARRAY_TASK_COUNT") else {
          throw ConfigError("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; pass --shards N")
        }
        guard count >= 1, count <= Shard.maxCount else {
          throw ConfigError("SLURM_ARRAY_TASK_COUNT=\(count): a sweep has between 1 and \(Shard.maxCount) shards")
        }
        let low = try integer("SLURM_ARRAY_TASK_MIN") ?? 0
        let (last, o0) = low.addingReportingOverflow(count - 1)
        let high = try integer("SLURM_ARRAY_TASK_MAX") ?? (o0 ? Int.max : last)
        let step = try integer("SLURM_ARRAY_TASK_STEP") ?? 1
        // Checked arithmetic: the variables may hold any integer.
        let (offset, o1) = id.subtractingReportingOverflow(low), (span, o2) = high.subtractingReportingOverflow(low)
        guard !o0, !o1, !o2, step >= 1, offset >= 0, span >= 0, offset % step == 0, span / step == count - 1 else {
          throw ConfigError(
            "the job array (tasks \(low)–\(high), step \(step), \(count) tasks) is not a range a-b[:s]; "
              + "pass --shards N and use task ids 0…N-1")
        }
        if count == 1 && id != 0 {
          throw ConfigError("a one-task array (task \(id)) cannot tell how many shards the sweep has; pass --shards N")
        }
        array = (offset / step, count)
      }
    }
    var ranks: (index: Int, count: Int)? = nil
    if let size = try integer("OMPI_COMM_WORLD_SIZE"), let rank = try integer("OMPI_COMM_WORLD_RANK") {
      ranks = (rank, size)
    } else if let tasks = try integer("SLURM_NTASKS"), tasks > 1 {
      guard env["SLURM_STEP_ID"] != nil, let rank = try integer("SLURM_PROCID") else {
        throw ConfigError(
          "SLURM_NTASKS=\(tasks) but this is the batch script, not a job step: start the sweep with "
            + "srun (one rank per task), or pass --shard i/n")
      }
      ranks = (rank, tasks)
    }
    switch (array, ranks) {
    case (nil, nil): return nil
    case let (a?, nil): return try Shard(index: a.index, count: a.count)
    case let (nil, r?): return try Shard(index: r.index, count: r.count)
    case let (a?, r?):
      let (count, o1) = a.count.multipliedReportingOverflow(by: r.count)
      let (base, o2) = a.index.multipliedReportingOverflow(by: r.count)
      let (index, o3) = base.addingReportingOverflow(r.index)
      guard !o1 && !o2 && !o3 else {
        throw ConfigError(
          "a job array of \(a.count) tasks with \(r.count) ranks each is more than \(Shard.maxCount) shards")
      }
      return try Shard(index: index, count: count)
    }
  }

  public var description: String { "\(index)/\(count)" }
  /// Its results file in the sweep folder, `results-i-of-n.h5`.
  public var fileName: String { "results-\(index)-of-\(count).h5" }
}

/// `--jobs` when not given: the CPUs the allocation gives each task
/// (`SLURM_CPUS_PER_TASK`), else `OMP_NUM_THREADS`, else 1.
public func defaultJobs(_ env: [String: String] = ProcessInfo.processInfo.environment) -> Int {
  for key in ["SLURM_CPUS_PER_TASK", "OMP_NUM_THREADS"] {
    if let text = env[key], let n = Int(text), n >= 1 { return n }
  }
  return 1
}

/// Every run of a sweep, identified and costed. What is kept per run is its
/// spec entry, identity and cost (24 bytes): a run's configuration and
/// resolved plan are built again when a shard trains it (`run(_:)`), so
/// that a grid of a million runs plans in seconds and in tens of megabytes.
public struct SweepPlan: Sendable {
  /// One run of the sweep, with its configuration and resolved plan.
  public struct Run: Sendable {
    /// Its place in the sweep (distinct runs, in spec order).
    public var index: Int
    /// `run-0007`.
    public var name: String
    /// As the spec gives it, with threads = 1 (one run per worker).
    public var config: RunConfig
    /// The resolved plan, or nil when the configuration does not resolve.
    public var plan: TrainingPlan?
    /// Why it does not resolve.
    public var problem: String?
    /// The run's identity.
    public var hash: String
    /// Estimated work: units² × patterns × steps × epochs.
    public var cost: Double
    /// The resolved configuration (the given one if it does not resolve), JSON.
    public var resolvedJSON: String { plan?.resolvedConfig.json ?? config.json }
  }

  /// What the plan keeps of a run.
  struct Entry: Sendable {
    /// The spec entry it comes from.
    var entry: Int
    /// Its identity, the number `hash(_:)` writes in hex.
    var identity: UInt64
    /// Its estimated work.
    var cost: Double
  }

  /// The spec.
  public let spec: SweepSpec
  /// The dataset's path.
  public var data: String { spec.data }
  /// A hash of the dataset's bytes.
  public let dataHash: String
  /// The dataset's kind and sizes.
  public let summary: DatasetSummary
  /// The distinct runs, by index.
  let entries: [Entry]
  /// The identity of the whole sweep: a hash of its runs' identities.
  public let specHash: String
  /// Entries of the spec (grid points, then explicit runs, numbered from
  /// 0) that are the same run as an earlier one: entry → the run's index.
  public let duplicates: [Int: Int]

  /// The name of run `index`.
  public static func runName(_ index: Int) -> String {
    let digits = String(index)
    return "run-" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
  }

  /// The number of distinct runs.
  public var count: Int { entries.count }
  /// Run `index`'s identity.
  public func hash(_ index: Int) -> String { ContentHash.hex(entries[index].identity) }
  /// Run `index`'s estimated work.
  public func cost(_ index: Int) -> Double { entries[index].cost }

  /// Run `index`, resolved.
  public func run(_ index: Int) -> Run {
    let given = entries[index]
    let (config, outcome) = Self.resolve(spec, entry: given.entry, against: summary)
    var run = Run(
      index: index, name: Self.runName(index), config: config, plan: nil, problem: nil,
      hash: ContentHash.hex(given.identity), cost: given.cost)
    switch outcome {
    case .success(let plan): run.plan = plan
    case .failure(let error): run.problem = "\(error)"
    }
    return run
  }

  /// Every run, resolved (for small sweeps and listings).
  public var runs: [Run] { (0..<count).map(run(_:)) }

  /// Spec entry `entry`'s configuration (threads = 1) and its plan, or why it does not resolve.
  static func resolve(
    _ spec: SweepSpec, entry: Int, against summary: DatasetSummary
  )
    -> (RunConfig, Result<TrainingPlan, Error>)
  {
    var config = spec.config(at: entry)
    config.threads = 1
    return (config, Result { try config.resolved(for: summary) })
  }

  /// The runs of `spec`, each resolved against its dataset; throws for a
  /// dataset that cannot be read.
  public init(spec: SweepSpec) throws {
    self.spec = spec
    summary = try DatasetSummary.read(spec.data)
    dataHash = try ContentHash.ofFile(spec.data)
    var entries: [Entry] = []
    entries.reserveCapacity(spec.count)
    // Entries with one identity are one run, trained once: the first keeps
    // it, numbered in the order of the distinct runs.
    var first: [UInt64: Int] = [:]
    var duplicates: [Int: Int] = [:]
    var sweep = ContentHash()
    sweep.addPart("rbp-sweep")
    for entry in 0..<spec.count {
      var h = ContentHash()
      var cost = 0.0
      switch Self.resolve(spec, entry: entry, against: summary) {
      case (_, .success(let plan)):
        h.addPart("rbp-run")
        h.addPart(plan.resolvedConfig.identityJSON)
        cost =
          Double(plan.shape.units * plan.shape.units) * Double(summary.count) * Double(summary.steps)
          * Double(max(plan.epochs, 1))
      case (let config, .failure):
        h.addPart("rbp-unresolved-run")
        h.addPart(config.identityJSON)
      }
      h.addPart(dataHash)
      let identity = h.mixed
      if let kept = first[identity] {
        duplicates[entry] = kept
        continue
      }
      first[identity] = entries.count
      entries.append(Entry(entry: entry, identity: identity, cost: cost))
      sweep.addPart(ContentHash.hex(identity))
    }
    self.entries = entries
    self.duplicates = duplicates
    specHash = sweep.hex
  }

  /// The shard of each run for `count` shards: runs by decreasing cost
  /// (ties by index), each to the shard with the least work so far (ties to
  /// the lowest shard). The same on every process.
  public func assignment(shards count: Int) -> [Int] {
    var shard = [Int](repeating: 0, count: entries.count)
    // A min-heap of (load, shard); shards beyond the run count never get one.
    var heap = (0..<min(count, max(entries.count, 1))).map { (load: 0.0, shard: $0) }
    func less(_ a: (load: Double, shard: Int), _ b: (load: Double, shard: Int)) -> Bool {
      a.load != b.load ? a.load < b.load : a.shard < b.shard
    }
    let order = entries.indices.sorted {
      entries[$0].cost != entries[$1].cost ? entries[$0].cost > entries[$1].cost : $0 < $1
    }
    for run in order {
      shard[run] = heap[0].shard
      heap[0].load += max(entries[run].cost, 1)
      // Sift the root down.
      var i = 0
      while true {
        let l = 2 * i + 1, r = l + 1
        var m = i
        if l < heap.count && less(heap[l], heap[m]) { m = l }
        if r < heap.count && less(heap[r], heap[m]) { m = r }
        if m == i { break }
        heap.swapAt(i, m)
        i = m
      }
    }
    return shard
  }
}

/// OUT/manifest.json: what a sweep folder should hold, written by every
/// process of the sweep before it trains (the same content for the same
/// spec and shard count).
public struct SweepManifest: Equatable, Sendable {
  /// One run.
  public struct Entry: Equatable, Sendable {
    /// `run-0007`.
    public var name: String
    /// Its place in the grid.
    public var index: Int
    /// Its identity.
    public var hash: String
    /// The shard that runs it.
    public var shard: Int
  }
  /// The identity of the whole sweep.
  public var specHash: String
  /// The dataset's path.
  public var data: String
  /// A hash of the dataset's bytes.
  public var dataHash: String
  /// The number of shards.
  public var shards: Int
  /// Every run.
  public var runs: [Entry]

  /// `manifest.json`.
  public static let fileName = "manifest.json"

  /// The manifest of `plan` dealt to `shards` shards.
  public init(plan: SweepPlan, shards: Int) {
    specHash = plan.specHash
    data = plan.data
    dataHash = plan.dataHash
    self.shards = shards
    let assignment = plan.assignment(shards: shards)
    runs = (0..<plan.count).map { i in
      Entry(name: SweepPlan.runName(i), index: i, hash: plan.hash(i), shard: assignment[i])
    }
  }

  /// Writes `manifest.json` into `folder`, atomically.
  public func write(to folder: String) throws {
    // Written directly (a million runs through JSONSerialization take
    // seconds): one run per line, keys sorted.
    let quoted = RunConfig.quoted
    var text =
      "{\n  \"data\" : \(quoted(data)),\n  \"data_hash\" : \(quoted(dataHash)),\n  \"format\" : \"rbp-sweep-manifest\",\n"
      + "  \"runs\" : [\n"
    text.reserveCapacity(runs.count * 80 + 200)
    for (i, run) in runs.enumerated() {
      text +=
        "    {\"hash\": \(quoted(run.hash)), \"index\": \(run.index), \"name\": \(quoted(run.name)), \"shard\": \(run.shard)}"
      text += i + 1 < runs.count ? ",\n" : "\n"
    }
    text += "  ],\n  \"shards\" : \(shards),\n  \"spec_hash\" : \(quoted(specHash)),\n  \"version\" : 1\n}\n"
    try writeFileAtomically(Data(text.utf8), to: folder + "/" + Self.fileName)
  }

  /// The manifest of `folder`; throws naming the file when it is missing or damaged.
  public static func read(from folder: String) throws -> SweepManifest {
    let path = folder + "/" + fileName
    guard let bytes = FileManager.default.contents(atPath: path) else {
      throw ConfigError("\(path): no such file: \(folder) is not a sweep folder (rbp sweep writes it before it trains)")
    }
    // The run lines as `write` spells them are read directly (a million
    // runs through JSONSerialization take seconds and gigabytes); the rest
    // of the file, or all of it when it is spelt otherwise, as JSON.
    let split = splitRunLines(bytes)
    guard let o = (try? JSONSerialization.jsonObject(with: split?.rest ?? bytes)) as? [String: Any],
      o["format"] as? String == "rbp-sweep-manifest", let specHash = o["spec_hash"] as? String,
      let data = o["data"] as? String, let dataHash = o["data_hash"] as? String, let shards = o["shards"] as? Int,
      shards >= 1, let list = o["runs"] as? [[String: Any]]
    else {
      throw ConfigError("\(path): not a sweep manifest (damaged, or written by another version)")
    }
    if let lines = split?.runs {
      for (i, run) in lines.enumerated() where run.shard >= shards || run.index != i {
        throw ConfigError("\(path): run \(i) is damaged")
      }
      return SweepManifest(specHash: specHash, data: data, dataHash: dataHash, shards: shards, runs: lines)
    }
    var runs: [Entry] = []
    for item in list {
      guard let name = item["name"] as? String, let index = item["index"] as? Int, let hash = item["hash"] as? String,
        let shard = item["shard"] as? Int, shard >= 0, shard < shards, index == runs.count
      else {
        throw ConfigError("\(path): run \(runs.count) is damaged")
      }
      runs.append(Entry(name: name, index: index, hash: hash, shard: shard))
    }
    var manifest = SweepManifest(specHash: specHash, data: data, dataHash: dataHash, shards: shards, runs: [])
    manifest.runs = runs
    return manifest
  }

  /// The runs of a manifest spelt as `write` spells it, one line each, and
  /// the file with an empty run list; nil when any line is spelt otherwise.
  static func splitRunLines(_ bytes: Data) -> (runs: [Entry], rest: Data)? {
    let open = Array("  \"runs\" : [\n".utf8), close = Array("  ],\n".utf8)
    return bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> (runs: [Entry], rest: Data)? in
      let b = raw.bindMemory(to: UInt8.self)
      func find(_ needle: [UInt8], from start: Int) -> Int? {
        var i = start
        while i + needle.count <= b.count {
          if b[i] == needle[0] && zip(needle.indices, needle).allSatisfy({ b[i + $0] == $1 }) { return i }
          i += 1
        }
        return nil
      }
      guard let start = find(open, from: 0) else { return nil }
      let first = start + open.count
      var runs: [Entry] = []
      var i = first
      /// Reads `text` at i.
      func expect(_ text: StaticString) -> Bool {
        let t = UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        guard i + t.count <= b.count, t.indices.allSatisfy({ b[i + $0] == t[$0] }) else { return false }
        i += t.count
        return true
      }
      /// A non-negative decimal integer at i.
      func integer() -> Int? {
        var v = 0, digits = 0
        while i < b.count, b[i] >= 48, b[i] <= 57, digits < 18 {
          v = v * 10 + Int(b[i] - 48)
          i += 1
          digits += 1
        }
        return digits > 0 && (i >= b.count || b[i] < 48 || b[i] > 57) ? v : nil
      }
      /// A string without escapes at i, up to its closing quote.
      func string() -> String? {
        let s = i
        while i < b.count, b[i] != 34 {
          if b[i] == 92 || b[i] < 32 { return nil }
          i += 1
        }
        guard i < b.count else { return nil }
        defer { i += 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: b[s..<i]), as: UTF8.self)
      }
      func atClose() -> Bool { i + close.count <= b.count && close.indices.allSatisfy { b[i + $0] == close[$0] } }
      var more = false
      while more || !atClose() {
        guard expect("    {\"hash\": \""), let hash = string(), expect(", \"index\": "), let index = integer(),
          expect(", \"name\": \""), let name = string(), expect(", \"shard\": "), let shard = integer(), expect("}")
        else { return nil }
        runs.append(Entry(name: name, index: index, hash: hash, shard: shard))
        more = expect(",\n")
        if !more { guard expect("\n"), atClose() else { return nil } }
      }
      var rest = Data(UnsafeRawBufferPointer(rebasing: raw[0..<first]))
      rest.append(contentsOf: Array("  ".utf8))
      rest.append(Data(UnsafeRawBufferPointer(rebasing: raw[i...])))
      return (runs, rest)
    }
  }

  init(specHash: String, data: String, dataHash: String, shards: Int, runs: [Entry]) {
    self.specHash = specHash
    self.data = data
    self.dataHash = dataHash
    self.shards = shards
    self.runs = runs
  }
}

/// Writes `bytes` to `path` atomically (a temporary file beside it, then a
/// rename), so a reader never sees half a file.
public func writeFileAtomically(_ bytes: Data, to path: String, behind: WriteBehind? = nil) throws {
  do { try writeBytesAtomically(bytes, to: path, behind: behind) } catch let error as FileSystemError {
    throw ConfigError(error.description)
  }
}
