// The small-matrix GEMM path: the shapes the engine lives on (an N×N weight
// matrix times an N×B state block, N = 16…256, B = 1…64), where packing A
// and the five-loop machinery cost more than they save. A is read in place
// by the micro-kernel through its strides; B is read in place too when a
// full, untransposed NR-column panel is available and the rows it spans fit
// in L2, and packed into a panel buffer otherwise; a deep product goes by
// depth blocks, each block's panel packed; a caller that multiplies by the
// same B many times packs it once (`packB`) and passes the panels.

/// Largest `m·n·k` sent down the small path unconditionally; above it the
/// packed path's contiguous, reused panels usually win.
let smallPathMaxVolume = 256 * 256 * 64
/// A product with one short side of C goes unpacked whatever its depth,
/// when A and B together fit in about one L2 (they are streamed once per
/// tile row or column): each packed element would be reused too few times to
/// repay the copy. A narrow B (short n) tolerates a little more than a wide
/// B read in place. Never with a transposed B, whose panels must be
/// gathered anyway, unless they were packed beforehand. The limits were
/// measured on the engine's shapes.
let smallPathMaxSide = 64
let smallPathMaxBytesNarrowB = 5 << 19  // 2.5 MiB
let smallPathMaxBytesShortA = 2 << 20  // 2 MiB
/// Largest span of B (rows at its row stride) the small path reads in place
/// rather than packing each panel (measured on W3's and W4's shapes).
let inPlaceSpanBytes = 512 << 10
/// Deepest product the small path does in one block: a deeper one (the
/// weight gradient over T·P rows) goes by depth blocks of at most
/// `smallPathDepthBlock`, each adding into C, each block's k×NR panel of B
/// packed (16 KiB in f32 with AVX2) so that it stays in L1 across the
/// slivers of A, whose in-place rows contend for the same L1 sets. On
/// W1's weight gradient `Sᵀ·X 64×3200·3200×64` (`rbp bench kernels`):
/// 497 µs with blocks of 1024 read in place, 445 µs with blocks of 256
/// read in place, 434–460 µs with blocks of 256 packed (against 485–510
/// in place in the same alternating runs).
let smallPathMaxDepth = 1024
let smallPathDepthBlock = 256

/// The depth blocks of a product of depth k on the small path: one block
/// up to `smallPathMaxDepth`, else blocks of even depth, at most
/// `smallPathDepthBlock` each (the last one shorter when k does not divide).
@inline(__always)
func depthBlocks(_ k: Int) -> (count: Int, depth: Int) {
  let limit = k > smallPathMaxDepth ? smallPathDepthBlock : smallPathMaxDepth
  let even = max(1, (k + limit - 1) / limit)
  let depth = max(1, (k + even - 1) / even)
  return ((k + depth - 1) / depth, depth)
}

@inline(__always)
func useSmallPath<T: KernelScalar>(_ p: GEMMProblem<T>) -> Bool {
  if p.m * p.n * p.k <= smallPathMaxVolume { return true }
  // A transposed B must be gathered into panels, which the packed path
  // does once per block; already packed panels are read as they are.
  if p.transB && p.packedB == nil { return false }
  let bytes = (p.m + p.n) * p.k * MemoryLayout<T>.stride
  return (p.n <= smallPathMaxSide && bytes <= smallPathMaxBytesNarrowB)
    || (p.m <= smallPathMaxSide && bytes <= smallPathMaxBytesShortA)
}

/// Rows of the next sliver of A when `left` rows remain: MR, except that
/// a full sliver followed by at most MR/3 rows (32 rows in slivers of 6
/// end in 6 + 2) becomes two even halves (4 + 4). The micro-kernel runs an
/// edge of at most 2·MR/3 rows as a shorter loop, and a loop of MR/3 rows
/// is bound by the latency of its few accumulators, not by their number:
/// with MR = 6, slivers of 6 and 2 cost about as much as 6 and 4, more
/// than 4 and 4. Each element of C is computed the same way in any
/// sliver, so the bits do not change.
@inline(__always)
func sliverRows(left: Int, mr MR: Int) -> Int {
  left > MR && left - MR <= MR / 3 ? (left + 1) / 2 : min(MR, left)
}

/// `C = α·op(A)·op(B) + β·C` without packing A; single-threaded.
/// Loop order: NR-column panels of op(B) outside (the panel stays in L1),
/// MR-row slivers of A inside. `panel` must hold k·NR elements; `bl` is the
/// precision's table for the kernels' instruction set (only MR and NR count).
func smallGEMM<T: KernelScalar>(
  _ p: GEMMProblem<T>, blocking bl: GEMMBlocking, _ kernels: KernelTable, panel: UnsafeMutablePointer<T>
) {
  let (MR, NR) = (bl.mr, bl.nr)
  let width = NR / 2
  let (rowStride, depthStride) = p.transA ? (1, p.lda) : (p.lda, 1)
  do {
    // Depth blocks (see `smallPathDepthBlock`), the same whether B is
    // packed or not (so packing never changes the bits); each adds into C.
    let (blocks, depth) = depthBlocks(p.k)
    var jr = 0
    while jr < p.n {
      let nr = min(NR, p.n - jr)
      var d0 = 0
      repeat {
        let kd = min(depth, p.k - d0)
        // B in place when every column the micro-kernel reads exists (a
        // full panel, or exactly one vector: the narrow loop reads no more),
        // the rows the product spans in B fit in L2 (beyond, its lines come
        // from L3 for every sliver of A, and a packed copy stays in L1), and
        // the product is one block (see `smallPathDepthBlock`).
        let b: UnsafePointer<T>
        let bStride: Int
        if let packed = p.packedB {
          b = packed + jr / NR * p.k * NR + d0 * NR
          bStride = NR
        } else if !p.transB && (nr == NR || nr == width) && kd * p.ldb * MemoryLayout<T>.stride <= inPlaceSpanBytes
          && blocks == 1
        {
          b = p.b + d0 * p.ldb + jr
          bStride = p.ldb
        } else {
          packPanelB(p, rows: d0, kd, column: jr, cols: nr, kernels, into: panel)
          b = UnsafePointer(panel)
          bStride = NR
        }
        var ir = 0
        while ir < p.m {
          let rows = sliverRows(left: p.m - ir, mr: MR)
          microKernel(
            kernels, k: kd,
            a: p.a + ir * rowStride + d0 * depthStride, rowStride: rowStride, depthStride: depthStride,
            rows: rows,
            b: b, bStride: bStride,
            c: p.c + ir * p.ldc + jr, ldc: p.ldc, cols: nr,
            alpha: p.alpha, beta: d0 == 0 ? p.beta : 1, readRows: rows)
          ir += rows
        }
        d0 += kd
      } while d0 < p.k
      jr += NR
    }
  }
}
