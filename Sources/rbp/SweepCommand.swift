// `rbp sweep SPEC.json --out DIR [--jobs K] [--shard i/n]` runs (a shard of)
// a sweep; `rbp sweep merge DIR` joins the shards' results into DIR/sweep.h5.

import ArgumentParser
import Foundation
import RBPStore
import RBPTrain

struct Sweep: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run many training runs from a spec, on one machine or sharded across many.",
    subcommands: [RunSweep.self, Merge.self], defaultSubcommand: RunSweep.self)

  struct RunSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "run",
      abstract: "Run a sweep spec (rbp sweep SPEC.json --out DIR).",
      discussion: """
        SPEC.json: {"data": "D.h5", "base": {config}, "grid": {"lr": [0.01, 0.1], "seed": [0, 1]}, "runs": [{config}, …]}.
        The grid is the cartesian product over its keys (sorted); "runs" adds explicit runs. Each run writes
        DIR/runs/run-NNNN/checkpoint.h5 and result.json; a rerun skips runs that have a result. Without --shard,
        the shard comes from SLURM_ARRAY_TASK_ID/COUNT, SLURM_PROCID/NTASKS or OMPI_COMM_WORLD_RANK/SIZE, else 0/1.
        """)
    @Argument(help: ArgumentHelp("The sweep spec (JSON).", valueName: "spec")) var spec: String
    @Option(help: "Output folder.") var out: String
    @Option(help: "Runs trained at once on this machine (each single-threaded).") var jobs = 1
    @Option(help: "This process's shard, i/n.") var shard: String?
    @Flag(help: "No progress output.") var quiet = false
    @Flag(help: "One JSON object per finished run.") var json = false

    func run() throws {
      try reporting {
        guard let data = FileManager.default.contents(atPath: spec) else {
          throw CLIFailure(message: "\(spec): cannot read the sweep spec")
        }
        let parsed = try SweepSpec.parse(json: data, source: spec)
        let part = try shard.map(Shard.parse) ?? Shard.fromEnvironment() ?? Shard(index: 0, count: 1)
        let runner = try SweepRunner(spec: parsed, out: out, jobs: jobs, shard: part)
        let printer = ProgressPrinter(quiet: quiet, json: json)
        let start = Date()
        let records = try runner.run { done, total, failed, r in
          let elapsed = Date().timeIntervalSince(start)
          let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : .nan
          printer.update(
            "runs \(done)/\(total)  failed \(failed)  \(r.name) \(r.status)"
              + (r.status == "ok" ? " loss \(format6(r.finalValidationLoss))" : ": \(r.reason)") + "  ETA \(clock(eta))",
            json: ["run": r.name, "status": r.status, "reason": r.reason, "final_val_loss": r.finalValidationLoss,
                   "done": done, "total": total])
        }
        printer.finish()
        if !quiet && !json {
          let failed = records.filter { $0.status != "ok" }.count
          print("shard \(part): \(records.count) runs, \(failed) failed; results in \(out)/\(part.fileName)")
        }
      }
    }
  }

  struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Join the shards' results into DIR/sweep.h5.")
    @Argument(help: ArgumentHelp("The sweep's output folder.", valueName: "dir")) var dir: String

    func run() throws {
      try reporting {
        let records = try SweepRunner.merge(dir)
        print("\(dir)/sweep.h5: \(records.count) runs, \(records.filter { $0.status != "ok" }.count) failed")
      }
    }
  }
}
