// Searching for the distinct steady states of one pattern. From each
// starting state (random ones in the activation's range, and any given
// ones) two solves run: Newton's method straight from the start, which
// finds unstable states too, and the plain iteration followed by a Newton
// polish, which follows the network's own dynamics to an attractor.
// Converged results are deduplicated within a tolerance and classified by
// the rule of SPEC §1.1: stable (an attractor of dx/dt = −x + f(Wx + a))
// when every eigenvalue of D W has real part below 1.
//
// Legend: N = units; one pattern's drive and each state are N-vectors.

import Foundation
import RBPKernels

/// One steady state found by `findFixedPoints`.
public struct FixedPoint<T: KernelScalar>: Equatable, Sendable {
  /// A fixed point with its residual, ρ(D W), α(D W) and the number of starts that reached it.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init(state: [T], residual: Double, spectralRadius: Double, abscissa: Double, hits: Int) {
    self.state = state
    self.residual = residual
    self.spectralRadius = spectralRadius
    self.abscissa = abscissa
    self.hits = hits
  }

  /// The state x, N.
  public var state: [T]
  /// ‖f(Wx + a) − x‖∞.
  public var residual: Double
  /// Spectral radius of D W at x, estimated by power iteration.
  public var spectralRadius: Double
  /// The largest real part of the eigenvalues of D W at x (α(D W)).
  public var abscissa: Double
  /// α(D W) < 1: an attractor of the network's dynamics (SPEC §1.1).
  public var stable: Bool { abscissa < 1 }
  /// How many starts converged to this state.
  public var hits: Int
}

/// What a search found, and how many starts led nowhere.
public struct FixedPointSearch<T: KernelScalar>: Sendable {
  /// The distinct fixed points found, each once.
  public var points: [FixedPoint<T>]
  /// Solves that did not converge (two per start: Newton from the start,
  /// and iteration polished by Newton).
  public var failedSolves: Int
}

extension SteadyNetwork {
  /// Distinct steady states of the pattern with input `u` (I).
  ///
  /// - Parameters:
  ///   - u: the pattern's input, I values.
  ///   - starts: random starting states, uniform in the activation's range.
  ///   - given: more starting states (each N), tried first.
  ///   - distinct: two states closer than this (∞-norm) are the same.
  ///   - options: Newton's tolerance and iteration limit per start.
  ///   - rng: draws the random starts.
  public func findFixedPoints<G: RandomNumberGenerator>(
    input u: [T], starts: Int, given: [[T]] = [], distinct: Double = 1e-4,
    options: SolverOptions = SolverOptions(tolerance: 1e-10, maxIterations: 100),
    using rng: inout G
  ) throws -> FixedPointSearch<T> {
    let n = shape.units
    guard u.count == shape.inputs else {
      throw RBPError.invalid("input has \(u.count) values, the network has \(shape.inputs) inputs")
    }
    guard starts >= 0 else { throw RBPError.invalid("starts must be >= 0, got \(starts)") }
    for (k, s) in given.enumerated() where s.count != n {
      throw RBPError.invalid("given start \(k) has \(s.count) values, the network has \(n) units")
    }
    let workspace = KernelWorkspace<T>()
    let (lower, upper) = activation.range
    var initial = given
    for _ in 0..<starts {
      initial.append((0..<n).map { _ in T(Double.random(in: lower...upper, using: &rng)) })
    }
    guard !initial.isEmpty else { return FixedPointSearch(points: [], failedSolves: 0) }
    let k = initial.count
    let inputs = Matrix(rows: 2 * k, cols: u.count, elements: Array(repeating: u, count: 2 * k).flatMap { $0 })
    let a = drives(inputs, workspace: workspace)
    let aHalf = Matrix(rows: k, cols: n, elements: Array(a.elements[0..<k * n]))
    // Relaxation that lowers its damping when it grows or oscillates, as
    // the network's own dynamics settle.
    let relaxed = relaxByPasses(
      drives: aHalf, start: Matrix(initial),
      options: SolverOptions(tolerance: options.tolerance, maxIterations: 1000),
      workspace: workspace, mixer: AdaptiveDampedMixer(patterns: k)
    ).states
    let starts = Matrix(rows: 2 * k, cols: n, elements: initial.flatMap { $0 } + relaxed.elements)
    let (x, diagnostics) = uncheckedFixedPoints(
      drives: a, from: starts, method: .newton, options: options, workspace: workspace)
    let d = slopes(states: x, drives: a, workspace: workspace)

    var points: [FixedPoint<T>] = []
    var failed = 0
    for p in 0..<2 * k {
      guard diagnostics.status[p] == .converged else {
        failed += 1
        continue
      }
      let state = x.row(p)
      if let k = points.firstIndex(where: { maxDistance($0.state, state) < distinct }) {
        points[k].hits += 1
        continue
      }
      points.append(
        FixedPoint(
          state: state, residual: diagnostics.residuals[p],
          spectralRadius: spectralRadius(slopes: d.row(p), using: &rng),
          abscissa: abscissa(slopes: d.row(p), using: &rng), hits: 1))
    }
    return FixedPointSearch(points: points, failedSolves: failed)
  }

  /// α(D W), the largest real part of its eigenvalues: by Lanczos for a
  /// symmetric W, densely up to `denseAbscissaLimit` units, else the power
  /// iteration's ρ (an upper bound).
  public func abscissa<G: RandomNumberGenerator>(slopes d: [T], using rng: inout G) -> Double {
    if symmetric { return symmetricAbscissa(slopes: d) }
    if shape.units <= denseAbscissaLimit { return denseAbscissa(slopes: d) }
    return spectralRadius(slopes: d, using: &rng)
  }

  /// ρ(D W) by power iteration: the mean growth rate of ‖(DW)^k v‖ over
  /// iterations 100…400 from a random v (robust to a complex dominant pair).
  public func spectralRadius<G: RandomNumberGenerator>(slopes d: [T], using rng: inout G) -> Double {
    let n = shape.units
    let w = parameters.W.elements.map(Double.init)
    let dd = d.map(Double.init)
    var v = (0..<n).map { _ in gaussian(&rng) }
    var logGrowth = 0.0
    let (burnIn, total) = (100, 400)
    for k in 0..<total {
      var next = [Double](repeating: 0, count: n)
      for i in 0..<n {
        var sum = 0.0
        for j in 0..<n { sum += w[i * n + j] * v[j] }
        next[i] = dd[i] * sum
      }
      let norm = next.reduce(0) { $0 + $1 * $1 }.squareRoot()
      if norm == 0 { return 0 }
      if k >= burnIn { logGrowth += log(norm) }
      v = next.map { $0 / norm }
    }
    return exp(logGrowth / Double(total - burnIn))
  }
}

/// The largest |a_i − b_i|, in Double.
@_specialize(exported:true,where T == Float)
@_specialize(exported:true,where T == Double)
public func maxDistance<T: KernelScalar>(_ a: [T], _ b: [T]) -> Double {
  zip(a, b).reduce(0) { max($0, abs(Double($1.0) - Double($1.1))) }
}
