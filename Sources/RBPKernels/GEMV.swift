// Matrix–vector product and its transpose, y = α·op(A)·x + β·y, over a
// row-major A. Memory-bound: the point is to stream A once with full-width
// loads. Four rows of A are handled per pass so x (or y) is loaded once per
// four rows.

/// One GEMV call, as the driver sees it. Build it through `gemv(...)`.
public struct GEMVProblem<T: KernelScalar> {
  public var trans: Bool
  public var m: Int
  public var n: Int
  public var alpha: T
  public var a: UnsafePointer<T>
  public var lda: Int
  public var x: UnsafePointer<T>
  public var beta: T
  public var y: UnsafeMutablePointer<T>
}

/// `y = α·op(A)·x + β·y` with A stored m×n row-major.
///
/// ```
/// trans = false:  y[i] = α Σ_j A[i, j] x[j] + β y[i]    (x: n, y: m)
/// trans = true:   y[j] = α Σ_i A[i, j] x[i] + β y[j]    (x: m, y: n)
/// ```
/// With `β = 0`, y is not read. y must not overlap A or x.
public func gemv<T: KernelScalar>(
  trans: Bool = false, m: Int, n: Int,
  alpha: T = 1, a: UnsafePointer<T>, lda: Int,
  x: UnsafePointer<T>, beta: T = 0, y: UnsafeMutablePointer<T>
) {
  precondition(m >= 0 && n >= 0, "gemv: negative dimension")
  precondition(lda >= max(1, n), "gemv: lda \(lda) too small")
  T._gemv(GEMVProblem(trans: trans, m: m, n: n, alpha: alpha, a: a, lda: lda,
                      x: x, beta: beta, y: y))
}

@inline(__always)
func gemvDriver<T: KernelScalar>(_ p: GEMVProblem<T>) {
  if p.trans { gemvTransposed(p) } else { gemvRows(p) }
}

/// y[i] = α·⟨A[i, :], x⟩ + β·y[i], four rows per pass.
@inline(__always)
func gemvRows<T: KernelScalar>(_ p: GEMVProblem<T>) {
  typealias V = T.Vector
  let width = V.scalarCount
  let vectorEnd = p.n / width * width
  let xs = UnsafeRawPointer(p.x)
  @inline(__always) func finish(_ i: Int, _ sum: T) {
    p.y[i] = p.beta == 0 ? p.alpha * sum : p.alpha * sum + p.beta * p.y[i]
  }
  var i = 0
  while i + 4 <= p.m {
    let r0 = UnsafeRawPointer(p.a + i * p.lda), r1 = UnsafeRawPointer(p.a + (i + 1) * p.lda)
    let r2 = UnsafeRawPointer(p.a + (i + 2) * p.lda), r3 = UnsafeRawPointer(p.a + (i + 3) * p.lda)
    var s0 = V(), s1 = V(), s2 = V(), s3 = V()
    var j = 0
    while j < vectorEnd {
      let off = j &* MemoryLayout<T>.stride
      let xv = xs.loadUnaligned(fromByteOffset: off, as: V.self)
      s0.addProduct(r0.loadUnaligned(fromByteOffset: off, as: V.self), xv)
      s1.addProduct(r1.loadUnaligned(fromByteOffset: off, as: V.self), xv)
      s2.addProduct(r2.loadUnaligned(fromByteOffset: off, as: V.self), xv)
      s3.addProduct(r3.loadUnaligned(fromByteOffset: off, as: V.self), xv)
      j &+= width
    }
    var t0 = s0.sum(), t1 = s1.sum(), t2 = s2.sum(), t3 = s3.sum()
    while j < p.n {
      let xj = p.x[j]
      t0 += p.a[i * p.lda + j] * xj
      t1 += p.a[(i + 1) * p.lda + j] * xj
      t2 += p.a[(i + 2) * p.lda + j] * xj
      t3 += p.a[(i + 3) * p.lda + j] * xj
      j += 1
    }
    finish(i, t0); finish(i + 1, t1); finish(i + 2, t2); finish(i + 3, t3)
    i += 4
  }
  while i < p.m {
    let r = UnsafeRawPointer(p.a + i * p.lda)
    var s = V()
    var j = 0
    while j < vectorEnd {
      let off = j &* MemoryLayout<T>.stride
      s.addProduct(r.loadUnaligned(fromByteOffset: off, as: V.self),
                   xs.loadUnaligned(fromByteOffset: off, as: V.self))
      j &+= width
    }
    var t = s.sum()
    while j < p.n { t += p.a[i * p.lda + j] * p.x[j]; j += 1 }
    finish(i, t)
    i += 1
  }
}

/// y = β·y, then y += (α·x[i])·A[i, :] for each row, four rows per pass.
@inline(__always)
func gemvTransposed<T: KernelScalar>(_ p: GEMVProblem<T>) {
  typealias V = T.Vector
  let width = V.scalarCount
  let n = p.n
  if p.beta == 0 {
    p.y.update(repeating: 0, count: n)
  } else if p.beta != 1 {
    for j in 0..<n { p.y[j] *= p.beta }
  }
  let vectorEnd = n / width * width
  let ys = UnsafeMutableRawPointer(p.y)
  var i = 0
  while i < p.m {
    let rows = min(4, p.m - i)
    // Missing rows of the last group use x = 0 on row i (read, never counted).
    let w0 = V(repeating: p.alpha * p.x[i])
    let w1 = V(repeating: rows > 1 ? p.alpha * p.x[i + 1] : 0)
    let w2 = V(repeating: rows > 2 ? p.alpha * p.x[i + 2] : 0)
    let w3 = V(repeating: rows > 3 ? p.alpha * p.x[i + 3] : 0)
    let r0 = UnsafeRawPointer(p.a + i * p.lda)
    let r1 = UnsafeRawPointer(p.a + (i + min(1, rows - 1)) * p.lda)
    let r2 = UnsafeRawPointer(p.a + (i + min(2, rows - 1)) * p.lda)
    let r3 = UnsafeRawPointer(p.a + (i + min(3, rows - 1)) * p.lda)
    var j = 0
    while j < vectorEnd {
      let off = j &* MemoryLayout<T>.stride
      var acc = ys.loadUnaligned(fromByteOffset: off, as: V.self)
      acc.addProduct(w0, r0.loadUnaligned(fromByteOffset: off, as: V.self))
      acc.addProduct(w1, r1.loadUnaligned(fromByteOffset: off, as: V.self))
      acc.addProduct(w2, r2.loadUnaligned(fromByteOffset: off, as: V.self))
      acc.addProduct(w3, r3.loadUnaligned(fromByteOffset: off, as: V.self))
      ys.storeBytes(of: acc, toByteOffset: off, as: V.self)
      j &+= width
    }
    while j < n {
      var acc = p.y[j]
      for r in 0..<rows { acc += p.alpha * p.x[i + r] * p.a[(i + r) * p.lda + j] }
      p.y[j] = acc
      j += 1
    }
    i += 4
  }
}
