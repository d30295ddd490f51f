// The command line end to end, on the shipped datasets: `rbp grad` against
// the library and finite differences; identical checkpoints for any
// --threads, any sweep --jobs, and across --resume; a sweep with a failing
// run; every command once; bad flags and configs giving one-line errors,
// a non-zero exit and no output file.

import Foundation
import Testing
import RBPCore
import RBPKernels
import RBPStore

@Suite("Command line", .serialized)
struct CLITests {
  @Test func gradMatchesTheLibraryAndFiniteDifferences() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for (task, epochs) in [("xor", "20"), ("delayed-xor", "3")] {
      let run = dir + "/" + task
      let train = try rbp(["train", "--data", shipped(task), "--out", run, "--epochs", epochs, "--quiet", "--precision", "f64"])
      try #require(train.status == 0, "\(train.err)")
      let ck = try CheckpointFile.read(run + "/checkpoint.h5")
      #expect(try rbp(["grad", "--checkpoint", run + "/checkpoint.h5", "--data", shipped(task), "--out", run + "/g.h5"]).status == 0)
      #expect(try rbp(["grad", "--checkpoint", run + "/checkpoint.h5", "--data", shipped(task), "--out", run + "/fd.h5",
                       "--method", "fd"]).status == 0)
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
      let scale = fd.gradient.values.map(abs).max() ?? 1
      let worst = zip(analytic.gradient.values, fd.gradient.values).map { abs($0 - $1) }.max() ?? 0
      #expect(worst / scale < 1e-6, "\(task): analytic vs finite differences, relative \(worst / scale)")
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
        let r = try rbp(["train", "--data", shipped(task), "--out", "\(dir)/\(task)-\(threads)", "--epochs", "4",
                         "--threads", threads, "--quiet"])
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
      #expect(try rbp(["train", "--data", shipped(task), "--out", whole, "--epochs", "10", "--batch", "8", "--quiet"]).status == 0)
      #expect(try rbp(["train", "--data", shipped(task), "--out", split, "--epochs", "5", "--batch", "8", "--quiet"]).status == 0)
      #expect(try CheckpointFile.read(split + "/checkpoint.h5").epoch == 5)
      #expect(try rbp(["train", "--data", shipped(task), "--out", split, "--epochs", "10", "--resume", "--quiet"]).status == 0)
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
      #expect(records[0].status == "ok" && records[1].status == "ok")
      #expect(records[2].status == "failed" && records[2].reason.contains("did not converge"), "\(records[2].reason)")
      results.append(records)
      for run in ["run-0000", "run-0001"] {
        #expect(bytes("\(dir)/jobs1/runs/\(run)/checkpoint.h5") != nil)
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
    #expect(merged.map(\.index) == [0, 1, 2] && merged.map(\.finalLoss).prefix(2) == results[0].map(\.finalLoss).prefix(2))
    let before = bytes(sharded + "/runs/run-0000/checkpoint.h5")
    let again = try rbp(["sweep", dir + "/spec.json", "--out", sharded, "--shard", "0/2"])
    #expect(again.status == 0 && bytes(sharded + "/runs/run-0000/checkpoint.h5") == before)
  }

  @Test func everyCommandRunsOnTheShippedDatasets() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let steady = dir + "/steady", traj = dir + "/traj"
    #expect(try rbp(["datasets", "make", "encoder", "--out", dir + "/enc.h5", "--seed", "3"]).status == 0)
    #expect(try rbp(["train", "--data", dir + "/enc.h5", "--out", steady, "--epochs", "3", "--json"]).out
      .split(separator: "\n").count == 3)
    #expect(try rbp(["train", "--data", shipped("sine"), "--out", traj, "--epochs", "2", "--bptt", "checkpointed",
                     "--leak", "0.5", "--quiet"]).status == 0)
    let eval = try rbp(["eval", "--checkpoint", steady + "/checkpoint.h5", "--data", dir + "/enc.h5", "--json"])
    #expect(eval.status == 0 && eval.out.contains("\"loss\""))
    #expect(try rbp(["grad", "--checkpoint", traj + "/checkpoint.h5", "--data", shipped("sine"), "--out", dir + "/g.h5"]).status == 0)
    #expect(try rbp(["invert", "--checkpoint", traj + "/checkpoint.h5", "--states", dir + "/g.h5", "--out", dir + "/a.h5"]).status == 0)
    #expect(try HDF5File.open(dir + "/a.h5").dataset("drive").shape == [1, 40, 8])
    #expect(try rbp(["fixed-points", "--checkpoint", steady + "/checkpoint.h5", "--data", dir + "/enc.h5",
                     "--starts", "3", "--out", dir + "/f.h5"]).status == 0)
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
      (["train", "--data", data, "--out", dir + "/o1", "--activation", "sigmoid"], "--activation: 'sigmoid'"),
      (["train", "--data", data, "--out", dir + "/o2", "--lr=-1"], "lr must be positive"),
      (["train", "--data", data, "--out", dir + "/o3", "--units", "abc"], "units"),
      (["train", "--data", data, "--out", dir + "/o4", "--epochs", "3", "--loss", "bce", "--activation", "tanh"], "bce"),
      (["train", "--data", data, "--out", dir + "/o5", "--config", dir + "/unknown.json"], "unknown key 'learning_rate'"),
      (["train", "--data", data, "--out", dir + "/o6", "--config", dir + "/type.json"], "'epochs'"),
      (["train", "--data", data, "--out", dir + "/o7", "--config", dir + "/broken.json"], "not valid JSON"),
      (["train", "--data", dir + "/missing.h5", "--out", dir + "/o8"], "missing.h5: no such file"),
      (["train", "--data", data, "--out", dir + "/o9", "--model", "trajectory"], "does not fit"),
      (["train", "--data", data, "--out", dir + "/o10", "--resume"], "checkpoint.h5: no such file"),
      (["train", "--data", data, "--out", dir + "/o11", "--solver", "bisection"], "solver must be"),
      (["grad", "--checkpoint", dir + "/none.h5", "--data", data, "--out", dir + "/g.h5"], "none.h5: no such file"),
      (["datasets", "make", "mnist", "--out", dir + "/m.h5"], "unknown task 'mnist'"),
      (["sweep", dir + "/unknown.json", "--out", dir + "/s"], "unknown key 'learning_rate'; expected data, base"),
      (["sweep", dir + "/broken.json", "--out", dir + "/s", "--shard", "3/2"], "expected a JSON object"),
      (["inspect", dir + "/broken.json"], "cannot open file as HDF5"),
      (["bench", "kernels", "--precision", "f16"], "--precision"),
    ]
    for (arguments, expected) in cases {
      let r = try rbp(arguments)
      #expect(r.status != 0, "\(arguments) succeeded")
      let lines = r.err.split(separator: "\n")
      #expect(lines.count == 1, "\(arguments): \(lines.count) lines on stderr: \(r.err)")
      #expect(r.err.hasPrefix("Error: ") && r.err.contains(expected), "\(arguments): \(r.err)")
    }
    // No partial outputs: no checkpoint, gradients or dataset was left behind.
    for name in ["o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8", "o9", "o11"] {
      #expect(!FileManager.default.fileExists(atPath: "\(dir)/\(name)/checkpoint.h5"), "\(name)")
    }
    #expect(!FileManager.default.fileExists(atPath: dir + "/g.h5") && !FileManager.default.fileExists(atPath: dir + "/m.h5"))
  }
}
