// The optimizers against their update formulas written out by hand for two
// steps, clipping and weight decay, and settings validation.

import Foundation
import RBPCore
import RBPKernels
import Testing

@Suite("Optimizers")
struct OptimizerTests {
  func layout() throws -> ParameterLayout {
    ParameterLayout(shape: try NetworkShape(units: 1, inputs: 0, outputs: 1), hasInitialState: false)
  }

  @Test func updatesFollowTheFormulas() throws {
    let l = try layout()  // two values: W (1×1) and b (1)
    let g1 = Parameters<Double>(layout: l, values: [0.5, -2])
    let g2 = Parameters<Double>(layout: l, values: [-1, 4])
    let start = Parameters<Double>(layout: l, values: [1, 1])
    let eta = 0.1

    var sgd = try Optimizer<Double>(settings: OptimizerSettings(kind: .sgd, learningRate: eta), layout: l)
    var p = start
    sgd.apply(g1, to: &p)
    sgd.apply(g2, to: &p)
    #expect(p.values == [1 - eta * 0.5 + eta * 1, 1 + eta * 2 - eta * 4])

    var momentum = try Optimizer<Double>(
      settings: OptimizerSettings(kind: .momentum, learningRate: eta, beta1: 0.9), layout: l)
    p = start
    momentum.apply(g1, to: &p)
    momentum.apply(g2, to: &p)
    let v1 = [0.5, -2.0], v2 = [0.9 * 0.5 - 1, 0.9 * -2 + 4]
    #expect(
      zip(p.values, [1 - eta * v1[0] - eta * v2[0], 1 - eta * v1[1] - eta * v2[1]]).allSatisfy { abs($0 - $1) < 1e-15 })

    var adam = try Optimizer<Double>(settings: OptimizerSettings(kind: .adam, learningRate: eta), layout: l)
    p = start
    adam.apply(g1, to: &p)
    adam.apply(g2, to: &p)
    for (i, (a, b)) in [(0.5, -1.0), (-2.0, 4.0)].enumerated() {
      var theta = 1.0, m = 0.0, v = 0.0
      for (t, g) in [a, b].enumerated() {
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        let mh = m / (1 - pow(0.9, Double(t + 1))), vh = v / (1 - pow(0.999, Double(t + 1)))
        theta -= eta * mh / (vh.squareRoot() + 1e-8)
      }
      #expect(abs(p.values[i] - theta) < 1e-14, "adam value \(i)")
    }
    #expect(adam.step == 2)
  }

  @Test func clippingAndDecay() throws {
    let l = try layout()
    var opt = try Optimizer<Double>(
      settings: OptimizerSettings(kind: .sgd, learningRate: 1, clipNorm: 1, weightDecay: 0.5), layout: l)
    var p = Parameters<Double>(layout: l, values: [2, 2])
    opt.apply(Parameters(layout: l, values: [3, 4]), to: &p)  // |g| = 5 → (0.6, 0.8)
    #expect(abs(p.values[0] - (2 - 0.6 - 0.5 * 2)) < 1e-15)
    #expect(abs(p.values[1] - (2 - 0.8 - 0.5 * 2)) < 1e-15)
  }

  @Test func badSettingsAreNamed() throws {
    #expect(throws: RBPError.invalid("lr must be positive, got -1.0")) {
      try OptimizerSettings(kind: .adam, learningRate: -1).validate()
    }
    #expect(throws: RBPError.invalid("beta2 must be in [0, 1), got 1.0")) {
      try OptimizerSettings(kind: .adam, learningRate: 1, beta2: 1).validate()
    }
  }
}
