// Matrix–vector product and its transpose, y = α·op(A)·x + β·y, over a
// row-major A. Memory-bound: the point is to stream A once with full-width
// loads. The loops (four rows of A per pass, so x or y is loaded once per
// four rows) are compiled per instruction set in CRBPKernels.

/// One GEMV call, as the driver sees it. Build it through `gemv(...)`.
public struct GEMVProblem<T: KernelScalar> {
  /// y = α Aᵀ x + β y instead of α A x + β y.
  public var trans: Bool
  /// Rows of A.
  public var m: Int
  /// Columns of A.
  public var n: Int
  /// α
  public var alpha: T
  /// A, row-major m×n.
  public var a: UnsafePointer<T>
  /// The stride between A's rows.
  public var lda: Int
  /// x
  public var x: UnsafePointer<T>
  /// β (0: y is not read).
  public var beta: T
  /// y
  public var y: UnsafeMutablePointer<T>
}

/// `y = α·op(A)·x + β·y` with A stored m×n row-major.
///
/// ```
/// trans = false:  y[i] = α Σ_j A[i, j] x[j] + β y[i]    (x: n, y: m)
/// trans = true:   y[j] = α Σ_i A[i, j] x[i] + β y[j]    (x: m, y: n)
/// ```
/// With `β = 0`, y is not read. y must not overlap A or x.
@_specialize(exported:true,where T == Float)
@_specialize(exported:true,where T == Double)
public func gemv<T: KernelScalar>(
  trans: Bool = false, m: Int, n: Int,
  alpha: T = 1, a: UnsafePointer<T>, lda: Int,
  x: UnsafePointer<T>, beta: T = 0, y: UnsafeMutablePointer<T>,
  kernels: KernelTable = .active
) {
  precondition(m >= 0 && n >= 0, "gemv: negative dimension")
  precondition(lda >= max(1, n), "gemv: lda \(lda) too small")
  T._gemv(
    GEMVProblem(
      trans: trans, m: m, n: n, alpha: alpha, a: a, lda: lda,
      x: x, beta: beta, y: y), kernels)
}

/// `out = Aᵀ·(A·v)` for A stored m×n row-major (row stride `lda`), in one
/// pass over A: a group of rows gives its products with v, then adds those
/// multiples of the same rows, still in cache, into `out` (n). The step of
/// a power iteration on AᵀA at the cost of one product instead of two.
///
/// - Returns: ‖A v‖², summed in Double.
@inlinable
public func gramVector<T: KernelScalar>(
  m: Int, n: Int, a: UnsafePointer<T>, lda: Int, v: UnsafePointer<T>, into out: UnsafeMutablePointer<T>,
  kernels: KernelTable = .active
) -> Double {
  T._gramVector(m: m, n: n, a, lda: lda, v, into: out, kernels)
}
