// Backpropagation through time for TrajectoryNetwork, in three memory modes.
//
// Forward, per step (one GEMM for all P sequences):
//   z(t) = W x(t−1) + b + U u(t),   x(t) = (1−α) x(t−1) + α f(z(t)),   D(t) = f'(z(t))
// Backward, with e(t) = dL/dx(t) and s(t) = dL/dz(t), e(T+1) = s(T+1) = 0:
//   e(t) = g(t) + (1−α) e(t+1) + Wᵀ s(t+1),   s(t) = α D(t) e(t)
//   ∂L/∂W = Σ_t s(t) x(t−1)ᵀ,  ∂L/∂b = Σ_t s(t),  ∂L/∂U = Σ_t s(t) u(t)ᵀ,  ∂L/∂x0 = e(0)
// (with α = 1: s(t) = D(t)[Wᵀ s(t+1) + g(t)] and ∂L/∂x0 = Wᵀ s(1), SPEC §1.2).
//
// Modes:
//   full          keeps x(0…T) and D(1…T): (T+1) + T blocks of P×N
//   checkpointed  keeps every c-th state, recomputes each segment backwards:
//                 about T/c + 2c blocks (c = ⌈√T⌉ by default), same gradient
//   truncated(k)  each g(t) flows back at most k steps (Williams & Peng)
//
// Every mode also keeps s(1…T) (T blocks) when the caller keeps the
// trajectory; without it, checkpointed BPTT holds one segment of them.
//
// Rows are sequences; blocks are time-major, so the weight gradient over all
// steps is one GEMM, Sᵀ·X with k = T·P. One forward loop (`forward`) serves
// every mode; where its blocks live (new arrays, or slots of the workspace
// kept from call to call) is up to the mode.
//
// Legend: P = sequences, T = steps, N = units, I = inputs, block = P×N.

import RBPKernels

/// How much of the trajectory BPTT keeps, and how far errors flow back.
public enum BPTTMode: Equatable, Sendable {
  /// Keep every state: 2T + 1 blocks, the exact gradient.
  case full
  /// Keep every `every`-th state (nil: ⌈√T⌉) and recompute the rest.
  case checkpointed(every: Int?)
  /// Errors flow back at most `window` steps from where they arise.
  case truncated(window: Int)
}

/// The result of one BPTT evaluation. Time-major blocks: block t of an
/// array holds the P×N matrix of step t.
public struct TrajectoryGradient<T: KernelScalar>: Sendable {
  /// J = (1/P) Σ_p L_p, or the objective's value.
  public var loss: Double
  /// ∂J/∂θ (∂R/∂θ for a reward); the x0 block is zero when the batch
  /// supplies initial states.
  public var gradient: Parameters<T>
  /// Which way the objective is to move.
  public var goal: ObjectiveGoal = .minimize
  /// x(0…T), (T+1)×P×N, kept by `full` and `truncated`; nil for
  /// `checkpointed`, and without `keepingTrajectory`.
  public var states: [T]?
  /// s(1…T), T×P×N, for `full` and `checkpointed`; for `truncated`, the
  /// accumulated truncated deltas. Empty when the call asked not to keep
  /// the trajectory (`keepingTrajectory: false`).
  public var adjoints: [T]
  /// dL_p/dx_p(0), P×N (unscaled).
  public var initialStateGradient: Matrix<T>
  /// x(T), P×N: the state to carry into the next chunk of a long stream.
  public var finalStates: Matrix<T>
  /// Largest number of P×N state blocks held at once.
  public var storedStates: Int

  /// The gradient an optimizer steps along (negated for a reward).
  public var descentGradient: Parameters<T> { gradient.descending(goal) }
}

/// A forward pass kept for later gradients at the same parameters
/// (`TrajectoryNetwork.evaluate(_:workspace:keepingForward:)`): x(0…T)
/// and D(1…T) of every sequence, time-major.
public struct TrajectoryForward<T: KernelScalar>: Sendable {
  /// The parameters the pass ran with (W, b, U, x0 flattened).
  public let parameters: [T]
  /// P, T and N.
  public let count: Int, steps: Int, units: Int
  /// x(0…T), (T+1)×P×N.
  let states: [T]
  /// D(1…T), T×P×N.
  let slopes: [T]

  /// Bytes a pass over `count` sequences of `steps` steps of `units` units keeps.
  public static func bytes(count: Int, steps: Int, units: Int) -> Int {
    (2 * steps + 1) * count * units * MemoryLayout<T>.stride
  }
}

extension TrajectoryNetwork {
  /// Runs the batch forward; returns x(0…T) time-major ((T+1)×P×N) and J.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func run(
    _ batch: TrajectoryBatch<T>, workspace: KernelWorkspace<T> = KernelWorkspace(),
    objective: (any StateObjective<T>)? = nil
  ) throws -> (states: [T], loss: Double) {
    try batch.check(against: shape)
    let pass = StepContext(self, batch, workspace, objective)
    let block = pass.block
    var states: [T] = uninitializedArray((batch.steps + 1) * block)
    let total = states.withUnsafeMutableBufferPointer { sp in
      pass.initialStates(into: sp.baseAddress!)
      return pass.forward(
        1, through: batch.steps, states: BlockRing(base: sp.baseAddress!, slots: batch.steps + 1, block: block),
        slopes: pass.blocks(.slopes, 1))
    }
    let loss = pass.objective.scaled(total, count: batch.count)
    guard loss.isFinite else { throw RBPError.nonFinite(solver: "forward pass", pattern: 0, iterations: batch.steps) }
    return (states, loss)
  }

  /// Runs the batch forward keeping two state blocks, not T + 1: returns J
  /// and the output units of every step, sequence-major (P×T×O), as
  /// `outputs` lays them out. Memory O(P·N + P·T·O), for evaluating long
  /// trajectories.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func evaluate(
    _ batch: TrajectoryBatch<T>, workspace: KernelWorkspace<T> = KernelWorkspace()
  ) throws
    -> (loss: Double, outputs: [T])
  {
    let r = try evaluate(batch, workspace: workspace, keepingForward: false)
    return (r.loss, r.outputs)
  }

  /// `evaluate`, the same arithmetic and the same bits, keeping the whole
  /// pass (x(0…T) and D(1…T), 2T + 1 blocks of P×N) when `keepingForward`,
  /// so that a gradient at these parameters can start from it
  /// (`gradient(batch:reusing:rows:)`) instead of running forward again.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func evaluate(
    _ batch: TrajectoryBatch<T>, workspace: KernelWorkspace<T> = KernelWorkspace(), keepingForward: Bool
  )
    throws -> (loss: Double, outputs: [T], forward: TrajectoryForward<T>?)
  {
    try batch.check(against: shape)
    let pass = StepContext(self, batch, workspace, nil)
    let (p, steps, n, o, first) = (batch.count, batch.steps, shape.units, shape.outputs, shape.firstOutput)
    var out: [T] = uninitializedArray(p * steps * o)
    var kept: TrajectoryForward<T>? = nil
    func run(states: BlockRing<T>, slopes: BlockRing<T>) -> Double {
      pass.initialStates(into: states[0])
      return out.withUnsafeMutableBufferPointer { op in
        pass.forward(1, through: steps, states: states, slopes: slopes) { t, x in
          for q in 0..<p { (op.baseAddress! + (q * steps + t - 1) * o).update(from: x + q * n + first, count: o) }
        }
      }
    }
    let total: Double
    if keepingForward {
      let block = pass.block
      var states: [T] = uninitializedArray((steps + 1) * block), slopes: [T] = uninitializedArray(steps * block)
      total = states.withUnsafeMutableBufferPointer { x in
        slopes.withUnsafeMutableBufferPointer { d in
          run(
            states: BlockRing(base: x.baseAddress!, slots: steps + 1, block: block),
            slopes: BlockRing(base: d.baseAddress!, slots: steps, block: block))
        }
      }
      kept = TrajectoryForward(
        parameters: parameters.values, count: p, steps: steps, units: n,
        states: states, slopes: slopes)
    } else {
      total = run(states: pass.blocks(.states, 2), slopes: pass.blocks(.slopes, 1))
    }
    let loss = total / Double(p)
    guard loss.isFinite else { throw RBPError.nonFinite(solver: "forward pass", pattern: 0, iterations: steps) }
    return (loss, out, kept)
  }

  /// ∂J/∂θ by BPTT (`full` or `truncated`) for the sequences `rows` of a
  /// forward pass kept by `evaluate(_:workspace:keepingForward:)` at these
  /// parameters, in that order; `batch` holds those sequences (the kept
  /// pass's batch `subset(rows)`). The step back is the arithmetic of
  /// `gradient(batch:mode:)` on the kept states and slopes, so the result
  /// is the same as that of a gradient whose own forward pass produced
  /// them.
  ///
  /// - Throws: `RBPError.invalid` for a kept pass of other parameters or
  ///   sizes, rows outside it, or the checkpointed mode;
  ///   `RBPError.nonFinite` as `gradient(batch:mode:)`.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func gradient(
    batch: TrajectoryBatch<T>, reusing forward: TrajectoryForward<T>, rows: [Int], mode: BPTTMode = .full,
    workspace: KernelWorkspace<T> = KernelWorkspace(), threads: Int = 1
  ) throws -> TrajectoryGradient<T> {
    try batch.check(against: shape)
    guard forward.parameters == parameters.values else {
      throw RBPError.invalid("the kept forward pass was run with other parameters")
    }
    guard forward.units == shape.units, forward.steps == batch.steps, rows.count == batch.count,
      rows.allSatisfy({ (0..<forward.count).contains($0) })
    else {
      throw RBPError.invalid(
        "the kept forward pass (\(forward.count) sequences of \(forward.steps) steps) does not "
          + "hold these \(rows.count) sequences of \(batch.steps) steps")
    }
    let window: Int?
    switch mode {
    case .full: window = nil
    case .truncated(let k):
      guard k >= 1 else { throw RBPError.invalid("truncation window must be at least 1, got \(k)") }
      window = k
    case .checkpointed:
      throw RBPError.invalid("a kept forward pass serves full and truncated BPTT, not the checkpointed mode")
    }
    let pass = StepContext(self, batch, workspace, nil, threads: threads)
    let result = pass.fullBPTT(window: window, keepingTrajectory: false, from: (forward, rows))
    guard result.loss.isFinite, result.gradient.values.allSatisfy({ $0.isFinite }) else {
      throw RBPError.nonFinite(solver: "backpropagation through time", pattern: 0, iterations: batch.steps)
    }
    return result
  }

  /// ∂J/∂θ for a batch of sequences by backpropagation through time.
  ///
  /// With an `objective`, J is its value, Σ_t of its terms, and g(t) =
  /// ∂R/∂x(t) over all units (the factor 1/P only when it is a mean); the
  /// adjoints s(t) are then ∂R/∂a(t).
  ///
  /// `threads` runs each matrix product on that many workers (C split
  /// into slices, so the result is the same bits for any count); the rest
  /// of a step stays on the caller's thread. It pays for wide networks
  /// (N in the hundreds), where one product is large.
  ///
  /// `keepingTrajectory: false` returns neither `states` nor `adjoints`
  /// (the gradient is the same bits): the pass then keeps its state, slope
  /// and adjoint blocks in the workspace, so that calls on batches of one
  /// shape allocate none of them after the first (the results are still
  /// new arrays), and the checkpointed mode holds one segment of adjoints
  /// at a time, O(√T) blocks in all instead of T.
  ///
  /// - Throws: `RBPError.nonFinite` when the trajectory or the loss blows
  ///   up; `RBPError.invalid` for a batch that does not fit the network.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func gradient(
    batch: TrajectoryBatch<T>, mode: BPTTMode = .full, workspace: KernelWorkspace<T> = KernelWorkspace(),
    objective: (any StateObjective<T>)? = nil, threads: Int = 1, keepingTrajectory: Bool = true
  ) throws -> TrajectoryGradient<T> {
    try batch.check(against: shape)
    let pass = StepContext(self, batch, workspace, objective, threads: threads)
    var result: TrajectoryGradient<T>
    switch mode {
    case .full:
      result = pass.fullBPTT(window: nil, keepingTrajectory: keepingTrajectory)
    case .truncated(let window):
      guard window >= 1 else { throw RBPError.invalid("truncation window must be at least 1, got \(window)") }
      result = pass.fullBPTT(window: window, keepingTrajectory: keepingTrajectory)
    case .checkpointed(let every):
      let c = every ?? Int(Double(batch.steps).squareRoot().rounded(.up))
      guard c >= 1 else { throw RBPError.invalid("checkpoint interval must be at least 1, got \(c)") }
      result = pass.checkpointedBPTT(every: c, keepingAdjoints: keepingTrajectory)
    }
    guard result.loss.isFinite, result.gradient.values.allSatisfy({ $0.isFinite }) else {
      throw RBPError.nonFinite(solver: "backpropagation through time", pattern: 0, iterations: batch.steps)
    }
    return result
  }
}

/// Adds `scale` · Σ_p e_p(0) (P×N) to the x0 block of `grad`.
func addInitialStateGradient<T: KernelScalar>(_ e0: Matrix<T>, scale: T, into grad: inout Parameters<T>) {
  let start = grad.layout.x0.lowerBound
  for p in 0..<e0.rows { for j in 0..<e0.cols { grad.values[start + j] += scale * e0[p, j] } }
}

/// Time-major P×N blocks in one buffer, slot i at `base + (i mod slots)·P·N`:
/// a whole trajectory (as many slots as steps), one segment of it, or two
/// blocks used in turn.
struct BlockRing<T> {
  let base: UnsafeMutablePointer<T>
  let slots: Int
  let block: Int

  @inline(__always)
  subscript(_ i: Int) -> UnsafeMutablePointer<T> { base + (i % slots) * block }
}

/// An array of `count` numbers whose every element the caller writes
/// before reading it (no zero-fill).
func uninitializedArray<T: KernelScalar>(_ count: Int) -> [T] {
  [T](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}

/// What one pass over a batch reads, prepared once: the sizes, the weights
/// (and both packings of them), bias and U, the time-major inputs (in the
/// workspace) and the objective.
struct StepOperands<T: KernelScalar> {
  let net: TrajectoryNetwork<T>
  let batch: TrajectoryBatch<T>
  let objective: ActiveObjective<T>
  let (count, steps, n, inputs): (Int, Int, Int, Int)
  let alpha: T
  let w: [T], b: [T], u: [T]
  /// W and Wᵀ packed for the products s·W and x·Wᵀ of every step, in the workspace.
  let packedW: UnsafePointer<T>, packedWT: UnsafePointer<T>
  /// Uᵀ packed for dense coupling's products u(t)·Uᵀ, in the workspace.
  let packedUT: UnsafePointer<T>?
  /// Where each step finds u(t), in the workspace.
  let inputLayout: InputLayout<T>

  init(
    _ net: TrajectoryNetwork<T>, _ batch: TrajectoryBatch<T>, _ workspace: KernelWorkspace<T>,
    _ objective: (any StateObjective<T>)?
  ) {
    self.net = net
    self.batch = batch
    self.objective = ActiveObjective(objective, default: LossObjective(net.loss, batch: batch))
    (count, steps, n, inputs) = (batch.count, batch.steps, net.shape.units, net.shape.inputs)
    alpha = T(net.leak)
    w = net.parameters.W.elements
    (packedW, packedWT) = w.withUnsafeBufferPointer { wp in
      (
        packedWeights(wp.baseAddress!, units: net.shape.units, transposed: false, workspace: workspace),
        packedWeights(wp.baseAddress!, units: net.shape.units, transposed: true, workspace: workspace)
      )
    }
    b = net.parameters.b
    u = net.parameters.U.elements
    let (units, inputWidth) = (net.shape.units, net.shape.inputs)
    packedUT =
      inputWidth > 0 && net.shape.coupling == .dense
      ? net.parameters.U.elements.withUnsafeBufferPointer { up in
        packedTransposedInputWeights(up.baseAddress!, units: units, inputs: inputWidth, workspace: workspace)
      } : nil
    if inputs == 0 {
      inputLayout = .none
    } else if net.shape.coupling == .dense {
      let all = workspace.scratch(ScratchSlot.inputs.rawValue, count: batch.inputs.count)
      batch.timeMajor(batch.inputs, width: inputs, into: all)
      inputLayout = .timeMajor(all)
    } else {
      inputLayout = .inPlace
    }
  }
}

/// Where a pass keeps the inputs u(t).
enum InputLayout<T> {
  /// No inputs.
  case none
  /// Dense coupling: all steps time-major, T×P×I (its products and ∂U take
  /// every sequence's u(t) as one block).
  case timeMajor(UnsafeMutablePointer<T>)
  /// Identity coupling: each step reads u(t) in place from the
  /// sequence-major batch (one row of I per sequence) in the pass that adds
  /// the drive and applies f (`activateDrive`), so that a sequence is
  /// never copied.
  case inPlace
}

/// Where a pass's blocks live: slots of the workspace, kept from call to
/// call, or arrays the caller keeps. `z` holds one step's pre-activations
/// and `fz` its f(z) (leaky units only).
struct StepStorage<T: KernelScalar> {
  let workspace: KernelWorkspace<T>
  /// P×N.
  let block: Int
  let z: UnsafeMutablePointer<T>, fz: UnsafeMutablePointer<T>

  init(_ workspace: KernelWorkspace<T>, block: Int) {
    self.workspace = workspace
    self.block = block
    z = workspace.scratch(ScratchSlot.preactivations.rawValue, count: 2 * block)
    fz = z + block
  }

  /// `slots` P×N blocks of the workspace's `slot`.
  func blocks(_ slot: ScratchSlot, _ slots: Int) -> BlockRing<T> {
    BlockRing(base: workspace.scratch(slot.rawValue, count: max(slots, 1) * block), slots: max(slots, 1), block: block)
  }

  /// `body` on `count` elements: a new array kept in `kept`, or a slot of
  /// the workspace.
  func withStorage<R>(
    _ kept: inout [T], keep: Bool, slot: ScratchSlot, count: Int,
    _ body: (UnsafeMutablePointer<T>) -> R
  ) -> R {
    guard keep else { return body(workspace.scratch(slot.rawValue, count: count)) }
    kept = uninitializedArray(count)
    return kept.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
  }
}

/// The arithmetic of one pass: a step forward, a step back, the error's
/// propagation and the gradient's accumulation, and the modes built on
/// them, over prepared operands and blocks from its storage; which blocks
/// are kept, and for how long, is up to each mode below.
///
/// Blocks besides the states, slopes and adjoints: `e` and `carried` the
/// error bracket of the current and next step back, `delta` one truncated
/// window's s (truncated mode only), all `ScratchSlot.brackets`.
final class StepContext<T: KernelScalar> {
  let operands: StepOperands<T>
  let storage: StepStorage<T>
  /// Worker threads inside each matrix product (1: the caller's thread).
  let threads: Int

  init(
    _ net: TrajectoryNetwork<T>, _ batch: TrajectoryBatch<T>, _ workspace: KernelWorkspace<T>,
    _ objective: (any StateObjective<T>)?, threads: Int = 1
  ) {
    operands = StepOperands(net, batch, workspace, objective)
    storage = StepStorage(workspace, block: batch.count * net.shape.units)
    self.threads = max(1, threads)
  }

  // The operands and storage under the names the formulas use.
  var net: TrajectoryNetwork<T> { operands.net }
  var batch: TrajectoryBatch<T> { operands.batch }
  var objective: ActiveObjective<T> { operands.objective }
  var count: Int { operands.count }
  var steps: Int { operands.steps }
  var n: Int { operands.n }
  var inputs: Int { operands.inputs }
  var alpha: T { operands.alpha }
  var w: [T] { operands.w }
  var b: [T] { operands.b }
  var u: [T] { operands.u }
  /// All steps' inputs time-major (dense coupling), or nil.
  var inputsTM: UnsafeMutablePointer<T>? {
    if case .timeMajor(let all) = operands.inputLayout { return all }
    return nil
  }
  var workspace: KernelWorkspace<T> { storage.workspace }
  var block: Int { storage.block }
  var z: UnsafeMutablePointer<T> { storage.z }
  var fz: UnsafeMutablePointer<T> { storage.fz }

  func blocks(_ slot: ScratchSlot, _ slots: Int) -> BlockRing<T> { storage.blocks(slot, slots) }

  func withStorage<R>(
    _ kept: inout [T], keep: Bool, slot: ScratchSlot, count: Int,
    _ body: (UnsafeMutablePointer<T>) -> R
  ) -> R {
    storage.withStorage(&kept, keep: keep, slot: slot, count: count, body)
  }

  /// x(0) for every sequence (the batch's initial states or the learned x0) into `x`.
  func initialStates(into x: UnsafeMutablePointer<T>) {
    if let initial = batch.initial {
      initial.elements.withUnsafeBufferPointer { x.update(from: $0.baseAddress!, count: block) }
      return
    }
    net.parameters.x0.withUnsafeBufferPointer { x0 in
      for p in 0..<count { (x + p * n).update(from: x0.baseAddress!, count: n) }
    }
  }

  /// One step: x(t) from x(t−1), and D(t) into `slopes` (P×N each).
  func step(_ t: Int, from prev: UnsafePointer<T>, to next: UnsafeMutablePointer<T>, slopes d: UnsafeMutablePointer<T>)
  {
    let z = self.z
    if case .inPlace = operands.inputLayout {
      // z = x(t−1)·Wᵀ, then x(t) = f(z + (b + u(t))) in one pass that adds
      // the drive, reading each u_p(t) where the batch holds it.
      gemm(
        transB: true, m: count, n: n, k: n, a: prev, lda: n, b: w, ldb: n, packedB: operands.packedWT,
        c: z, ldc: n, threads: threads, workspace: workspace)
      b.withUnsafeBufferPointer { bias in
        batch.inputs.withUnsafeBufferPointer { all in
          activateDrive(
            net.activation, z: z, bias: bias.baseAddress!, inputs: all.baseAddress! + (t - 1) * inputs,
            inputStride: steps * inputs, inputCount: inputs, x: alpha == 1 ? next : fz, slope: d,
            rows: count, count: n)
        }
      }
      if alpha != 1 { for i in 0..<block { next[i] = prev[i] + alpha * (fz[i] - prev[i]) } }
      return
    }
    // z = b + U u(t) + x(t−1)·Wᵀ
    b.withUnsafeBufferPointer { bias in
      for p in 0..<count { (z + p &* n).update(from: bias.baseAddress!, count: n) }
    }
    if let inputsTM {
      let ut = inputsTM + (t - 1) * count * inputs  // u(t), P×I
      gemm(
        transB: true, m: count, n: n, k: inputs, a: ut, lda: inputs, b: u, ldb: inputs,
        packedB: operands.packedUT, beta: 1, c: z, ldc: n, threads: threads, workspace: workspace)
    }
    gemm(
      transB: true, m: count, n: n, k: n, a: prev, lda: n, b: w, ldb: n, packedB: operands.packedWT, beta: 1,
      c: z, ldc: n, threads: threads, workspace: workspace)
    if alpha == 1 {
      activate(net.activation, z: z, x: next, slope: d, count: block)
    } else {
      activate(net.activation, z: z, x: fz, slope: d, count: block)
      for i in 0..<block { next[i] = prev[i] + alpha * (fz[i] - prev[i]) }
    }
  }

  /// Asks the cache for what step t reads from the batch's sequence-major
  /// arrays (its inputs in place, and the objective's targets): one row per
  /// sequence, `steps` rows apart. The forward loop asks two steps ahead:
  /// in `perf record` of W1 on one thread, the step's loop over its inputs
  /// (since folded into `activateDrive`) took 5.7 % of the time when asked
  /// one step ahead, 3.3–5.5 % two steps ahead.
  func prefetchStep(_ t: Int) {
    guard t <= steps else { return }
    if case .inPlace = operands.inputLayout {
      batch.inputs.withUnsafeBufferPointer { all in
        prefetchRows(all.baseAddress! + (t - 1) * inputs, rows: count, stride: steps * inputs, count: inputs)
      }
    }
    objective.prefetch(step: t)
  }

  /// The forward loop of every mode: steps first…last, from x(first−1) in
  /// `states[0]`, writing x(t) to `states[t − first + 1]` and D(t) to
  /// `slopes[t − first]`; with `gradients`, the objective's ∂/∂x(t) to
  /// `gradients[t − first]`. `visit` sees each x(t). Returns the sum of the
  /// objective's terms, added one step at a time to `runningSum`.
  func forward(
    _ first: Int, through last: Int, states: BlockRing<T>, slopes: BlockRing<T>, gradients: BlockRing<T>? = nil,
    runningSum: Double = 0, visit: (Int, UnsafeMutablePointer<T>) -> Void = { _, _ in }
  ) -> Double {
    guard first <= last else { return runningSum }
    var total = runningSum
    for t in first...last {
      let i = t - first
      let x = states[i + 1]
      prefetchStep(t + 2)
      step(t, from: states[i], to: x, slopes: slopes[i])
      let now = StateBlock(states: UnsafePointer(x), rows: count, units: n, step: t)
      if let gradients {
        total += objective.valueAndGradient(now, into: gradients[i])
      } else {
        total += objective.value(now)
      }
      visit(t, x)
    }
    return total
  }

  /// What `forward` leaves for the step back, taken from a kept pass: the
  /// states and slopes of the sequences `rows` of `kept`, in that order,
  /// and the objective's ∂/∂x(t) of them; returns the sum of the
  /// objective's terms, added one step at a time as `forward` adds them.
  func gather(
    _ kept: TrajectoryForward<T>, rows: [Int], states x: UnsafeMutablePointer<T>,
    slopes d: UnsafeMutablePointer<T>, gradients s: UnsafeMutablePointer<T>
  ) -> Double {
    let keptBlock = kept.count * n
    kept.states.withUnsafeBufferPointer { ks in
      kept.slopes.withUnsafeBufferPointer { kd in
        for t in 0...steps {
          for (q, r) in rows.enumerated() {
            (x + t * block + q * n).update(from: ks.baseAddress! + t * keptBlock + r * n, count: n)
            if t < steps { (d + t * block + q * n).update(from: kd.baseAddress! + t * keptBlock + r * n, count: n) }
          }
        }
      }
    }
    return objectiveTerms(states: x, gradients: s)
  }

  /// The objective's ∂/∂x(t) of the states x(1…T) into `s`, and the sum of
  /// its terms, added one step at a time as `forward` adds them.
  func objectiveTerms(states x: UnsafePointer<T>, gradients s: UnsafeMutablePointer<T>) -> Double {
    var total = 0.0
    for t in 1...steps {
      let now = StateBlock(states: x + t * block, rows: count, units: n, step: t)
      total += objective.valueAndGradient(now, into: s + (t - 1) * block)
    }
    return total
  }

  /// One step back. On entry `e` holds (1−α) e(t+1) + Wᵀ s(t+1) and `s`
  /// holds g(t) = ∂(term at t)/∂x(t); on return `s` holds s(t) = α D(t)
  /// e(t), with e(t) = g(t) + that bracket, and `e` the bracket for step
  /// t − 1 (`e` and `carried` are swapped).
  @inline(__always)
  func backStep(
    slopes d: UnsafePointer<T>, adjoint s: UnsafeMutablePointer<T>,
    e: inout UnsafeMutablePointer<T>, carried: inout UnsafeMutablePointer<T>
  ) {
    let e0 = e
    if alpha == 1 {
      adjointStep(slope: d, e0, plus: s, into: s, count: block)  // α = 1: the same bits
    } else {
      for i in 0..<block {
        let full = e0[i] + s[i]
        e0[i] = full
        s[i] = alpha * d[i] * full
      }
    }
    propagate(e: e, s: s, into: carried)
    swap(&e, &carried)
  }

  /// e(t−1)'s recurrent part: out = (1−α) e + s·W.
  func propagate(e: UnsafePointer<T>, s: UnsafePointer<T>, into out: UnsafeMutablePointer<T>) {
    gemm(
      m: count, n: n, k: n, a: s, lda: n, b: w, ldb: n, packedB: operands.packedW, c: out, ldc: n,
      threads: threads, workspace: workspace)
    if alpha != 1 { for i in 0..<block { out[i] += (1 - alpha) * e[i] } }
  }

  /// Adds Sᵀ·X, Σ rows of S and Sᵀ·Uin over `rows` rows (steps × P) into
  /// the W, b and U blocks of `grad`, scaled by 1/P (for a mean).
  func accumulate(s: UnsafePointer<T>, x: UnsafePointer<T>, firstStep: Int, rows: Int, into grad: inout Parameters<T>) {
    let scale = objective.patternScale(count)
    let layout = grad.layout
    grad.values.withUnsafeMutableBufferPointer { gp in
      let g = gp.baseAddress!
      gemm(
        transA: true, m: n, n: n, k: rows, alpha: scale, a: s, lda: n, b: x, ldb: n,
        beta: 1, c: g + layout.w.lowerBound, ldc: n, threads: threads, workspace: workspace)
      if let inputsTM {
        gemm(
          transA: true, m: n, n: inputs, k: rows, alpha: scale, a: s, lda: n,
          b: inputsTM + (firstStep - 1) * count * inputs, ldb: inputs,
          beta: 1, c: g + layout.u.lowerBound, ldc: inputs, threads: threads, workspace: workspace)
      }
      addScaledRows(s, rows: rows, columns: n, scale: scale, into: g + layout.b.lowerBound)
    }
  }

  /// Adds (1/P) Σ_p e_p(0) (for a mean) to the x0 block when x0 is learned.
  func accumulateInitial(_ e0: Matrix<T>, into grad: inout Parameters<T>) {
    guard batch.initial == nil else { return }
    addInitialStateGradient(e0, scale: objective.patternScale(count), into: &grad)
  }

  /// The step back through every step, full (window nil) or truncated to
  /// `window` steps, from the states x(0…T), slopes and g(t) (in `s`): s(t)
  /// is left in `s`, e(0) in `initial` and x(T) in `final`, and the
  /// products of s with the states and inputs are added into `grad`.
  func backThroughTime(
    window: Int?, states x: UnsafePointer<T>, slopes d: UnsafePointer<T>, adjoints s: UnsafeMutablePointer<T>,
    initial e0: UnsafeMutablePointer<T>, final: UnsafeMutablePointer<T>, into grad: inout Parameters<T>
  ) {
    let brackets = blocks(.brackets, 3)
    var (e, carried) = (brackets[0], brackets[1])
    if let window {
      // Each g(t) flows back through at most `window` steps; the
      // deltas it leaves at each step are summed into s. Slot t holds
      // g(t) until step t takes it: no earlier step adds to it.
      let delta = brackets[2]
      for t in 1...steps {
        let st = s + (t - 1) * block
        e.update(from: st, count: block)
        st.update(repeating: 0, count: block)
        var tau = t
        while tau >= 1 && tau > t - window {
          let sTau = s + (tau - 1) * block
          let dTau = d + (tau - 1) * block
          for i in 0..<block { delta[i] = alpha * dTau[i] * e[i] }
          propagate(e: e, s: delta, into: carried)  // e(τ−1) from this window
          for i in 0..<block { sTau[i] += delta[i] }
          swap(&e, &carried)
          tau -= 1
        }
        if tau == 0 { for i in 0..<block { e0[i] += e[i] } }
      }
    } else {
      e.update(repeating: 0, count: block)  // e(T+1) = 0, s(T+1) = 0
      for t in stride(from: steps, through: 1, by: -1) {
        backStep(slopes: d + (t - 1) * block, adjoint: s + (t - 1) * block, e: &e, carried: &carried)
      }
      e0.update(from: e, count: block)
    }
    accumulate(s: s, x: x, firstStep: 1, rows: steps * count, into: &grad)
    final.update(from: x + steps * block, count: block)
  }

  /// Full BPTT (window nil) or truncated BPTT (window k), all states kept
  /// (in new arrays returned with the result, or in the workspace). The
  /// adjoint blocks hold g(t) from the forward pass until the step back
  /// through t turns them into s(t).
  func fullBPTT(
    window: Int?, keepingTrajectory keep: Bool,
    from kept: (forward: TrajectoryForward<T>, rows: [Int])? = nil
  ) -> TrajectoryGradient<T> {
    var states: [T] = [], adjoints: [T] = []
    var total = 0.0
    var grad = Parameters<T>(layout: net.parameters.layout)
    var e0 = Matrix<T>(rows: count, cols: n)
    var final = Matrix<T>(rows: count, cols: n)
    let d = workspace.scratch(ScratchSlot.slopes.rawValue, count: steps * block)
    // A kept pass over exactly these sequences, in order, is read in place
    // (the same values a copy would hold) when no trajectory is returned.
    let inPlace = !keep && kept.map { $0.forward.count == count && isEveryIndexInOrder($0.rows, count: count) } ?? false
    withStorage(&states, keep: keep, slot: .states, count: (steps + 1) * block) { stored in
      withStorage(&adjoints, keep: keep, slot: .adjoints, count: steps * block) { s in
        e0.withMutablePointer { e0p in
          final.withMutablePointer { last in
            if let kept, inPlace {
              kept.forward.states.withUnsafeBufferPointer { ks in
                kept.forward.slopes.withUnsafeBufferPointer { kd in
                  total = objectiveTerms(states: ks.baseAddress!, gradients: s)
                  backThroughTime(
                    window: window, states: ks.baseAddress!, slopes: kd.baseAddress!, adjoints: s, initial: e0p,
                    final: last, into: &grad)
                }
              }
              return
            }
            if let kept {
              total = gather(kept.forward, rows: kept.rows, states: stored, slopes: d, gradients: s)
            } else {
              initialStates(into: stored)
              total = forward(
                1, through: steps, states: BlockRing(base: stored, slots: steps + 1, block: block),
                slopes: BlockRing(base: d, slots: steps, block: block),
                gradients: BlockRing(base: s, slots: steps, block: block))
            }
            backThroughTime(
              window: window, states: stored, slopes: d, adjoints: s, initial: e0p, final: last, into: &grad)
          }
        }
      }
    }
    accumulateInitial(e0, into: &grad)
    return TrajectoryGradient(
      loss: objective.scaled(total, count: count), gradient: grad, goal: objective.goal,
      states: keep ? states : nil, adjoints: adjoints,
      initialStateGradient: e0, finalStates: final, storedStates: 2 * steps + 1)
  }

  /// BPTT keeping x(0), x(c), x(2c), … and recomputing each segment of c
  /// steps (states, slopes and g) just before going back through it; the
  /// adjoints of all steps (T blocks, returned) or, without
  /// `keepingAdjoints`, of one segment at a time.
  func checkpointedBPTT(every c: Int, keepingAdjoints: Bool) -> TrajectoryGradient<T> {
    let segments = (steps + c - 1) / c
    let checkpoints = blocks(.states, segments + 1)
    let segment = blocks(.segment, c + 1), segmentSlopes = blocks(.slopes, c)
    // Forward: keep only the checkpoints (two segment blocks in turn).
    initialStates(into: checkpoints[0])
    segment[0].update(from: checkpoints[0], count: block)
    let total = forward(
      1, through: steps, states: BlockRing(base: segment.base, slots: 2, block: block),
      slopes: BlockRing(base: segmentSlopes.base, slots: 1, block: block)
    ) { t, x in
      if t % c == 0 || t == steps { checkpoints[(t + c - 1) / c].update(from: x, count: block) }
    }
    let final = Array(UnsafeBufferPointer(start: checkpoints[segments], count: block))
    var grad = Parameters<T>(layout: net.parameters.layout)
    var adjoints: [T] = []
    var e0 = Matrix<T>(rows: count, cols: n)
    let brackets = blocks(.brackets, 2)
    var (e, carried) = (brackets[0], brackets[1])
    e.update(repeating: 0, count: block)
    let kept = keepingAdjoints ? steps : c
    withStorage(&adjoints, keep: keepingAdjoints, slot: .adjoints, count: kept * block) { all in
      for k in stride(from: segments - 1, through: 0, by: -1) {
        let first = k * c + 1, last = min((k + 1) * c, steps)
        // s(first … last): in place among all the adjoints, or in the segment's.
        let s = keepingAdjoints ? all + (first - 1) * block : all
        // Recompute x(first−1 … last), D and g(first … last) from the checkpoint.
        segment[0].update(from: checkpoints[k], count: block)
        _ = forward(
          first, through: last, states: segment, slopes: segmentSlopes,
          gradients: BlockRing(base: s, slots: last - first + 1, block: block))
        for t in stride(from: last, through: first, by: -1) {
          backStep(slopes: segmentSlopes[t - first], adjoint: s + (t - first) * block, e: &e, carried: &carried)
        }
        accumulate(s: s, x: segment.base, firstStep: first, rows: (last - first + 1) * count, into: &grad)
      }
    }
    e0.withMutablePointer { $0.update(from: e, count: block) }
    accumulateInitial(e0, into: &grad)
    return TrajectoryGradient(
      loss: objective.scaled(total, count: count), gradient: grad, goal: objective.goal,
      states: nil, adjoints: adjoints,
      initialStateGradient: e0, finalStates: Matrix(rows: count, cols: n, elements: final),
      storedStates: segments + 1 + 2 * c + 1)
  }
}
