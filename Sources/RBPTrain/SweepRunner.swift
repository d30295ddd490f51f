// Running one shard of a sweep: the shard's runs, concurrently on one
// machine (`jobs` workers, each run single-threaded inside, largest
// first). Each worker trains a group of up to `lockstep` runs in lockstep
// (`Lockstep`: one epoch of each in turn, sharing the worker's kernel
// workspaces and the process's copy of the dataset), while their
// estimated working sets fit in one core's L2 cache (`lockstepBytes`); a
// run that ends leaves the group and the next one joins. A run's files
// are the same bytes for any grouping.
//
// Each run lives in OUT/runs/<name>/: checkpoint.h5, result.json (written
// when it ends, failed or not; non-finite numbers as null) and `lock`, held
// (flock) while a process trains it and naming that process, so a second
// process given the same shard skips the run and says so. A rerun skips a
// run whose result has the run's identity; a result with another identity
// (the spec or the dataset changed) stops the sweep with the count of such
// runs unless `rerunChanged`; a failed run is tried again only with
// `retryFailed`. An interrupted run (no result, a checkpoint of the same
// identity) resumes from its checkpoint and ends bit-identical to an
// uninterrupted one; runs save every `checkpointSeconds`. On SIGINT or
// SIGTERM (`StopRequest`) the runs in progress save their state and no new
// run starts. The shard's records go to OUT/results-<i>-of-<n>.h5, and with
// a single complete shard also to OUT/sweep.h5.
//
// A run's files are synced and put in place behind it (`WriteBehind`), in
// the order written, while its worker starts the next run; its lock is
// released once its result.json is in place, and the shard's files are
// written once every run's are.

import Dispatch
import Foundation
import RBPCore
import RBPKernels
import RBPStore

#if canImport(Glibc)
  import Glibc
#endif

/// What running a shard did.
public struct ShardOutcome: Sendable {
  /// Every run of the shard with a result (earlier ones included).
  public var records: [SweepRecord]
  /// Runs another process was training (their lock was held).
  public var busy: [String]
  /// Runs of the shard that have no result yet (busy, or interrupted).
  public var unfinished: Int
  /// The signal that stopped the shard, if any.
  public var interrupted: Int32?
}

/// Runs a sweep's shard.
public final class SweepRunner: Sendable {
  /// Every run of the sweep.
  public let plan: SweepPlan
  /// The sweep's folder.
  public let out: String
  /// Runs at once.
  public let jobs: Int
  /// The slice of the runs this runner takes.
  public let shard: Shard
  /// Run again the runs that failed.
  public let retryFailed: Bool
  /// Run again the runs whose results are of another configuration.
  public let rerunChanged: Bool
  /// A run saves its checkpoint at an epoch's end once this many seconds
  /// have passed since its last save.
  public let checkpointSeconds: Double
  /// Runs each worker trains in lockstep (1: one run after another).
  public let lockstep: Int
  /// The default group size of `lockstep`.
  public static let defaultLockstep = 8
  /// The most a worker's lockstep group holds, by its runs' estimated
  /// working sets (`heldBytes`): the size of one core's L2 cache (1 MB if
  /// the system does not say). A group's runs take turns in that cache;
  /// groups well beyond it ran slower (the sweep benchmark's runs, about 0.66 MB
  /// each, in groups of 32: 8–17 % slower than alone), and a larger run
  /// trains alone.
  public static let lockstepBytes: Int = {
    let l2 = sysconf(Int32(_SC_LEVEL2_CACHE_SIZE))
    return l2 > 0 ? l2 : 1 << 20
  }()
  /// The dataset's hash, read again before and after each run only when
  /// the file may have changed.
  let dataHashes = FileHashCache()
  /// The dataset, read once for the runs of this process (per precision).
  let dataset = SharedDataset()

  /// A runner of `shard` of the sweep `spec` into `out`; throws for a spec
  /// that does not resolve, or a folder holding another sweep.
  public init(
    spec: SweepSpec, out: String, jobs: Int, shard: Shard, retryFailed: Bool = false,
    rerunChanged: Bool = false, checkpointSeconds: Double = 60, lockstep: Int = SweepRunner.defaultLockstep
  ) throws {
    guard jobs >= 1 else { throw ConfigError("--jobs must be at least 1, got \(jobs)") }
    guard lockstep >= 1 else { throw ConfigError("--lockstep must be at least 1, got \(lockstep)") }
    guard checkpointSeconds > 0 && checkpointSeconds.isFinite else {
      throw ConfigError("--checkpoint-seconds must be positive, got \(checkpointSeconds)")
    }
    self.plan = try SweepPlan(spec: spec)
    self.out = out
    self.jobs = jobs
    self.shard = shard
    self.retryFailed = retryFailed
    self.rerunChanged = rerunChanged
    self.checkpointSeconds = checkpointSeconds
    self.lockstep = lockstep
  }

  func runDirectory(_ i: Int) -> String { out + "/runs/" + SweepPlan.runName(i) }

  /// Runs this shard's runs that have no result of their identity yet;
  /// writes the shard's file.
  public func run(
    progress: @escaping @Sendable (_ done: Int, _ total: Int, _ failed: Int, _ record: SweepRecord) -> Void
  )
    throws -> ShardOutcome
  {
    let manifest = SweepManifest(plan: plan, shards: shard.count)
    let mine = manifest.runs.filter { $0.shard == shard.index }.map(\.index)
    // Results of another identity: refuse, or clear them when asked to.
    let changed = mine.filter { i in readResult(i).map { $0.hash != plan.hash(i) } ?? false }
    if !changed.isEmpty && !rerunChanged {
      let names = changed.prefix(4).map(SweepPlan.runName).joined(separator: ", ") + (changed.count > 4 ? ", …" : "")
      throw ConfigError(
        "\(out): \(changed.count) finished runs of this shard (\(names)) were trained with another "
          + "configuration or dataset than the spec now gives; retrain them with --rerun-changed, or use another --out")
    }
    // One folder, one split: shards of another split would deal the runs
    // differently, and their manifests overwrite each other. (An edited
    // spec run with --rerun-changed plans the sweep anew, split included.)
    if FileManager.default.fileExists(atPath: out + "/manifest.json") {
      let existing = try SweepManifest.read(from: out)
      guard existing.shards == shard.count || (rerunChanged && existing.specHash != manifest.specHash) else {
        throw ConfigError(
          "\(out) holds a sweep split into \(existing.shards) shards (manifest.json); this process is "
            + "shard \(shard): use the same split, or another --out")
      }
    }
    try createFolder(out + "/runs")
    try manifest.write(to: out)
    var records: [Int: SweepRecord] = [:]
    var todo: [Int] = []
    for i in mine {
      if let done = readResult(i), done.hash == plan.hash(i), !(retryFailed && done.status != "done") {
        records[i] = done
      } else {
        todo.append(i)
      }
    }
    todo.sort { plan.cost($0) != plan.cost($1) ? plan.cost($0) > plan.cost($1) : $0 < $1 }
    let state = SweepState(
      queue: todo, records: records, finished: mine.count - todo.count,
      failed: records.values.filter { $0.status != "done" }.count)
    let total = mine.count
    let behind = WriteBehind()
    // Each worker trains a group of up to `lockstep` runs in lockstep
    // (`Lockstep`); a run that ends leaves it and the next one joins.
    DispatchQueue.concurrentPerform(iterations: min(jobs, max(todo.count, 1))) { _ in
      let scratch = WorkerScratch()
      let group = Lockstep()
      var training: [Int: (member: Member, bytes: Int)] = [:]
      func settle(_ end: RunEnd, _ i: Int) {
        switch end {
        case .finished(let record): state.finish(record) { done, failed in progress(done, total, failed, record) }
        case .busy: state.markBusy(SweepPlan.runName(i))
        case .interrupted: break
        }
      }
      // The next run, resolved, taken from the queue while the group had no room.
      var waiting: (run: SweepPlan.Run, bytes: Int)? = nil
      while true {
        while group.count < lockstep, StopRequest.shared.signal == nil {
          if waiting == nil {
            guard let i = state.take() else { break }
            let run = plan.run(i)
            waiting = (run, heldBytes(run.plan))
          }
          let held = training.values.reduce(0) { $0 + $1.bytes }
          guard let (run, bytes) = waiting, group.isEmpty || held + bytes <= Self.lockstepBytes else { break }
          waiting = nil
          switch take(run, scratch: scratch, behind: behind) {
          case .ended(let end): settle(end, run.index)
          case .training(let member):
            if let left = group.add(member.trainer, tag: run.index) {
              settle(complete(member, left.result, behind: behind), run.index)
            } else {
              training[run.index] = (member, bytes)
            }
          }
        }
        if group.isEmpty { break }
        for left in group.round() {
          guard let (member, _) = training.removeValue(forKey: left.tag) else { continue }
          settle(complete(member, left.result, behind: behind), left.tag)
        }
      }
    }
    do { try behind.finish() } catch { throw ConfigError("\(out): a run's files could not be written: \(error)") }
    let all = mine.compactMap { state.records[$0] }
    let attributes = [
      "data": plan.data, "data_hash": plan.dataHash, "spec_hash": plan.specHash, "shard": shard.description,
    ]
    var integers = [
      "shards": shard.count, "shard_index": shard.index, "runs_in_shard": mine.count,
      "runs_in_sweep": plan.count,
    ]
    // A single shard that holds every run is the whole sweep: its file is
    // also sweep.h5, the same bytes (built once), with the attributes of both.
    let whole = shard.count == 1 && all.count == plan.count
    if whole { (integers["complete"], integers["missing"]) = (1, 0) }
    try SweepResultsFile.write(
      all, to: out + "/" + shard.fileName, copy: whole ? out + "/sweep.h5" : nil, attributes: attributes,
      integers: integers, integerSettings: RunConfig.integerKeys)
    return ShardOutcome(
      records: all, busy: state.busyRuns, unfinished: mine.count - all.count,
      interrupted: StopRequest.shared.signal)
  }

  func readResult(_ i: Int) -> SweepRecord? {
    FileManager.default.contents(atPath: runDirectory(i) + "/result.json").flatMap(SweepRecord.init(json:))
  }

  enum RunEnd {
    case finished(SweepRecord)
    case busy, interrupted
  }

  /// A run of the shard while it trains: its record so far, its lock
  /// (held until its result is in place) and its trainer.
  final class Member {
    let plan: TrainingPlan
    var record: SweepRecord
    let lock: RunLock
    let trainer: EpochRun
    /// Time spent setting it up (ns), from `taken` (uptime) to now.
    let setup: UInt64

    init(plan: TrainingPlan, record: SweepRecord, lock: RunLock, trainer: EpochRun, taken: UInt64) {
      (self.plan, self.record, self.lock, self.trainer) = (plan, record, lock, trainer)
      setup = DispatchTime.now().uptimeNanoseconds - taken
    }
  }

  enum Taken {
    case training(Member)
    case ended(RunEnd)
  }

  /// Takes `run`: under the run's lock, a trainer of its own (resuming its
  /// checkpoint when it has the run's identity) that uses `scratch`'s
  /// workspaces, or how it ended without one (busy, finished meanwhile,
  /// or failed: a failed record, written to result.json).
  func take(_ run: SweepPlan.Run, scratch: WorkerScratch, behind: WriteBehind) -> Taken {
    let i = run.index
    let dir = runDirectory(i)
    var record = SweepRecord(
      name: run.name, index: i, config: run.resolvedJSON, status: "failed", reason: "",
      epochs: 0, seconds: 0, finalLoss: .nan, finalValidationLoss: .nan, finalAccuracy: nil,
      solved: false, curve: [], validationCurve: [])
    record.hash = run.hash
    let taken = DispatchTime.now().uptimeNanoseconds
    var lock: RunLock? = nil
    do {
      try createFolder(dir)
      guard let held = try RunLock.acquire(dir + "/lock") else { return .ended(.busy) }
      lock = held
      // Another process may have finished it meanwhile.
      let existing = readResult(i)
      if let done = existing, done.hash == run.hash, !(retryFailed && done.status != "done") {
        release(held, behind: behind)
        return .ended(.finished(done))
      }
      guard let plan = run.plan else { throw ConfigError(run.problem ?? "the configuration does not resolve") }
      // The run's identity holds the data's hash: the bytes it reads must be those.
      try checkDataUnchanged(when: "before the run")
      let checkpoint = dir + "/checkpoint.h5"
      var resumeFrom: Checkpoint? = nil
      if existing == nil, FileManager.default.fileExists(atPath: checkpoint),
        let saved = try? readCheckpoint(checkpoint), saved.runHash == run.hash, saved.stopReason == nil,
        saved.epoch < plan.epochs
      {
        resumeFrom = saved
      }
      let trainer =
        plan.precision == .f64
        ? EpochRun(try makeTrainer(Double.self, plan, checkpoint, resumeFrom, run.hash, behind, scratch))
        : EpochRun(try makeTrainer(Float.self, plan, checkpoint, resumeFrom, run.hash, behind, scratch))
      return .training(Member(plan: plan, record: record, lock: held, trainer: trainer, taken: taken))
    } catch {
      record.reason = "\(error)"
      record.seconds = Double(DispatchTime.now().uptimeNanoseconds - taken) * 1e-9
      return .ended(conclude(record, lock: lock, behind: behind))
    }
  }

  /// The record of a member that left its group with `result`, written to
  /// result.json (an interrupted run writes none: it resumes).
  func complete(_ member: Member, _ result: Result<TrainingOutcome, any Error>, behind: WriteBehind) -> RunEnd {
    let begun = DispatchTime.now().uptimeNanoseconds
    var record = member.record
    do {
      let outcome = try result.get()
      try checkDataUnchanged(when: "while the run trained")
      record.status = "done"
      record.epochs = outcome.epochs
      // The trainer's history includes a resumed checkpoint's epochs.
      let history = member.trainer.history()
      func final(_ key: HistoryKey) -> Double? { history[key]?.last }
      record.finalLoss = outcome.final?.loss ?? final(.loss) ?? .nan
      record.finalValidationLoss = outcome.final?.validationLoss ?? final(.valLoss) ?? .nan
      record.finalAccuracy = outcome.final?.validationAccuracy ?? final(.valAccuracy)
      record.solved = outcome.final?.solved ?? (outcome.stoppedEarly && member.plan.stopWhenSolved)
      record.curve = history[.loss] ?? []
      record.validationCurve = history[.valLoss] ?? []
      (record.bestEpoch, record.bestValidationLoss) = (outcome.bestEpoch, outcome.bestValidationLoss)
    } catch is TrainingInterrupted {
      release(member.lock, behind: behind)
      return .interrupted
    } catch let stopped as TrainingStopped {
      // The checkpoint holds the last good epoch: its metrics and curves
      // are the run's results, with the reason it stopped.
      record.reason = "\(stopped)"
      behind.wait()
      if let saved = try? CheckpointFile.read(stopped.checkpoint) {
        let history = saved.history
        record.epochs = saved.epoch
        record.finalLoss = history[.loss]?.last ?? .nan
        record.finalValidationLoss = history[.valLoss]?.last ?? .nan
        record.finalAccuracy = history[.valAccuracy]?.last
        record.curve = history[.loss] ?? []
        record.validationCurve = history[.valLoss] ?? []
        (record.bestEpoch, record.bestValidationLoss) = (saved.bestEpoch, saved.bestValidationLoss)
      }
    } catch {
      record.reason = "\(error)"
    }
    // The run's own time: its set-up, its epochs and this (not the epochs
    // of the runs it shared a group with).
    let own = member.setup + (DispatchTime.now().uptimeNanoseconds - begun)
    record.seconds = Double(own) * 1e-9 + member.trainer.secondsTrained()
    return conclude(record, lock: member.lock, behind: behind)
  }

  /// Writes a run's result.json and releases its lock once it is in place.
  func conclude(_ record: SweepRecord, lock: RunLock?, behind: WriteBehind) -> RunEnd {
    let dir = runDirectory(record.index)
    do {
      try writeFileAtomically(try record.jsonData(), to: dir + "/result.json", behind: behind)
    } catch {
      // The record still reaches the shard's file; the next run of the shard trains it again.
      FileHandle.standardError.write(Data("Warning: \(dir)/result.json: \(error)\n".utf8))
    }
    if let lock { release(lock, behind: behind) }
    return .finished(record)
  }

  /// Releases a run's lock once every file queued before is in place.
  func release(_ lock: RunLock, behind: WriteBehind) {
    behind.enqueue { withExtendedLifetime(lock) {} }
  }

  /// A run's estimated working set while it trains, in bytes (0 for a
  /// run that does not resolve): its parameters eight times over
  /// (gradient, optimizer state, the update it may undo), a trajectory
  /// run's passes over a minibatch and the kept pass over the training
  /// set, a steady run's states and warm starts.
  func heldBytes(_ run: TrainingPlan?) -> Int {
    guard let run else { return 0 }
    let n = run.shape.units
    let scalar = run.precision == .f64 ? 8 : 4
    let parameters = ParameterLayout(shape: run.shape, hasInitialState: run.model == .trajectory).count
    let count = plan.summary.count
    let patterns =
      run.model == .trajectory
      ? (2 * plan.summary.steps + 1) * n * (2 * min(run.batch, count) + count)
      : 4 * n * count
    return (8 * parameters + patterns) * scalar
  }

  /// Throws when the dataset's bytes no longer hash to what the sweep was
  /// planned with (so a result never carries the identity of other data).
  func checkDataUnchanged(when: String) throws {
    let now = try dataHashes.hash(plan.data)
    guard now == plan.dataHash else {
      throw ConfigError(
        "\(plan.data) changed \(when) (its bytes hash to \(now), the sweep was planned with "
          + "\(plan.dataHash)); run the sweep again to plan it with the new data")
    }
  }

  func makeTrainer<T: KernelScalar & HDF5Numeric>(
    _: T.Type, _ plan: TrainingPlan, _ checkpoint: String, _ resumeFrom: Checkpoint?, _ hash: String,
    _ behind: WriteBehind, _ scratch: WorkerScratch
  ) throws -> Trainer<T> {
    let contents = try dataset.contents(T.self, path: self.plan.data) {
      try checkDataUnchanged(when: "while it was read")
    }
    let t = try Trainer<T>(
      plan: plan, data: self.plan.data, summary: self.plan.summary, checkpoint: checkpoint,
      resumeFrom: resumeFrom, contents: contents, workspaces: [scratch.workspace(T.self)])
    t.runHash = hash
    t.dataHash = self.plan.dataHash
    t.checkpointSeconds = checkpointSeconds
    t.writeBehind = behind
    return t
  }
}

/// A sweep's dataset, read once per precision for all the runs of a
/// process, when it is small enough for a trainer to hold whole
/// (`MinibatchStream.defaultInMemoryLimit`); larger ones each run streams
/// itself.
final class SharedDataset: @unchecked Sendable {
  private let lock = NSLock()
  /// By precision: the contents, or nil when the dataset is too large.
  private var loaded: [ObjectIdentifier: Any] = [:]

  /// The dataset at `path` in precision T, read on the first call;
  /// `verify` runs once after that read (and may throw to refuse it).
  func contents<T: KernelScalar & HDF5Numeric>(
    _: T.Type, path: String, verify: () throws -> Void
  ) throws
    -> DatasetContents<T>?
  {
    try lock.withLock {
      if let done = loaded[ObjectIdentifier(T.self)] { return done as? DatasetContents<T> }
      let read = try MinibatchStream<T>(
        path: path, batchSize: 1, shuffle: false,
        inMemoryLimit: MinibatchStream<T>.defaultInMemoryLimit
      ).contents
      try verify()
      loaded[ObjectIdentifier(T.self)] = read as Any
      return read
    }
  }
}

/// Creates a folder and its parents, naming the first one that cannot be
/// made and why (the system's reason: "Not a directory", "Permission denied").
func createFolder(_ path: String) throws {
  var prefix = path.hasPrefix("/") ? "" : "."
  for part in path.split(separator: "/") {
    prefix += "/" + part
    if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
      throw ConfigError("\(path): cannot create the folder \(prefix) (\(String(cString: strerror(errno))))")
    }
  }
  var isFolder: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else {
    throw ConfigError("\(path): exists and is not a folder")
  }
}

/// A run's lock: an flock held while a process trains the run, on a file
/// that names the host and process. Released when the value goes away.
final class RunLock: @unchecked Sendable {
  let fd: Int32

  private init(fd: Int32) { self.fd = fd }
  deinit { close(fd) }

  /// The lock, or nil when another process holds it.
  static func acquire(_ path: String) throws -> RunLock? {
    let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      throw ConfigError("\(path): cannot open the run's lock (\(String(cString: strerror(errno))))")
    }
    guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
      close(fd)
      if errno == EWOULDBLOCK { return nil }
      throw ConfigError("\(path): cannot lock (\(String(cString: strerror(errno))))")
    }
    let note = "\(ProcessInfo.processInfo.hostName) \(getpid())\n"
    _ = ftruncate(fd, 0)
    _ = note.withCString { pwrite(fd, $0, strlen($0), 0) }
    return RunLock(fd: fd)
  }

  /// Who holds the lock at `path` ("host pid"), or nil when nobody does.
  static func holder(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    if flock(fd, LOCK_SH | LOCK_NB) == 0 {
      flock(fd, LOCK_UN)
      return nil
    }
    let text = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    return text?.isEmpty == false ? text : "another process"
  }
}

/// The shared work queue and results of a shard's workers, under one lock.
final class SweepState: @unchecked Sendable {
  private let lock = NSLock()
  private let queue: [Int]
  private var next = 0
  private var storedRecords: [Int: SweepRecord]
  private var busy: [String] = []
  private var finished: Int
  private var failed: Int

  init(queue: [Int], records: [Int: SweepRecord], finished: Int, failed: Int) {
    self.queue = queue
    self.storedRecords = records
    self.finished = finished
    self.failed = failed
  }

  var records: [Int: SweepRecord] { lock.withLock { storedRecords } }
  var busyRuns: [String] { lock.withLock { busy.sorted() } }

  /// The next run to start, or nil when none is left.
  func take() -> Int? {
    lock.withLock {
      defer { next += 1 }
      return next < queue.count ? queue[next] : nil
    }
  }

  func markBusy(_ name: String) { lock.withLock { busy.append(name) } }

  /// Records a finished run and reports (done, failed) under the lock.
  func finish(_ record: SweepRecord, report: (Int, Int) -> Void) {
    lock.withLock {
      storedRecords[record.index] = record
      finished += 1
      if record.status != "done" { failed += 1 }
      report(finished, failed)
    }
  }
}
