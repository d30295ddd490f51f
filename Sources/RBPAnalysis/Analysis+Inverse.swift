// The inverse of the forward pass (SPEC §1.4): the drives a = f⁻¹(x) − W x
// that make given states steady (steady networks, x (P, N)) or make given
// trajectories the network's own (x (P, T+1, N) with x(0), a (P, T, N)),
// with, on request, the diagonal of their Jacobian ∂a/∂x (D⁻¹, shaped as
// the drives) and, for small networks, each pattern's dense ∂a/∂x and its
// inverse, the sensitivity ∂x/∂a. Computed in f64.

import RBPCore
import RBPKernels
import RBPStore

/// The drives of given states and what was asked of their Jacobian.
public struct InverseResult: Sendable {
  /// (P, N) steady, (P, T, N) trajectory.
  public var drive: [Double]
  /// The shape of `drive`.
  public var shape: [Int]
  /// diag D⁻¹, shaped as `drive`.
  public var inverseSlopes: [Double]?
  /// Per pattern, ∂a/∂x and ∂x/∂a, M×M each with M = N (steady) or T·N.
  public var dense: (jacobian: [Double], sensitivity: [Double], size: Int)?
}

extension Analysis {
  /// The drives of the states `x`, shaped `shape`: (P, N) for a steady
  /// network, (P, T+1, N) with T ≥ 1 for a trajectory network. `source`
  /// names the states in errors.
  public func drives(
    forStates x: [Double], shape: [Int], jacobian: Bool = false, dense: Bool = false,
    source: String
  ) throws -> InverseResult {
    let n = checkpoint.shape.units
    guard shape.last == n, x.count == shape.reduce(1, *) else {
      throw RBPError.invalid("\(source): the states have \(shape.last ?? 0) units, the network has \(n)")
    }
    let count = shape[0]
    func inverted(_ j: [Double], side: Int, pattern: Int) throws -> [Double] {
      do { return try invertSquare(j, n: side) } catch {
        throw RBPError.invalid("\(source): ∂a/∂x of pattern \(pattern) is singular, it has no sensitivity ∂x/∂a")
      }
    }
    switch checkpoint.model {
    case .steady:
      guard shape.count == 2 else {
        throw RBPError.invalid("\(source): the states must be (P, N) for a steady network, got \(shape)")
      }
      let net = try checkpoint.steadyNetwork(Double.self)
      let states = Matrix(rows: count, cols: n, elements: x)
      var result = InverseResult(drive: try net.drive(forStates: states).elements, shape: [count, n])
      if jacobian || dense { result.inverseSlopes = try net.inverseSlopes(forStates: states).elements }
      if dense {
        var j: [Double] = [], inverse: [Double] = []
        for p in 0..<count {
          let jp = try net.driveJacobian(atState: states.row(p))
          j += jp.elements
          inverse += try inverted(jp.elements, side: n, pattern: p)
        }
        result.dense = (j, inverse, n)
      }
      return result
    case .trajectory:
      guard shape.count == 3, shape[1] >= 2 else {
        throw RBPError.invalid(
          "\(source): the states must be (P, T+1, N) with T >= 1 for a trajectory network, got \(shape)")
      }
      let steps = shape[1] - 1
      let net = try checkpoint.trajectoryNetwork(Double.self)
      var result = InverseResult(drive: try net.drives(forTrajectories: x, count: count), shape: [count, steps, n])
      if jacobian || dense { result.inverseSlopes = try net.inverseSlopes(forTrajectories: x, count: count) }
      if dense, let k = result.inverseSlopes {
        var j: [Double] = [], inverse: [Double] = []
        for p in 0..<count {
          let jp = net.driveJacobian(inverseSlopes: k[(p * steps * n)..<((p + 1) * steps * n)], steps: steps)
          j += jp
          inverse += try inverted(jp, side: steps * n, pattern: p)
        }
        result.dense = (j, inverse, steps * n)
      }
      return result
    }
  }
}
