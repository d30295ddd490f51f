// The steady-state solvers against each other and against loud failure:
// every forward solver reaches the same fixed point and every adjoint
// solver the same s on contractive networks; Newton and Anderson need far
// fewer iterations than plain iteration on a slowly contracting one; an
// expansive W gives the non-convergence error with its diagnostics.

import Foundation
import RBPKernels
import Testing

@testable import RBPCore

@Suite("Steady-state solvers")
struct SteadySolverTests {
  let forwardMethods: [ForwardMethod] = [
    .iterate, .iterate(damping: 0.6), .anderson, .anderson(memory: 3, regularization: 1e-8, damping: 0.8), .newton,
  ]

  /// Block Gauss–Seidel passes, the first stage of `auto` on a
  /// contraction, against trusted references: the forward's states against
  /// relaxation run to 1e-13 in Double, the adjoint against the direct
  /// solve (LU) in Double, both within a few tolerances; each reported
  /// residual bounds the returned row's own, measured afresh in Double.
  /// N = 100 leaves a partial last block.
  @Test func blockPassesReachTheReferenceSolutions() throws {
    func check<T: KernelScalar>(_: T.Type, activation: Activation, tolerance: Double) throws {
      let (net, batch) = try randomProblem(
        T.self, activation: activation, loss: .mse, coupling: .dense, units: 100,
        inputs: 7, outputs: 100, patterns: 13, gain: 0.35, seed: 71)
      #expect(net.isContraction(norm: net.spectralNorm()), "\(T.self) \(activation)")
      let ws = KernelWorkspace<T>()
      let (n, count) = (net.shape.units, batch.count)
      let a = net.drives(batch.inputs, workspace: ws)
      let options = SolverOptions(tolerance: tolerance, maxIterations: 500)
      let byBlocks = net.relaxByBlockPasses(
        drives: a, start: Matrix(rows: count, cols: n), options: options,
        workspace: ws)
      #expect(byBlocks.diagnostics.allConverged && byBlocks.slopes != nil)
      // The reference, in Double.
      let ref = try SteadyNetwork(
        parameters: Parameters<Double>(
          layout: net.parameters.layout,
          values: net.parameters.values.map { Double($0) }),
        activation: activation, loss: .mse)
      let wsD = KernelWorkspace<Double>()
      let aD = Matrix<Double>(rows: count, cols: n, elements: a.elements.map { Double($0) })
      let (xRef, _) = try ref.steadyStates(
        drives: aD, from: Matrix(rows: count, cols: n), method: .iterate,
        options: SolverOptions(tolerance: 1e-13, maxIterations: 5000), workspace: wsD)
      let w = ref.parameters.W
      let rounding = 64 * Double(T.ulpOfOne)
      for p in 0..<count {
        var residual = 0.0, error = 0.0
        for i in 0..<n {
          var z = aD[p, i]
          for j in 0..<n { z += w[i, j] * Double(byBlocks.states[p, j]) }
          residual = max(
            residual,
            abs(
              (activation == .tanh ? Foundation.tanh(z) : 1 / (1 + Foundation.exp(-z))) - Double(byBlocks.states[p, i]))
          )
          error = max(error, abs(Double(byBlocks.states[p, i]) - xRef[p, i]))
        }
        #expect(
          residual <= byBlocks.diagnostics.residuals[p] + rounding, "\(T.self) \(activation) residual of pattern \(p)")
        #expect(error <= 10 * tolerance + rounding, "\(T.self) \(activation) state of pattern \(p): \(error)")
      }
      // The adjoint, against LU on the same slopes and loss gradient.
      let d = byBlocks.slopes!
      var g = Matrix<T>(rows: count, cols: n)
      for p in 0..<count { for i in 0..<n { g[p, i] = byBlocks.states[p, i] - batch.targets[p, i] } }
      let (s, adjoint) = net.adjointByBlockPasses(slopes: d, lossGradient: g, options: options, workspace: ws)
      #expect(adjoint.allConverged)
      let (sRef, _) = ref.adjoint(
        slopes: Matrix(rows: count, cols: n, elements: d.elements.map { Double($0) }),
        lossGradient: Matrix(rows: count, cols: n, elements: g.elements.map { Double($0) }),
        method: .direct, options: SolverOptions(tolerance: 1e-13, maxIterations: 1),
        workspace: wsD)
      for p in 0..<count {
        var residual = 0.0, error = 0.0
        for i in 0..<n {
          var sum = Double(g[p, i])
          for j in 0..<n { sum += Double(s[p, j]) * w[j, i] }
          residual = max(residual, abs(Double(s[p, i]) - Double(d[p, i]) * sum))
          error = max(error, abs(Double(s[p, i]) - sRef[p, i]))
        }
        #expect(residual <= adjoint.residuals[p] + rounding, "\(T.self) \(activation) adjoint residual of pattern \(p)")
        #expect(error <= 10 * tolerance + rounding, "\(T.self) \(activation) adjoint of pattern \(p): \(error)")
      }
    }
    for activation in [Activation.tanh, .logistic] {
      try check(Float.self, activation: activation, tolerance: 1e-6)
      try check(Double.self, activation: activation, tolerance: 1e-12)
    }
  }

  /// What `auto` does with the certificate: on W3's shape (N = 256, 64
  /// patterns, ‖W‖₂ ≈ 0.5), where the map contracts, its block passes take
  /// fewer passes than relaxation, forward and back, and the gradients
  /// agree within the tolerance; on a W with ‖W‖₂ ≈ 1.2, which is no
  /// certified contraction, `auto` relaxes, giving iterate's states bit for
  /// bit.
  @Test func autoPassesInBlocksOnlyOnAContraction() throws {
    let (net, batch) = try randomProblem(
      Float.self, activation: .tanh, loss: .mse, coupling: .dense, units: 256,
      inputs: 16, outputs: 256, patterns: 64, gain: 0.25, seed: 73)
    let tight = SolverOptions(tolerance: 1e-6, maxIterations: 1000)
    let plain = try net.gradient(
      batch: batch,
      settings: SteadySolverSettings(
        forward: .iterate, forwardOptions: tight,
        adjoint: .iterate, adjointOptions: tight))
    let auto = try net.gradient(
      batch: batch,
      settings: SteadySolverSettings(
        forward: .auto, forwardOptions: tight,
        adjoint: .auto, adjointOptions: tight))
    #expect(
      auto.forward.iterations.max()! < plain.forward.iterations.max()!,
      "forward passes \(auto.forward.iterations.max()!) against \(plain.forward.iterations.max()!)")
    #expect(
      auto.adjoint.iterations.max()! < plain.adjoint.iterations.max()!,
      "adjoint passes \(auto.adjoint.iterations.max()!) against \(plain.adjoint.iterations.max()!)")
    #expect(auto.forward.fallbacks.allSatisfy { $0 == 0 } && auto.adjoint.fallbacks.allSatisfy { $0 == 0 })
    let scale = plain.gradient.values.reduce(0) { max($0, abs(Double($1))) }
    let worst = zip(auto.gradient.values, plain.gradient.values).reduce(0.0) {
      max($0, abs(Double($1.0) - Double($1.1)))
    }
    #expect(worst <= 1e-5 * scale, "gradients differ by \(worst) of \(scale)")

    let (wide, wideBatch) = try randomProblem(
      Double.self, activation: .tanh, loss: .mse, coupling: .dense, units: 40,
      inputs: 5, outputs: 40, patterns: 9, gain: 0.6, seed: 79)
    #expect(!wide.isContraction(norm: wide.spectralNorm()))
    let ws = KernelWorkspace<Double>()
    let a = wide.drives(wideBatch.inputs, workspace: ws)
    let start = Matrix<Double>(rows: wideBatch.count, cols: 40)
    let options = SolverOptions(tolerance: 1e-10, maxIterations: 2000)
    let relaxed = wide.uncheckedFixedPoints(drives: a, from: start, method: .iterate, options: options, workspace: ws)
    let chosen = wide.uncheckedFixedPoints(drives: a, from: start, method: .auto, options: options, workspace: ws)
    #expect(relaxed.diagnostics.allConverged)
    #expect(chosen.states.elements.map(\.bitPattern) == relaxed.states.elements.map(\.bitPattern))
    #expect(chosen.diagnostics.iterations == relaxed.diagnostics.iterations)
  }

  @Test func forwardSolversAgree() throws {
    let (net, batch) = try randomProblem(
      Double.self, activation: .tanh, loss: .mse, coupling: .dense,
      units: 12, patterns: 7, gain: 0.45, seed: 31)
    let ws = KernelWorkspace<Double>()
    let a = net.drives(batch.inputs, workspace: ws)
    let start = Matrix<Double>(rows: batch.count, cols: net.shape.units)
    let options = SolverOptions(tolerance: 1e-13, maxIterations: 5000)
    var solutions: [Matrix<Double>] = []
    for method in forwardMethods {
      let (x, diagnostics) = try net.steadyStates(
        drives: a, from: start, method: method, options: options, workspace: ws)
      #expect(diagnostics.allConverged, "\(method)")
      #expect(diagnostics.residuals.allSatisfy { $0 <= 1e-13 }, "\(method)")
      solutions.append(x)
    }
    for (k, x) in solutions.enumerated() {
      let diff = zip(x.elements, solutions[0].elements).reduce(0.0) { max($0, abs($1.0 - $1.1)) }
      #expect(diff < 1e-11, "\(forwardMethods[k]) differs from iterate by \(diff)")
    }
    // The returned state's residual is the reported one.
    let fx = try net.drive(forStates: solutions[0], workspace: ws)
    let driveDiff = zip(fx.elements, a.elements).reduce(0.0) { max($0, abs($1.0 - $1.1)) }
    #expect(driveDiff < 1e-11)
  }

  /// The pass solvers return each converged row's last image with the
  /// slopes of its units at those values, and report the last change as
  /// the residual; it must bound the returned state's own residual, and
  /// likewise for the adjoint by passes (naive loops in Double here).
  @Test func passStatesSlopesAndResidualsAgreeWithAFreshEvaluation() throws {
    func check<T: KernelScalar>(_: T.Type, method: ForwardMethod) throws {
      let (net, batch) = try randomProblem(
        T.self, activation: .tanh, loss: .mse, coupling: .dense,
        units: 37, inputs: 5, outputs: 37, patterns: 9, gain: 0.45, seed: 57)
      let ws = KernelWorkspace<T>()
      let (n, count) = (net.shape.units, batch.count)
      let a = net.drives(batch.inputs, workspace: ws)
      let options = SolverOptions(tolerance: 1e-5, maxIterations: 500)
      let (x, d, diagnostics) = try net.steadyStatesAndSlopes(
        drives: a, from: Matrix(rows: count, cols: n), method: method,
        options: options, workspace: ws)
      #expect(diagnostics.allConverged)
      let w = net.parameters.W
      let eps = 64 * Double(T.ulpOfOne)
      for p in 0..<count {
        var residual = 0.0
        for i in 0..<n {
          // tanh' at the unit's value: a slope from another pass would be ~1e-6 off.
          let xi = Double(x[p, i])
          #expect(abs(Double(d[p, i]) - (1 - xi * xi)) <= eps, "\(T.self) \(method) slope [\(p), \(i)]")
          var z = Double(a[p, i])
          for j in 0..<n { z += Double(w[i, j]) * Double(x[p, j]) }
          residual = max(residual, abs(Foundation.tanh(z) - xi))
        }
        #expect(residual <= diagnostics.residuals[p] + eps, "\(T.self) \(method) forward residual of pattern \(p)")
        #expect(diagnostics.residuals[p] <= 1e-5)
      }
      // The adjoint by passes: ‖s − d ⊙ (s·W + g)‖∞ within the reported residual.
      var g = Matrix<T>(rows: count, cols: n)
      for p in 0..<count { for i in 0..<n { g[p, i] = x[p, i] - batch.targets[p, i] } }
      let (s, adjoint) = net.adjoint(slopes: d, lossGradient: g, method: .iterate, options: options, workspace: ws)
      #expect(adjoint.allConverged)
      for p in 0..<count {
        var worst = 0.0
        for i in 0..<n {
          var sum = Double(g[p, i])
          for j in 0..<n { sum += Double(s[p, j]) * Double(w[j, i]) }
          worst = max(worst, abs(Double(s[p, i]) - Double(d[p, i]) * sum))
        }
        #expect(worst <= adjoint.residuals[p] + eps, "\(T.self) adjoint residual of pattern \(p)")
        #expect(adjoint.residuals[p] <= 1e-5)
      }
    }
    for method in [ForwardMethod.iterate, .anderson, .auto] {
      try check(Float.self, method: method)
      try check(Double.self, method: method)
    }
  }

  /// Passes from a zero state take their first product 0·Wᵀ (forward) or
  /// 0·W (adjoint) without a GEMM. Against the GEMM path: the forward from
  /// zeros and from a start whose row 0 alone is nonzero (which sends the
  /// whole first pass through the GEMM) give the other rows' states,
  /// slopes, iterations and residuals bit for bit; one adjoint pass gives
  /// d ⊙ (0 + g) exactly. With an infinite weight, 0·∞ makes the first
  /// pass NaN, as it does in the GEMM.
  @Test func firstPassFromZeroMatchesTheProduct() throws {
    func check<T: KernelScalar>(_: T.Type) throws {
      let (net, batch) = try randomProblem(
        T.self, activation: .tanh, loss: .mse, coupling: .dense,
        units: 29, inputs: 4, outputs: 29, patterns: 7, gain: 0.4, seed: 61)
      let ws = KernelWorkspace<T>()
      let (n, count) = (net.shape.units, batch.count)
      let a = net.drives(batch.inputs, workspace: ws)
      let options = SolverOptions(tolerance: 1e-5, maxIterations: 500)
      var start = Matrix<T>(rows: count, cols: n)
      for i in 0..<n { start[0, i] = T(0.1) }
      for method in [ForwardMethod.iterate, .anderson] {
        let zero = try net.steadyStatesAndSlopes(
          drives: a, from: Matrix(rows: count, cols: n), method: method, options: options,
          workspace: ws)
        let other = try net.steadyStatesAndSlopes(
          drives: a, from: start, method: method, options: options, workspace: ws)
        for p in 1..<count {
          let bits = { (row: [T]) in row.map { Double($0).bitPattern } }
          #expect(bits(zero.states.row(p)) == bits(other.states.row(p)), "\(T.self) \(method) state of pattern \(p)")
          #expect(bits(zero.slopes.row(p)) == bits(other.slopes.row(p)), "\(T.self) \(method) slopes of pattern \(p)")
          #expect(zero.diagnostics.iterations[p] == other.diagnostics.iterations[p])
          #expect(zero.diagnostics.residuals[p] == other.diagnostics.residuals[p])
        }
      }
      // One adjoint pass from s = 0.
      let d = Matrix<T>(rows: count, cols: n, elements: (0..<count * n).map { T(0.2 + 0.01 * Double($0 % 53)) })
      var g = Matrix<T>(rows: count, cols: n, elements: (0..<count * n).map { T(sin(Double($0))) })
      g[1, 2] = -0.0
      let one = SolverOptions(tolerance: 1e-30, maxIterations: 1)
      let (s, _) = net.adjoint(slopes: d, lossGradient: g, method: .iterate, options: one, workspace: ws)
      let expected = zip(d.elements, g.elements).map { $0 * (0 + $1) }
      #expect(
        s.elements.map { Double($0).bitPattern } == expected.map { Double($0).bitPattern },
        "\(T.self) first adjoint pass")
      // An infinite weight: the first pass is already NaN on both paths.
      var broken = net
      broken.parameters.W[3, 11] = .infinity
      let three = SolverOptions(tolerance: 1e-5, maxIterations: 3)
      let fromZero = broken.uncheckedFixedPoints(
        drives: a, from: Matrix(rows: count, cols: n), method: .iterate, options: three,
        workspace: ws)
      let fromOther = broken.uncheckedFixedPoints(
        drives: a, from: start, method: .iterate, options: three, workspace: ws)
      for p in 1..<count {
        #expect(
          fromZero.diagnostics.status[p] == .nonFinite && fromZero.diagnostics.iterations[p] == 1,
          "\(T.self) forward with an infinite weight, pattern \(p)")
        #expect(fromOther.diagnostics.status[p] == .nonFinite && fromOther.diagnostics.iterations[p] == 1)
      }
      let (_, adjoint) = broken.adjoint(slopes: d, lossGradient: g, method: .iterate, options: three, workspace: ws)
      #expect(
        adjoint.status.allSatisfy { $0 == .nonFinite } && adjoint.iterations.allSatisfy { $0 == 1 },
        "\(T.self) adjoint with an infinite weight: \(adjoint.status) after \(adjoint.iterations)")
    }
    try check(Float.self)
    try check(Double.self)
  }

  @Test func adjointSolversAgree() throws {
    let (net, batch) = try randomProblem(
      Double.self, activation: .logistic, loss: .bce, coupling: .dense,
      units: 10, patterns: 5, gain: 0.6, seed: 41)
    var results: [Matrix<Double>] = []
    for method in adjointMethods {
      let g = try net.gradient(batch: batch, settings: tightSettings(adjoint: method))
      #expect(g.adjoint.allConverged, "\(method)")
      results.append(g.adjoints)
    }
    for (k, s) in results.enumerated() {
      let diff = zip(s.elements, results[0].elements).reduce(0.0) { max($0, abs($1.0 - $1.1)) }
      #expect(diff < 1e-12, "\(adjointMethods[k]) differs from iterate by \(diff)")
    }
  }

  /// W = 0.995·I plus a little noise, tanh units near 0: x ← f(Wx + a)
  /// contracts by about 0.995 per pass, so plain iteration needs thousands
  /// of passes.
  @Test func newtonAndAndersonNeedFarFewerIterations() throws {
    let n = 8
    let shape = try NetworkShape(units: n, inputs: 0, outputs: 2)
    var rng = SeededGenerator(seed: 2)
    var params = Parameters<Double>.random(
      layout: ParameterLayout(shape: shape, hasInitialState: false),
      gain: 0.01, using: &rng)
    var w = params.W
    for i in 0..<n { w[i, i] += 0.995 }
    params.W = w
    params.b = params.b.map { $0 * 0.01 }
    let net = try SteadyNetwork(parameters: params, activation: .tanh, loss: .mse)
    let ws = KernelWorkspace<Double>()
    let a = net.drives(Matrix(rows: 1, cols: 0), workspace: ws)
    let options = SolverOptions(tolerance: 1e-10, maxIterations: 20000)
    let start = Matrix<Double>(rows: 1, cols: n)
    func iterations(_ m: ForwardMethod) throws -> Int {
      try net.steadyStates(drives: a, from: start, method: m, options: options, workspace: ws).diagnostics.iterations[0]
    }
    let plain = try iterations(.iterate)
    let newton = try iterations(.newton)
    let anderson = try iterations(.anderson(memory: 8, regularization: 1e-12, damping: 1))
    #expect(plain > 2000, "iterate took \(plain)")
    #expect(newton * 20 < plain, "newton \(newton) vs iterate \(plain)")
    // Anderson's count on this near-singular problem depends on the last
    // bits of tanh: changing every value by one ulp moved it from 111 to
    // 95, another tanh within 3 ulp gives 196. A tenth is the robust claim.
    #expect(anderson * 10 < plain, "anderson \(anderson) vs iterate \(plain)")
  }

  /// W with spectral radius well above 1 and tanh: the iteration oscillates
  /// or wanders; the solver must say so, not return a number.
  @Test func expansiveNetworkFailsLoudly() throws {
    let (net0, batch) = try randomProblem(
      Double.self, activation: .tanh, loss: .mse, coupling: .dense,
      units: 10, patterns: 3, gain: 4, seed: 8)
    var net = net0
    // An antisymmetric, large W: eigenvalues on the imaginary axis, oscillation.
    var w = net.parameters.W
    for i in 0..<10 {
      for j in 0..<10 { w[i, j] = i == j ? 0 : (i < j ? 3.0 : -3.0) * (1 + Double((i * 7 + j) % 5) / 10) }
    }
    net.parameters.W = w
    let settings = SteadySolverSettings(forward: .iterate, tolerance: 1e-8, maxIterations: 300)
    do {
      _ = try net.gradient(batch: batch, settings: settings)
      Issue.record("expected a non-convergence error")
    } catch let error as RBPError {
      guard case let .notConverged(solver, pattern, iterations, residual, tolerance) = error else {
        Issue.record("unexpected error \(error)")
        return
      }
      #expect(solver.contains("iterate"))
      #expect(pattern == 0)
      #expect(iterations == 300)
      #expect(residual > 1e-3 && tolerance == 1e-8)
      #expect(error.description.contains("pattern 0") && error.description.contains("300 iterations"))
    }
    // The diagnostics of the non-throwing API report every pattern.
    let ws = KernelWorkspace<Double>()
    let a = net.drives(batch.inputs, workspace: ws)
    let (_, d) = net.uncheckedFixedPoints(
      drives: a, from: Matrix(rows: 3, cols: 10), method: .iterate,
      options: SolverOptions(tolerance: 1e-8, maxIterations: 300), workspace: ws)
    #expect(d.status.allSatisfy { $0 == .notConverged } && d.iterations.allSatisfy { $0 == 300 })
  }

  @Test func adjointThatCannotConvergeFailsLoudly() throws {
    let (net, batch) = try randomProblem(Double.self, activation: .tanh, loss: .mse, coupling: .dense, seed: 4)
    // Two Neumann terms cannot reach 1e-14: a non-convergence of the
    // adjoint, named as such, not any error.
    let settings = tightSettings(adjoint: .neumann(terms: 2))
    do {
      _ = try net.gradient(batch: batch, settings: settings)
      Issue.record("expected the adjoint not to converge")
    } catch let error as RBPError {
      guard case let .notConverged(solver, _, iterations, residual, tolerance) = error else {
        Issue.record("unexpected error \(error)")
        return
      }
      #expect(solver.contains("neumann"), "solver named \(solver)")
      #expect(iterations == 2 && residual > tolerance)
    }
  }

  @Test func invalidSettingsAreNamed() throws {
    #expect(throws: RBPError.invalid("damping must be in (0, 1], got 1.5")) {
      try ForwardMethod.iterate(damping: 1.5).validate()
    }
    #expect(throws: RBPError.invalid("neumann terms must be at least 1, got 0")) {
      try AdjointMethod.neumann(terms: 0).validate()
    }
    #expect(throws: RBPError.invalid("identity coupling needs inputs (5) <= units (3)")) {
      try NetworkShape(units: 3, inputs: 5, outputs: 1, coupling: .identity)
    }
  }
}
