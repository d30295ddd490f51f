// The library's short paths: `SteadyNetwork.states(_:)` for "the states of
// these inputs", and `SteadyBatch(inputs:)` for objectives that need no
// targets. Expectations come from a plain loop written here, x ← f(Wx + a)
// iterated to convergence, and from the fixed-point equation itself.

import Foundation
import RBPCore
import RBPKernels
import Testing

@Suite("States of inputs, batches without targets")
struct SteadyConvenienceTests {
  /// x ← tanh(W x + b + U u) from `start` until it stops moving, in plain Swift.
  func relaxedByHand(_ net: SteadyNetwork<Double>, input u: [Double], start: [Double]) -> [Double] {
    let n = net.shape.units, i = net.shape.inputs
    let w = net.parameters.W.elements, b = net.parameters.b, uw = net.parameters.U.elements
    var x = start
    for _ in 0..<100_000 {
      var next = [Double](repeating: 0, count: n)
      for r in 0..<n {
        var z = b[r]
        for c in 0..<n { z += w[r * n + c] * x[c] }
        for k in 0..<i { z += uw[r * i + k] * u[k] }
        next[r] = tanh(z)
      }
      let change = zip(next, x).map { abs($0 - $1) }.max() ?? 0
      x = next
      if change < 1e-15 { break }
    }
    return x
  }

  @Test func statesOfInputsAreTheAttractorsRelaxationReaches() throws {
    let (net, batch) = try randomProblem(
      Double.self, activation: .tanh, loss: .mse, coupling: .dense, units: 7,
      inputs: 3, patterns: 5, seed: 11)
    var rng = SeededGenerator(seed: 5)
    let initial = Matrix<Double>(
      rows: 5, cols: 7, elements: (0..<35).map { _ in Double.random(in: -0.9...0.9, using: &rng) })
    let settings = SteadySolverSettings(tolerance: 1e-13)
    for start in [nil, initial] {
      let x = try net.states(batch.inputs, initial: start, settings: settings)
      #expect(x.rows == 5 && x.cols == 7)
      for p in 0..<5 {
        let expected = relaxedByHand(
          net, input: batch.inputs.row(p), start: start?.row(p) ?? [Double](repeating: 0, count: 7))
        let gap = zip(x.row(p), expected).map { abs($0 - $1) }.max() ?? .infinity
        #expect(gap < 1e-11, "pattern \(p): \(gap) from the hand-relaxed state")
      }
    }
  }

  @Test func aBatchWithoutTargetsServesAnObjectiveAndRefusesTheLoss() throws {
    let (net, batch) = try randomProblem(Double.self, activation: .tanh, loss: .mse, coupling: .dense, seed: 12)
    let bare = try SteadyBatch(inputs: batch.inputs)
    #expect(bare.targets.cols == 0 && bare.count == batch.count)
    var rng = SeededGenerator(seed: 3)
    let c = (0..<(batch.count * net.shape.units)).map { _ in Double.random(in: -1...1, using: &rng) }
    let objective = try CotangentObjective(c, count: batch.count, units: net.shape.units)
    let settings = tightSettings()
    let withTargets = try net.gradient(batch: batch, settings: settings, objective: objective)
    let without = try net.gradient(batch: bare, settings: settings, objective: objective)
    // The targets play no part in ⟨c, x⟩: the same bits either way.
    #expect(without.gradient.values == withTargets.gradient.values)
    #expect(without.loss == withTargets.loss)
    // R = ⟨c, x⟩ at the states the short path returns.
    let x = try net.states(batch.inputs, settings: settings)
    let r = zip(c, x.elements).reduce(0.0) { $0 + $1.0 * $1.1 }
    #expect(abs(r - without.loss) <= 1e-12 * max(1, abs(r)))
    do {
      _ = try net.gradient(batch: bare, settings: settings)
      Issue.record("the built-in loss took a batch without targets")
    } catch let error as RBPError {
      #expect(error.description.contains("no targets"), "\(error)")
    }
  }
}
