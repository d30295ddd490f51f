// What every iterative solve reports, per pattern: iterations, final
// residual and how it ended; and the settings shared by the solvers.

import RBPKernels

/// How one pattern's solve ended.
public enum SolveStatus: String, Equatable, Sendable, Codable {
  case converged
  /// Stopped at the iteration limit with the residual above tolerance.
  case notConverged
  /// Produced NaN or infinity.
  case nonFinite
  /// A dense system on the way (Newton step, direct solve) was singular.
  case singular
}

/// Tolerance and iteration limit of a solve.
public struct SolverOptions: Equatable, Sendable, Codable {
  /// Stop when the residual (∞-norm) is at most this.
  public var tolerance: Double
  public var maxIterations: Int

  public init(tolerance: Double, maxIterations: Int) {
    self.tolerance = tolerance
    self.maxIterations = maxIterations
  }
}

/// Per-pattern outcome of a batched solve.
public struct SolveDiagnostics: Equatable, Sendable {
  public var iterations: [Int]
  /// Final residual, ∞-norm: ‖f(Wx+a) − x‖ forward, ‖(I − DWᵀ)s − Dg‖ adjoint.
  public var residuals: [Double]
  public var status: [SolveStatus]

  public init(count: Int) {
    iterations = [Int](repeating: 0, count: count)
    residuals = [Double](repeating: .infinity, count: count)
    status = [SolveStatus](repeating: .notConverged, count: count)
  }

  public var converged: [Bool] { status.map { $0 == .converged } }
  public var allConverged: Bool { status.allSatisfy { $0 == .converged } }

  /// Throws the error of the first pattern that did not converge, naming
  /// the solver, the pattern, its iterations and residual.
  public func check(solver: String, tolerance: Double, patternOffset: Int = 0) throws {
    guard let p = status.firstIndex(where: { $0 != .converged }) else { return }
    switch status[p] {
    case .nonFinite:
      throw RBPError.nonFinite(solver: solver, pattern: p + patternOffset, iterations: iterations[p])
    case .singular:
      throw RBPError.singular(what: "the linear system of \(solver)", pattern: p + patternOffset)
    default:
      throw RBPError.notConverged(solver: solver, pattern: p + patternOffset, iterations: iterations[p],
                                  residual: residuals[p], tolerance: tolerance)
    }
  }
}

/// Swaps rows i and j (each `width` long) of a row-major buffer.
@inline(__always)
func swapRows<T>(_ buffer: inout [T], _ i: Int, _ j: Int, width: Int) {
  if i == j { return }
  buffer.withUnsafeMutableBufferPointer { p in
    for c in 0..<width { p.swapAt(i * width + c, j * width + c) }
  }
}

/// ‖u − v‖∞ over `count` elements; NaN if any difference is NaN.
@inline(__always)
func maxAbsDifference<T: BinaryFloatingPoint>(_ u: UnsafePointer<T>, _ v: UnsafePointer<T>, count: Int) -> Double {
  var worst: T = 0
  for i in 0..<count {
    let d = abs(u[i] - v[i])
    if d.isNaN { return .nan }
    if d > worst { worst = d }
  }
  return Double(worst)
}

/// The P×width matrix whose row order[r] is row r of `rows` (undoing the
/// active-set permutation of the sweep solvers).
func unpermuted<T: KernelScalar>(_ rows: [T], order: [Int], width: Int) -> Matrix<T> {
  var out = Matrix<T>(rows: order.count, cols: width)
  out.withMutablePointer { o in
    rows.withUnsafeBufferPointer { r in
      for (i, p) in order.enumerated() { (o + p * width).update(from: r.baseAddress! + i * width, count: width) }
    }
  }
  return out
}
