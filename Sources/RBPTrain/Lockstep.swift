// Many networks in one worker, in lockstep: a group of runs advanced
// together, one epoch of each member in turn, so the group moves through
// its epochs side by side instead of one run after another. The members
// of a sweep's group share the worker's kernel workspaces (the packed
// operands and scratch of every product, already grown and in cache) and
// the dataset the process read once; a member that ends leaves the group,
// and the next run of the queue takes its place.
//
// Each member computes exactly what it computes alone: a trainer's epoch
// reads only its own state, the dataset and scratch that every product
// overwrites before it reads, so a run's checkpoints are the same bytes in
// a group of any size as alone, for any number of workers. Each member
// saves its own checkpoint on its own schedule and is resumed on its own.

import Foundation
import RBPCore
import RBPKernels
import RBPStore

/// A run that can be advanced an epoch at a time: a `Trainer` of either
/// precision, its calls bound to the trainer's specialised code.
public struct EpochRun {
  /// Prepares the remaining epochs; a run with none left ends here.
  public let start: () throws -> Void
  /// Trains the next epoch; true once the run has ended.
  public let trainEpoch: () throws -> Bool
  /// The outcome, once the run has ended.
  public let ended: () -> TrainingOutcome?
  /// Per-epoch metrics so far.
  public let history: () -> History
  /// Time spent in this run's own `start` and `trainEpoch` calls.
  public let secondsTrained: () -> Double

  /// A run of `trainer`.
  public init(_ trainer: Trainer<Float>) { self.init(bound: trainer) }
  /// A run of `trainer`.
  public init(_ trainer: Trainer<Double>) { self.init(bound: trainer) }

  // Called from the two concrete initialisers only, so that the closures
  // are those of Trainer<Float> and Trainer<Double> (an existential or a
  // generic witness would run the trainer's unspecialised code).
  @inline(__always)
  private init<T>(bound trainer: Trainer<T>) {
    start = trainer.start
    trainEpoch = { try trainer.trainEpoch() }
    ended = { trainer.ended }
    history = { trainer.history }
    secondsTrained = { Double(trainer.ownNanoseconds) * 1e-9 }
  }
}

/// A group of runs trained in lockstep by one thread: each `round` trains
/// one epoch of every member, in the order they joined.
public final class Lockstep {
  /// A run that left the group: its tag, and how it ended (its outcome, or
  /// the error its training threw: `TrainingStopped`, `TrainingInterrupted`, …).
  public typealias Departure = (tag: Int, result: Result<TrainingOutcome, any Error>)

  private var members: [(tag: Int, trainer: EpochRun)] = []

  /// An empty group.
  public init() {}

  /// Runs in the group.
  public var count: Int { members.count }
  /// Whether the group has no run.
  public var isEmpty: Bool { members.isEmpty }

  /// Adds a run (its `start()` is called now); returns its departure at
  /// once when it has nothing left to train or cannot start.
  public func add(_ trainer: EpochRun, tag: Int) -> Departure? {
    do {
      try trainer.start()
      if let outcome = trainer.ended() { return (tag, .success(outcome)) }
    } catch {
      return (tag, .failure(error))
    }
    members.append((tag, trainer))
    return nil
  }

  /// Trains one epoch of every member, in turn; returns the members that
  /// ended or threw in it (they leave the group), in the group's order.
  public func round() -> [Departure] {
    var left: [Departure] = []
    var staying: [(tag: Int, trainer: EpochRun)] = []
    staying.reserveCapacity(members.count)
    for member in members {
      do {
        if try member.trainer.trainEpoch(), let outcome = member.trainer.ended() {
          left.append((member.tag, .success(outcome)))
        } else {
          staying.append(member)
        }
      } catch {
        left.append((member.tag, .failure(error)))
      }
    }
    members = staying
    return left
  }

  /// Trains `trainers` in lockstep to their ends; their results in the
  /// given order.
  public static func train(_ trainers: [EpochRun]) -> [Result<TrainingOutcome, any Error>] {
    var results = [Result<TrainingOutcome, any Error>?](repeating: nil, count: trainers.count)
    let group = Lockstep()
    for (i, trainer) in trainers.enumerated() {
      if let done = group.add(trainer, tag: i) { results[done.tag] = done.result }
    }
    while !group.isEmpty {
      for done in group.round() { results[done.tag] = done.result }
    }
    return results.map { $0! }
  }
}

/// A worker's kernel workspaces, one per precision, shared by every run it
/// trains (each run single-threaded): created on first use.
final class WorkerScratch {
  private var f32: KernelWorkspace<Float>? = nil
  private var f64: KernelWorkspace<Double>? = nil

  /// The workspace for precision T.
  func workspace<T: KernelScalar>(_: T.Type) -> KernelWorkspace<T> {
    if T.self == Float.self {
      if f32 == nil { f32 = KernelWorkspace<Float>() }
      return f32! as! KernelWorkspace<T>
    }
    if f64 == nil { f64 = KernelWorkspace<Double>() }
    return f64! as! KernelWorkspace<T>
  }
}
