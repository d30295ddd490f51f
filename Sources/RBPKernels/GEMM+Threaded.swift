// The threaded GEMM path: splits C into contiguous row (or column) slices,
// one per worker of the pool (WorkerPool.swift), each computed by the
// single-threaded small or blocked path
// (the same one for every slice) with its own buffers. Every element of C
// is computed by exactly one worker in the same order as on one thread, so results do not depend on the
// number of threads.

/// Multiply–adds below which a worker is not worth waking: about 10 µs of
/// work at 100 GFLOP/s. The pool's threads spin between products
/// (WorkerPool.swift); with Dispatch's sleeping threads the limit was 8
/// times higher. Measured with `rbp bench kernels --threads 2`: products at
/// N = 256 (4 Mi multiply-adds) ran 1.66–1.93× faster on two threads in
/// three runs on 2026-12-07.
let minimumVolumePerWorker = 1 << 20
/// Elements of C below which C is not split: each slice repeats the packing
/// of the shared operand, which dominates when C is small and k is long
/// (such products split their depth instead, GEMM+DepthSplit.swift).
let minimumOutputPerWorker = 64 * 64

/// Workers to use for `p`: at most `p.threads`, and few enough that each
/// gets a worthwhile share.
@inline(__always)
func threadCount<T: KernelScalar>(for p: GEMMProblem<T>) -> Int {
  if p.threads <= 1 { return 1 }
  let volume = p.m * p.n * p.k
  return max(1, min(p.threads, volume / minimumVolumePerWorker, p.m * p.n / minimumOutputPerWorker))
}

/// Splits the longer of C's two sides into `workers` slices aligned to the
/// register tile and runs the chosen path on each concurrently. The
/// workspace must hold `workers` sets of buffers sized for that path.
func threadedGEMM<T: KernelScalar>(
  _ p: GEMMProblem<T>, workers: Int, _ ws: KernelWorkspace<T>, small: Bool,
  blocking: GEMMBlocking? = nil
) {
  let bl = blocking ?? ws.blocking
  let kernels = ws.kernels
  let splitRows = p.m >= p.n
  let length = splitRows ? p.m : p.n
  let unit = splitRows ? bl.mr : bl.nr
  let units = (length + unit - 1) / unit
  let buffers = ws.workers
  WorkerPool.shared.run(tasks: workers) { w in
    let first = units * w / workers * unit
    let end = min(length, units * (w + 1) / workers * unit)
    guard end > first else { return }
    let slice = splitRows ? p.rows(first, end - first) : p.columns(first, end - first)
    runPath(slice, small: small, blocking: bl, kernels, buffers[w])
  }
}
