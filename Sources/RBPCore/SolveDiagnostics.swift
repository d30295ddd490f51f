// What every iterative solve reports, per pattern: iterations, final
// residual, how it ended, the fallbacks it needed and the stability of the
// state it found; and the settings shared by the solvers, with the default
// tolerances, which scale with the precision and the number of units.

import RBPKernels

/// How one pattern's solve ended.
public enum SolveStatus: String, Equatable, Sendable, Codable {
  /// Converged to a stable fixed point (forward) or a solution (adjoint).
  case converged
  /// Stopped at the iteration limit with the residual above tolerance.
  case notConverged
  /// Produced NaN or infinity.
  case nonFinite
  /// A dense system on the way (Newton step, direct solve) was singular.
  case singular
  /// Converged to a fixed point where D W has an eigenvalue of real part
  /// ≥ 1: not an attractor of the network's dynamics (SPEC §1.1), so not
  /// the pattern's steady state.
  case unstable
}

/// Tolerance and iteration limit of a solve.
///
/// A pattern has converged when its residual (∞-norm) is at most
/// `tolerance · max(1, ‖v‖∞)`, where v is the state (forward) or adjoint
/// (adjoint) being solved for: absolute for values of order one, relative
/// for larger ones, so round-off of large values is not mistaken for
/// non-convergence.
public struct SolverOptions: Equatable, Sendable, Codable {
  /// The residual a pattern must reach, relative to max(1, ‖v‖∞).
  public var tolerance: Double
  /// The iteration limit.
  public var maxIterations: Int

  /// These tolerance and limit.
  public init(tolerance: Double, maxIterations: Int) {
    self.tolerance = tolerance
    self.maxIterations = maxIterations
  }

  /// The default iteration limit of every solver (per stage of `auto`).
  public static let defaultMaxIterations = 1000

  /// The most past iterates Anderson keeps.
  public static let maximumAndersonMemory = 1000

  /// The default tolerance for N units in precision T:
  ///
  /// ```
  /// max(floor, 32 · √N · ε)     floor = 1e-6 (f32), 1e-12 (f64)
  /// ```
  ///
  /// 32·√N·ε is above the round-off of evaluating f(Wx + a) − x in T (an
  /// N-term dot product), so f32 never chases its own rounding (N = 16:
  /// 1.5e-5; N = 256: 6.1e-5); f64 solves to 1e-12, tight enough that
  /// `rbp grad` agrees with a dense-adjoint reference to 1e-9 relative
  /// (tested on the encoder task).
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public static func defaultTolerance<T: BinaryFloatingPoint>(for _: T.Type, units: Int) -> Double {
    let epsilon = Double(T.ulpOfOne)
    let floor = epsilon > 1e-10 ? 1e-6 : 1e-12
    return max(floor, 32 * Double(max(units, 1)).squareRoot() * epsilon)
  }

  /// Whether `residual` passes for a value whose ∞-norm is `scale`.
  @inline(__always)
  public func accepts(_ residual: Double, scale: Double) -> Bool {
    residual <= tolerance * max(1, scale)
  }
}

/// Per-pattern outcome of a batched solve.
public struct SolveDiagnostics: Equatable, Sendable {
  /// Iterations, summed over every stage the pattern went through.
  public var iterations: [Int]
  /// The residual, ∞-norm, of the last iterate the solver measured:
  /// ‖f(Wx+a) − x‖ forward, ‖s − d ⊙ (s·W + g)‖ adjoint. Residual has this
  /// one meaning in every solver; what differs is which iterate it was
  /// measured at. A pass method (iterate, anderson, block passes) measures
  /// the iterate x it passes over, and returns that pass's image
  /// f(Wx+a) (one step closer to the solution); Newton, GMRES, direct
  /// and a pass method's unconverged rows return the iterate measured.
  public var residuals: [Double]
  /// How each pattern's solve ended.
  public var status: [SolveStatus]
  /// How many fallback stages the pattern needed (0: the first method
  /// succeeded), for the `auto` solvers.
  public var fallbacks: [Int]
  /// Forward solves (`steadyStatesAndSlopes`): ρ(D W) at the state found, a power-iteration
  /// estimate, or an upper bound where that bound alone proves the state
  /// stable (see `spectralRadii`); NaN where not computed.
  public var spectralRadius: [Double]
  /// Forward solves (`steadyStatesAndSlopes`): the spectral abscissa α(D W) at the state
  /// found (the largest real part of its eigenvalues), or an upper bound
  /// on it (ρ's bound or estimate) where that is below 1; the state is
  /// stable when it is below 1. NaN where not computed.
  public var abscissa: [Double]
  /// The damping ω the relaxation ended with (1: none); the iterated
  /// adjoint of the pattern uses the same.
  public var damping: [Double]

  /// Diagnostics of `count` patterns, none solved yet.
  public init(count: Int) {
    iterations = [Int](repeating: 0, count: count)
    residuals = [Double](repeating: .infinity, count: count)
    status = [SolveStatus](repeating: .notConverged, count: count)
    fallbacks = [Int](repeating: 0, count: count)
    spectralRadius = [Double](repeating: .nan, count: count)
    abscissa = [Double](repeating: .nan, count: count)
    damping = [Double](repeating: 1, count: count)
  }

  /// The number of patterns.
  public var count: Int { status.count }

  /// Row r of `self` becomes row `rows[r]`'s outcome in `into`, with
  /// iterations added to what `into` had (for a later stage over a subset).
  func merge(into other: inout SolveDiagnostics, rows: [Int], stage: Int) {
    for (r, p) in rows.enumerated() {
      other.iterations[p] += iterations[r]
      other.residuals[p] = residuals[r]
      other.status[p] = status[r]
      other.fallbacks[p] = stage
      other.spectralRadius[p] = spectralRadius[r]
      other.abscissa[p] = abscissa[r]
      other.damping[p] = damping[r]
    }
  }

  /// Rows `rows` of `source` as rows 0, 1, … of `into`.
  static func pick(_ source: SolveDiagnostics, rows: [Int], into out: inout SolveDiagnostics) {
    for (r, p) in rows.enumerated() {
      out.iterations[r] = source.iterations[p]
      out.residuals[r] = source.residuals[p]
      out.status[r] = source.status[p]
      out.fallbacks[r] = source.fallbacks[p]
      out.spectralRadius[r] = source.spectralRadius[p]
      out.abscissa[r] = source.abscissa[p]
      out.damping[r] = source.damping[p]
    }
  }

  /// Whether each pattern converged.
  public var converged: [Bool] { status.map { $0 == .converged } }
  /// The rows whose solve ended in a (stable) converged state.
  public var settledRows: [Int] { status.indices.filter { status[$0] == .converged } }
  /// Whether every pattern converged.
  public var allConverged: Bool { status.allSatisfy { $0 == .converged } }

  /// Throws the error of the first pattern that did not converge, naming
  /// the solver, the pattern, its iterations and residual.
  public func check(solver: String, tolerance: Double, patternOffset: Int = 0) throws {
    guard let p = status.firstIndex(where: { $0 != .converged }) else { return }
    switch status[p] {
    case .nonFinite:
      throw RBPError.nonFinite(solver: solver, pattern: p + patternOffset, iterations: iterations[p])
    case .singular:
      throw RBPError.singular(what: "the linear system of \(solver)", pattern: p + patternOffset)
    case .unstable:
      throw RBPError.unstable(solver: solver, pattern: p + patternOffset, abscissa: abscissa[p])
    default:
      throw RBPError.notConverged(
        solver: solver, pattern: p + patternOffset, iterations: iterations[p],
        residual: residuals[p], tolerance: tolerance)
    }
  }
}

/// Whether every element of `m` is ±0 (a start from which the first
/// pass's product is `productOfZeros`), in one vectorised pass: max |x|
/// of `maxDifference(x, x)` is 0, and x − x is not NaN.
func isAllZero<T: KernelScalar>(_ m: Matrix<T>) -> Bool {
  m.withPointer { p in
    let (difference, scale) = maxDifference(p, p, count: m.rows * m.cols)
    return scale == 0 && difference == 0
  }
}

/// The product 0·B of a zero row with B = W (`transposed` false) or Wᵀ
/// (N×N, row-major at `base`) as a GEMM computes it: +0 in every column, NaN in a column of B
/// that holds a non-finite weight (0·∞ and 0·NaN are NaN). A pass from a
/// zero state takes its first product from here instead of a GEMM: the
/// same values, and the same bits wherever they are finite.
func productOfZeros<T: KernelScalar>(_ base: UnsafePointer<T>, units n: Int, transposed: Bool) -> [T] {
  var out = [T](repeating: 0, count: n)
  // Every weight finite (x − x is 0 for all of them, one vector pass):
  // +0 everywhere. Otherwise, column by column.
  if maxDifference(base, base, count: n &* n).difference == 0 { return out }
  out.withUnsafeMutableBufferPointer { op in
    let o = op.baseAddress!
    for i in 0..<n {
      let row = base + i &* n
      if transposed {
        // Column i of Wᵀ is row i of W: x − x is 0 for every finite x.
        if !(maxDifference(row, row, count: n).difference == 0) { o[i] = .nan }
      } else {
        for j in 0..<n { o[j] += 0 * row[j] }  // row i of W reaches every column
      }
    }
  }
  return out
}
