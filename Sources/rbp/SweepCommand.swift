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
    abstract: "Run many training runs from a spec, on one machine or sharded across many.",
    subcommands: [RunSweep.self, Merge.self, Status.self, Export.self], defaultSubcommand: RunSweep.self)

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
    @Option(help: "Runs trained at once on this machine, each single-threaded (default: SLURM_CPUS_PER_TASK, else OMP_NUM_THREADS, else 1).")
    var jobs: Int?
    @Option(help: "This process's shard, i/n.") var shard: String?
    @Option(help: "The sweep's number of shards, when a job array's task id is the shard (so one task can be resubmitted alone).")
    var shards: Int?
    @Flag(name: .customLong("retry-failed"), help: "Train failed runs again.") var retryFailed = false
    @Flag(name: .customLong("rerun-changed"), help: "Retrain runs whose result has another configuration or dataset than the spec now gives.")
    var rerunChanged = false
    @Option(name: .customLong("checkpoint-seconds"), help: "Each run saves its checkpoint at least this often (seconds, at epoch ends).")
    var checkpointSeconds = 60.0
    @Flag(help: "No progress output.") var quiet = false
    @Flag(help: "One JSON object per finished run.") var json = false

    func run() throws {
      try reporting {
        guard let data = FileManager.default.contents(atPath: spec) else {
          throw CLIFailure(message: "\(spec): cannot read the sweep spec")
        }
        if let shards, shards < 1 { throw CLIFailure(message: "--shards must be at least 1, got \(shards)") }
        let parsed = try SweepSpec.parse(json: data, source: spec)
        let part = try shard.map(Shard.parse) ?? Shard.fromEnvironment(shards: shards) ?? Shard(index: 0, count: shards ?? 1)
        if let shards, part.count != shards {
          throw CLIFailure(message: "--shards \(shards) but this process is shard \(part) (from --shard or the launcher)")
        }
        try refuseOverwritingInputs(outputs: [("--out", out + "/sweep.h5"), ("--out", out + "/" + part.fileName)],
                                    inputs: [("spec", spec), ("data", parsed.data)])
        let runner = try SweepRunner(spec: parsed, out: out, jobs: jobs ?? defaultJobs(), shard: part,
                                     retryFailed: retryFailed, rerunChanged: rerunChanged,
                                     checkpointSeconds: checkpointSeconds)
        let printer = ProgressPrinter(quiet: quiet, json: json)
        let duplicates = runner.plan.duplicates
        if !duplicates.isEmpty {
          let list = duplicates.keys.sorted().prefix(6).map { "entry \($0) = \(SweepPlan.runName(duplicates[$0]!))" }
          warn("\(duplicates.count) of the spec's \(duplicates.count + runner.plan.runs.count) runs repeat another's identity "
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
              + (r.status == "ok" ? " loss \(format6(r.finalValidationLoss))" : ": \(r.reason)") + "  ETA \(clock(eta))",
            json: ["run": r.name, "status": r.status, "reason": r.reason, "final_val_loss": r.finalValidationLoss,
                   "done": done, "total": total])
        }
        printer.finish()
        for name in outcome.busy {
          FileHandle.standardError.write(Data("Warning: \(out)/runs/\(name) is being trained by another process (its lock is held); skipped\n".utf8))
        }
        if let signal = outcome.interrupted {
          throw interruptedExit(signal, message: "by \(signalName(signal)): \(outcome.records.count) runs of shard \(part) have a result, "
                                + "\(outcome.unfinished) do not (those in progress saved their state); rerun the same command to continue")
        }
        if !quiet && !json {
          let failed = outcome.records.filter { $0.status != "ok" }.count
          print("shard \(part): \(outcome.records.count) runs, \(failed) failed"
                + (outcome.unfinished > 0 ? ", \(outcome.unfinished) not finished" : "")
                + "; results in \(out)/\(part.fileName)")
        }
      }
    }
  }

  struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Join the shards' results into DIR/sweep.h5; refuses while runs have no result unless --partial.")
    @Argument(help: ArgumentHelp("The sweep's output folder.", valueName: "dir")) var dir: String
    @Flag(help: "Merge what is there; runs without a result get status \"missing\".") var partial = false

    func run() throws {
      try reporting {
        try refuseNonRegularOutput(flag: "merge", path: dir + "/sweep.h5")
        let records = try SweepFolder.read(dir).merge(partial: partial)
        let missing = records.filter { $0.status == "missing" }.count
        print("\(dir)/sweep.h5: \(records.count) runs, \(records.filter { $0.status == "failed" }.count) failed"
              + (missing > 0 ? ", \(missing) missing" : ""))
      }
    }
  }

  struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Count done, failed, running and missing runs per shard.")
    @Argument(help: ArgumentHelp("The sweep's output folder.", valueName: "dir")) var dir: String
    @Flag(help: "One JSON object.") var json = false

    func run() throws {
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
          var object: [String: Any] = ["shards": shards, "runs": folder.manifest.runs.count,
                                       "running_runs": folder.running.keys.sorted().map { ["run": SweepPlan.runName($0), "by": folder.running[$0]!] },
                                       "stray_files": folder.strayFiles]
          for s in states { object[s.rawValue] = total[s] ?? 0 }
          let bytes = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
          writeLine(String(decoding: bytes, as: UTF8.self))
        } else {
          print("shard     runs  " + states.map { $0.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0) }.joined())
          for (i, row) in counts.enumerated() {
            let label = "\(i)/\(counts.count)".padding(toLength: 8, withPad: " ", startingAt: 0)
            print(label + String(format: "%5d  ", row.values.reduce(0, +))
                  + states.map { String(row[$0] ?? 0).padding(toLength: 8, withPad: " ", startingAt: 0) }.joined())
          }
          print("all     " + String(format: "%5d  ", folder.manifest.runs.count)
                + states.map { String(total[$0] ?? 0).padding(toLength: 8, withPad: " ", startingAt: 0) }.joined())
          for (i, who) in folder.running.sorted(by: { $0.key < $1.key }) { print("\(SweepPlan.runName(i)) is being trained by \(who)") }
          for f in folder.strayFiles { print("\(f): results of another split or spec (merge refuses it)") }
        }
      }
    }
  }

  struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "One row per run: name, status, reason, epochs, seconds, final metrics and every resolved setting.")
    @Argument(help: ArgumentHelp("The sweep's output folder.", valueName: "dir")) var dir: String
    @Flag(help: "CSV (the default).") var csv = false
    @Flag(help: "A JSON array of objects.") var json = false
    @Option(help: "Write to this file (default: standard output).") var out: String?

    func run() throws {
      try reporting {
        guard !(csv && json) else { throw CLIFailure(message: "--csv and --json: choose one") }
        if let out { try refuseNonRegularOutput(flag: "--out", path: out) }
        let folder = try SweepFolder.read(dir)
        let bytes = json ? try folder.json() + Data("\n".utf8) : Data(folder.csv().utf8)
        if let out {
          try writeFileAtomically(bytes, to: out)
        } else {
          writeLine(String(decoding: bytes.dropLast(), as: UTF8.self))
        }
      }
    }
  }
}
