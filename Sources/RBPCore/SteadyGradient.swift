// Recurrent backpropagation end to end for one batch: fixed points, slopes,
// loss gradient, adjoint, and the parameter gradient by the sensitivity
// lemma, averaged over the P patterns:
//
//   ∂J/∂W = (1/P) Sᵀ X      ∂J/∂b = (1/P) Σ_p s_p      ∂J/∂U = (1/P) Sᵀ Uin
//
// (one GEMM each, with S and X holding one pattern per row). Nothing is
// computed from a state or adjoint that did not converge: the first failure
// is thrown with its pattern, iterations and residual.

import RBPKernels

/// Solver choices for steady states, and the optional stabiliser of
/// training.
public struct SteadySolverSettings: Equatable, Sendable {
  /// How fixed points are found.
  public var forward: ForwardMethod
  /// How the adjoint systems are solved.
  public var adjoint: AdjointMethod
  /// Forward tolerance; nil: `SolverOptions.defaultTolerance` for the
  /// precision and the number of units.
  public var tolerance: Double?
  /// Adjoint tolerance; nil: the same default.
  public var adjointTolerance: Double?
  /// The forward solvers' iteration limit, per stage.
  public var maxIterations: Int
  /// The adjoint solvers' iteration limit, per stage.
  public var adjointMaxIterations: Int
  /// Added to the objective of a gradient while the network nears
  /// instability; nil: none.
  public var stabilizer: Stabilizer?

  /// The defaults: `auto` solvers at the default tolerances.
  public init(
    forward: ForwardMethod = .auto, adjoint: AdjointMethod = .auto, tolerance: Double? = nil,
    adjointTolerance: Double? = nil, maxIterations: Int = SolverOptions.defaultMaxIterations,
    adjointMaxIterations: Int? = nil, stabilizer: Stabilizer? = nil
  ) {
    self.forward = forward
    self.adjoint = adjoint
    self.tolerance = tolerance
    self.adjointTolerance = adjointTolerance
    self.maxIterations = maxIterations
    self.adjointMaxIterations = adjointMaxIterations ?? maxIterations
    self.stabilizer = stabilizer
  }

  /// Explicit tolerances and limits for both solves.
  public init(
    forward: ForwardMethod = .auto, forwardOptions: SolverOptions, adjoint: AdjointMethod = .auto,
    adjointOptions: SolverOptions
  ) {
    self.init(
      forward: forward, adjoint: adjoint, tolerance: forwardOptions.tolerance,
      adjointTolerance: adjointOptions.tolerance, maxIterations: forwardOptions.maxIterations,
      adjointMaxIterations: adjointOptions.maxIterations)
  }

  /// The forward solve's tolerance and limit in precision T for N units.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func forwardOptions<T: BinaryFloatingPoint>(for _: T.Type, units: Int) -> SolverOptions {
    SolverOptions(
      tolerance: tolerance ?? SolverOptions.defaultTolerance(for: T.self, units: units),
      maxIterations: maxIterations)
  }

  /// The adjoint solve's tolerance and limit in precision T for N units.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func adjointOptions<T: BinaryFloatingPoint>(for _: T.Type, units: Int) -> SolverOptions {
    SolverOptions(
      tolerance: adjointTolerance ?? SolverOptions.defaultTolerance(for: T.self, units: units),
      maxIterations: adjointMaxIterations)
  }

  /// The stabiliser's (weight, threshold) when it is on with a positive
  /// weight, else nil.
  public var jacobianPenalty: (weight: Double, threshold: Double)? {
    guard case let .jacobian(weight, threshold) = stabilizer, weight > 0 else { return nil }
    return (weight, threshold)
  }

  /// Throws naming the first setting out of range.
  public func validate() throws {
    try forward.validate()
    try adjoint.validate()
    for (name, value) in [("tolerance", tolerance), ("adjoint tolerance", adjointTolerance)] {
      if let value, !(value > 0 && value.isFinite) { throw RBPError.invalid("\(name) must be positive, got \(value)") }
    }
    guard maxIterations >= 1 && adjointMaxIterations >= 1 else {
      throw RBPError.invalid(
        "the iteration limits must be at least 1, got \(maxIterations) and \(adjointMaxIterations)")
    }
    try stabilizer?.validate()
  }
}

/// A term added to the training objective that keeps steady states stable.
public enum Stabilizer: Equatable, Sendable {
  /// Jacobian regularisation (Bai et al. 2021) on the patterns whose
  /// estimated ρ(D_p W) is at least `threshold`:
  ///
  /// ```
  /// J += (λ/2P) Σ_{p: ρ_p ≥ threshold} ‖D_p W‖_F²,   ‖D_p W‖_F² = Σ_i d_pi² ‖W_i,:‖²
  /// ```
  ///
  /// exact at O(N²) for this network (no Hutchinson estimate), and
  /// differentiated exactly, through D's dependence on the fixed point, for
  /// the patterns it applies to. ‖D W‖_F ≥ ρ(D W) ≥ α(D W), a smooth bound
  /// on the rightmost real part that decides stability (SPEC §1.1), so
  /// pressing on it pulls the spectrum back from the edge; patterns far
  /// from it pay nothing, so associative memories keep ‖W‖₂ > 1 where they
  /// need it. Training also presses, with D held at the last iterate, on
  /// the patterns that did not settle, and adapts λ from epoch to epoch
  /// (see the trainer).
  case jacobian(weight: Double, threshold: Double)

  /// The default for steady models: λ = 0.1 from ρ ≥ 0.9.
  public static let standard = Stabilizer.jacobian(weight: 0.1, threshold: 0.9)

  /// Throws naming a weight or threshold out of range.
  public func validate() throws {
    switch self {
    case let .jacobian(weight, threshold):
      guard weight >= 0 && weight.isFinite else {
        throw RBPError.invalid("stability weight must be >= 0, got \(weight)")
      }
      guard threshold >= 0 && threshold.isFinite else {
        throw RBPError.invalid("stability threshold must be >= 0, got \(threshold)")
      }
    }
  }
}

/// Everything one gradient evaluation produces.
public struct SteadyGradient<T: KernelScalar>: Sendable {
  /// J = (1/P) Σ_p L_p, or the objective's value (without the stabiliser's
  /// term).
  public var loss: Double
  /// The stabiliser's term (0 without one), ≥ 0; `gradient` is that of
  /// loss + penalty for a loss, of reward − penalty for a reward.
  public var penalty: Double
  /// ∂J/∂θ in the parameter layout (∂R/∂θ for a reward).
  public var gradient: Parameters<T>
  /// Which way the objective is to move.
  public var goal: ObjectiveGoal = .minimize
  /// Fixed points, P×N.
  public var states: Matrix<T>
  /// Adjoints s_p = ∂L_p/∂a_p (∂R_p/∂a_p for an objective), P×N, unscaled.
  public var adjoints: Matrix<T>
  /// Per pattern: how its fixed point was found.
  public var forward: SolveDiagnostics
  /// Per pattern: how its adjoint was solved.
  public var adjoint: SolveDiagnostics
  /// Per pattern: whether its state and adjoint were found (SPEC §1.1).
  /// The objective and the gradient are the mean over the settled ones.
  public var settled: [Bool] = []

  /// Patterns left out of the objective and the gradient.
  public var unsettledCount: Int { settled.lazy.filter { !$0 }.count }

  /// The gradient an optimizer steps along (negated for a reward).
  public var descentGradient: Parameters<T> { gradient.descending(goal) }
}

extension SteadyNetwork {
  /// Slopes D = f'(X Wᵀ + A), P×N, at the given states.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func slopes(states x: Matrix<T>, drives a: Matrix<T>, workspace: KernelWorkspace<T>) -> Matrix<T> {
    let (count, n) = (x.rows, shape.units)
    var z = a
    let wt = parameters.W.transposed
    x.withPointer { xp in
      wt.withPointer { wp in
        z.withMutablePointer { zp in
          gemm(
            m: count, n: n, k: n, a: xp, lda: n, b: wp, ldb: n, beta: 1, c: zp, ldc: n, threads: threads,
            workspace: workspace)
        }
      }
    }
    var values = z, d = z
    z.withPointer { zp in
      values.withMutablePointer { vp in
        d.withMutablePointer { dp in
          activate(activation, z: zp, x: vp, slope: dp, count: count * n)
        }
      }
    }
    return d
  }

  /// The steady states of these inputs (P×I): each pattern relaxed from
  /// its row of `initial` (P×N), or from zero, to the attractor it reaches
  /// (SPEC §1.1). Throws for the first pattern that does not settle; use
  /// `evaluate(batch:settings:allowingUnsettled:)` to keep the others.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func states(
    _ inputs: Matrix<T>, initial: Matrix<T>? = nil, settings: SteadySolverSettings = SteadySolverSettings(),
    workspace: KernelWorkspace<T> = KernelWorkspace()
  ) throws -> Matrix<T> {
    try evaluate(
      batch: SteadyBatch(inputs: inputs, initial: initial), settings: settings, workspace: workspace,
      objective: NoObjective()
    ).states
  }

  /// The objective of a batch at its fixed points (no adjoint), each
  /// pattern relaxed from `start`, or from the batch's initial states, or
  /// zero: J = (1/P) Σ_p L_p of the network's loss, or `objective`'s value.
  /// With `allowingUnsettled`, patterns whose state is not found are left
  /// out (J is the mean over the others, NaN when none settled; their rows
  /// of `states` are NaN) and reported in the diagnostics instead of thrown.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func evaluate(
    batch: SteadyBatch<T>, settings: SteadySolverSettings, start: Matrix<T>? = nil,
    workspace: KernelWorkspace<T> = KernelWorkspace(), objective: (any StateObjective<T>)? = nil,
    allowingUnsettled: Bool = false
  ) throws -> (loss: Double, states: Matrix<T>, diagnostics: SolveDiagnostics) {
    try batch.check(against: shape, needsTargets: objective == nil)
    try settings.validate()
    let a = drives(batch.inputs, workspace: workspace)
    let x0 = try startStates(start ?? batch.initial, count: batch.count)
    let (x, _, diagnostics) = try steadyStatesAndSlopes(
      drives: a, from: x0, method: settings.forward,
      options: settings.forwardOptions(for: T.self, units: shape.units),
      allowingUnsettled: allowingUnsettled, workspace: workspace)
    var active = ActiveObjective(objective, default: LossObjective(loss, batch: batch))
    let keep = diagnostics.settledRows
    if keep.count == batch.count {
      let value = x.withPointer { active.value(StateBlock(states: $0, rows: batch.count, units: shape.units, step: 0)) }
      return (active.scaled(value, count: batch.count), x, diagnostics)
    }
    guard !keep.isEmpty, let restricted = active.restricted(to: keep) else {
      if keep.isEmpty { return (.nan, x, diagnostics) }
      try diagnostics.check(
        solver: settings.forward.name, tolerance: settings.forwardOptions(for: T.self, units: shape.units).tolerance)
      return (.nan, x, diagnostics)
    }
    active = restricted
    let settled = x.rows(keep)
    let value = settled.withPointer {
      active.value(StateBlock(states: $0, rows: keep.count, units: shape.units, step: 0))
    }
    return (active.scaled(value, count: keep.count), x, diagnostics)
  }

  /// ∂J/∂θ for a batch by recurrent backpropagation.
  ///
  /// ```
  /// x_p = f(W x_p + a_p)            forward (settings.forward)
  /// (I − D Wᵀ) s_p = D g_p          adjoint (settings.adjoint)
  /// ∂J/∂W = (1/P) Σ_p s_p x_pᵀ,  ∂J/∂b = (1/P) Σ_p s_p,  ∂J/∂U = (1/P) Σ_p s_p u_pᵀ
  /// ```
  ///
  /// With an `objective`, J is its value and g_p = ∂R/∂x_p over all units
  /// (the factor 1/P only when it is a mean); `adjoints` are then ∂R_p/∂a_p.
  ///
  /// - Parameters:
  ///   - batch: the patterns: inputs, and targets for the loss.
  ///   - settings: the solvers, their tolerances and the stabiliser.
  ///   - start: P×N states to start the forward solve from (a warm start),
  ///     or nil for the batch's initial states (zeros when it has none).
  ///   - workspace: packing buffers and the kernels (reuse one across calls).
  ///   - objective: nil for the network's loss on its output units.
  ///   - allowingUnsettled: leave the patterns whose state or adjoint is
  ///     not found out of the objective and the gradient (the mean is then
  ///     over the settled ones, SPEC §1.1) and report them in `settled`,
  ///     instead of throwing. Their rows of `states` and `adjoints` are NaN.
  /// - Throws: `RBPError` for a solve that does not converge or blows up
  ///   (unless `allowingUnsettled`).
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func gradient(
    batch: SteadyBatch<T>, settings: SteadySolverSettings, start: Matrix<T>? = nil,
    workspace: KernelWorkspace<T> = KernelWorkspace(), objective: (any StateObjective<T>)? = nil,
    allowingUnsettled: Bool = false
  ) throws -> SteadyGradient<T> {
    try batch.check(against: shape, needsTargets: objective == nil)
    try settings.validate()
    let (count, n) = (batch.count, shape.units)
    let a = drives(batch.inputs, workspace: workspace)
    let x0 = try startStates(start ?? batch.initial, count: count)
    let stabilizer = settings.jacobianPenalty
    // ‖W‖₂ once: for the stability bound, and to tell whether the auto
    // solvers may pass in blocks (a contraction).
    let norm = spectralNorm()
    // With the stabiliser on, ρ is estimated wherever a bound cannot put it
    // below the threshold, so that the penalty acts on estimates.
    var (x, d, forward) = try steadyStatesAndSlopes(
      drives: a, from: x0, method: settings.forward,
      options: settings.forwardOptions(for: T.self, units: n),
      certifyBelow: stabilizer?.threshold ?? 1, norm: norm,
      allowingUnsettled: allowingUnsettled, workspace: workspace)
    let active = ActiveObjective(objective, default: LossObjective(loss, batch: batch))
    var keep = forward.settledRows
    // The adjoint's failures by pattern (a pattern whose forward solve
    // failed has no adjoint: `.notConverged` there).
    var adjointFailures = SolveDiagnostics(count: count)
    for p in keep { adjointFailures.status[p] = .converged }
    var out = SteadyGradient<T>(
      loss: .nan, penalty: 0, gradient: Parameters<T>(layout: parameters.layout),
      goal: active.goal, states: x, adjoints: Matrix(rows: count, cols: n),
      forward: forward, adjoint: adjointFailures)
    // The objective, adjoint and gradient of the patterns in `keep`; a
    // pattern whose adjoint then fails leaves `keep`, and the rest go again.
    while !keep.isEmpty {
      let all = keep.count == count
      guard let objective = all ? active : active.restricted(to: keep) else {
        try forward.check(
          solver: settings.forward.name, tolerance: settings.forwardOptions(for: T.self, units: n).tolerance)
        preconditionFailure("an unsettled pattern without a forward failure")
      }
      var picked = SolveDiagnostics(count: keep.count)
      if !all { SolveDiagnostics.pick(forward, rows: keep, into: &picked) }
      var r = try gradient(
        states: all ? x : x.rows(keep), slopes: all ? d : d.rows(keep), forward: all ? forward : picked,
        batch: all ? batch : batch.subset(keep), objective: objective, norm: norm, settings: settings,
        allowingUnsettled: allowingUnsettled, workspace: workspace)
      let failed = r.adjoint.status.indices.filter { r.adjoint.status[$0] != .converged }
      if failed.isEmpty && all {
        r.settled = [Bool](repeating: true, count: count)
        return r
      }
      if !failed.isEmpty {
        var one = SolveDiagnostics(count: failed.count)
        SolveDiagnostics.pick(r.adjoint, rows: failed, into: &one)
        one.merge(into: &adjointFailures, rows: failed.map { keep[$0] }, stage: 0)
        keep = keep.enumerated().filter { !failed.contains($0.offset) }.map(\.element)
        continue
      }
      out.loss = r.loss
      out.penalty = r.penalty
      out.gradient = r.gradient
      out.adjoint = adjointFailures
      r.adjoint.merge(into: &out.adjoint, rows: keep, stage: 0)
      out.adjoints.withMutablePointer { sp in
        r.adjoints.withPointer { rp in
          for (i, p) in keep.enumerated() { (sp + p * n).update(from: rp + i * n, count: n) }
        }
      }
      break
    }
    out.adjoints.withMutablePointer { sp in
      for p in 0..<count where !keep.contains(p) { (sp + p * n).update(repeating: .nan, count: n) }
    }
    if keep.isEmpty { out.adjoint = adjointFailures }
    // The stabiliser presses on the unsettled patterns too, at their last
    // iterate with D held fixed (their state, and so D's dependence on
    // W, is not known): (λ/2)‖D_p W‖_F², whose gradient (λ/P) d_pi² W_ij
    // pulls the network back towards patterns that settle.
    let unsettledRows = (0..<count).filter { forward.status[$0] != .converged }
    if let stabilizer, !keep.isEmpty, !unsettledRows.isEmpty {
      let scale = active.patternScale(keep.count)
      let sign: Double = active.goal == .minimize ? 1 : -1
      let w = parameters.values, wBase = parameters.layout.w.lowerBound
      var extra = 0.0
      var term = Parameters<T>(layout: parameters.layout)
      for i in 0..<n {
        var sum = 0.0
        for p in unsettledRows {
          let dp = Double(d[p, i])
          sum += dp * dp
        }
        guard sum > 0 else { continue }
        var rowNorm = 0.0
        for j in 0..<n {
          let v = Double(w[wBase + i * n + j])
          rowNorm += v * v
        }
        extra += 0.5 * stabilizer.weight * sum * rowNorm
        let factor = T(sign * stabilizer.weight * sum) * scale
        for j in 0..<n { term.values[wBase + i * n + j] = factor * w[wBase + i * n + j] }
      }
      if symmetric { term.symmetrizeWeights() }
      for j in term.values.indices { out.gradient.values[j] += term.values[j] }
      out.penalty += active.scaled(extra, count: keep.count)
    }
    // A pattern whose adjoint failed is unsettled too: its state is not
    // presented either.
    for p in 0..<count where adjointFailures.status[p] != .converged && forward.status[p] == .converged {
      x.withMutablePointer { ($0 + p * n).update(repeating: .nan, count: n) }
      d.withMutablePointer { ($0 + p * n).update(repeating: 0, count: n) }
    }
    out.states = x
    out.settled = (0..<count).map { keep.contains($0) }
    return out
  }

  /// The part of `gradient` after the forward solve, on settled patterns:
  /// the objective, the stabiliser, the adjoint and the sensitivity lemma.
  /// The adjoint's failures are thrown, or returned in its diagnostics
  /// when `allowingUnsettled`.
  func gradient(
    states x: Matrix<T>, slopes d: Matrix<T>, forward: SolveDiagnostics, batch: SteadyBatch<T>,
    objective active: ActiveObjective<T>, norm: Double, settings: SteadySolverSettings, allowingUnsettled: Bool,
    workspace: KernelWorkspace<T>
  ) throws -> SteadyGradient<T> {
    let (count, n, i) = (batch.count, shape.units, shape.inputs)
    let stabilizer = settings.jacobianPenalty
    var g = Matrix<T>(rows: count, cols: n)
    let value = x.withPointer { xp in
      g.withMutablePointer { gp in
        let block = StateBlock(states: xp, rows: count, units: n, step: 0)
        active.addGradient(block, into: gp)
        return active.value(block)
      }
    }
    let scale = active.patternScale(count)
    // The stabiliser's penalty counts against the objective: added to a
    // loss, subtracted from a reward, and per pattern as the objective is.
    // It applies where ρ(D W), the upper bound on α(D W) that also decides
    // whether plain relaxation converges, has reached the threshold.
    let sign: Double = active.goal == .minimize ? 1 : -1
    var stabilized: [Int] = []
    var penalty = 0.0
    if let stabilizer {
      stabilized = (0..<count).filter { !(forward.spectralRadius[$0] < stabilizer.threshold) }
      penalty = active.scaled(
        sign
          * addJacobianPenalty(
            weight: sign * stabilizer.weight, patterns: stabilized,
            states: x, slopes: d, into: &g), count: count)
    }
    let options = settings.adjointOptions(for: T.self, units: n)
    let damping = forward.damping.contains { $0 < 1 } ? forward.damping : nil
    let (s, adjoint): (Matrix<T>, SolveDiagnostics)
    if allowingUnsettled {
      try settings.adjoint.validate()
      (s, adjoint) = self.adjoint(
        slopes: d, lossGradient: g, method: settings.adjoint, options: options, norm: norm,
        damping: damping, workspace: workspace)
      if !adjoint.allConverged {
        return SteadyGradient(
          loss: .nan, penalty: 0, gradient: Parameters<T>(layout: parameters.layout),
          goal: active.goal, states: x, adjoints: s, forward: forward, adjoint: adjoint)
      }
    } else {
      (s, adjoint) = try adjointStates(
        slopes: d, lossGradient: g, method: settings.adjoint, options: options,
        norm: norm, damping: damping, workspace: workspace)
    }

    var grad = Parameters<T>(layout: parameters.layout)
    let layout = parameters.layout
    s.withPointer { sp in
      x.withPointer { xp in
        batch.inputs.withPointer { up in
          grad.values.withUnsafeMutableBufferPointer { gp in
            let base = gp.baseAddress!
            // ∂J/∂W = (1/P) Sᵀ X
            gemm(
              transA: true, m: n, n: n, k: count, alpha: scale, a: sp, lda: n, b: xp, ldb: n,
              c: base + layout.w.lowerBound, ldc: n, threads: threads, workspace: workspace)
            // ∂J/∂U = (1/P) Sᵀ Uin
            if shape.coupling == .dense && i > 0 {
              gemm(
                transA: true, m: n, n: i, k: count, alpha: scale, a: sp, lda: n, b: up, ldb: i,
                c: base + layout.u.lowerBound, ldc: i, threads: threads, workspace: workspace)
            }
            // ∂J/∂b = (1/P) Σ_p s_p
            let gb = base + layout.b.lowerBound
            addScaledRows(sp, rows: count, columns: n, scale: 1, into: gb)  // Σ_p s_p, as the plain loop sums it
            for j in 0..<n { gb[j] *= scale }
            // The stabiliser's direct term, D held fixed: (λ/P) Σ_p d_pi² W_ij.
            if let stabilizer, !stabilized.isEmpty {
              let gw = base + layout.w.lowerBound
              let w = parameters.values
              for i in 0..<n {
                var sum = 0.0
                for p in stabilized {
                  let dp = Double(d[p, i])
                  sum += dp * dp
                }
                let factor = T(sign * stabilizer.weight * sum) * scale
                for j in 0..<n { gw[i * n + j] += factor * w[i * n + j] }
              }
            }
          }
        }
      }
    }
    if symmetric { grad.symmetrizeWeights() }
    return SteadyGradient(
      loss: active.scaled(value, count: count), penalty: penalty, gradient: grad, goal: active.goal,
      states: x, adjoints: s, forward: forward, adjoint: adjoint)
  }

  /// Adds the stabiliser's dependence through the fixed point to the loss
  /// gradient of each pattern in `patterns` and returns Σ_p (λ/2)‖D_p W‖_F².
  ///
  /// With r_i = ‖W_i,:‖², the term (λ/2) Σ_i d_i² r_i depends on the
  /// pre-activation z through d = f'(z): its derivative λ d_i f''(z_i) r_i
  /// enters the adjoint's right-hand side next to D g, which is the same as
  /// adding λ φ_i d_i r_i to g, with φ = f''/f' written in x (tanh: −2x,
  /// logistic: 1 − 2x, linear and relu: 0).
  func addJacobianPenalty(
    weight: Double, patterns: [Int], states x: Matrix<T>, slopes d: Matrix<T>, into g: inout Matrix<T>
  ) -> Double {
    let n = shape.units
    let rowNorms = parameters.values.withUnsafeBufferPointer { wp in
      (0..<n).map { i in
        var sum = 0.0
        for j in 0..<n {
          let v = Double(wp[parameters.layout.w.lowerBound + i * n + j])
          sum += v * v
        }
        return sum
      }
    }
    var total = 0.0
    for p in patterns {
      for i in 0..<n {
        let di = Double(d[p, i])
        total += 0.5 * weight * di * di * rowNorms[i]
        let phi = activation.curvatureRatio(value: Double(x[p, i]))
        g[p, i] += T(weight * phi * di * rowNorms[i])
      }
    }
    return total
  }

  func startStates(_ start: Matrix<T>?, count: Int) throws -> Matrix<T> {
    guard let start else { return Matrix(rows: count, cols: shape.units) }
    guard start.rows == count && start.cols == shape.units else {
      throw RBPError.invalid("start states are \(start.rows)×\(start.cols), expected \(count)×\(shape.units)")
    }
    return start
  }
}

/// The objective of a forward pass that wants only the states: R = 0.
struct NoObjective<T: KernelScalar>: StateObjective {
  var goal: ObjectiveGoal { .minimize }
  var meanOverPatterns: Bool { false }
  func value(_ block: StateBlock<T>) -> Double { 0 }
  func addGradient(_ block: StateBlock<T>, into gradient: UnsafeMutablePointer<T>) {}
}
