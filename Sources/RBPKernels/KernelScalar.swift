// The two precisions the kernels run in, and what each brings: its SIMD
// vector (one AVX2 register), its GEMM blocking, and the entry points that
// are specialised for it. Generic code calls `T.something`; the witness is a
// concrete, fully specialised function, so the hot loops never run through
// unspecialised generics. Nothing here knows about networks.

/// A floating-point type the kernels are specialised for: `Float` or `Double`.
///
/// The requirements starting with an underscore are the specialised drivers
/// behind the public kernel functions (`gemm`, `gemv`, ...); call those instead.
public protocol KernelScalar: BinaryFloatingPoint, SIMDScalar, Sendable, CustomStringConvertible
where Vector.Scalar == Self {
  /// One 256-bit register of this scalar (`SIMD8<Float>`, `SIMD4<Double>`).
  associatedtype Vector: SIMD

  /// Cache blocking and register tile for the packed GEMM.
  static var gemmBlocking: GEMMBlocking { get }

  /// Natural logarithm and exponential, for the activations and losses.
  static func _exp(_ x: Self) -> Self
  static func _log(_ x: Self) -> Self
  static func _tanh(_ x: Self) -> Self

  static func _gemm(_ p: GEMMProblem<Self>, _ workspace: GEMMWorkspace<Self>)
  static func _gemv(_ p: GEMVProblem<Self>)
  /// x = f(z), d = f'(z) for tanh and logistic: vectorised for Float,
  /// the C library's functions for Double.
  static func _activateSmooth(
    _ f: Activation, z: UnsafePointer<Self>, x: UnsafeMutablePointer<Self>,
    slope d: UnsafeMutablePointer<Self>?, count: Int)
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Float: KernelScalar {
  #if RBP_AVX512
  public typealias Vector = SIMD16<Float>
  public static let gemmBlocking = GEMMBlocking(mr: 12, nr: 32, kc: 256, mc: 144, nc: 4096)
  #else
  public typealias Vector = SIMD8<Float>

  /// MR×NR = 6×16: twelve ymm accumulators, two for the B row, one broadcast.
  /// KC·NR·4 B = 16 KiB B panel in L1; MC·KC·4 B = 144 KiB A block in L2;
  /// KC·NC·4 B = 4 MiB B block in L3.
  public static let gemmBlocking = GEMMBlocking(mr: 6, nr: 16, kc: 256, mc: 144, nc: 4096)
  #endif

  @inlinable public static func _exp(_ x: Float) -> Float { expf(x) }
  @inlinable public static func _log(_ x: Float) -> Float { logf(x) }
  @inlinable public static func _tanh(_ x: Float) -> Float { tanhf(x) }

  public static func _gemm(_ p: GEMMProblem<Float>, _ workspace: GEMMWorkspace<Float>) {
    gemmDriver(p, workspace)
  }
  public static func _gemv(_ p: GEMVProblem<Float>) { gemvDriver(p) }
  public static func _activateSmooth(
    _ f: Activation, z: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>,
    slope d: UnsafeMutablePointer<Float>?, count: Int
  ) {
    activateFloat(f, z: z, x: x, slope: d, count: count)
  }
}

extension Double: KernelScalar {
  #if RBP_AVX512
  public typealias Vector = SIMD8<Double>
  public static let gemmBlocking = GEMMBlocking(mr: 12, nr: 16, kc: 256, mc: 72, nc: 2048)
  #else
  public typealias Vector = SIMD4<Double>

  /// MR×NR = 6×8: twelve ymm accumulators of four doubles.
  /// KC·NR·8 B = 16 KiB B panel in L1; MC·KC·8 B = 144 KiB A block in L2;
  /// KC·NC·8 B = 4 MiB B block in L3.
  public static let gemmBlocking = GEMMBlocking(mr: 6, nr: 8, kc: 256, mc: 72, nc: 2048)
  #endif

  @inlinable public static func _exp(_ x: Double) -> Double { exp(x) }
  @inlinable public static func _log(_ x: Double) -> Double { log(x) }
  @inlinable public static func _tanh(_ x: Double) -> Double { tanh(x) }

  public static func _gemm(_ p: GEMMProblem<Double>, _ workspace: GEMMWorkspace<Double>) {
    gemmDriver(p, workspace)
  }
  public static func _gemv(_ p: GEMVProblem<Double>) { gemvDriver(p) }
  public static func _activateSmooth(
    _ f: Activation, z: UnsafePointer<Double>, x: UnsafeMutablePointer<Double>,
    slope d: UnsafeMutablePointer<Double>?, count: Int
  ) {
    activateScalar(f, z: z, x: x, slope: d, count: count)
  }
}
