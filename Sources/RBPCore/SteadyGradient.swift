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

/// Solver choices for a steady-state gradient.
public struct SteadySolverSettings: Equatable, Sendable {
  public var forward: ForwardMethod
  public var forwardOptions: SolverOptions
  public var adjoint: AdjointMethod
  public var adjointOptions: SolverOptions

  public init(
    forward: ForwardMethod = .iterate, forwardOptions: SolverOptions = SolverOptions(tolerance: 1e-6, maxIterations: 1000),
    adjoint: AdjointMethod = .iterate, adjointOptions: SolverOptions = SolverOptions(tolerance: 1e-6, maxIterations: 1000)
  ) {
    self.forward = forward
    self.forwardOptions = forwardOptions
    self.adjoint = adjoint
    self.adjointOptions = adjointOptions
  }
}

/// Everything one gradient evaluation produces.
public struct SteadyGradient<T: KernelScalar>: Sendable {
  /// J = (1/P) Σ_p L_p.
  public var loss: Double
  /// ∂J/∂θ in the parameter layout.
  public var gradient: Parameters<T>
  /// Fixed points, P×N.
  public var states: Matrix<T>
  /// Adjoints s_p, P×N.
  public var adjoints: Matrix<T>
  public var forward: SolveDiagnostics
  public var adjoint: SolveDiagnostics
}

extension SteadyNetwork {
  /// Per-pattern losses L_p and G = ∂L_p/∂x_p (P×N, zero off the outputs).
  public func lossAndGradient(states x: Matrix<T>, batch: SteadyBatch<T>) -> (losses: [Double], g: Matrix<T>) {
    let (count, n, o) = (x.rows, shape.units, shape.outputs)
    let first = shape.firstOutput
    var g = Matrix<T>(rows: count, cols: n)
    var losses = [Double](repeating: 0, count: count)
    let mask = batch.mask ?? Matrix(rows: 0, cols: 0)
    x.withPointer { xp in batch.targets.withPointer { yp in mask.withPointer { mp in g.withMutablePointer { gp in
      for p in 0..<count {
        let out = xp + p * n + first
        let y = yp + p * o
        let m = batch.mask == nil ? nil : mp + p * o
        losses[p] = loss.value(out, y, mask: m, count: o)
        loss.addGradient(out, y, mask: m, count: o, scale: 1, into: gp + p * n + first)
      }
    }}}}
    return (losses, g)
  }

  /// Slopes D = f'(X Wᵀ + A), P×N, at the given states.
  public func slopes(states x: Matrix<T>, drives a: Matrix<T>, workspace: GEMMWorkspace<T>) -> Matrix<T> {
    let (count, n) = (x.rows, shape.units)
    var z = a
    let wt = parameters.W.transposed
    x.withPointer { xp in wt.withPointer { wp in z.withMutablePointer { zp in
      gemm(m: count, n: n, k: n, a: xp, lda: n, b: wp, ldb: n, beta: 1, c: zp, ldc: n, workspace: workspace)
    }}}
    var values = z, d = z
    z.withPointer { zp in values.withMutablePointer { vp in d.withMutablePointer { dp in
      activate(activation, z: zp, x: vp, slope: dp, count: count * n)
    }}}
    return d
  }

  /// The loss J of a batch at its fixed points (no adjoint).
  public func evaluate(
    batch: SteadyBatch<T>, settings: SteadySolverSettings, start: Matrix<T>? = nil,
    workspace: GEMMWorkspace<T> = GEMMWorkspace()
  ) throws -> (loss: Double, states: Matrix<T>, diagnostics: SolveDiagnostics) {
    try batch.check(against: shape)
    let a = drives(batch.inputs, workspace: workspace)
    let x0 = try startStates(start, count: batch.count)
    let (x, diagnostics) = try steadyStates(drives: a, from: x0, method: settings.forward,
                                            options: settings.forwardOptions, workspace: workspace)
    let losses = lossAndGradient(states: x, batch: batch).losses
    return (losses.reduce(0, +) / Double(max(batch.count, 1)), x, diagnostics)
  }

  /// ∂J/∂θ for a batch by recurrent backpropagation.
  ///
  /// ```
  /// x_p = f(W x_p + a_p)            forward (settings.forward)
  /// (I − D Wᵀ) s_p = D g_p          adjoint (settings.adjoint)
  /// ∂J/∂W = (1/P) Σ_p s_p x_pᵀ,  ∂J/∂b = (1/P) Σ_p s_p,  ∂J/∂U = (1/P) Σ_p s_p u_pᵀ
  /// ```
  ///
  /// - Parameters:
  ///   - start: P×N states to start the forward solve from (a warm start),
  ///     or nil for zeros.
  /// - Throws: `RBPError` for a solve that does not converge or blows up.
  public func gradient(
    batch: SteadyBatch<T>, settings: SteadySolverSettings, start: Matrix<T>? = nil,
    workspace: GEMMWorkspace<T> = GEMMWorkspace()
  ) throws -> SteadyGradient<T> {
    try batch.check(against: shape)
    try settings.adjoint.validate()
    let (count, n, i) = (batch.count, shape.units, shape.inputs)
    let a = drives(batch.inputs, workspace: workspace)
    let x0 = try startStates(start, count: count)
    let (x, forward) = try steadyStates(drives: a, from: x0, method: settings.forward,
                                        options: settings.forwardOptions, workspace: workspace)
    let d = slopes(states: x, drives: a, workspace: workspace)
    let (losses, g) = lossAndGradient(states: x, batch: batch)
    let (s, adjoint) = try adjointStates(slopes: d, lossGradient: g, method: settings.adjoint,
                                         options: settings.adjointOptions, workspace: workspace)

    var grad = Parameters<T>(layout: parameters.layout)
    let scale = 1 / T(max(count, 1))
    let layout = parameters.layout
    s.withPointer { sp in x.withPointer { xp in batch.inputs.withPointer { up in
      grad.values.withUnsafeMutableBufferPointer { gp in
        let base = gp.baseAddress!
        // ∂J/∂W = (1/P) Sᵀ X
        gemm(transA: true, m: n, n: n, k: count, alpha: scale, a: sp, lda: n, b: xp, ldb: n,
             c: base + layout.w.lowerBound, ldc: n, workspace: workspace)
        // ∂J/∂U = (1/P) Sᵀ Uin
        if shape.coupling == .dense && i > 0 {
          gemm(transA: true, m: n, n: i, k: count, alpha: scale, a: sp, lda: n, b: up, ldb: i,
               c: base + layout.u.lowerBound, ldc: i, workspace: workspace)
        }
        // ∂J/∂b = (1/P) Σ_p s_p
        let gb = base + layout.b.lowerBound
        for p in 0..<count { for j in 0..<n { gb[j] += sp[p * n + j] } }
        for j in 0..<n { gb[j] *= scale }
      }
    }}}
    return SteadyGradient(loss: losses.reduce(0, +) / Double(max(count, 1)), gradient: grad,
                          states: x, adjoints: s, forward: forward, adjoint: adjoint)
  }

  func startStates(_ start: Matrix<T>?, count: Int) throws -> Matrix<T> {
    guard let start else { return Matrix(rows: count, cols: shape.units) }
    guard start.rows == count && start.cols == shape.units else {
      throw RBPError.invalid("start states are \(start.rows)×\(start.cols), expected \(count)×\(shape.units)")
    }
    return start
  }
}
