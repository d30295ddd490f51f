// Stability of steady states: the spectral radius ρ(D W) at each pattern's
// fixed point, where D = diag f'(W x + a). A fixed point is stable, an
// attractor of x ← f(W x + a), and the iterated adjoint converges there,
// exactly when ρ(D W) < 1 (SPEC §1.1).
//
// Two steps, cheapest first:
//   bound     ρ(D W) ≤ ‖D W‖₂ ≤ max_i d_i · ‖W‖₂, with ‖W‖₂ from a power
//             iteration on WᵀW (once per batch, O(N²) per iteration) and a
//             safety margin; a pattern whose bound is below 1 is stable.
//   estimate  for the other patterns, batched power iteration on D W:
//             V ← D ⊙ (V Wᵀ), one GEMM per step for all of them, and the
//             mean growth rate over the last half of the steps (robust to a
//             complex dominant pair).
//
// Legend: P = patterns, N = units; D and V are P×N.

import Foundation
import RBPKernels

/// Power-iteration steps of the per-pattern estimate (the growth rate is
/// averaged over the last half).
let stabilitySteps = 24
/// Factor on the power-iteration estimate of ‖W‖₂, which approaches the
/// norm from below.
let normSafetyMargin = 1.1

extension SteadyNetwork {
  /// ‖W‖₂ estimated by power iteration on WᵀW from a fixed start (so the
  /// result is reproducible), one pass over W per iteration (`gramVector`).
  @_specialize(exported: true, where T == Float)
  @_specialize(exported: true, where T == Double)
  public func spectralNorm(iterations: Int = 16) -> Double {
    let n = shape.units
    var v = (0..<n).map { T(1 + 0.5 * sin(Double($0) * 1.7)) }
    var wtwv = [T](repeating: 0, count: n)
    var sigma = 0.0
    parameters.withWeights { w in
      for _ in 0..<iterations {
        let norm = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        if norm == 0 || !norm.isFinite { sigma = norm == 0 ? 0 : .infinity; return }
        let inverse = T(1 / norm)
        for j in 0..<n { v[j] *= inverse }
        sigma = gramVector(m: n, n: n, a: w, lda: n, v: v, into: &wtwv).squareRoot()   // ‖W v‖, and Wᵀ W v
        swap(&v, &wtwv)
      }
    }
    return sigma
  }

  /// ρ(D_p W) for every pattern: an upper bound where it is below
  /// `certifyBelow` (proving the point stable, and further from the edge
  /// than that), else a power-iteration estimate.
  ///
  /// - Parameters:
  ///   - d: slopes D, P×N.
  ///   - norm: `spectralNorm()`, when the caller has it.
  ///   - certifyBelow: at most 1; the stabiliser passes its threshold, so
  ///     that it acts on estimates, not on loose bounds.
  /// - Returns: P values.
  @_specialize(exported: true, where T == Float)
  @_specialize(exported: true, where T == Double)
  public func spectralRadii(
    slopes d: Matrix<T>, certifyBelow: Double = 1, norm: Double? = nil, workspace: GEMMWorkspace<T>
  ) -> [Double] {
    let (count, n) = (d.rows, shape.units)
    guard count > 0 else { return [] }
    let norm = (norm ?? spectralNorm()) * normSafetyMargin
    // max_i |d_pi| per pattern (NaN when a slope is NaN, so never certified).
    var radii = d.withPointer { dp in
      (0..<count).map { p -> Double in
        let (difference, largest) = maxDifference(dp + p * n, dp + p * n, count: n)
        return difference.isNaN ? .nan : largest * norm
      }
    }
    let open = (0..<count).filter { !(radii[$0] < min(certifyBelow, 1)) }
    guard !open.isEmpty else { return radii }
    let estimates = powerIterationRadii(slopes: d.rows(open), workspace: workspace)
    for (r, p) in open.enumerated() { radii[p] = estimates[r] }
    return radii
  }

  /// The batched power iteration V ← D ⊙ (V Wᵀ) from a fixed start: the
  /// mean growth rate over the last half of the steps; 0 where V dies out
  /// (nilpotent D W), ∞ where it overflows.
  func powerIterationRadii(slopes d: Matrix<T>, workspace: GEMMWorkspace<T>) -> [Double] {
    let (count, n) = (d.rows, shape.units)
    let wt = parameters.W.transposed
    // The same start for every row, so that a pattern's estimate does not
    // depend on the batch it is in.
    let start = (0..<n).map { T(1 + 0.5 * sin(Double($0) * 1.7)) }
    var v = Matrix<T>(rows: count, cols: n, elements: Array((0..<count).map { _ in start }.joined()))
    var next = v
    var logGrowth = [Double](repeating: 0, count: count)
    var radius = [Double?](repeating: nil, count: count)
    let measured = stabilitySteps / 2
    for step in 0...stabilitySteps {
      // Normalise each row (its norm is the growth of the last step) ...
      v.withMutablePointer { vp in
        for p in 0..<count where radius[p] == nil {
          let row = vp + p * n
          var sum = 0.0
          for i in 0..<n { let x = Double(row[i]); sum += x * x }
          let norm = sum.squareRoot()
          if norm == 0 { radius[p] = 0; continue }
          if !norm.isFinite { radius[p] = .infinity; continue }
          if step > measured { logGrowth[p] += log(norm) }
          let inverse = T(1 / norm)
          for i in 0..<n { row[i] *= inverse }
        }
      }
      if step == stabilitySteps { break }
      // ... then V ← D ⊙ (V Wᵀ).
      v.withPointer { vp in wt.withPointer { wp in d.withPointer { dp in next.withMutablePointer { np in
        gemm(m: count, n: n, k: n, a: vp, lda: n, b: wp, ldb: n, beta: 0, c: np, ldc: n, workspace: workspace)
        adjointStep(slope: dp, np, plus: nil, into: np, count: count * n)
      }}}}
      swap(&v, &next)
    }
    return (0..<count).map { radius[$0] ?? exp(logGrowth[$0] / Double(stabilitySteps - measured)) }
  }
}
