// The GEMM micro-kernel's contract, and the one call every GEMM path makes
// to it. The kernel itself is register-level code compiled per instruction
// set in the C module CRBPKernels (precision_template.h); this file knows
// nothing of blocking or threads.

/// Computes one MR×NR tile, `C = α·(A·B) + β·C`, NR = 2 vectors, with the
/// kernels of one instruction set (MR and NR are those of
/// `T.gemmBlocking(for: kernels.isa)`).
///
/// Contract:
/// - `a` holds the MR×k sliver at `a[r·rowStride + p·depthStride]`. Packed A
///   panels use the strides of `packedStrides` (`rowStride = kc, depthStride
///   = 1` for an untransposed A, `rowStride = 1, depthStride = MR` for a
///   transposed one); an unpacked row-major A uses `rowStride = lda,
///   depthStride = 1`, a transposed one `rowStride = 1, depthStride = lda`.
///   Rows `r < readRows` are read, the rest repeat row `readRows − 1`; rows
///   past `rows` are discarded. The packed path passes `readRows = MR`
///   (its panels are zero-padded); the unpacked path passes `readRows = rows`.
///   With `rowStride = 1` and `readRows = MR` the row offsets are constants.
/// - `b` holds the k×NR sliver at `b[p·bStride + j]`. When `cols` > one
///   vector all NR columns must be readable (packed panels are zero-padded;
///   unpacked B is used only for full tiles); otherwise only the first vector.
/// - The loop runs over k only; the MR×NR accumulator is fully unrolled into
///   vector registers. Only the `rows`×`cols` corner of C is written; with
///   `β = 0`, C is not read.
@inline(__always)
func microKernel<T: KernelScalar>(
  _ kernels: KernelTable, k: Int,
  a: UnsafePointer<T>, rowStride rsA: Int, depthStride csA: Int, rows mr: Int,
  b: UnsafePointer<T>, bStride ldb: Int,
  c: UnsafeMutablePointer<T>, ldc: Int, cols nr: Int,
  alpha: T, beta: T, readRows: Int
) {
  T._microKernel(
    kernels, k: k, a: a, rowStride: rsA, depthStride: csA, rows: mr, b: b, bStride: ldb,
    c: c, ldc: ldc, cols: nr, alpha: alpha, beta: beta, readRows: readRows)
}
