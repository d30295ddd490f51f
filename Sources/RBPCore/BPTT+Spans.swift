// Checkpointed BPTT over sequences read a span of steps at a time, for
// sequences too long to hold whole (a dataset file of T = 5000 steps of
// hundreds of inputs). The trajectory is cut into segments of c steps, and
// each segment's inputs, targets and mask are one span: read once going
// forward (keeping only the state at each segment's start), and again going
// back, when the segment's states are recomputed from its checkpoint. Held
// at once: one span, the checkpoints and one segment's blocks, O(√T·P·N)
// in all with c = ⌈√T⌉, whatever the length of the data.
//
// The arithmetic is that of `checkpointedBPTT`, step for step and segment
// for segment (the same bits): each span is a batch of its own whose
// initial state is the segment's checkpoint, and the error bracket e and
// the loss's running sum carry from one span to the next.
//
// Legend: P = sequences, T = steps, N = units, I = inputs, O = outputs.

import RBPKernels

/// Sequences whose steps can be read a span at a time. The steps of
/// `span(_:)` are 0-based: index t − 1 holds step t of the formulas.
public protocol TrajectorySpans<Scalar> {
  /// The precision of the sequences.
  associatedtype Scalar: KernelScalar
  /// P
  var count: Int { get }
  /// T
  var steps: Int { get }
  /// I, the inputs per step.
  var inputWidth: Int { get }
  /// O, the targets per step.
  var outputWidth: Int { get }
  /// x(0) of every sequence, P×N, or nil for the network's learned x0.
  var initial: Matrix<Scalar>? { get }
  /// Steps `range` of every sequence, in the order of the sequences, as a
  /// batch of `range.count` steps (its `initial` is not used).
  func span(_ range: Range<Int>) throws -> TrajectoryBatch<Scalar>
}

extension TrajectoryBatch: TrajectorySpans {
  /// The batch's precision.
  public typealias Scalar = T

  /// A copy of steps `range` of every sequence.
  public func span(_ range: Range<Int>) throws -> TrajectoryBatch<T> {
    guard range.lowerBound >= 0, range.upperBound <= steps, !range.isEmpty else {
      throw RBPError.invalid("steps \(range) are not within the \(steps) steps of the batch")
    }
    func pick(_ a: [T], _ width: Int) -> [T] {
      (0..<count).flatMap { p in a[(p * steps + range.lowerBound) * width..<(p * steps + range.upperBound) * width] }
    }
    return try TrajectoryBatch(
      count: count, steps: range.count, inputs: pick(inputs, inputWidth), inputWidth: inputWidth,
      targets: pick(targets, outputWidth), outputWidth: outputWidth,
      mask: mask.map { pick($0, outputWidth) })
  }
}

extension TrajectoryNetwork {
  /// ∂J/∂θ of the loss by checkpointed BPTT, reading the sequences one
  /// span of `every` steps at a time (nil: ⌈√T⌉), each span twice.
  /// The same result, to the bit, as `gradient(batch:mode: .checkpointed)`
  /// on the whole batch with `keepingTrajectory: false`; neither states nor
  /// adjoints are returned.
  ///
  /// - Throws: what `spans` throws while reading; `RBPError.nonFinite`
  ///   when the trajectory or the loss blows up; `RBPError.invalid` for
  ///   spans that do not fit the network.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func gradient(
    spans: any TrajectorySpans<T>, every: Int? = nil, workspace: KernelWorkspace<T> = KernelWorkspace(),
    threads: Int = 1
  ) throws -> TrajectoryGradient<T> {
    let (count, steps, n) = (spans.count, spans.steps, shape.units)
    guard count >= 1, steps >= 1 else {
      throw RBPError.invalid("a trajectory batch needs at least one sequence and one step, got \(count)×\(steps)")
    }
    let c = every ?? Int(Double(steps).squareRoot().rounded(.up))
    guard c >= 1 else { throw RBPError.invalid("checkpoint interval must be at least 1, got \(c)") }
    if let initial = spans.initial, initial.rows != count || initial.cols != n {
      throw RBPError.invalid("initial states are \(initial.rows)×\(initial.cols), expected \(count)×\(n)")
    }
    let segments = (steps + c - 1) / c
    let block = count * n
    /// Segment k's span, starting from `checkpoints[k]`, and the pass over it.
    func pass(_ k: Int, from start: Matrix<T>) throws -> StepContext<T> {
      var batch = try spans.span(k * c..<min((k + 1) * c, steps))
      guard batch.count == count, batch.steps == min((k + 1) * c, steps) - k * c else {
        throw RBPError.invalid(
          "a span of steps \(k * c)..<\(min((k + 1) * c, steps)) came back as "
            + "\(batch.count)×\(batch.steps)")
      }
      batch.initial = start
      try batch.check(against: shape)
      return StepContext(self, batch, workspace, nil, threads: threads)
    }
    // Forward: the checkpoints x(0), x(c), x(2c), … and the loss.
    var checkpoints = [Matrix<T>]()
    checkpoints.reserveCapacity(segments + 1)
    var x0 = Matrix<T>(rows: count, cols: n)
    if let initial = spans.initial {
      x0 = initial
    } else {
      for p in 0..<count { x0.setRow(p, parameters.x0) }
    }
    checkpoints.append(x0)
    var total = 0.0
    var objective: ActiveObjective<T>? = nil
    for k in 0..<segments {
      let step = try pass(k, from: checkpoints[k])
      let states = step.blocks(.segment, 2)
      step.initialStates(into: states[0])
      total = step.forward(1, through: step.steps, states: states, slopes: step.blocks(.slopes, 1), runningSum: total)
      checkpoints.append(
        Matrix(
          rows: count, cols: n,
          elements: Array(UnsafeBufferPointer(start: states[step.steps], count: block))))
      objective = step.objective
    }
    // Backward, segment by segment from the last, with the error bracket
    // carried across spans.
    var grad = Parameters<T>(layout: parameters.layout)
    let brackets = UnsafeMutablePointer<T>.allocate(capacity: 2 * block)
    defer { brackets.deallocate() }
    var (e, carried) = (brackets, brackets + block)
    e.initialize(repeating: 0, count: 2 * block)
    for k in stride(from: segments - 1, through: 0, by: -1) {
      let step = try pass(k, from: checkpoints[k])
      let length = step.steps
      let segment = step.blocks(.segment, c + 1), slopes = step.blocks(.slopes, c)
      let s = step.blocks(.adjoints, c).base
      step.initialStates(into: segment[0])
      _ = step.forward(
        1, through: length, states: segment, slopes: slopes,
        gradients: BlockRing(base: s, slots: length, block: block))
      for t in stride(from: length, through: 1, by: -1) {
        step.backStep(slopes: slopes[t - 1], adjoint: s + (t - 1) * block, e: &e, carried: &carried)
      }
      step.accumulate(s: s, x: segment.base, firstStep: 1, rows: length * count, into: &grad)
    }
    var e0 = Matrix<T>(rows: count, cols: n)
    e0.withMutablePointer { $0.update(from: e, count: block) }
    if spans.initial == nil {
      addInitialStateGradient(e0, scale: objective!.patternScale(count), into: &grad)
    }
    let loss = objective!.scaled(total, count: count)
    guard loss.isFinite, grad.values.allSatisfy({ $0.isFinite }) else {
      throw RBPError.nonFinite(solver: "backpropagation through time", pattern: 0, iterations: steps)
    }
    return TrajectoryGradient(
      loss: loss, gradient: grad, goal: .minimize, states: nil, adjoints: [],
      initialStateGradient: e0, finalStates: checkpoints[segments],
      storedStates: segments + 1 + 2 * c + 1)
  }
}
