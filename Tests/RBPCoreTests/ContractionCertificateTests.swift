// The contraction certificate that lets the auto solvers pass in blocks
// (‖W‖₂ · max f′ < 1, with ‖W‖₂ from 8 Lanczos steps and a safety margin)
// against the exact norm: random W, and adversarial W whose singular values
// are clustered at the top, where a few Lanczos steps fall furthest short.
// A certificate is wrong when the exact ‖W‖₂ · max f′ is 1 or more.

import Foundation
import RBPKernels
import Testing

@testable import RBPCore

@Suite("Contraction certificate") struct ContractionCertificateTests {
  /// An n×n matrix with orthonormal columns, from Gram–Schmidt on a
  /// Gaussian matrix (row-major).
  func orthogonal(_ n: Int, _ rng: inout SeededGenerator) -> [Double] {
    var columns: [[Double]] = []
    while columns.count < n {
      var v = (0..<n).map { _ in gaussian(&rng) }
      for _ in 0..<2 {
        for u in columns {
          let c = zip(v, u).reduce(0) { $0 + $1.0 * $1.1 }
          for i in 0..<n { v[i] -= c * u[i] }
        }
      }
      let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
      columns.append(v.map { $0 / norm })
    }
    return (0..<n * n).map { columns[$0 % n][$0 / n] }
  }

  /// U diag(σ) Vᵀ, row-major.
  func matrix(singularValues sigma: [Double], seed: UInt64) -> [Double] {
    let n = sigma.count
    var rng = SeededGenerator(seed: seed)
    let u = orthogonal(n, &rng), v = orthogonal(n, &rng)
    var w = [Double](repeating: 0, count: n * n)
    for i in 0..<n { for j in 0..<n { for k in 0..<n { w[i * n + j] += u[i * n + k] * sigma[k] * v[j * n + k] } } }
    return w
  }

  /// ‖W‖₂ by 3000 power steps on WᵀW in Double, an estimate independent of
  /// the Lanczos code it checks (and, from below, exact to 1e-9 here).
  func exactNorm(_ w: [Double], n: Int) -> Double {
    var v = [Double](repeating: 1, count: n)
    var value = 0.0
    for _ in 0..<3000 {
      var wv = [Double](repeating: 0, count: n), next = wv
      for i in 0..<n { for j in 0..<n { wv[i] += w[i * n + j] * v[j] } }
      for j in 0..<n { for i in 0..<n { next[j] += w[i * n + j] * wv[i] } }
      value = next.reduce(0) { $0 + $1 * $1 }.squareRoot()
      v = next.map { $0 / value }
    }
    return value.squareRoot()
  }

  func network(_ w: [Double], n: Int, activation: Activation) throws -> SteadyNetwork<Double> {
    let shape = try NetworkShape(units: n, inputs: 0, outputs: 1)
    var params = Parameters<Double>(layout: ParameterLayout(shape: shape, hasInitialState: false))
    params.W = Matrix(rows: n, cols: n, elements: w)
    return try SteadyNetwork(parameters: params, activation: activation, loss: .mse)
  }

  @Test(arguments: [Activation.tanh, .logistic])
  func noMapThatDoesNotContractIsCertified(activation: Activation) throws {
    var certified = 0, checked = 0
    for (k, n) in [16, 32, 64].enumerated() {
      // Singular values clustered at the top (1, 0.998, 0.996, …), and a
      // random Gaussian W, each scaled so that the exact ‖W‖₂ · max f′
      // lies just above or just below 1.
      let clustered = matrix(singularValues: (0..<n).map { 1 - 0.002 * Double($0) }, seed: UInt64(10 + k))
      var rng = SeededGenerator(seed: UInt64(20 + k))
      let gaussianW = (0..<n * n).map { _ in gaussian(&rng) / Double(n).squareRoot() }
      for base in [clustered, gaussianW] {
        let norm = exactNorm(base, n: n)
        for target in [0.5, 0.85, 0.95, 1.001, 1.02, 1.05, 1.3] {
          let scale = target / (norm * activation.maxSlope)
          let net = try network(base.map { $0 * scale }, n: n, activation: activation)
          let contracts = net.isContraction(norm: net.spectralNorm())
          checked += 1
          if contracts { certified += 1 }
          #expect(!contracts || target < 1, "n = \(n): ‖W‖₂·max f′ = \(target) was certified a contraction")
        }
      }
    }
    // The certificate is not vacuous: the clearly contracting maps pass it.
    #expect(certified >= 6, "\(certified) of \(checked) certified")
  }
}
