// Lockstep training: runs advanced together, one epoch of each in turn,
// sharing one kernel workspace and one copy of the dataset, end with the
// checkpoints (and best.h5) that each run writes alone, byte for byte:
// steady and trajectory runs, both precisions in one group, runs that
// stop early (patience, solved) or fail (divergence) while the others go on,
// and a resumed run among fresh ones.

import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTestSupport
import Testing

@testable import RBPTrain

@Suite("Lockstep")
struct LockstepTests {
  /// The runs of the group: dataset, and settings over a base of a few epochs.
  static let runs: [(task: String, settings: @Sendable (inout RunConfig) -> Void)] = [
    ("xor", { $0.seed = 1 }),
    ("xor", { ($0.seed, $0.lr, $0.precision) = (2, 0.3, .f64) }),
    ("xor", { ($0.seed, $0.patience, $0.epochs) = (3, 2, 40) }),
    ("xor", { ($0.seed, $0.optimizer, $0.lr, $0.batch) = (4, .sgd, 2.0, 2) }),
    ("xor", { ($0.seed, $0.lr, $0.stopWhenSolved, $0.epochs) = (5, 0.5, true, 60) }),
    ("delayed-xor", { ($0.seed, $0.model, $0.units) = (6, .trajectory, 6) }),
    ("figure8", { ($0.seed, $0.model, $0.units) = (7, .trajectory, 6) }),
    ("encoder", { ($0.seed, $0.valFraction, $0.units) = (9, 0.25, 11) }),
    // Diverges: the run stops on its last good epoch while the others go on.
    (
      "sine",
      {
        ($0.seed, $0.model, $0.units, $0.activation, $0.gain) = (8, .trajectory, 5, .linear, 3)
        ($0.optimizer, $0.lr, $0.maxRetries) = (.sgd, 1e3, 0)
      }
    ),
  ]

  /// A trainer of run `i` writing into `folder`, on `workspace` (nil: its own).
  static func trainer(
    _ i: Int, folder: String, resume: Bool = false, f32: KernelWorkspace<Float>?, f64: KernelWorkspace<Double>?,
    also: (inout RunConfig) -> Void = { _ in }
  ) throws -> EpochRun {
    try made(i, folder: folder, resume: resume, f32: f32, f64: f64, also: also).run
  }

  /// Run `i`'s trainer as a group takes it, and as `rbp train` trains it
  /// alone (`Trainer.run()`).
  static func made(
    _ i: Int, folder: String, resume: Bool = false, f32: KernelWorkspace<Float>? = nil,
    f64: KernelWorkspace<Double>? = nil, also: (inout RunConfig) -> Void = { _ in }
  ) throws -> (run: EpochRun, alone: () throws -> TrainingOutcome) {
    let data = shipped(runs[i].task)
    let summary = try DatasetSummary.read(data)
    var config = RunConfig()
    (config.epochs, config.units, config.batch) = (8, 4, 4)
    runs[i].settings(&config)
    also(&config)
    let plan = try config.resolved(for: summary)
    let checkpoint = folder + "/run-\(i)/checkpoint.h5"
    try FileManager.default.createDirectory(atPath: folder + "/run-\(i)", withIntermediateDirectories: true)
    let from = resume ? try CheckpointFile.read(checkpoint) : nil
    if plan.precision == .f64 {
      let trainer = try Trainer<Double>(
        plan: plan, data: data, summary: summary, checkpoint: checkpoint, resumeFrom: from,
        workspaces: f64.map { [$0] })
      return (EpochRun(trainer), { try trainer.run() })
    }
    let trainer = try Trainer<Float>(
      plan: plan, data: data, summary: summary, checkpoint: checkpoint, resumeFrom: from,
      workspaces: f32.map { [$0] })
    return (EpochRun(trainer), { try trainer.run() })
  }

  /// How each run ended: its epochs and stop reason, or the error's kind.
  static func summary(_ result: Result<TrainingOutcome, any Error>) -> String {
    switch result {
    case .success(let o): "\(o.epochs) \(o.stopReason ?? "-")"
    case .failure(let e as TrainingStopped): "stopped at \(e.epoch)"
    case .failure(let e): "\(e)"
    }
  }

  @Test func aGroupWritesWhatEachRunWritesAlone() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // Alone: each run by `Trainer.run()` on its own workspace, as `rbp train`.
    let alone = try Self.runs.indices.map { i in
      let train = try Self.made(i, folder: dir + "/alone").alone
      return Result { try train() }
    }
    let together = Lockstep.train(
      try Self.runs.indices.map {
        try Self.trainer($0, folder: dir + "/group", f32: KernelWorkspace(), f64: KernelWorkspace())
      })
    #expect(alone.map(Self.summary) == together.map(Self.summary))
    // The group holds runs that end early, at the end, and by failing.
    let ends = Set(together.map(Self.summary))
    #expect(ends.contains("8 -") && ends.contains { $0.hasPrefix("stopped at") }, "\(ends)")
    #expect(ends.contains { $0.hasSuffix("patience") || $0.hasSuffix("solved") }, "\(ends)")
    for i in Self.runs.indices {
      for file in ["checkpoint.h5", "best.h5"] {
        let a = bytes(dir + "/alone/run-\(i)/\(file)"), b = bytes(dir + "/group/run-\(i)/\(file)")
        #expect(a == b, "run \(i): \(file) differs in lockstep")
      }
    }
  }

  /// One shared workspace per precision, as a sweep's worker has: a run
  /// killed half-way (saving every epoch) and resumed from its checkpoint
  /// in a group with fresh runs ends with the bytes of a run never stopped.
  @Test(arguments: [1, 5, 7])
  func aResumedRunInAGroupEndsAsAnUninterruptedOne(run: Int) throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (f32, f64) = (KernelWorkspace<Float>(), KernelWorkspace<Double>())
    let everyEpoch: (inout RunConfig) -> Void = { $0.checkpointEvery = 1 }
    _ = try Self.made(run, folder: dir + "/whole", also: everyEpoch).alone()
    let cut = try Self.trainer(run, folder: dir + "/cut", f32: f32, f64: f64, also: everyEpoch)
    let fresh = Self.runs.indices.filter { $0 != run }
    let other = try Self.trainer(fresh[0], folder: dir + "/cut", f32: f32, f64: f64)
    let group = Lockstep()
    #expect(group.add(cut, tag: 0) == nil && group.add(other, tag: 1) == nil)
    for _ in 0..<3 { #expect(group.round().isEmpty) }
    #expect(try CheckpointFile.read(dir + "/cut/run-\(run)/checkpoint.h5").epoch == 3)
    // Killed: the group is dropped. The run resumes in a new one.
    let resumed = Lockstep.train([
      try Self.trainer(fresh[1], folder: dir + "/cut", f32: f32, f64: f64),
      try Self.trainer(run, folder: dir + "/cut", resume: true, f32: f32, f64: f64, also: everyEpoch),
      try Self.trainer(fresh[2], folder: dir + "/cut", f32: f32, f64: f64),
    ])
    #expect(Self.summary(resumed[1]) == "8 -")
    #expect(bytes(dir + "/whole/run-\(run)/checkpoint.h5") == bytes(dir + "/cut/run-\(run)/checkpoint.h5"))
    #expect(bytes(dir + "/whole/run-\(run)/best.h5") == bytes(dir + "/cut/run-\(run)/best.h5"))
  }
}
