// Input as a function of output, in time: the drives that make a given
// trajectory the network's own,
//   a(t) = f⁻¹((x(t) − (1−α) x(t−1)) / α) − W x(t−1),   t = 1…T
// (with α = 1: a(t) = f⁻¹(x(t)) − W x(t−1)). Running the network forward
// with these drives reproduces the trajectory.
//
// Its Jacobian is block lower bidiagonal in time. With
// K(t) = diag 1/(α f'(z(t))), z(t) the pre-activation that gives x(t):
//   ∂a(t)/∂x(t)   = K(t)                      (the diagonal blocks)
//   ∂a(t)/∂x(t−1) = −W − (1−α) K(t)           (the blocks one step below)
// and with α = 1 these are D⁻¹(t) and −W. Reversed, the chain rule reads
//   ∂R/∂x(t) = K(t) s(t) − (1−α) K(t+1) s(t+1) − Wᵀ s(t+1),  s = ∂R/∂a.
//
// Legend: P = sequences, T = steps, N = units; states are P×(T+1)×N with
// x(0), drives P×T×N, sequence-major as in the files.

import RBPKernels

extension TrajectoryNetwork {
  /// K(t) = 1/(α f'(z(t))) for t = 1…T, the diagonal of ∂a(t)/∂x(t), for
  /// trajectories x(0…T) (P×(T+1)×N, sequence-major); returns P×T×N.
  ///
  /// - Throws: as `drives(forTrajectories:count:)`.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func inverseSlopes(forTrajectories states: [T], count: Int) throws -> [T] {
    let n = shape.units
    _ = try drives(forTrajectories: states, count: count)  // checks the shape and the domain
    let steps = states.count / (count * n) - 1
    let alpha = T(leak)
    var out = [T](repeating: 0, count: count * steps * n)
    for p in 0..<count {
      for t in 1...steps {
        let prev = (p * (steps + 1) + t - 1) * n, cur = prev + n
        for i in 0..<n {
          let target = alpha == 1 ? states[cur + i] : (states[cur + i] - (1 - alpha) * states[prev + i]) / alpha
          out[(p * steps + t - 1) * n + i] = 1 / (alpha * activation.slope(atState: target))
        }
      }
    }
    return out
  }

  /// ∂a/∂x of sequence `p` as one (T·N)×(T·N) matrix, row (t, i) for
  /// a_i(t), column (τ, j) for x_j(τ), t and τ = 1…T, from its inverse
  /// slopes (T×N, as `inverseSlopes` gives them for that sequence).
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func driveJacobian(inverseSlopes k: ArraySlice<T>, steps: Int) -> [T] {
    let n = shape.units, m = steps * n
    let alpha = T(leak)
    let w = parameters.W.elements
    let k = Array(k)
    var j = [T](repeating: 0, count: m * m)
    for t in 0..<steps {
      for i in 0..<n {
        let row = (t * n + i) * m
        j[row + t * n + i] = k[t * n + i]
        guard t > 0 else { continue }
        for c in 0..<n { j[row + (t - 1) * n + c] = -w[i * n + c] }
        j[row + (t - 1) * n + i] -= (1 - alpha) * k[t * n + i]
      }
    }
    return j
  }

  /// Drives a(1…T) for trajectories x(0…T).
  ///
  /// - Parameters:
  ///   - states: P×(T+1)×N, sequence-major, x(0) first.
  ///   - count: P.
  /// - Returns: P×T×N, sequence-major.
  /// - Throws: `RBPError.outsideDomainInTime` naming the sequence, step,
  ///   unit and value; `RBPError.noInverse` for relu.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func drives(forTrajectories states: [T], count: Int) throws -> [T] {
    let n = shape.units
    guard activation != .relu else { throw RBPError.noInverse(activation: activation) }
    guard count >= 1, states.count % (count * n) == 0, states.count / (count * n) >= 2 else {
      throw RBPError.invalid("states have \(states.count) values, expected \(count)×(T+1)×\(n) with T >= 1")
    }
    let steps = states.count / (count * n) - 1
    let alpha = T(leak)
    let w = parameters.W.elements
    var out = [T](repeating: 0, count: count * steps * n)
    for p in 0..<count {
      for t in 1...steps {
        let prev = (p * (steps + 1) + t - 1) * n
        let cur = prev + n
        for i in 0..<n {
          let target = alpha == 1 ? states[cur + i] : (states[cur + i] - (1 - alpha) * states[prev + i]) / alpha
          guard activation.inverseAccepts(target) else {
            throw RBPError.outsideDomainInTime(
              activation: activation, sequence: p, step: t, unit: i,
              value: Double(target))
          }
          var a = activation.inverse(target)
          for j in 0..<n { a -= w[i * n + j] * states[prev + j] }
          out[(p * steps + t - 1) * n + i] = a
        }
      }
    }
    return out
  }
}
