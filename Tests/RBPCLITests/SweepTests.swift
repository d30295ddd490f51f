// Sweeps as a cluster user leans on them, through the command line: merge
// refuses incomplete or stray sets and --partial marks what is missing; a
// changed spec is detected; failures are recorded (NaN as null) and not
// retried unless asked; status and export report every run; a SIGTERM'd
// sweep or training run saves its state, exits 128 + 15, and finishes
// bit-identical when rerun; a run locked by another process is skipped;
// the launcher's variables give the right shard or a clear error; shards
// are balanced by cost.

import Foundation
import RBPCore
import RBPStore
import RBPTestSupport
import Testing

@testable import RBPTrain

#if canImport(Glibc)
  import Glibc
#endif

/// A spec over `xor` with `count` runs (seeds), written into `dir`.
func writeSweepSpec(
  _ dir: String, name: String = "spec.json", lrs: [Double] = [0.03], seeds: [Int] = [0, 1, 2, 3],
  epochs: Int = 12, extraRuns: String = ""
) throws -> String {
  let path = dir + "/" + name
  let runs = extraRuns.isEmpty ? "" : #", "runs": [\#(extraRuns)]"#
  try """
  {"data": "\(shipped("xor"))", "base": {"epochs": \(epochs), "units": 4},
   "grid": {"lr": \(lrs), "seed": \(seeds)}\(runs)}
  """.write(toFile: path, atomically: true, encoding: .utf8)
  return path
}

func jsonObject(_ text: String) -> [String: Any] {
  (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
}

@Suite("Sweeps", .serialized)
struct SweepTests {
  @Test func mergeRefusesIncompleteAndStraySets() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let spec = try writeSweepSpec(dir, seeds: [0, 1, 2, 3, 4, 5])
    let out = dir + "/out"
    try #require(try rbp(["sweep", spec, "--out", out, "--shard", "0/3", "--quiet"]).status == 0)
    let manifest = try SweepManifest.read(from: out)
    let inShard0 = manifest.runs.filter { $0.shard == 0 }.count
    let refused = try rbp(["sweep", "merge", out])
    #expect(refused.status != 0 && refused.err.contains("\(6 - inShard0) of 6 runs have no result"), "\(refused.err)")
    #expect(refused.err.split(separator: "\n").count == 1 && refused.err.contains("--partial"))
    #expect(!FileManager.default.fileExists(atPath: out + "/sweep.h5"))
    let partial = try rbp(["sweep", "merge", out, "--partial"])
    #expect(partial.status == 0, "\(partial.err)")
    let records = try SweepResultsFile.read(out + "/sweep.h5")
    #expect(records.count == 6 && records.filter { $0.status == "missing" }.count == 6 - inShard0)
    #expect(try HDF5File.open(out + "/sweep.h5").integerAttribute("complete") == 0)
    for i in 1..<3 { try #require(try rbp(["sweep", spec, "--out", out, "--shard", "\(i)/3", "--quiet"]).status == 0) }
    #expect(try rbp(["sweep", "merge", out]).status == 0)
    #expect(try SweepResultsFile.read(out + "/sweep.h5").allSatisfy { $0.status == "done" })
    #expect(try HDF5File.open(out + "/sweep.h5").integerAttribute("complete") == 1)
    // A shard file of another split is refused, by name.
    try FileManager.default.copyItem(atPath: out + "/results-0-of-3.h5", toPath: out + "/results-4-of-5.h5")
    let tagged = try HDF5File.open(out + "/results-4-of-5.h5", writable: true)
    try tagged.setAttribute("shards", int: 5)
    try tagged.close()
    let stray = try rbp(["sweep", "merge", out])
    #expect(stray.status != 0 && stray.err.contains("results-4-of-5.h5"), "\(stray.err)")
    let status = try rbp(["sweep", "status", out, "--json"])
    #expect(jsonObject(status.out)["stray_files"] as? [String] == ["results-4-of-5.h5"])
  }

  @Test func aChangedSpecIsDetected() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let out = dir + "/out"
    let first = try writeSweepSpec(dir, name: "a.json", lrs: [0.03])
    try #require(try rbp(["sweep", first, "--out", out, "--quiet"]).status == 0)
    let before = try SweepResultsFile.read(out + "/sweep.h5")
    let second = try writeSweepSpec(dir, name: "b.json", lrs: [0.05])
    let refused = try rbp(["sweep", second, "--out", out, "--quiet"])
    #expect(
      refused.status != 0 && refused.err.contains("4 finished runs") && refused.err.contains("--rerun-changed"),
      "\(refused.err)")
    let redone = try rbp(["sweep", second, "--out", out, "--quiet", "--rerun-changed"])
    #expect(redone.status == 0, "\(redone.err)")
    let after = try SweepResultsFile.read(out + "/sweep.h5")
    #expect(after.count == 4 && zip(before, after).allSatisfy { $0.hash != $1.hash && $0.finalLoss != $1.finalLoss })
    #expect(after.allSatisfy { jsonObject($0.config)["lr"] as? Double == 0.05 })
    // The same spec again trains nothing: every result has its identity.
    let again = try rbp(["sweep", second, "--out", out])
    #expect(again.status == 0 && again.out.contains("4 runs, 0 failed"))
  }

  /// After a spec edit, runs that only the old spec trained (their
  /// result.json from before, no shard file of the new one) are missing,
  /// not done: merge refuses, and --partial marks them so.
  @Test func staleResultsDoNotCompleteAnEditedSweep() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let out = dir + "/out"
    let first = try writeSweepSpec(dir, name: "a.json", lrs: [0.03], seeds: [0, 1, 2, 3], epochs: 3)
    try #require(try rbp(["sweep", first, "--out", out, "--quiet"]).status == 0)
    // The edited spec: shard 0 of 2 runs; shard 1 is killed before it starts.
    let second = try writeSweepSpec(dir, name: "b.json", lrs: [0.05], seeds: [0, 1, 2, 3], epochs: 3)
    try #require(try rbp(["sweep", second, "--out", out, "--shard", "0/2", "--rerun-changed", "--quiet"]).status == 0)
    let manifest = try SweepManifest.read(from: out)
    let stale = manifest.runs.filter { $0.shard == 1 }.count
    try #require(stale > 0)
    // The old spec's shard file is refused by name; the user removes it, as told.
    let stray = try rbp(["sweep", "merge", out])
    #expect(stray.status != 0 && stray.err.contains("results-0-of-1.h5"), "\(stray.err)")
    try FileManager.default.removeItem(atPath: out + "/results-0-of-1.h5")
    let refused = try rbp(["sweep", "merge", out])
    #expect(refused.status != 0 && refused.err.contains("\(stale) of 4 runs have no result"), "\(refused.err)")
    #expect(try rbp(["sweep", "merge", out, "--partial"]).status == 0)
    let records = try SweepResultsFile.read(out + "/sweep.h5")
    #expect(records.filter { $0.status == "missing" }.count == stale)
    #expect(records.filter { $0.status == "done" }.allSatisfy { jsonObject($0.config)["lr"] as? Double == 0.05 })
  }

  @Test func failuresAreRecordedAndRetriedOnlyWhenAsked() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // A run whose solver cannot converge: failed, with its reason; its
    // losses are NaN, written as null.
    let spec = try writeSweepSpec(
      dir, seeds: [0], extraRuns: #"{"epochs": 5, "units": 4, "max-iterations": 1, "tolerance": 1e-12}"#)
    let out = dir + "/out"
    try #require(try rbp(["sweep", spec, "--out", out, "--quiet"]).status == 0)
    let text = try String(contentsOfFile: out + "/runs/run-0001/result.json", encoding: .utf8)
    let result = jsonObject(text)
    #expect(result["status"] as? String == "failed" && (result["reason"] as? String ?? "").contains("did not converge"))
    #expect(result["final_loss"] is NSNull && result["config"] is [String: Any], "\(text)")
    func modified(_ path: String) -> Date? {
      (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }
    let stamp = modified(out + "/runs/run-0001/result.json")
    usleep(20_000)
    #expect(try rbp(["sweep", spec, "--out", out, "--quiet"]).status == 0)
    #expect(modified(out + "/runs/run-0001/result.json") == stamp, "a failed run was trained again")
    #expect(try rbp(["sweep", spec, "--out", out, "--quiet", "--retry-failed"]).status == 0)
    #expect(modified(out + "/runs/run-0001/result.json") != stamp, "--retry-failed did not train it again")
    let status = jsonObject(try rbp(["sweep", "status", out, "--json"]).out)
    #expect(status["done"] as? Int == 1 && status["failed"] as? Int == 1 && status["missing"] as? Int == 0)
  }

  @Test func aStoppedRunKeepsItsLastGoodEpoch() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // Linear units at lr 0.5: the loss explodes in the third epoch and the
    // run stops; its results are those of its last good epoch, not nulls.
    let spec = dir + "/spec.json"
    try """
    {"data": "\(shipped("sine"))", "base": {"epochs": 30, "activation": "linear", "gain": 0.4, "optimizer": "sgd"},
     "grid": {"lr": [0.001, 0.5]}}
    """.write(toFile: spec, atomically: true, encoding: .utf8)
    let out = dir + "/out"
    #expect(try rbp(["sweep", spec, "--out", out, "--quiet"]).status == 0)
    let ck = try CheckpointFile.read(out + "/runs/run-0001/checkpoint.h5")
    let reason = try #require(ck.stopReason)
    #expect(ck.epoch >= 1, "\(reason)")
    let result = jsonObject(try String(contentsOfFile: out + "/runs/run-0001/result.json", encoding: .utf8))
    #expect(result["status"] as? String == "failed" && (result["reason"] as? String ?? "").contains(reason))
    #expect(result["epochs"] as? Int == ck.epoch)
    // (JSON's decimals may round the last bit)
    func close(_ a: Double?, _ b: Double?) -> Bool { a != nil && b != nil && abs(a! - b!) <= 1e-14 * abs(b!) }
    #expect(close(result["final_loss"] as? Double, ck.history[.loss]?.last), "\(result)")
    #expect(close(result["final_val_loss"] as? Double, ck.history[.valLoss]?.last), "\(result)")
    #expect((result["curve"] as? [Double])?.count == ck.epoch, "\(result)")
    try #require(try rbp(["sweep", "merge", out]).status == 0)
    let csv = try rbp(["sweep", "export", out, "--csv"])
    let row = try #require(csv.out.split(separator: "\n").first { $0.hasPrefix("run-0001,") })
    #expect(row.contains(",failed,") && row.contains(",\(ck.epoch),"), "\(row)")
  }

  @Test func exportHasOneRowPerRunWithItsSettings() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let spec = try writeSweepSpec(dir, lrs: [0.01, 0.1], seeds: [0, 1])
    let out = dir + "/out"
    try #require(try rbp(["sweep", spec, "--out", out, "--quiet", "--shard", "0/2"]).status == 0)
    let csv = try rbp(["sweep", "export", out, "--csv"])
    #expect(csv.status == 0, "\(csv.err)")
    let lines = csv.out.split(separator: "\n").map(String.init)
    #expect(lines.count == 5)
    let header = lines[0].split(separator: ",").map(String.init)
    for column in [
      "name", "status", "reason", "epochs_trained", "seconds", "final_loss", "final_val_loss", "lr", "seed",
      "units", "activation", "stop_when_solved",
    ] {
      #expect(header.contains(column), "\(column) not in \(header)")
    }
    let statusColumn = header.firstIndex(of: "status")!
    let states = lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false)[statusColumn] }
    #expect(states.filter { $0 == "done" }.count + states.filter { $0 == "missing" }.count == 4)
    try #require(try rbp(["sweep", spec, "--out", out, "--quiet", "--shard", "1/2"]).status == 0)
    let json = try rbp(["sweep", "export", out, "--json", "--out", dir + "/runs.json"])
    #expect(json.status == 0)
    let rows =
      (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/runs.json"))))
      as? [[String: Any]] ?? []
    #expect(rows.count == 4 && rows.allSatisfy { $0["status"] as? String == "done" })
    #expect(Set(rows.compactMap { $0["lr"] as? Double }) == [0.01, 0.1])
    // sweep.h5 columns have their types: integers, flags, floats.
    try #require(try rbp(["sweep", "merge", out]).status == 0)
    let file = try HDF5File.open(out + "/sweep.h5")
    #expect(try file.dataset("index").kind == .integer && file.dataset("done").kind == .integer)
    #expect(try file.dataset("config/units").kind == .integer && file.dataset("config/lr").kind == .float)
    #expect(try file.dataset("config/lr").read(as: Double.self).sorted() == [0.01, 0.01, 0.1, 0.1])
  }

  /// SIGTERM mid-sweep: the runs in progress save their state, the sweep
  /// exits with 143; the same command finishes it, with checkpoints
  /// byte-identical to a sweep never interrupted.
  /// Two workers, or one lockstep group holding all three runs.
  @Test(arguments: [["--jobs", "2"], ["--jobs", "1", "--lockstep", "3"]])
  func aTerminatedSweepFinishesIdentically(workers: [String]) throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let spec = dir + "/spec.json"
    try """
    {"data": "\(shipped("figure8"))", "base": {"epochs": 400}, "grid": {"seed": [0, 1, 2]}}
    """.write(toFile: spec, atomically: true, encoding: .utf8)
    try #require(try rbp(["sweep", spec, "--out", dir + "/whole", "--quiet", "--jobs", "2"]).status == 0)
    let cut = dir + "/cut"
    let process = try ChildProcess(
      rbpBinary,
      [
        "sweep", spec, "--out", cut, "--quiet", "--checkpoint-seconds", "0.05",
      ] + workers)
    // Wait until a run has saved a checkpoint mid-run, then terminate.
    let deadline = Date().addingTimeInterval(60)
    while process.isRunning && Date() < deadline,
      !["run-0000", "run-0001", "run-0002"].contains(where: {
        FileManager.default.fileExists(atPath: "\(cut)/runs/\($0)/checkpoint.h5")
      })
    {
      usleep(5_000)
    }
    process.signal(SIGTERM)
    let ending = process.wait()
    let interrupted = ending == .exit(128 + SIGTERM)
    #expect(interrupted || ending == .exit(0), "\(ending)")
    if interrupted {
      let status = jsonObject(try rbp(["sweep", "status", cut, "--json"]).out)
      #expect((status["missing"] as? Int ?? 0) >= 1, "\(status)")
    }
    // The group's runs each saved their own state, none of them finished.
    if interrupted && workers.contains("--lockstep") {
      for run in ["run-0000", "run-0001", "run-0002"] {
        #expect(!FileManager.default.fileExists(atPath: "\(cut)/runs/\(run)/result.json"), "\(run)")
        let epoch = try CheckpointFile.read("\(cut)/runs/\(run)/checkpoint.h5").epoch
        #expect(epoch < 400, "\(run): \(epoch)")
      }
    }
    let resumed = try rbp(["sweep", spec, "--out", cut, "--quiet"] + workers)
    #expect(resumed.status == 0, "\(resumed.err)")
    for run in ["run-0000", "run-0001", "run-0002"] {
      let a = bytes("\(dir)/whole/runs/\(run)/checkpoint.h5"), b = bytes("\(cut)/runs/\(run)/checkpoint.h5")
      #expect(a != nil && a == b, "\(run) differs after the interruption")
    }
  }

  @Test func aTerminatedTrainingRunSavesAndResumesIdentically() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let args = ["--data", shipped("figure8"), "--epochs", "600", "--quiet", "--checkpoint-every", "1"]
    try #require(try rbp(["train", "--out", dir + "/whole"] + args).status == 0)
    let process = try ChildProcess(rbpBinary, ["train", "--out", dir + "/cut"] + args, standardError: .pipe)
    let deadline = Date().addingTimeInterval(60)
    while process.isRunning && Date() < deadline && !FileManager.default.fileExists(atPath: dir + "/cut/checkpoint.h5")
    {
      usleep(5_000)
    }
    process.signal(SIGTERM)
    let message = String(decoding: try #require(process.standardError).readDataToEndOfFile(), as: UTF8.self)
    let ending = process.wait()
    try #require(ending == .exit(128 + SIGTERM), "\(ending): \(message)")
    #expect(message.contains("interrupted by SIGTERM at epoch") && message.contains("--resume"))
    let epoch = try CheckpointFile.read(dir + "/cut/checkpoint.h5").epoch
    #expect(epoch > 0 && epoch < 600)
    let resumed = try rbp(["train", "--out", dir + "/cut", "--resume"] + args)
    #expect(resumed.status == 0, "\(resumed.err)")
    #expect(bytes(dir + "/whole/checkpoint.h5") == bytes(dir + "/cut/checkpoint.h5"))
  }

  @Test func aRunLockedByAnotherProcessIsSkipped() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let spec = try writeSweepSpec(dir, seeds: [0, 1])
    let out = dir + "/out"
    try FileManager.default.createDirectory(atPath: out + "/runs/run-0001", withIntermediateDirectories: true)
    let fd = open(out + "/runs/run-0001/lock", O_CREAT | O_RDWR, 0o644)
    try #require(fd >= 0 && flock(fd, LOCK_EX) == 0)
    _ = "otherhost 4242\n".withCString { write(fd, $0, strlen($0)) }
    let r = try rbp(["sweep", spec, "--out", out, "--quiet"])
    #expect(r.status == 0 && r.err.contains("run-0001 is being trained by another process"), "\(r.err)")
    let status = jsonObject(try rbp(["sweep", "status", out, "--json"]).out)
    #expect(status["running"] as? Int == 1 && status["done"] as? Int == 1, "\(status)")
    let table = try rbp(["sweep", "status", out])
    #expect(table.out.contains("run-0001 is being trained by otherhost 4242"), "\(table.out)")
    close(fd)
    #expect(try rbp(["sweep", spec, "--out", out, "--quiet"]).status == 0)
    #expect(try rbp(["sweep", "merge", out]).status == 0)
  }

  @Test func launcherVariablesGiveTheShardOrAClearError() throws {
    func shard(_ env: [String: String], shards: Int? = nil) throws -> String? {
      try Shard.fromEnvironment(env, shards: shards)?.description
    }
    // A stepped array 0-6:2 is four shards.
    for (id, expected) in [(0, "0/4"), (2, "1/4"), (4, "2/4"), (6, "3/4")] {
      #expect(
        try shard([
          "SLURM_ARRAY_TASK_ID": "\(id)", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "6",
          "SLURM_ARRAY_TASK_STEP": "2", "SLURM_ARRAY_TASK_COUNT": "4",
        ]) == expected)
    }
    // An array 1-4 starts at shard 0.
    #expect(
      try shard([
        "SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4",
        "SLURM_ARRAY_TASK_COUNT": "4",
      ]) == "2/4")
    // One task resubmitted alone: an error without --shards, its own shard with it.
    let alone = [
      "SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "1",
      "SLURM_ARRAY_TASK_COUNT": "1",
    ]
    #expect(throws: ConfigError.self) { try shard(alone) }
    #expect(try shard(alone, shards: 4) == "1/4")
    // A list is not a range.
    #expect(throws: ConfigError.self) {
      try shard([
        "SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "9",
        "SLURM_ARRAY_TASK_COUNT": "3",
      ])
    }
    // Two tasks in the batch script (no srun): an error, not shard 0/2.
    #expect(throws: ConfigError.self) { try shard(["SLURM_NTASKS": "2", "SLURM_PROCID": "0"]) }
    #expect(try shard(["SLURM_NTASKS": "2", "SLURM_PROCID": "1", "SLURM_STEP_ID": "0"]) == "1/2")
    #expect(try shard(["SLURM_NTASKS": "1", "SLURM_PROCID": "0"]) == nil)
    // An array whose tasks run two ranks each.
    #expect(
      try shard([
        "SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_NTASKS": "2", "SLURM_PROCID": "1",
        "SLURM_STEP_ID": "0",
      ]) == "3/6")
    #expect(try shard(["OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"]) == "1/2")
    #expect(
      defaultJobs(["SLURM_CPUS_PER_TASK": "3"]) == 3 && defaultJobs(["OMP_NUM_THREADS": "2"]) == 2
        && defaultJobs([:]) == 1)
  }

  /// The cost the shards are balanced by follows the work of a run, counted
  /// independently: every matrix product of a step is N×N by patterns (and
  /// steps), so a run's work grows as N², as the patterns, the steps and the
  /// epochs.
  /// A sweep's runs share one read of the dataset; each ends as `rbp
  /// train` of its configuration does, which reads the file itself
  /// (trajectories validated on the training set, and on a split of it).
  @Test func sweepRunsTrainAsRbpTrainDoes() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let spec = dir + "/spec.json", data = dir + "/dx.h5"
    try #require(try rbp(["datasets", "make", "delayed-xor", "--count", "23", "--no-val", "--out", data]).status == 0)
    try """
    {"data": "\(data)", "base": {"epochs": 4, "units": 6, "batch": 5},
     "runs": [{"seed": 1}, {"seed": 2, "val_fraction": 0.3}, {"seed": 3, "precision": "f64"}]}
    """.write(toFile: spec, atomically: true, encoding: .utf8)
    try #require(try rbp(["sweep", spec, "--out", dir + "/s", "--jobs", "2", "--quiet"]).status == 0)
    // A single shard holding every run is the whole sweep: one file, twice.
    let whole = try HDF5File.open(dir + "/s/sweep.h5")
    #expect(try whole.integerAttribute("complete") == 1 && whole.integerAttribute("missing") == 0)
    #expect(try whole.integerAttribute("runs_in_sweep") == 3 && whole.stringAttribute("shard") == "0/1")
    #expect(
      FileManager.default.contents(atPath: dir + "/s/sweep.h5")
        == FileManager.default.contents(atPath: dir + "/s/results-0-of-1.h5"))
    #expect(try SweepResultsFile.read(dir + "/s/sweep.h5").map(\.status) == ["done", "done", "done"])
    for run in 0..<3 {
      let folder = dir + "/s/runs/" + SweepPlan.runName(run)
      let result = jsonObject(try String(contentsOfFile: folder + "/result.json", encoding: .utf8))
      let config = try JSONSerialization.data(withJSONObject: try #require(result["config"] as? [String: Any]))
      try config.write(to: URL(fileURLWithPath: dir + "/config-\(run).json"))
      let trained = try rbp([
        "train", "--data", data, "--out", dir + "/train-\(run)",
        "--config", dir + "/config-\(run).json", "--quiet",
      ])
      try #require(trained.status == 0, "\(trained.err)")
      let (a, b) = (
        try CheckpointFile.read(folder + "/checkpoint.h5"),
        try CheckpointFile.read(dir + "/train-\(run)/checkpoint.h5")
      )
      #expect(a.epoch == 4 && a.parameters.values == b.parameters.values, "run \(run)")
      #expect(a.history == b.history, "run \(run)")
    }
  }

  /// Runs trained in lockstep groups of any size, by any number of jobs,
  /// write the bytes each writes alone: runs that end early, fail or do
  /// not resolve, in both precisions, with and without a validation split.
  @Test func lockstepGroupsWriteWhatRunsWriteAlone() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let spec = dir + "/spec.json"
    try """
    {"data": "\(shipped("encoder"))", "base": {"epochs": 10, "units": 11, "batch": 4},
     "grid": {"lr": [0.05, 0.3], "seed": [0, 1, 2]},
     "runs": [{"precision": "f64", "val_fraction": 0.25}, {"patience": 2, "epochs": 30, "min_delta": 1},
              {"max_iterations": 1, "tolerance": 1e-12}, {"optimizer": "sgd", "lr": 3, "epochs": 40},
              {"units": 3}]}
    """.write(toFile: spec, atomically: true, encoding: .utf8)
    let ways = [["--jobs", "1", "--lockstep", "1"], ["--jobs", "2", "--lockstep", "3"], ["--jobs", "1"]]
    for (k, way) in ways.enumerated() {
      let ran = try rbp(["sweep", spec, "--out", dir + "/s\(k)", "--quiet"] + way)
      try #require(ran.status == 0, "\(way): \(ran.err)")
    }
    let runs = try FileManager.default.contentsOfDirectory(atPath: dir + "/s0/runs").sorted()
    try #require(runs.count == 11)
    var statuses: [String] = []
    for run in runs {
      let alone = jsonObject(try String(contentsOfFile: "\(dir)/s0/runs/\(run)/result.json", encoding: .utf8))
      statuses.append(alone["status"] as? String ?? "?")
      for k in 1..<ways.count {
        for file in ["checkpoint.h5", "best.h5"] {
          let a = bytes("\(dir)/s0/runs/\(run)/\(file)"), b = bytes("\(dir)/s\(k)/runs/\(run)/\(file)")
          #expect(a == b, "\(run)/\(file) differs with \(ways[k])")
        }
        var result = jsonObject(try String(contentsOfFile: "\(dir)/s\(k)/runs/\(run)/result.json", encoding: .utf8))
        var reference = alone
        (result["seconds"], reference["seconds"]) = (nil, nil)
        // A stopped run's reason names its checkpoint, in its own folder.
        result["reason"] = (result["reason"] as? String)?.replacingOccurrences(of: "/s\(k)/", with: "/s0/")
        #expect(NSDictionary(dictionary: result) == NSDictionary(dictionary: reference), "\(run) with \(ways[k])")
      }
    }
    #expect(statuses.filter { $0 == "failed" }.count == 2 && statuses.filter { $0 == "done" }.count == 9, "\(statuses)")
    let refused = try rbp(["sweep", spec, "--out", dir + "/s3", "--lockstep", "0"])
    #expect(refused.status != 0 && refused.err.contains("--lockstep must be at least 1, got 0"), "\(refused.err)")
  }

  /// The README's planning benchmark: its grid is the 100,000 runs it
  /// says, and one shard of one run trains.
  @Test func thePlanningBenchmarksGridHasItsRuns() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let ran = try rbp([
      "sweep", repositoryRoot + "/scripts/grid_100k.json", "--out", dir + "/g", "--shard", "0/100000", "--quiet",
    ])
    try #require(ran.status == 0, "\(ran.err)")
    let results = try HDF5File.open(dir + "/g/results-0-of-100000.h5")
    #expect(try results.integerAttribute("runs_in_sweep") == 100_000 && results.integerAttribute("runs_in_shard") == 1)
  }

  @Test func aRunsCostIsItsOperationCount() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    func costs(_ data: String, _ grid: String) throws -> [Double] {
      let path = dir + "/spec.json"
      try #"{"data": "\#(data)", "grid": \#(grid)}"#.write(toFile: path, atomically: true, encoding: .utf8)
      return try SweepPlan(spec: SweepSpec.parse(json: Data(contentsOf: URL(fileURLWithPath: path)), source: path))
        .runs.map(\.cost)
    }
    let units = try costs(shipped("xor"), #"{"units": [4, 16, 64]}"#)
    #expect(units[1] / units[0] == 16 && units[2] / units[0] == 256, "cost by units: \(units)")
    let epochs = try costs(shipped("xor"), #"{"epochs": [10, 30]}"#)
    #expect(epochs[1] / epochs[0] == 3, "cost by epochs: \(epochs)")
    // Patterns and steps: encoder (8 patterns) against xor (4); figure8 (32 steps) against sine (40).
    let xor = try costs(shipped("xor"), #"{"units": [8]}"#), encoder = try costs(shipped("encoder"), #"{"units": [8]}"#)
    #expect(encoder[0] / xor[0] == 2, "cost by patterns: \(xor) \(encoder)")
    let figure8 = try costs(shipped("figure8"), #"{"units": [8]}"#),
      sine = try costs(shipped("sine"), #"{"units": [8]}"#)
    #expect(sine[0] / figure8[0] == 40.0 / 32, "cost by steps: \(figure8) \(sine)")
  }

  /// Runs of very different cost are dealt so that each shard gets about
  /// the same work, whatever order the grid puts them in.
  @Test func shardsAreBalancedByCost() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/spec.json"
    try """
    {"data": "\(shipped("xor"))", "base": {"epochs": 10}, "grid": {"seed": [0, 1, 2, 3, 4, 5, 6, 7], "units": [4, 64]}}
    """.write(toFile: path, atomically: true, encoding: .utf8)
    let plan = try SweepPlan(spec: SweepSpec.parse(json: Data(contentsOf: URL(fileURLWithPath: path)), source: path))
    for n in [2, 4] {
      let assignment = plan.assignment(shards: n)
      var load = [Double](repeating: 0, count: n)
      for run in plan.runs { load[assignment[run.index]] += run.cost }
      #expect(load.max()! <= 1.01 * load.min()!, "\(n) shards: \(load)")
      // index % n would give one shard all the 64-unit runs.
      var naive = [Double](repeating: 0, count: n)
      for run in plan.runs { naive[run.index % n] += run.cost }
      #expect(naive.max()! > 2 * naive.min()!)
    }
  }
}

@Suite("Sweep manifests")
struct SweepManifestTests {
  /// A manifest reads back as it was written; the same manifest spelt
  /// otherwise (re-indented by Python's json module) reads the same; a run
  /// line with a shard outside the split, or out of order, is refused.
  @Test func manifestsReadBackWhateverTheirSpelling() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let spec = try writeSweepSpec(dir, lrs: [0.01, 0.03], seeds: [0, 1, 2])
    let plan = try SweepPlan(spec: SweepSpec.parse(json: Data(contentsOf: URL(fileURLWithPath: spec)), source: spec))
    let manifest = SweepManifest(plan: plan, shards: 4)
    #expect(manifest.runs.count == 6 && Set(manifest.runs.map(\.hash)).count == 6)
    for folder in ["a", "b", "c", "d", "e"] {
      try FileManager.default.createDirectory(atPath: dir + "/" + folder, withIntermediateDirectories: true)
      try manifest.write(to: dir + "/" + folder)
    }
    #expect(try SweepManifest.read(from: dir + "/a") == manifest)
    // The file as written goes by the direct reader, a re-indented one by JSON.
    let written = try Data(contentsOf: URL(fileURLWithPath: dir + "/a/manifest.json"))
    #expect(SweepManifest.splitRunLines(written)?.runs == manifest.runs)
    try python(
      """
      import json, sys
      with open(sys.argv[1]) as f: m = json.load(f)
      with open(sys.argv[1], "w") as f: json.dump(m, f, indent=4)
      """, [dir + "/b/manifest.json"])
    #expect(try SweepManifest.read(from: dir + "/b") == manifest)
    #expect(SweepManifest.splitRunLines(try Data(contentsOf: URL(fileURLWithPath: dir + "/b/manifest.json"))) == nil)
    let text = try String(contentsOfFile: dir + "/a/manifest.json", encoding: .utf8)
    let line = manifest.runs[2]
    let damaged = [
      "c": text.replacingOccurrences(
        of: #""name": "\#(line.name)", "shard": \#(line.shard)}"#,
        with: #""name": "\#(line.name)", "shard": 4}"#),
      "d": text.replacingOccurrences(of: #""index": 2,"#, with: #""index": 3,"#),
      "e": text.replacingOccurrences(of: #""index": 2,"#, with: #""index": -2,"#),
    ]
    for (folder, bytes) in damaged {
      #expect(bytes != text)
      try bytes.write(toFile: dir + "/\(folder)/manifest.json", atomically: true, encoding: .utf8)
      #expect(throws: ConfigError.self, "\(folder)") { try SweepManifest.read(from: dir + "/" + folder) }
    }
  }
}
