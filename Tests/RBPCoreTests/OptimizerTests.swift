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

  /// The update, run over whole buffers with its constants hoisted, gives the
  /// bits of the formulas applied element by element in f32 (in their
  /// order, with the decay of θ before the step), for every rule, with
  /// clipping, with and without decay, over a thousand values.
  @Test func updatesOverBuffersAreTheFormulasBitForBit() throws {
    let l = ParameterLayout(shape: try NetworkShape(units: 31, inputs: 3, outputs: 2), hasInitialState: true)
    var rng = SeededGenerator(seed: 5)
    func random() -> [Float] { (0..<l.count).map { _ in Float.random(in: -2...2, using: &rng) } }
    let start = Parameters<Float>(layout: l, values: random())
    let gradients = (0..<3).map { _ in Parameters<Float>(layout: l, values: random()) }
    for kind in [OptimizerKind.sgd, .momentum, .adam] {
      for weightDecay in [0, 1e-3] {
        let settings = OptimizerSettings(kind: kind, learningRate: 0.03, clipNorm: 5, weightDecay: weightDecay)
        var optimizer = try Optimizer<Float>(settings: settings, layout: l)
        var p = start
        var (theta, m, v) = (start.values, [Float](repeating: 0, count: l.count), [Float](repeating: 0, count: l.count))
        for (t, gradient) in gradients.enumerated() {
          optimizer.apply(gradient, to: &p)
          let norm = gradient.values.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
          let clip: Float = norm > 5 ? Float(5 / norm) : 1
          let (eta, b1, b2, decay, eps) = (Float(0.03), Float(0.9), Float(0.999), Float(weightDecay), Float(1e-8))
          let c1 = 1 - Float(pow(0.9, Double(t + 1))), c2 = 1 - Float(pow(0.999, Double(t + 1)))
          for i in 0..<l.count {
            let g = clip * gradient.values[i]
            var next = theta[i]
            switch kind {
            case .sgd: next -= eta * g
            case .momentum:
              m[i] = b1 * m[i] + g
              next -= eta * m[i]
            case .adam:
              m[i] = b1 * m[i] + (1 - b1) * g
              v[i] = b2 * v[i] + (1 - b2) * g * g
              next -= eta * (m[i] / c1) / ((v[i] / c2).squareRoot() + eps)
            }
            if decay != 0 { next -= eta * decay * theta[i] }
            theta[i] = next
          }
          #expect(p.values == theta, "\(kind), decay \(weightDecay), step \(t + 1)")
        }
      }
    }
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
