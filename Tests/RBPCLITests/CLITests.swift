// The command line end to end, on the shipped datasets: `rbp grad` against
// the library and finite differences; identical checkpoints for any
// --threads, any sweep --jobs, and across --resume; a sweep with a failing
// run; every command once; bad flags and configs giving one-line errors,
// a non-zero exit and no output file.

import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTestSupport
import RBPTrain
import Testing

@Suite("Command line", .serialized)
struct CLITests {
  @Test func gradMatchesTheLibraryAndFiniteDifferences() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for (task, epochs) in [("xor", "20"), ("delayed-xor", "3")] {
      let run = dir + "/" + task
      let train = try rbp([
        "train", "--data", shipped(task), "--out", run, "--epochs", epochs, "--quiet", "--precision", "f64",
      ])
      try #require(train.status == 0, "\(train.err)")
      let ck = try CheckpointFile.read(run + "/checkpoint.h5")
      #expect(
        try rbp(["grad", "--checkpoint", run + "/checkpoint.h5", "--data", shipped(task), "--out", run + "/g.h5"])
          .status == 0)
      #expect(
        try rbp([
          "grad", "--checkpoint", run + "/checkpoint.h5", "--data", shipped(task), "--out", run + "/fd.h5",
          "--method", "fd",
        ]).status == 0)
      let layout = ck.parameters.layout
      let analytic = try GradientsFile.read(run + "/g.h5", layout: layout)
      let fd = try GradientsFile.read(run + "/fd.h5", layout: layout)
      // The library on the same data and checkpoint.
      let library: Parameters<Double>
      // rbp grad solves with the default (auto) solvers at the f64 default
      // tolerances, and no stabiliser.
      let settings = SteadySolverSettings()
      switch try DatasetFile.read(shipped(task), as: Double.self) {
      case .steady(let b): library = try ck.steadyNetwork(Double.self).gradient(batch: b, settings: settings).gradient
      case .trajectory(let b): library = try ck.trajectoryNetwork(Double.self).gradient(batch: b).gradient
      }
      #expect(analytic.gradient == library, "\(task): rbp grad differs from the library")
      // Each component against its own size (central differences with
      // h = 1e-6 are good to about 1e-9 absolute).
      let worst = zip(analytic.gradient.values, fd.gradient.values).map { abs($0 - $1) / max(abs($1), 1e-4) }.max() ?? 0
      #expect(worst < 1e-5, "\(task): analytic vs finite differences, relative \(worst)")
      let file = try HDF5File.open(run + "/g.h5")
      #expect(try file.stringAttribute("format") == "rbp-gradients")
      #expect(file.exists("states") && file.exists("adjoint") && file.exists("grad/W"))
    }
  }

  @Test func checkpointsAreIdenticalForAnyThreadCount() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for task in ["patterns", "delayed-xor"] {
      for threads in ["1", "2"] {
        let r = try rbp([
          "train", "--data", shipped(task), "--out", "\(dir)/\(task)-\(threads)", "--epochs", "4",
          "--threads", threads, "--quiet",
        ])
        try #require(r.status == 0, "\(r.err)")
      }
      let one = bytes("\(dir)/\(task)-1/checkpoint.h5"), two = bytes("\(dir)/\(task)-2/checkpoint.h5")
      #expect(one != nil && one == two, "\(task): --threads 1 and 2 give different checkpoints")
    }
  }

  @Test func resumeContinuesExactly() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for task in ["patterns", "figure8"] {
      let whole = "\(dir)/\(task)-10", split = "\(dir)/\(task)-5+5"
      #expect(
        try rbp(["train", "--data", shipped(task), "--out", whole, "--epochs", "10", "--batch", "8", "--quiet"]).status
          == 0)
      #expect(
        try rbp(["train", "--data", shipped(task), "--out", split, "--epochs", "5", "--batch", "8", "--quiet"]).status
          == 0)
      #expect(try CheckpointFile.read(split + "/checkpoint.h5").epoch == 5)
      #expect(
        try rbp(["train", "--data", shipped(task), "--out", split, "--epochs", "10", "--resume", "--quiet"]).status == 0
      )
      let a = bytes(whole + "/checkpoint.h5"), b = bytes(split + "/checkpoint.h5")
      #expect(a != nil && a == b, "\(task): 10 epochs and 5 + resumed 5 differ")
    }
  }

  @Test func sweepRecordsAFailingRunAndFinishesTheOthers() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let spec = """
      {"data": "\(shipped("xor"))", "base": {"epochs": 15, "units": 4},
       "grid": {"seed": [0, 1]},
       "runs": [{"epochs": 15, "units": 4, "max-iterations": 1, "tolerance": 1e-12}]}
      """
    try spec.write(toFile: dir + "/spec.json", atomically: true, encoding: .utf8)
    var results: [[SweepRecord]] = []
    for jobs in ["1", "2"] {
      let out = dir + "/jobs" + jobs
      let r = try rbp(["sweep", dir + "/spec.json", "--out", out, "--jobs", jobs, "--quiet"])
      try #require(r.status == 0, "\(r.err)")
      let records = try SweepResultsFile.read(out + "/sweep.h5")
      #expect(records.count == 3)
      #expect(records[0].status == "done" && records[1].status == "done")
      #expect(records[2].status == "failed" && records[2].reason.contains("did not converge"), "\(records[2].reason)")
      results.append(records)
      for run in ["run-0000", "run-0001"] {
        #expect(bytes("\(dir)/jobs\(jobs)/runs/\(run)/checkpoint.h5") != nil, "jobs \(jobs): \(run) has no checkpoint")
      }
    }
    // --jobs does not change any checkpoint.
    for run in ["run-0000", "run-0001"] {
      #expect(bytes("\(dir)/jobs1/runs/\(run)/checkpoint.h5") == bytes("\(dir)/jobs2/runs/\(run)/checkpoint.h5"))
    }
    #expect(results[0].map(\.finalLoss).prefix(2) == results[1].map(\.finalLoss).prefix(2))
    #expect(results[0].map(\.curve) == results[1].map(\.curve))
    // Shards: 0/2 and 1/2 into one folder, then merge; a rerun skips finished runs.
    let sharded = dir + "/sharded"
    #expect(try rbp(["sweep", dir + "/spec.json", "--out", sharded, "--shard", "0/2", "--quiet"]).status == 0)
    #expect(try rbp(["sweep", dir + "/spec.json", "--out", sharded, "--shard", "1/2", "--quiet"]).status == 0)
    #expect(try rbp(["sweep", "merge", sharded]).status == 0)
    let merged = try SweepResultsFile.read(sharded + "/sweep.h5")
    #expect(
      merged.map(\.index) == [0, 1, 2] && merged.map(\.finalLoss).prefix(2) == results[0].map(\.finalLoss).prefix(2))
    // A finished run is not trained again: its files are the very same
    // files (an atomic rewrite would give a new inode), not equal copies.
    func identity(_ path: String) -> (UInt64, Date)? {
      guard let a = try? FileManager.default.attributesOfItem(atPath: path),
        let inode = (a[.systemFileNumber] as? NSNumber)?.uint64Value, let date = a[.modificationDate] as? Date
      else { return nil }
      return (inode, date)
    }
    let files = ["checkpoint.h5", "result.json"].map { sharded + "/runs/run-0000/" + $0 }
    let before = files.map(identity)
    #expect(before.allSatisfy { $0 != nil }, "run-0000 has no checkpoint or result")
    let again = try rbp(["sweep", dir + "/spec.json", "--out", sharded, "--shard", "0/2"])
    #expect(again.status == 0)
    for (file, old) in zip(files, before) {
      let new = identity(file)
      #expect(new?.0 == old?.0 && new?.1 == old?.1, "\(file) was written again by the rerun")
    }
  }

  /// A run driven into infinities (BCE of logistic outputs that round to
  /// exactly 1 under a huge learning rate): every such step is rejected,
  /// so nothing non-finite reaches the parameters, the optimizer or the
  /// recorded history, and the run still ends with a loadable checkpoint.
  @Test func trainingIntoInfinityNeverRecordsIt() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let r = try rbp([
      "train", "--data", shipped("xor"), "--out", dir, "--epochs", "30", "--activation", "logistic",
      "--loss", "bce", "--lr", "100", "--optimizer", "sgd", "--quiet",
    ])
    let problems = nonFiniteRecords(try CheckpointFile.read(dir + "/checkpoint.h5"))
    #expect(problems.isEmpty, "exit \(r.status): \(r.err): \(problems)")
  }

  @Test func everyCommandRunsOnTheShippedDatasets() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let steady = dir + "/steady", traj = dir + "/traj"
    #expect(try rbp(["datasets", "make", "encoder", "--out", dir + "/enc.h5", "--seed", "3"]).status == 0)
    // --json: one object per epoch, then the run's.
    let lines = try rbp(["train", "--data", dir + "/enc.h5", "--out", steady, "--epochs", "3", "--json"]).out
      .split(separator: "\n")
    #expect(lines.count == 4 && lines.last?.contains("\"checkpoint\":\"\(steady)/checkpoint.h5\"") == true, "\(lines)")
    #expect(
      try rbp([
        "train", "--data", shipped("sine"), "--out", traj, "--epochs", "2", "--bptt", "checkpointed",
        "--leak", "0.5", "--quiet",
      ]).status == 0)
    let eval = try rbp(["eval", "--checkpoint", steady + "/checkpoint.h5", "--data", dir + "/enc.h5", "--json"])
    #expect(eval.status == 0 && eval.out.contains("\"loss\""))
    #expect(
      try rbp(["grad", "--checkpoint", traj + "/checkpoint.h5", "--data", shipped("sine"), "--out", dir + "/g.h5"])
        .status == 0)
    #expect(
      try rbp(["invert", "--checkpoint", traj + "/checkpoint.h5", "--states", dir + "/g.h5", "--out", dir + "/a.h5"])
        .status == 0)
    #expect(try HDF5File.open(dir + "/a.h5").dataset("drive").shape == [1, 40, 8])
    #expect(
      try rbp([
        "fixed-points", "--checkpoint", steady + "/checkpoint.h5", "--data", dir + "/enc.h5",
        "--starts", "3", "--out", dir + "/f.h5",
      ]).status == 0)
    try checkFixedPointsFile(dir + "/f.h5", checkpoint: steady + "/checkpoint.h5", data: dir + "/enc.h5")
    // The checkpoint records what the run is: version, resolved configuration, data and identity.
    let trained = try CheckpointFile.read(steady + "/checkpoint.h5")
    #expect(trained.rbpVersion == RBPVersion.string)
    let dataHash = try ContentHash.ofFile(dir + "/enc.h5")
    #expect(trained.dataPath == dir + "/enc.h5" && trained.dataHash == dataHash)
    let resolved =
      (try? JSONSerialization.jsonObject(with: Data((trained.resolvedConfig ?? "").utf8))) as? [String: Any] ?? [:]
    #expect(
      resolved["epochs"] as? Int == 3 && resolved["units"] != nil && resolved["lr"] != nil
        && resolved["solver"] as? String == "auto",
      "\(resolved)")
    #expect(trained.runHash?.count == 16)
    let version = try rbp(["--version"])
    #expect(version.status == 0 && version.out.hasPrefix("rbp \(RBPVersion.string) (kernels: \(KernelISA.active))"))
    let inspect = try rbp(["inspect", steady + "/checkpoint.h5"])
    #expect(inspect.status == 0 && inspect.out.contains("rbp-checkpoint") && inspect.out.contains("last epoch"))
    #expect(try rbp(["--help"]).status == 0)
    for command in ["train", "eval", "grad", "invert", "fixed-points", "sweep", "inspect", "datasets"] {
      #expect(try rbp([command, "--help"]).status == 0, "\(command) --help")
    }
  }

  @Test func badInputGivesOneLineErrorsAndNoOutput() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try #"{"lr": 0.1, "learning_rate": 2}"#.write(toFile: dir + "/unknown.json", atomically: true, encoding: .utf8)
    try #"{"epochs": "ten"}"#.write(toFile: dir + "/type.json", atomically: true, encoding: .utf8)
    try "not json".write(toFile: dir + "/broken.json", atomically: true, encoding: .utf8)
    let data = shipped("xor")
    let cases: [([String], String)] = [
      (
        ["train", "--data", data, "--out", dir + "/o1", "--activation", "sigmoid"],
        "--activation must be tanh, logistic, linear or relu, got sigmoid"
      ),
      (["train", "--data", data, "--out", dir + "/o2", "--lr=-1"], "lr must be positive"),
      (["train", "--data", data, "--out", dir + "/o3", "--units", "abc"], "units"),
      (
        ["train", "--data", data, "--out", dir + "/o4", "--epochs", "3", "--loss", "bce", "--activation", "tanh"], "bce"
      ),
      (
        ["train", "--data", data, "--out", dir + "/o5", "--config", dir + "/unknown.json"],
        "unknown key 'learning_rate'"
      ),
      (["train", "--data", data, "--out", dir + "/o6", "--config", dir + "/type.json"], "'epochs'"),
      (["train", "--data", data, "--out", dir + "/o7", "--config", dir + "/broken.json"], "not valid JSON"),
      (["train", "--data", dir + "/missing.h5", "--out", dir + "/o8"], "missing.h5: no such file"),
      (
        ["train", "--data", data, "--out", dir + "/o9", "--model", "trajectory"],
        "does not fit \(data), a steady dataset"
      ),
      (["train", "--data", data, "--out", dir + "/o10", "--resume"], "checkpoint.h5: no such file"),
      (["train", "--data", data, "--out", dir + "/o11", "--solver", "bisection"], "solver must be"),
      (["grad", "--checkpoint", dir + "/none.h5", "--data", data, "--out", dir + "/g.h5"], "none.h5: no such file"),
      (["datasets", "make", "mnist", "--out", dir + "/m.h5"], "unknown task 'mnist'"),
      (["sweep", dir + "/unknown.json", "--out", dir + "/s"], "unknown key 'learning_rate'; expected data, base"),
      (
        ["sweep", dir + "/broken.json", "--out", dir + "/s", "--shard", "3/2"],
        "not valid JSON (Invalid value around character 1"
      ),
      (["inspect", dir + "/broken.json"], "cannot open file as HDF5"),
      (["bench", "kernels", "--precision", "f16"], "--precision"),
      (["train", "--data", data, "--out", dir + "/o12", "--lr", "inf"], "--lr must be a finite number"),
      (["train", "--data", data, "--out", dir + "/o13", "--gain", "nan"], "--gain must be a finite number"),
      (["train", "--data", data, "--out", dir + "/o14", "--tolerance", "nan"], "--tolerance must be a finite number"),
      (["train", "--data", data, "--out", dir + "/o15", "--lr", "1e400"], "--lr must be a finite number"),
      (
        ["train", "--data", data, "--out", dir + "/o16", "--units", "99999999999"],
        "--units must be between 1 and 1048576"
      ),
      (
        ["train", "--data", data, "--out", dir + "/o17", "--solver", "anderson", "--memory", "1000000000"],
        "--memory must be between 1 and 1000"
      ),
      (
        ["datasets", "make", "delayed-xor", "--count", "1000000000000", "--out", dir + "/huge.h5"],
        "outside what a dataset may hold"
      ),
    ]
    for (arguments, expected) in cases {
      let r = try rbp(arguments)
      #expect(r.status != 0, "\(arguments) succeeded")
      let lines = r.err.split(separator: "\n")
      #expect(lines.count == 1, "\(arguments): \(lines.count) lines on stderr: \(r.err)")
      #expect(r.err.hasPrefix("Error: ") && r.err.contains(expected), "\(arguments): \(r.err)")
    }
    // No partial outputs: no checkpoint, gradients or dataset was left behind.
    for name in ["o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8", "o9", "o11", "o12", "o13", "o14", "o15", "o16", "o17"]
    {
      #expect(!FileManager.default.fileExists(atPath: "\(dir)/\(name)"), "\(name): an output folder was left behind")
    }
    for file in ["g.h5", "m.h5", "huge.h5"] {
      #expect(!FileManager.default.fileExists(atPath: dir + "/" + file), "\(file) was left behind")
    }
  }

  /// `--resume` continues the same run: a change to what defines it, or
  /// fewer epochs than are done, is refused and the checkpoint is untouched;
  /// more epochs and a new learning rate are accepted.
  @Test func resumeRefusesChangesToTheRun() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try #require(try rbp(["train", "--data", shipped("xor"), "--out", dir, "--epochs", "3", "--quiet"]).status == 0)
    let before = bytes(dir + "/checkpoint.h5")
    for (flags, expected) in [
      (["--units", "7"], "units is 4 in the checkpoint"), (["--activation", "tanh"], "activation"),
      (["--seed", "9"], "seed"), (["--precision", "f64"], "precision"),
      (["--epochs", "2"], "at epoch 3, so --epochs 2 leaves nothing to train"),
    ] {
      var arguments = ["train", "--data", shipped("xor"), "--out", dir, "--resume", "--epochs", "6"]
      arguments += flags
      let r = try rbp(arguments)
      #expect(r.status != 0 && r.err.contains(expected), "\(flags): \(r.err)")
    }
    #expect(bytes(dir + "/checkpoint.h5") == before, "a refused resume changed the checkpoint")
    let more = try rbp([
      "train", "--data", shipped("xor"), "--out", dir, "--resume", "--epochs", "5", "--lr", "0.05", "--quiet",
    ])
    #expect(more.status == 0, "\(more.err)")
    #expect(try CheckpointFile.read(dir + "/checkpoint.h5").epoch == 5)
  }

  /// Resuming a run that stopped because it was solved trains nothing:
  /// the checkpoint keeps its epoch and its bytes, however often it is resumed.
  @Test func resumingASolvedRunTrainsNothing() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let arguments = [
      "train", "--data", shipped("xor"), "--out", dir, "--epochs", "3000", "--stop-when-solved", "--quiet",
    ]
    try #require(try rbp(arguments).status == 0)
    let epoch = try CheckpointFile.read(dir + "/checkpoint.h5").epoch
    try #require(epoch < 3000, "xor was not solved in 3000 epochs")
    let before = bytes(dir + "/checkpoint.h5")
    for _ in 0..<2 {
      #expect(try rbp(arguments + ["--resume", "--epochs", "4000"]).status == 0)
    }
    #expect(bytes(dir + "/checkpoint.h5") == before, "resuming a solved run changed it")
  }

  /// A loss that explodes while staying finite (linear units, f64) is a
  /// divergence: the run stops with its reason, keeps its last good state,
  /// and exits non-zero rather than finishing "normally" at 1e200.
  @Test func aFiniteDivergenceStopsTheRun() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let r = try rbp([
      "train", "--data", shipped("sine"), "--out", dir, "--activation", "linear", "--optimizer", "sgd",
      "--lr", "0.001", "--epochs", "60", "--precision", "f64", "--quiet",
    ])
    #expect(r.status != 0 && r.err.contains("diverged"), "\(r.status): \(r.err)")
    let ck = try CheckpointFile.read(dir + "/checkpoint.h5")
    #expect(ck.stopReason?.contains("diverged") == true)
    let losses = ck.history[.loss] ?? []
    #expect(!losses.isEmpty && losses.allSatisfy { $0 < 1e6 * losses[0] }, "\(losses)")
  }

  /// An output that is one of the command's inputs is refused before any
  /// work, and the input is left byte for byte as it was.
  @Test func outputsNeverReplaceInputs() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let data = dir + "/xor.h5"
    try FileManager.default.copyItem(atPath: shipped("xor"), toPath: data)
    let run = dir + "/run"
    try #require(try rbp(["train", "--data", data, "--out", run, "--epochs", "2", "--quiet"]).status == 0)
    let ck = run + "/checkpoint.h5"
    try #require(try rbp(["grad", "--checkpoint", ck, "--data", data, "--out", dir + "/g.h5"]).status == 0)
    try FileManager.default.createSymbolicLink(atPath: dir + "/alias.h5", withDestinationPath: data)
    let before = [data, ck, dir + "/g.h5"].map(bytes)
    let cases: [([String], String)] = [
      (["grad", "--checkpoint", ck, "--data", data, "--out", data], "is the --data input"),
      (["grad", "--checkpoint", ck, "--data", data, "--out", dir + "/alias.h5"], "is the --data input"),
      (["grad", "--checkpoint", ck, "--data", data, "--out", dir + "/run/../xor.h5"], "is the --data input"),
      (["invert", "--checkpoint", ck, "--states", dir + "/g.h5", "--out", dir + "/g.h5"], "is the --states input"),
      (["fixed-points", "--checkpoint", ck, "--data", data, "--out", ck], "is the --checkpoint input"),
      (["train", "--data", ck, "--out", run, "--epochs", "1"], "is the --data input"),
    ]
    for (arguments, expected) in cases {
      let r = try rbp(arguments)
      #expect(r.status != 0 && r.err.contains(expected), "\(arguments): \(r.err)")
    }
    #expect([data, ck, dir + "/g.h5"].map(bytes) == before, "an input changed")
  }

  /// Two trainings into one folder: the second is refused while the
  /// first runs, instead of both writing and one result being lost.
  @Test func oneWriterPerOutputFolder() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let first = try ChildProcess(
      rbpBinary,
      [
        "train", "--data", shipped("xor"), "--out", dir, "--epochs", "1000000",
        "--quiet",
      ])
    defer {
      first.signal(SIGKILL)
      first.wait()
    }
    // The lock exists once the first has validated everything.
    for _ in 0..<3000 where !FileManager.default.fileExists(atPath: dir + "/.rbp-lock") { usleep(10_000) }
    let second = try rbp(["train", "--data", shipped("xor"), "--out", dir, "--epochs", "1"])
    #expect(second.status != 0 && second.err.contains("being written by another rbp process"), "\(second.err)")
  }

  /// A reader that goes away (`rbp train … | head -1`) does not kill the run:
  /// it finishes, exits 0 and leaves its checkpoint.
  @Test func aClosedPipeDoesNotStopTraining() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let process = try ChildProcess(
      rbpBinary, ["train", "--data", shipped("xor"), "--out", dir, "--epochs", "200"],
      standardOutput: .pipe)
    let handle = try #require(process.standardOutput)
    _ = handle.availableData  // the first line(s)
    try handle.close()  // the reader leaves
    #expect(process.wait() == .exit(0))
    #expect(try CheckpointFile.read(dir + "/checkpoint.h5").epoch == 200)
  }
}

/// The fixed-points file holds, per row, a state that is a fixed point of
/// the checkpoint's network for its pattern, labelled stable exactly when
/// its ρ(D W) < 1, and each pattern's relaxation reaches one of them.
func checkFixedPointsFile(_ path: String, checkpoint: String, data: String) throws {
  let file = try HDF5File.open(path)
  #expect(try file.stringAttribute("format") == "rbp-fixed-points")
  let ck = try CheckpointFile.read(checkpoint)
  let net = try ck.steadyNetwork(Double.self)
  guard case let .steady(batch) = try DatasetFile.read(data, as: Double.self) else {
    Issue.record("not a steady dataset")
    return
  }
  let n = net.shape.units
  let states: [Double] = try file.dataset("states").read()
  let pattern: [Double] = try file.dataset("pattern").read()
  let radius: [Double] = try file.dataset("spectral_radius").read()
  let stable: [Double] = try file.dataset("stable").read()
  let reached: [Double] = try file.dataset("reached").read()
  let k = pattern.count
  #expect(k > 0 && states.count == k * n && radius.count == k && stable.count == k && reached.count == k)
  let drives = net.drives(batch.inputs, workspace: KernelWorkspace())
  for r in 0..<k {
    let p = Int(pattern[r])
    #expect(p >= 0 && p < batch.count)
    let x = Array(states[r * n..<(r + 1) * n])
    var worst = 0.0
    for i in 0..<n {
      var z = drives[p, i]
      for j in 0..<n { z += net.parameters.W[i, j] * x[j] }
      worst = max(worst, abs(net.activation.value(z) - x[i]))
    }
    #expect(worst < 1e-8, "row \(r): not a fixed point of pattern \(p) (residual \(worst))")
    #expect((stable[r] == 1) == (radius[r] < 1), "row \(r): stable \(stable[r]) with ρ = \(radius[r])")
  }
  for p in 0..<batch.count {
    let rows = (0..<k).filter { Int(pattern[$0]) == p }
    #expect(
      rows.filter { reached[$0] == 1 }.count == 1,
      "pattern \(p): relaxation reaches \(rows.filter { reached[$0] == 1 }.count) of its points")
    #expect(
      rows.allSatisfy { reached[$0] == 0 || stable[$0] == 1 }, "pattern \(p): relaxation reached an unstable point")
  }
}
