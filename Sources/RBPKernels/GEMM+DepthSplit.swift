// Products of a small C over a long depth: the weight gradient S·Xᵀ (N×N
// or N×I) over the T·P steps and patterns of a minibatch, e.g. 64×3200 ·
// 3200×64. C is too small to split across cores (each slice would repeat
// the packing of the shared operand), so the depth is split instead: into
// blocks of at most `smallPathDepthBlock`, each block's product written to
// a buffer of its own, the buffers then added into C in block order.
//
//   C = β·C + Σ_d α·A[:, K_d]·B[K_d, :]      d = 0, 1, … in order
//
// The blocks and the order of the sum depend on the shape alone, never on
// the number of threads: every thread count gives the same bits, and one
// thread does the same arithmetic as several.

/// Largest C (m·n) whose deep products are split along the depth.
let depthSplitMaxOutput = 128 * 128

/// Whether `p` goes by depth blocks into buffers: a deep product with a
/// small C whose B is not already packed. Each block (at most
/// `smallPathDepthBlock` deep, C at most `depthSplitMaxOutput`) is within
/// the small path's volume, whatever the transposes.
@inline(__always)
func useDepthSplit<T: KernelScalar>(_ p: GEMMProblem<T>) -> Bool {
  p.k > smallPathMaxDepth && p.m * p.n <= depthSplitMaxOutput && p.packedB == nil
}

/// `C = α·op(A)·op(B) + β·C` by depth blocks (see above), on up to
/// `p.threads` threads.
func depthSplitGEMM<T: KernelScalar>(_ p: GEMMProblem<T>, _ ws: KernelWorkspace<T>) {
  let bl = ws.blocking
  // The small path's depth blocks (at most `smallPathDepthBlock` deep).
  let (blocks, depth) = depthBlocks(p.k)
  let size = p.m * p.n
  // The work: each depth block times each NR-column panel of C, in block
  // order, dealt in contiguous ranges (fine enough that two threads get
  // even shares, and a thread mostly keeps a block's rows of A for all its
  // panels).
  let panels = (p.n + bl.nr - 1) / bl.nr
  let units = blocks * panels
  let workers = max(1, min(p.threads, units, p.m * p.n * p.k / minimumVolumePerWorker))
  ws.reserve(workers: workers, aCount: 0, bCount: depth * bl.nr)
  let partials = ws.partials(count: blocks * size)
  let buffers = ws.workers, kernels = ws.kernels
  /// Unit u's product (block u / panels, panel u % panels) into its buffer.
  func unit(_ u: Int, panel: UnsafeMutablePointer<T>) {
    let (d0, j0) = (u / panels * depth, u % panels * bl.nr)
    var q = p.columns(j0, min(bl.nr, p.n - j0))
    q.k = min(depth, p.k - d0)
    q.a = p.transA ? p.a + d0 * p.lda : p.a + d0
    q.b = p.transB ? q.b + d0 : q.b + d0 * p.ldb
    q.beta = 0
    q.c = partials + u / panels * size + j0
    q.ldc = p.n
    smallGEMM(q, blocking: bl, kernels, panel: panel)
  }
  if workers > 1 {
    WorkerPool.shared.run(tasks: workers) { w in
      for u in units * w / workers..<units * (w + 1) / workers { unit(u, panel: buffers[w].packB) }
    }
  } else {
    for u in 0..<units { unit(u, panel: buffers[0].packB) }
  }
  // The sum, in block order, by rows (each row's order is the same on any
  // thread).
  func sum(rows: Range<Int>) {
    for i in rows {
      let row = p.c + i * p.ldc
      if p.beta == 0 {
        row.update(repeating: 0, count: p.n)
      } else {
        for j in 0..<p.n { row[j] = p.beta * row[j] }
      }
      for d in 0..<blocks {
        let part = partials + d * size + i * p.n
        for j in 0..<p.n { row[j] += part[j] }
      }
    }
  }
  if workers > 1 {
    WorkerPool.shared.run(tasks: workers) { w in sum(rows: p.m * w / workers..<p.m * (w + 1) / workers) }
  } else {
    sum(rows: 0..<p.m)
  }
}
