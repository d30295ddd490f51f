// What a training run reports and how it ends: each epoch's metrics, the
// outcome of the run, and the two ways it stops before its last epoch (a
// failure it could not undo, a signal); and the split of the training
// patterns that validates a run when the dataset has no /val.

import Foundation
import RBPCore

/// One epoch's metrics.
public struct EpochReport: Sendable, Equatable {
  /// The epoch, from 1.
  public var epoch: Int
  /// The epochs of the run.
  public var epochs: Int
  /// Mean training loss over the epoch's minibatches.
  public var loss: Double
  /// Loss on the validation set: /val, else the --val-fraction split, else
  /// the training set (the epoch's running training loss when that set is
  /// streamed). /test is never read in training.
  public var validationLoss: Double
  /// Fraction of outputs satisfying the task's rule (classic tasks), or on
  /// the right side of 0.5 for 0/1 targets; nil otherwise.
  public var validationAccuracy: Double?
  /// Every validation output right by the metric; nil without a metric.
  public var solved: Bool?
  /// Wall time of the epoch.
  public var seconds: Double
  /// Training patterns (or sequences) per second in the epoch.
  public var patternsPerSecond: Double
  /// Steady models: the training patterns left out of a step's gradient in
  /// this epoch (dataset indices, each once), and the validation patterns
  /// that did not settle (counted as wrong).
  public var unsettledPatterns: [Int] = []
  /// Steady models: validation patterns that did not settle.
  public var validationUnsettled: Int = 0
}

/// How a run ended.
public struct TrainingOutcome: Sendable {
  /// Epochs finished.
  public var epochs: Int
  /// The last epoch's report (nil when no epoch ran).
  public var final: EpochReport?
  /// Whether it stopped before its last epoch.
  public var stoppedEarly: Bool
  /// Wall time of the run.
  public var seconds: Double
  /// The checkpoint's path.
  public var checkpoint: String
  /// Why it stopped before its last epoch: "solved", "target_loss" or
  /// "patience" (nil: it trained every epoch).
  public var stopReason: String? = nil
  /// The epoch with the best validation loss, and that loss (its
  /// parameters are in `bestCheckpoint`).
  public var bestEpoch: Int? = nil
  /// The best validation loss.
  public var bestValidationLoss: Double? = nil
  /// The best epoch's checkpoint, `best.h5`.
  public var bestCheckpoint: String? = nil
  /// What validated the run: "val", "val_fraction" or "train".
  public var validation: String = "train"
}

/// The patterns split off for validation by `val_fraction`: the seed
/// shuffles the dataset's indices and the first round(fraction · P) are
/// validation; both lists in dataset order.
public func validationSplit(count: Int, fraction: Double, seed: UInt64) -> (training: [Int], validation: [Int]) {
  var rng = SeededGenerator(seed: seed ^ 0x7661_6C5F_7370_6C74)  // "val_splt"
  var order = Array(0..<count)
  order.shuffle(using: &rng)
  let held = min(max(Int((fraction * Double(count)).rounded()), 1), count - 1)
  return (order[held...].sorted(), order[..<held].sorted())
}

/// Patterns per gradient microbatch. Fixed, so the arithmetic of a minibatch
/// does not depend on how many threads share it.
public let microbatchSize = 16

/// The run stopped early on a failure; the checkpoint holds the last good
/// state and this reason.
public struct TrainingStopped: Error, CustomStringConvertible {
  /// What failed.
  public var reason: String
  /// The checkpoint holding the last good state.
  public var checkpoint: String
  /// The epoch of that state.
  public var epoch: Int
  public var description: String {
    "\(reason); the last good state (epoch \(epoch)) is in \(checkpoint), resumable with --resume"
  }
}

/// The run was asked to stop (a signal); the checkpoint holds the state at
/// the last epoch boundary, resumable as it is.
public struct TrainingInterrupted: Error, CustomStringConvertible {
  /// The signal that asked to stop.
  public var signal: Int32
  /// The checkpoint holding the state.
  public var checkpoint: String
  /// The epoch of that state.
  public var epoch: Int
  public var description: String {
    "interrupted by \(signalName(signal)) at epoch \(epoch); the state is in \(checkpoint), resumable with --resume"
  }
}
