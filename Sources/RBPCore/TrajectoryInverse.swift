// Input as a function of output, in time: the drives that make a given
// trajectory the network's own,
//   a(t) = f⁻¹((x(t) − (1−α) x(t−1)) / α) − W x(t−1),   t = 1…T
// (with α = 1: a(t) = f⁻¹(x(t)) − W x(t−1)). Running the network forward
// with these drives reproduces the trajectory.

import RBPKernels

extension TrajectoryNetwork {
  /// Drives a(1…T) for trajectories x(0…T).
  ///
  /// - Parameters:
  ///   - states: P×(T+1)×N, sequence-major, x(0) first.
  ///   - count: P.
  /// - Returns: P×T×N, sequence-major.
  /// - Throws: `RBPError.outsideDomainInTime` naming the sequence, step,
  ///   unit and value; `RBPError.noInverse` for relu.
  @_specialize(exported: true, where T == Float)
  @_specialize(exported: true, where T == Double)
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
            throw RBPError.outsideDomainInTime(activation: activation, sequence: p, step: t, unit: i,
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
