// The errors the core throws for conditions that come from outside the code:
// a solver that does not converge or blows up, a state outside an inverse's
// domain, inconsistent shapes in user data. Each message names the pattern,
// unit, value, iteration count or residual involved.

import RBPKernels

/// An error from the mathematics: every case carries what a user needs to
/// see what went wrong and where.
public enum RBPError: Error, Equatable, CustomStringConvertible {
  /// A forward or adjoint solve stopped at its iteration limit.
  case notConverged(solver: String, pattern: Int, iterations: Int, residual: Double, tolerance: Double)
  /// A forward solve converged to a fixed point where D W has an
  /// eigenvalue of real part ≥ 1, which is not the network's steady state
  /// (SPEC §1.1).
  case unstable(solver: String, pattern: Int, abscissa: Double)
  /// A solve produced NaN or infinity.
  case nonFinite(solver: String, pattern: Int, iterations: Int)
  /// A state outside the domain of the activation's inverse.
  case outsideDomain(activation: Activation, pattern: Int, unit: Int, value: Double)
  /// A trajectory state outside the domain of the activation's inverse.
  case outsideDomainInTime(activation: Activation, sequence: Int, step: Int, unit: Int, value: Double)
  /// The activation has no inverse (relu).
  case noInverse(activation: Activation)
  /// A dense linear system (Newton step, direct adjoint) is singular.
  case singular(what: String, pattern: Int)
  /// Shapes or values that do not fit together.
  case invalid(String)

  public var description: String {
    switch self {
    case let .notConverged(solver, pattern, iterations, residual, tolerance):
      return "\(solver) did not converge for pattern \(pattern): residual \(residual) after "
        + "\(iterations) iterations (tolerance \(tolerance))"
    case let .unstable(solver, pattern, abscissa):
      return "\(solver) found only an unstable fixed point for pattern \(pattern): D W has an eigenvalue "
        + "of real part \(abscissa) >= 1, so it is not an attractor the network settles in"
    case let .nonFinite(solver, pattern, iterations):
      return "\(solver) produced a non-finite value for pattern \(pattern) at iteration \(iterations)"
    case let .outsideDomain(activation, pattern, unit, value):
      return "state \(value) of unit \(unit) in pattern \(pattern) is outside the domain of the "
        + "inverse of \(activation) \(activation.inverseDomainDescription)"
    case let .outsideDomainInTime(activation, sequence, step, unit, value):
      return "state \(value) of unit \(unit) at step \(step) of sequence \(sequence) is outside the "
        + "domain of the inverse of \(activation) \(activation.inverseDomainDescription)"
    case let .noInverse(activation):
      return "activation \(activation) has no inverse"
    case let .singular(what, pattern):
      return "\(what) is singular for pattern \(pattern)"
    case let .invalid(message):
      return message
    }
  }
}
