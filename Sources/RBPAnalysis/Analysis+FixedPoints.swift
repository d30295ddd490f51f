// The distinct steady states of each pattern of a steady network and their
// stability (SPEC §1.1): random starts searched by `findFixedPoints`, plus
// the network's own state of the pattern, reached by relaxation from its
// initial state, marked `reached`. Computed in f64.

import RBPCore
import RBPKernels
import RBPStore
import RBPTrain

/// Every fixed point found, one row each, in the layout of the
/// `rbp-fixed-points` file.
public struct FixedPointsResult: Sendable {
  /// (K, N)
  public var states: [Double] = []
  /// The pattern each point belongs to, K.
  public var pattern: [Int] = []
  /// ρ(D W) at each point, K.
  public var spectralRadius: [Double] = []
  /// α(D W) at each point (or an upper bound), K.
  public var abscissa: [Double] = []
  /// Whether each point is an attractor (α(D W) < 1), K.
  public var stable: [Bool] = []
  /// ‖f(W x + a) − x‖∞ at each point, K.
  public var residual: [Double] = []
  /// How many of the random starts reached each point.
  public var hits: [Int] = []
  /// Whether the point is the pattern's own state (relaxation from its
  /// initial state).
  public var reached: [Bool] = []
  /// Solves that did not converge, over all patterns.
  public var failedSolves = 0
  /// Patterns whose relaxation from the initial state reaches no attractor.
  public var unsettled: [Int] = []
  /// Per pattern: points found, how many stable, failed solves, and why
  /// its own state was not found (empty if it was).
  public var perPattern: [(points: Int, stable: Int, failedSolves: Int, note: String)] = []
}

extension Analysis {
  /// The fixed points of each pattern of `batch`, from `starts` random
  /// starts each (random generator seeded by `seed`); states closer than
  /// `distinct` (∞-norm) are one.
  public func fixedPoints(
    _ batch: SteadyBatch<Double>, starts: Int, distinct: Double, seed: UInt64
  ) throws
    -> FixedPointsResult
  {
    guard starts >= 1 else { throw RBPError.invalid("starts must be at least 1, got \(starts)") }
    guard distinct > 0 && distinct.isFinite else {
      throw RBPError.invalid("distinct must be a positive finite distance, got \(distinct)")
    }
    let net = try checkpoint.steadyNetwork(Double.self)
    var rng = SeededGenerator(seed: seed)
    // The network's own state of each pattern: relaxation from its initial
    // state (SPEC §1.1), one by one so that a pattern without one is reported.
    let workspace = KernelWorkspace<Double>()
    let drives = net.drives(batch.inputs, workspace: workspace)
    let norm = net.spectralNorm()  // ‖W‖₂ once, for every pattern's solve
    var result = FixedPointsResult()
    for p in 0..<batch.count {
      var found = try net.findFixedPoints(input: batch.inputs.row(p), starts: starts, distinct: distinct, using: &rng)
      let start = batch.initial?.rows([p]) ?? Matrix(rows: 1, cols: net.shape.units)
      var own: [Double]? = nil
      var note = ""
      do {
        let settled = try net.steadyStatesAndSlopes(
          drives: drives.rows([p]), from: start, method: plan.steady.forward,
          options: plan.steady.forwardOptions(for: Double.self, units: net.shape.units),
          norm: norm, workspace: workspace)
        let state = settled.states.row(0)
        if !found.points.contains(where: { maxDistance($0.state, state) < distinct }) {
          let d = settled.slopes.row(0)
          found.points.append(
            FixedPoint(
              state: state, residual: settled.diagnostics.residuals[0],
              spectralRadius: net.spectralRadius(slopes: d, using: &rng),
              abscissa: net.abscissa(slopes: d, using: &rng), hits: 0))
        }
        own = state
      } catch let error as RBPError {
        note = "relaxation from the initial state reaches no attractor (\(error))"
      }
      for point in found.points {
        result.states += point.state
        result.pattern.append(p)
        result.spectralRadius.append(point.spectralRadius)
        result.abscissa.append(point.abscissa)
        result.stable.append(point.stable)
        result.residual.append(point.residual)
        result.hits.append(point.hits)
        result.reached.append(own.map { maxDistance(point.state, $0) < distinct } == true)
      }
      result.perPattern.append((found.points.count, found.points.filter(\.stable).count, found.failedSolves, note))
      result.failedSolves += found.failedSolves
      if own == nil { result.unsettled.append(p) }
    }
    return result
  }
}
