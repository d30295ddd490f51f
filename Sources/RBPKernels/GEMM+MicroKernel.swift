// The GEMM micro-kernel: one MR×NR tile of C from an MR×k sliver of A and a
// k×NR sliver of B, accumulated in SIMD registers, NR = 2 vectors. With
// AVX-512 (32 registers) MR = 12 and the tile holds 24 accumulators; with
// AVX2 (16 registers) MR = 6 and 12. Both the packed (blocked) path and the
// small, unpacked path call it; they differ only in the strides they hand
// it. This file knows nothing of blocking or threads.

/// Rows of the register tile: 12 with AVX-512, 6 with AVX2.
#if RBP_AVX512
public let microKernelRows = 12
#else
public let microKernelRows = 6
#endif

/// Computes one MR×NR tile, `C = α·(A·B) + β·C`, NR = 2 vectors.
///
/// Contract:
/// - `a` holds the MR×k sliver at `a[r·rowStride + p·depthStride]`. Packed A
///   panels use `rowStride = 1, depthStride = MR`; an unpacked row-major A uses
///   `rowStride = lda, depthStride = 1`. Rows `r < readRows` are read, the
///   rest repeat row `readRows − 1`; rows past `rows` are discarded. The
///   packed path passes `readRows = MR` (its panels are zero-padded), so the
///   row offsets are constants; the unpacked path passes `readRows = rows`.
/// - `b` holds the k×NR sliver at `b[p·bStride + j]`. When `cols` > one
///   vector all NR columns must be readable (packed panels are zero-padded;
///   unpacked B is used only for full tiles); otherwise only the first vector.
/// - The loop runs over k only; the MR×NR accumulator is fully unrolled into
///   vector registers. Only the `rows`×`cols` corner of C is written; with
///   `β = 0`, C is not read.
@inline(__always)
func microKernel<T: KernelScalar>(
  k: Int,
  a: UnsafePointer<T>, rowStride rsA: Int, depthStride csA: Int, rows mr: Int,
  b: UnsafePointer<T>, bStride ldb: Int,
  c: UnsafeMutablePointer<T>, ldc: Int, cols nr: Int,
  alpha: T, beta: T, readRows: Int
) {
  #if RBP_AVX512
  microKernel12x2(k: k, a: a, rowStride: rsA, depthStride: csA, rows: mr, b: b, bStride: ldb,
                  c: c, ldc: ldc, cols: nr, alpha: alpha, beta: beta, readRows: readRows)
  #else
  microKernel6x2(k: k, a: a, rowStride: rsA, depthStride: csA, rows: mr, b: b, bStride: ldb,
                 c: c, ldc: ldc, cols: nr, alpha: alpha, beta: beta, readRows: readRows)
  #endif
}

#if RBP_AVX512
/// The 12×(2 vectors) micro-kernel: 24 accumulators, two B vectors and
/// one broadcast live in registers. See `microKernel` for the contract.
@inline(__always)
func microKernel12x2<T: KernelScalar>(
  k: Int,
  a: UnsafePointer<T>, rowStride rsA: Int, depthStride csA: Int, rows mr: Int,
  b: UnsafePointer<T>, bStride ldb: Int,
  c: UnsafeMutablePointer<T>, ldc: Int, cols nr: Int,
  alpha: T, beta: T, readRows: Int
) {
  typealias V = T.Vector
  let width = V.scalarCount
  var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
  var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
  var c60 = V(), c61 = V(), c70 = V(), c71 = V(), c80 = V(), c81 = V()
  var c90 = V(), c91 = V(), c100 = V(), c101 = V(), c110 = V(), c111 = V()

  var pa = a
  var pb = UnsafeRawPointer(b)
  let bStep = ldb &* MemoryLayout<T>.stride
  let bHalf = width &* MemoryLayout<T>.stride
  var p = 0
  let wide = nr > width
  if readRows == 12 && rsA == 1 {
    // Packed panels (and a transposed A): row offsets are constants.
    if wide {
      while p < k {
        let b0 = pb.loadUnaligned(as: V.self)
        let b1 = pb.loadUnaligned(fromByteOffset: bHalf, as: V.self)
        var x = V(repeating: pa[0])
        c00.addProduct(x, b0); c01.addProduct(x, b1)
        x = V(repeating: pa[1])
        c10.addProduct(x, b0); c11.addProduct(x, b1)
        x = V(repeating: pa[2])
        c20.addProduct(x, b0); c21.addProduct(x, b1)
        x = V(repeating: pa[3])
        c30.addProduct(x, b0); c31.addProduct(x, b1)
        x = V(repeating: pa[4])
        c40.addProduct(x, b0); c41.addProduct(x, b1)
        x = V(repeating: pa[5])
        c50.addProduct(x, b0); c51.addProduct(x, b1)
        x = V(repeating: pa[6])
        c60.addProduct(x, b0); c61.addProduct(x, b1)
        x = V(repeating: pa[7])
        c70.addProduct(x, b0); c71.addProduct(x, b1)
        x = V(repeating: pa[8])
        c80.addProduct(x, b0); c81.addProduct(x, b1)
        x = V(repeating: pa[9])
        c90.addProduct(x, b0); c91.addProduct(x, b1)
        x = V(repeating: pa[10])
        c100.addProduct(x, b0); c101.addProduct(x, b1)
        x = V(repeating: pa[11])
        c110.addProduct(x, b0); c111.addProduct(x, b1)
        pa += csA
        pb += bStep
        p &+= 1
      }
    } else {
      while p < k {
        let b0 = pb.loadUnaligned(as: V.self)
        c00.addProduct(V(repeating: pa[0]), b0)
        c10.addProduct(V(repeating: pa[1]), b0)
        c20.addProduct(V(repeating: pa[2]), b0)
        c30.addProduct(V(repeating: pa[3]), b0)
        c40.addProduct(V(repeating: pa[4]), b0)
        c50.addProduct(V(repeating: pa[5]), b0)
        c60.addProduct(V(repeating: pa[6]), b0)
        c70.addProduct(V(repeating: pa[7]), b0)
        c80.addProduct(V(repeating: pa[8]), b0)
        c90.addProduct(V(repeating: pa[9]), b0)
        c100.addProduct(V(repeating: pa[10]), b0)
        c110.addProduct(V(repeating: pa[11]), b0)
        pa += csA
        pb += bStep
        p &+= 1
      }
    }
  } else if readRows == 12 {
    // Unpacked rows: bases every four rows, three stride registers.
    let s1 = rsA, s2 = 2 &* rsA, s3 = 3 &* rsA
    let g1 = 4 &* rsA, g2 = 8 &* rsA
    if wide {
      while p < k {
        let b0 = pb.loadUnaligned(as: V.self)
        let b1 = pb.loadUnaligned(fromByteOffset: bHalf, as: V.self)
        var x = V(repeating: pa[0])
        c00.addProduct(x, b0); c01.addProduct(x, b1)
        x = V(repeating: pa[s1])
        c10.addProduct(x, b0); c11.addProduct(x, b1)
        x = V(repeating: pa[s2])
        c20.addProduct(x, b0); c21.addProduct(x, b1)
        x = V(repeating: pa[s3])
        c30.addProduct(x, b0); c31.addProduct(x, b1)
        x = V(repeating: pa[g1])
        c40.addProduct(x, b0); c41.addProduct(x, b1)
        x = V(repeating: pa[g1 &+ s1])
        c50.addProduct(x, b0); c51.addProduct(x, b1)
        x = V(repeating: pa[g1 &+ s2])
        c60.addProduct(x, b0); c61.addProduct(x, b1)
        x = V(repeating: pa[g1 &+ s3])
        c70.addProduct(x, b0); c71.addProduct(x, b1)
        x = V(repeating: pa[g2])
        c80.addProduct(x, b0); c81.addProduct(x, b1)
        x = V(repeating: pa[g2 &+ s1])
        c90.addProduct(x, b0); c91.addProduct(x, b1)
        x = V(repeating: pa[g2 &+ s2])
        c100.addProduct(x, b0); c101.addProduct(x, b1)
        x = V(repeating: pa[g2 &+ s3])
        c110.addProduct(x, b0); c111.addProduct(x, b1)
        pa += csA
        pb += bStep
        p &+= 1
      }
    } else {
      while p < k {
        let b0 = pb.loadUnaligned(as: V.self)
        c00.addProduct(V(repeating: pa[0]), b0)
        c10.addProduct(V(repeating: pa[s1]), b0)
        c20.addProduct(V(repeating: pa[s2]), b0)
        c30.addProduct(V(repeating: pa[s3]), b0)
        c40.addProduct(V(repeating: pa[g1]), b0)
        c50.addProduct(V(repeating: pa[g1 &+ s1]), b0)
        c60.addProduct(V(repeating: pa[g1 &+ s2]), b0)
        c70.addProduct(V(repeating: pa[g1 &+ s3]), b0)
        c80.addProduct(V(repeating: pa[g2]), b0)
        c90.addProduct(V(repeating: pa[g2 &+ s1]), b0)
        c100.addProduct(V(repeating: pa[g2 &+ s2]), b0)
        c110.addProduct(V(repeating: pa[g2 &+ s3]), b0)
        pa += csA
        pb += bStep
        p &+= 1
      }
    }
  } else {
    // Edge rows: rows past readRows repeat the last one.
    let last = readRows &- 1
    let o1 = min(1, last) &* rsA, o2 = min(2, last) &* rsA, o3 = min(3, last) &* rsA, o4 = min(4, last) &* rsA
    let o5 = min(5, last) &* rsA, o6 = min(6, last) &* rsA, o7 = min(7, last) &* rsA, o8 = min(8, last) &* rsA
    let o9 = min(9, last) &* rsA, o10 = min(10, last) &* rsA, o11 = min(11, last) &* rsA
    if wide {
      while p < k {
        let b0 = pb.loadUnaligned(as: V.self)
        let b1 = pb.loadUnaligned(fromByteOffset: bHalf, as: V.self)
        var x = V(repeating: pa[0])
        c00.addProduct(x, b0); c01.addProduct(x, b1)
        x = V(repeating: pa[o1])
        c10.addProduct(x, b0); c11.addProduct(x, b1)
        x = V(repeating: pa[o2])
        c20.addProduct(x, b0); c21.addProduct(x, b1)
        x = V(repeating: pa[o3])
        c30.addProduct(x, b0); c31.addProduct(x, b1)
        x = V(repeating: pa[o4])
        c40.addProduct(x, b0); c41.addProduct(x, b1)
        x = V(repeating: pa[o5])
        c50.addProduct(x, b0); c51.addProduct(x, b1)
        x = V(repeating: pa[o6])
        c60.addProduct(x, b0); c61.addProduct(x, b1)
        x = V(repeating: pa[o7])
        c70.addProduct(x, b0); c71.addProduct(x, b1)
        x = V(repeating: pa[o8])
        c80.addProduct(x, b0); c81.addProduct(x, b1)
        x = V(repeating: pa[o9])
        c90.addProduct(x, b0); c91.addProduct(x, b1)
        x = V(repeating: pa[o10])
        c100.addProduct(x, b0); c101.addProduct(x, b1)
        x = V(repeating: pa[o11])
        c110.addProduct(x, b0); c111.addProduct(x, b1)
        pa += csA
        pb += bStep
        p &+= 1
      }
    } else {
      while p < k {
        let b0 = pb.loadUnaligned(as: V.self)
        c00.addProduct(V(repeating: pa[0]), b0)
        c10.addProduct(V(repeating: pa[o1]), b0)
        c20.addProduct(V(repeating: pa[o2]), b0)
        c30.addProduct(V(repeating: pa[o3]), b0)
        c40.addProduct(V(repeating: pa[o4]), b0)
        c50.addProduct(V(repeating: pa[o5]), b0)
        c60.addProduct(V(repeating: pa[o6]), b0)
        c70.addProduct(V(repeating: pa[o7]), b0)
        c80.addProduct(V(repeating: pa[o8]), b0)
        c90.addProduct(V(repeating: pa[o9]), b0)
        c100.addProduct(V(repeating: pa[o10]), b0)
        c110.addProduct(V(repeating: pa[o11]), b0)
        pa += csA
        pb += bStep
        p &+= 1
      }
    }
  }

  if mr == 12 && nr == 2 &* width {
    storeScaled(c00, c01, to: c, width: width, alpha: alpha, beta: beta)
    storeScaled(c10, c11, to: c + ldc, width: width, alpha: alpha, beta: beta)
    storeScaled(c20, c21, to: c + 2 &* ldc, width: width, alpha: alpha, beta: beta)
    storeScaled(c30, c31, to: c + 3 &* ldc, width: width, alpha: alpha, beta: beta)
    storeScaled(c40, c41, to: c + 4 &* ldc, width: width, alpha: alpha, beta: beta)
    storeScaled(c50, c51, to: c + 5 &* ldc, width: width, alpha: alpha, beta: beta)
    storeScaled(c60, c61, to: c + 6 &* ldc, width: width, alpha: alpha, beta: beta)
    storeScaled(c70, c71, to: c + 7 &* ldc, width: width, alpha: alpha, beta: beta)
    storeScaled(c80, c81, to: c + 8 &* ldc, width: width, alpha: alpha, beta: beta)
    storeScaled(c90, c91, to: c + 9 &* ldc, width: width, alpha: alpha, beta: beta)
    storeScaled(c100, c101, to: c + 10 &* ldc, width: width, alpha: alpha, beta: beta)
    storeScaled(c110, c111, to: c + 11 &* ldc, width: width, alpha: alpha, beta: beta)
    return
  }
  // Edge tile: only the valid rows, and in each only the valid columns.
  storePartial(c00, c01, to: c, cols: nr, alpha: alpha, beta: beta)
  if mr > 1 { storePartial(c10, c11, to: c + ldc, cols: nr, alpha: alpha, beta: beta) }
  if mr > 2 { storePartial(c20, c21, to: c + 2 &* ldc, cols: nr, alpha: alpha, beta: beta) }
  if mr > 3 { storePartial(c30, c31, to: c + 3 &* ldc, cols: nr, alpha: alpha, beta: beta) }
  if mr > 4 { storePartial(c40, c41, to: c + 4 &* ldc, cols: nr, alpha: alpha, beta: beta) }
  if mr > 5 { storePartial(c50, c51, to: c + 5 &* ldc, cols: nr, alpha: alpha, beta: beta) }
  if mr > 6 { storePartial(c60, c61, to: c + 6 &* ldc, cols: nr, alpha: alpha, beta: beta) }
  if mr > 7 { storePartial(c70, c71, to: c + 7 &* ldc, cols: nr, alpha: alpha, beta: beta) }
  if mr > 8 { storePartial(c80, c81, to: c + 8 &* ldc, cols: nr, alpha: alpha, beta: beta) }
  if mr > 9 { storePartial(c90, c91, to: c + 9 &* ldc, cols: nr, alpha: alpha, beta: beta) }
  if mr > 10 { storePartial(c100, c101, to: c + 10 &* ldc, cols: nr, alpha: alpha, beta: beta) }
  if mr > 11 { storePartial(c110, c111, to: c + 11 &* ldc, cols: nr, alpha: alpha, beta: beta) }
}
#else
/// The 6×(2 vectors) micro-kernel: 12 accumulators, two B vectors and
/// one broadcast live in registers. See `microKernel` for the contract.
@inline(__always)
func microKernel6x2<T: KernelScalar>(
  k: Int,
  a: UnsafePointer<T>, rowStride rsA: Int, depthStride csA: Int, rows mr: Int,
  b: UnsafePointer<T>, bStride ldb: Int,
  c: UnsafeMutablePointer<T>, ldc: Int, cols nr: Int,
  alpha: T, beta: T, readRows: Int
) {
  typealias V = T.Vector
  let width = V.scalarCount
  var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
  var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()

  var pa = a
  var pb = UnsafeRawPointer(b)
  let bStep = ldb &* MemoryLayout<T>.stride
  let bHalf = width &* MemoryLayout<T>.stride
  var p = 0
  let wide = nr > width
  if readRows == 6 && rsA == 1 {
    // Packed panels (and a transposed A): row offsets are constants.
    if wide {
      while p < k {
        let b0 = pb.loadUnaligned(as: V.self)
        let b1 = pb.loadUnaligned(fromByteOffset: bHalf, as: V.self)
        var x = V(repeating: pa[0])
        c00.addProduct(x, b0); c01.addProduct(x, b1)
        x = V(repeating: pa[1])
        c10.addProduct(x, b0); c11.addProduct(x, b1)
        x = V(repeating: pa[2])
        c20.addProduct(x, b0); c21.addProduct(x, b1)
        x = V(repeating: pa[3])
        c30.addProduct(x, b0); c31.addProduct(x, b1)
        x = V(repeating: pa[4])
        c40.addProduct(x, b0); c41.addProduct(x, b1)
        x = V(repeating: pa[5])
        c50.addProduct(x, b0); c51.addProduct(x, b1)
        pa += csA
        pb += bStep
        p &+= 1
      }
    } else {
      while p < k {
        let b0 = pb.loadUnaligned(as: V.self)
        c00.addProduct(V(repeating: pa[0]), b0)
        c10.addProduct(V(repeating: pa[1]), b0)
        c20.addProduct(V(repeating: pa[2]), b0)
        c30.addProduct(V(repeating: pa[3]), b0)
        c40.addProduct(V(repeating: pa[4]), b0)
        c50.addProduct(V(repeating: pa[5]), b0)
        pa += csA
        pb += bStep
        p &+= 1
      }
    }
  } else if readRows == 6 {
    // Unpacked rows: bases every four rows, three stride registers.
    let s1 = rsA, s2 = 2 &* rsA, s3 = 3 &* rsA
    let g1 = 4 &* rsA
    if wide {
      while p < k {
        let b0 = pb.loadUnaligned(as: V.self)
        let b1 = pb.loadUnaligned(fromByteOffset: bHalf, as: V.self)
        var x = V(repeating: pa[0])
        c00.addProduct(x, b0); c01.addProduct(x, b1)
        x = V(repeating: pa[s1])
        c10.addProduct(x, b0); c11.addProduct(x, b1)
        x = V(repeating: pa[s2])
        c20.addProduct(x, b0); c21.addProduct(x, b1)
        x = V(repeating: pa[s3])
        c30.addProduct(x, b0); c31.addProduct(x, b1)
        x = V(repeating: pa[g1])
        c40.addProduct(x, b0); c41.addProduct(x, b1)
        x = V(repeating: pa[g1 &+ s1])
        c50.addProduct(x, b0); c51.addProduct(x, b1)
        pa += csA
        pb += bStep
        p &+= 1
      }
    } else {
      while p < k {
        let b0 = pb.loadUnaligned(as: V.self)
        c00.addProduct(V(repeating: pa[0]), b0)
        c10.addProduct(V(repeating: pa[s1]), b0)
        c20.addProduct(V(repeating: pa[s2]), b0)
        c30.addProduct(V(repeating: pa[s3]), b0)
        c40.addProduct(V(repeating: pa[g1]), b0)
        c50.addProduct(V(repeating: pa[g1 &+ s1]), b0)
        pa += csA
        pb += bStep
        p &+= 1
      }
    }
  } else {
    // Edge rows: rows past readRows repeat the last one.
    let last = readRows &- 1
    let o1 = min(1, last) &* rsA, o2 = min(2, last) &* rsA, o3 = min(3, last) &* rsA, o4 = min(4, last) &* rsA
    let o5 = min(5, last) &* rsA
    if wide {
      while p < k {
        let b0 = pb.loadUnaligned(as: V.self)
        let b1 = pb.loadUnaligned(fromByteOffset: bHalf, as: V.self)
        var x = V(repeating: pa[0])
        c00.addProduct(x, b0); c01.addProduct(x, b1)
        x = V(repeating: pa[o1])
        c10.addProduct(x, b0); c11.addProduct(x, b1)
        x = V(repeating: pa[o2])
        c20.addProduct(x, b0); c21.addProduct(x, b1)
        x = V(repeating: pa[o3])
        c30.addProduct(x, b0); c31.addProduct(x, b1)
        x = V(repeating: pa[o4])
        c40.addProduct(x, b0); c41.addProduct(x, b1)
        x = V(repeating: pa[o5])
        c50.addProduct(x, b0); c51.addProduct(x, b1)
        pa += csA
        pb += bStep
        p &+= 1
      }
    } else {
      while p < k {
        let b0 = pb.loadUnaligned(as: V.self)
        c00.addProduct(V(repeating: pa[0]), b0)
        c10.addProduct(V(repeating: pa[o1]), b0)
        c20.addProduct(V(repeating: pa[o2]), b0)
        c30.addProduct(V(repeating: pa[o3]), b0)
        c40.addProduct(V(repeating: pa[o4]), b0)
        c50.addProduct(V(repeating: pa[o5]), b0)
        pa += csA
        pb += bStep
        p &+= 1
      }
    }
  }

  if mr == 6 && nr == 2 &* width {
    storeScaled(c00, c01, to: c, width: width, alpha: alpha, beta: beta)
    storeScaled(c10, c11, to: c + ldc, width: width, alpha: alpha, beta: beta)
    storeScaled(c20, c21, to: c + 2 &* ldc, width: width, alpha: alpha, beta: beta)
    storeScaled(c30, c31, to: c + 3 &* ldc, width: width, alpha: alpha, beta: beta)
    storeScaled(c40, c41, to: c + 4 &* ldc, width: width, alpha: alpha, beta: beta)
    storeScaled(c50, c51, to: c + 5 &* ldc, width: width, alpha: alpha, beta: beta)
    return
  }
  // Edge tile: only the valid rows, and in each only the valid columns.
  storePartial(c00, c01, to: c, cols: nr, alpha: alpha, beta: beta)
  if mr > 1 { storePartial(c10, c11, to: c + ldc, cols: nr, alpha: alpha, beta: beta) }
  if mr > 2 { storePartial(c20, c21, to: c + 2 &* ldc, cols: nr, alpha: alpha, beta: beta) }
  if mr > 3 { storePartial(c30, c31, to: c + 3 &* ldc, cols: nr, alpha: alpha, beta: beta) }
  if mr > 4 { storePartial(c40, c41, to: c + 4 &* ldc, cols: nr, alpha: alpha, beta: beta) }
  if mr > 5 { storePartial(c50, c51, to: c + 5 &* ldc, cols: nr, alpha: alpha, beta: beta) }
}
#endif

/// Stores `α·(v0, v1) + β·C` over the first `cols` elements of C at `c`:
/// whole vectors where they fit, single elements for the rest.
@inline(__always)
func storePartial<V: SIMD>(
  _ v0: V, _ v1: V, to c: UnsafeMutablePointer<V.Scalar>, cols: Int,
  alpha: V.Scalar, beta: V.Scalar
) where V.Scalar: FloatingPoint {
  let width = V.scalarCount
  if cols == 2 &* width {
    storeScaled(v0, v1, to: c, width: width, alpha: alpha, beta: beta)
    return
  }
  var tail = v0
  var start = 0
  if cols >= width {
    let raw = UnsafeMutableRawPointer(c)
    var r = v0 * alpha
    if beta != 0 { r.addProduct(V(repeating: beta), raw.loadUnaligned(as: V.self)) }
    raw.storeBytes(of: r, as: V.self)
    tail = v1
    start = width
  }
  if beta == 0 {
    for j in start..<cols { c[j] = alpha * tail[j &- start] }
  } else {
    for j in start..<cols { c[j] = alpha * tail[j &- start] + beta * c[j] }
  }
}

/// Stores `α·(v0, v1) + β·C` over two vectors of C starting at `c`.
@inline(__always)
func storeScaled<V: SIMD>(
  _ v0: V, _ v1: V, to c: UnsafeMutablePointer<V.Scalar>, width: Int,
  alpha: V.Scalar, beta: V.Scalar
) where V.Scalar: FloatingPoint {
  let raw = UnsafeMutableRawPointer(c)
  let half = width &* MemoryLayout<V.Scalar>.stride
  var r0 = v0 * alpha
  var r1 = v1 * alpha
  if beta != 0 {
    let b = V(repeating: beta)
    r0.addProduct(b, raw.loadUnaligned(as: V.self))
    r1.addProduct(b, raw.loadUnaligned(fromByteOffset: half, as: V.self))
  }
  raw.storeBytes(of: r0, as: V.self)
  raw.storeBytes(of: r1, toByteOffset: half, as: V.self)
}
