// The trainer: epochs of seeded, shuffled minibatches from the stream; each
// minibatch's gradient computed in fixed-size microbatches spread over worker
// threads and summed in microbatch order (so results are bit-identical for any
// thread count); the optimizer step; validation metrics; early stopping;
// checkpoints every k epochs and at the end, holding everything needed to
// resume exactly (parameters, optimizer, counters, history, configuration,
// and the warm starts when they are on).
//
// Unsettled patterns (steady models, SPEC §1.1). A pattern whose state
// (an attractor reached from its initial state) or adjoint is not found in
// a step is left out of that step's gradient, which is the mean over the
// settled ones; the epoch's report counts and names them. Validation counts
// its unsettled patterns as wrong.
//
// Failure policy. A step with more than `maxUnsettled` of its patterns
// unsettled, or a non-finite loss or gradient, means the
// previous update went too far: it is undone, the learning rate is halved
// for the rest of the run, and the update is taken again from the previous
// parameters; validation whose every pattern is unsettled, or whose loss is
// not finite, is treated the same way. After
// `maxRetries` such rejections in a row, or a failure with nothing to undo,
// the run stops: the last good state (the end of the last epoch that
// validated and whose parameters gave the next step's gradient) is written
// as the checkpoint with the reason in `stop_reason`,
// so it can be resumed, with other settings if need be.
//
// The first step of an epoch (trajectory models validated on the training
// set held in memory, full or truncated BPTT, a pass of at most
// `wholePassLimit` bytes) takes its forward pass from one pass over the
// whole training set at the current parameters: validation's pass, kept
// for it, or one run for it on a resume or after a rejected step. So an
// epoch costs one forward pass less, and every run, interrupted or not,
// computes that step the same way.
//
// Interruption. A stop request (SIGINT or SIGTERM, through `StopRequest`)
// is seen before each minibatch and after each epoch: the state at the last
// epoch boundary is written as the checkpoint and the run throws
// `TrainingInterrupted`. Resuming from it ends bit-identical to a run that
// was never interrupted; at most the epoch in progress is redone.

import Dispatch
import Foundation
import RBPCore
import RBPKernels
import RBPStore

/// A training loss this many times the first epoch's (or 1e-3, if larger)
/// stops the run as diverged.
public let divergenceFactor = 1e6

/// The largest forward pass over the whole training set that a trainer
/// keeps for the next epoch's first step (see `Trainer`), in bytes.
public let wholePassLimit = 32 << 20

/// Trains one network on one dataset file; T is the working precision.
/// One thread drives a trainer; its workers see only immutable copies and
/// their own workspace (see `minibatchGradient`).
public final class Trainer<T: KernelScalar & HDF5Numeric> {
  /// The resolved run.
  public let plan: TrainingPlan
  /// The dataset file.
  public let dataPath: String
  /// Where the checkpoint goes.
  public let checkpointPath: String
  let summary: DatasetSummary
  let stream: MinibatchStream<T>
  var parameters: Parameters<T>
  /// Everything besides the parameters that the run carries from step to
  /// step and a checkpoint stores.
  var progress: RunProgress<T>
  /// Per-epoch metrics so far.
  public var history: History { progress.history }
  /// Training's warm starts (with `warmStart` on only).
  var warm: SteadyStateCache<T>
  /// The validation set (nil: the training set validates).
  let validationSet: DatasetContents<T>?
  /// "val", "val_fraction" or "train" (recorded in the checkpoint).
  public let validationSource: String
  /// The patterns split off for validation by `val_fraction`.
  let validationPatterns: [Int]?
  /// The best validation epoch so far, its loss, and its state until best.h5 is written.
  var bestEpoch: Int? = nil
  var bestValidationLoss: Double? = nil
  var unsavedBest: RunSnapshot<T>? = nil
  /// best.h5, beside the checkpoint.
  public var bestPath: String {
    let folder = (checkpointPath as NSString).deletingLastPathComponent
    return folder.isEmpty ? "best.h5" : folder + "/best.h5"
  }
  let workspaces: [KernelWorkspace<T>]
  /// Whether the first step of each epoch starts from a forward pass over
  /// the whole training set (see the file's header).
  let reusesWholePass: Bool
  /// The last pass over the whole training set, while the parameters are
  /// those it ran with.
  var wholePass: TrajectoryForward<T>? = nil
  /// The last good state: the end of the last epoch that validated and
  /// whose parameters then gave the next step's gradient (or the start).
  var lastGood: RunSnapshot<T>? = nil
  /// The end of the last epoch, until the next gradient confirms it.
  var pendingGood: RunSnapshot<T>? = nil
  /// Also save at an epoch's end once this many seconds have passed since
  /// the last save (nil: only every `checkpointEvery` epochs and at the end).
  /// Does not change any result.
  public var checkpointSeconds: Double? = nil
  /// The stabiliser's weight this epoch: the plan's, adapted after each
  /// epoch (`adaptStabilityWeight`) and recorded in the history, from which
  /// a resumed run takes it.
  var stabilityWeight: Double? = nil
  /// Polled before each minibatch and after each epoch.
  public var stopRequest = StopRequest.shared
  /// The run's identity (`TrainingPlan.identity(dataHash:)`) and the hash
  /// of its dataset's bytes, recorded in its checkpoints with the resolved
  /// configuration and the dataset's path.
  public var runHash: String? = nil
  /// A hash of the dataset's bytes.
  public var dataHash: String? = nil
  /// When set, checkpoints are synced and put in place by it, after
  /// `write` returns (a sweep's runs); nil: before.
  public var writeBehind: WriteBehind? = nil

  // Where the run stands between epochs (`start`, `trainEpoch`).
  var started = false
  /// The update before the current parameters, to undo it.
  var previousUpdate: (parameters: Parameters<T>, optimizer: Optimizer<T>, gradient: Parameters<T>)? = nil
  /// Rejected steps in a row, and in the epoch.
  var retries = 0, rejected = 0
  /// Steps in a row taken with too many unsettled patterns (`retrying`).
  var forced = 0
  var lastReport: EpochReport? = nil
  /// When the checkpoint was last saved (uptime, ns).
  var lastSave: UInt64 = 0
  /// Time spent in this run's own `start` and `trainEpoch` calls since
  /// the last `start` (ns): in a lockstep group, the other runs' epochs
  /// are not counted.
  var ownNanoseconds: UInt64 = 0
  var endedOutcome: TrainingOutcome? = nil
  /// The run's outcome once it has ended (nil while epochs are left), its
  /// `seconds` the time spent training it.
  public var ended: TrainingOutcome? {
    endedOutcome.map {
      var outcome = $0
      outcome.seconds = Double(ownNanoseconds) * 1e-9
      return outcome
    }
  }

  /// Sets up a run: a fresh network from the plan's seed, or the state of
  /// `resumeFrom` (a checkpoint written by a run of the same configuration).
  /// Datasets up to `inMemoryLimit` bytes are loaded whole; larger ones are
  /// streamed in minibatches.
  ///
  /// - Parameters:
  ///   - plan: the resolved run.
  ///   - data: the dataset file.
  ///   - summary: its kind and sizes.
  ///   - checkpoint: where the checkpoint goes.
  ///   - resumeFrom: the checkpoint to continue, or nil for a fresh run.
  ///   - learningRate: on resume, a learning rate that replaces the
  ///     checkpoint's (nil: continue with the checkpoint's, which may have
  ///     been decayed or halved by rejected steps).
  ///   - inMemoryLimit: the largest dataset, in bytes, held whole.
  ///   - contents: the whole dataset of `data`, already read (runs of a
  ///     sweep share one copy); nil: the trainer reads what it needs.
  ///   - workspaces: the kernel workspaces its threads use, at least
  ///     `plan.threads` (a lockstep group's runs share their worker's);
  ///     nil: its own.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init(
    plan: TrainingPlan, data: String, summary: DatasetSummary, checkpoint: String,
    resumeFrom: Checkpoint? = nil, learningRate: Double? = nil,
    inMemoryLimit: Int = MinibatchStream<T>.defaultInMemoryLimit,
    contents: DatasetContents<T>? = nil, workspaces: [KernelWorkspace<T>]? = nil
  ) throws {
    self.plan = plan
    dataPath = data
    checkpointPath = checkpoint
    self.summary = summary
    // Checkpointed BPTT on a dataset too large to hold reads each
    // minibatch's sequences by spans of steps, a segment at a time.
    var bySpans = false
    if case .checkpointed = plan.bptt, plan.model == .trajectory { bySpans = true }
    // Validation: /val, else a split of the training patterns, else the training set.
    var trainingPatterns: [Int]? = nil
    var heldOut: [Int]? = nil
    if summary.hasValSet {
      validationSet = try DatasetFile.read(data, as: T.self, part: .val)
      validationSource = "val"
    } else if let fraction = plan.valFraction {
      let split = validationSplit(count: summary.count, fraction: fraction, seed: plan.seed)
      trainingPatterns = split.training
      validationSet =
        try contents.map { MinibatchStream<T>.subset($0, split.validation) }
        ?? DatasetFile.read(data, as: T.self, rows: split.validation)
      validationSource = "val_fraction"
      heldOut = split.validation
    } else {
      validationSet = nil
      validationSource = "train"
    }
    validationPatterns = heldOut
    if let contents {
      stream = try MinibatchStream<T>(
        contents: contents, path: data, batchSize: plan.batch, shuffle: true,
        seed: plan.seed, subset: trainingPatterns)
    } else {
      stream = try MinibatchStream<T>(
        path: data, batchSize: plan.batch, shuffle: true, seed: plan.seed,
        inMemoryLimit: inMemoryLimit, bySpans: bySpans, subset: trainingPatterns)
    }
    warm = SteadyStateCache(units: plan.shape.units)
    precondition((workspaces?.count ?? plan.threads) >= plan.threads, "Trainer: fewer workspaces than threads")
    self.workspaces = workspaces ?? (0..<plan.threads).map { _ in KernelWorkspace<T>() }
    var checkpointedBPTT = false
    if case .checkpointed = plan.bptt { checkpointedBPTT = true }
    reusesWholePass =
      plan.model == .trajectory && !checkpointedBPTT && validationSet == nil && trainingPatterns == nil
      && stream.contents != nil
      && TrajectoryForward<T>.bytes(count: summary.count, steps: summary.steps, units: plan.shape.units)
        <= wholePassLimit
    let layout = ParameterLayout(shape: plan.shape, hasInitialState: plan.model == .trajectory)
    if let ck = resumeFrom {
      guard ck.model == plan.model, ck.shape == plan.shape, ck.activation == plan.activation, ck.loss == plan.loss
      else {
        throw ConfigError(
          "\(checkpoint): the checkpoint's network (\(ck.model.rawValue), \(ck.shape.units) units, "
            + "\(ck.activation.rawValue), \(ck.loss.rawValue)) does not match the configuration")
      }
      parameters = ck.parameters.converted(to: T.self)
      if let saved = ck.progress {
        if let seed = saved.seed, seed != plan.seed {
          throw ConfigError("\(checkpoint): the run was seeded with \(seed), this configuration with \(plan.seed)")
        }
        progress = saved.converted(to: T.self)
        progress.optimizer.settings = plan.optimizer
        progress.seed = plan.seed
      } else {
        // A network without a run (written by another tool): its training starts here.
        progress = RunProgress(optimizer: try Optimizer<T>(settings: plan.optimizer, layout: layout), seed: plan.seed)
      }
      if let learningRate { progress.learningRate = learningRate }
      (bestEpoch, bestValidationLoss) = (ck.bestEpoch, ck.bestValidationLoss)
      if plan.warmStart, let states = ck.warmStarts {
        warm.restore(states.states.converted(to: T.self), known: states.known)
      }
    } else {
      var rng = SeededGenerator(seed: plan.seed)
      parameters = Parameters<T>.random(layout: layout, gain: plan.gain, using: &rng)
      if plan.symmetric { parameters.makeWeightsSymmetric() }
      progress = RunProgress(optimizer: try Optimizer<T>(settings: plan.optimizer, layout: layout), seed: plan.seed)
    }
    if plan.symmetric && !parameters.weightsAreSymmetric {
      throw ConfigError("\(checkpoint): --symmetric needs W = Wᵀ with a zero diagonal, and the checkpoint's W is not")
    }
    if let base = plan.steady.jacobianPenalty?.weight {
      stabilityWeight = progress.history[.stabilityWeight]?.last ?? base
    }
  }

  /// The plan's steady solver settings with this epoch's stabiliser weight.
  var steadySettings: SteadySolverSettings {
    var settings = plan.steady
    if let weight = stabilityWeight, case let .jacobian(_, threshold) = settings.stabilizer {
      settings.stabilizer = .jacobian(weight: weight, threshold: threshold)
    }
    return settings
  }

  /// The stabiliser's weight after an epoch: 1.5 times larger (up to 10
  /// times the configured one) when the epoch rejected a step or left a
  /// training pattern unsettled, brought back towards the configured one
  /// (× 0.7) when every pattern stayed well inside the threshold (α below
  /// 0.9 of it), else kept.
  func adaptStabilityWeight(stats: SolveStats, rejected: Int, unsettled: Int) {
    guard let weight = stabilityWeight, let (base, threshold) = plan.steady.jacobianPenalty else { return }
    if rejected > 0 || unsettled > 0 {
      stabilityWeight = min(weight * 1.5, base * 10)
    } else if stats.maxRadius < 0.9 * threshold {
      stabilityWeight = max(weight * 0.7, base)
    }
  }

  /// Runs the remaining epochs, calling `report` after each. Throws
  /// `TrainingStopped` (after writing the last good checkpoint) when the
  /// failure policy gives up. The same as `start()`, then `trainEpoch`
  /// until it returns true: a lockstep group (`Lockstep`) advances its
  /// runs through those calls, one epoch of each in turn.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func run(report: (EpochReport) -> Void = { _ in }) throws -> TrainingOutcome {
    try start()
    while try !trainEpoch(report: report) {}
    guard let ended else { preconditionFailure("trainEpoch returns true once the run has ended") }
    return ended
  }

  /// Prepares the remaining epochs. A run with nothing left to train (at
  /// its last epoch, or resumed after it met its stopping rule) ends here
  /// (`ended`).
  public func start() throws {
    let begun = DispatchTime.now().uptimeNanoseconds
    defer { ownNanoseconds += DispatchTime.now().uptimeNanoseconds - begun }
    (started, endedOutcome, lastReport, previousUpdate) = (true, nil, nil, nil)
    (retries, rejected, forced, lastSave, ownNanoseconds) = (0, 0, 0, begun, 0)
    lastGood = snapshot
    if progress.epoch >= plan.epochs { try saveCheckpoint() }
    // A resumed run that already met its stopping rule (solved, or at its
    // target loss) has nothing left to train: it is left as it is.
    if progress.epoch > 0, let b = bestEpoch, let k = plan.patience, progress.epoch - b >= k {
      endedOutcome = outcome(stopReason: "patience", seconds: 0)
      return
    }
    if progress.epoch > 0, plan.stopWhenSolved || plan.targetLoss != nil, let (loss, _, solved, _) = try validate(),
      (plan.stopWhenSolved && solved == true) || (plan.targetLoss.map { loss <= $0 } ?? false)
    {
      endedOutcome = outcome(stopReason: plan.stopWhenSolved && solved == true ? "solved" : "target_loss", seconds: 0)
      return
    }
    if progress.epoch >= plan.epochs { end(stopReason: nil) }
  }

  /// Records the run's outcome (`ended`).
  func end(stopReason: String?) {
    var result = outcome(stopReason: stopReason, seconds: 0)
    result.final = lastReport
    result.stoppedEarly = stopReason != nil
    endedOutcome = result
  }

  /// Runs `body` until it succeeds; after each failure of a solve, undoes
  /// the last update and takes it again at half the learning rate, or
  /// stops the run when that is not possible. A step that still has too
  /// many unsettled patterns after its retries is the parameters' own
  /// doing, not the last update's: it is taken all the same, on its
  /// settled patterns and the stabiliser (raised by half, which presses on
  /// the unsettled ones too); after `maxRetries` such steps in a row the
  /// run stops.
  func retrying<R>(_ body: (_ accepting: Bool) throws -> R) throws -> R {
    while true {
      do {
        let result = try body(false)
        forced = 0
        return result
      } catch let error as any StepFailure {
        guard let p = previousUpdate, retries < plan.maxRetries else {
          let reason =
            retries > 0 ? "\(error) (after \(retries) rejected steps at halved learning rates)" : "\(error)"
          if error is UnsettledStep && forced < plan.maxRetries {
            forced += 1
            if let weight = stabilityWeight, let base = plan.steady.jacobianPenalty?.weight {
              stabilityWeight = min(weight * 1.5, base * 10)
            }
            retries = 0
            do { return try body(true) } catch let again as any StepFailure {
              try stop(reason: "\(again) (after \(forced) steps in a row with too many unsettled patterns)")
            }
          }
          try stop(
            reason: forced > 0
              ? "\(reason) (after \(forced) steps in a row with too many unsettled patterns)" : reason)
        }
        retries += 1
        rejected += 1
        parameters = p.parameters
        progress.optimizer = p.optimizer
        progress.learningRate *= 0.5
        progress.optimizer.apply(p.gradient, to: &parameters, learningRate: progress.learningRate)
      }
    }
  }

  /// Trains the next epoch, calling `report` at its end; returns true once
  /// the run has ended (`ended`: at its last epoch, or stopped early by
  /// its stopping rule), at once when it had already. Throws as `run`
  /// does; `start()` comes first.
  @discardableResult
  public func trainEpoch(report: (EpochReport) -> Void = { _ in }) throws -> Bool {
    precondition(started, "Trainer.start() comes before trainEpoch()")
    if endedOutcome != nil { return true }
    let epochStart = DispatchTime.now().uptimeNanoseconds
    defer { ownNanoseconds += DispatchTime.now().uptimeNanoseconds - epochStart }
    stream.startEpoch(progress.epoch)
    var lossSum = 0.0, patterns = 0
    rejected = 0
    var stats = SolveStats()
    var unsettled = Set<Int>()
    var firstStep = true
    while let (indices, batch) = try nextMinibatch() {
      if let signal = stopRequest.signal { try interrupt(signal, saving: pendingGood ?? lastGood ?? snapshot) }
      let (loss, gradient, stepStats) = try retrying { accepting in
        let r = try minibatchGradient(batch, indices: indices, fromWholePass: firstStep && reusesWholePass)
        if plan.model == .steady {
          let left = r.2.patterns - r.2.settled
          if (Double(left) > plan.maxUnsettled * Double(indices.count) && !accepting) || r.2.settled == 0 {
            throw UnsettledStep(
              step: progress.step, unsettled: left, patterns: indices.count,
              limit: plan.maxUnsettled, first: r.2.unsettledRows.first.map { indices[$0] } ?? 0,
              failure: r.2.failure)
          }
        }
        guard r.0.isFinite, r.1.values.allSatisfy({ $0.isFinite }) else {
          throw RBPError.nonFinite(
            solver: "the training loss or gradient", pattern: indices.first ?? 0, iterations: progress.step)
        }
        return r
      }
      if let pending = pendingGood {
        lastGood = pending
        pendingGood = nil
      }
      for r in stepStats.unsettledRows { unsettled.insert(indices[r]) }
      stats.add(stepStats)
      let counted = plan.model == .steady ? stepStats.settled : indices.count
      lossSum += loss * Double(counted)
      patterns += counted
      previousUpdate = (parameters, progress.optimizer, gradient)
      progress.optimizer.apply(gradient, to: &parameters, learningRate: progress.learningRate)
      retries = 0
      progress.step += 1
      firstStep = false
      wholePass = nil
    }
    progress.epoch += 1
    let epoch = progress.epoch
    let trainingLoss = lossSum / Double(max(patterns, 1))
    // Finite but exploding is still a failure, not a result.
    if let first = progress.history[.loss]?.first, trainingLoss > divergenceFactor * max(first, 1e-3) {
      try stop(reason: "diverged: the training loss grew from \(first) to \(trainingLoss)")
    }
    let (validationLoss, accuracy, solved, validationUnsettled) = try retrying { _ in
      let v = try validate() ?? (trainingLoss, nil, nil, 0)
      guard v.0.isFinite else { throw RBPError.nonFinite(solver: "validation", pattern: 0, iterations: epoch) }
      return v
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - epochStart) * 1e-9
    var r = EpochReport(
      epoch: epoch, epochs: plan.epochs, loss: trainingLoss,
      validationLoss: validationLoss, validationAccuracy: accuracy, solved: solved,
      seconds: seconds, patternsPerSecond: Double(patterns) / max(seconds, 1e-9))
    r.unsettledPatterns = unsettled.sorted()
    r.validationUnsettled = validationUnsettled
    // The weight the next epoch starts with is recorded (a resumed run
    // takes it from the history).
    adaptStabilityWeight(stats: stats, rejected: rejected, unsettled: unsettled.count)
    record(r, stats: stats, rejected: rejected)
    lastReport = r
    report(r)
    progress.learningRate *= plan.lrDecay
    // The best validation epoch: its state goes to best.h5 with the next checkpoint.
    let improved = bestValidationLoss.map { validationLoss < $0 - plan.minDelta } ?? true
    if improved { (bestEpoch, bestValidationLoss) = (epoch, validationLoss) }
    pendingGood = snapshot
    if improved { unsavedBest = pendingGood }
    let reason: String? =
      plan.stopWhenSolved && solved == true
      ? "solved"
      : plan.targetLoss.map { validationLoss <= $0 } == true
        ? "target_loss"
        : plan.patience.map { epoch - (bestEpoch ?? epoch) >= $0 } == true ? "patience" : nil
    let done = reason != nil
    let now = DispatchTime.now().uptimeNanoseconds
    let due = checkpointSeconds.map { Double(now - lastSave) * 1e-9 >= $0 } ?? false
    if done || epoch == plan.epochs || due || (plan.checkpointEvery > 0 && epoch % plan.checkpointEvery == 0) {
      try saveCheckpoint()
      lastSave = now
    }
    if !done && epoch < plan.epochs, let signal = stopRequest.signal { try interrupt(signal, saving: snapshot) }
    if done || epoch == plan.epochs {
      end(stopReason: epoch < plan.epochs ? reason : nil)
      return true
    }
    return false
  }

  /// The outcome at the current epoch.
  func outcome(stopReason: String?, seconds: Double) -> TrainingOutcome {
    TrainingOutcome(
      epochs: progress.epoch, final: nil, stoppedEarly: stopReason != nil, seconds: seconds,
      checkpoint: checkpointPath, stopReason: stopReason, bestEpoch: bestEpoch,
      bestValidationLoss: bestValidationLoss,
      bestCheckpoint: bestEpoch == nil ? nil : bestPath, validation: validationSource)
  }

  /// Writes `state` (an epoch boundary) and throws `TrainingInterrupted`.
  func interrupt(_ signal: Int32, saving state: RunSnapshot<T>) throws -> Never {
    try write(checkpoint(of: state))
    throw TrainingInterrupted(signal: signal, checkpoint: checkpointPath, epoch: state.progress.epoch)
  }

  /// Writes the last good state with `reason` and throws `TrainingStopped`.
  func stop(reason: String) throws -> Never {
    var ck = checkpoint(of: lastGood ?? snapshot)
    ck.stopReason = reason
    try write(ck)
    throw TrainingStopped(reason: reason, checkpoint: checkpointPath, epoch: ck.epoch)
  }

  /// Per-epoch history (no wall-clock times: a checkpoint depends only on
  /// the configuration, not on the machine or the thread count).
  func record(_ r: EpochReport, stats: SolveStats, rejected: Int) {
    func append(_ key: HistoryKey, _ value: Double) { progress.history.append(value, to: key) }
    append(.loss, r.loss)
    append(.valLoss, r.validationLoss)
    if let a = r.validationAccuracy { append(.valAccuracy, a) }
    append(.lr, progress.learningRate)
    append(.rejectedSteps, Double(rejected))
    if plan.model == .steady {
      let count = Double(max(stats.patterns, 1))
      append(.forwardIterationsMean, Double(stats.forwardIterations) / count)
      append(.forwardIterationsMax, Double(stats.forwardMax))
      append(.adjointIterationsMean, Double(stats.adjointIterations) / count)
      append(.adjointIterationsMax, Double(stats.adjointMax))
      append(.maxResidual, stats.maxResidual)
      append(.maxSpectralRadius, stats.maxRadius)
      append(.fallbacks, Double(stats.fallbacks))
      append(.penalty, stats.penalty / count)
      append(.maxAbscissa, stats.maxAbscissa)
      append(.damping, stats.minDamping)
      append(.unsettled, Double(r.unsettledPatterns.count))
      append(.valUnsettled, Double(r.validationUnsettled))
      if let weight = stabilityWeight { append(.stabilityWeight, weight) }
    }
  }

  /// The epoch's next minibatch: its dataset indices, and its contents
  /// (nil when the stream reads it by spans of steps), or nil at the end.
  func nextMinibatch() throws -> (indices: [Int], batch: DatasetContents<T>?)? {
    if stream.readsSpans { return stream.nextIndices().map { ($0, nil) } }
    return try stream.next().map { ($0.indices, $0.batch) }
  }

  /// The mean loss and gradient of one minibatch: microbatches of `microbatchSize`
  /// patterns, computed by `plan.threads` workers, combined in microbatch order.
  /// A minibatch without contents is read by spans of steps, each
  /// microbatch's sequences on their own.
  func minibatchGradient(
    _ batch: DatasetContents<T>?, indices: [Int], fromWholePass: Bool = false
  )
    throws -> (Double, Parameters<T>, SolveStats)
  {
    let count = indices.count
    let whole = fromWholePass ? try passOverTrainingSet() : nil
    let microbatches = stride(from: 0, to: count, by: microbatchSize).map {
      Array($0..<min($0 + microbatchSize, count))
    }
    let spans =
      batch != nil ? nil : try microbatches.map { microbatch in try stream.spans(for: microbatch.map { indices[$0] }) }
    let slots = WorkerSlots<Result<MicrobatchResult, Error>>(count: microbatches.count)
    let workers = min(plan.threads, microbatches.count)
    let cache: SteadyStateCache<T>? = plan.warmStart ? warm : nil
    let params = parameters
    let plan = plan, workspaces = workspaces, settings = steadySettings
    // Threads without a microbatch of their own work inside the matrix products
    // (the same bits either way).
    let productThreads = max(1, plan.threads / max(workers, 1))
    DispatchQueue.concurrentPerform(iterations: workers) { w in
      for s in stride(from: w, to: microbatches.count, by: workers) {
        slots[s] = Result {
          if let spans {
            return try Self.microbatchGradient(
              plan, spans[s], params, workspace: workspaces[w], productThreads: productThreads)
          }
          return try Self.microbatchGradient(
            plan, batch!, params, microbatches[s], indices: microbatches[s].map { indices[$0] },
            cache: cache, settings: settings, workspace: workspaces[w],
            productThreads: productThreads, wholePass: whole)
        }
      }
    }
    var total = Parameters<T>(layout: parameters.layout)
    var loss = 0.0
    var stats = SolveStats()
    var solved: [(states: Matrix<T>, indices: [Int])] = []
    let results = try slots.all.map { try $0!.get() }
    // Each microbatch's mean counts by its settled patterns (all of them for
    // trajectories): the minibatch's mean is over the settled ones.
    let counts = results.enumerated().map { s, r in plan.model == .steady ? r.stats.settled : microbatches[s].count }
    let settled = counts.reduce(0, +)
    for (s, r) in results.enumerated() {
      // Positions in the minibatch, for the epoch's list of unsettled patterns.
      var microbatchStats = r.stats
      microbatchStats.unsettledRows = r.stats.unsettledRows.map { microbatches[s][$0] }
      stats.add(microbatchStats)
      stats.unsettledRows += microbatchStats.unsettledRows
      guard counts[s] > 0 else { continue }
      let weight = T(counts[s]) / T(settled)
      for i in total.values.indices { total.values[i] += weight * r.gradient.values[i] }
      loss += r.loss * Double(counts[s])
      if let states = r.states {
        let rows =
          r.stats.unsettledRows.isEmpty
          ? Array(0..<microbatches[s].count)
          : (0..<microbatches[s].count).filter { !r.stats.unsettledRows.contains($0) }
        solved.append((states.rows(rows), rows.map { indices[microbatches[s][$0]] }))
      }
    }
    // Warm starts are kept only from minibatches whose every microbatch succeeded,
    // and only for settled patterns.
    if plan.warmStart { for (states, idx) in solved { warm.store(states, for: idx) } }
    return (settled > 0 ? loss / Double(settled) : .nan, total, stats)
  }

  struct MicrobatchResult {
    var loss: Double
    var gradient: Parameters<T>
    var states: Matrix<T>?
    var stats: SolveStats
  }

  /// A microbatch's gradient: the minibatch's `rows`, patterns `indices` of the
  /// dataset; a trajectory microbatch starts from `wholePass` (a pass over the
  /// whole training set at `params`) when there is one.
  static func microbatchGradient(
    _ plan: TrainingPlan, _ batch: DatasetContents<T>, _ params: Parameters<T>, _ rows: [Int], indices: [Int],
    cache: SteadyStateCache<T>?, settings: SteadySolverSettings, workspace: KernelWorkspace<T>, productThreads: Int = 1,
    wholePass: TrajectoryForward<T>? = nil
  ) throws -> MicrobatchResult {
    switch batch {
    case .steady(let b):
      var net = try SteadyNetwork(parameters: params, activation: plan.activation, loss: plan.loss)
      net.symmetric = plan.symmetric
      net.threads = productThreads
      let g = try net.gradient(
        batch: b.subset(rows), settings: settings, start: cache?.start(for: indices),
        workspace: workspace, allowingUnsettled: true)
      let tolerance = settings.forwardOptions(for: T.self, units: plan.shape.units).tolerance
      return MicrobatchResult(
        loss: g.loss, gradient: g.gradient, states: g.states,
        stats: SolveStats(g, indices: indices, tolerance: tolerance))
    case .trajectory(let b):
      let net = try TrajectoryNetwork(parameters: params, activation: plan.activation, loss: plan.loss, leak: plan.leak)
      let g =
        try wholePass.map {
          try net.gradient(
            batch: b.subset(rows), reusing: $0, rows: indices, mode: plan.bptt, workspace: workspace,
            threads: productThreads)
        }
        ?? net.gradient(
          batch: b.subset(rows), mode: plan.bptt, workspace: workspace, threads: productThreads,
          keepingTrajectory: false)
      return MicrobatchResult(loss: g.loss, gradient: g.gradient, states: nil, stats: SolveStats())
    }
  }

  /// A microbatch's gradient by checkpointed BPTT over spans of its sequences.
  static func microbatchGradient(
    _ plan: TrainingPlan, _ spans: DatasetSpans<T>, _ params: Parameters<T>, workspace: KernelWorkspace<T>,
    productThreads: Int
  ) throws -> MicrobatchResult {
    guard case .checkpointed(let every) = plan.bptt else {
      preconditionFailure("spans are read for checkpointed BPTT only")
    }
    let net = try TrajectoryNetwork(parameters: params, activation: plan.activation, loss: plan.loss, leak: plan.leak)
    let g = try net.gradient(spans: spans, every: every, workspace: workspace, threads: productThreads)
    return MicrobatchResult(loss: g.loss, gradient: g.gradient, states: nil, stats: SolveStats())
  }

  /// Loss, accuracy and the solved flag on the test set, or on the training
  /// set when it is held in memory; nil for a streamed dataset without a
  /// test set (the epoch's training loss stands in, and nothing extra is
  /// read). Exactly what `rbp eval` computes: every pattern relaxes from its
  /// initial state, never from a warm start.
  func validate() throws -> (Double, Double?, Bool?, Int)? {
    guard let data = validationSet ?? stream.contents else { return nil }
    let e = try evaluate(
      data, parameters: parameters, plan: plan, task: summary.task, workspace: workspaces[0],
      keepingForward: reusesWholePass)
    wholePass = e.forward
    return (e.loss, e.accuracy, e.solved, e.unsettled)
  }

  /// The forward pass over the whole training set at the current
  /// parameters: validation's, when they have not changed since, else a
  /// new one (the same arithmetic either way).
  func passOverTrainingSet() throws -> TrajectoryForward<T> {
    if let kept = wholePass, kept.parameters == parameters.values { return kept }
    guard case .trajectory(let b)? = stream.contents else {
      preconditionFailure("a pass over the training set is kept for trajectory datasets held in memory only")
    }
    let net = try TrajectoryNetwork(
      parameters: parameters, activation: plan.activation, loss: plan.loss, leak: plan.leak)
    guard let pass = try net.evaluate(b, workspace: workspaces[0], keepingForward: true).forward else {
      preconditionFailure("evaluate(keepingForward: true) keeps its pass")
    }
    wholePass = pass
    return pass
  }

  /// The run's state now, in its own precision: copies that share storage
  /// with the live state until the next step changes it, so keeping one
  /// costs no conversion and no JSON.
  var snapshot: RunSnapshot<T> {
    // The history only grows: the snapshot keeps its lengths, not a copy
    // that the next epoch's values would have to copy again (which made a
    // long run's epochs cost in proportion to their number).
    var state = progress
    state.history = History()
    return RunSnapshot(
      parameters: parameters, progress: state,
      historyLengths: progress.history.byName.mapValues(\.count), bestEpoch: bestEpoch,
      bestValidationLoss: bestValidationLoss, warm: plan.model == .steady && plan.warmStart ? warm : nil)
  }

  /// The run's progress at `state`: its counters and optimizer, and the
  /// history as it was then.
  func progress(at state: RunSnapshot<T>) -> RunProgress<T> {
    var then = state.progress
    var history: [String: [Double]] = [:]
    for (key, length) in state.historyLengths {
      history[key] = Array(progress.history.byName[key, default: []].prefix(length))
    }
    then.history = History(byName: history)
    return then
  }

  /// The run's state as a checkpoint.
  public var checkpoint: Checkpoint { checkpoint(of: snapshot) }

  /// A state of the run as a checkpoint, converted to f64 with the run's
  /// configuration and identity: built only to be written.
  func checkpoint(of state: RunSnapshot<T>) -> Checkpoint {
    // The stored configuration leaves out `threads`, which does not change
    // the results: checkpoints are identical for any thread count.
    var stored = plan.config
    stored.threads = nil
    var ck = Checkpoint(
      model: plan.model, activation: plan.activation, loss: plan.loss, leak: plan.leak,
      parameters: state.parameters.converted(to: Double.self), config: stored.json,
      progress: progress(at: state).converted(to: Double.self))
    ck.resolvedConfig = plan.resolvedConfig.json
    ck.symmetric = plan.symmetric
    ck.validation = validationSource
    ck.validationPatterns = validationPatterns
    (ck.bestEpoch, ck.bestValidationLoss) = (state.bestEpoch, state.bestValidationLoss)
    ck.runHash = runHash
    ck.dataHash = dataHash
    ck.dataPath = dataHash == nil ? nil : dataPath
    if let warm = state.warm {
      let (states, known) = warm.snapshot(count: summary.count)
      ck.warmStarts = WarmStarts(states: states.converted(to: Double.self), known: known)
    }
    return ck
  }

  func saveCheckpoint() throws {
    try write(checkpoint)
  }

  /// Writes `state` as the checkpoint, after best.h5 when the best epoch
  /// changed since it was last written (so the checkpoint never names a
  /// best epoch that best.h5 does not hold).
  func write(_ state: Checkpoint) throws {
    if let best = unsavedBest, best.progress.epoch <= state.epoch {
      // The best epoch is the state itself (an epoch that improved,
      // written as it ended): one file's bytes for both.
      if best.progress.epoch == state.epoch && best.progress.step == state.progress?.step && state.stopReason == nil {
        try CheckpointFile.write(state, to: checkpointPath, copy: bestPath, behind: writeBehind)
        unsavedBest = nil
        return
      }
      try CheckpointFile.write(checkpoint(of: best), to: bestPath, behind: writeBehind)
      unsavedBest = nil
    }
    try CheckpointFile.write(state, to: checkpointPath, behind: writeBehind)
  }
}

/// A run's state at an epoch's end, kept in the run's precision until it is
/// written (`Trainer.checkpoint(of:)`).
struct RunSnapshot<T: KernelScalar> {
  var parameters: Parameters<T>
  /// The counters and the optimizer; the history is left out (see
  /// `historyLengths`).
  var progress: RunProgress<T>
  /// The length of each series of the history then: the trainer's history
  /// cut to these lengths is the snapshot's (`Trainer.progress(at:)`).
  var historyLengths: [String: Int]
  var bestEpoch: Int?
  var bestValidationLoss: Double?
  /// The warm starts, when the run keeps them.
  var warm: SteadyStateCache<T>?
}
