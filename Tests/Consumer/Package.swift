// swift-tools-version: 6.2
//
// A package that uses rbp as its users do: through a tagged version of its
// repository, with `from:`. `scripts/consumer_test.sh` tags a snapshot of
// the working tree in a local bare repository, points RBP_REPOSITORY at it,
// copies the library examples of docs/library.md and the README in as
// executables, builds them and runs them.

import PackageDescription

let repository = Context.environment["RBP_REPOSITORY"] ?? "https://github.com/rbp-developers/rbp"
let version = Context.environment["RBP_VERSION"] ?? "0.1.0"

let package = Package(
  name: "rbp-consumer",
  platforms: [.macOS(.v13)],
  dependencies: [
    .package(url: repository, from: Version(stringLiteral: version))
  ],
  targets: ["SteadyExample", "TrajectoryExample", "RewardExample", "MinimalExample"].map { name in
    .executableTarget(
      name: name,
      dependencies: [
        .product(name: "RBPCore", package: "rbp"),
        .product(name: "RBPKernels", package: "rbp"),
      ],
      swiftSettings: [.enableUpcomingFeature("MemberImportVisibility")])
  } + [
    // The README's example: every module through the umbrella product.
    .executableTarget(
      name: "ReadmeExample",
      dependencies: [.product(name: "RBP", package: "rbp")],
      swiftSettings: [.enableUpcomingFeature("MemberImportVisibility")])
  ]
)
