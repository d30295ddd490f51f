// The trainer: epochs of seeded, shuffled minibatches from the stream; each
// minibatch's gradient computed in fixed-size shards spread over worker
// threads and summed in shard order (so results are bit-identical for any
// thread count); the optimizer step; validation metrics; early stopping;
// checkpoints every k epochs and at the end, holding everything needed to
// resume exactly (parameters, optimizer, counters, the warm starts of the
// steady-state solver, history, configuration).

import Dispatch
import Foundation
import RBPCore
import RBPKernels
import RBPStore

/// One epoch's metrics.
public struct EpochReport: Sendable, Equatable {
  public var epoch: Int
  public var epochs: Int
  /// Mean training loss over the epoch's minibatches.
  public var loss: Double
  /// Loss on the test set, or on the training set when there is none (the
  /// epoch's running training loss when that set is streamed).
  public var validationLoss: Double
  /// Fraction of outputs satisfying the task's rule (classic tasks), or on
  /// the right side of 0.5 for 0/1 targets; nil otherwise.
  public var validationAccuracy: Double?
  public var solved: Bool
  public var seconds: Double
  public var patternsPerSecond: Double
}

/// How a run ended.
public struct TrainingOutcome: Sendable {
  public var epochs: Int
  public var final: EpochReport?
  public var stoppedEarly: Bool
  public var seconds: Double
  public var checkpoint: String
}

/// Patterns per gradient shard. Fixed, so the arithmetic of a minibatch
/// does not depend on how many threads share it.
public let shardSize = 16

/// Trains one network on one dataset file; T is the working precision.
public final class Trainer<T: KernelScalar & HDF5Numeric>: @unchecked Sendable {
  public let plan: TrainingPlan
  public let dataPath: String
  public let checkpointPath: String
  let summary: DatasetSummary
  let stream: MinibatchStream<T>
  var parameters: Parameters<T>
  var optimizer: Optimizer<T>
  var epoch = 0
  var step = 0
  public private(set) var history: [String: [Double]] = [:]
  var warm: SteadyStateCache<T>
  /// Warm starts of validation (test set, or the training set held in
  /// memory), kept apart from training's so that validating never changes
  /// the steps training takes.
  var validationWarm: SteadyStateCache<T>
  let test: DatasetContents<T>?
  let workspaces: [GEMMWorkspace<T>]

  /// Sets up a run: a fresh network from the plan's seed, or the state of
  /// `resumeFrom` (a checkpoint written by a run of the same configuration).
  /// Datasets up to `inMemoryLimit` bytes are loaded whole; larger ones are
  /// streamed in minibatches.
  public init(plan: TrainingPlan, data: String, summary: DatasetSummary, checkpoint: String,
              resumeFrom: Checkpoint? = nil, inMemoryLimit: Int = 64 << 20) throws {
    self.plan = plan
    dataPath = data
    checkpointPath = checkpoint
    self.summary = summary
    stream = try MinibatchStream<T>(path: data, batchSize: plan.batch, shuffle: true, seed: plan.seed,
                                    inMemoryLimit: inMemoryLimit)
    test = summary.hasTestSet ? try DatasetFile.read(data, as: T.self, testSet: true) : nil
    warm = SteadyStateCache(units: plan.shape.units)
    validationWarm = SteadyStateCache(units: plan.shape.units)
    workspaces = (0..<plan.threads).map { _ in GEMMWorkspace<T>() }
    let layout = ParameterLayout(shape: plan.shape, hasInitialState: plan.model == .trajectory)
    if let ck = resumeFrom {
      guard ck.model == plan.model, ck.shape == plan.shape, ck.activation == plan.activation, ck.loss == plan.loss else {
        throw ConfigError("\(checkpoint): the checkpoint's network (\(ck.model.rawValue), \(ck.shape.units) units, "
                          + "\(ck.activation.rawValue), \(ck.loss.rawValue)) does not match the configuration")
      }
      parameters = ck.parameters.converted(to: T.self)
      optimizer = try Optimizer<T>(settings: plan.optimizer, layout: layout)
      if let saved = ck.optimizer {
        optimizer.step = saved.step
        optimizer.first = saved.first.converted(to: T.self)
        optimizer.second = saved.second.converted(to: T.self)
        optimizer.settings.learningRate = saved.settings.learningRate
      }
      epoch = ck.epoch
      step = ck.step
      history = ck.history
      if let states = ck.warmStarts { warm.restore(states.states.converted(to: T.self), known: states.known) }
      if let states = ck.validationWarmStarts { validationWarm.restore(states.states.converted(to: T.self), known: states.known) }
    } else {
      var rng = SeededGenerator(seed: plan.seed)
      parameters = Parameters<T>.random(layout: layout, gain: plan.gain, using: &rng)
      optimizer = try Optimizer<T>(settings: plan.optimizer, layout: layout)
    }
  }

  /// Runs the remaining epochs, calling `report` after each.
  public func run(report: (EpochReport) -> Void = { _ in }) throws -> TrainingOutcome {
    let start = DispatchTime.now().uptimeNanoseconds
    var last: EpochReport? = nil
    var stoppedEarly = false
    if epoch >= plan.epochs { try saveCheckpoint() }
    while epoch < plan.epochs {
      let epochStart = DispatchTime.now().uptimeNanoseconds
      stream.startEpoch(epoch)
      var lossSum = 0.0, patterns = 0
      while let (indices, batch) = try stream.next() {
        let (loss, gradient) = try minibatchGradient(batch, indices: indices)
        optimizer.apply(gradient, to: &parameters)
        lossSum += loss * Double(indices.count)
        patterns += indices.count
        step += 1
      }
      epoch += 1
      let trainingLoss = lossSum / Double(max(patterns, 1))
      let (validationLoss, accuracy, solved) = try validate() ?? (trainingLoss, nil, false)
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - epochStart) * 1e-9
      let r = EpochReport(epoch: epoch, epochs: plan.epochs, loss: trainingLoss,
                          validationLoss: validationLoss, validationAccuracy: accuracy, solved: solved,
                          seconds: seconds, patternsPerSecond: Double(patterns) / max(seconds, 1e-9))
      record(r)
      last = r
      report(r)
      optimizer.settings.learningRate *= plan.lrDecay
      guard r.loss.isFinite && r.validationLoss.isFinite else {
        try saveCheckpoint()
        throw RBPError.nonFinite(solver: "training", pattern: 0, iterations: epoch)
      }
      let done = (plan.stopWhenSolved && solved) || (plan.targetLoss.map { validationLoss <= $0 } ?? false)
      if done || epoch == plan.epochs || (plan.checkpointEvery > 0 && epoch % plan.checkpointEvery == 0) {
        try saveCheckpoint()
      }
      if done {
        stoppedEarly = epoch < plan.epochs
        break
      }
    }
    return TrainingOutcome(epochs: epoch, final: last, stoppedEarly: stoppedEarly,
                           seconds: Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9,
                           checkpoint: checkpointPath)
  }

  /// Per-epoch history (no wall-clock times: a checkpoint depends only on
  /// the configuration, not on the machine or the thread count).
  func record(_ r: EpochReport) {
    history["loss", default: []].append(r.loss)
    history["val_loss", default: []].append(r.validationLoss)
    if let a = r.validationAccuracy { history["val_accuracy", default: []].append(a) }
    history["lr", default: []].append(optimizer.settings.learningRate)
  }

  /// The mean loss and gradient of one minibatch: shards of `shardSize`
  /// patterns, computed by `plan.threads` workers, combined in shard order.
  func minibatchGradient(_ batch: DatasetContents<T>, indices: [Int]) throws -> (Double, Parameters<T>) {
    let count = indices.count
    let shards = stride(from: 0, to: count, by: shardSize).map { Array($0 ..< min($0 + shardSize, count)) }
    let slots = WorkerSlots<Result<(loss: Double, gradient: Parameters<T>, states: Matrix<T>?), Error>>(count: shards.count)
    let workers = min(plan.threads, shards.count)
    let cache = warm
    let params = parameters
    DispatchQueue.concurrentPerform(iterations: workers) { w in
      for s in stride(from: w, to: shards.count, by: workers) {
        slots[s] = Result { try self.shardGradient(batch, params, shards[s], indices: shards[s].map { indices[$0] },
                                                           cache: cache, workspace: self.workspaces[w]) }
      }
    }
    var total = Parameters<T>(layout: parameters.layout)
    var loss = 0.0
    for (s, result) in slots.all.enumerated() {
      let r = try result!.get()
      let weight = T(shards[s].count) / T(count)
      for i in total.values.indices { total.values[i] += weight * r.gradient.values[i] }
      loss += r.loss * Double(shards[s].count)
      if let states = r.states { warm.store(states, for: shards[s].map { indices[$0] }) }
    }
    return (loss / Double(count), total)
  }

  func shardGradient(
    _ batch: DatasetContents<T>, _ params: Parameters<T>, _ rows: [Int], indices: [Int],
    cache: SteadyStateCache<T>, workspace: GEMMWorkspace<T>
  ) throws -> (loss: Double, gradient: Parameters<T>, states: Matrix<T>?) {
    switch batch {
    case .steady(let b):
      let net = try SteadyNetwork(parameters: params, activation: plan.activation, loss: plan.loss)
      let g = try net.gradient(batch: b.subset(rows), settings: plan.steady, start: cache.start(for: indices),
                               workspace: workspace)
      return (g.loss, g.gradient, g.states)
    case .trajectory(let b):
      let net = try TrajectoryNetwork(parameters: params, activation: plan.activation, loss: plan.loss, leak: plan.leak)
      let g = try net.gradient(batch: b.subset(rows), mode: plan.bptt, workspace: workspace)
      return (g.loss, g.gradient, nil)
    }
  }

  /// Loss, accuracy and the solved flag on the test set, or on the training
  /// set when it is held in memory; nil for a streamed dataset without a
  /// test set (the epoch's training loss stands in, and nothing extra is read).
  func validate() throws -> (Double, Double?, Bool)? {
    guard let data = test ?? stream.contents else { return nil }
    // Steady models start from the previous validation's fixed points.
    let indices = Array(0..<data.count)
    let start = plan.model == .steady ? validationWarm.start(for: indices) : nil
    let e = try evaluate(data, parameters: parameters, plan: plan, task: summary.task, start: start,
                         workspace: workspaces[0])
    if let states = e.states { validationWarm.store(states, for: indices) }
    return (e.loss, e.accuracy, e.solved ?? false)
  }


  /// The run's state as a checkpoint.
  public var checkpoint: Checkpoint {
    // The stored configuration leaves out `threads`, which does not change
    // the results: checkpoints are identical for any thread count.
    var stored = plan.config
    stored.threads = nil
    var ck = Checkpoint(model: plan.model, activation: plan.activation, loss: plan.loss, leak: plan.leak,
                        parameters: parameters.converted(to: Double.self), config: stored.json,
                        step: step, epoch: epoch, rngState: plan.seed, history: history)
    var opt = try? Optimizer<Double>(settings: optimizer.settings, layout: parameters.layout)
    opt?.step = optimizer.step
    opt?.first = optimizer.first.converted(to: Double.self)
    opt?.second = optimizer.second.converted(to: Double.self)
    ck.optimizer = opt
    if plan.model == .steady {
      let (states, known) = warm.snapshot(count: summary.count)
      ck.warmStarts = WarmStarts(states: states.converted(to: Double.self), known: known)
      if let validation = test ?? stream.contents {
        let (states, known) = validationWarm.snapshot(count: validation.count)
        ck.validationWarmStarts = WarmStarts(states: states.converted(to: Double.self), known: known)
      }
    }
    return ck
  }

  func saveCheckpoint() throws {
    try CheckpointFile.write(checkpoint, to: checkpointPath)
  }
}

/// One slot per worker or shard, each written by exactly one thread
/// (through a raw buffer: no shared array is mutated concurrently) and read
/// after the threads are done.
public final class WorkerSlots<Element>: @unchecked Sendable {
  public let count: Int
  private let slots: UnsafeMutablePointer<Element?>

  public init(count: Int) {
    self.count = count
    slots = .allocate(capacity: count)
    slots.initialize(repeating: nil, count: count)
  }

  deinit {
    slots.deinitialize(count: count)
    slots.deallocate()
  }

  public subscript(i: Int) -> Element? {
    get { slots[i] }
    set { slots[i] = newValue }
  }

  public var all: [Element?] { Array(UnsafeBufferPointer(start: slots, count: count)) }
}
