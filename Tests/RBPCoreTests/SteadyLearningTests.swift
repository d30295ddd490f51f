// Learning by recurrent backpropagation with plain gradient descent (the
// seed's ΔW = −η ∂J/∂W on the whole batch): XOR and the 8-3-8 encoder
// must reach "every output on the correct side of 0.5" within a bounded
// number of epochs for at least 8 of 10 seeds.

import RBPCore
import RBPKernels
import Testing

/// Full-batch gradient descent with warm starts; the epoch at which every
/// output is on the correct side of 0.5, or nil if none within `epochs`.
func epochsToSolve(
  _ network: SteadyNetwork<Double>, _ batch: SteadyBatch<Double>, rate: Double, epochs: Int
) throws -> Int? {
  var net = network
  var cache = SteadyStateCache<Double>(units: net.shape.units)
  let indices = Array(0..<batch.count)
  let settings = SteadySolverSettings(
    forward: .iterate, forwardOptions: SolverOptions(tolerance: 1e-7, maxIterations: 3000),
    adjoint: .iterate, adjointOptions: SolverOptions(tolerance: 1e-7, maxIterations: 3000))
  let ws = KernelWorkspace<Double>()
  let first = net.shape.firstOutput
  for epoch in 1...epochs {
    let g = try net.gradient(batch: batch, settings: settings, start: cache.start(for: indices), workspace: ws)
    cache.store(g.states, for: indices)
    let solved = (0..<batch.count).allSatisfy { p in
      (0..<net.shape.outputs).allSatisfy { k in (g.states[p, first + k] > 0.5) == (batch.targets[p, k] > 0.5) }
    }
    if solved { return epoch }
    for i in net.parameters.values.indices { net.parameters.values[i] -= rate * g.gradient.values[i] }
  }
  return nil
}

@Suite("Learning by recurrent backpropagation")
struct SteadyLearningTests {
  @Test func xor() throws {
    let batch = try SteadyBatch<Double>(
      inputs: Matrix([[0, 0], [0, 1], [1, 0], [1, 1]]), targets: Matrix([[0], [1], [1], [0]]))
    var solved: [Int] = []
    for seed in 0..<10 {
      var rng = SeededGenerator(seed: UInt64(seed))
      let shape = try NetworkShape(units: 4, inputs: 2, outputs: 1)
      let net = try SteadyNetwork<Double>.random(shape: shape, activation: .logistic, loss: .mse, gain: 1, using: &rng)
      if let e = try epochsToSolve(net, batch, rate: 4, epochs: 3000) { solved.append(e) }
    }
    #expect(solved.count >= 8, "XOR solved by \(solved.count) of 10 seeds (epochs \(solved))")
  }

  @Test func encoder838() throws {
    var inputs = Matrix<Double>(rows: 8, cols: 8)
    for i in 0..<8 { inputs[i, i] = 1 }
    let batch = try SteadyBatch(inputs: inputs, targets: inputs)
    var solved: [Int] = []
    for seed in 0..<10 {
      var rng = SeededGenerator(seed: UInt64(100 + seed))
      let shape = try NetworkShape(units: 11, inputs: 8, outputs: 8)
      let net = try SteadyNetwork<Double>.random(shape: shape, activation: .logistic, loss: .mse, gain: 1, using: &rng)
      if let e = try epochsToSolve(net, batch, rate: 4, epochs: 3000) { solved.append(e) }
    }
    #expect(solved.count >= 8, "8-3-8 encoder solved by \(solved.count) of 10 seeds (epochs \(solved))")
  }
}
