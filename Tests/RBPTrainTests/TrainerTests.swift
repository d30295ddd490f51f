// The trainer on a streamed dataset: the same minibatches, hence the same
// parameters, as from memory; validation then falls back to the epoch's
// training loss instead of reading the whole file.

import Foundation
import Testing
import RBPCore
import RBPKernels
import RBPStore
import RBPTrain

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
    let streamed = try Trainer<Float>(plan: plan, data: data, summary: summary, checkpoint: dir + "/s.h5",
                                      inMemoryLimit: 0)
    let a = try memory.run(), b = try streamed.run()
    #expect(a.epochs == 3 && b.epochs == 3)
    let ca = try CheckpointFile.read(dir + "/m.h5"), cb = try CheckpointFile.read(dir + "/s.h5")
    #expect(ca.parameters == cb.parameters, "\(task): streamed training took other steps")
    #expect(ca.optimizer == cb.optimizer)
    #expect(memory.history["loss"] == streamed.history["loss"])
    // Streamed: the validation loss is the epoch's training loss.
    #expect(streamed.history["val_loss"] == streamed.history["loss"])
    #expect(streamed.history["val_accuracy"] == nil)
  }
}
