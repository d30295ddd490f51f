// swift-tools-version: 6.1
//
// package-benchmark suites for rbp, kept in their own package so that the
// main package builds and tests without the benchmark toolchain.
//
//   cd Benchmarks && swift package --allow-writing-to-package-directory benchmark

import Foundation
import PackageDescription

/// A path dependency is known by its folder's name, which depends on where
/// the repository was cloned.
let rootPackage = URL(fileURLWithPath: #filePath)
  .deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
  name: "rbp-benchmarks",
  platforms: [.macOS(.v13)],
  dependencies: [
    .package(path: ".."),
    .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
  ],
  targets: [
    // MARK: - Benchmarks
    .executableTarget(
      name: "KernelBenchmarks",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "RBPBench", package: rootPackage),
        .product(name: "RBPKernels", package: rootPackage),
      ],
      path: "KernelBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    .executableTarget(
      name: "WorkloadBenchmarks",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "RBPBench", package: rootPackage),
        .product(name: "RBPTrain", package: rootPackage),
      ],
      path: "WorkloadBenchmarks",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
  ]
)
