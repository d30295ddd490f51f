// swift-tools-version: 6.1
//
// rbp: recurrent backpropagation (Almeida–Pineda) and backpropagation through
// time, on hand-written cache-blocked kernels, with HDF5 for every file.

import Foundation
import PackageDescription

/// The kernels are compiled for the vector unit of the machine that builds
/// them, as `-march=native` would: AVX-512 where the CPU has it, AVX2 + FMA
/// otherwise (plain `-O` would give SSE only). `RBP_ISA=avx2` or
/// `RBP_ISA=avx512` in the environment overrides the detection.
let kernelISA: String = {
  if let forced = ProcessInfo.processInfo.environment["RBP_ISA"] { return forced }
  let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
  let flags = Set(cpuinfo.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }))
  return ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy { flags.contains($0) }
    ? "avx512" : "avx2"
}()
/// The core is generic over Float and Double; its callers (the trainer, the
/// command line) must get specialised code, not generic code going through
/// witness tables. Cross-module optimisation makes the bodies of generic
/// functions available for specialisation in the modules that use them.
let crossModule: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]

let kernelFlags: [SwiftSetting] = (kernelISA == "avx512"
  ? [.unsafeFlags(["-target-cpu", "skylake-avx512"]), .define("RBP_AVX512")]
  : [.unsafeFlags(["-target-cpu", "haswell"])]) + crossModule


let package = Package(
  name: "rbp",
  platforms: [.macOS(.v13)],
  products: [
    // MARK: - Public modules
    .executable(name: "rbp", targets: ["rbp"]),
    .library(name: "RBPKernels", targets: ["RBPKernels"]),
    .library(name: "RBPCore", targets: ["RBPCore"]),
    .library(name: "RBPStore", targets: ["RBPStore"]),
    .library(name: "RBPTrain", targets: ["RBPTrain"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
  ],
  targets: [
    // MARK: - Public modules
    .target(
      name: "RBPKernels",
      path: "Sources/RBPKernels",
      swiftSettings: kernelFlags),
    .target(
      name: "RBPCore",
      dependencies: ["RBPKernels"],
      path: "Sources/RBPCore",
      swiftSettings: kernelFlags),
    .target(
      name: "RBPStore",
      dependencies: ["CHDF5", "RBPCore", "RBPKernels"],
      path: "Sources/RBPStore",
      swiftSettings: kernelFlags),
    .target(
      name: "RBPTrain",
      dependencies: ["RBPKernels", "RBPCore", "RBPStore"],
      path: "Sources/RBPTrain",
      swiftSettings: kernelFlags),
    .executableTarget(
      name: "rbp",
      dependencies: [
        "RBPKernels", "RBPCore", "RBPStore", "RBPTrain",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "Sources/rbp",
      swiftSettings: kernelFlags),

    // MARK: - Implementation details
    .systemLibrary(
      name: "CHDF5",
      path: "Sources/CHDF5",
      pkgConfig: "hdf5",
      providers: [.apt(["libhdf5-dev"])]),

    // MARK: - Tests
    .testTarget(
      name: "RBPKernelsTests",
      dependencies: ["RBPKernels"],
      path: "Tests/RBPKernelsTests",
      swiftSettings: kernelFlags),
    .testTarget(
      name: "RBPCoreTests",
      dependencies: ["RBPCore", "RBPKernels"],
      path: "Tests/RBPCoreTests"),
    .testTarget(
      name: "RBPTrainTests",
      dependencies: ["RBPTrain", "RBPStore", "RBPCore", "RBPKernels", "rbp"],
      path: "Tests/RBPTrainTests"),
    .testTarget(
      name: "RBPStoreTests",
      dependencies: ["RBPStore", "RBPCore", "RBPKernels", "CHDF5", "rbp"],
      path: "Tests/RBPStoreTests"),
  ]
)
