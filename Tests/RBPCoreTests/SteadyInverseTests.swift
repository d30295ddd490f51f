// Input as a function of output: the drive a = f⁻¹(x) − W x really makes x
// a steady state, its analytic Jacobian D⁻¹ − W matches finite differences,
// and states outside the domain (or relu) give errors naming unit and value.

import RBPCore
import RBPKernels
import Testing

@Suite("Steady-state inverse")
struct SteadyInverseTests {
  @Test(arguments: [Activation.tanh, .logistic, .linear])
  func driveMakesTheStateSteady(f: Activation) throws {
    let (net, _) = try randomProblem(
      Double.self, activation: f, loss: .mse, coupling: .dense, units: 7, gain: 2, seed: 12)
    var rng = SeededGenerator(seed: 99)
    let (lo, hi) = f == .logistic ? (0.01, 0.99) : (-0.99, 0.99)
    let x = Matrix<Double>(rows: 5, cols: 7, elements: (0..<35).map { _ in Double.random(in: lo...hi, using: &rng) })
    let a = try net.drive(forStates: x)
    // f(W x + a) = x, with W large (not contractive): the inverse needs no solve.
    let w = net.parameters.W
    var worst = 0.0
    for p in 0..<5 {
      for i in 0..<7 {
        let z = a[p, i] + (0..<7).reduce(0.0) { $0 + w[i, $1] * x[p, $1] }
        worst = max(worst, abs(f.value(z) - x[p, i]))
      }
    }
    #expect(worst < 1e-12)
  }

  @Test(arguments: [Activation.tanh, .logistic, .linear])
  func jacobianMatchesFiniteDifferences(f: Activation) throws {
    let (net, _) = try randomProblem(Double.self, activation: f, loss: .mse, coupling: .dense, units: 6, seed: 13)
    let x: [Double] = f == .logistic ? [0.2, 0.5, 0.7, 0.9, 0.35, 0.6] : [-0.7, -0.2, 0, 0.3, 0.6, 0.85]
    let j = try net.driveJacobian(atState: x)
    let h = 1e-6
    var worst = 0.0
    for c in 0..<6 {
      var plus = x, minus = x
      plus[c] += h
      minus[c] -= h
      let ap = try net.drive(forStates: Matrix(rows: 1, cols: 6, elements: plus))
      let am = try net.drive(forStates: Matrix(rows: 1, cols: 6, elements: minus))
      for r in 0..<6 { worst = max(worst, abs((ap[0, r] - am[0, r]) / (2 * h) - j[r, c])) }
    }
    #expect(worst < 1e-6, "largest difference \(worst)")
  }

  @Test func outsideTheDomainIsAnErrorNamingUnitAndValue() throws {
    let (net, _) = try randomProblem(Double.self, activation: .tanh, loss: .mse, coupling: .dense, units: 4, seed: 1)
    let x = Matrix<Double>([[0.1, 0.2, 0.3, 0.4], [0.1, 1.0, 0.3, 0.4]])
    #expect(throws: RBPError.outsideDomain(activation: .tanh, pattern: 1, unit: 1, value: 1.0)) {
      try net.drive(forStates: x)
    }
    let message = RBPError.outsideDomain(activation: .tanh, pattern: 1, unit: 1, value: 1.0).description
    #expect(message.contains("unit 1") && message.contains("1.0") && message.contains("(-1, 1)"))
    let (logistic, _) = try randomProblem(
      Double.self, activation: .logistic, loss: .mse, coupling: .dense, units: 4, seed: 1)
    #expect(throws: RBPError.outsideDomain(activation: .logistic, pattern: 0, unit: 2, value: -0.5)) {
      try logistic.drive(forStates: Matrix([[0.5, 0.5, -0.5, 0.5]]))
    }
    let (relu, _) = try randomProblem(Double.self, activation: .relu, loss: .mse, coupling: .dense, units: 4, seed: 1)
    #expect(throws: RBPError.noInverse(activation: .relu)) {
      try relu.drive(forStates: Matrix([[0.5, 0.5, 0.5, 0.5]]))
    }
  }
}
