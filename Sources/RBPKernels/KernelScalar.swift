// The two precisions the kernels run in, and what each brings: its Swift
// SIMD vector, its GEMM blocking per instruction set, and the entry points
// that are specialised for it. Generic code calls `T.something`; the
// witness is a concrete, fully specialised function, so the hot loops never
// run through unspecialised generics. Nothing here knows about networks.

import CRBPKernels

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A floating-point type the kernels are specialised for: `Float` or `Double`.
///
/// The requirements starting with an underscore are the specialised drivers
/// behind the public kernel functions (`gemm`, `gemv`, ...); call those instead.
public protocol KernelScalar: BinaryFloatingPoint, SIMDScalar, Sendable, Codable, CustomStringConvertible
where Vector.Scalar == Self {
  /// 32 bytes of this scalar (`SIMD8<Float>`, `SIMD4<Double>`), for the
  /// Swift-side vector loops that are bound by memory, not arithmetic.
  associatedtype Vector: SIMD

  /// Cache blocking and register tile of the packed GEMM for `isa`.
  static func gemmBlocking(for isa: KernelISA) -> GEMMBlocking

  /// Natural logarithm and exponential, for the activations and losses.
  static func _exp(_ x: Self) -> Self
  static func _log(_ x: Self) -> Self
  static func _tanh(_ x: Self) -> Self
  /// `squareRoot()`, the same bits, inlined without the C library's call
  /// and errno (which also keeps a loop taking it from vectorising).
  static func _sqrt(_ x: Self) -> Self

  static func _gemm(_ p: GEMMProblem<Self>, _ workspace: KernelWorkspace<Self>)
  static func _gemv(_ p: GEMVProblem<Self>, _ kernels: KernelTable)
  /// One register tile of the GEMM; see `microKernel` for the contract.
  static func _microKernel(
    _ kernels: KernelTable, k: Int,
    a: UnsafePointer<Self>, rowStride: Int, depthStride: Int, rows: Int,
    b: UnsafePointer<Self>, bStride: Int,
    c: UnsafeMutablePointer<Self>, ldc: Int, cols: Int,
    alpha: Self, beta: Self, readRows: Int)
  /// x = f(z), d = f'(z) for tanh and logistic: vectorised for Float,
  /// the C library's functions for Double.
  static func _activateSmooth(
    _ f: Activation, z: UnsafePointer<Self>, x: UnsafeMutablePointer<Self>,
    slope d: UnsafeMutablePointer<Self>?, count: Int, _ kernels: KernelTable)
  /// (max |u − v|, max |u|) over `count` elements; NaN first when a
  /// difference is NaN.
  static func _maxDifference(
    _ u: UnsafePointer<Self>, _ v: UnsafePointer<Self>, count: Int, _ kernels: KernelTable
  )
    -> (Self, Self)
  /// s = d ⊙ (v + g), or d ⊙ v when g is nil.
  static func _adjointStep(
    _ d: UnsafePointer<Self>, _ v: UnsafePointer<Self>, _ g: UnsafePointer<Self>?, _ s: UnsafeMutablePointer<Self>,
    count: Int, _ kernels: KernelTable)
  /// out[j] += scale · a[r·n + j], rows in order.
  static func _addScaledRows(
    _ a: UnsafePointer<Self>, rows: Int, columns: Int, scale: Self, into out: UnsafeMutablePointer<Self>,
    _ kernels: KernelTable)
  /// Σ over rows of Σ ½ (x − y)² in Double, and g = x − y when g is not nil.
  static func _meanSquared(
    _ x: UnsafePointer<Self>, ldx: Int, _ y: UnsafePointer<Self>, ldy: Int, gradient g: UnsafeMutablePointer<Self>?,
    ldg: Int, rows: Int, count: Int, _ kernels: KernelTable
  ) -> Double
  /// out = Aᵀ(A v) in one pass over A; returns ‖A v‖².
  static func _gramVector(
    m: Int, n: Int, _ a: UnsafePointer<Self>, lda: Int, _ v: UnsafePointer<Self>, into out: UnsafeMutablePointer<Self>,
    _ kernels: KernelTable
  ) -> Double
  /// fx = f(z), or z += a then fx = f(z), for tanh and logistic on `rows`
  /// rows `ld` apart; each row's (max |fx − x|, max |fx|) into its
  /// accumulators when `acc` is not nil, else into out[2r], out[2r+1]; fx
  /// may be x.
  static func _activateChange(
    _ f: Activation, z: UnsafeMutablePointer<Self>, adding a: UnsafePointer<Self>?, previous x: UnsafePointer<Self>,
    into fx: UnsafeMutablePointer<Self>, ld: Int, rows: Int, count: Int, accumulators acc: UnsafeMutablePointer<Self>?,
    out: UnsafeMutablePointer<Self>?, _ kernels: KernelTable)
  /// s = d ⊙ (v + g) on `rows` rows `ld` apart, each row's (max |s −
  /// previous|, max |s|) into its accumulators or out as `_activateChange`
  /// puts them; s may be v or previous.
  static func _adjointChange(
    _ d: UnsafePointer<Self>, _ v: UnsafePointer<Self>, _ g: UnsafePointer<Self>, into s: UnsafeMutablePointer<Self>,
    previous: UnsafePointer<Self>, ld: Int, rows: Int, count: Int, accumulators acc: UnsafeMutablePointer<Self>?,
    out: UnsafeMutablePointer<Self>?, _ kernels: KernelTable)
  /// Each row's accumulators reduced into out[2r], out[2r+1].
  static func _finishChanges(
    _ acc: UnsafePointer<Self>, rows: Int, into out: UnsafeMutablePointer<Self>, _ kernels: KernelTable)
  /// x = f(z + (b + u)), d = f'(…) for tanh and logistic (see `activateDrive`).
  static func _activateDrive(
    _ f: Activation, z: UnsafePointer<Self>, bias: UnsafePointer<Self>, inputs: UnsafePointer<Self>, inputStride: Int,
    inputCount: Int, x: UnsafeMutablePointer<Self>, slope: UnsafeMutablePointer<Self>, rows: Int, count: Int,
    _ kernels: KernelTable)
  /// One k×NR panel of op(B), zero past column `cols` (see `packPanelB`).
  static func _packPanel(
    _ b: UnsafePointer<Self>, ldb: Int, transposed: Bool, k: Int, cols: Int, into panel: UnsafeMutablePointer<Self>,
    _ kernels: KernelTable)
  /// Twelve independent FMA chains in registers, `iterations` steps.
  static func _fmaLoop(_ kernels: KernelTable, iterations: Int, seed: Self) -> Self
}

extension KernelScalar {
  /// The blocking of the active instruction set.
  public static var gemmBlocking: GEMMBlocking { gemmBlocking(for: .active) }
}

/// Single precision: 8-wide vectors and the f32 kernels.
extension Float: KernelScalar {
  public typealias Vector = SIMD8<Float>

  /// MR×NR = 6×16 (AVX2: twelve ymm accumulators, two for the B row, one
  /// broadcast), 12×32 (AVX-512), 6×8 (128-bit). KC·NR·4 B = 16 KiB B panel
  /// in L1 with AVX2; MC·KC·4 B = 144 KiB A block in L2; KC·NC·4 B = 4 MiB B
  /// block in L3.
  public static func gemmBlocking(for isa: KernelISA) -> GEMMBlocking {
    switch isa {
    case .generic: return GEMMBlocking(mr: 6, nr: 8, kc: 256, mc: 144, nc: 4096)
    case .avx2: return GEMMBlocking(mr: 6, nr: 16, kc: 256, mc: 144, nc: 4096)
    case .avx512: return GEMMBlocking(mr: 12, nr: 32, kc: 256, mc: 144, nc: 4096)
    }
  }

  @inlinable public static func _exp(_ x: Float) -> Float { expf(x) }
  @inlinable public static func _log(_ x: Float) -> Float { logf(x) }
  @inlinable public static func _tanh(_ x: Float) -> Float { tanhf(x) }
  @inlinable public static func _sqrt(_ x: Float) -> Float { rbp_sqrt_f32(x) }

  public static func _gemm(_ p: GEMMProblem<Float>, _ workspace: KernelWorkspace<Float>) {
    gemmDriver(p, workspace)
  }
  public static func _gemv(_ p: GEMVProblem<Float>, _ kernels: KernelTable) {
    kernels.kernels.pointee.gemv_f32(p.trans ? 1 : 0, p.m, p.n, p.alpha, p.a, p.lda, p.x, p.beta, p.y)
  }
  @inline(__always)
  public static func _microKernel(
    _ kernels: KernelTable, k: Int,
    a: UnsafePointer<Float>, rowStride: Int, depthStride: Int, rows: Int,
    b: UnsafePointer<Float>, bStride: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int,
    alpha: Float, beta: Float, readRows: Int
  ) {
    kernels.kernels.pointee.ukernel_f32(
      k, a, rowStride, depthStride, rows, b, bStride, c, ldc, cols,
      alpha, beta, readRows)
  }
  public static func _activateSmooth(
    _ f: Activation, z: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>,
    slope d: UnsafeMutablePointer<Float>?, count: Int, _ kernels: KernelTable
  ) {
    kernels.kernels.pointee.activate_f32(f == .tanh ? 0 : 1, z, x, d, count)
  }
  public static func _maxDifference(
    _ u: UnsafePointer<Float>, _ v: UnsafePointer<Float>, count: Int, _ kernels: KernelTable
  ) -> (Float, Float) {
    var out: (Float, Float) = (0, 0)
    withUnsafeMutableBytes(of: &out) { raw in
      kernels.kernels.pointee.max_difference_f32(u, v, count, raw.baseAddress!.assumingMemoryBound(to: Float.self))
    }
    return out
  }
  public static func _adjointStep(
    _ d: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ g: UnsafePointer<Float>?, _ s: UnsafeMutablePointer<Float>,
    count: Int, _ kernels: KernelTable
  ) {
    kernels.kernels.pointee.adjoint_step_f32(d, v, g, s, count)
  }
  public static func _addScaledRows(
    _ a: UnsafePointer<Float>, rows: Int, columns: Int, scale: Float, into out: UnsafeMutablePointer<Float>,
    _ kernels: KernelTable
  ) {
    kernels.kernels.pointee.add_scaled_rows_f32(a, rows, columns, scale, out)
  }
  public static func _meanSquared(
    _ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafePointer<Float>, ldy: Int, gradient g: UnsafeMutablePointer<Float>?,
    ldg: Int, rows: Int, count: Int, _ kernels: KernelTable
  ) -> Double {
    kernels.kernels.pointee.mean_squared_f32(x, ldx, y, ldy, g, ldg, rows, count)
  }
  public static func _gramVector(
    m: Int, n: Int, _ a: UnsafePointer<Float>, lda: Int, _ v: UnsafePointer<Float>,
    into out: UnsafeMutablePointer<Float>,
    _ kernels: KernelTable
  ) -> Double {
    kernels.kernels.pointee.gram_vector_f32(m, n, a, lda, v, out)
  }
  public static func _activateChange(
    _ f: Activation, z: UnsafeMutablePointer<Float>, adding a: UnsafePointer<Float>?, previous x: UnsafePointer<Float>,
    into fx: UnsafeMutablePointer<Float>, ld: Int, rows: Int, count: Int,
    accumulators acc: UnsafeMutablePointer<Float>?,
    out: UnsafeMutablePointer<Float>?, _ kernels: KernelTable
  ) {
    kernels.kernels.pointee.activate_change_f32(f == .tanh ? 0 : 1, z, a, x, fx, ld, rows, count, acc, out)
  }
  public static func _adjointChange(
    _ d: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
    into s: UnsafeMutablePointer<Float>,
    previous: UnsafePointer<Float>, ld: Int, rows: Int, count: Int, accumulators acc: UnsafeMutablePointer<Float>?,
    out: UnsafeMutablePointer<Float>?, _ kernels: KernelTable
  ) {
    kernels.kernels.pointee.adjoint_change_f32(d, v, g, s, previous, ld, rows, count, acc, out)
  }
  public static func _finishChanges(
    _ acc: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, _ kernels: KernelTable
  ) {
    kernels.kernels.pointee.finish_changes_f32(acc, rows, out)
  }
  public static func _activateDrive(
    _ f: Activation, z: UnsafePointer<Float>, bias: UnsafePointer<Float>, inputs: UnsafePointer<Float>,
    inputStride: Int,
    inputCount: Int, x: UnsafeMutablePointer<Float>, slope: UnsafeMutablePointer<Float>, rows: Int, count: Int,
    _ kernels: KernelTable
  ) {
    kernels.kernels.pointee.activate_drive_f32(
      f == .tanh ? 0 : 1, z, bias, inputs, inputStride, inputCount, x, slope,
      rows, count)
  }
  public static func _packPanel(
    _ b: UnsafePointer<Float>, ldb: Int, transposed: Bool, k: Int, cols: Int, into panel: UnsafeMutablePointer<Float>,
    _ kernels: KernelTable
  ) {
    kernels.kernels.pointee.pack_b_f32(b, ldb, transposed ? 1 : 0, k, cols, panel)
  }
  public static func _fmaLoop(_ kernels: KernelTable, iterations: Int, seed: Float) -> Float {
    kernels.kernels.pointee.fma_loop_f32(iterations, seed)
  }
}

/// Double precision: 4-wide vectors and the f64 kernels.
extension Double: KernelScalar {
  public typealias Vector = SIMD4<Double>

  /// MR×NR = 6×8 (AVX2: twelve ymm accumulators of four doubles), 12×16
  /// (AVX-512), 6×4 (128-bit). KC·NR·8 B = 16 KiB B panel in L1 with AVX2;
  /// MC·KC·8 B = 144 KiB A block in L2; KC·NC·8 B = 4 MiB B block in L3.
  public static func gemmBlocking(for isa: KernelISA) -> GEMMBlocking {
    switch isa {
    case .generic: return GEMMBlocking(mr: 6, nr: 4, kc: 256, mc: 72, nc: 2048)
    case .avx2: return GEMMBlocking(mr: 6, nr: 8, kc: 256, mc: 72, nc: 2048)
    case .avx512: return GEMMBlocking(mr: 12, nr: 16, kc: 256, mc: 72, nc: 2048)
    }
  }

  @inlinable public static func _exp(_ x: Double) -> Double { exp(x) }
  @inlinable public static func _log(_ x: Double) -> Double { log(x) }
  @inlinable public static func _tanh(_ x: Double) -> Double { tanh(x) }
  @inlinable public static func _sqrt(_ x: Double) -> Double { rbp_sqrt_f64(x) }

  public static func _gemm(_ p: GEMMProblem<Double>, _ workspace: KernelWorkspace<Double>) {
    gemmDriver(p, workspace)
  }
  public static func _gemv(_ p: GEMVProblem<Double>, _ kernels: KernelTable) {
    kernels.kernels.pointee.gemv_f64(p.trans ? 1 : 0, p.m, p.n, p.alpha, p.a, p.lda, p.x, p.beta, p.y)
  }
  @inline(__always)
  public static func _microKernel(
    _ kernels: KernelTable, k: Int,
    a: UnsafePointer<Double>, rowStride: Int, depthStride: Int, rows: Int,
    b: UnsafePointer<Double>, bStride: Int,
    c: UnsafeMutablePointer<Double>, ldc: Int, cols: Int,
    alpha: Double, beta: Double, readRows: Int
  ) {
    kernels.kernels.pointee.ukernel_f64(
      k, a, rowStride, depthStride, rows, b, bStride, c, ldc, cols,
      alpha, beta, readRows)
  }
  public static func _activateSmooth(
    _ f: Activation, z: UnsafePointer<Double>, x: UnsafeMutablePointer<Double>,
    slope d: UnsafeMutablePointer<Double>?, count: Int, _ kernels: KernelTable
  ) {
    kernels.kernels.pointee.activate_f64(f == .tanh ? 0 : 1, z, x, d, count)
  }
  public static func _maxDifference(
    _ u: UnsafePointer<Double>, _ v: UnsafePointer<Double>, count: Int, _ kernels: KernelTable
  ) -> (Double, Double) {
    var out: (Double, Double) = (0, 0)
    withUnsafeMutableBytes(of: &out) { raw in
      kernels.kernels.pointee.max_difference_f64(u, v, count, raw.baseAddress!.assumingMemoryBound(to: Double.self))
    }
    return out
  }
  public static func _adjointStep(
    _ d: UnsafePointer<Double>, _ v: UnsafePointer<Double>, _ g: UnsafePointer<Double>?,
    _ s: UnsafeMutablePointer<Double>,
    count: Int, _ kernels: KernelTable
  ) {
    kernels.kernels.pointee.adjoint_step_f64(d, v, g, s, count)
  }
  public static func _addScaledRows(
    _ a: UnsafePointer<Double>, rows: Int, columns: Int, scale: Double, into out: UnsafeMutablePointer<Double>,
    _ kernels: KernelTable
  ) {
    kernels.kernels.pointee.add_scaled_rows_f64(a, rows, columns, scale, out)
  }
  public static func _meanSquared(
    _ x: UnsafePointer<Double>, ldx: Int, _ y: UnsafePointer<Double>, ldy: Int,
    gradient g: UnsafeMutablePointer<Double>?,
    ldg: Int, rows: Int, count: Int, _ kernels: KernelTable
  ) -> Double {
    kernels.kernels.pointee.mean_squared_f64(x, ldx, y, ldy, g, ldg, rows, count)
  }
  public static func _gramVector(
    m: Int, n: Int, _ a: UnsafePointer<Double>, lda: Int, _ v: UnsafePointer<Double>,
    into out: UnsafeMutablePointer<Double>,
    _ kernels: KernelTable
  ) -> Double {
    kernels.kernels.pointee.gram_vector_f64(m, n, a, lda, v, out)
  }
  public static func _activateChange(
    _ f: Activation, z: UnsafeMutablePointer<Double>, adding a: UnsafePointer<Double>?,
    previous x: UnsafePointer<Double>,
    into fx: UnsafeMutablePointer<Double>, ld: Int, rows: Int, count: Int,
    accumulators acc: UnsafeMutablePointer<Double>?,
    out: UnsafeMutablePointer<Double>?, _ kernels: KernelTable
  ) {
    kernels.kernels.pointee.activate_change_f64(f == .tanh ? 0 : 1, z, a, x, fx, ld, rows, count, acc, out)
  }
  public static func _adjointChange(
    _ d: UnsafePointer<Double>, _ v: UnsafePointer<Double>, _ g: UnsafePointer<Double>,
    into s: UnsafeMutablePointer<Double>,
    previous: UnsafePointer<Double>, ld: Int, rows: Int, count: Int, accumulators acc: UnsafeMutablePointer<Double>?,
    out: UnsafeMutablePointer<Double>?, _ kernels: KernelTable
  ) {
    kernels.kernels.pointee.adjoint_change_f64(d, v, g, s, previous, ld, rows, count, acc, out)
  }
  public static func _finishChanges(
    _ acc: UnsafePointer<Double>, rows: Int, into out: UnsafeMutablePointer<Double>, _ kernels: KernelTable
  ) {
    kernels.kernels.pointee.finish_changes_f64(acc, rows, out)
  }
  public static func _activateDrive(
    _ f: Activation, z: UnsafePointer<Double>, bias: UnsafePointer<Double>, inputs: UnsafePointer<Double>,
    inputStride: Int,
    inputCount: Int, x: UnsafeMutablePointer<Double>, slope: UnsafeMutablePointer<Double>, rows: Int, count: Int,
    _ kernels: KernelTable
  ) {
    kernels.kernels.pointee.activate_drive_f64(
      f == .tanh ? 0 : 1, z, bias, inputs, inputStride, inputCount, x, slope,
      rows, count)
  }
  public static func _packPanel(
    _ b: UnsafePointer<Double>, ldb: Int, transposed: Bool, k: Int, cols: Int, into panel: UnsafeMutablePointer<Double>,
    _ kernels: KernelTable
  ) {
    kernels.kernels.pointee.pack_b_f64(b, ldb, transposed ? 1 : 0, k, cols, panel)
  }
  public static func _fmaLoop(_ kernels: KernelTable, iterations: Int, seed: Double) -> Double {
    kernels.kernels.pointee.fma_loop_f64(iterations, seed)
  }
}

/// `a` in precision U: f32 ↔ f64 in one tight loop (f64 → f32 rounds to
/// nearest, f32 → f64 is exact), a copy when the precisions agree. Generic
/// code that writes `a.map { U($0) }` goes through the runtime's dynamic
/// casts for every element when it is not specialised; this never does.
@inlinable
public func convertedArray<T: KernelScalar, U: KernelScalar>(_ a: [T], to _: U.Type) -> [U] {
  if T.self == U.self { return unsafeBitCast(a, to: [U].self) }
  let n = a.count
  return a.withUnsafeBufferPointer { from in
    [U](unsafeUninitializedCapacity: n) { to, initialized in
      let source = UnsafeRawPointer(from.baseAddress), target = UnsafeMutableRawPointer(to.baseAddress)
      if let source, let target {
        if T.self == Double.self && U.self == Float.self {
          let d = source.assumingMemoryBound(to: Double.self), f = target.assumingMemoryBound(to: Float.self)
          for i in 0..<n { f[i] = Float(d[i]) }
        } else if T.self == Float.self && U.self == Double.self {
          let f = source.assumingMemoryBound(to: Float.self), d = target.assumingMemoryBound(to: Double.self)
          for i in 0..<n { d[i] = Double(f[i]) }
        } else {
          for i in 0..<n { (to.baseAddress! + i).initialize(to: U(from[i])) }
        }
      }
      initialized = n
    }
  }
}
