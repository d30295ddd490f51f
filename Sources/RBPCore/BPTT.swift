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
// Rows are sequences; blocks are time-major, so the weight gradient over all
// steps is one GEMM, Sᵀ·X with k = T·P.

import RBPKernels

/// How much of the trajectory BPTT keeps, and how far errors flow back.
public enum BPTTMode: Equatable, Sendable {
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
  /// x(0…T), (T+1)×P×N, kept by `full` and `truncated`; nil for `checkpointed`.
  public var states: [T]?
  /// s(1…T), T×P×N, for `full` and `checkpointed`; for `truncated`, the
  /// accumulated truncated deltas.
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

extension TrajectoryNetwork {
  /// Runs the batch forward; returns x(0…T) time-major ((T+1)×P×N) and J.
  @_specialize(exported: true, where T == Float)
  @_specialize(exported: true, where T == Double)
  public func run(
    _ batch: TrajectoryBatch<T>, workspace: GEMMWorkspace<T> = GEMMWorkspace(),
    objective: (any StateObjective<T>)? = nil
  ) throws -> (states: [T], loss: Double) {
    try batch.check(against: shape)
    let pass = StepContext(self, batch, workspace, objective)
    let block = batch.count * shape.units
    var states = [T](repeating: 0, count: (batch.steps + 1) * block)
    var slopes = [T](repeating: 0, count: block)
    states.replaceSubrange(0..<block, with: pass.initialStates())
    var total = 0.0
    for t in 1...batch.steps {
      states.withUnsafeMutableBufferPointer { sp in slopes.withUnsafeMutableBufferPointer { dp in
        pass.step(t, from: sp.baseAddress! + (t - 1) * block, to: sp.baseAddress! + t * block, slopes: dp.baseAddress!)
      }}
      total += states.withUnsafeBufferPointer { pass.loss(t, states: $0.baseAddress! + t * block) }
    }
    let loss = pass.objective.scaled(total, count: batch.count)
    guard loss.isFinite else { throw RBPError.nonFinite(solver: "forward pass", pattern: 0, iterations: batch.steps) }
    return (states, loss)
  }

  /// Runs the batch forward keeping two state blocks, not T + 1: returns J
  /// and the output units of every step, sequence-major (P×T×O), as
  /// `outputs` lays them out. Memory O(P·N + P·T·O), for evaluating long
  /// trajectories.
  @_specialize(exported: true, where T == Float)
  @_specialize(exported: true, where T == Double)
  public func evaluate(_ batch: TrajectoryBatch<T>, workspace: GEMMWorkspace<T> = GEMMWorkspace()) throws
    -> (loss: Double, outputs: [T])
  {
    try batch.check(against: shape)
    let pass = StepContext(self, batch, workspace, nil)
    let (p, steps, n, o, first) = (batch.count, batch.steps, shape.units, shape.outputs, shape.firstOutput)
    let block = p * n
    var previous = pass.initialStates(), current = [T](repeating: 0, count: block)
    var slopes = [T](repeating: 0, count: block)
    var out = [T](repeating: 0, count: p * steps * o)
    var total = 0.0
    for t in 1...steps {
      previous.withUnsafeMutableBufferPointer { xp in current.withUnsafeMutableBufferPointer { cp in
        slopes.withUnsafeMutableBufferPointer { dp in
          pass.step(t, from: xp.baseAddress!, to: cp.baseAddress!, slopes: dp.baseAddress!)
        }
      }}
      total += current.withUnsafeBufferPointer { pass.loss(t, states: $0.baseAddress!) }
      for q in 0..<p { for k in 0..<o { out[(q * steps + t - 1) * o + k] = current[q * n + first + k] } }
      swap(&previous, &current)
    }
    let loss = total / Double(p)
    guard loss.isFinite else { throw RBPError.nonFinite(solver: "forward pass", pattern: 0, iterations: steps) }
    return (loss, out)
  }

  /// ∂J/∂θ for a batch of sequences by backpropagation through time.
  ///
  /// With an `objective`, J is its value, Σ_t of its terms, and g(t) =
  /// ∂R/∂x(t) over all units (the factor 1/P only when it is a mean); the
  /// adjoints s(t) are then ∂R/∂a(t).
  ///
  /// - Throws: `RBPError.nonFinite` when the trajectory or the loss blows
  ///   up; `RBPError.invalid` for a batch that does not fit the network.
  @_specialize(exported: true, where T == Float)
  @_specialize(exported: true, where T == Double)
  public func gradient(
    batch: TrajectoryBatch<T>, mode: BPTTMode = .full, workspace: GEMMWorkspace<T> = GEMMWorkspace(),
    objective: (any StateObjective<T>)? = nil
  ) throws -> TrajectoryGradient<T> {
    try batch.check(against: shape)
    let pass = StepContext(self, batch, workspace, objective)
    var result: TrajectoryGradient<T>
    switch mode {
    case .full:
      result = pass.fullBPTT(window: nil)
    case .truncated(let window):
      guard window >= 1 else { throw RBPError.invalid("truncation window must be at least 1, got \(window)") }
      result = pass.fullBPTT(window: window)
    case .checkpointed(let every):
      let c = every ?? Int(Double(batch.steps).squareRoot().rounded(.up))
      guard c >= 1 else { throw RBPError.invalid("checkpoint interval must be at least 1, got \(c)") }
      result = pass.checkpointedBPTT(every: c)
    }
    guard result.loss.isFinite, result.gradient.values.allSatisfy({ $0.isFinite }) else {
      throw RBPError.nonFinite(solver: "backpropagation through time", pattern: 0, iterations: batch.steps)
    }
    return result
  }
}

/// Everything one pass over a batch needs, prepared once: transposed
/// weights, time-major inputs, the objective, and scratch buffers (owned,
/// freed with the pass).
final class StepContext<T: KernelScalar> {
  let net: TrajectoryNetwork<T>
  let batch: TrajectoryBatch<T>
  let workspace: GEMMWorkspace<T>
  let objective: ActiveObjective<T>
  let (count, steps, n, inputs, outputs): (Int, Int, Int, Int, Int)
  let alpha: T
  let w: [T], wt: [T], b: [T], u: [T]
  /// T×P×I (an owned copy, freed with the pass)
  let inputsTM: UnsafeMutableBufferPointer<T>
  /// Scratch: the pre-activation and f(z) of one step.
  let z: UnsafeMutablePointer<T>, fz: UnsafeMutablePointer<T>

  init(_ net: TrajectoryNetwork<T>, _ batch: TrajectoryBatch<T>, _ workspace: GEMMWorkspace<T>,
       _ objective: (any StateObjective<T>)?) {
    self.net = net
    self.batch = batch
    self.workspace = workspace
    self.objective = ActiveObjective(objective, default: LossObjective(net.loss, batch: batch))
    (count, steps, n, inputs, outputs) = (batch.count, batch.steps, net.shape.units, net.shape.inputs, net.shape.outputs)
    alpha = T(net.leak)
    w = net.parameters.W.elements
    wt = net.parameters.W.transposed.elements
    b = net.parameters.b
    u = net.parameters.U.elements
    func owned(_ a: [T]) -> UnsafeMutableBufferPointer<T> {
      let p = UnsafeMutableBufferPointer<T>.allocate(capacity: max(a.count, 1))
      _ = p.initialize(from: a)
      return p
    }
    inputsTM = owned(batch.timeMajor(batch.inputs, width: net.shape.inputs))
    let size = max(1, batch.count * net.shape.units)
    z = .allocate(capacity: size)
    fz = .allocate(capacity: size)
  }

  deinit {
    z.deallocate()
    fz.deallocate()
    inputsTM.deallocate()
  }

  var block: Int { count * n }

  /// x(0) for every sequence: the batch's initial states or the learned x0.
  func initialStates() -> [T] {
    if let initial = batch.initial { return initial.elements }
    let x0 = net.parameters.x0
    return (0..<count).flatMap { _ in x0 }
  }

  /// One step: x(t) from x(t−1), and D(t) into `slopes` (P×N each).
  func step(_ t: Int, from prev: UnsafePointer<T>, to next: UnsafeMutablePointer<T>, slopes d: UnsafeMutablePointer<T>) {
    // z = b + U u(t) + x(t−1)·Wᵀ
    for p in 0..<count { for j in 0..<n { z[p * n + j] = b[j] } }
    if inputs > 0 {
      let ut = UnsafePointer(inputsTM.baseAddress! + (t - 1) * count * inputs)
      switch net.shape.coupling {
      case .identity:
        for p in 0..<count { for k in 0..<inputs { z[p * n + k] += ut[p * inputs + k] } }
      case .dense:
        gemm(transB: true, m: count, n: n, k: inputs, a: ut, lda: inputs, b: u, ldb: inputs,
             beta: 1, c: z, ldc: n, workspace: workspace)
      }
    }
    gemm(m: count, n: n, k: n, a: prev, lda: n, b: wt, ldb: n, beta: 1, c: z, ldc: n, workspace: workspace)
    if alpha == 1 {
      activate(net.activation, z: z, x: next, slope: d, count: block)
    } else {
      activate(net.activation, z: z, x: fz, slope: d, count: block)
      for i in 0..<block { next[i] = prev[i] + alpha * (fz[i] - prev[i]) }
    }
  }

  /// The objective's term at step t, summed over the P×N states of step t
  /// (for the loss: Σ_p ℓ(x_p(t)[out], y_p(t), m_p(t))).
  func loss(_ t: Int, states x: UnsafePointer<T>) -> Double {
    objective.value(StateBlock(states: x, rows: count, units: n, step: t))
  }

  /// e += g(t) = ∂(term at t)/∂x(t) (for the loss: on the output units).
  func addLossGradient(_ t: Int, states x: UnsafePointer<T>, into e: UnsafeMutablePointer<T>) {
    objective.addGradient(StateBlock(states: x, rows: count, units: n, step: t), into: e)
  }

  /// e(t−1)'s recurrent part: out = (1−α) e + s·W.
  func propagate(e: UnsafePointer<T>, s: UnsafePointer<T>, into out: UnsafeMutablePointer<T>) {
    gemm(m: count, n: n, k: n, a: s, lda: n, b: w, ldb: n, c: out, ldc: n, workspace: workspace)
    if alpha != 1 { for i in 0..<block { out[i] += (1 - alpha) * e[i] } }
  }

  /// One step back: on entry `e` holds (1−α) e(t+1) + Wᵀ s(t+1); adds
  /// g(t), writes s(t) = α D(t) e(t) to `adjoint`, and leaves the same
  /// bracket for step t − 1 in `e` (the buffers are swapped).
  @inline(__always)
  func backStep(
    _ t: Int, state x: UnsafePointer<T>, slopes d: UnsafePointer<T>, adjoint s: UnsafeMutablePointer<T>,
    e: inout UnsafeMutablePointer<T>, scratch: inout UnsafeMutablePointer<T>
  ) {
    addLossGradient(t, states: x, into: e)
    for i in 0..<block { s[i] = alpha * d[i] * e[i] }
    propagate(e: e, s: s, into: scratch)
    swap(&e, &scratch)
  }

  /// Adds Sᵀ·X, Σ rows of S and Sᵀ·Uin over `rows` rows (steps × P) into
  /// the W, b and U blocks of `grad`, scaled by 1/P (for a mean).
  func accumulate(s: UnsafePointer<T>, x: UnsafePointer<T>, firstStep: Int, rows: Int, into grad: inout Parameters<T>) {
    let scale = objective.patternScale(count)
    let layout = grad.layout
    grad.values.withUnsafeMutableBufferPointer { gp in
      let g = gp.baseAddress!
      gemm(transA: true, m: n, n: n, k: rows, alpha: scale, a: s, lda: n, b: x, ldb: n,
           beta: 1, c: g + layout.w.lowerBound, ldc: n, workspace: workspace)
      if net.shape.coupling == .dense && inputs > 0 {
        gemm(transA: true, m: n, n: inputs, k: rows, alpha: scale, a: s, lda: n,
             b: inputsTM.baseAddress! + (firstStep - 1) * count * inputs, ldb: inputs,
             beta: 1, c: g + layout.u.lowerBound, ldc: inputs, workspace: workspace)
      }
      let gb = g + layout.b.lowerBound
      for r in 0..<rows {
        let row = s + r &* n     // no overflow checks inside: the loop vectorises
        for j in 0..<n { gb[j] += scale * row[j] }
      }
    }
  }

  /// Adds (1/P) Σ_p e_p(0) (for a mean) to the x0 block when x0 is learned.
  func accumulateInitial(_ e0: Matrix<T>, into grad: inout Parameters<T>) {
    guard batch.initial == nil else { return }
    let scale = objective.patternScale(count)
    let start = grad.layout.x0.lowerBound
    for p in 0..<count { for j in 0..<n { grad.values[start + j] += scale * e0[p, j] } }
  }

  /// Full BPTT (window nil) or truncated BPTT (window k), all states kept.
  func fullBPTT(window: Int?) -> TrajectoryGradient<T> {
    var states = [T](repeating: 0, count: (steps + 1) * block)
    var slopes = [T](repeating: 0, count: steps * block)
    states.replaceSubrange(0..<block, with: initialStates())
    var total = 0.0
    states.withUnsafeMutableBufferPointer { sp in slopes.withUnsafeMutableBufferPointer { dp in
      for t in 1...steps {
        step(t, from: sp.baseAddress! + (t - 1) * block, to: sp.baseAddress! + t * block,
             slopes: dp.baseAddress! + (t - 1) * block)
        total += loss(t, states: sp.baseAddress! + t * block)
      }
    }}
    var grad = Parameters<T>(layout: net.parameters.layout)
    var adjoints = [T](repeating: 0, count: steps * block)
    var e0 = Matrix<T>(rows: count, cols: n)
    var e = [T](repeating: 0, count: block), next = e
    states.withUnsafeBufferPointer { sp in slopes.withUnsafeBufferPointer { dp in
      adjoints.withUnsafeMutableBufferPointer { ap in e0.withMutablePointer { e0p in
        let (x, d, s) = (sp.baseAddress!, dp.baseAddress!, ap.baseAddress!)
        e.withUnsafeMutableBufferPointer { ep in next.withUnsafeMutableBufferPointer { np in
          var (cur, nxt) = (ep.baseAddress!, np.baseAddress!)
          if let window {
            // Each g(t) flows back through at most `window` steps; the
            // deltas it leaves at each step are summed into s.
            for t in 1...steps {
              cur.update(repeating: 0, count: block)
              addLossGradient(t, states: x + t * block, into: cur)
              var tau = t
              while tau >= 1 && tau > t - window {
                let sTau = s + (tau - 1) * block
                let dTau = d + (tau - 1) * block
                for i in 0..<block { nxt[i] = alpha * dTau[i] * cur[i] }
                propagate(e: cur, s: nxt, into: z)         // e(τ−1) from this window
                for i in 0..<block { sTau[i] += nxt[i] }
                cur.update(from: z, count: block)
                tau -= 1
              }
              if tau == 0 { for i in 0..<block { e0p[i] += cur[i] } }
            }
          } else {
            cur.update(repeating: 0, count: block)        // e(T+1) = 0, s(T+1) = 0
            for t in stride(from: steps, through: 1, by: -1) {
              backStep(t, state: x + t * block, slopes: d + (t - 1) * block, adjoint: s + (t - 1) * block,
                       e: &cur, scratch: &nxt)
            }
            e0p.update(from: cur, count: block)
          }
        }}
        accumulate(s: s, x: x, firstStep: 1, rows: steps * count, into: &grad)
      }}
    }}
    accumulateInitial(e0, into: &grad)
    let final = Matrix(rows: count, cols: n, elements: Array(states[steps * block ..< (steps + 1) * block]))
    return TrajectoryGradient(loss: objective.scaled(total, count: count), gradient: grad, goal: objective.goal,
                              states: states, adjoints: adjoints,
                              initialStateGradient: e0, finalStates: final, storedStates: 2 * steps + 1)
  }

  /// BPTT keeping x(0), x(c), x(2c), … and recomputing each segment of c
  /// steps (states and slopes) just before going back through it.
  func checkpointedBPTT(every c: Int) -> TrajectoryGradient<T> {
    let segments = (steps + c - 1) / c
    var checkpoints = [T](repeating: 0, count: (segments + 1) * block)
    checkpoints.replaceSubrange(0..<block, with: initialStates())
    var segmentStates = [T](repeating: 0, count: (c + 1) * block)
    var segmentSlopes = [T](repeating: 0, count: c * block)
    var total = 0.0
    // Forward: keep only the checkpoints (and the last state).
    var final = [T](repeating: 0, count: block)
    segmentStates.withUnsafeMutableBufferPointer { xp in segmentSlopes.withUnsafeMutableBufferPointer { dp in
      checkpoints.withUnsafeMutableBufferPointer { cp in
        let (x, d) = (xp.baseAddress!, dp.baseAddress!)
        x.update(from: cp.baseAddress!, count: block)
        for t in 1...steps {
          let slot = (t - 1) % c
          step(t, from: x + slot * block, to: x + (slot + 1) * block, slopes: d)
          total += loss(t, states: x + (slot + 1) * block)
          if t % c == 0 || t == steps {
            let k = (t + c - 1) / c
            (cp.baseAddress! + k * block).update(from: x + (slot + 1) * block, count: block)
            x.update(from: x + (slot + 1) * block, count: block)
          }
        }
        final = Array(UnsafeBufferPointer(start: cp.baseAddress! + segments * block, count: block))
      }
    }}
    var grad = Parameters<T>(layout: net.parameters.layout)
    var adjoints = [T](repeating: 0, count: steps * block)
    var e0 = Matrix<T>(rows: count, cols: n)
    var e = [T](repeating: 0, count: block), next = e
    segmentStates.withUnsafeMutableBufferPointer { xp in segmentSlopes.withUnsafeMutableBufferPointer { dp in
      checkpoints.withUnsafeBufferPointer { cp in adjoints.withUnsafeMutableBufferPointer { ap in
        e.withUnsafeMutableBufferPointer { ep in next.withUnsafeMutableBufferPointer { np in
          let (x, d, s) = (xp.baseAddress!, dp.baseAddress!, ap.baseAddress!)
          var (cur, nxt) = (ep.baseAddress!, np.baseAddress!)
          cur.update(repeating: 0, count: block)
          for k in stride(from: segments - 1, through: 0, by: -1) {
            let first = k * c + 1, last = min((k + 1) * c, steps)
            // Recompute x(first−1 … last) and D(first … last) from the checkpoint.
            x.update(from: cp.baseAddress! + k * block, count: block)
            for t in first...last {
              let i = t - first
              step(t, from: x + i * block, to: x + (i + 1) * block, slopes: d + i * block)
            }
            for t in stride(from: last, through: first, by: -1) {
              let i = t - first
              backStep(t, state: x + (i + 1) * block, slopes: d + i * block, adjoint: s + (t - 1) * block,
                       e: &cur, scratch: &nxt)
            }
            accumulate(s: s + (first - 1) * block, x: x, firstStep: first, rows: (last - first + 1) * count, into: &grad)
          }
          e0.withMutablePointer { $0.update(from: cur, count: block) }
        }}
      }}
    }}
    accumulateInitial(e0, into: &grad)
    return TrajectoryGradient(loss: objective.scaled(total, count: count), gradient: grad, goal: objective.goal,
                              states: nil, adjoints: adjoints,
                              initialStateGradient: e0, finalStates: Matrix(rows: count, cols: n, elements: final),
                              storedStates: segments + 1 + 2 * c + 1)
  }
}

