// The stability rule of SPEC §1.1 against independent references: the
// eigenvalue solver against matrices built from a known spectrum
// (A = V Λ V⁻¹); the rule on the two-unit examples whose answers are known
// in closed form; relaxation that finds its own damping; symmetric
// (Hopfield) networks from many random starts and their gradient against
// central differences; and a gradient that leaves an unsettled pattern out.

import Foundation
import RBPCore
import RBPKernels
import Testing

@Suite("Steady dynamics") struct SteadyDynamicsTests {
  /// A = V Λ V⁻¹ with Λ block diagonal (a real eigenvalue, or a 2×2 block
  /// [[re, im], [−im, re]] for the pair re ± i·im) and V = I + 0.3 G.
  func matrix(withSpectrum blocks: [(re: Double, im: Double)], seed: UInt64) -> (a: [Double], n: Int) {
    let n = blocks.reduce(0) { $0 + ($1.im == 0 ? 1 : 2) }
    var lambda = [Double](repeating: 0, count: n * n)
    var i = 0
    for b in blocks {
      lambda[i * n + i] = b.re
      if b.im != 0 {
        lambda[(i + 1) * n + i + 1] = b.re
        lambda[i * n + i + 1] = b.im
        lambda[(i + 1) * n + i] = -b.im
        i += 2
      } else {
        i += 1
      }
    }
    var rng = SeededGenerator(seed: seed)
    var v = [Double](repeating: 0, count: n * n)
    for r in 0..<n {
      for c in 0..<n { v[r * n + c] = (r == c ? 1 : 0) + 0.3 * gaussian(&rng) / Double(n).squareRoot() }
    }
    // V⁻¹ by Gauss–Jordan with partial pivoting, in plain loops.
    var aug = [Double](repeating: 0, count: n * 2 * n)
    for r in 0..<n {
      for c in 0..<n { aug[r * 2 * n + c] = v[r * n + c] }
      aug[r * 2 * n + n + r] = 1
    }
    for col in 0..<n {
      let pivot = (col..<n).max { abs(aug[$0 * 2 * n + col]) < abs(aug[$1 * 2 * n + col]) }!
      for c in 0..<2 * n { aug.swapAt(col * 2 * n + c, pivot * 2 * n + c) }
      let p = aug[col * 2 * n + col]
      for c in 0..<2 * n { aug[col * 2 * n + c] /= p }
      for r in 0..<n where r != col {
        let f = aug[r * 2 * n + col]
        for c in 0..<2 * n { aug[r * 2 * n + c] -= f * aug[col * 2 * n + c] }
      }
    }
    func product(_ x: [Double], _ y: [Double]) -> [Double] {
      var out = [Double](repeating: 0, count: n * n)
      for r in 0..<n { for k in 0..<n { for c in 0..<n { out[r * n + c] += x[r * n + k] * y[k * n + c] } } }
      return out
    }
    let inverse = (0..<n * n).map { aug[($0 / n) * 2 * n + n + $0 % n] }
    return (product(product(v, lambda), inverse), n)
  }

  @Test(
    arguments: [
      // A complex pair of modulus 1.5 with real part 0 (an attractor, ρ > 1).
      [(0.0, 1.5), (0.3, 0.0), (-0.2, 0.0)],
      // Negative real eigenvalues below −1, all real parts < 1.
      [(-1.7, 0.0), (-1.2, 0.0), (0.5, 0.0), (0.2, 0.4)],
      // Real parts just above and just below 1.
      [(1.0 + 1e-6, 0.0), (0.9, 0.8), (-0.5, 0.0)],
      [(1.0 - 1e-6, 0.0), (0.99, 2.0), (0.1, 0.0), (0.0, 0.0)],
      [(1.0 + 1e-6, 3.0), (0.4, 0.0), (-2.5, 0.0), (0.3, 0.1)],
    ] as [[(Double, Double)]])
  func eigenvaluesOfAKnownSpectrum(blocks: [(Double, Double)]) throws {
    let (a, n) = matrix(withSpectrum: blocks.map { (re: $0.0, im: $0.1) }, seed: UInt64(blocks.count))
    let found = try #require(eigenvalues(a, n: n))
    var expected: [(Double, Double)] = []
    for b in blocks { expected += b.1 == 0 ? [(b.0, 0)] : [(b.0, b.1), (b.0, -b.1)] }
    // Each expected eigenvalue has a computed one within 1e-9 (no two of them are that close).
    for e in expected {
      let nearest = found.map { hypot($0.re - e.0, $0.im - e.1) }.min()!
      #expect(nearest < 1e-9, "eigenvalue \(e) of \(blocks): nearest computed is \(nearest) away")
    }
    let alpha = spectralAbscissa(a, n: n)
    let largest = blocks.map(\.0).max()!
    #expect(abs(alpha - largest) < 1e-9 && (alpha < 1) == (largest < 1), "α = \(alpha), expected \(largest)")
  }

  @Test func randomMatricesOfEverySize() throws {
    // The sum and the sum of squares of the eigenvalues are the trace of A
    // and of A² (independent of how they were found), for sizes 1…40.
    var rng = SeededGenerator(seed: 3)
    for n in [1, 2, 3, 5, 8, 13, 24, 40] {
      let a = (0..<n * n).map { _ in gaussian(&rng) * 1.5 / Double(n).squareRoot() }
      let values = try #require(eigenvalues(a, n: n))
      let trace = (0..<n).reduce(0) { $0 + a[$1 * n + $1] }
      var trace2 = 0.0
      for i in 0..<n { for k in 0..<n { trace2 += a[i * n + k] * a[k * n + i] } }
      let sum = values.reduce(0) { $0 + $1.re }, imaginary = values.reduce(0) { $0 + $1.im }
      let squares = values.reduce(0) { $0 + $1.re * $1.re - $1.im * $1.im }
      #expect(abs(sum - trace) < 1e-10 * Double(n) && abs(imaginary) < 1e-10 * Double(n), "n = \(n)")
      #expect(abs(squares - trace2) < 1e-9 * Double(n), "n = \(n): Σλ² = \(squares), tr A² = \(trace2)")
    }
  }

  func twoUnits(_ w: [[Double]]) throws -> SteadyNetwork<Double> {
    let shape = try NetworkShape(units: 2, inputs: 0, outputs: 2)
    var params = Parameters<Double>(layout: ParameterLayout(shape: shape, hasInitialState: false))
    params.W = Matrix(w)
    return try SteadyNetwork(parameters: params, activation: .tanh, loss: .mse)
  }

  @Test func aRotationWithModulusAboveOneIsAnAttractor() throws {
    // W = [[0, −1.5], [1.5, 0]], b = 0: x = 0, D W has eigenvalues ±1.5i
    // (ρ = 1.5, real part 0). The undamped iteration circles; the damped
    // one settles at 0.
    let net = try twoUnits([[0, -1.5], [1.5, 0]])
    let batch = try SteadyBatch(
      inputs: Matrix(rows: 3, cols: 0), targets: Matrix(rows: 3, cols: 2),
      initial: Matrix([[0.3, -0.2], [0, 0], [0.5, 0.5]]))
    let r = try net.evaluate(batch: batch, settings: SteadySolverSettings(tolerance: 1e-12))
    #expect(r.states.elements.allSatisfy { abs($0) < 1e-9 }, "\(r.states.elements)")
    #expect(r.diagnostics.damping[0] < 1, "damping \(r.diagnostics.damping)")
    #expect(r.diagnostics.abscissa.allSatisfy { abs($0) < 1e-9 } && r.diagnostics.spectralRadius[0] > 1.4)
  }

  @Test func aSaddleIsUnsettledAndAnAttractorIsFound() throws {
    // W = diag(1.5, 0.2), b = 0: from (0.3, −0.2) the state is (x*, 0) with
    // x* = tanh(1.5 x*) = 0.858560…; from (0, 0), a saddle (eigenvalue 1.5).
    let net = try twoUnits([[1.5, 0], [0, 0.2]])
    var root = 0.9
    for _ in 0..<200 { root -= (root - tanh(1.5 * root)) / (1 - 1.5 * (1 - tanh(1.5 * root) * tanh(1.5 * root))) }
    let batch = try SteadyBatch(
      inputs: Matrix(rows: 2, cols: 0), targets: Matrix(rows: 2, cols: 2),
      initial: Matrix([[0.3, -0.2], [0, 0]]))
    let settings = SteadySolverSettings(tolerance: 1e-12)
    let r = try net.evaluate(batch: batch, settings: settings, allowingUnsettled: true)
    #expect(abs(r.states[0, 0] - root) < 1e-10 && abs(r.states[0, 1]) < 1e-10 && abs(root - 0.8586) < 1e-4)
    #expect(r.diagnostics.status == [.converged, .unstable])
    #expect(r.states[1, 0].isNaN && r.states[1, 1].isNaN, "an unsettled pattern's last iterate is not presented")
    #expect(abs(r.diagnostics.abscissa[1] - 1.5) < 1e-9)
    // The loss is the mean over the settled pattern alone.
    #expect(abs(r.loss - 0.5 * root * root) < 1e-10)
    // Without allowing unsettled patterns, the saddle is an error naming it.
    #expect(throws: RBPError.self) { try net.evaluate(batch: batch, settings: settings) }
  }

  /// A random symmetric W with a zero diagonal, ‖W‖₂ about 2·gain.
  func symmetricNetwork(
    units n: Int, gain: Double, activation: Activation, seed: UInt64
  ) throws -> SteadyNetwork<Double> {
    var rng = SeededGenerator(seed: seed)
    let shape = try NetworkShape(units: n, inputs: n, outputs: 2, coupling: .identity)
    var params = Parameters<Double>.random(
      layout: ParameterLayout(shape: shape, hasInitialState: false), gain: gain,
      scale: 0.3, using: &rng)
    params.makeWeightsSymmetric()
    var net = try SteadyNetwork(parameters: params, activation: activation, loss: .mse)
    net.symmetric = true
    return net
  }

  @Test(arguments: [Activation.tanh, .logistic])
  func symmetricNetworksSettleFromEveryStart(activation: Activation) throws {
    // Hopfield: with W = Wᵀ the dynamics have an energy function, so
    // relaxation settles from any start, at gains where the undamped
    // iteration would oscillate between two states.
    for (gain, seed) in [(1.0, UInt64(1)), (2.0, 2), (3.0, 3)] {
      let net = try symmetricNetwork(units: 12, gain: gain * 2.5, activation: activation, seed: seed)
      var rng = SeededGenerator(seed: seed + 10)
      let (lo, hi) = activation.range
      let starts = Matrix<Double>(
        rows: 100, cols: 12, elements: (0..<1200).map { _ in Double.random(in: lo...hi, using: &rng) })
      let inputs = Matrix<Double>(rows: 100, cols: 12, elements: (0..<1200).map { _ in 0.2 * gaussian(&rng) })
      let batch = try SteadyBatch(inputs: inputs, targets: Matrix(rows: 100, cols: 2), initial: starts)
      let r = try net.evaluate(batch: batch, settings: SteadySolverSettings(), allowingUnsettled: true)
      let settled = r.diagnostics.settledRows.count
      #expect(
        settled == 100,
        "\(activation), gain \(gain): \(settled) of 100 starts settled, \(r.diagnostics.status.filter { $0 != .converged })"
      )
      // Each is an attractor by the dense test too.
      let d = net.slopes(
        states: r.states, drives: net.drives(inputs, workspace: KernelWorkspace()), workspace: KernelWorkspace())
      for p in stride(from: 0, to: 100, by: 9) {
        #expect(net.denseAbscissa(slopes: d.row(p)) < 1)
        #expect(abs(net.symmetricAbscissa(slopes: d.row(p)) - net.denseAbscissa(slopes: d.row(p))) < 1e-8)
      }
    }
  }

  @Test func symmetricGradientMatchesFiniteDifferencesOfTheTiedWeights() throws {
    let net = try symmetricNetwork(units: 5, gain: 0.6, activation: .tanh, seed: 7)
    var rng = SeededGenerator(seed: 8)
    let batch = try SteadyBatch(
      inputs: Matrix(rows: 3, cols: 5, elements: (0..<15).map { _ in gaussian(&rng) * 0.5 }),
      targets: Matrix(rows: 3, cols: 2, elements: (0..<6).map { _ in 0.6 * gaussian(&rng) }))
    let settings = tightSettings(adjoint: .direct, forward: .auto)
    let g = try net.gradient(batch: batch, settings: settings)
    let n = 5, w = net.parameters.layout.w.lowerBound
    for i in 0..<n {
      #expect(g.gradient.values[w + i * n + i] == 0, "the diagonal stays zero")
      for j in 0..<i {
        // Both weights of the pair move together.
        let fd = try centralDifference(h: 1e-4) { step in
          var moved = net
          moved.parameters.values[w + i * n + j] += step
          moved.parameters.values[w + j * n + i] += step
          return try moved.evaluate(batch: batch, settings: settings).loss
        }
        let analytic = g.gradient.values[w + i * n + j]
        #expect(abs(analytic - fd) <= 1e-7 * max(abs(fd), fdFloor), "(\(i), \(j)): \(analytic) against \(fd)")
        #expect(analytic == g.gradient.values[w + j * n + i])
      }
    }
  }

  @Test func anUnsettledPatternIsLeftOutOfTheGradient() throws {
    // Two units with an unstable focus at 0 (D W = 1.5 ± 3i there): a pattern
    // with no input circles forever; patterns driven hard settle.
    let shape = try NetworkShape(units: 2, inputs: 2, outputs: 2, coupling: .identity)
    var params = Parameters<Double>(layout: ParameterLayout(shape: shape, hasInitialState: false))
    params.W = Matrix([[1.5, -3], [3, 1.5]])
    let net = try SteadyNetwork(parameters: params, activation: .tanh, loss: .mse)
    let inputs = Matrix<Double>([[6, 5], [0, 0], [-6, 4], [5, -7]])
    let targets = Matrix<Double>([[0.5, 0.2], [0.1, 0.1], [-0.3, 0.4], [0.2, -0.5]])
    let batch = try SteadyBatch(inputs: inputs, targets: targets)
    let settings = tightSettings(adjoint: .direct, forward: .auto)
    let g = try net.gradient(batch: batch, settings: settings, allowingUnsettled: true)
    #expect(g.settled == [true, false, true, true], "\(g.forward.status)")
    #expect(g.states[1, 0].isNaN && g.adjoints[1, 0].isNaN)
    // The same as the gradient of the three settled patterns alone.
    let settled = try net.gradient(batch: batch.subset([0, 2, 3]), settings: settings)
    #expect(relativeError(g.gradient.values, settled.gradient.values, floor: 1e-12) < 1e-12)
    #expect(abs(g.loss - settled.loss) < 1e-14)
    #expect(throws: RBPError.self) { try net.gradient(batch: batch, settings: settings) }
  }
}
