// The packed, cache-blocked GEMM for large products, in the BLIS layering:
// five loops around the micro-kernel, each with one job. Single-threaded;
// GEMM+Threaded.swift splits work across cores by calling this on slices.

/// `C = α·op(A)·op(B) + β·C` by the five BLIS loops:
///
/// ```
/// jc: NC columns of C and op(B)            (B block kc×nc in L3)
///   pc: KC of the shared dimension; pack B (β applied only when pc = 0)
///     ic: MC rows of C and op(A); pack A   (A block mc×kc in L2)
///       jr: NR columns: one packed B panel (kc×NR in L1)
///         ir: MR rows: micro-kernel on one MR×NR tile of C
/// ```
///
/// `packA` must hold MC·KC elements and `packB` KC·min(NC, n rounded up to NR).
/// `bl` is the precision's table for the kernels' instruction set; tests
/// pass tiny blockings to cross every block boundary on small matrices (MR
/// and NR are fixed by the micro-kernel).
func blockedGEMM<T: KernelScalar>(
  _ p: GEMMProblem<T>, blocking bl: GEMMBlocking, _ kernels: KernelTable,
  packA: UnsafeMutablePointer<T>, packB: UnsafeMutablePointer<T>
) {
  let (MR, NR) = (bl.mr, bl.nr)
  var jc = 0
  while jc < p.n {
    let nc = min(bl.nc, p.n - jc)
    var pc = 0
    while pc < p.k {
      let kc = min(bl.kc, p.k - pc)
      let beta = pc == 0 ? p.beta : 1
      packPanelsB(p, rows: pc, kc, columns: jc, nc, nr: NR, kernels, into: packB)
      var ic = 0
      while ic < p.m {
        let mc = min(bl.mc, p.m - ic)
        packPanelsA(p, rows: ic, mc, depth: pc, kc, mr: MR, into: packA)
        let aStrides = packedStrides(transA: p.transA, kc: kc, mr: MR)
        var jr = 0
        while jr < nc {
          let nr = min(NR, nc - jr)
          let bPanel = UnsafePointer(packB + jr * kc)
          let cColumn = p.c + jc + jr
          var ir = 0
          while ir < mc {
            microKernel(
              kernels, k: kc,
              a: UnsafePointer(packA + ir * kc), rowStride: aStrides.row, depthStride: aStrides.depth,
              rows: min(MR, mc - ir),
              b: bPanel, bStride: NR,
              c: cColumn + (ic + ir) * p.ldc, ldc: p.ldc, cols: nr,
              alpha: p.alpha, beta: beta, readRows: MR)
            ir += MR
          }
          jr += NR
        }
        ic += mc
      }
      pc += kc
    }
    jc += nc
  }
}

/// How a packed A panel is laid out, chosen so that packing reads and
/// writes memory contiguously: an untransposed A keeps its rows
/// (`rowStride = kc, depthStride = 1`: one contiguous copy per row), a
/// transposed A keeps its depth steps (`rowStride = 1, depthStride = MR`).
@inline(__always)
func packedStrides(transA: Bool, kc: Int, mr: Int) -> (row: Int, depth: Int) {
  transA ? (1, mr) : (kc, 1)
}

/// Packs rows `i0 ..< i0+mc`, depth `p0 ..< p0+kc` of op(A) into MR-row
/// panels of MR·kc elements each, in the layout of `packedStrides`,
/// zero-padded past row mc.
@inline(__always)
func packPanelsA<T: KernelScalar>(
  _ p: GEMMProblem<T>, rows i0: Int, _ mc: Int, depth p0: Int, _ kc: Int, mr MR: Int,
  into dst: UnsafeMutablePointer<T>
) {
  var ir = 0
  while ir < mc {
    let rows = min(MR, mc - ir)
    let panel = dst + ir * kc
    if p.transA {
      // op(A)[i, p] = A[p, i]: each depth step is a contiguous run of rows.
      // Element loops, not memmove: runs of MR are too short for a call.
      for q in 0..<kc {
        let out = panel + q * MR
        let src = p.a + (p0 + q) * p.lda + i0 + ir
        if rows == MR {
          for r in 0..<MR { out[r] = src[r] }
        } else {
          for r in 0..<rows { out[r] = src[r] }
          for r in rows..<MR { out[r] = 0 }
        }
      }
    } else {
      for r in 0..<rows {
        (panel + r * kc).update(from: p.a + (i0 + ir + r) * p.lda + p0, count: kc)
      }
      if rows < MR { (panel + rows * kc).update(repeating: 0, count: (MR - rows) * kc) }
    }
    ir += MR
  }
}

/// Packs depth `p0 ..< p0+kc`, columns `j0 ..< j0+nc` of op(B) into NR-column
/// panels: panel q holds `dst[q·NR·kc + p·NR + j] = op(B)[p0 + p, j0 + q·NR + j]`,
/// zero-padded past column nc.
@inline(__always)
func packPanelsB<T: KernelScalar>(
  _ p: GEMMProblem<T>, rows p0: Int, _ kc: Int, columns j0: Int, _ nc: Int, nr NR: Int, _ kernels: KernelTable,
  into dst: UnsafeMutablePointer<T>
) {
  var jr = 0
  while jr < nc {
    packPanelB(p, rows: p0, kc, column: j0 + jr, cols: min(NR, nc - jr), kernels, into: dst + jr * kc)
    jr += NR
  }
}

/// Packs one kc×NR panel of op(B) starting at `(p0, j0)`, zero-padded past
/// `cols`, by the instruction set's kernel (a transposed B goes through
/// register transposes of vector-square blocks). NR is the micro-kernel's.
@inline(__always)
func packPanelB<T: KernelScalar>(
  _ p: GEMMProblem<T>, rows p0: Int, _ kc: Int, column j0: Int, cols: Int, _ kernels: KernelTable,
  into panel: UnsafeMutablePointer<T>
) {
  let source = p.transB ? p.b + j0 * p.ldb + p0 : p.b + p0 * p.ldb + j0
  T._packPanel(source, ldb: p.ldb, transposed: p.transB, k: kc, cols: cols, into: panel, kernels)
}
