// Adjoint solvers for recurrent backpropagation: for each pattern, the s
// that solves (I − D Wᵀ) s = D g, written per row (one pattern each) as
//
//   s = d ⊙ (s·W + g)        (row form of s = D (Wᵀ s + g))
//
//   iterate   the Almeida–Pineda error network, s ← d ⊙ (s·W + g)   one GEMM per pass
//   neumann   Σ_{k<K} (D Wᵀ)^k D g (Liao et al. 2018)                 K GEMMs
//   direct    dense LU of I − D Wᵀ per pattern (exact, O(N³))
//   gmres     restarted GMRES on I − D Wᵀ per pattern (matrix-free)
//   auto      block Gauss–Seidel passes under the same contraction
//             certificate as the forward solve (SteadyBlockPasses.swift),
//             else iterate; then GMRES for the patterns left unconverged,
//             then direct (N ≤ 2048) for what GMRES leaves
//             (SteadyAutoSolve.swift)
//
// Every method reports a residual ‖s − d ⊙ (s·W + g)‖∞ (one meaning, see
// `SolveDiagnostics.residuals`): neumann, direct and GMRES of what they
// return, measured at the end; iterate and the block passes of the iterate
// s they passed over last, returning that pass's image d ⊙ (s·W + g) (one
// step closer to the solution), whose own residual it bounds from above
// where the map contracts; rows they leave unconverged are measured at the
// end like the others.
//
// Legend: P = patterns, N = units; d, g, s are P×N.

import RBPKernels

/// An adjoint solver and its settings.
public enum AdjointMethod: Equatable, Sendable {
  /// Fixed-point iteration s ← D(Wᵀ s + g).
  case iterate
  /// The first `terms` terms of the Neumann series.
  case neumann(terms: Int)
  /// An LU factorisation of I − D Wᵀ per pattern.
  case direct
  /// GMRES restarted every `restart` inner iterations.
  case gmres(restart: Int)
  /// iterate, with GMRES and then the direct solve as per-pattern
  /// fallbacks. The default.
  case auto

  /// The defaults of GMRES's restart length and of Neumann's terms.
  public static let defaultRestart = 30
  /// The default of Neumann's terms.
  public static let defaultTerms = 50

  /// GMRES with the default restart length.
  public static let gmres = AdjointMethod.gmres(restart: defaultRestart)

  /// "adjoint solver gmres", as errors name it.
  public var name: String {
    switch self {
    case .iterate: return "adjoint solver iterate"
    case .neumann: return "adjoint solver neumann"
    case .direct: return "adjoint solver direct"
    case .gmres: return "adjoint solver gmres"
    case .auto: return "adjoint solver auto"
    }
  }

  /// Throws naming a setting out of range.
  public func validate() throws {
    switch self {
    case .neumann(let terms) where terms < 1:
      throw RBPError.invalid("neumann terms must be at least 1, got \(terms)")
    case .gmres(let restart) where restart < 1:
      throw RBPError.invalid("gmres restart must be at least 1, got \(restart)")
    default:
      break
    }
  }
}

extension SteadyNetwork {
  /// Solves `(I − D Wᵀ) s_p = D g_p` for every pattern, without throwing.
  ///
  /// - Parameters:
  ///   - d: the slopes D, P×N, f'(W x_p + a_p).
  ///   - g: the objective's gradient G, P×N, ∂L_p/∂x_p (zero off the
  ///     output units for a loss).
  ///   - method: the adjoint solver.
  ///   - options: its tolerance and iteration limit.
  ///   - norm: ‖W‖₂ from `spectralNorm`, when the caller has it; `auto`
  ///     computes it otherwise, to tell whether W is a contraction
  ///     (`isContraction`), so that it begins with block Gauss–Seidel
  ///     passes (SteadyBlockPasses.swift).
  ///   - damping: per pattern, the damping ω its forward relaxation ended
  ///     with (`SolveDiagnostics.damping`): the iterated adjoint then runs
  ///     s ← (1−ω) s + ω d ⊙ (s·W + g), which converges where the damped
  ///     forward iteration does. Nil: 1 for every pattern.
  ///   - workspace: packing buffers and the kernels.
  /// - Returns: S, P×N, and per-pattern diagnostics.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func adjoint(
    slopes d: Matrix<T>, lossGradient g: Matrix<T>, method: AdjointMethod, options: SolverOptions,
    norm: Double? = nil, damping: [Double]? = nil, workspace: KernelWorkspace<T>
  ) -> (adjoints: Matrix<T>, diagnostics: SolveDiagnostics) {
    let n = shape.units
    precondition(d.cols == n && g.cols == n && d.rows == g.rows, "adjoint: D and G must both be P×\(n)")
    var s: Matrix<T>
    var diagnostics: SolveDiagnostics
    switch method {
    case .iterate:
      (s, diagnostics) = adjointByPasses(
        slopes: d, lossGradient: g, options: options, damping: damping,
        workspace: workspace)
    case .neumann(let terms):
      s = adjointByNeumann(slopes: d, lossGradient: g, terms: terms, workspace: workspace)
      diagnostics = SolveDiagnostics(count: d.rows)
      for p in 0..<d.rows { diagnostics.iterations[p] = terms }
    case .direct:
      (s, diagnostics) = adjointByLU(slopes: d, lossGradient: g)
    case .gmres(let restart):
      (s, diagnostics) = adjointByGMRES(slopes: d, lossGradient: g, restart: restart, options: options)
    case .auto:
      return adjointWithFallbacks(
        slopes: d, lossGradient: g, options: options,
        contractive: isContraction(norm: norm ?? spectralNorm()), damping: damping,
        workspace: workspace)
    }
    // The true residual of what is returned; iterate's converged rows
    // report their last change instead (see the top of this file).
    if method == .iterate && diagnostics.status.allSatisfy({ $0 == .converged }) { return (s, diagnostics) }
    let residuals = adjointResiduals(s, slopes: d, lossGradient: g, workspace: workspace)
    for p in 0..<d.rows where diagnostics.status[p] != .singular {
      let (residual, scale) = residuals[p]
      diagnostics.residuals[p] = residual
      diagnostics.status[p] =
        !residual.isFinite
        ? .nonFinite
        : options.accepts(residual, scale: scale) ? .converged : .notConverged
    }
    return (s, diagnostics)
  }

  /// `adjoint`, throwing for the first pattern whose solve failed.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func adjointStates(
    slopes d: Matrix<T>, lossGradient g: Matrix<T>, method: AdjointMethod, options: SolverOptions,
    norm: Double? = nil, damping: [Double]? = nil, workspace: KernelWorkspace<T>
  ) throws -> (adjoints: Matrix<T>, diagnostics: SolveDiagnostics) {
    try method.validate()
    let result = adjoint(
      slopes: d, lossGradient: g, method: method, options: options, norm: norm, damping: damping,
      workspace: workspace)
    try result.diagnostics.check(solver: method.name, tolerance: options.tolerance)
    return result
  }

  /// (‖s_p − d_p ⊙ (s_p·W + g_p)‖∞, ‖s_p‖∞) for every row.
  func adjointResiduals(
    _ s: Matrix<T>, slopes d: Matrix<T>, lossGradient g: Matrix<T>, workspace: KernelWorkspace<T>
  ) -> [(residual: Double, scale: Double)] {
    let (count, n) = (s.rows, shape.units)
    var image = Matrix<T>(rows: count, cols: n)
    applyAdjointMap(
      s.elements, slopes: d.elements, lossGradient: g.elements, rows: count,
      into: &image.elements, workspace: workspace)
    return (0..<count).map { p in
      let (residual, scale) = s.withPointer { sp in
        image.withPointer { ip in
          maxDifference(sp + p * n, ip + p * n, count: n, kernels: workspace.kernels)
        }
      }
      return (residual, scale)
    }
  }

  /// out = d ⊙ (s·W + g) on the first `rows` rows.
  /// `packedW`: W as `packedWeights` laid it out, when the caller applies
  /// the map many times.
  func applyAdjointMap(
    _ s: [T], slopes d: [T], lossGradient g: [T]?, rows: Int, into out: inout [T], workspace: KernelWorkspace<T>,
    packedW: UnsafePointer<T>? = nil
  ) {
    let n = shape.units
    out.withUnsafeMutableBufferPointer { o in
      adjointProduct(s, rows: rows, into: o.baseAddress!, workspace: workspace, packedW: packedW)
      if let g {
        adjointStep(slope: d, UnsafePointer(o.baseAddress!), plus: g, into: o.baseAddress!, count: rows * n)
      } else {
        adjointStep(slope: d, UnsafePointer(o.baseAddress!), plus: nil, into: o.baseAddress!, count: rows * n)
      }
    }
  }

  /// out = s·W on the first `rows` rows (N each); `packedW` as in
  /// `applyAdjointMap`.
  func adjointProduct(
    _ s: UnsafePointer<T>, rows: Int, into out: UnsafeMutablePointer<T>, workspace: KernelWorkspace<T>,
    packedW: UnsafePointer<T>?
  ) {
    let n = shape.units
    parameters.withWeights { w in
      gemm(
        m: rows, n: n, k: n, a: s, lda: n, b: w, ldb: n, packedB: packedW, c: out, ldc: n, threads: threads,
        workspace: workspace)
    }
  }

  /// The Almeida–Pineda relaxation s ← d ⊙ (s·W + g) from s = 0, each row
  /// retiring with its newest image once its residual (the undamped
  /// change) is within tolerance; a row with `damping` ω < 1 moves by
  /// s ← s + ω (d ⊙ (s·W + g) − s) until then.
  func adjointByPasses(
    slopes: Matrix<T>, lossGradient: Matrix<T>, options: SolverOptions, damping: [Double]? = nil,
    workspace: KernelWorkspace<T>
  ) -> (Matrix<T>, SolveDiagnostics) {
    let (count, n) = (slopes.rows, shape.units)
    let damped = damping.map { $0.contains { $0 < 1 } } ?? false
    var s = [T](repeating: 0, count: count * n)
    var d = slopes.elements, g = lossGradient.elements
    var next = s
    var rows = ActiveRows(patterns: count)
    var diagnostics = SolveDiagnostics(count: count)
    let packedW = parameters.withWeights { packedWeights($0, units: n, transposed: false, workspace: workspace) }
    while rows.beginPass(limit: options.maxIterations) {
      let (active, pass) = (rows.count, rows.pass)
      // V = S·W on the active rows into `next`.
      next.withUnsafeMutableBufferPointer { np in
        if pass == 1 {
          // S = 0: the product is known without a GEMM (see `productOfZeros`).
          let zeros = parameters.withWeights { productOfZeros($0, units: n, transposed: false) }
          for r in 0..<active { (np.baseAddress! + r &* n).update(from: zeros, count: n) }
        } else {
          s.withUnsafeBufferPointer { sp in
            adjointProduct(sp.baseAddress!, rows: active, into: np.baseAddress!, workspace: workspace, packedW: packedW)
          }
        }
      }
      // Rows from the end, so a retired row is replaced by one already seen.
      // Each row's next iterate d ⊙ (v + g) replaces v in `next`, with its
      // change from `s`; a retired row's is copied to `s` too, so that both
      // buffers hold it, and the buffers trade places after the pass.
      rows.visitFromLast { r, p in
        let (change, scale) = s.withUnsafeBufferPointer { sp in
          next.withUnsafeMutableBufferPointer { np in
            d.withUnsafeBufferPointer { dp in
              g.withUnsafeBufferPointer { gp in
                let o = r &* n
                return adjointChange(
                  slope: dp.baseAddress! + o, UnsafePointer(np.baseAddress! + o), plus: gp.baseAddress! + o,
                  into: np.baseAddress! + o, previous: sp.baseAddress! + o, count: n,
                  kernels: workspace.kernels)
              }
            }
          }
        }
        if damped { diagnostics.damping[p] = damping![p] }
        let retiring = diagnostics.recordPass(p, pass: pass, change: change, scale: scale, options: options) != nil
        if damped && !retiring, let omega = damping?[p], omega < 1 {
          // next ← s + ω (image − s)
          let w = T(omega)
          s.withUnsafeBufferPointer { sp in
            next.withUnsafeMutableBufferPointer { np in
              let o = r &* n
              for j in 0..<n { np[o &+ j] = sp[o &+ j] + w * (np[o &+ j] - sp[o &+ j]) }
            }
          }
        }
        if retiring {
          s.withUnsafeMutableBufferPointer { sp in
            next.withUnsafeMutableBufferPointer { np in
              if change.isFinite {
                (sp.baseAddress! + r * n).update(from: np.baseAddress! + r * n, count: n)
              } else {
                (np.baseAddress! + r * n).update(from: sp.baseAddress! + r * n, count: n)  // the last finite iterate
              }
            }
          }
        }
        return retiring
      } exchange: { r, last in
        swapRows(&s, r, last, width: n)
        swapRows(&d, r, last, width: n)
        swapRows(&g, r, last, width: n)
        swapRows(&next, r, last, width: n)
      }
      swap(&s, &next)
    }
    let out = rows.unpermuted(s, width: n)
    return (out, diagnostics)
  }

  /// s = Σ_{k<K} t_k with t_0 = d ⊙ g, t_{k+1} = d ⊙ (t_k·W).
  func adjointByNeumann(
    slopes: Matrix<T>, lossGradient: Matrix<T>, terms: Int, workspace: KernelWorkspace<T>
  ) -> Matrix<T> {
    let count = slopes.rows
    var term = zip(slopes.elements, lossGradient.elements).map { $0 * $1 }
    var sum = term
    var next = term
    for _ in 1..<max(terms, 1) {
      applyAdjointMap(term, slopes: slopes.elements, lossGradient: nil, rows: count, into: &next, workspace: workspace)
      swap(&term, &next)
      for i in sum.indices { sum[i] += term[i] }
    }
    return Matrix(rows: count, cols: shape.units, elements: sum)
  }

  /// Per pattern: (I − D Wᵀ) s = D g by dense LU, M_ij = δ_ij − d_i W_ji.
  func adjointByLU(slopes: Matrix<T>, lossGradient: Matrix<T>) -> (Matrix<T>, SolveDiagnostics) {
    let (count, n) = (slopes.rows, shape.units)
    let w = parameters.W.elements
    var out = Matrix<T>(rows: count, cols: n)
    var diagnostics = SolveDiagnostics(count: count)
    var system = [T](repeating: 0, count: n * n)
    for p in 0..<count {
      let d = slopes.row(p), g = lossGradient.row(p)
      for i in 0..<n {
        for j in 0..<n { system[i * n + j] = -d[i] * w[j * n + i] }
        system[i * n + i] += 1
      }
      diagnostics.iterations[p] = 1
      guard let lu = LUFactorization(system, n: n) else {
        diagnostics.status[p] = .singular
        continue
      }
      out.setRow(p, lu.solve((0..<n).map { d[$0] * g[$0] }))
    }
    return (out, diagnostics)
  }

  /// Per pattern: restarted GMRES on M s = D g, M v = v − d ⊙ (Wᵀ v),
  /// from s = 0, until the 2-norm of the residual is within tolerance or
  /// `options.maxIterations` inner iterations have run.
  func adjointByGMRES(
    slopes: Matrix<T>, lossGradient: Matrix<T>, restart: Int, options: SolverOptions
  ) -> (Matrix<T>, SolveDiagnostics) {
    let (count, n) = (slopes.rows, shape.units)
    let w = parameters.W.elements
    var out = Matrix<T>(rows: count, cols: n)
    var diagnostics = SolveDiagnostics(count: count)
    let m = min(restart, n)
    for p in 0..<count {
      let d = slopes.row(p)
      let rhs = (0..<n).map { d[$0] * lossGradient[p, $0] }
      /// M v = v − d ⊙ (Wᵀ v)
      func apply(_ v: [T]) -> [T] {
        var wv = [T](repeating: 0, count: n)
        gemv(trans: true, m: n, n: n, a: w, lda: n, x: v, y: &wv)
        return (0..<n).map { v[$0] - d[$0] * wv[$0] }
      }
      var x = [T](repeating: 0, count: n)
      var iterations = 0
      while iterations < options.maxIterations {
        let mx = apply(x)
        let r = (0..<n).map { rhs[$0] - mx[$0] }
        let beta = norm2(r)
        if Double(beta) <= options.tolerance || !beta.isFinite { break }
        // Arnoldi with modified Gram–Schmidt and Givens rotations.
        var basis: [[T]] = [r.map { $0 / beta }]
        var h = [[T]](repeating: [T](repeating: 0, count: m), count: m + 1)
        var cs = [T](repeating: 0, count: m), sn = cs
        var e = [T](repeating: 0, count: m + 1)
        e[0] = beta
        var k = 0
        while k < m && iterations < options.maxIterations {
          iterations += 1
          var v = apply(basis[k])
          for i in 0...k {
            var dot: T = 0
            for u in 0..<n { dot += v[u] * basis[i][u] }
            h[i][k] = dot
            for u in 0..<n { v[u] -= dot * basis[i][u] }
          }
          let hNext = norm2(v)
          h[k + 1][k] = hNext
          for i in 0..<k {
            let t = cs[i] * h[i][k] + sn[i] * h[i + 1][k]
            h[i + 1][k] = -sn[i] * h[i][k] + cs[i] * h[i + 1][k]
            h[i][k] = t
          }
          let denom = (h[k][k] * h[k][k] + h[k + 1][k] * h[k + 1][k]).squareRoot()
          cs[k] = denom == 0 ? 1 : h[k][k] / denom
          sn[k] = denom == 0 ? 0 : h[k + 1][k] / denom
          h[k][k] = cs[k] * h[k][k] + sn[k] * h[k + 1][k]
          h[k + 1][k] = 0
          e[k + 1] = -sn[k] * e[k]
          e[k] = cs[k] * e[k]
          k += 1
          if Double(abs(e[k])) <= options.tolerance || hNext == 0 { break }
          basis.append(v.map { $0 / hNext })
        }
        // Back-substitute the k×k triangle and update x.
        var y = [T](repeating: 0, count: k)
        for i in stride(from: k - 1, through: 0, by: -1) {
          var sum = e[i]
          for j in (i + 1)..<k { sum -= h[i][j] * y[j] }
          y[i] = h[i][i] == 0 ? 0 : sum / h[i][i]
        }
        for i in 0..<k { for u in 0..<n { x[u] += y[i] * basis[i][u] } }
      }
      out.setRow(p, x)
      diagnostics.iterations[p] = iterations
    }
    return (out, diagnostics)
  }
}

@inline(__always)
func norm2<T: KernelScalar>(_ v: [T]) -> T {
  var sum: T = 0
  for x in v { sum += x * x }
  return sum.squareRoot()
}
