// The inverse of each activation, f⁻¹, and the slope expressed through the
// state, for "input as a function of output". The forward functions f and f'
// live with the fused kernels in RBPKernels.
//
// | activation | f⁻¹(x)           | domain  |
// |------------|------------------|---------|
// | tanh       | atanh x          | (−1, 1) |
// | logistic   | log(x / (1 − x)) | (0, 1)  |
// | linear     | x                | all     |
// | relu       | none: an error   |         |

import RBPKernels

/// The inverse of each activation, for the drives of given states.
extension Activation {
  /// The open interval f⁻¹ is defined on, for messages.
  public var inverseDomainDescription: String {
    switch self {
    case .tanh: return "(-1, 1)"
    case .logistic: return "(0, 1)"
    case .linear: return "(-inf, inf)"
    case .relu: return "(none)"
    }
  }

  /// Whether `x` lies where f⁻¹ is defined.
  @inlinable
  public func inverseAccepts<T: KernelScalar>(_ x: T) -> Bool {
    switch self {
    case .tanh: return x > -1 && x < 1
    case .logistic: return x > 0 && x < 1
    case .linear: return x.isFinite
    case .relu: return false
    }
  }

  /// f⁻¹(x), for `x` inside the domain (check with `inverseAccepts`).
  @inlinable
  public func inverse<T: KernelScalar>(_ x: T) -> T {
    switch self {
    case .tanh: return T._log((1 + x) / (1 - x)) / 2
    case .logistic: return T._log(x / (1 - x))
    case .linear: return x
    case .relu: preconditionFailure("relu has no inverse")
    }
  }

  /// f'(f⁻¹(x)): the slope at the pre-activation that produces state x.
  @inlinable
  public func slope<T: KernelScalar>(atState x: T) -> T {
    switch self {
    case .tanh: return 1 - x * x
    case .logistic: return x * (1 - x)
    case .linear: return 1
    case .relu: return x > 0 ? 1 : 0
    }
  }

  /// f''(z) / f'(z) written in the value x = f(z): tanh −2x, logistic
  /// 1 − 2x, linear and relu 0 (relu's kink has no second derivative).
  public func curvatureRatio(value x: Double) -> Double {
    switch self {
    case .tanh: return -2 * x
    case .logistic: return 1 - 2 * x
    case .linear, .relu: return 0
    }
  }

  /// The largest slope f' can take: 1 for tanh, linear and relu, ¼ for
  /// the logistic.
  public var maxSlope: Double { self == .logistic ? 0.25 : 1 }

  /// The range f maps into, for drawing random states: (lower, upper).
  public var range: (lower: Double, upper: Double) {
    switch self {
    case .tanh: return (-1, 1)
    case .logistic: return (0, 1)
    case .linear: return (-1, 1)
    case .relu: return (0, 1)
    }
  }
}
