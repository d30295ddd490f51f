// Stability of steady states (SPEC §1.1): a fixed point is the network's
// state when it is an attractor of dx/dt = −x + f(W x + a), that is when
// every eigenvalue of D W has real part < 1 (the spectral abscissa
// α(D W) < 1), where D = diag f'(W x + a). ρ(D W) < 1 (the condition for
// the undamped iteration x ← f(W x + a)) implies it and is cheaper.
//
// Three steps, cheapest first:
//   bound     ρ(D W) ≤ ‖D W‖₂ ≤ max_i d_i · ‖W‖₂, with ‖W‖₂ from Lanczos
//             steps on WᵀW (once per batch, O(N²) per step) and a safety
//             margin; a pattern whose bound is below 1 is stable.
//   estimate  for the other patterns, batched power iteration on D W:
//             V ← D ⊙ (V Wᵀ), one GEMM per step for all of them, and the
//             mean growth rate over the last half of the steps (robust to a
//             complex dominant pair); below 1, the pattern is stable.
//   decide    for the patterns left, the rightmost eigenvalue itself: every
//             eigenvalue of the dense D W (Hessenberg QR, Eigenvalues.swift)
//             for N ≤ `denseAbscissaLimit`; for a symmetric W the largest
//             eigenvalue of D^½ W D^½ (similar to D W) by Lanczos. Above the
//             limit a general W keeps the estimate of ρ, which can only
//             reject an attractor, never accept a saddle.
//
// Legend: P = patterns, N = units; D and V are P×N.

import Foundation
import RBPKernels

/// Power-iteration steps of the per-pattern estimate (the growth rate is
/// averaged over the last half).
let stabilitySteps = 24
/// Factor on the Lanczos estimate of ‖W‖₂, which approaches the norm from
/// below.
let normSafetyMargin = 1.1
/// The most units for which the rightmost eigenvalue of a general D W is
/// computed densely (about 13 N³ flops per pattern).
public let denseAbscissaLimit = 1024
/// Lanczos steps for the largest eigenvalue of a symmetric D^½ W D^½ (all
/// N of them below this).
let symmetricLanczosSteps = 64

/// The stability of each pattern's state: ρ(D W) (a bound, an estimate or
/// NaN where not needed) and the spectral abscissa α(D W) or an upper
/// bound on it; a state is stable when `abscissa < 1`.
public struct StabilityMeasures: Sendable {
  /// ρ(D W) per pattern: a bound, an estimate, or NaN where not needed.
  public var radius: [Double]
  /// α(D W) per pattern, or an upper bound on it.
  public var abscissa: [Double]
}

extension SteadyNetwork {
  /// ‖W‖₂ estimated by the Lanczos method on WᵀW from a fixed start (so
  /// the result is reproducible): the square root of the largest Ritz value
  /// after `iterations` steps, each one pass over W (`gramVector`) and a
  /// full reorthogonalisation in Double. Like the power iteration it
  /// replaces, it approaches the norm from below, but faster: on random
  /// 256×256 W, 8 steps gave 0.990 of the norm on average and 0.977 at
  /// worst (six seeds, a numpy trial), 16 power steps 0.983 and 0.970. ∞ whenever a weight is not finite: the first pass
  /// multiplies every weight by a nonzero element of the start, so its
  /// result is not finite either (the block passes rely on this).
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func spectralNorm(iterations: Int = 8) -> Double {
    let n = shape.units
    let steps = min(iterations, n)
    guard steps > 0 else { return 0 }
    // The Lanczos vectors one after another, then the residual r, then the
    // current vector in T and its image Wᵀ W v.
    var work = [Double](repeating: 0, count: (steps + 1) * n)
    var vt = [T](repeating: 0, count: 2 * n)
    var alphas: [Double] = [], betas: [Double] = []
    var finite = true
    parameters.withWeights { weights in
      work.withUnsafeMutableBufferPointer { wb in
        vt.withUnsafeMutableBufferPointer { tb in
          let (q, rp) = (wb.baseAddress!, wb.baseAddress! + steps &* n)
          let (vp, image) = (tb.baseAddress!, tb.baseAddress! + n)
          for j in 0..<n { q[j] = 1 + 0.5 * sin(Double(j) * 1.7) }
          let startNorm = dot(q, q, count: n).squareRoot()
          for j in 0..<n { q[j] /= startNorm }
          for step in 0..<steps {
            let qs = q + step &* n
            for j in 0..<n { vp[j] = T(qs[j]) }
            _ = gramVector(m: n, n: n, a: weights, lda: n, v: vp, into: image)  // Wᵀ W v
            for j in 0..<n { rp[j] = Double(image[j]) }
            let alpha = dot(rp, qs, count: n)
            alphas.append(alpha)
            // Against every vector so far (full reorthogonalisation), so that
            // rounding does not bring back the directions already found.
            for i in 0...step {
              let u = q + i &* n
              let c = dot(rp, u, count: n)
              for j in 0..<n { rp[j] -= c * u[j] }
            }
            let beta = dot(rp, rp, count: n).squareRoot()
            guard alpha.isFinite && beta.isFinite else {
              finite = false
              return
            }
            // An invariant subspace: the Ritz values are eigenvalues.
            if beta <= 1e-12 * abs(alpha) || beta == 0 || step == steps - 1 { return }
            betas.append(beta)
            let next = q + (step &+ 1) &* n
            for j in 0..<n { next[j] = rp[j] / beta }
          }
        }
      }
    }
    guard finite else { return .infinity }
    let largest = largestEigenvalue(diagonal: alphas, offDiagonal: Array(betas.prefix(alphas.count - 1)))
    return max(largest, 0).squareRoot()
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
  ///   - workspace: packing buffers and the kernels.
  /// - Returns: P values.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func spectralRadii(
    slopes d: Matrix<T>, certifyBelow: Double = 1, norm: Double? = nil, workspace: KernelWorkspace<T>
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

  /// ρ(D_p W) and α(D_p W) for every pattern (see the top of this file).
  /// Where a bound or an estimate of ρ is below 1, it stands for both
  /// (α ≤ ρ); elsewhere α is computed.
  ///
  /// - Parameters:
  ///   - d: slopes D, P×N.
  ///   - certifyBelow: at most 1; ρ is estimated wherever the bound is not
  ///     below it (the stabiliser passes its threshold, so that it acts on
  ///     estimates, not on loose bounds).
  ///   - norm: `spectralNorm()`, when the caller has it.
  ///   - symmetric: W = Wᵀ (the real spectrum by Lanczos).
  ///   - workspace: packing buffers and the kernels.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func stability(
    slopes d: Matrix<T>, certifyBelow: Double = 1, norm: Double? = nil, symmetric: Bool = false,
    workspace: KernelWorkspace<T>
  ) -> StabilityMeasures {
    let radius = spectralRadii(slopes: d, certifyBelow: certifyBelow, norm: norm, workspace: workspace)
    var abscissa = radius
    for p in 0..<d.rows where !(radius[p] < 1) {
      if radius[p].isNaN { continue }
      if symmetric {
        abscissa[p] = symmetricAbscissa(slopes: d.row(p))
      } else if shape.units <= denseAbscissaLimit {
        abscissa[p] = denseAbscissa(slopes: d.row(p))
      }
    }
    return StabilityMeasures(radius: radius, abscissa: abscissa)
  }

  /// α(D W) of one pattern from every eigenvalue of the dense D W.
  public func denseAbscissa(slopes d: [T]) -> Double {
    let n = shape.units
    var dw = [Double](repeating: 0, count: n * n)
    parameters.withWeights { w in
      for i in 0..<n {
        let di = Double(d[i])
        for j in 0..<n { dw[i * n + j] = di * Double(w[i * n + j]) }
      }
    }
    return spectralAbscissa(dw, n: n)
  }

  /// The largest eigenvalue of D^½ W D^½ for a symmetric W (similar to
  /// D W when every d_i > 0, and with the same spectrum's sign pattern
  /// otherwise), by Lanczos with full reorthogonalisation: exact (to
  /// rounding) when N ≤ `symmetricLanczosSteps`, the largest Ritz value
  /// after that many steps otherwise.
  public func symmetricAbscissa(slopes d: [T]) -> Double {
    let n = shape.units
    let w = parameters.W.elements
    let root = d.map { Double($0).magnitude.squareRoot() }
    guard root.allSatisfy({ $0.isFinite }) else { return .infinity }
    let steps = min(n, symmetricLanczosSteps)
    var q = [[Double]]()
    var start = (0..<n).map { 1 + 0.5 * sin(Double($0) * 1.7) }
    let startNorm = start.reduce(0) { $0 + $1 * $1 }.squareRoot()
    start = start.map { $0 / startNorm }
    q.append(start)
    var alphas: [Double] = [], betas: [Double] = []
    for step in 0..<steps {
      let v = q[step]
      // r = D^½ W D^½ v
      let scaled = (0..<n).map { root[$0] * v[$0] }
      var r = [Double](repeating: 0, count: n)
      for i in 0..<n {
        var sum = 0.0
        for j in 0..<n { sum += Double(w[i * n + j]) * scaled[j] }
        r[i] = root[i] * sum
      }
      let alpha = zip(r, v).reduce(0) { $0 + $1.0 * $1.1 }
      alphas.append(alpha)
      for u in q {
        let c = zip(r, u).reduce(0) { $0 + $1.0 * $1.1 }
        for j in 0..<n { r[j] -= c * u[j] }
      }
      let beta = r.reduce(0) { $0 + $1 * $1 }.squareRoot()
      guard alpha.isFinite && beta.isFinite else { return .infinity }
      if beta <= 1e-13 * max(abs(alpha), 1) || step == steps - 1 { break }
      betas.append(beta)
      q.append(r.map { $0 / beta })
    }
    return largestEigenvalue(diagonal: alphas, offDiagonal: Array(betas.prefix(alphas.count - 1)))
  }

  /// The batched power iteration V ← D ⊙ (V Wᵀ) from a fixed start: the
  /// mean growth rate over the last half of the steps; 0 where V dies out
  /// (nilpotent D W), ∞ where it overflows.
  func powerIterationRadii(slopes d: Matrix<T>, workspace: KernelWorkspace<T>) -> [Double] {
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
          for i in 0..<n {
            let x = Double(row[i])
            sum += x * x
          }
          let norm = sum.squareRoot()
          if norm == 0 {
            radius[p] = 0
            continue
          }
          if !norm.isFinite {
            radius[p] = .infinity
            continue
          }
          if step > measured { logGrowth[p] += log(norm) }
          let inverse = T(1 / norm)
          for i in 0..<n { row[i] *= inverse }
        }
      }
      if step == stabilitySteps { break }
      // ... then V ← D ⊙ (V Wᵀ).
      v.withPointer { vp in
        wt.withPointer { wp in
          d.withPointer { dp in
            next.withMutablePointer { np in
              gemm(
                m: count, n: n, k: n, a: vp, lda: n, b: wp, ldb: n, beta: 0, c: np, ldc: n, threads: threads,
                workspace: workspace)
              adjointStep(slope: dp, np, plus: nil, into: np, count: count * n)
            }
          }
        }
      }
      swap(&v, &next)
    }
    return (0..<count).map { radius[$0] ?? exp(logGrowth[$0] / Double(stabilitySteps - measured)) }
  }
}

/// Σ_j a_j b_j, element j into running sum j mod 4 (independent chains),
/// added in a fixed order at the end.
private func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, count: Int) -> Double {
  var (s0, s1, s2, s3) = (0.0, 0.0, 0.0, 0.0)
  var j = 0
  while j &+ 4 <= count {
    s0 += a[j] * b[j]
    s1 += a[j &+ 1] * b[j &+ 1]
    s2 += a[j &+ 2] * b[j &+ 2]
    s3 += a[j &+ 3] * b[j &+ 3]
    j &+= 4
  }
  while j < count {
    s0 += a[j] * b[j]
    j &+= 1
  }
  return (s0 + s2) + (s1 + s3)
}

/// The largest eigenvalue of the symmetric tridiagonal matrix with this
/// diagonal and off-diagonal, by bisection on the Sturm count (how many
/// eigenvalues lie below a shift: the negative pivots of T − shift·I)
/// inside the Gershgorin interval, to the last bits of a Double.
func largestEigenvalue(diagonal a: [Double], offDiagonal b: [Double]) -> Double {
  let k = a.count
  guard k > 0 else { return 0 }
  var lo = Double.infinity, hi = -Double.infinity
  for i in 0..<k {
    let radius = (i > 0 ? abs(b[i - 1]) : 0) + (i < k - 1 ? abs(b[i]) : 0)
    lo = min(lo, a[i] - radius)
    hi = max(hi, a[i] + radius)
  }
  func countBelow(_ shift: Double) -> Int {
    var count = 0
    var pivot = 1.0
    for i in 0..<k {
      pivot = a[i] - shift - (i > 0 ? b[i - 1] * b[i - 1] / pivot : 0)
      if pivot == 0 { pivot = -Double.ulpOfOne * max(abs(a[i]), 1) }
      if pivot < 0 { count += 1 }
    }
    return count
  }
  // The largest eigenvalue is the smallest shift with all k below it.
  for _ in 0..<200 {
    let mid = lo + (hi - lo) / 2
    if mid <= lo || mid >= hi { break }
    if countBelow(mid) == k { hi = mid } else { lo = mid }
  }
  return hi
}
