// Runs a researcher can steer and compare, through the command line:
// validation separate from test, early stopping and the best checkpoint,
// metrics for one's own data, --no- flags, --json on every command, sweep
// tables, progress and error messages. Expectations come from numpy or
// from files written independently (h5py), not from the code they check.

import Foundation
import RBPCore
import RBPStore
import RBPTestSupport
import Testing

/// The last line of `text` as a JSON object.
func lastJSON(_ text: String) throws -> [String: Any] {
  let line = try #require(text.split(separator: "\n").last.map(String.init), "no output")
  return try #require(
    try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
}

@Suite("Steering runs", .serialized)
struct SteeringTests {
  /// A steady dataset of ±1 targets with /val and /test, written by h5py;
  /// `brokenTest`: /test/inputs is a dangling link, so any read of it fails.
  func ownDataset(_ path: String, brokenTest: Bool = false) throws {
    try python(
      """
      import h5py, numpy as np, sys
      rng = np.random.default_rng(7)
      def part(g, n):
          x = rng.choice([-1.0, 1.0], size=(n, 4)); g["inputs"] = x
          g["targets"] = 0.8 * np.stack([x[:, 0] * x[:, 1], -x[:, 2]], axis=1)
      with h5py.File(sys.argv[1], "w") as f:
          f.attrs["format"] = "rbp-dataset"; f.attrs["version"] = 1; f.attrs["kind"] = "steady"
          part(f, 24); part(f.create_group("val"), 8); t = f.create_group("test")
          if sys.argv[2] == "1":
              t["inputs"] = h5py.SoftLink("/nowhere"); t["targets"] = np.ones((8, 2))
          else:
              part(t, 8)
      """, [path, brokenTest ? "1" : "0"])
  }

  /// Training validates on /val and never reads /test (here unreadable);
  /// the checkpoint says so, and `eval --val` gives what training recorded.
  @Test func validationUsesValAndNeverTest() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let data = dir + "/own.h5"
    try ownDataset(data, brokenTest: true)
    let r = try rbp(["train", "--data", data, "--out", dir + "/run", "--epochs", "5", "--units", "6", "--json"])
    try #require(r.status == 0, "training read /test: \(r.err)")
    #expect(try lastJSON(r.out)["validation"] as? String == "val")
    let ck = try CheckpointFile.read(dir + "/run/checkpoint.h5")
    #expect(ck.validation == "val")
    let e = try rbp(["eval", "--checkpoint", dir + "/run/checkpoint.h5", "--data", data, "--val", "--json"])
    #expect(jsonNumber(e.out, "loss") == ck.history[.valLoss]?.last, "\(e.out) \(e.err)")
    let t = try rbp(["eval", "--checkpoint", dir + "/run/checkpoint.h5", "--data", data, "--test"])
    #expect(t.status == 1 && t.err.contains("/test"), "\(t.err)")
    let x = try rbp(["eval", "--checkpoint", dir + "/run/checkpoint.h5", "--data", shipped("xor"), "--test"])
    #expect(x.status != 0 && x.err.contains("has no test set (/test)") && x.err.contains(shipped("xor")), "\(x.err)")
  }

  /// --val-fraction holds out patterns chosen by the seed, recorded in the
  /// checkpoint; evaluating exactly those rows (copied out by h5py) gives
  /// the validation loss training recorded.
  @Test func valFractionHoldsOutRecordedPatterns() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // delayed-xor without its /val.
    let data = dir + "/dx.h5"
    try FileManager.default.copyItem(atPath: shipped("delayed-xor"), toPath: data)
    try python("import h5py, sys\nwith h5py.File(sys.argv[1], 'a') as f: del f['val']", [data])
    let arguments = ["train", "--data", data, "--epochs", "3", "--val-fraction", "0.25", "--quiet"]
    try #require(try rbp(arguments + ["--out", dir + "/a"]).status == 0)
    try #require(try rbp(arguments + ["--out", dir + "/b", "--seed", "1"]).status == 0)
    let a = try CheckpointFile.read(dir + "/a/checkpoint.h5"), b = try CheckpointFile.read(dir + "/b/checkpoint.h5")
    #expect(a.validation == "val_fraction")
    let rows = try #require(a.validationPatterns)
    #expect(rows.count == 8 && Set(rows).count == 8 && rows.allSatisfy { (0..<32).contains($0) })
    #expect(b.validationPatterns != rows, "another seed holds out the same patterns")
    try python(
      """
      import h5py, numpy as np, sys
      with h5py.File(sys.argv[1], "r") as ck: rows = ck["validation_patterns"][()]
      with h5py.File(sys.argv[2], "r") as src, h5py.File(sys.argv[3], "w") as dst:
          for k, v in src.attrs.items(): dst.attrs[k] = v
          for name in ["inputs", "targets", "mask"]: dst[name] = src[name][()][rows]
      """, [dir + "/a/checkpoint.h5", data, dir + "/held.h5"])
    let e = try rbp(["eval", "--checkpoint", dir + "/a/checkpoint.h5", "--data", dir + "/held.h5", "--json"])
    let loss = try #require(jsonNumber(e.out, "loss"), "\(e.err)")
    #expect(
      loss == a.history[.valLoss]?.last,
      "held-out rows give \(loss), training recorded \(a.history[.valLoss]?.last ?? .nan)")
    // A dataset with /val refuses a fraction; so does one that leaves nothing to train on.
    try expectRefusal(["train", "--data", shipped("patterns"), "--out", dir + "/c", "--val-fraction", "0.5"], "/val")
    try expectRefusal(
      ["train", "--data", shipped("xor"), "--out", dir + "/d", "--val-fraction", "0.05"], "val_fraction")
  }

  /// --patience stops after K epochs without improvement; best.h5 holds the
  /// best epoch's parameters (eval on /val gives best_val_loss), and the
  /// checkpoint, --json and the sweep's export name it.
  @Test func patienceStopsAndKeepsTheBestEpoch() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let data = dir + "/own.h5"
    try ownDataset(data)
    // A learning rate that overshoots: the validation loss stops improving.
    let r = try rbp([
      "train", "--data", data, "--out", dir + "/run", "--units", "6", "--epochs", "400", "--lr", "0.3",
      "--patience", "4", "--json",
    ])
    try #require(r.status == 0, "\(r.err)")
    let summary = try lastJSON(r.out)
    let ck = try CheckpointFile.read(dir + "/run/checkpoint.h5")
    let best = try #require(ck.bestEpoch), bestLoss = try #require(ck.bestValidationLoss)
    #expect(summary["stop_reason"] as? String == "patience" && ck.epoch < 400, "\(summary)")
    #expect(ck.epoch - best == 4, "stopped at \(ck.epoch), best \(best)")
    let losses = try #require(ck.history[.valLoss])
    #expect(bestLoss == losses.min() && bestLoss == losses[best - 1])
    #expect(summary["best_epoch"] as? Int == best && summary["best"] as? String == dir + "/run/best.h5")
    let e = try rbp(["eval", "--checkpoint", dir + "/run/best.h5", "--data", data, "--val", "--json"])
    #expect(jsonNumber(e.out, "loss") == bestLoss, "best.h5 evaluates to \(e.out), best_val_loss \(bestLoss)")
    #expect(try CheckpointFile.read(dir + "/run/best.h5").epoch == best)
    // Resumed, it has nothing left to train.
    let again = try rbp(["train", "--data", data, "--out", dir + "/run", "--epochs", "500", "--resume"])
    #expect(
      again.status == 0 && again.out.contains("nothing to train") && again.out.contains("patience"), "\(again.out)")
    // In a sweep: best_epoch and best_val_loss are columns.
    try #"{"data": "own.h5", "base": {"units": 6, "epochs": 400, "lr": 0.3, "patience": 4}, "grid": {"seed": [0, 1]}}"#
      .write(toFile: dir + "/spec.json", atomically: true, encoding: .utf8)
    try #require(try rbp(["sweep", dir + "/spec.json", "--out", dir + "/sweep", "--quiet"]).status == 0)
    let rows =
      try JSONSerialization.jsonObject(with: Data(try rbp(["sweep", "export", dir + "/sweep", "--json"]).out.utf8))
      as? [[String: Any]] ?? []
    #expect(
      rows.count == 2 && rows.allSatisfy { ($0["best_epoch"] as? Int ?? 0) >= 1 && $0["best_val_loss"] is Double })
    #expect(rows.allSatisfy { $0["status"] as? String == "done" })
  }

  /// --metric: accuracy and solved for one's own data, against numpy on
  /// the states `rbp states` writes; none (and no metric) is null.
  @Test func metricsForOwnData() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let data = dir + "/own.h5"
    try ownDataset(data)
    try #require(
      try rbp([
        "train", "--data", data, "--out", dir + "/run", "--units", "6", "--epochs", "20",
        "--precision", "f64", "--quiet",
      ]).status == 0)
    let ck = dir + "/run/checkpoint.h5"
    try #require(try rbp(["states", "--checkpoint", ck, "--data", data, "--out", dir + "/s.h5"]).status == 0)
    try python(
      """
      import h5py, numpy as np, sys, json
      with h5py.File(sys.argv[1], "r") as s: x = s["states"][()][:, -2:]
      with h5py.File(sys.argv[2], "r") as d: y = d["targets"][()]
      sign = float(np.mean((x > 0) == (y > 0)))
      arg = float(np.mean(np.argmax(x, axis=1) == np.argmax(y, axis=1)))
      json.dump({"sign": sign, "argmax": arg}, open(sys.argv[3], "w"))
      """, [dir + "/s.h5", data, dir + "/ref.json"])
    let ref =
      try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: dir + "/ref.json")))
      as? [String: Double] ?? [:]
    for metric in ["sign", "argmax"] {
      let e = try rbp(["eval", "--checkpoint", ck, "--data", data, "--json", "--metric", metric])
      let accuracy = try #require(jsonNumber(e.out, "accuracy"), "\(metric): \(e.out) \(e.err)")
      #expect(abs(accuracy - ref[metric]!) < 1e-12, "\(metric): rbp \(accuracy), numpy \(ref[metric]!)")
      #expect(e.out.contains("\"solved\":\(accuracy == 1)"), "\(e.out)")
    }
    for flags in [[String](), ["--metric", "none"]] {
      let e = try rbp(["eval", "--checkpoint", ck, "--data", data, "--json"] + flags)
      let o = try lastJSON(e.out)
      #expect(o["accuracy"] is NSNull && o["solved"] is NSNull, "\(flags): \(e.out)")
    }
    // An unknown task attribute is refused, pointing at --metric.
    try python("import h5py, sys\nwith h5py.File(sys.argv[1], 'a') as f: f.attrs['task'] = 'parity'", [data])
    try expectRefusal(["train", "--data", data, "--out", dir + "/r2"], "'task'", "parity", "--metric")
  }

  /// Every boolean setting has its --no- form, and it wins on resume.
  @Test func noFormsTurnBooleansOff() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = dir + "/run"
    try #require(
      try rbp([
        "train", "--data", shipped("xor"), "--out", run, "--epochs", "3000", "--stop-when-solved",
        "--quiet",
      ]).status == 0)
    let solvedAt = try CheckpointFile.read(run + "/checkpoint.h5").epoch
    try #require(solvedAt < 3000)
    let r = try rbp([
      "train", "--data", shipped("xor"), "--out", run, "--epochs", "\(solvedAt + 5)", "--resume",
      "--no-stop-when-solved", "--quiet",
    ])
    #expect(r.status == 0, "\(r.err)")
    #expect(
      try CheckpointFile.read(run + "/checkpoint.h5").epoch == solvedAt + 5, "--no-stop-when-solved did not continue")
    let help = try rbp(["train", "--help"]).out
    for flag in ["--no-stop-when-solved", "--no-warm-start", "--no-symmetric"] {
      #expect(help.contains(flag), "\(flag) is not in train --help")
    }
    try expectRefusal(
      ["train", "--data", shipped("xor"), "--out", dir + "/x", "--no-stop-when-solved=true"], "takes no value")
  }

  /// --json on every command: one JSON object as the last line of stdout.
  @Test func everyCommandPrintsJSON() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let d = dir + "/p.h5", ck = dir + "/run/checkpoint.h5"
    let commands: [(args: [String], keys: [String])] = [
      (["datasets", "make", "patterns", "--out", d, "--json"], ["file", "task", "patterns"]),
      (
        ["train", "--data", d, "--out", dir + "/run", "--epochs", "3", "--json"],
        ["checkpoint", "best", "epochs", "stop_reason", "best_epoch"]
      ),
      (["eval", "--checkpoint", ck, "--data", d, "--json"], ["loss", "patterns"]),
      (
        ["grad", "--checkpoint", ck, "--data", d, "--out", dir + "/g.h5", "--json"], ["file", "loss", "gradient_norm"]
      ),
      (["states", "--checkpoint", ck, "--data", d, "--out", dir + "/s.h5", "--json"], ["file", "shape", "loss"]),
      (
        ["invert", "--checkpoint", ck, "--states", dir + "/s.h5", "--out", dir + "/a.h5", "--json"], ["file", "shape"]
      ),
      (
        ["fixed-points", "--checkpoint", ck, "--data", d, "--starts", "3", "--out", dir + "/f.h5", "--json"],
        ["file", "fixed_points", "stable"]
      ),
      (["inspect", ck, "--json"], ["file", "format", "attributes", "members", "network"]),
    ]
    for (args, keys) in commands {
      let r = try rbp(args)
      try #require(r.status == 0, "\(args): \(r.err)")
      let o = try lastJSON(r.out)
      for key in keys { #expect(o.keys.contains(key), "\(args[0]) --json has no '\(key)': \(o.keys.sorted())") }
    }
    // Integer and boolean arrays have integer types.
    try python(
      """
      import h5py, sys
      with h5py.File(sys.argv[1], "r") as f:
          assert f["pattern"].dtype.kind == "i" and f["hits"].dtype.kind == "i", f["hits"].dtype
          assert f["stable"].dtype == "int8" and f["reached"].dtype == "int8"
      """, [dir + "/f.h5"])
    // fixed-points prints one summary line, explaining hits.
    let fp = try rbp(["fixed-points", "--checkpoint", ck, "--data", d, "--starts", "3", "--out", dir + "/f2.h5"])
    #expect(fp.out.split(separator: "\n").count == 1 && fp.out.contains("hits"), "\(fp.out)")
  }

  /// The sweep commands a user reads results with: --list trains nothing,
  /// best and --group-by rank and average, --long has a row per epoch,
  /// one status vocabulary, and data paths are the spec's.
  @Test func sweepsYouCanRead() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // The spec's folder holds its data; the current folder holds another file of that name.
    try FileManager.default.createDirectory(atPath: dir + "/spec", withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: shipped("xor"), toPath: dir + "/spec/data.h5")
    try FileManager.default.copyItem(atPath: shipped("encoder"), toPath: dir + "/data.h5")
    try #"{"data": "data.h5", "base": {"epochs": 4}, "grid": {"units": [4, 6], "seed": [0, 1, 2]}}"#
      .write(toFile: dir + "/spec/spec.json", atomically: true, encoding: .utf8)
    let list = try runProgram("/bin/sh", ["-c", "cd '\(dir)' && '\(rbpBinary)' sweep spec/spec.json --out out --list"])
    #expect(
      list.status == 0 && list.out.contains("6 runs") && !FileManager.default.fileExists(atPath: dir + "/out"),
      "\(list.out) \(list.err)")
    let run = try runProgram(
      "/bin/sh", ["-c", "cd '\(dir)' && '\(rbpBinary)' sweep spec/spec.json --out out/ --quiet"])
    try #require(run.status == 0, "\(run.err)")
    let ck = try CheckpointFile.read(dir + "/out/runs/run-0000/checkpoint.h5")
    #expect(ck.shape.inputs == 2, "the sweep trained on the current folder's data.h5, not the spec's")
    // best: ranked ascending by final_val_loss.
    let best = try rbp(["sweep", "best", dir + "/out", "-k", "3", "--json"])
    let rows = try JSONSerialization.jsonObject(with: Data(best.out.utf8)) as? [[String: Any]] ?? []
    let losses = rows.compactMap { $0["final_val_loss"] as? Double }
    #expect(rows.count == 3 && losses == losses.sorted(), "\(best.out)")
    let all =
      try JSONSerialization.jsonObject(with: Data(try rbp(["sweep", "export", dir + "/out", "--json"]).out.utf8))
      as? [[String: Any]] ?? []
    #expect(losses.first == all.compactMap { $0["final_val_loss"] as? Double }.min())
    // --group-by: mean ± sd per units over the seeds, as numpy computes it.
    let groups = try lastJSON(try rbp(["sweep", "best", dir + "/out", "--group-by", "units", "--json"]).out)
    let table = groups["groups"] as? [[String: Any]] ?? []
    #expect(table.count == 2)
    for g in table {
      let units = g["units"] as? String ?? ""
      let values = all.filter { "\($0["units"] ?? "")" == units }.compactMap { $0["final_val_loss"] as? Double }
      let mean = values.reduce(0, +) / Double(values.count)
      let sd = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
      #expect(
        values.count == 3 && abs((g["mean"] as? Double ?? .nan) - mean) < 1e-12
          && abs((g["sd"] as? Double ?? .nan) - sd) < 1e-12, "\(g) vs \(values)")
    }
    let text = try rbp(["sweep", "best", dir + "/out", "--group-by", "units"]).out
    #expect(text.contains("±") && text.split(separator: "\n").count == 3, "\(text)")
    // --long: one row per run and epoch.
    let long = try rbp(["sweep", "export", dir + "/out", "--long", "--csv"]).out.split(separator: "\n")
    #expect(
      long.count == 1 + 6 * 4 && long[0].hasPrefix("name,index,status,epoch,train_loss,val_loss"), "\(long.prefix(2))")
    // One vocabulary: status and export say done.
    #expect(all.allSatisfy { $0["status"] as? String == "done" })
    let status = try lastJSON(try rbp(["sweep", "status", dir + "/out", "--json"]).out)
    #expect(status["done"] as? Int == 6 && status.keys.contains("missing") && !status.keys.contains("ok"))
    // No "//" in what is printed, though --out ended in "/".
    let merged = try rbp(["sweep", "merge", dir + "/out/"])
    #expect(merged.status == 0 && !merged.out.contains("//"), "\(merged.out)")
    // --json of the sweep itself (one object per run, then the shard's) and of merge.
    let again = try rbp(["sweep", dir + "/spec/spec.json", "--out", dir + "/out", "--json"])
    let shard = try lastJSON(again.out)
    #expect(
      shard["runs"] as? Int == 6 && shard["failed"] as? Int == 0
        && shard["results"] as? String == dir + "/out/results-0-of-1.h5",
      "\(again.out)")
    let m = try lastJSON(try rbp(["sweep", "merge", dir + "/out", "--json"]).out)
    #expect(
      m["file"] as? String == dir + "/out/sweep.h5" && m["done"] as? Int == 6 && m["missing"] as? Int == 0, "\(m)")
  }

  /// Messages in one voice, progress after a resume.
  @Test func messagesAndProgress() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try expectRefusal(["train", "--out", dir + "/x"], "missing --data", "rbp train --help")
    try expectRefusal(
      ["train", "--data", shipped("xor"), "--out", dir + "/x", "--frobnicate"], "unknown option '--frobnicate'")
    try expectRefusal(["grad", "--checkpoint", "a", "--data", "b", "--out", "c", "--step", "abc"], "--step", "'abc'")
    try expectRefusal(["frobnicate"], "unknown command 'frobnicate'")
    try #require(
      try rbp(["train", "--data", shipped("xor"), "--out", dir + "/run/", "--epochs", "3", "--quiet"]).status == 0)
    let r = try rbp(["train", "--data", shipped("xor"), "--out", dir + "/run/", "--epochs", "6", "--resume"])
    #expect(r.status == 0 && r.out.contains("trained epochs 4–6") && !r.out.contains("//"), "\(r.out)")
    // In a pipe: about 25 lines for a long run, every epoch for a short one.
    let lines = try rbp(["train", "--data", shipped("xor"), "--out", dir + "/long", "--epochs", "500"]).out
      .split(separator: "\n").filter { $0.hasPrefix("epoch ") }
    #expect((20...30).contains(lines.count) && lines.last?.hasPrefix("epoch 500/500") == true, "\(lines.count) lines")
    #expect(lines.first?.contains("elapsed") == true && lines.first?.contains("ETA") == true)
  }
}
