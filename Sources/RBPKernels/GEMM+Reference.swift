// The naive GEMM: three loops, one dot product per element of C. It is the
// test oracle for every fast path and nothing else; it is never called by
// the engine.

/// Reference `C = α·op(A)·op(B) + β·C`, row-major, same contract as `gemm`.
/// Each element is one left-to-right dot product; with `β = 0`, C is not read.
public func gemmReference<T: KernelScalar>(
  transA: Bool = false, transB: Bool = false,
  m: Int, n: Int, k: Int,
  alpha: T = 1,
  a: UnsafePointer<T>, lda: Int,
  b: UnsafePointer<T>, ldb: Int,
  beta: T = 0,
  c: UnsafeMutablePointer<T>, ldc: Int
) {
  for i in 0..<m {
    for j in 0..<n {
      var sum: T = 0
      for p in 0..<k {
        let x = transA ? a[p * lda + i] : a[i * lda + p]
        let y = transB ? b[j * ldb + p] : b[p * ldb + j]
        sum += x * y
      }
      let out = c + i * ldc + j
      out.pointee = beta == 0 ? alpha * sum : alpha * sum + beta * out.pointee
    }
  }
}

/// Reference `y = α·op(A)·x + β·y`, same contract as `gemv`.
public func gemvReference<T: KernelScalar>(
  trans: Bool = false, m: Int, n: Int,
  alpha: T = 1, a: UnsafePointer<T>, lda: Int,
  x: UnsafePointer<T>, beta: T = 0, y: UnsafeMutablePointer<T>
) {
  let rows = trans ? n : m
  let depth = trans ? m : n
  for i in 0..<rows {
    var sum: T = 0
    for j in 0..<depth {
      sum += (trans ? a[j * lda + i] : a[i * lda + j]) * x[j]
    }
    y[i] = beta == 0 ? alpha * sum : alpha * sum + beta * y[i]
  }
}
