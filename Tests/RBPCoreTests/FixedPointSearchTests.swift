// Fixed-point search on a small symmetric (Hopfield-like) network storing
// two patterns: both are found from different starts and labelled stable;
// the spurious mixtures and the origin are told apart by ρ(DW).

import RBPCore
import RBPKernels
import Testing

@Suite("Fixed-point search")
struct FixedPointSearchTests {
  @Test func findsBothStoredPatternsAsStable() throws {
    let n = 8
    let patterns: [[Double]] = [[1, 1, 1, 1, -1, -1, -1, -1], [1, -1, 1, -1, 1, -1, 1, -1]]
    // Hebbian weights W = (β/N) Σ ξ ξᵀ without self-coupling, tanh units.
    let beta = 3.0
    var w = Matrix<Double>(rows: n, cols: n)
    for xi in patterns {
      for i in 0..<n { for j in 0..<n where i != j { w[i, j] += beta * xi[i] * xi[j] / Double(n) } }
    }
    let shape = try NetworkShape(units: n, inputs: 0, outputs: n)
    var params = Parameters<Double>(layout: ParameterLayout(shape: shape, hasInitialState: false))
    params.W = w
    let net = try SteadyNetwork(parameters: params, activation: .tanh, loss: .mse)
    var rng = SeededGenerator(seed: 11)
    let starts = patterns.map { $0.map { 0.5 * $0 } } + patterns.map { $0.map { -0.4 * $0 } }
    let search = try net.findFixedPoints(input: [], starts: 20, given: starts, using: &rng)
    for xi in patterns {
      for sign in [1.0, -1.0] {
        let match = search.points.first { point in
          zip(point.state, xi).allSatisfy { ($0.0 * $0.1 * sign) > 0.5 }
        }
        #expect(match != nil, "pattern \(xi) (sign \(sign)) not found")
        if let match {
          #expect(match.stable, "pattern \(xi) found with ρ(DW) = \(match.spectralRadius)")
          #expect(match.residual <= 1e-10)
        }
      }
    }
    // The origin is a fixed point (no drive) and, with β = 3, unstable.
    if let origin = search.points.first(where: { $0.state.allSatisfy { abs($0) < 1e-8 } }) {
      #expect(!origin.stable && origin.spectralRadius > 1.2)
    }
    // Every point, the spurious ones (neither ±pattern nor the origin)
    // included, is labelled by its own ρ(D W), recomputed here: D W is
    // similar to the symmetric D^½ W D^½, whose largest |eigenvalue| power
    // iteration finds.
    var spurious = 0
    for point in search.points {
      let d = point.state.map { 1 - $0 * $0 }
      var m = [Double](repeating: 0, count: n * n)
      for i in 0..<n { for j in 0..<n { m[i * n + j] = d[i].squareRoot() * w[i, j] * d[j].squareRoot() } }
      var v = (0..<n).map { 1 + Double($0) / 10 }, rho = 0.0
      for _ in 0..<3000 {
        var u = [Double](repeating: 0, count: n)
        for i in 0..<n { for j in 0..<n { u[i] += m[i * n + j] * v[j] } }
        rho = u.map(abs).max() ?? 0
        guard rho > 0 else { break }
        v = u.map { $0 / rho }
      }
      #expect(abs(point.spectralRadius - rho) < 1e-6, "ρ reported \(point.spectralRadius), recomputed \(rho)")
      #expect(point.stable == (rho < 1), "state \(point.state): stable \(point.stable) with ρ = \(rho)")
      let overlaps = patterns.map { xi in zip(point.state, xi).map { $0 * $1 }.reduce(0, +) / Double(n) }
      if overlaps.allSatisfy({ abs($0) > 0.1 }) && overlaps.allSatisfy({ abs($0) < 0.9 }) { spurious += 1 }
    }
    #expect(spurious > 0, "no spurious mixture state was found")
    // No two reported points coincide.
    for i in search.points.indices {
      for j in search.points.indices where j > i {
        #expect(zip(search.points[i].state, search.points[j].state).contains { abs($0.0 - $0.1) >= 1e-4 })
      }
    }
  }

  @Test func spectralRadiusOfAKnownMatrix() throws {
    // D W with D = I/2 and W = [[0, 2], [2, 0]]: eigenvalues ±1.
    let shape = try NetworkShape(units: 2, inputs: 0, outputs: 1)
    var params = Parameters<Double>(layout: ParameterLayout(shape: shape, hasInitialState: false))
    params.W = Matrix([[0, 2], [2, 0]])
    let net = try SteadyNetwork(parameters: params, activation: .tanh, loss: .mse)
    var rng = SeededGenerator(seed: 1)
    #expect(abs(net.spectralRadius(slopes: [0.5, 0.5], using: &rng) - 1) < 1e-9)
    // A rotation by 90° scaled by 0.8: a complex pair of modulus 0.8.
    params.W = Matrix([[0, -1.6], [1.6, 0]])
    let rotation = try SteadyNetwork(parameters: params, activation: .tanh, loss: .mse)
    #expect(abs(rotation.spectralRadius(slopes: [0.5, 0.5], using: &rng) - 0.8) < 1e-9)
  }
}
