// `rbp sweep SPEC.json --out DIR [--jobs K] [--shard i/n | --shards n]` runs
// (a shard of) a sweep; `rbp sweep merge DIR [--partial]` joins the shards'
// results into DIR/sweep.h5; `rbp sweep status DIR [--json]` counts done,
// failed, running and missing runs per shard; `rbp sweep export DIR --csv |
// --json [--out FILE]` writes one row per run with its resolved settings.

import ArgumentParser
import Foundation
import RBPStore
import RBPTrain

struct Sweep: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sweep",
    abstract: "Run many training runs from a spec, on one machine or sharded across many.",
    subcommands: [RunSweep.self, Merge.self, Status.self, Export.self, Best.self], defaultSubcommand: RunSweep.self)

  struct RunSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "run",
      abstract: "Run a sweep spec (rbp sweep SPEC.json --out DIR).",
      discussion: """
        SPEC.json: {"data": "D.h5", "base": {config}, "grid": {"lr": [0.01, 0.1], "seed": [0, 1]}, "runs": [{config}, …]}.
        The grid is the cartesian product over its keys (sorted); "runs" adds explicit runs. Each run writes
        DIR/runs/run-NNNN/checkpoint.h5 and result.json. A run is known by a hash of its resolved configuration and
        its dataset's content: a rerun skips runs with a result of that identity, resumes interrupted runs from their
        checkpoint, and stops if a result of another identity is found (--rerun-changed retrains those).
        Runs are dealt to shards by estimated cost. Without --shard, the shard comes from the launcher:
        a Slurm job array (SLURM_ARRAY_TASK_ID with _MIN/_STEP/_COUNT, or the task id itself with --shards N),
        srun tasks (SLURM_PROCID/SLURM_NTASKS inside a job step) or mpirun (OMPI_COMM_WORLD_RANK/SIZE), else 0/1.
        SIGINT or SIGTERM: the runs in progress save their state, and the sweep exits with 128 + the signal.
        """)
    @Argument(help: ArgumentHelp("The sweep spec (JSON).", valueName: "spec")) var spec: String
    @Option(help: "Output folder.") var out: String
    @Option(
      help:
        "Runs trained at once on this machine, each single-threaded (default: SLURM_CPUS_PER_TASK, else OMP_NUM_THREADS, else 1)."
    )
    var jobs: Int?
    @Option(help: "This process's shard, i/n.") var shard: String?
    @Option(
      help:
        "The sweep's number of shards, when a job array's task id is the shard (so one task can be resubmitted alone).")
    var shards: Int?
    @Flag(name: .customLong("retry-failed"), help: "Train failed runs again.") var retryFailed = false
    @Flag(
      name: .customLong("rerun-changed"),
      help: "Retrain runs whose result has another configuration or dataset than the spec now gives.")
    var rerunChanged = false
    @Option(
      name: .customLong("checkpoint-seconds"),
      help: "Each run saves its checkpoint at least this often (seconds, at epoch ends).")
    var checkpointSeconds = 60.0
    @Option(
      help: ArgumentHelp(
        "Runs each job trains in lockstep, one epoch of each in turn, while they fit in a core's L2 cache (1: one run after another; the results are the same bytes).",
        valueName: "k"))
    var lockstep = SweepRunner.defaultLockstep
    @Flag(help: "No progress output.") var quiet = false
    @Flag(help: "One JSON object per finished run, then one for the shard.") var json = false
    @Flag(help: "Print the planned runs (name, shard, state, settings) and train nothing.") var list = false

    func run() throws {
      let out = trimmedFolder(self.out)
      try reporting {
        guard let data = FileManager.default.contents(atPath: spec) else {
          throw CLIFailure(message: "\(spec): cannot read the sweep spec")
        }
        if let shards, shards < 1 { throw CLIFailure(message: "--shards must be at least 1, got \(shards)") }
        let parsed = try SweepSpec.parse(json: data, source: spec)
        let part =
          try shard.map(Shard.parse) ?? Shard.fromEnvironment(shards: shards) ?? Shard(index: 0, count: shards ?? 1)
        if let shards, part.count != shards {
          throw CLIFailure(
            message: "--shards \(shards) but this process is shard \(part) (from --shard or the launcher)")
        }
        try refuseOverwritingInputs(
          outputs: [("--out", out + "/sweep.h5"), ("--out", out + "/" + part.fileName)],
          inputs: [("spec", spec), ("data", parsed.data)])
        let runner = try SweepRunner(
          spec: parsed, out: out, jobs: jobs ?? defaultJobs(), shard: part,
          retryFailed: retryFailed, rerunChanged: rerunChanged,
          checkpointSeconds: checkpointSeconds, lockstep: lockstep)
        if list {
          let rows = Sweep.planRows(runner, shard: part, out: out)
          if json {
            for row in rows { writeLine(jsonLine(row)) }
            writeLine(jsonLine(["runs": rows.count, "duplicates": runner.plan.duplicates.count, "shards": part.count]))
          } else {
            for row in rows {
              print(
                "\(row["run"]! as! String)  shard \(row["shard"]! as! String)  \(row["state"]! as! String)  "
                  + "\((row["config"] ?? nil) as? String ?? "")"
                  + (((row["problem"] ?? nil) as? String).map { "  (does not resolve: \($0))" } ?? ""))
            }
            print("\(rows.count) runs in \(part.count) shards; nothing trained (--list)")
          }
          return
        }
        let printer = ProgressPrinter(quiet: quiet, json: json)
        let duplicates = runner.plan.duplicates
        if !duplicates.isEmpty {
          let list = duplicates.keys.sorted().prefix(6).map { "entry \($0) = \(SweepPlan.runName(duplicates[$0]!))" }
          warn(
            "\(duplicates.count) of the spec's \(duplicates.count + runner.plan.count) runs repeat another's identity "
              + "(the same resolved configuration and data) and are trained once: "
              + list.joined(separator: ", ") + (duplicates.count > 6 ? ", …" : ""))
        }
        let start = Date()
        installStopHandlers()
        let outcome = try runner.run { done, total, failed, r in
          let elapsed = Date().timeIntervalSince(start)
          let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : .nan
          printer.update(
            "runs \(done)/\(total)  failed \(failed)  \(r.name) \(r.status)"
              + (r.status == "done" ? " loss \(format6(r.finalValidationLoss))" : ": \(r.reason)")
              + "  ETA \(clock(eta))",
            json: [
              "run": r.name, "status": r.status, "reason": r.reason, "final_val_loss": r.finalValidationLoss,
              "done": done, "total": total,
            ])
        }
        printer.finish()
        for name in outcome.busy {
          FileHandle.standardError.write(
            Data("Warning: \(out)/runs/\(name) is being trained by another process (its lock is held); skipped\n".utf8))
        }
        if let signal = outcome.interrupted {
          throw interruptedExit(
            signal,
            message: "by \(signalName(signal)): \(outcome.records.count) runs of shard \(part) have a result, "
              + "\(outcome.unfinished) do not (those in progress saved their state); rerun the same command to continue"
          )
        }
        let failed = outcome.records.filter { $0.status != "done" }.count
        let results = joinedPath(out, part.fileName)
        if json {
          writeLine(
            jsonLine([
              "shard": part.description, "runs": outcome.records.count, "failed": failed,
              "unfinished": outcome.unfinished, "results": results,
              "duplicates": runner.plan.duplicates.count,
            ]))
        } else if !quiet {
          print(
            "shard \(part): \(outcome.records.count) runs, \(failed) failed"
              + (outcome.unfinished > 0 ? ", \(outcome.unfinished) not finished" : "")
              + "; results in \(results)")
        }
      }
    }
  }

  /// `--list`: every run of the plan with its shard, its state in `out`
  /// (if the folder exists) and its settings, one line (or JSON object) each.
  static func planRows(_ runner: SweepRunner, shard: Shard, out: String) -> [[String: Any?]] {
    let plan = runner.plan
    let assignment = plan.assignment(shards: shard.count)
    let folder = try? SweepFolder.read(out)
    return plan.runs.map { run in
      let state =
        folder.flatMap { f in
          f.manifest.runs.indices.contains(run.index) && f.manifest.runs[run.index].hash == run.hash
            ? f.state(run.index).rawValue : nil
        } ?? RunState.missing.rawValue
      return [
        "run": run.name, "shard": "\(assignment[run.index])/\(shard.count)", "state": state, "hash": run.hash,
        "config": run.plan?.resolvedConfig.json ?? run.config.json, "problem": run.problem,
      ]
    }
  }

  struct Best: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "best",
      abstract: "The best finished runs by a column, or its mean ± sd per group of runs.",
      discussion: """
        Columns are those of `rbp sweep export`: final_val_loss, best_val_loss, final_accuracy, seconds, … and every
        setting (lr, units, seed, …). Losses and times rank lowest first, accuracy and solved highest first.
        With --group-by, runs that share the value of that column (say units, averaging over seeds) form a group.
        """)
    @Argument(help: ArgumentHelp("The sweep's output folder.", valueName: "dir")) var dir: String
    @Option(help: "The column to rank by.") var by = "final_val_loss"
    @Option(name: .short, help: "How many runs (or groups) to list.") var k = 5
    @Option(name: .customLong("group-by"), help: "Group runs by this column; print mean ± sd of --by per group.")
    var groupBy: String?
    @Flag(help: "One JSON array.") var json = false

    func run() throws {
      let dir = trimmedFolder(self.dir)
      try reporting {
        guard k >= 1 else { throw CLIFailure(message: "-k must be at least 1, got \(k)") }
        let folder = try SweepFolder.read(dir)
        if let groupBy {
          let groups = try Array(folder.groups(by: groupBy, of: by).prefix(k))
          if json {
            writeLine(
              jsonLine([
                "by": by, "group_by": groupBy,
                "groups": groups.map { g -> [String: Any?] in
                  [groupBy: g.value, "runs": g.runs, "mean": g.mean, "sd": g.sd, "best": g.best, "best_run": g.bestRun]
                },
              ]))
            return
          }
          let header = [groupBy, "runs", "\(by) mean", "± sd", "best", "best run"]
          printColumns(
            [header]
              + groups.map { g in
                [g.value, "\(g.runs)", format6(g.mean), format6(g.sd), format6(g.best), g.bestRun]
              })
          return
        }
        let (columns, rows) = try folder.best(by: by, count: k)
        if json {
          writeLine(String(decoding: try SweepFolder.json((columns, rows)), as: UTF8.self))
          return
        }
        // The run, the ranked column, and the settings that differ between runs of the sweep.
        let all = folder.table()
        let settingsStart = (all.columns.firstIndex(of: "best_val_loss") ?? 0) + 1
        let varying = (settingsStart..<all.columns.count).filter { c in
          Set(all.rows.map { cellText($0[c]) }).count > 1
        }
        let c = columns.firstIndex(of: by)!
        let header = ["run", by] + varying.map { all.columns[$0] }
        let body = rows.map { row in [row[0] as? String ?? "", cellText(row[c])] + varying.map { cellText(row[$0]) } }
        printColumns([header] + body)
      }
    }
  }

  struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "merge",
      abstract: "Join the shards' results into DIR/sweep.h5; refuses while runs have no result unless --partial.")
    @Argument(help: ArgumentHelp("The sweep's output folder.", valueName: "dir")) var dir: String
    @Flag(help: "Merge what is there; runs without a result get status \"missing\".") var partial = false
    @Flag(help: "Print one JSON object: the file written and its counts.") var json = false

    func run() throws {
      let dir = trimmedFolder(self.dir)
      try reporting {
        let file = joinedPath(dir, "sweep.h5")
        try refuseNonRegularOutput(flag: "merge", path: file)
        let records = try SweepFolder.read(dir).merge(partial: partial)
        let missing = records.filter { $0.status == "missing" }.count
        let failed = records.filter { $0.status == "failed" }.count
        if json {
          writeLine(
            jsonLine([
              "file": file, "runs": records.count, "done": records.count - failed - missing,
              "failed": failed, "missing": missing,
            ]))
        } else {
          print("\(file): \(records.count) runs, \(failed) failed" + (missing > 0 ? ", \(missing) missing" : ""))
        }
      }
    }
  }

  struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "status", abstract: "Count done, failed, running and missing runs per shard.")
    @Argument(help: ArgumentHelp("The sweep's output folder.", valueName: "dir")) var dir: String
    @Flag(help: "One JSON object.") var json = false

    func run() throws {
      let dir = trimmedFolder(self.dir)
      try reporting {
        let folder = try SweepFolder.read(dir)
        let counts = folder.counts
        let states = RunState.allCases
        var total: [RunState: Int] = [:]
        for row in counts { for (k, v) in row { total[k, default: 0] += v } }
        if json {
          let shards = counts.enumerated().map { i, row -> [String: Any] in
            var o: [String: Any] = ["shard": i, "runs": row.values.reduce(0, +)]
            for s in states { o[s.rawValue] = row[s] ?? 0 }
            return o
          }
          var object: [String: Any] = [
            "shards": shards, "runs": folder.manifest.runs.count,
            "running_runs": folder.running.keys.sorted().map {
              ["run": SweepPlan.runName($0), "by": folder.running[$0]!]
            },
            "stray_files": folder.strayFiles,
          ]
          for s in states { object[s.rawValue] = total[s] ?? 0 }
          let bytes = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
          writeLine(String(decoding: bytes, as: UTF8.self))
        } else {
          print(
            "shard     runs  " + states.map { $0.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0) }.joined())
          for (i, row) in counts.enumerated() {
            let label = "\(i)/\(counts.count)".padding(toLength: 8, withPad: " ", startingAt: 0)
            print(
              label + String(format: "%5d  ", row.values.reduce(0, +))
                + states.map { String(row[$0] ?? 0).padding(toLength: 8, withPad: " ", startingAt: 0) }.joined())
          }
          print(
            "all     " + String(format: "%5d  ", folder.manifest.runs.count)
              + states.map { String(total[$0] ?? 0).padding(toLength: 8, withPad: " ", startingAt: 0) }.joined())
          for (i, who) in folder.running.sorted(by: { $0.key < $1.key }) {
            print("\(SweepPlan.runName(i)) is being trained by \(who)")
          }
          for f in folder.strayFiles { print("\(f): results of another split or spec (merge refuses it)") }
        }
      }
    }
  }

  struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "export",
      abstract: "One row per run: name, status, reason, epochs, seconds, final metrics and every resolved setting.")
    @Argument(help: ArgumentHelp("The sweep's output folder.", valueName: "dir")) var dir: String
    @Flag(help: "CSV (the default).") var csv = false
    @Flag(help: "A JSON array of objects.") var json = false
    @Flag(help: "One row per run and epoch (name, index, status, epoch, train_loss, val_loss, settings).") var long =
      false
    @Option(help: "Write to this file (default: standard output).") var out: String?

    func run() throws {
      let dir = trimmedFolder(self.dir)
      try reporting {
        guard !(csv && json) else { throw CLIFailure(message: "--csv and --json: choose one") }
        if let out { try refuseNonRegularOutput(flag: "--out", path: out) }
        let folder = try SweepFolder.read(dir)
        let table = long ? folder.longTable() : folder.table()
        let bytes = json ? try SweepFolder.json(table) + Data("\n".utf8) : Data(SweepFolder.csv(table).utf8)
        if let out {
          try writeFileAtomically(bytes, to: out)
        } else {
          writeLine(String(decoding: bytes.dropLast(), as: UTF8.self))
        }
      }
    }
  }
}

/// Rows of cells in columns as wide as their widest cell, two spaces apart.
func printColumns(_ lines: [[String]]) {
  guard let first = lines.first else { return }
  let widths = first.indices.map { i in lines.map { $0[i].count }.max() ?? 0 }
  for line in lines {
    let cells = line.indices.map { i in
      i == line.count - 1 ? line[i] : line[i].padding(toLength: widths[i], withPad: " ", startingAt: 0)
    }
    print(cells.joined(separator: "  "))
  }
}
