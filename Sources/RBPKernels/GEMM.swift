// General matrix multiply, C = α·op(A)·op(B) + β·C, over row-major unsafe
// buffers: the public entry point, the problem description, the blocking
// table and the packing workspace. The work is done by the paths in
// GEMM+Blocked.swift (large, BLIS-style), GEMM+Small.swift (the engine's
// small shapes, no packing of A) and GEMM+Threaded.swift (splitting across
// cores). GEMM+Reference.swift holds the naive oracle.
//
// Legend: op(A) is m×k, op(B) is k×n, C is m×n; all row-major with leading
// dimensions lda, ldb, ldc (elements between consecutive rows as stored).

/// Cache blocking and register tile of the packed GEMM, in elements.
///
/// `mr`×`nr` is the micro-kernel's register tile; `kc` the depth of one packed
/// panel (an `kc`×`nr` B panel should sit in L1); `mc`×`kc` the packed A block
/// (L2); `kc`×`nc` the packed B block (L3).
public struct GEMMBlocking: Sendable, Equatable {
  /// Rows of the register tile.
  public var mr: Int
  /// Columns of the register tile.
  public var nr: Int
  /// Depth of a packed block.
  public var kc: Int
  /// Rows of a packed A block (a multiple of `mr`).
  public var mc: Int
  /// Columns of a packed B block (a multiple of `nr`).
  public var nc: Int

  /// These sizes; traps unless each block holds whole tiles.
  public init(mr: Int, nr: Int, kc: Int, mc: Int, nc: Int) {
    precondition(kc >= 1 && mc >= mr && nc >= nr, "blocking sizes must hold at least one tile")
    precondition(mc % mr == 0 && nc % nr == 0, "MC and NC must be multiples of MR and NR")
    self.mr = mr
    self.nr = nr
    self.kc = kc
    self.mc = mc
    self.nc = nc
  }
}

/// One GEMM call, as the drivers see it. Build it through `gemm(...)`.
///
/// Sendable so that worker threads can take disjoint slices of it; the
/// caller guarantees the buffers outlive the call and C is written only
/// through those disjoint slices.
public struct GEMMProblem<T: KernelScalar>: @unchecked Sendable {
  /// op(A) = Aᵀ.
  public var transA: Bool
  /// op(B) = Bᵀ.
  public var transB: Bool
  /// Rows of C and op(A).
  public var m: Int
  /// Columns of C and op(B).
  public var n: Int
  /// Columns of op(A), rows of op(B): the depth.
  public var k: Int
  /// α
  public var alpha: T
  /// A, row-major.
  public var a: UnsafePointer<T>
  /// The stride between A's rows.
  public var lda: Int
  /// B, row-major.
  public var b: UnsafePointer<T>
  /// The stride between B's rows.
  public var ldb: Int
  /// β (0: C is not read).
  public var beta: T
  /// C, row-major, m×n.
  public var c: UnsafeMutablePointer<T>
  /// The stride between C's rows.
  public var ldc: Int
  /// The most threads the product may use.
  public var threads: Int
  /// op(B) already packed into NR-column panels (see `packB`), or nil. The
  /// small path reads these panels instead of B; the blocked path packs B.
  public var packedB: UnsafePointer<T>? = nil
  /// The NR the panels of `packedB` were packed for.
  public var packedNR: Int = 0

  /// The rows `i0 ..< i0+rows` of C and op(A).
  func rows(_ i0: Int, _ rows: Int) -> GEMMProblem {
    var q = self
    q.m = rows
    q.a = transA ? a + i0 : a + i0 * lda
    q.c = c + i0 * ldc
    return q
  }
  /// The columns `j0 ..< j0+cols` of C and op(B).
  func columns(_ j0: Int, _ cols: Int) -> GEMMProblem {
    var q = self
    q.n = cols
    q.b = transB ? b + j0 * ldb : b + j0
    q.c = c + j0
    if let packed = packedB {
      precondition(j0 % packedNR == 0, "GEMMProblem.columns: a packed B is split only at panel boundaries")
      q.packedB = packed + j0 / packedNR * k * packedNR
    }
    return q
  }
}

/// What one thread's computations reuse from call to call: GEMM's packing
/// buffers (one pair per worker thread, 64-byte aligned, grown on first
/// use), the instruction set the kernels run on (the active one unless
/// another is asked for; the packed layout depends on its register tile),
/// and the engine's scratch slots (`scratch`, which RBPCore's passes use).
/// A caller that keeps its workspace makes the kernels and the passes
/// allocation-free.
///
/// A workspace has one owner at a time: two concurrent `gemm` calls need two
/// workspaces.
public final class KernelWorkspace<T: KernelScalar>: @unchecked Sendable {
  struct Buffers: @unchecked Sendable {
    var packA: UnsafeMutablePointer<T>
    var packB: UnsafeMutablePointer<T>
    var capacityA: Int
    var capacityB: Int
  }
  private(set) var workers: [Buffers] = []

  /// The blocking used by the packed path; defaults to the precision's
  /// tuned table for the instruction set. MR and NR must stay those of
  /// `T.gemmBlocking(for: isa)` (they are fixed by the micro-kernel); KC,
  /// MC and NC may be changed to tune.
  public let blocking: GEMMBlocking
  /// The kernels every product through this workspace runs on.
  public let kernels: KernelTable

  /// - Parameters:
  ///   - blocking: the packed path's blocking; nil for the tuned table.
  ///   - isa: the instruction set; it must be supported by this CPU.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init(blocking: GEMMBlocking? = nil, isa: KernelISA = .active) {
    let tuned = T.gemmBlocking(for: isa)
    let blocking = blocking ?? tuned
    precondition(isa.isSupported, "KernelWorkspace: this CPU cannot run the \(isa) kernels")
    precondition(
      blocking.mr == tuned.mr && blocking.nr == tuned.nr,
      "KernelWorkspace: MR×NR must be \(tuned.mr)×\(tuned.nr) for \(T.self) with \(isa)")
    self.blocking = blocking
    self.kernels = isa.kernels
  }

  deinit {
    for w in workers {
      w.packA.deallocate()
      w.packB.deallocate()
    }
    for b in scratchBuffers { b.deallocate() }
    partialBuffer.deallocate()
  }

  /// Working memory of the passes built on these products (BPTT's state,
  /// slope and adjoint blocks), by slot: each slot grows to the largest
  /// count asked of it and is kept for the next call, so that a loop of
  /// calls on batches of one shape allocates (and faults in) nothing after
  /// the first. The contents are not kept: a caller writes before it reads.
  public func scratch(_ slot: Int, count: Int) -> UnsafeMutablePointer<T> {
    precondition(slot >= 0 && count >= 0, "KernelWorkspace.scratch: negative slot or count")
    while scratchBuffers.count <= slot {
      scratchBuffers.append(UnsafeMutableBufferPointer(start: Self.allocate(0), count: 1))
    }
    if scratchBuffers[slot].count < count {
      scratchBuffers[slot].deallocate()
      scratchBuffers[slot] = UnsafeMutableBufferPointer(start: Self.allocate(count), count: count)
    }
    return scratchBuffers[slot].baseAddress!
  }
  private var scratchBuffers: [UnsafeMutableBufferPointer<T>] = []

  /// Room for `count` elements of partial products (the depth blocks of
  /// `depthSplitGEMM`), kept for the next call. Not thread-safe: call
  /// before fanning out.
  func partials(count: Int) -> UnsafeMutablePointer<T> {
    if partialBuffer.count < count {
      partialBuffer.deallocate()
      partialBuffer = UnsafeMutableBufferPointer(start: Self.allocate(count), count: count)
    }
    return partialBuffer.baseAddress!
  }
  private var partialBuffer = UnsafeMutableBufferPointer<T>(start: KernelWorkspace.allocate(0), count: 1)

  /// Makes sure `count` workers each have room for `aCount` and `bCount`
  /// packed elements. Not thread-safe: call before fanning out.
  func reserve(workers count: Int, aCount: Int, bCount: Int) {
    for i in 0..<count {
      if i == workers.count {
        workers.append(
          Buffers(
            packA: Self.allocate(aCount), packB: Self.allocate(bCount),
            capacityA: aCount, capacityB: bCount))
        continue
      }
      if workers[i].capacityA < aCount {
        workers[i].packA.deallocate()
        workers[i].packA = Self.allocate(aCount)
        workers[i].capacityA = aCount
      }
      if workers[i].capacityB < bCount {
        workers[i].packB.deallocate()
        workers[i].packB = Self.allocate(bCount)
        workers[i].capacityB = bCount
      }
    }
  }

  private static func allocate(_ count: Int) -> UnsafeMutablePointer<T> {
    let raw = UnsafeMutableRawPointer.allocate(
      byteCount: max(count, 1) * MemoryLayout<T>.stride, alignment: 64)
    return raw.bindMemory(to: T.self, capacity: max(count, 1))
  }
}

/// `C = α·op(A)·op(B) + β·C`, row-major.
///
/// ```
/// C[i, j] = α · Σ_p op(A)[i, p] · op(B)[p, j] + β · C[i, j]
/// op(A) = transA ? Aᵀ : A   (m×k)      op(B) = transB ? Bᵀ : B   (k×n)
/// ```
///
/// With `β = 0`, C is not read (NaNs in it do not propagate). C must not
/// overlap A or B.
///
/// - Parameters:
///   - transA: use the transpose of the stored A.
///   - transB: use the transpose of the stored B.
///   - m: rows of op(A) and C.
///   - n: columns of op(B) and C.
///   - k: columns of op(A), rows of op(B).
///   - alpha: α.
///   - a: A as stored, m×k (or k×m when transposed).
///   - lda: A's row stride.
///   - b: B as stored, k×n (or n×k when transposed).
///   - ldb: B's row stride.
///   - beta: β; 0 leaves C unread.
///   - c: C, m×n.
///   - ldc: C's row stride.
///   - packedB: op(B) as `packB` laid it out for this workspace, for a B
///     that many products share (a weight matrix over the passes or steps
///     of one pass): the small path then reads its contiguous panels
///     instead of packing or striding through B. `b` is still required
///     (the packed path reads it). The result is bit for bit that of the
///     product with op(B) stored untransposed; a transposed B with its
///     panels packed takes the small path like an untransposed one.
///   - threads: worker threads for large products; callers that already
///     parallelise at a higher level pass 1.
///   - workspace: packing buffers, reused across calls.
@_specialize(exported:true,where T == Float)
@_specialize(exported:true,where T == Double)
public func gemm<T: KernelScalar>(
  transA: Bool = false, transB: Bool = false,
  m: Int, n: Int, k: Int,
  alpha: T = 1,
  a: UnsafePointer<T>, lda: Int,
  b: UnsafePointer<T>, ldb: Int,
  packedB: UnsafePointer<T>? = nil,
  beta: T = 0,
  c: UnsafeMutablePointer<T>, ldc: Int,
  threads: Int = 1,
  workspace: KernelWorkspace<T>
) {
  precondition(m >= 0 && n >= 0 && k >= 0, "gemm: negative dimension")
  precondition(lda >= max(1, transA ? m : k), "gemm: lda \(lda) too small")
  precondition(ldb >= max(1, transB ? k : n), "gemm: ldb \(ldb) too small")
  precondition(ldc >= max(1, n), "gemm: ldc \(ldc) too small")
  precondition(threads >= 1, "gemm: threads must be at least 1")
  var problem = GEMMProblem(
    transA: transA, transB: transB, m: m, n: n, k: k,
    alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
    beta: beta, c: c, ldc: ldc, threads: threads)
  if let packedB {
    problem.packedB = packedB
    problem.packedNR = workspace.blocking.nr
  }
  T._gemm(problem, workspace)
}

/// Elements `packB` writes for a k×n op(B): k·⌈n/NR⌉·NR.
public func packedBCount<T: KernelScalar>(k: Int, n: Int, workspace: KernelWorkspace<T>) -> Int {
  k * roundUp(n, workspace.blocking.nr)
}

/// Packs op(B), k×n, into NR-column panels for `gemm(packedB:)`: panel j
/// holds columns j·NR ..< (j+1)·NR as k rows of NR (zero beyond n), the
/// layout the micro-kernel of `workspace`'s instruction set reads.
/// `into` must hold `packedBCount(k:n:workspace:)` elements.
@_specialize(exported:true,where T == Float)
@_specialize(exported:true,where T == Double)
public func packB<T: KernelScalar>(
  transB: Bool = false, k: Int, n: Int, b: UnsafePointer<T>, ldb: Int,
  into packed: UnsafeMutablePointer<T>, workspace: KernelWorkspace<T>
) {
  precondition(k >= 0 && n >= 0 && ldb >= max(1, transB ? k : n), "packB: bad shape")
  let nr = workspace.blocking.nr
  let p = GEMMProblem(
    transA: false, transB: transB, m: 0, n: n, k: k, alpha: 1, a: b, lda: 1, b: b, ldb: ldb,
    beta: 0, c: UnsafeMutablePointer(mutating: b), ldc: 1, threads: 1)
  var j = 0
  while j < n {
    packPanelB(p, rows: 0, k, column: j, cols: min(nr, n - j), workspace.kernels, into: packed + j / nr * k * nr)
    j += nr
  }
}

/// Chooses the path for one problem. Specialised per precision through
/// `KernelScalar._gemm`.
@inline(__always)
func gemmDriver<T: KernelScalar>(_ p: GEMMProblem<T>, _ ws: KernelWorkspace<T>) {
  if p.m == 0 || p.n == 0 { return }
  if p.k == 0 || p.alpha == 0 {
    scaleC(p)
    return
  }
  // The path is chosen once for the whole product, so that thread slices
  // sum in the same order as one thread would.
  if useDepthSplit(p) {
    depthSplitGEMM(p, ws)
    return
  }
  let small = useSmallPath(p)
  let workers = threadCount(for: p)
  let bl = ws.blocking
  if small {
    ws.reserve(workers: workers, aCount: 0, bCount: p.k * bl.nr)
  } else {
    ws.reserve(workers: workers, aCount: bl.mc * bl.kc, bCount: bl.kc * min(bl.nc, roundUp(p.n, bl.nr)))
  }
  if workers == 1 {
    runPath(p, small: small, blocking: bl, ws.kernels, ws.workers[0])
  } else {
    threadedGEMM(p, workers: workers, ws, small: small, blocking: bl)
  }
}

/// One thread's share: the small or the blocked path, on its own buffers.
@inline(__always)
func runPath<T: KernelScalar>(
  _ p: GEMMProblem<T>, small: Bool, blocking bl: GEMMBlocking, _ kernels: KernelTable,
  _ buffers: KernelWorkspace<T>.Buffers
) {
  if small {
    smallGEMM(p, blocking: bl, kernels, panel: buffers.packB)
  } else {
    blockedGEMM(p, blocking: bl, kernels, packA: buffers.packA, packB: buffers.packB)
  }
}

/// `C = β·C` (the whole product vanishes when k = 0 or α = 0).
func scaleC<T: KernelScalar>(_ p: GEMMProblem<T>) {
  for i in 0..<p.m {
    let row = p.c + i * p.ldc
    if p.beta == 0 {
      row.update(repeating: 0, count: p.n)
    } else if p.beta != 1 {
      for j in 0..<p.n { row[j] *= p.beta }
    }
  }
}

/// `x` rounded up to a multiple of `multiple`.
@inlinable public func roundUp(_ x: Int, _ multiple: Int) -> Int {
  (x + multiple - 1) / multiple * multiple
}

/// The former name of `KernelWorkspace`.
@available(*, deprecated, renamed: "KernelWorkspace")
public typealias GEMMWorkspace<T: KernelScalar> = KernelWorkspace<T>
