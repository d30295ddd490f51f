// Forward solvers for the steady state x = f(W x + a), batched over the
// patterns of a minibatch (one row each):
//
//   iterate   x ← (1−ω) x + ω f(W x + a)                 one GEMM per pass
//   anderson  Anderson mixing of the last m iterates      one GEMM per pass
//   newton    x ← x + δ, (I − D W) δ = f(Wx+a) − x        dense LU per pattern
//   auto      block Gauss–Seidel passes when ‖W‖₂·max f' < 1 certifies a
//             contraction, else relaxation with adaptive damping; then
//             fallback stages for the patterns left (SteadyAutoSolve.swift
//             holds the whole of it, forward and adjoint)
//
// A pattern's steady state is the stable fixed point that relaxation
// reaches from its initial state (SPEC §1.1); the other methods are faster
// or more robust ways to find it. Each pattern stops on its own residual
// ‖f(Wx+a) − x‖∞: converged rows are swapped out of the active block, so
// they stop costing work. A pattern that converges in a pass returns that
// pass's image f(Wx+a), one relaxation step closer to the fixed point than
// the x whose residual was measured (as relaxation "until the change is
// below the tolerance" does: the change f(Wx+a) − x is x's residual), with
// the slopes f'(Wx+a) of the units at those values; the residual reported
// is x's, which bounds the returned state's own from above where the map
// contracts. Newton returns the state whose residual it measured
// (`SolveDiagnostics.residuals` says this once for every solver). `steadyStates` then
// checks stability: a state with ρ(D W) ≥ 1 is rejected as `.unstable`
// (see SteadyStability.swift).
//
// Legend: P = patterns, N = units; states, drives and images are P×N.
// Greek letters: ω the damping, c_i Anderson's mixing coefficients, λ its
// regularisation (α is the leak of trajectories, and GEMM's α, β scale its
// product and C, as in BLAS).

import RBPKernels

/// A forward solver and its settings.
public enum ForwardMethod: Equatable, Sendable {
  /// Damped fixed-point iteration, damping ω ∈ (0, 1] (ω < 1 is Pineda's
  /// relaxation of dx/dt = −x + f(Wx + a)).
  case iterate(damping: Double)
  /// Anderson acceleration with `memory` past iterates, Tikhonov
  /// `regularization` (relative to the largest Gram diagonal) and damping.
  case anderson(memory: Int, regularization: Double, damping: Double)
  /// Newton's method with a dense LU of I − D W and step halving.
  case newton
  /// Relaxation first, with per-pattern fallbacks (damped relaxation,
  /// Anderson, Newton) for the patterns it does not settle. The default.
  case auto

  /// Anderson's defaults: past iterates kept, and the Tikhonov weight of its
  /// least-squares problem.
  public static let defaultMemory = 5
  /// Anderson's default Tikhonov weight.
  public static let defaultRegularization = 1e-10

  /// Undamped iteration.
  public static let iterate = ForwardMethod.iterate(damping: 1)
  /// Anderson with the default memory and weight, undamped.
  public static let anderson = ForwardMethod.anderson(
    memory: defaultMemory, regularization: defaultRegularization,
    damping: 1)

  /// "forward solver newton", as errors name it.
  public var name: String {
    switch self {
    case .iterate: return "forward solver iterate"
    case .anderson: return "forward solver anderson"
    case .newton: return "forward solver newton"
    case .auto: return "forward solver auto"
    }
  }

  /// Throws naming the setting that is out of range.
  public func validate() throws {
    switch self {
    case .iterate(let damping), .anderson(_, _, let damping):
      guard damping > 0 && damping <= 1 else {
        throw RBPError.invalid("damping must be in (0, 1], got \(damping)")
      }
      if case .anderson(let memory, let regularization, _) = self {
        guard memory >= 1 && memory <= SolverOptions.maximumAndersonMemory else {
          throw RBPError.invalid(
            "anderson memory must be between 1 and \(SolverOptions.maximumAndersonMemory), got \(memory)")
        }
        guard regularization >= 0 else {
          throw RBPError.invalid("anderson regularization must be >= 0, got \(regularization)")
        }
      }
    case .newton, .auto:
      break
    }
  }
}

extension SteadyNetwork {
  /// The fixed points of `x = f(W x + a_p)` that `method` reaches from
  /// each row of `start`, unchecked: neither tested for stability nor
  /// thrown on failure (the diagnostics say how each row ended). The three
  /// forward entry points differ only in what they check and return:
  ///
  /// - `uncheckedFixedPoints`: states and diagnostics, no stability
  ///   check, never throws;
  /// - `steadyStates`: the patterns' steady states (SPEC §1.1: fixed
  ///   points that are attractors), throwing for the first pattern that
  ///   did not converge or is not an attractor;
  /// - `steadyStatesAndSlopes`: `steadyStates` with the slopes f'(W x + a)
  ///   at the states, a stability certificate bound, and the choice of
  ///   reporting unsettled patterns instead of throwing.
  ///
  /// - Parameters:
  ///   - drives: A, P×N (see `drives(_:workspace:)`).
  ///   - start: P×N initial states (zeros, or the previous fixed points).
  ///   - method: the forward solver.
  ///   - options: its tolerance and iteration limit.
  ///   - workspace: packing buffers and the kernels.
  /// - Returns: the P×N states and per-pattern diagnostics.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func uncheckedFixedPoints(
    drives: Matrix<T>, from start: Matrix<T>, method: ForwardMethod, options: SolverOptions,
    workspace: KernelWorkspace<T>
  ) -> (states: Matrix<T>, diagnostics: SolveDiagnostics) {
    let n = shape.units
    precondition(
      drives.cols == n && start.cols == n && drives.rows == start.rows,
      "uncheckedFixedPoints: drives \(drives.rows)×\(drives.cols) and start \(start.rows)×\(start.cols) must be P×\(n)")
    let r = relaxKeepingSlopes(drives: drives, from: start, method: method, options: options, workspace: workspace)
    return (r.states, r.diagnostics)
  }

  /// `uncheckedFixedPoints`, also returning the slopes of the returned states when every
  /// row converged in a pass: f'(z) of the pre-activations z that gave
  /// each returned state x = f(z), without another product. Nil otherwise.
  /// `norm`: ‖W‖₂ from `spectralNorm`, when the caller has it.
  func relaxKeepingSlopes(
    drives: Matrix<T>, from start: Matrix<T>, method: ForwardMethod, options: SolverOptions, norm: Double? = nil,
    workspace: KernelWorkspace<T>
  ) -> RelaxationResult {
    switch method {
    case .iterate(let damping):
      return relaxByPasses(
        drives: drives, start: start, options: options, workspace: workspace,
        mixer: DampedMixer(damping: T(damping)))
    case .anderson(let memory, let regularization, let damping):
      return relaxByPasses(
        drives: drives, start: start, options: options, workspace: workspace,
        mixer: AndersonMixer(
          patterns: start.rows, units: drives.cols, memory: memory,
          regularization: T(regularization), damping: T(damping)))
    case .newton:
      let (states, diagnostics) = relaxByNewton(drives: drives, start: start, options: options)
      return RelaxationResult(states: states, diagnostics: diagnostics, slopes: nil)
    case .auto:
      return relaxWithFallbacks(
        drives: drives, start: start, options: options,
        contractive: isContraction(norm: norm ?? spectralNorm()), workspace: workspace)
    }
  }

  /// What the forward solvers return inside the module.
  struct RelaxationResult {
    var states: Matrix<T>
    var diagnostics: SolveDiagnostics
    /// f'(z) of the pre-activations z with states = f(z), when every row
    /// converged in a pass.
    var slopes: Matrix<T>?
  }

  /// Fixed points of every pattern, checked for stability, or the error of
  /// the first pattern that did not converge (with its iterations and
  /// residual) or converged only to an unstable fixed point.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func steadyStates(
    drives: Matrix<T>, from start: Matrix<T>, method: ForwardMethod, options: SolverOptions,
    workspace: KernelWorkspace<T>
  ) throws -> (states: Matrix<T>, diagnostics: SolveDiagnostics) {
    let r = try steadyStatesAndSlopes(
      drives: drives, from: start, method: method, options: options, workspace: workspace)
    return (r.states, r.diagnostics)
  }

  /// `steadyStates`, also returning the slopes D = f'(W x + a) at the states.
  /// `certifyBelow`: see `stability`. `norm`: ‖W‖₂ from `spectralNorm`,
  /// when the caller has it.
  ///
  /// With `allowingUnsettled`, a pattern whose solve fails or ends on a
  /// point that is not an attractor is reported in the diagnostics
  /// (`status` other than `.converged`) instead of thrown: its row of the
  /// states is NaN (its last iterate is not a state); its slopes are those
  /// of the last iterate (0 where not finite), for the stabiliser.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func steadyStatesAndSlopes(
    drives: Matrix<T>, from start: Matrix<T>, method: ForwardMethod, options: SolverOptions,
    certifyBelow: Double = 1, norm: Double? = nil, allowingUnsettled: Bool = false, workspace: KernelWorkspace<T>
  ) throws -> (states: Matrix<T>, slopes: Matrix<T>, diagnostics: SolveDiagnostics) {
    try method.validate()
    let norm = norm ?? spectralNorm()
    let relaxed = relaxKeepingSlopes(
      drives: drives, from: start, method: method, options: options, norm: norm,
      workspace: workspace)
    var x = relaxed.states
    var diagnostics = relaxed.diagnostics
    if !allowingUnsettled { try diagnostics.check(solver: method.name, tolerance: options.tolerance) }
    var d = relaxed.slopes ?? slopes(states: x, drives: drives, workspace: workspace)
    // Every state must be an attractor, whichever method found it: even
    // plain relaxation stays on a saddle it starts exactly on.
    let converged = diagnostics.settledRows
    if converged.count == diagnostics.count {
      let measures = stability(
        slopes: d, certifyBelow: certifyBelow, norm: norm, symmetric: symmetric,
        workspace: workspace)
      diagnostics.spectralRadius = measures.radius
      diagnostics.abscissa = measures.abscissa
    } else if !converged.isEmpty {
      let measures = stability(
        slopes: d.rows(converged), certifyBelow: certifyBelow, norm: norm,
        symmetric: symmetric, workspace: workspace)
      for (r, p) in converged.enumerated() {
        diagnostics.spectralRadius[p] = measures.radius[r]
        diagnostics.abscissa[p] = measures.abscissa[r]
      }
    }
    for p in converged where !(diagnostics.abscissa[p] < 1) { diagnostics.status[p] = .unstable }
    if !allowingUnsettled { try diagnostics.check(solver: method.name, tolerance: options.tolerance) }
    let n = shape.units
    for p in 0..<diagnostics.count where diagnostics.status[p] != .converged {
      x.withMutablePointer { ($0 + p * n).update(repeating: .nan, count: n) }
      // The slopes at the last iterate stay (the stabiliser presses on
      // them), unless they are not finite.
      d.withMutablePointer { dp in
        if (0..<n).contains(where: { !dp[p * n + $0].isFinite }) { (dp + p * n).update(repeating: 0, count: n) }
      }
    }
    return (x, d, diagnostics)
  }

  /// The shared pass loop of `iterate` and `anderson`: one GEMM evaluates
  /// f(W x + a) for all active rows, then `mixer` proposes each row's next
  /// state from its current state and image.
  func relaxByPasses<M: PassMixer>(
    drives: Matrix<T>, start: Matrix<T>, options: SolverOptions, workspace: KernelWorkspace<T>, mixer: M
  ) -> RelaxationResult where M.Scalar == T {
    var mixer = mixer
    let (count, n) = (start.rows, shape.units)
    var x = start.elements
    var a = drives.elements
    var rows = ActiveRows(patterns: count)
    var diagnostics = SolveDiagnostics(count: count)
    var z = [T](repeating: 0, count: count * n)
    var fx = [T](repeating: 0, count: count * n)
    // Slopes of the retired rows, at their pattern's row: f'(z) of the
    // pass that retired them, whose image f(z) they return.
    var slopes = Matrix<T>(rows: count, cols: n)
    let packedWT = parameters.withWeights { packedWeights($0, units: n, transposed: true, workspace: workspace) }
    // From X = 0 the first product X·Wᵀ is known without a GEMM (see
    // `productOfZeros`).
    let zeroStart = isAllZero(start)
    while rows.beginPass(limit: options.maxIterations) {
      let (active, pass) = (rows.count, rows.pass)
      // Z = A + X·Wᵀ on the active rows.
      z.withUnsafeMutableBufferPointer { zp in
        a.withUnsafeBufferPointer { ap in zp.baseAddress!.update(from: ap.baseAddress!, count: active * n) }
        if pass == 1 && zeroStart {
          let zeros = parameters.withWeights { productOfZeros($0, units: n, transposed: true) }
          for r in 0..<active { for j in 0..<n { zp[r &* n &+ j] += zeros[j] } }
        } else {
          x.withUnsafeBufferPointer { xp in
            parameters.withWeights { w in
              gemm(
                transB: true, m: active, n: n, k: n, a: xp.baseAddress!, lda: n, b: w, ldb: n, packedB: packedWT,
                beta: 1, c: zp.baseAddress!, ldc: n, threads: threads, workspace: workspace)
            }
          }
        }
      }
      rows.visitFromLast { r, p in
        // F = f(Z) and its change from X, row by row in one pass.
        let (residual, scale) = z.withUnsafeBufferPointer { zp in
          x.withUnsafeBufferPointer { xp in
            fx.withUnsafeMutableBufferPointer { fp in
              activateChange(
                activation, z: zp.baseAddress! + r * n, previous: xp.baseAddress! + r * n,
                into: fp.baseAddress! + r * n, count: n, kernels: workspace.kernels)
            }
          }
        }
        guard let status = diagnostics.recordPass(p, pass: pass, change: residual, scale: scale, options: options)
        else {
          x.withUnsafeMutableBufferPointer { xp in
            fx.withUnsafeBufferPointer { fp in
              mixer.next(
                pattern: p, state: xp.baseAddress! + r * n, image: fp.baseAddress! + r * n, units: n,
                residual: residual)
            }
          }
          return false
        }
        z.withUnsafeBufferPointer { zp in
          fx.withUnsafeMutableBufferPointer { fp in
            slopes.withMutablePointer { dp in
              activate(activation, z: zp.baseAddress! + r * n, x: fp.baseAddress! + r * n, slope: dp + p * n, count: n)
            }
          }
        }
        if status == .converged {
          x.withUnsafeMutableBufferPointer { xp in
            fx.withUnsafeBufferPointer { fp in
              (xp.baseAddress! + r * n).update(from: fp.baseAddress! + r * n, count: n)
            }
          }
        }
        return true
      } exchange: { r, last in
        swapRows(&x, r, last, width: n)
        swapRows(&a, r, last, width: n)
      }
    }
    let states = rows.unpermuted(x, width: n)
    for p in 0..<count { diagnostics.damping[p] = mixer.damping(pattern: p) }
    let allConverged = diagnostics.status.allSatisfy { $0 == .converged }
    return RelaxationResult(states: states, diagnostics: diagnostics, slopes: allConverged ? slopes : nil)
  }

  /// Newton's method per pattern on F(x) = x − f(W x + a) = 0, with the
  /// Jacobian I − D W factored densely; a step that does not lower the
  /// residual is halved (up to 30 times).
  func relaxByNewton(
    drives: Matrix<T>, start: Matrix<T>, options: SolverOptions
  )
    -> (states: Matrix<T>, diagnostics: SolveDiagnostics)
  {
    let (count, n) = (start.rows, shape.units)
    let w = parameters.W.elements
    var states = start
    var diagnostics = SolveDiagnostics(count: count)
    var z = [T](repeating: 0, count: n), fx = z, d = z

    var scale = 0.0
    /// f(W x + a) and the slopes into fx, d; returns ‖f(Wx+a) − x‖∞ (and
    /// sets `scale` to ‖f(Wx+a)‖∞).
    func evaluate(_ x: [T], _ a: ArraySlice<T>) -> Double {
      for i in 0..<n { z[i] = a[a.startIndex + i] }
      gemv(m: n, n: n, a: w, lda: n, x: x, beta: 1, y: &z)
      activate(activation, z: z, x: &fx, slope: &d, count: n)
      var worst = 0.0
      scale = 0
      for i in 0..<n {
        let diff = abs(Double(fx[i] - x[i]))
        if diff.isNaN { return .nan }
        worst = max(worst, diff)
        scale = max(scale, abs(Double(fx[i])))
      }
      return worst
    }

    for p in 0..<count {
      var x = start.row(p)
      let a = drives.elements[p * n..<(p + 1) * n]
      var residual = evaluate(x, a)
      var iteration = 0
      var status = SolveStatus.notConverged
      while true {
        if !residual.isFinite {
          status = .nonFinite
          break
        }
        if options.accepts(residual, scale: scale) {
          status = .converged
          break
        }
        if iteration == options.maxIterations { break }
        iteration += 1
        // (I − D W) δ = f(Wx + a) − x
        var jacobian = [T](repeating: 0, count: n * n)
        for i in 0..<n {
          for j in 0..<n { jacobian[i * n + j] = -d[i] * w[i * n + j] }
          jacobian[i * n + i] += 1
        }
        guard let lu = LUFactorization(jacobian, n: n) else {
          status = .singular
          break
        }
        let delta = lu.solve((0..<n).map { fx[$0] - x[$0] })
        var step: T = 1
        var trial = x
        var trialResidual = Double.infinity
        for _ in 0...30 {
          for i in 0..<n { trial[i] = x[i] + step * delta[i] }
          trialResidual = evaluate(trial, a)
          if trialResidual < residual { break }
          step /= 2
        }
        x = trial
        residual = trialResidual
      }
      // Leave fx/d consistent with x is not needed: states hold x itself.
      states.setRow(p, x)
      diagnostics.iterations[p] = iteration
      diagnostics.residuals[p] = residual
      diagnostics.status[p] = status
    }
    return (states, diagnostics)
  }
}

/// Proposes a row's next state from its current state x and image f(Wx+a),
/// in place in `state`.
protocol PassMixer {
  associatedtype Scalar: KernelScalar
  /// `residual`: ‖f(Wx+a) − x‖∞ of this row, as the pass measured it.
  mutating func next(
    pattern: Int, state: UnsafeMutablePointer<Scalar>, image: UnsafePointer<Scalar>, units: Int,
    residual: Double)
  /// The damping the pattern's iteration ended with.
  func damping(pattern: Int) -> Double
}

/// x ← (1 − ω) x + ω f(Wx + a), ω the damping.
struct DampedMixer<T: KernelScalar>: PassMixer {
  let damping: T
  func damping(pattern: Int) -> Double { Double(damping) }
  func next(pattern: Int, state x: UnsafeMutablePointer<T>, image f: UnsafePointer<T>, units n: Int, residual _: Double)
  {
    if damping == 1 {
      x.update(from: f, count: n)
    } else {
      for i in 0..<n { x[i] += damping * (f[i] - x[i]) }
    }
  }
}

/// Relaxation that chooses its damping per pattern: x ← (1 − ω) x + ω f(Wx + a)
/// from ω = 1, with ω halved (down to `minimumDamping`) whenever the
/// iteration grows or oscillates: when the smallest residual
/// ‖f(Wx+a) − x‖∞ of a round of passes is not 10 % below the smallest of
/// the round before. A round is ⌈10/ω⌉ passes (at most 160), about ten
/// time constants of dx/dt = −x + f(Wx + a), so that a transient of the
/// damped dynamics is not mistaken for a stall. The iteration goes on from
/// where it is: the state found is the end of this one relaxation from the
/// initial state. A fixed point whose D W has every eigenvalue λ at
/// Re λ < 1 attracts the damped iteration once ω < 2(1 − Re λ)/|1 − λ|².
struct AdaptiveDampedMixer<T: KernelScalar>: PassMixer {
  static var minimumDamping: Double { 1.0 / 256 }
  var omega: [Double]
  /// Per pattern: the smallest residual of the round before (∞ in the
  /// first), of this round, and the passes this round has run.
  var previousLowest: [Double]
  var lowest: [Double]
  var passes: [Int]

  init(patterns: Int) {
    omega = [Double](repeating: 1, count: patterns)
    previousLowest = [Double](repeating: .infinity, count: patterns)
    lowest = previousLowest
    passes = [Int](repeating: 0, count: patterns)
  }

  func damping(pattern: Int) -> Double { omega[pattern] }

  mutating func next(
    pattern p: Int, state x: UnsafeMutablePointer<T>, image f: UnsafePointer<T>, units n: Int,
    residual: Double
  ) {
    lowest[p] = min(lowest[p], residual)
    passes[p] += 1
    if Double(passes[p]) >= min((10 / omega[p]).rounded(.up), 160) {
      // (The first round has no round before it: ∞, so it passes.)
      if !(lowest[p] < 0.9 * previousLowest[p]) && omega[p] > Self.minimumDamping {
        omega[p] /= 2
        previousLowest[p] = .infinity
      } else {
        previousLowest[p] = lowest[p]
      }
      lowest[p] = .infinity
      passes[p] = 0
    }
    let w = T(omega[p])
    if omega[p] == 1 {
      x.update(from: f, count: n)
    } else {
      for i in 0..<n { x[i] += w * (f[i] - x[i]) }
    }
  }
}

/// Anderson acceleration (type II) per pattern: with the last m iterates
/// x_i and residuals g_i = f(x_i) − x_i, choose coefficients c (Σc = 1)
/// minimising ‖Σ c_i g_i‖² + λ‖c‖², then x ← Σ c_i (x_i + ω g_i), ω the
/// damping.
struct AndersonMixer<T: KernelScalar>: PassMixer {
  let memory: Int
  let regularization: T
  let damping: T
  let units: Int
  /// Histories per pattern: memory × units of states and of residuals.
  var states: [T]
  var residuals: [T]
  var filled: [Int]
  var head: [Int]

  func damping(pattern: Int) -> Double { Double(damping) }

  init(patterns: Int, units: Int, memory: Int, regularization: T, damping: T) {
    self.memory = memory
    self.regularization = regularization
    self.damping = damping
    self.units = units
    states = [T](repeating: 0, count: patterns * memory * units)
    residuals = states
    filled = [Int](repeating: 0, count: patterns)
    head = filled
  }

  mutating func next(
    pattern p: Int, state x: UnsafeMutablePointer<T>, image f: UnsafePointer<T>, units n: Int,
    residual _: Double
  ) {
    let base = p * memory * n
    let slot = head[p]
    for i in 0..<n {
      states[base + slot * n + i] = x[i]
      residuals[base + slot * n + i] = f[i] - x[i]
    }
    head[p] = (slot + 1) % memory
    filled[p] = min(filled[p] + 1, memory)
    let k = filled[p]
    // Gram matrix of the stored residuals, regularised.
    var gram = [T](repeating: 0, count: k * k)
    for i in 0..<k {
      for j in i..<k {
        var dot: T = 0
        for u in 0..<n { dot += residuals[base + i * n + u] * residuals[base + j * n + u] }
        gram[i * k + j] = dot
        gram[j * k + i] = dot
      }
    }
    var largest: T = 0
    for i in 0..<k { largest = max(largest, gram[i * k + i]) }
    let lambda = regularization * max(largest, T.leastNormalMagnitude)
    for i in 0..<k { gram[i * k + i] += lambda }
    var weights = [T](repeating: 0, count: k)
    if let lu = LUFactorization(gram, n: k) {
      weights = lu.solve([T](repeating: 1, count: k))
    }
    let total = weights.reduce(0, +)
    if !(total.isFinite && total != 0) || weights.contains(where: { !$0.isFinite }) {
      // Degenerate mixing: plain damped step from the newest iterate.
      weights = [T](repeating: 0, count: k)
      weights[slot] = 1
    } else {
      for i in 0..<k { weights[i] /= total }
    }
    for u in 0..<n {
      var v: T = 0
      for i in 0..<k {
        v += weights[i] * (states[base + i * n + u] + damping * residuals[base + i * n + u])
      }
      x[u] = v
    }
  }
}

extension SteadyNetwork {
  /// The former name of `uncheckedFixedPoints(drives:from:method:options:workspace:)`.
  @available(*, deprecated, renamed: "uncheckedFixedPoints(drives:from:method:options:workspace:)")
  public func relax(
    drives: Matrix<T>, from start: Matrix<T>, method: ForwardMethod, options: SolverOptions,
    workspace: KernelWorkspace<T>
  ) -> (states: Matrix<T>, diagnostics: SolveDiagnostics) {
    uncheckedFixedPoints(drives: drives, from: start, method: method, options: options, workspace: workspace)
  }

  /// The former name of
  /// `steadyStatesAndSlopes(drives:from:method:options:certifyBelow:norm:allowingUnsettled:workspace:)`.
  @available(
    *, deprecated,
    renamed: "steadyStatesAndSlopes(drives:from:method:options:certifyBelow:norm:allowingUnsettled:workspace:)"
  )
  public func settle(
    drives: Matrix<T>, from start: Matrix<T>, method: ForwardMethod, options: SolverOptions,
    certifyBelow: Double = 1, norm: Double? = nil, allowingUnsettled: Bool = false, workspace: KernelWorkspace<T>
  ) throws -> (states: Matrix<T>, slopes: Matrix<T>, diagnostics: SolveDiagnostics) {
    try steadyStatesAndSlopes(
      drives: drives, from: start, method: method, options: options, certifyBelow: certifyBelow, norm: norm,
      allowingUnsettled: allowingUnsettled, workspace: workspace)
  }
}
