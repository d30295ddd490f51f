// The steady state as SPEC §1.1 defines it: the stable fixed point that
// relaxation reaches from the initial state. Unstable fixed points are
// rejected whichever solver lands on them; the auto solver's fallbacks find
// the same state as plain relaxation; the default f32 tolerance does not
// chase round-off; the stabiliser's gradient is the exact gradient of its
// penalty (central differences in f64).

import Foundation
import RBPCore
import RBPKernels
import Testing

@Suite("Steady-state stability") struct SteadyStabilityTests {
  /// x = tanh(2x): fixed points 0 (ρ = 2, unstable) and ±0.957 (ρ ≈ 0.17).
  func bistableUnit() throws -> (SteadyNetwork<Double>, SteadyBatch<Double>) {
    let shape = try NetworkShape(units: 1, inputs: 0, outputs: 1)
    var params = Parameters<Double>(layout: ParameterLayout(shape: shape, hasInitialState: false))
    params.W = Matrix([[2]])
    let net = try SteadyNetwork(parameters: params, activation: .tanh, loss: .mse)
    return (net, try SteadyBatch(inputs: Matrix(rows: 1, cols: 0), targets: Matrix([[0.9]])))
  }

  /// x = tanh(w·x) with 1 < w < 2: the origin is a fixed point with
  /// ρ(D W) = w, unstable, however close to 1 or 2; Newton started near it
  /// lands on it, and the state is refused, naming ρ.
  @Test(arguments: [1.05, 1.5, 1.95])
  func fixedPointsWithRadiusBetweenOneAndTwoAreUnstable(w: Double) throws {
    let shape = try NetworkShape(units: 1, inputs: 0, outputs: 1)
    var params = Parameters<Double>(layout: ParameterLayout(shape: shape, hasInitialState: false))
    params.W = Matrix([[w]])
    let net = try SteadyNetwork(parameters: params, activation: .tanh, loss: .mse)
    let batch = try SteadyBatch(inputs: Matrix(rows: 1, cols: 0), targets: Matrix([[0.5]]))
    let start = Matrix<Double>([[0.01]])
    do {
      _ = try net.evaluate(batch: batch, settings: SteadySolverSettings(forward: .newton), start: start)
      Issue.record("the fixed point 0 with ρ = \(w) was accepted as stable")
    } catch let error as RBPError {
      guard case let .unstable(_, pattern, abscissa) = error else {
        Issue.record("unexpected \(error)")
        return
      }
      #expect(pattern == 0 && abs(abscissa - w) < 1e-9, "α \(abscissa), exact \(w)")
    }
    #expect(throws: RBPError.self) {
      try net.gradient(batch: batch, settings: SteadySolverSettings(forward: .newton), start: start)
    }
  }

  @Test func newtonOnAnUnstableFixedPointIsRejected() throws {
    let (net, batch) = try bistableUnit()
    let start = Matrix<Double>([[0.1]])
    // Newton from 0.1 converges, to the unstable point 0.
    let ws = KernelWorkspace<Double>()
    let a = net.drives(batch.inputs, workspace: ws)
    let (x, d) = net.uncheckedFixedPoints(
      drives: a, from: start, method: .newton,
      options: SolverOptions(tolerance: 1e-12, maxIterations: 50), workspace: ws)
    #expect(d.status == [.converged] && abs(x[0, 0]) < 1e-12)
    do {
      _ = try net.evaluate(batch: batch, settings: SteadySolverSettings(forward: .newton), start: start)
      Issue.record("Newton's unstable fixed point was accepted")
    } catch let error as RBPError {
      guard case let .unstable(_, pattern, abscissa) = error else {
        Issue.record("unexpected \(error)")
        return
      }
      #expect(pattern == 0 && abs(abscissa - 2) < 1e-9, "α \(abscissa), exact 2")
    }
    // Relaxation from the same start reaches the stable point.
    let r = try net.evaluate(batch: batch, settings: SteadySolverSettings(), start: start)
    let exact = 0.957_504_024_077_268_8  // x = tanh(2x), x > 0
    #expect(abs(r.states[0, 0] - exact) < 1e-11)
    // ρ = 2(1 − x²) ≈ 0.166, reported as a bound (at most 1.1× the exact value here).
    let rho = 2 * (1 - exact * exact)
    #expect(r.diagnostics.spectralRadius[0] >= rho - 1e-9 && r.diagnostics.spectralRadius[0] <= 1.11 * rho)
    // Relaxation that starts exactly on the unstable point stays there: that
    // is not a steady state either.
    #expect(isUnstable { try net.evaluate(batch: batch, settings: SteadySolverSettings()) })
  }

  @Test func radiiBetweenOneAndTwoAreUnstable() throws {
    // D W with eigenvalues of modulus 1.3 (a rotation scaled by 1.3 times the slope).
    let shape = try NetworkShape(units: 2, inputs: 0, outputs: 1)
    var params = Parameters<Double>(layout: ParameterLayout(shape: shape, hasInitialState: false))
    params.W = Matrix([[0, -1.3], [1.3, 0]])
    let net = try SteadyNetwork(parameters: params, activation: .linear, loss: .mse)
    let d = Matrix<Double>(rows: 1, cols: 2, repeating: 1)
    let radius = net.spectralRadii(slopes: d, workspace: KernelWorkspace())[0]
    #expect(abs(radius - 1.3) < 1e-6, "estimate \(radius)")
    // x = 0 is its only fixed point (linear, b = 0); its eigenvalues ±1.3i
    // have real part 0, so it is an attractor of the damped dynamics
    // (SPEC §1.1) although ρ > 1: Newton finds it and it is accepted.
    let batch = try SteadyBatch(inputs: Matrix(rows: 1, cols: 0), targets: Matrix([[0.0]]))
    let r = try net.evaluate(
      batch: batch, settings: SteadySolverSettings(forward: .newton), start: Matrix([[0.3, 0.1]]))
    #expect(abs(r.diagnostics.abscissa[0]) < 1e-12 && r.diagnostics.spectralRadius[0] > 1.29)
    // The same rotation pushed right (eigenvalues 1.2 ± 1.3i) is not.
    params.W = Matrix([[1.2, -1.3], [1.3, 1.2]])
    let pushed = try SteadyNetwork(parameters: params, activation: .linear, loss: .mse)
    #expect(
      isUnstable {
        try pushed.evaluate(
          batch: batch, settings: SteadySolverSettings(forward: .newton), start: Matrix([[0.3, 0.1]]))
      })
    // A nilpotent D W (strictly triangular W): ρ = 0, the iterate dies out.
    params.W = Matrix([[0, 5], [0, 0]])
    let nilpotent = try SteadyNetwork(parameters: params, activation: .linear, loss: .mse)
    #expect(nilpotent.spectralRadii(slopes: d, workspace: KernelWorkspace()) == [0])
  }

  /// Whether `body` throws `RBPError.unstable`.
  func isUnstable(_ body: () throws -> Any) -> Bool {
    do { _ = try body() } catch let error as RBPError {
      if case .unstable = error { return true }
    } catch {}
    return false
  }

  @Test func autoFallbacksFindTheRelaxedState() throws {
    // ‖W‖ ≈ 1.9 with tanh: relaxation converges, slowly.
    let (net, batch) = try randomProblem(
      Double.self, activation: .tanh, loss: .mse, coupling: .dense,
      units: 12, patterns: 6, gain: 0.95, seed: 3)
    let reference = try net.evaluate(batch: batch, settings: tightSettings())
    let (fastest, slowest) = (reference.diagnostics.iterations.min()!, reference.diagnostics.iterations.max()!)
    try #require(slowest > fastest + 10)
    // A limit that only the fastest pattern's relaxation meets: the others
    // go on to the fallbacks (damped relaxation, Anderson, Newton).
    let limited = SteadySolverSettings(forward: .auto, tolerance: 1e-14, maxIterations: fastest)
    let r = try net.evaluate(batch: batch, settings: limited)
    #expect(r.diagnostics.fallbacks.contains { $0 > 0 }, "no pattern needed a fallback")
    #expect(r.diagnostics.fallbacks.contains(0), "every pattern needed a fallback")
    #expect(relativeError(r.states.elements, reference.states.elements) < 1e-11)
    #expect(abs(r.loss - reference.loss) < 1e-12)
  }

  @Test func float32DefaultToleranceIsAboveRoundOff() throws {
    // Trained-like networks (‖W‖ up to about 1.6): f32 relaxation at the
    // default tolerance converges for every pattern, N = 16 to 256.
    for (units, seed) in [(16, 1), (64, 2), (256, 3)] {
      let (net, batch) = try randomProblem(
        Float.self, activation: .tanh, loss: .mse, coupling: .dense, units: units,
        inputs: 8, outputs: 4, patterns: 32, gain: 0.8, seed: UInt64(seed))
      let g = try net.gradient(batch: batch, settings: SteadySolverSettings(forward: .iterate, adjoint: .iterate))
      let tolerance = SolverOptions.defaultTolerance(for: Float.self, units: units)
      #expect(g.forward.residuals.allSatisfy { $0 <= tolerance }, "N = \(units)")
      // The f32 states agree with f64 ones to about the tolerance.
      let exact = net.parameters.converted(to: Double.self)
      let net64 = try SteadyNetwork(parameters: exact, activation: .tanh, loss: .mse)
      let batch64 = try SteadyBatch(
        inputs: batch.inputs.converted(to: Double.self), targets: batch.targets.converted(to: Double.self))
      let x64 = try net64.evaluate(batch: batch64, settings: tightSettings()).states
      let worst = zip(g.states.elements, x64.elements).map { abs(Double($0) - $1) }.max()!
      #expect(worst < 50 * tolerance, "N = \(units): f32 vs f64 states differ by \(worst)")
    }
    #expect(SolverOptions.defaultTolerance(for: Double.self, units: 64) == 1e-12)
  }

  @Test func stabilizerGradientIsExact() throws {
    for activation in [Activation.tanh, .logistic, .linear] {
      let (net, batch) = try randomProblem(
        Double.self, activation: activation, loss: .mse, coupling: .dense,
        gain: activation == .logistic ? 1.5 : 0.3, seed: 11)
      let weight = 0.7
      var settings = tightSettings(adjoint: .direct)
      settings.stabilizer = .jacobian(weight: weight, threshold: 0)  // every pattern
      let g = try net.gradient(batch: batch, settings: settings)
      /// loss + (λ/2P) Σ_p Σ_i d_pi² ‖W_i‖², from the relaxed states.
      func objective(_ n: SteadyNetwork<Double>) throws -> Double {
        let r = try n.evaluate(batch: batch, settings: tightSettings())
        let w = n.parameters.W
        var penalty = 0.0
        for p in 0..<batch.count {
          for i in 0..<w.rows {
            var z = n.drives(batch.inputs, workspace: KernelWorkspace())[p, i]
            for j in 0..<w.cols { z += w[i, j] * r.states[p, j] }
            let slope = activation.slope(preactivation: z, value: activation.value(z))
            penalty += 0.5 * weight * slope * slope * (0..<w.cols).reduce(0) { $0 + w[i, $1] * w[i, $1] }
          }
        }
        return r.loss + penalty / Double(batch.count)
      }
      #expect(abs(g.loss + g.penalty - (try objective(net))) < 1e-12)
      var fd = [Double](repeating: 0, count: net.parameters.values.count)
      let h = 1e-6
      for i in fd.indices {
        var plus = net, minus = net
        plus.parameters.values[i] += h
        minus.parameters.values[i] -= h
        fd[i] = (try objective(plus) - objective(minus)) / (2 * h)
      }
      let error = relativeError(g.gradient.values, fd, floor: fdFloor)
      #expect(error < 1e-6, "\(activation): stabilised gradient vs central differences, relative \(error)")
    }
  }

  /// ‖W‖₂ by Lanczos steps on WᵀW, against an independent reference: a
  /// long power iteration in Double. On random W it comes within 2 % in 8
  /// steps, closer than 16 power steps, and never above the norm (beyond
  /// rounding); a rank-one W = u vᵀ
  /// gives |u||v| at once; W = 0 gives 0 and a NaN weight ∞.
  @Test func spectralNormByLanczos() throws {
    func network(_ w: Matrix<Double>) throws -> SteadyNetwork<Double> {
      let shape = try NetworkShape(units: w.rows, inputs: 0, outputs: 1)
      var params = Parameters<Double>(layout: ParameterLayout(shape: shape, hasInitialState: false))
      params.W = w
      return try SteadyNetwork(parameters: params, activation: .tanh, loss: .mse)
    }
    func powerNorm(_ w: Matrix<Double>, steps: Int = 3000) -> Double {
      let n = w.rows
      // The engine's start for a short run; another for the reference.
      var v = [Double](repeating: 0, count: n), wv = v
      for i in 0..<n { v[i] = steps < 3000 ? 1 + 0.5 * sin(Double(i) * 1.7) : Double(i % 7) - 2.9 }
      var sigma = 0.0
      // Plain loops over buffers: closures over ranges make a debug build
      // take seconds for the reference's 3000 steps.
      w.elements.withUnsafeBufferPointer { a in
        v.withUnsafeMutableBufferPointer { v in
          wv.withUnsafeMutableBufferPointer { wv in
            for _ in 0..<steps {
              var norm = 0.0
              for i in 0..<n { norm += v[i] * v[i] }
              norm = norm.squareRoot()
              for i in 0..<n { v[i] /= norm }
              sigma = 0
              for i in 0..<n {
                var s = 0.0
                for j in 0..<n { s += a[i * n + j] * v[j] }
                wv[i] = s
                sigma += s * s
              }
              sigma = sigma.squareRoot()
              for j in 0..<n { v[j] = 0 }
              for i in 0..<n { for j in 0..<n { v[j] += a[i * n + j] * wv[i] } }
            }
          }
        }
      }
      return sigma
    }
    for (n, seed) in [(16, 1), (64, 2), (100, 3)] {
      var rng = SeededGenerator(seed: UInt64(seed))
      let w = Matrix<Double>(
        rows: n, cols: n, elements: (0..<n * n).map { _ in Double.random(in: -1...1, using: &rng) })
      let (estimate, exact) = (try network(w).spectralNorm(), powerNorm(w))
      #expect(estimate <= exact * (1 + 1e-12) && estimate > 0.98 * exact, "n \(n): \(estimate) against \(exact)")
      // At least as close as the 16 power steps from the same start it replaces.
      #expect(estimate >= powerNorm(w, steps: 16) * (1 - 1e-12), "n \(n)")
    }
    let (u, v) = ([3.0, -1, 2, 0.5], [1.0, 2, -2, 1])
    let rankOne = Matrix<Double>(rows: 4, cols: 4, elements: (0..<16).map { u[$0 / 4] * v[$0 % 4] })
    let product = u.reduce(0) { $0 + $1 * $1 }.squareRoot() * v.reduce(0) { $0 + $1 * $1 }.squareRoot()
    #expect(abs(try network(rankOne).spectralNorm() - product) < 1e-12 * product)
    #expect(try network(Matrix(rows: 3, cols: 3)).spectralNorm() == 0)
    for bad in [Double.nan, .infinity, -.infinity] {
      var broken = rankOne
      broken[1, 2] = bad
      #expect(try network(broken).spectralNorm() == .infinity, "a weight \(bad)")
    }
  }
}
