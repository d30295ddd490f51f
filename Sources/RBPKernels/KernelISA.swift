// Which instruction set the kernels run on. The register-level loops (GEMM
// micro-kernel, GEMV, vector tanh/exp, the FMA peak loop) are compiled once
// per instruction set in the C module CRBPKernels and chosen when the
// process starts: the best one the CPU and its operating system support,
// or the one `RBP_ISA` names. Everything above them (blocking, packing,
// threading, the engine) is generic Swift and the same for every CPU.

import CRBPKernels

/// An instruction set the kernels are compiled for.
///
/// | case | vectors | GEMM register tile (f32, f64) |
/// |---|---|---|
/// | `generic` | 128-bit: SSE2 on x86-64, NEON on arm64 | 6×8, 6×4 |
/// | `avx2` | 256-bit, AVX2 + FMA | 6×16, 6×8 |
/// | `avx512` | 512-bit, AVX-512 F/DQ/BW/VL | 12×32, 12×16 |
public enum KernelISA: String, CaseIterable, Sendable, CustomStringConvertible {
  /// 128-bit vectors: SSE2 on x86-64, NEON on arm64; every CPU.
  case generic
  /// 256-bit vectors with FMA.
  case avx2
  /// 512-bit vectors, AVX-512 F/DQ/BW/VL.
  case avx512

  /// The instruction set in use: the best this CPU supports, or `RBP_ISA`'s
  /// choice when the CPU supports it.
  public static var active: KernelISA { KernelTable.active.isa }

  /// When `RBP_ISA` is set to something this CPU cannot run (or to no
  /// instruction set at all), its value; the best supported set is used.
  public static var rejectedOverride: String? {
    rbp_isa_override_rejected().map {
      String(decoding: UnsafeRawBufferPointer(start: $0, count: strlen($0)), as: UTF8.self)
    }
  }

  /// Every instruction set this CPU can run, slowest first.
  public static var supported: [KernelISA] { allCases.filter(\.isSupported) }

  /// Whether this CPU (and operating system) can run the kernels of `self`.
  public var isSupported: Bool { rbp_isa_supported(cValue) != 0 }

  public var description: String { rawValue }

  var cValue: rbp_isa {
    switch self {
    case .generic: return RBP_ISA_GENERIC
    case .avx2: return RBP_ISA_AVX2
    case .avx512: return RBP_ISA_AVX512
    }
  }

  /// The kernels of `self`; only for a supported instruction set.
  public var kernels: KernelTable {
    guard let t = rbp_kernels_for(cValue) else {
      preconditionFailure("the \(self) kernels cannot run on this CPU")
    }
    return KernelTable(t)
  }
}

/// One instruction set's kernels, as the drivers see them: a pointer to
/// immutable static data, so it is shared freely between threads.
public struct KernelTable: @unchecked Sendable {
  let kernels: UnsafePointer<rbp_kernel_table>
  init(_ kernels: UnsafePointer<rbp_kernel_table>) { self.kernels = kernels }

  /// The kernels of the active instruction set.
  public static var active: KernelTable { KernelTable(rbp_kernels_active()) }

  /// The instruction set these kernels are compiled for.
  public var isa: KernelISA {
    switch kernels.pointee.isa {
    case RBP_ISA_AVX2: return .avx2
    case RBP_ISA_AVX512: return .avx512
    default: return .generic
    }
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
