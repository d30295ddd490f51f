// Dense LU factorisation with partial pivoting, for the small dense systems
// of Newton steps, the direct adjoint and Anderson mixing. O(n³); meant for
// the moderate n where an exact answer is the point.

import RBPKernels

/// `P·A = L·U` of a square matrix, row-major, factored in place.
public struct LUFactorization<T: KernelScalar> {
  /// The order of the matrix.
  public let n: Int
  var lu: [T]
  var pivots: [Int]

  /// Factors the n×n row-major `matrix`; nil when a pivot is exactly zero
  /// or not finite (the matrix is singular to working precision).
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init?(_ matrix: [T], n: Int) {
    precondition(matrix.count == n * n, "LU: \(matrix.count) elements for \(n)×\(n)")
    self.n = n
    lu = matrix
    pivots = Array(0..<n)
    for k in 0..<n {
      var best = k
      var bestValue = abs(lu[k * n + k])
      for r in (k + 1)..<max(k + 1, n) where abs(lu[r * n + k]) > bestValue {
        best = r
        bestValue = abs(lu[r * n + k])
      }
      guard bestValue > 0 && bestValue.isFinite else { return nil }
      if best != k {
        for c in 0..<n { lu.swapAt(k * n + c, best * n + c) }
        pivots.swapAt(k, best)
      }
      let pivot = lu[k * n + k]
      for r in (k + 1)..<max(k + 1, n) {
        let factor = lu[r * n + k] / pivot
        lu[r * n + k] = factor
        if factor == 0 { continue }
        for c in (k + 1)..<n { lu[r * n + c] -= factor * lu[k * n + c] }
      }
    }
  }

  /// Solves `A x = b`, returning x.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func solve(_ b: [T]) -> [T] {
    precondition(b.count == n, "LU.solve: right-hand side has \(b.count) elements, expected \(n)")
    var x = pivots.map { b[$0] }
    for r in 0..<n {
      var sum = x[r]
      for c in 0..<r { sum -= lu[r * n + c] * x[c] }
      x[r] = sum
    }
    for r in stride(from: n - 1, through: 0, by: -1) {
      var sum = x[r]
      for c in (r + 1)..<n { sum -= lu[r * n + c] * x[c] }
      x[r] = sum / lu[r * n + r]
    }
    return x
  }
}

/// The inverse of an n×n row-major matrix, column by column through one LU
/// factorisation (O(n³)).
///
/// - Throws: `RBPError.invalid` when the matrix is singular to working precision.
@_specialize(exported:true,where T == Float)
@_specialize(exported:true,where T == Double)
public func invertSquare<T: KernelScalar>(_ a: [T], n: Int) throws -> [T] {
  guard let lu = LUFactorization(a, n: n) else { throw RBPError.invalid("the \(n)×\(n) matrix is singular") }
  var inverse = [T](repeating: 0, count: n * n)
  var e = [T](repeating: 0, count: n)
  for c in 0..<n {
    e[c] = 1
    let column = lu.solve(e)
    e[c] = 0
    for r in 0..<n { inverse[r * n + c] = column[r] }
  }
  return inverse
}
