// swift-tools-version: 6.2
//
// rbp: recurrent backpropagation (Almeida–Pineda) and backpropagation through
// time, on hand-written cache-blocked kernels, with HDF5 for every file.
//
// No target needs a compiler flag. The register-level kernels are compiled
// once per instruction set (128-bit generic, AVX2 + FMA, AVX-512) in the C
// module CRBPKernels, through function target attributes, and the best one
// the CPU supports is chosen when the process starts; `RBP_ISA` overrides
// the choice. One binary therefore runs on every x86-64 CPU, fast on each,
// and the package can be used as a versioned dependency.

import PackageDescription

/// Settings of every Swift target of this package: imports are explicit
/// (a file sees only the members of the modules it imports) and a warning
/// fails the build. SwiftPM ignores the warning setting when the package is
/// built as someone else's dependency.
let swiftSettings: [SwiftSetting] = [
  .enableUpcomingFeature("MemberImportVisibility"),
  .treatAllWarnings(as: .error),
]

let package = Package(
  name: "rbp",
  platforms: [.macOS(.v13)],
  products: [
    // MARK: - Public modules
    .executable(name: "rbp", targets: ["rbp"]),
    // All of the modules below with one `import RBP`.
    .library(name: "RBP", targets: ["RBP"]),
    .library(name: "RBPKernels", targets: ["RBPKernels"]),
    .library(name: "RBPCore", targets: ["RBPCore"]),
    .library(name: "RBPStore", targets: ["RBPStore"]),
    .library(name: "RBPTrain", targets: ["RBPTrain"]),
    .library(name: "RBPAnalysis", targets: ["RBPAnalysis"]),
    // The kernel timings and reference workloads of `rbp bench` and of the
    // package benchmarks in Benchmarks/.
    .library(name: "RBPBench", targets: ["RBPBench"]),
    // The C library, header rbp.h (scripts/build-library.sh installs it as
    // librbp.so, the name the Python package loads).
    .library(name: "RBPLibrary", type: .dynamic, targets: ["RBPLibrary"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    // `swift package generate-documentation` (scripts/docs.sh).
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
  ],
  targets: [
    // MARK: - Public modules
    .target(
      name: "RBPKernels",
      dependencies: ["CRBPKernels"],
      path: "Sources/RBPKernels",
      swiftSettings: swiftSettings),
    .target(
      name: "RBPCore",
      dependencies: ["RBPKernels"],
      path: "Sources/RBPCore",
      swiftSettings: swiftSettings),
    .target(
      name: "RBPStore",
      dependencies: ["CHDF5", "CRBPGuard", "RBPCore", "RBPKernels"],
      path: "Sources/RBPStore",
      swiftSettings: swiftSettings),
    .target(
      name: "RBPTrain",
      dependencies: ["RBPKernels", "RBPCore", "RBPStore"],
      path: "Sources/RBPTrain",
      swiftSettings: swiftSettings),
    .target(
      name: "RBPAnalysis",
      dependencies: ["RBPKernels", "RBPCore", "RBPStore", "RBPTrain"],
      path: "Sources/RBPAnalysis",
      swiftSettings: swiftSettings),
    .target(
      name: "RBP",
      dependencies: ["RBPKernels", "RBPCore", "RBPStore", "RBPTrain", "RBPAnalysis"],
      path: "Sources/RBP",
      swiftSettings: swiftSettings),
    .target(
      name: "RBPLibrary",
      dependencies: ["CRBPLibrary", "RBPKernels", "RBPCore", "RBPStore", "RBPTrain", "RBPAnalysis"],
      path: "Sources/RBPLibrary",
      swiftSettings: swiftSettings),
    .target(
      name: "RBPBench",
      dependencies: ["RBPKernels", "RBPCore", "RBPStore", "RBPTrain"],
      path: "Sources/RBPBench",
      swiftSettings: swiftSettings),
    .executableTarget(
      name: "rbp",
      dependencies: [
        "RBPKernels", "RBPCore", "RBPStore", "RBPTrain", "RBPAnalysis", "RBPBench",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "Sources/rbp",
      swiftSettings: swiftSettings),

    // MARK: - Implementation details
    .target(
      name: "CRBPKernels",
      path: "Sources/CRBPKernels",
      cSettings: [.treatAllWarnings(as: .error)]),
    .target(
      name: "CRBPLibrary",
      path: "Sources/CRBPLibrary",
      cSettings: [.treatAllWarnings(as: .error)]),
    .target(
      name: "CRBPGuard",
      path: "Sources/CRBPGuard",
      cSettings: [.treatAllWarnings(as: .error)]),
    .systemLibrary(
      name: "CHDF5",
      path: "Sources/CHDF5",
      pkgConfig: "hdf5",
      providers: [.apt(["libhdf5-dev"])]),

    // MARK: - Tests
    .target(
      name: "RBPTestSupport",
      dependencies: ["RBPStore", "RBPCore", "RBPKernels"],
      path: "Tests/RBPTestSupport",
      swiftSettings: swiftSettings),
    .testTarget(
      name: "RBPKernelsTests",
      dependencies: ["RBPKernels", "RBPCore", "RBPTestSupport"],
      path: "Tests/RBPKernelsTests",
      swiftSettings: swiftSettings),
    .testTarget(
      name: "RBPCoreTests",
      dependencies: ["RBPCore", "RBPKernels"],
      path: "Tests/RBPCoreTests",
      swiftSettings: swiftSettings),
    .testTarget(
      name: "RBPTrainTests",
      dependencies: ["RBPTrain", "RBPStore", "RBPCore", "RBPKernels", "RBPTestSupport"],
      path: "Tests/RBPTrainTests",
      swiftSettings: swiftSettings),
    // The command line as a user types it: the built `rbp` run as a child
    // process, its files read back and checked against independent
    // computations (h5py, numpy), and the documentation's examples.
    .testTarget(
      name: "RBPCLITests",
      dependencies: ["RBPTrain", "RBPStore", "RBPCore", "RBPKernels", "RBPTestSupport", "rbp"],
      path: "Tests/RBPCLITests",
      swiftSettings: swiftSettings),
    .testTarget(
      name: "RBPStoreTests",
      dependencies: ["RBPStore", "RBPCore", "RBPKernels", "CHDF5", "RBPTestSupport", "rbp"],
      path: "Tests/RBPStoreTests",
      swiftSettings: swiftSettings),
  ]
)
