// `rbp datasets make NAME --out FILE.h5`: generates one of the classic tasks
// (SPEC §5) as a dataset file, with its test set under /test when it has one.

import ArgumentParser
import RBPCore
import RBPStore

struct Datasets: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "datasets",
    abstract: "Generate the classic tasks.",
    subcommands: [Make.self])

  struct Make: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "make",
      abstract: "Write a classic task as an HDF5 dataset.",
      discussion: "Tasks: \(ClassicTask.allCases.map(\.rawValue).joined(separator: ", ")). See datasets/README.md.")

    @Argument(help: ArgumentHelp("The task.", valueName: "name"))
    var name: String

    @Option(help: "Output file (written atomically).")
    var out: String

    @Option(help: "Seed of every random choice.")
    var seed: UInt64 = 0

    @Option(help: "patterns, memory: stored patterns; delayed-xor: sequences.")
    var count: Int?

    @Option(help: "patterns, memory: bits per pattern; figure8, delayed-xor, sine: steps.")
    var length: Int?

    @Option(
      help:
        "memory: where the cue goes: input (a steady dataset) or initial (a trajectory dataset, the cue in /initial).")
    var cue: String?

    @Option(help: "memory: the fraction of a pattern's signs each cue flips (default 0.2).")
    var flips: Double?

    @Flag(help: "Print one JSON object: the file written and its summary.")
    var json = false

    @Flag(
      name: .customLong("no-val"),
      help: "Write no /val group (training then validates with --val-fraction, or on the training set).")
    var noVal = false

    func validate() throws {
      guard ClassicTask(rawValue: name) != nil else {
        throw CLIFailure(
          message:
            "unknown task '\(name)'; expected one of \(ClassicTask.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      if let count, count < 1 { throw CLIFailure(message: "--count must be at least 1, got \(count)") }
      if let length, length < 1 { throw CLIFailure(message: "--length must be at least 1, got \(length)") }
      if let cue, !["input", "initial"].contains(cue) {
        throw CLIFailure(message: "--cue: '\(cue)' is not input or initial")
      }
      if (cue != nil || flips != nil) && name != ClassicTask.memory.rawValue {
        throw CLIFailure(message: "--cue and --flips apply to the memory task only")
      }
      if let flips, !(flips >= 0 && flips <= 1) { throw CLIFailure(message: "--flips must be in [0, 1], got \(flips)") }
    }

    func run() throws {
      let task = ClassicTask(rawValue: name)!
      try reporting {
        try refuseNonRegularOutput(flag: "--out", path: out)
        var options = TaskOptions(count: count, length: length, cueAsInitialState: cue == "initial", flips: flips)
        let data = try task.make(Double.self, seed: seed, options: options)
        // A task with a test set gets a validation set of the same kind:
        // the same stored patterns, cues drawn from another seed.
        options.cueSeed = seed ^ 0x7661_6C69_6461_7465  // "validate"
        let validation = try task.make(Double.self, seed: seed, options: options)
        let attributes = ["task": task.rawValue, "solved": task.solvedCriterion]
        switch (data, validation) {
        case let (.steady(train, test), .steady(_, val)):
          try DatasetFile.write(
            .steady(train), test: test.map { .steady($0) }, val: noVal ? nil : val.map { .steady($0) },
            to: out, attributes: attributes)
        case let (.trajectory(train, test), .trajectory(_, val)):
          try DatasetFile.write(
            .trajectory(train), test: test.map { .trajectory($0) },
            val: noVal ? nil : val.map { .trajectory($0) }, to: out, attributes: attributes)
        default:
          preconditionFailure("a task's validation set is of its kind")
        }
        if json {
          func count(_ d: TaskData<Double>) -> (train: Int, test: Int?) {
            switch d {
            case let .steady(train, test): return (train.count, test?.count)
            case let .trajectory(train, test): return (train.count, test?.count)
            }
          }
          let (train, test) = count(data)
          var object: [String: Any?] = [
            "file": out, "task": task.rawValue, "patterns": train,
            "val_patterns": noVal ? nil : test,
            "test_patterns": test, "solved": task.solvedCriterion,
          ]
          if case let .trajectory(b, _) = data { object["steps"] = b.steps }
          object["kind"] = { if case .steady = data { return "steady" } else { return "trajectory" } }()
          writeLine(jsonLine(object))
        }
      }
    }
  }
}
