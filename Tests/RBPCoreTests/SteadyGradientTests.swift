// Recurrent backpropagation against trusted references, in f64: central
// finite differences for every activation × loss × adjoint solver ×
// coupling; backpropagation through the forward iteration run to
// convergence (an independent formulation, written here with plain loops);
// the sensitivity lemma with finite differences on both sides; and f32
// against f64.

import Foundation
import RBPCore
import Testing

@testable import RBPKernels

struct GradientCase: CustomStringConvertible, Sendable {
  var activation: Activation
  var loss: Loss
  var coupling: Coupling
  var description: String { "\(activation)/\(loss)/\(coupling)" }
}

let gradientCases: [GradientCase] = Activation.allCases.flatMap { f in
  Coupling.allCases.flatMap { c in
    (f == .logistic ? Loss.allCases : [.mse]).map { GradientCase(activation: f, loss: $0, coupling: c) }
  }
}

let adjointMethods: [AdjointMethod] = [.iterate, .neumann(terms: 200), .direct, .gmres(restart: 4)]

@Suite("Steady-state gradients")
struct SteadyGradientTests {
  @Test(arguments: gradientCases)
  func matchesFiniteDifferences(c: GradientCase) throws {
    for (k, method) in adjointMethods.enumerated() {
      let (net, batch) = try randomProblem(
        Double.self, activation: c.activation, loss: c.loss,
        coupling: c.coupling, masked: k % 2 == 1, seed: UInt64(17 + k))
      let settings = tightSettings(adjoint: method)
      let rbp = try net.gradient(batch: batch, settings: settings)
      let fd = try finiteDifferenceGradient(net, batch)
      let err = relativeError(rbp.gradient.values, fd, floor: fdFloor)
      #expect(err < 1e-6, "\(c) adjoint \(method): relative error \(err)")
      #expect(rbp.adjoint.allConverged && rbp.forward.allConverged)
    }
  }

  /// Threads inside the products of a wide network (`threads`) give the
  /// same bits as one thread: states, loss and gradient, for the default
  /// solvers and for plain iteration with GMRES.
  @Test func productThreadsGiveTheSameBits() throws {
    let (one, batch) = try randomProblem(
      Float.self, activation: .tanh, loss: .mse, coupling: .dense, units: 512,
      patterns: 16, seed: 12)
    let loose = SolverOptions(tolerance: 1e-6, maxIterations: 1000)
    for settings in [
      SteadySolverSettings(),
      SteadySolverSettings(
        forward: .iterate, forwardOptions: loose, adjoint: .gmres(restart: 8),
        adjointOptions: loose),
    ] {
      let single = try one.gradient(batch: batch, settings: settings)
      var two = one
      two.threads = 2
      let workspace = KernelWorkspace<Float>()
      let split = try two.gradient(batch: batch, settings: settings, workspace: workspace)
      // The products really ran on two workers, each with its own buffers.
      #expect(workspace.workers.count == 2)
      #expect(split.gradient.values == single.gradient.values && split.loss == single.loss)
      #expect(split.states == single.states)
    }
  }

  /// BPTT through x(t+1) = f(W x(t) + a) from x(0) = 0 for T steps, loss on
  /// x(T), in plain loops: as T grows its gradient tends to the RBP one.
  @Test(arguments: [Activation.tanh, .logistic])
  func equalsBPTTThroughTheIterationRunToConvergence(f: Activation) throws {
    let (net, batch) = try randomProblem(Double.self, activation: f, loss: .mse, coupling: .dense, seed: 5)
    let rbp = try net.gradient(batch: batch, settings: tightSettings())
    let (n, i, o) = (net.shape.units, net.shape.inputs, net.shape.outputs)
    let w = net.parameters.W, b = net.parameters.b, u = net.parameters.U
    let steps = 400
    var gW = [Double](repeating: 0, count: n * n), gb = [Double](repeating: 0, count: n)
    var gU = [Double](repeating: 0, count: n * i)
    for p in 0..<batch.count {
      let a = (0..<n).map { r in b[r] + (0..<i).reduce(0.0) { $0 + u[r, $1] * batch.inputs[p, $1] } }
      var xs: [[Double]] = [[Double](repeating: 0, count: n)]
      for _ in 0..<steps {
        let prev = xs.last!
        xs.append((0..<n).map { r in f.value(a[r] + (0..<n).reduce(0.0) { $0 + w[r, $1] * prev[$1] }) })
      }
      var s = [Double](repeating: 0, count: n)  // ∂L/∂x(t)
      for k in 0..<o { s[n - o + k] = xs[steps][n - o + k] - batch.targets[p, k] }
      for t in stride(from: steps, to: 0, by: -1) {
        let delta = (0..<n).map { r in s[r] * f.slope(atState: xs[t][r]) }
        for r in 0..<n {
          for c in 0..<n { gW[r * n + c] += delta[r] * xs[t - 1][c] / Double(batch.count) }
          gb[r] += delta[r] / Double(batch.count)
          for c in 0..<i { gU[r * i + c] += delta[r] * batch.inputs[p, c] / Double(batch.count) }
        }
        s = (0..<n).map { c in (0..<n).reduce(0.0) { $0 + w[$1, c] * delta[$1] } }
      }
    }
    #expect(relativeError(rbp.gradient.W.elements, gW) < 1e-9)
    #expect(relativeError(rbp.gradient.b, gb) < 1e-9)
    #expect(relativeError(rbp.gradient.U.elements, gU) < 1e-9)
  }

  /// ∂J/∂W_ij = ∂J/∂b_i · x_j for one pattern, both sides by finite differences.
  @Test func sensitivityLemmaByFiniteDifferences() throws {
    let (net, full) = try randomProblem(Double.self, activation: .tanh, loss: .mse, coupling: .dense, seed: 9)
    let batch = full.subset([2])
    let fd = try finiteDifferenceGradient(net, batch)
    let x = try net.evaluate(batch: batch, settings: tightSettings()).states
    let layout = net.parameters.layout
    let n = net.shape.units
    var worst = 0.0
    for i in 0..<n {
      for j in 0..<n {
        let lhs = fd[layout.w.lowerBound + i * n + j]
        let rhs = fd[layout.b.lowerBound + i] * x[0, j]
        worst = max(worst, abs(lhs - rhs))
      }
    }
    let scale = fd.reduce(0) { max($0, abs($1)) }
    #expect(worst / scale < 1e-6, "worst |∂J/∂W_ij − ∂J/∂b_i x_j| = \(worst) (scale \(scale))")
  }

  @Test(arguments: gradientCases)
  func singlePrecisionAgreesWithDouble(c: GradientCase) throws {
    let (net, batch) = try randomProblem(
      Double.self, activation: c.activation, loss: c.loss,
      coupling: c.coupling, seed: 23)
    let exact = try net.gradient(batch: batch, settings: tightSettings())
    let net32 = try SteadyNetwork(
      parameters: net.parameters.converted(to: Float.self),
      activation: c.activation, loss: c.loss)
    let batch32 = try SteadyBatch(
      inputs: batch.inputs.converted(to: Float.self),
      targets: batch.targets.converted(to: Float.self))
    let loose = SteadySolverSettings(
      forwardOptions: SolverOptions(tolerance: 1e-7, maxIterations: 2000),
      adjointOptions: SolverOptions(tolerance: 1e-7, maxIterations: 2000))
    let single = try net32.gradient(batch: batch32, settings: loose)
    let err = relativeError(single.gradient.values.map(Double.init), exact.gradient.values, floor: singleFloor)
    #expect(err < 1e-4, "\(c): f32 vs f64 relative error \(err)")
  }

  @Test func warmStartFromTheFixedPointTakesNoPasses() throws {
    let (net, batch) = try randomProblem(Double.self, activation: .tanh, loss: .mse, coupling: .dense, seed: 3)
    let settings = tightSettings()
    let cold = try net.gradient(batch: batch, settings: settings)
    var cache = SteadyStateCache<Double>(units: net.shape.units)
    let indices = [10, 11, 12, 13]
    cache.store(cold.states, for: indices)
    let warm = try net.gradient(batch: batch, settings: settings, start: cache.start(for: indices))
    #expect(cold.forward.iterations.allSatisfy { $0 > 10 })
    #expect(warm.forward.iterations.allSatisfy { $0 == 1 })
    #expect(relativeError(warm.gradient.values, cold.gradient.values) < 1e-12)
  }
}
