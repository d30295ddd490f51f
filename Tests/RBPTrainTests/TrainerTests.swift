// The trainer on a streamed dataset: the same minibatches, hence the same
// parameters, as from memory; validation then falls back to the epoch's
// training loss instead of reading the whole file.

import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTestSupport
import Testing

@testable import RBPTrain

@Suite("Trainer")
struct TrainerTests {
  @Test(arguments: ["delayed-xor", "xor"])
  func streamedTrainingEqualsInMemoryTraining(task: String) throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // A copy without its test set, so validation must use the training data.
    let data = dir + "/train.h5"
    let contents = try DatasetFile.read(shipped(task), as: Double.self)
    try DatasetFile.write(contents, to: data)
    let summary = try DatasetSummary.read(data)
    var config = RunConfig()
    config.epochs = 3
    config.batch = 8
    config.units = 6
    let plan = try config.resolved(for: summary)
    let memory = try Trainer<Float>(plan: plan, data: data, summary: summary, checkpoint: dir + "/m.h5")
    let streamed = try Trainer<Float>(
      plan: plan, data: data, summary: summary, checkpoint: dir + "/s.h5",
      inMemoryLimit: 0)
    let a = try memory.run(), b = try streamed.run()
    #expect(a.epochs == 3 && b.epochs == 3)
    let ca = try CheckpointFile.read(dir + "/m.h5"), cb = try CheckpointFile.read(dir + "/s.h5")
    #expect(ca.parameters == cb.parameters, "\(task): streamed training took other steps")
    #expect(ca.progress?.optimizer == cb.progress?.optimizer)
    #expect(memory.history[.loss] == streamed.history[.loss])
    // Streamed: the validation loss is the epoch's training loss.
    #expect(streamed.history[.valLoss] == streamed.history[.loss])
    #expect(streamed.history[.valAccuracy] == nil)
  }
}

/// Checkpointed BPTT on a dataset too large to hold reads each minibatch's
/// sequences by spans of steps, a segment at a time; the run must take
/// the same steps, to the bit, as the same run from memory, on one thread
/// and on two (microbatches of 16 sequences each read on their own).
@Suite("Training by spans of steps")
struct TrainingBySpansTests {
  @Test(arguments: [1, 2])
  func trainingBySpansEqualsInMemoryTraining(threads: Int) throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let data = dir + "/train.h5"
    try DatasetFile.write(try DatasetFile.read(shipped("delayed-xor"), as: Double.self), to: data)
    let summary = try DatasetSummary.read(data)
    var config = RunConfig()
    config.epochs = 2
    // 32 sequences in minibatches of 20 and 12: a minibatch boundary, a
    // partial last minibatch, and microbatches of 16 and 4 within the first.
    config.batch = 20
    config.units = 7
    config.bptt = .checkpointed
    config.threads = threads
    let plan = try config.resolved(for: summary)
    let memory = try Trainer<Double>(plan: plan, data: data, summary: summary, checkpoint: dir + "/m.h5")
    let bySpans = try Trainer<Double>(
      plan: plan, data: data, summary: summary, checkpoint: dir + "/w.h5",
      inMemoryLimit: 0)
    #expect(!memory.stream.readsSpans && bySpans.stream.readsSpans)
    _ = try memory.run()
    _ = try bySpans.run()
    let ca = try CheckpointFile.read(dir + "/m.h5"), cb = try CheckpointFile.read(dir + "/w.h5")
    #expect(ca.parameters == cb.parameters, "training by spans took other steps")
    #expect(memory.history[.loss] == bySpans.history[.loss])
  }
}

/// Training driven into infinities on a streamed dataset without a
/// test set: validation then reuses the epoch's training loss, so only the
/// trainer's own check stands between an infinite loss or gradient and the
/// parameters, the optimizer and the recorded history.
@Suite("Training into infinity")
struct NonFiniteTrainingTests {
  /// xor: BCE of logistic outputs that reach exactly 1; sine: linear units
  /// whose states overflow under a learning rate of 1e8.
  @Test(arguments: ["xor", "sine"])
  func streamedTrainingNeverRecordsInfinities(task: String) throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let data = dir + "/train.h5"
    try DatasetFile.write(try DatasetFile.read(shipped(task), as: Double.self), to: data)
    let summary = try DatasetSummary.read(data)
    var config = RunConfig()
    config.epochs = task == "xor" ? 30 : 5
    config.activation = task == "xor" ? .logistic : .linear
    config.loss = task == "xor" ? .bce : .mse
    config.optimizer = .sgd
    config.lr = task == "xor" ? 100 : 1e8
    let plan = try config.resolved(for: summary)
    let trainer = try Trainer<Float>(
      plan: plan, data: data, summary: summary, checkpoint: dir + "/ck.h5",
      inMemoryLimit: 0)
    do { _ = try trainer.run() } catch is TrainingStopped {}  // giving up, with a reason, is fine
    let problems = nonFiniteRecords(try CheckpointFile.read(dir + "/ck.h5"))
    #expect(problems.isEmpty, "\(task): \(problems)")
  }
}

/// Full-batch training with plain SGD is gradient descent: after each
/// epoch the trainer's parameters are those of a loop written here from
/// the library's gradient, θ ← θ − η ∇J (an independent formulation of
/// the same steps, so a trainer that mixes up batches, steps or rates
/// shows).
@Suite("Trainer against gradient descent")
struct GradientDescentTests {
  @Test(arguments: [false, true])
  func fullBatchSGDIsGradientDescent(trajectory: Bool) throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var rng = SeededGenerator(seed: 5)
    func uniform(_ n: Int) -> [Double] { (0..<n).map { _ in Double.random(in: -1...1, using: &rng) } }
    let count = 7
    let contents: DatasetContents<Double> =
      trajectory
      ? .trajectory(
        try TrajectoryBatch(
          count: count, steps: 5, inputs: uniform(count * 5), inputWidth: 1,
          targets: uniform(count * 5).map { 0.5 * $0 }, outputWidth: 1))
      : .steady(
        try SteadyBatch(
          inputs: Matrix(rows: count, cols: 2, elements: uniform(count * 2)),
          targets: Matrix(rows: count, cols: 1, elements: uniform(count).map { 0.3 * $0 })))
    let data = dir + "/data.h5"
    try DatasetFile.write(contents, to: data)
    let summary = try DatasetSummary.read(data)
    var config = RunConfig()
    config.units = 4
    config.batch = count
    config.epochs = 3
    config.precision = .f64
    config.optimizer = .sgd
    config.lr = 0.2
    let plan = try config.resolved(for: summary)
    let trainer = try Trainer<Double>(plan: plan, data: data, summary: summary, checkpoint: dir + "/ck.h5")
    var theta = trainer.parameters
    _ = try trainer.run()
    for _ in 0..<3 {
      let g: Parameters<Double>
      switch contents {
      case .steady(let b):
        g = try SteadyNetwork(parameters: theta, activation: plan.activation, loss: plan.loss)
          .gradient(batch: b, settings: plan.steady).gradient
      case .trajectory(let b):
        g = try TrajectoryNetwork(parameters: theta, activation: plan.activation, loss: plan.loss, leak: plan.leak)
          .gradient(batch: b, mode: plan.bptt).gradient
      }
      for i in theta.values.indices { theta.values[i] -= 0.2 * g.values[i] }
    }
    let trained = try CheckpointFile.read(dir + "/ck.h5").parameters
    for (i, (x, y)) in zip(trained.values, theta.values).enumerated() {
      #expect(abs(x - y) <= 1e-11 * max(abs(y), 1e-3), "parameter \(i): trainer \(x), gradient descent \(y)")
    }
  }
}

/// A minibatch the trainer splits into microbatches of unequal size (16 + 5
/// patterns) has the full-batch gradient of the library: each microbatch's mean
/// counts by its number of patterns.
@Suite("Minibatch microbatches")
struct MicrobatchTests {
  @Test(arguments: [false, true])
  func unequalMicrobatchesGiveTheFullBatchGradient(trajectory: Bool) throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var rng = SeededGenerator(seed: 21)
    let count = microbatchSize + 5
    func uniform(_ n: Int) -> [Double] { (0..<n).map { _ in Double.random(in: -1...1, using: &rng) } }
    let data = dir + "/data.h5"
    let contents: DatasetContents<Double>
    if trajectory {
      contents = .trajectory(
        try TrajectoryBatch(
          count: count, steps: 6, inputs: uniform(count * 6),
          inputWidth: 1, targets: uniform(count * 6), outputWidth: 1))
    } else {
      contents = .steady(
        try SteadyBatch(
          inputs: Matrix(rows: count, cols: 2, elements: uniform(count * 2)),
          targets: Matrix(rows: count, cols: 1, elements: uniform(count).map { 0.3 * $0 })))
    }
    try DatasetFile.write(contents, to: data)
    let summary = try DatasetSummary.read(data)
    var config = RunConfig()
    config.units = 5
    config.batch = count
    config.precision = .f64
    let plan = try config.resolved(for: summary)
    let trainer = try Trainer<Double>(plan: plan, data: data, summary: summary, checkpoint: dir + "/ck.h5")
    let (loss, gradient, _) = try trainer.minibatchGradient(contents, indices: Array(0..<count))
    let expected: (Double, Parameters<Double>)
    switch contents {
    case .steady(let b):
      let net = try SteadyNetwork(parameters: trainer.parameters, activation: plan.activation, loss: plan.loss)
      let g = try net.gradient(batch: b, settings: plan.steady)
      expected = (g.loss, g.gradient)
    case .trajectory(let b):
      let net = try TrajectoryNetwork(
        parameters: trainer.parameters, activation: plan.activation, loss: plan.loss,
        leak: plan.leak)
      let g = try net.gradient(batch: b, mode: plan.bptt)
      expected = (g.loss, g.gradient)
    }
    #expect(abs(loss - expected.0) <= 1e-12 * abs(expected.0))
    for (i, (x, y)) in zip(gradient.values, expected.1.values).enumerated() {
      #expect(abs(x - y) <= 1e-10 * abs(y) + 1e-15, "gradient element \(i): \(x) vs the full batch's \(y)")
    }
  }
}
