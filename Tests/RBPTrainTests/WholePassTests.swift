// The first step of each epoch taken from validation's forward pass
// (trajectory models validated on their training set, see `Trainer`): a run
// resumed from a checkpoint ends with the same parameters and history, bit
// for bit, as one that was never stopped, with one minibatch per epoch and
// with several, on one thread and on two; the validation loss of the
// checkpoint's epoch is what `evaluate` computes from its parameters. (And
// a last epoch that is the best one is written once, to both files.)

import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTestSupport
import Testing

@testable import RBPTrain

@Suite("First steps from validation's pass")
struct WholePassTests {
  struct Case: CustomStringConvertible, Sendable {
    var batch: Int, threads: Int, bptt: String
    var description: String { "batch \(batch), \(threads) threads, \(bptt)" }
  }

  @Test(arguments: [
    Case(batch: 21, threads: 1, bptt: "full"), Case(batch: 8, threads: 2, bptt: "full"),
    Case(batch: 21, threads: 2, bptt: "truncated"),
  ])
  func resumedRunsEndAsUninterruptedOnes(c: Case) throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var rng = SeededGenerator(seed: 8)
    func uniform(_ n: Int) -> [Double] { (0..<n).map { _ in Double.random(in: -1...1, using: &rng) } }
    let (count, steps) = (21, 7)
    let data = dir + "/data.h5"
    let contents = DatasetContents<Double>.trajectory(
      try TrajectoryBatch(
        count: count, steps: steps, inputs: uniform(count * steps * 2), inputWidth: 2,
        targets: uniform(count * steps).map { 0.5 * $0 }, outputWidth: 1))
    try DatasetFile.write(contents, to: data)
    let summary = try DatasetSummary.read(data)
    var config = RunConfig()
    (config.units, config.coupling, config.batch, config.threads) = (6, .dense, c.batch, c.threads)
    config.precision = .f64
    if c.bptt == "truncated" { (config.bptt, config.window) = (.truncated, 3) }
    func trainer(epochs: Int, checkpoint: String, resumeFrom: Checkpoint? = nil) throws -> Trainer<Double> {
      config.epochs = epochs
      return try Trainer<Double>(
        plan: try config.resolved(for: summary), data: data, summary: summary,
        checkpoint: checkpoint, resumeFrom: resumeFrom)
    }
    let straight = try trainer(epochs: 6, checkpoint: dir + "/straight.h5")
    #expect(straight.reusesWholePass)
    let outcome = try straight.run()
    // Full-batch descent improves at every epoch; a last epoch that is the
    // best one leaves best.h5 with the checkpoint's bytes.
    if c.batch == count { #expect(outcome.bestEpoch == 6) }
    let (best, last) = (
      FileManager.default.contents(atPath: dir + "/best.h5"),
      FileManager.default.contents(atPath: dir + "/straight.h5")
    )
    #expect((best == last) == (outcome.bestEpoch == 6))
    let first = try trainer(epochs: 3, checkpoint: dir + "/first.h5")
    _ = try first.run()
    let saved = try CheckpointFile.read(dir + "/first.h5")
    // Validation's loss at epoch 3 is evaluate's on the saved parameters.
    let validated = try evaluate(
      contents, parameters: saved.parameters, plan: try config.resolved(for: summary),
      task: nil)
    #expect(saved.history[.valLoss]?.last == validated.loss)
    let resumed = try trainer(epochs: 6, checkpoint: dir + "/resumed.h5", resumeFrom: saved)
    _ = try resumed.run()
    let (a, b) = (try CheckpointFile.read(dir + "/straight.h5"), try CheckpointFile.read(dir + "/resumed.h5"))
    #expect(a.parameters.values == b.parameters.values)
    #expect(a.history[.loss] == b.history[.loss])
    #expect(a.history[.valLoss] == b.history[.valLoss])
  }
}
