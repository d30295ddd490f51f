// The losses of a state's output units against targets, with a mask, and
// their gradients with respect to the state: the g = ∂L/∂x that drives
// every adjoint. Outputs are the last O units of the state.
//
//   mse: ℓ = ½ Σ_k m_k (x_k − y_k)²                         ∂ℓ/∂x_k = m_k (x_k − y_k)
//   bce: ℓ = −Σ_k m_k [y_k log x_k + (1−y_k) log(1−x_k)]   ∂ℓ/∂x_k = m_k (x_k − y_k) / (x_k (1 − x_k))
//
// Legend: N = units, O = outputs (the last O of the N); targets and masks
// have O columns, states and gradients N.

import RBPKernels

/// A loss over the output units.
public enum Loss: String, CaseIterable, Sendable, Codable {
  /// Half the squared error, ½ Σ_k m_k (x_k − y_k)².
  case mse
  /// Binary cross-entropy, for logistic outputs and 0/1 targets.
  case bce

  /// ℓ(x, y, m) summed over `count` outputs; `mask` nil means all ones.
  /// BCE of an output at exactly 0 or 1 against the opposite target is
  /// infinite, as the formula says.
  @inlinable
  public func value<T: KernelScalar>(
    _ x: UnsafePointer<T>, _ y: UnsafePointer<T>, mask: UnsafePointer<T>?, count: Int
  ) -> Double {
    var total = 0.0
    if mask == nil && self == .mse {
      // The common case without the per-element mask and switch, in eight
      // running sums added in a fixed order (see `meanSquared`).
      return meanSquared(x, y, count: count)
    }
    for k in 0..<count {
      let m = mask.map { Double($0[k]) } ?? 1
      if m == 0 { continue }
      let xk = Double(x[k]), yk = Double(y[k])
      switch self {
      case .mse:
        total += 0.5 * m * (xk - yk) * (xk - yk)
      case .bce:
        var term = 0.0
        if yk != 0 { term += yk * Double._log(xk) }
        if yk != 1 { term += (1 - yk) * Double._log(1 - xk) }
        total -= m * term
      }
    }
    return total
  }

  /// Adds `scale · ∂ℓ/∂x` into `g` (length `count`, the output units).
  @inlinable
  public func addGradient<T: KernelScalar>(
    _ x: UnsafePointer<T>, _ y: UnsafePointer<T>, mask: UnsafePointer<T>?, count: Int,
    scale: T, into g: UnsafeMutablePointer<T>
  ) {
    if mask == nil && self == .mse && scale == 1 {
      for k in 0..<count { g[k] += x[k] - y[k] }  // vectorises; the same bits as below
      return
    }
    for k in 0..<count {
      let m = mask?[k] ?? 1
      if m == 0 { continue }
      switch self {
      case .mse:
        g[k] += scale * m * (x[k] - y[k])
      case .bce:
        g[k] += scale * m * (x[k] - y[k]) / (x[k] * (1 - x[k]))
      }
    }
  }
}
