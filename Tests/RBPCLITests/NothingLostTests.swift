// Nothing lost, nothing mislabelled: what a careful user and a hostile file
// meet through the command line. Each case expects one line on stderr
// ("Error: …" naming the file, flag or value), exit status 1 (never a crash
// dump), and every file that existed before left as it was.

import Foundation
import RBPCore
import RBPStore
import RBPTestSupport
import Testing

/// Runs `rbp` and checks the failure: status 1, one stderr line holding
/// every one of `expected`.
func expectRefusal(
  _ arguments: [String], _ expected: String..., environment: [String: String] = [:],
  sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let r = try runProgram(rbpBinary, arguments, environment: environment)
  let lines = r.err.split(separator: "\n")
  #expect(r.status == 1, "\(arguments): status \(r.status), \(r.err)", sourceLocation: sourceLocation)
  #expect(lines.count == 1 && r.err.hasPrefix("Error: "), "\(arguments): \(r.err)", sourceLocation: sourceLocation)
  for text in expected {
    #expect(r.err.contains(text), "\(arguments): '\(text)' not in \(r.err)", sourceLocation: sourceLocation)
  }
}

/// Runs a Python script (numpy, h5py) with arguments, which must succeed.
func python(_ script: String, _ arguments: [String] = []) throws {
  let r = try runPython(script, arguments)
  try #require(r.status == 0, "python: \(r.err)")
}

/// Files of `folder` (recursively) whose name marks a temporary.
func temporaries(in folder: String) -> [String] {
  let all = FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] ?? []
  return all.filter { ($0 as NSString).lastPathComponent.contains(".tmp-") }
}

@Suite("Nothing lost")
struct NothingLostTests {
  // MARK: Data loss

  /// A folder holding a run is replaced only with --overwrite, and continued
  /// only with --resume; refused otherwise, with the checkpoint untouched.
  @Test func aFinishedRunIsNeverReplacedSilently() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = dir + "/run"
    try #require(try rbp(["train", "--data", shipped("xor"), "--out", run, "--epochs", "30", "--quiet"]).status == 0)
    let before = bytes(run + "/checkpoint.h5")
    try expectRefusal(
      ["train", "--data", shipped("encoder"), "--out", run, "--epochs", "2"],
      "--out \(run) holds a run", "--resume", "--overwrite")
    try expectRefusal(
      ["train", "--data", shipped("xor"), "--out", run, "--epochs", "40", "--resume", "--overwrite"],
      "choose one")
    #expect(bytes(run + "/checkpoint.h5") == before, "a refused train changed the checkpoint")
    let replaced = try rbp([
      "train", "--data", shipped("encoder"), "--out", run, "--epochs", "2", "--overwrite", "--quiet",
    ])
    #expect(replaced.status == 0, "\(replaced.err)")
    let ck = try CheckpointFile.read(run + "/checkpoint.h5")
    #expect(ck.epoch == 2 && ck.shape.inputs == 8, "--overwrite did not replace the run")
    // The new run's best.h5 is of the new network; a replacement that has
    // no best epoch yet (0 epochs) leaves none from the run it replaced.
    #expect(try CheckpointFile.read(run + "/best.h5").shape.inputs == 8)
    try #require(
      try rbp(["train", "--data", shipped("xor"), "--out", run, "--epochs", "0", "--overwrite", "--quiet"]).status == 0)
    #expect(!FileManager.default.fileExists(atPath: run + "/best.h5"), "best.h5 of the replaced run was left")
    // An --out that is a file is refused before anything is read or written.
    try "x".write(toFile: dir + "/file", atomically: true, encoding: .utf8)
    try expectRefusal(["train", "--data", shipped("xor"), "--out", dir + "/file"], "exists and is not a folder")
  }

  /// An existing output that is not a regular file (a device node, a FIFO)
  /// is refused by every command that writes, and stays what it was.
  @Test func outputsThatAreNotRegularFilesAreRefused() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = dir + "/run"
    try #require(try rbp(["train", "--data", shipped("xor"), "--out", run, "--epochs", "2", "--quiet"]).status == 0)
    let ck = run + "/checkpoint.h5"
    try #require(try rbp(["grad", "--checkpoint", ck, "--data", shipped("xor"), "--out", dir + "/g.h5"]).status == 0)
    try #require(mkfifo(dir + "/fifo", 0o644) == 0)
    var specials = [dir + "/fifo"]
    // A null device of our own (as root): the system's /dev/null is never put at risk.
    if mknod(dir + "/null", S_IFCHR | 0o666, dev_t(0x103)) == 0 { specials.append(dir + "/null") }
    for special in specials {
      let kind = special.hasSuffix("fifo") ? "a FIFO" : "a device"
      for arguments in [
        ["datasets", "make", "xor", "--out", special],
        ["grad", "--checkpoint", ck, "--data", shipped("xor"), "--out", special],
        ["states", "--checkpoint", ck, "--data", shipped("xor"), "--out", special],
        ["invert", "--checkpoint", ck, "--states", dir + "/g.h5", "--out", special],
        ["fixed-points", "--checkpoint", ck, "--data", shipped("xor"), "--starts", "2", "--out", special],
      ] {
        try expectRefusal(arguments, special, kind, "not a regular file")
      }
      var st = stat()
      #expect(stat(special, &st) == 0 && (st.st_mode & S_IFMT) != S_IFREG, "\(special) was replaced by a regular file")
    }
  }

  /// A disk that fills while a checkpoint or gradients file is written:
  /// one line naming the file and the system's reason, exit 1, the previous
  /// file intact and no temporary left. (Mounts a 2 MB tmpfs: needs root,
  /// as the test command runs.)
  @Test func aFullDiskFailsCleanly() throws {
    let dir = try scratchFolder()
    defer {
      _ = try? runProgram("/bin/umount", [dir + "/disk"])
      try? FileManager.default.removeItem(atPath: dir)
    }
    let disk = dir + "/disk"
    try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
    let mounted = try runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", disk])
    try #require(mounted.status == 0, "cannot mount a tmpfs (the test command runs as root): \(mounted.err)")
    // Too big for the disk from the start.
    let r = try rbp([
      "train", "--data", shipped("xor"), "--out", disk + "/big", "--units", "400", "--epochs", "2", "--quiet",
    ])
    #expect(r.status == 1, "status \(r.status): \(r.err.prefix(300))")
    #expect(
      r.err.split(separator: "\n").count == 1 && r.err.contains("No space left on device")
        && r.err.contains(disk + "/big/"), "\(r.err.prefix(300))")
    // A run that fits, resumed when the disk has filled: its checkpoint stays.
    try #require(
      try rbp([
        "train", "--data", shipped("xor"), "--out", disk + "/run", "--units", "100", "--epochs", "2",
        "--quiet",
      ]).status == 0)
    let before = bytes(disk + "/run/checkpoint.h5")
    _ = try runProgram("/bin/dd", ["if=/dev/zero", "of=\(disk)/filler", "bs=4k"])  // until the disk is full
    let resumed = try rbp([
      "train", "--data", shipped("xor"), "--out", disk + "/run", "--epochs", "4", "--resume", "--quiet",
    ])
    #expect(
      resumed.status == 1 && resumed.err.contains("No space left on device"),
      "\(resumed.status): \(resumed.err.prefix(300))")
    #expect(bytes(disk + "/run/checkpoint.h5") == before, "the previous checkpoint changed")
    let grad = try rbp([
      "grad", "--checkpoint", disk + "/run/checkpoint.h5", "--data", shipped("xor"), "--out", disk + "/g.h5",
    ])
    #expect(
      grad.status == 1 && grad.err.contains("No space left on device") && grad.err.contains(disk + "/g.h5"),
      "\(grad.status): \(grad.err.prefix(300))")
    #expect(temporaries(in: disk).isEmpty, "temporaries left: \(temporaries(in: disk))")
    #expect(!FileManager.default.fileExists(atPath: disk + "/g.h5"))
  }

  /// A failed write to standard output fails the command.
  @Test func aFailedWriteToStandardOutputFailsTheCommand() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = dir + "/run"
    try #require(try rbp(["train", "--data", shipped("xor"), "--out", run, "--epochs", "2", "--quiet"]).status == 0)
    try #"{"data": "\#(shipped("xor"))", "base": {"epochs": 2}, "grid": {"seed": [0, 1]}}"#
      .write(toFile: dir + "/spec.json", atomically: true, encoding: .utf8)
    try #require(try rbp(["sweep", dir + "/spec.json", "--out", dir + "/sweep", "--quiet"]).status == 0)
    for command in [
      "eval --checkpoint '\(run)/checkpoint.h5' --data '\(shipped("xor"))' --json",
      "inspect '\(shipped("xor"))'", "sweep status '\(dir)/sweep'", "sweep export '\(dir)/sweep' --csv",
    ] {
      let r = try runProgram("/bin/sh", ["-c", "'\(rbpBinary)' \(command) > /dev/full"])
      #expect(
        r.status == 1 && r.err == "Error: cannot write to standard output (No space left on device)\n",
        "\(command): \(r.status) \(r.err)")
    }
  }

  /// A second SIGTERM while a checkpoint is being written ends the process
  /// at once and leaves no temporary; a failed --out check leaves no
  /// folder; a dataset refused at the start leaves no --out folder.
  @Test func stoppingAndFailingLeaveNothingBehind() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for attempt in 0..<3 {
      let out = dir + "/run\(attempt)"
      let writer = try ChildProcess(
        rbpBinary,
        [
          "train", "--data", shipped("xor"), "--out", out, "--epochs", "100000",
          "--checkpoint-every", "1", "--quiet",
        ],
        environment: ["RBP_TEST_WRITE_PAUSE": "30,0"])
      var paused = false
      for _ in 0..<3000 where !paused && writer.isRunning {
        paused = ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).contains {
          $0.hasSuffix(".paused-1")
        }
        if !paused { usleep(10_000) }
      }
      #expect(paused, "the writer never paused inside a checkpoint write")
      writer.signal(SIGTERM)
      usleep(200_000)
      writer.signal(SIGTERM)
      #expect(writer.wait() == .exit(128 + SIGTERM))
      let left = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
      #expect(!left.contains { $0.contains(".tmp-") }, "attempt \(attempt): left \(left)")
    }
    let long = dir + "/a/b/" + String(repeating: "x", count: 300)
    try expectRefusal(
      ["train", "--data", shipped("xor"), "--out", long, "--epochs", "1"], "cannot create the folder",
      "File name too long")
    #expect(!FileManager.default.fileExists(atPath: dir + "/a"), "a failed --out left its folders")
    try python(
      """
      import h5py, numpy as np, sys
      with h5py.File(sys.argv[1], "w") as f:
          f.attrs["format"] = "rbp-dataset"; f.attrs["version"] = 1; f.attrs["kind"] = "steady"
          x = np.ones((8, 2)); x[3, 1] = np.nan
          f["inputs"] = x; f["targets"] = np.ones((8, 1))
      """, [dir + "/nan.h5"])
    try expectRefusal(
      ["train", "--data", dir + "/nan.h5", "--out", dir + "/nan-run", "--epochs", "1"],
      "/inputs", "non-finite", "pattern 3")
    #expect(!FileManager.default.fileExists(atPath: dir + "/nan-run"), "a refused dataset left --out behind")
  }

  // MARK: Silent wrong results

  /// Data kept outside the file it is named by (external storage, external
  /// links) is refused: the run's identity hashes that file's bytes only.
  /// A stop signal is never lost, however soon it comes: a training sent
  /// SIGTERM at any moment of its start either dies of it (before its
  /// handler is in place) or saves and exits with 143, and never trains on
  /// to its last epoch. (A Dispatch signal source, registered on its own
  /// thread after the signal had been set to be ignored, lost a signal
  /// sent in that window, and the run then trained to its end.)
  @Test func aStopSignalIsNeverLost() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for (trial, delay) in [0, 2_000, 5_000, 10_000, 20_000, 40_000, 80_000].enumerated() {
      let out = "\(dir)/run-\(trial)"
      let process = try ChildProcess(
        rbpBinary, ["train", "--data", shipped("figure8"), "--epochs", "1000000", "--quiet", "--out", out])
      usleep(useconds_t(delay))
      process.signal(SIGTERM)
      let started = Date()
      while process.isRunning && Date().timeIntervalSince(started) < 30 { usleep(10_000) }
      let running = process.isRunning
      if running { process.signal(SIGKILL) }
      let ending = process.wait()
      #expect(!running, "SIGTERM after \(delay) µs was lost: the run went on training")
      #expect(ending == .exit(128 + SIGTERM) || ending == .signal(SIGTERM), "after \(delay) µs: \(ending)")
    }
  }

  @Test func dataOutsideTheFileIsRefused() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try python(
      """
      import h5py, numpy as np, sys, os
      d = sys.argv[1]
      np.ones((4, 1)).tofile(os.path.join(d, "targets.bin"))
      with h5py.File(os.path.join(d, "other.h5"), "w") as f:
          f["targets"] = np.ones((4, 1))
      for name in ["external", "linked"]:
          with h5py.File(os.path.join(d, name + ".h5"), "w") as f:
              f.attrs["format"] = "rbp-dataset"; f.attrs["version"] = 1; f.attrs["kind"] = "steady"
              f["inputs"] = np.ones((4, 2))
              if name == "external":
                  f.create_dataset("targets", shape=(4, 1), dtype="f8", external=[(os.path.join(d, "targets.bin"), 0, 32)])
              else:
                  f["targets"] = h5py.ExternalLink(os.path.join(d, "other.h5"), "/targets")
      """, [dir])
    try expectRefusal(["train", "--data", dir + "/external.h5", "--out", dir + "/r1"], "/targets", "other files")
    try expectRefusal(
      ["train", "--data", dir + "/linked.h5", "--out", dir + "/r2"], "/targets", "link to another file")
  }

  /// A dataset that changes while a sweep runs: no result carries the
  /// identity of data it did not read.
  @Test func aDatasetChangedDuringASweepIsNotLabelledWithTheOldOne() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let data = dir + "/xor.h5"
    try FileManager.default.copyItem(atPath: shipped("xor"), toPath: data)
    try #"{"data": "\#(data)", "base": {"epochs": 2}, "grid": {"seed": [0, 1]}}"#
      .write(toFile: dir + "/spec.json", atomically: true, encoding: .utf8)
    // Each checkpoint write pauses: the data changes during the first run's.
    let sweep = try ChildProcess(
      rbpBinary, ["sweep", dir + "/spec.json", "--out", dir + "/sweep", "--jobs", "1", "--quiet"],
      environment: ["RBP_TEST_WRITE_PAUSE": "2,0"])
    var paused = false
    for _ in 0..<3000 where !paused && sweep.isRunning {
      let runs = (try? FileManager.default.subpathsOfDirectory(atPath: dir + "/sweep/runs")) ?? []
      paused = runs.contains { $0.hasSuffix(".paused-1") }
      if !paused { usleep(10_000) }
    }
    #expect(paused, "the sweep never paused in a checkpoint write")
    // Replaced whole, as an editor or a copy does (the sweep holds the old file open).
    try FileManager.default.copyItem(atPath: data, toPath: data + ".new")
    try python(
      """
      import h5py, sys
      with h5py.File(sys.argv[1], "a") as f: f.attrs["note"] = "edited"
      """, [data + ".new"])
    try #require(rename(data + ".new", data) == 0)
    #expect(sweep.wait() == .exit(0))
    let export = try rbp(["sweep", "export", dir + "/sweep", "--json"])
    let rows = try JSONSerialization.jsonObject(with: Data(export.out.utf8)) as? [[String: Any]] ?? []
    #expect(rows.count == 2)
    for row in rows {
      #expect(
        row["status"] as? String == "failed" && (row["reason"] as? String)?.contains("changed") == true,
        "\(row["name"] ?? "?"): \(row["status"] ?? "?") \(row["reason"] ?? "")")
    }
  }

  /// `--resume` on other data is refused; the checkpoint keeps its
  /// data_hash and its bytes.
  @Test func resumeOnChangedDataIsRefused() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let data = dir + "/data.h5"
    try #require(try rbp(["datasets", "make", "patterns", "--seed", "1", "--out", data]).status == 0)
    try #require(try rbp(["train", "--data", data, "--out", dir + "/run", "--epochs", "2", "--quiet"]).status == 0)
    let before = bytes(dir + "/run/checkpoint.h5")
    try #require(try rbp(["datasets", "make", "patterns", "--seed", "2", "--out", data]).status == 0)
    try expectRefusal(
      ["train", "--data", data, "--out", dir + "/run", "--epochs", "4", "--resume"],
      "is not the dataset this run was trained on", "data_hash")
    #expect(bytes(dir + "/run/checkpoint.h5") == before)
  }

  /// A checkpoint that contradicts itself is refused by eval and resume,
  /// naming what is wrong.
  @Test func checkpointsThatContradictThemselvesAreRefused() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = dir + "/run"
    try #require(
      try rbp([
        "train", "--data", shipped("xor"), "--out", run, "--epochs", "5", "--optimizer", "adam",
        "--quiet",
      ]).status == 0)
    let edits: [(String, String)] = [
      ("f['optimizer'].attrs['step'] = np.int64(-1)", "'step' is -1"),
      ("v = f['optimizer/second'][...]; v[0] = -1.0; f['optimizer/second'][...] = v", "negative second moment"),
      ("del f['history/loss']; f['history/loss'] = np.ones(2)", "has 2 values, but attribute 'epoch' is 5"),
      ("del f['history/loss']; f['history/loss'] = np.ones((5, 2))", "has shape [5, 2]"),
      ("f.attrs['epoch'] = np.int64(0)", "attribute 'epoch' is 0"),
      ("f['optimizer'].attrs['weight_decay'] = np.inf", "weight decay"),
      ("f['optimizer'].attrs['optimizer'] = 'sgd'", "optimizer adam"),
      ("f.attrs['resolved_config'] = 'not json'", "'resolved_config'"),
      (
        "import json; c = json.loads(f.attrs['resolved_config']); c['units'] = 9; f.attrs['resolved_config'] = json.dumps(c)",
        "says units 9"
      ),
      (
        "import json; c = json.loads(f.attrs['resolved_config']); c['model'] = 'trajectory'; f.attrs['resolved_config'] = json.dumps(c)",
        "says model trajectory"
      ),
    ]
    for (i, (edit, expected)) in edits.enumerated() {
      let copy = dir + "/bad\(i)"
      try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
      try FileManager.default.copyItem(atPath: run + "/checkpoint.h5", toPath: copy + "/checkpoint.h5")
      try python(
        "import h5py, numpy as np, sys\nwith h5py.File(sys.argv[1], 'a') as f:\n    " + edit, [copy + "/checkpoint.h5"])
      let before = bytes(copy + "/checkpoint.h5")
      try expectRefusal(["eval", "--checkpoint", copy + "/checkpoint.h5", "--data", shipped("xor")], expected)
      try expectRefusal(["train", "--data", shipped("xor"), "--out", copy, "--resume", "--epochs", "8"], expected)
      #expect(bytes(copy + "/checkpoint.h5") == before, "\(edit): the refused resume rewrote the checkpoint")
    }
  }

  /// Entries of a spec that are one run (repeated seeds, values that parse
  /// to the same number, settings that change nothing) are trained once,
  /// and the sweep says so.
  @Test func duplicateRunsAreTrainedOnce() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let grids = [
      #"{"seed": [1, 1, 1]}"#, #"{"lr": [0.01, 0.010000000000000001]}"#,
      #"{"threads": [1, 2], "checkpoint_every": [0, 5]}"#,
    ]
    for (i, grid) in grids.enumerated() {
      let spec = dir + "/spec\(i).json"
      try #"{"data": "\#(shipped("xor"))", "base": {"epochs": 2}, "grid": \#(grid), "runs": [{"epochs": 2}]}"#
        .write(toFile: spec, atomically: true, encoding: .utf8)
      let r = try rbp(["sweep", spec, "--out", dir + "/s\(i)", "--quiet"])
      #expect(r.status == 0, "\(grid): \(r.err)")
      #expect(r.err.contains("repeat another's identity") && r.err.contains("are trained once"), "\(grid): \(r.err)")
      let status = try rbp(["sweep", "status", dir + "/s\(i)", "--json"])
      let counts = try JSONSerialization.jsonObject(with: Data(status.out.utf8)) as? [String: Any]
      let distinct = i == 0 ? 2 : 1  // seed 1 vs the explicit run's default seed
      #expect(counts?["runs"] as? Int == distinct, "\(grid): \(status.out)")
      let runs = try FileManager.default.contentsOfDirectory(atPath: dir + "/s\(i)/runs")
      #expect(runs.count == distinct, "\(grid): trained \(runs)")
    }
  }

  /// Settings of the other model kind are refused, not dropped or made
  /// part of the run's identity.
  @Test func settingsOfTheOtherModelKindAreRefused() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for flags in [["--window", "3"], ["--bptt", "truncated"]] {
      try expectRefusal(
        ["train", "--data", shipped("xor"), "--out", dir + "/s"] + flags,
        "\(flags[0].dropFirst(2)) applies to trajectory models only")
    }
    for flags in [
      ["--solver", "newton"], ["--tolerance", "1e-6"], ["--warm-start"], ["--max-iterations", "50"],
      ["--adjoint", "direct"], ["--stability-weight", "0.1"],
    ] {
      let name = flags[0].dropFirst(2).replacingOccurrences(of: "-", with: "_")
      try expectRefusal(
        ["train", "--data", shipped("sine"), "--out", dir + "/t"] + flags, "\(name) applies to steady models only")
    }
    #expect(!FileManager.default.fileExists(atPath: dir + "/s") && !FileManager.default.fileExists(atPath: dir + "/t"))
    try #require(
      try rbp(["train", "--data", shipped("xor"), "--out", dir + "/run", "--epochs", "2", "--quiet"]).status == 0)
    for value in ["nan", "0", "-1", "inf"] {
      try expectRefusal(
        [
          "fixed-points", "--checkpoint", dir + "/run/checkpoint.h5", "--data", shipped("xor"),
          "--distinct=\(value)", "--out", dir + "/fp.h5",
        ], "--distinct")
    }
  }

  // MARK: Crashes and exhaustion

  /// Damaged results files, absurd shard counts and launcher variables,
  /// unbounded work and FIFOs: refused with a message, never a trap, a
  /// crash or a hang.
  @Test func absurdNumbersAndFilesAreRefused() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let spec = dir + "/spec.json"
    try #"{"data": "\#(shipped("xor"))", "base": {"epochs": 2}, "grid": {"seed": [0, 1]}}"#
      .write(toFile: spec, atomically: true, encoding: .utf8)
    try #require(try rbp(["sweep", spec, "--out", dir + "/sweep", "--quiet"]).status == 0)
    try python(
      """
      import h5py, numpy as np, sys
      with h5py.File(sys.argv[1], "a") as f:
          g = f["runs"][sorted(f["runs"].keys())[0]]
          g.attrs["index"] = np.int64(-3)
      """, [dir + "/sweep/results-0-of-1.h5"])
    for command in [["status"], ["merge"], ["export", "--csv"]] {
      try expectRefusal(["sweep"] + command.prefix(1) + [dir + "/sweep"] + command.dropFirst(), "'index' is -3")
    }
    for flags in [
      ["--shard", "0/1000000000000"], ["--shards", "1000000000000"], ["--shard", "0/9223372036854775807"],
    ] {
      try expectRefusal(["sweep", spec, "--out", dir + "/s2"] + flags, "shards")
    }
    let huge = "\(Int.max)"
    for environment in [
      ["OMPI_COMM_WORLD_SIZE": huge, "OMPI_COMM_WORLD_RANK": "0"],
      ["SLURM_ARRAY_TASK_ID": huge, "SLURM_ARRAY_TASK_COUNT": huge, "SLURM_ARRAY_TASK_MIN": "\(Int.min)"],
      [
        "SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "0",
        "SLURM_ARRAY_TASK_MAX": huge, "SLURM_ARRAY_TASK_STEP": "1",
      ],
      ["SLURM_ARRAY_TASK_ID": huge, "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": huge],
      [
        "SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "\(Int.min)",
        "SLURM_ARRAY_TASK_STEP": huge,
      ],
      [
        "SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4", "OMPI_COMM_WORLD_SIZE": huge,
        "OMPI_COMM_WORLD_RANK": "1",
      ],
    ] {
      try expectRefusal(["sweep", spec, "--out", dir + "/s3"], environment: environment)
    }
    try #require(
      try rbp(["train", "--data", shipped("xor"), "--out", dir + "/run", "--epochs", "2", "--quiet"]).status == 0)
    try expectRefusal(
      [
        "fixed-points", "--checkpoint", dir + "/run/checkpoint.h5", "--data", shipped("xor"),
        "--starts", "100000000", "--out", dir + "/fp.h5",
      ], "--starts must be between 1 and")
    // A spec whose data is a FIFO: refused at once, not a hang.
    try #require(mkfifo(dir + "/fifo.h5", 0o644) == 0)
    try #"{"data": "\#(dir)/fifo.h5", "grid": {"seed": [0]}}"#.write(
      toFile: dir + "/fifo.json", atomically: true, encoding: .utf8)
    let child = try ChildProcess(rbpBinary, ["sweep", dir + "/fifo.json", "--out", dir + "/s4"], standardError: .pipe)
    for _ in 0..<2000 where child.isRunning { usleep(10_000) }
    if child.isRunning { child.signal(SIGKILL) }
    let err = String(decoding: child.standardError?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
    #expect(child.wait() == .exit(1) && err.contains("is a FIFO, not a regular file"), "\(err)")
    for command in [["train", "--data", dir + "/fifo.h5", "--out", dir + "/r"], ["inspect", dir + "/fifo.h5"]] {
      try expectRefusal(command, "is a FIFO")
    }
  }

  /// What a dataset gives is checked before anything is written: widths of
  /// /initial and /val, units that follow the file; and a configuration
  /// error never suggests --resume. (/test is read by `eval --test` only,
  /// which checks it.)
  @Test func dataChecksComeBeforeAnyOutput() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try python(
      """
      import h5py, numpy as np, sys, os
      d = sys.argv[1]
      def make(name, kind, initial=None, test=None):
          with h5py.File(os.path.join(d, name), "w") as f:
              f.attrs["format"] = "rbp-dataset"; f.attrs["version"] = 1; f.attrs["kind"] = kind
              shape = (8, 5) if kind == "trajectory" else (8,)
              f["inputs"] = np.random.rand(*shape, 2); f["targets"] = np.random.rand(*shape, 3)
              if initial: f["initial"] = np.zeros((8, initial))
              if test:
                  g = f.create_group("val")
                  g["inputs"] = np.random.rand(2, *shape[1:], test[0]); g["targets"] = np.random.rand(2, *shape[1:], test[1])
      make("initial24.h5", "steady", initial=24)
      make("narrow.h5", "trajectory", initial=6)
      make("testwidth.h5", "steady", test=(2, 4))
      make("trajtest.h5", "trajectory", test=(3, 3))
      """, [dir])
    let cases: [([String], [String])] = [
      (["--data", dir + "/narrow.h5", "--units", "12"], ["/initial", "6 units"]),
      (["--data", dir + "/testwidth.h5"], ["/val/targets", "4 columns", "has 3"]),
      (["--data", dir + "/trajtest.h5"], ["/val/inputs", "3 columns", "has 2"]),
    ]
    for (i, (flags, expected)) in cases.enumerated() {
      let out = dir + "/o\(i)"
      let r = try rbp(["train", "--out", out, "--epochs", "2"] + flags)
      #expect(
        r.status == 1 && expected.allSatisfy { r.err.contains($0) } && !r.err.contains("--resume"), "\(flags): \(r.err)"
      )
      #expect(!FileManager.default.fileExists(atPath: out), "\(flags): --out was created")
    }
    // eval --test checks the test set's widths against the checkpoint.
    try FileManager.default.copyItem(atPath: shipped("xor"), toPath: dir + "/xor.h5")
    try python(
      """
      import h5py, numpy as np, sys
      with h5py.File(sys.argv[1], "a") as f:
          g = f.create_group("test"); g["inputs"] = np.ones((2, 3)); g["targets"] = np.ones((2, 1))
      """, [dir + "/xor.h5"])
    try #require(
      try rbp(["train", "--data", shipped("xor"), "--out", dir + "/x", "--epochs", "1", "--quiet"]).status == 0)
    try expectRefusal(
      ["eval", "--checkpoint", dir + "/x/checkpoint.h5", "--data", dir + "/xor.h5", "--test"],
      "(/test)", "3 inputs")
    // Units follow /initial when --units is not given.
    try #require(
      try rbp(["train", "--data", dir + "/initial24.h5", "--out", dir + "/i24", "--epochs", "1", "--quiet"]).status == 0
    )
    #expect(try CheckpointFile.read(dir + "/i24/checkpoint.h5").shape.units == 24)
    // A classic task made larger than its usual size still trains with the defaults.
    try #require(try rbp(["datasets", "make", "patterns", "--length", "128", "--out", dir + "/p128.h5"]).status == 0)
    let p = try rbp(["train", "--data", dir + "/p128.h5", "--out", dir + "/p128", "--epochs", "1", "--quiet"])
    #expect(p.status == 0, "\(p.err)")
  }

  /// Two splits of one sweep folder: the second is refused, the first's
  /// manifest stays.
  @Test func oneSplitPerSweepFolder() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try #"{"data": "\#(shipped("xor"))", "base": {"epochs": 2}, "grid": {"seed": [0, 1, 2]}}"#
      .write(toFile: dir + "/spec.json", atomically: true, encoding: .utf8)
    try #require(try rbp(["sweep", dir + "/spec.json", "--out", dir + "/s", "--shard", "0/2", "--quiet"]).status == 0)
    let manifest = bytes(dir + "/s/manifest.json")
    try expectRefusal(
      ["sweep", dir + "/spec.json", "--out", dir + "/s", "--shard", "1/3"], "split into 2 shards", "1/3")
    #expect(bytes(dir + "/s/manifest.json") == manifest)
  }

  // MARK: Also

  /// File names that are not UTF-8, invalid JSON, CSV numbers, unreadable
  /// members, a locked run, f32 overflow.
  @Test func messagesSayWhatIsWrong() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // Not UTF-8: said so, not "no such file".
    let latin1 = Array(dir.utf8) + Array("/caf".utf8) + [0xE9] + Array(".h5".utf8)
    let path = latin1.withUnsafeBufferPointer { b in
      b.withMemoryRebound(to: CChar.self) { c in Array(c) + [0] }
    }
    let fd = open(path, O_CREAT | O_WRONLY, 0o644)
    try #require(fd >= 0)
    close(fd)
    let r = try runProgram("/bin/sh", ["-c", "'\(rbpBinary)' inspect \"$(printf '\(dir)/caf\\351.h5')\""])
    #expect(r.status == 1 && r.err.contains("not valid UTF-8"), "\(r.err)")
    // Invalid JSON: where.
    for (i, text) in [
      #"{"data": "x.h5", "base": {"lr": NaN}}"#, #"{"data": "x.h5"} trailing"#,
      #"{"data": "x.h5" /* comment */}"#,
    ].enumerated() {
      try text.write(toFile: dir + "/bad\(i).json", atomically: true, encoding: .utf8)
      try expectRefusal(["sweep", dir + "/bad\(i).json", "--out", dir + "/s"], "not valid JSON", "character")
    }
    // CSV numbers read back as the doubles the JSON export holds.
    try #"{"data": "\#(shipped("xor"))", "base": {"epochs": 3}, "grid": {"lr": [0.1, 0.07]}}"#
      .write(toFile: dir + "/spec.json", atomically: true, encoding: .utf8)
    try #require(try rbp(["sweep", dir + "/spec.json", "--out", dir + "/sw", "--quiet"]).status == 0)
    let csv = try rbp(["sweep", "export", dir + "/sw", "--csv"]).out.split(separator: "\n").map {
      $0.split(separator: ",", omittingEmptySubsequences: false)
    }
    let header = csv[0].map(String.init)
    let loss = try #require(header.firstIndex(of: "final_loss"))
    for row in csv.dropFirst() {
      let text = String(row[loss])
      let value = try #require(Double(text))
      #expect("\(value)" == text, "\(text) is not the shortest form of \(value)")
    }
    // A run being trained: --resume names the lock.
    let first = try ChildProcess(
      rbpBinary,
      [
        "train", "--data", shipped("xor"), "--out", dir + "/run", "--epochs", "1000000",
        "--checkpoint-every", "1", "--quiet",
      ])
    defer {
      first.signal(SIGKILL)
      first.wait()
    }
    for _ in 0..<3000 where !FileManager.default.fileExists(atPath: dir + "/run/checkpoint.h5") { usleep(10_000) }
    try expectRefusal(
      ["train", "--data", shipped("xor"), "--out", dir + "/run", "--resume", "--epochs", "2000000"],
      "being written by another rbp process", dir + "/run/.rbp-lock")
    // A filter this HDF5 lacks (h5py's lzf): inspect lists the rest and names it; train refuses it.
    try python(
      """
      import h5py, numpy as np, sys
      with h5py.File(sys.argv[1], "w") as f:
          f.attrs["format"] = "rbp-dataset"; f.attrs["version"] = 1; f.attrs["kind"] = "steady"
          f["inputs"] = np.ones((4, 2)); f.create_dataset("targets", data=np.ones((4, 1)), compression="lzf")
      """, [dir + "/lzf.h5"])
    let listed = try rbp(["inspect", dir + "/lzf.h5"])
    #expect(
      listed.status == 1 && listed.out.contains("inputs  [4, 2]") && listed.out.contains("targets  (unreadable")
        && listed.out.contains("lzf") && listed.err.contains("1 members could not be read"),
      "\(listed.out) \(listed.err)")
    try expectRefusal(["train", "--data", dir + "/lzf.h5", "--out", dir + "/lz"], "/targets", "lzf", "gzip")
    // A finite value too large for f32.
    try python(
      """
      import h5py, numpy as np, sys
      with h5py.File(sys.argv[1], "w") as f:
          f.attrs["format"] = "rbp-dataset"; f.attrs["version"] = 1; f.attrs["kind"] = "steady"
          x = np.ones((4, 2)); x[2, 0] = 1e300
          f["inputs"] = x; f["targets"] = np.ones((4, 1))
      """, [dir + "/big.h5"])
    try expectRefusal(
      ["train", "--data", dir + "/big.h5", "--out", dir + "/b", "--precision", "f32"],
      "1e+300", "overflows f32", "pattern 2")
  }
}
