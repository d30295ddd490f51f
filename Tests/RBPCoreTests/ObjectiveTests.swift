// Objectives over the whole state (SPEC §1.4), in f64, against trusted
// references: for a reward over all units, R = Σ_i c_i sin(x_i) + x_0 x_1
// (per pattern, and per step weighted by the step for trajectories), ∂R/∂θ
// and ∂R/∂a agree with central finite differences of R through the forward
// solve or run, for every activation and both couplings; the chain-rule
// identity ∂R/∂x = (D⁻¹ − Wᵀ) s (steady) and its form in time hold on the
// computed adjoints with the inverse's slopes; the dense sensitivity ∂x/∂a
// matches finite differences of the fixed point; the cotangent of mse gives
// exactly the built-in gradient; every BPTT mode takes the objective.

import Foundation
import RBPCore
import RBPKernels
import Testing

/// R = Σ_p w(t) [Σ_i c_i sin(x_pi) + x_p0 x_p1], w(t) = 1 + t/10 (t = 0 for
/// steady states), maximised, summed over the patterns.
struct SineReward: StateObjective {
  let c: [Double]
  var goal: ObjectiveGoal { .maximize }
  var meanOverPatterns: Bool { false }

  func weight(_ step: Int) -> Double { 1 + Double(step) / 10 }

  func value(_ block: StateBlock<Double>) -> Double {
    var total = 0.0
    for p in 0..<block.rows {
      let x = block.states + p * block.units
      for i in 0..<block.units { total += c[i] * x[i].sin }
      total += x[0] * x[1]
    }
    return weight(block.step) * total
  }

  func addGradient(_ block: StateBlock<Double>, into g: UnsafeMutablePointer<Double>) {
    let w = weight(block.step)
    for p in 0..<block.rows {
      let x = block.states + p * block.units, gp = g + p * block.units
      for i in 0..<block.units { gp[i] += w * c[i] * x[i].cos }
      gp[0] += w * x[1]
      gp[1] += w * x[0]
    }
  }
}

extension Double {
  var sin: Double { Foundation.sin(self) }
  var cos: Double { Foundation.cos(self) }
}

func reward(units: Int) -> SineReward { SineReward(c: (0..<units).map { 0.5 + 0.3 * Double($0 % 3) }) }

struct ObjectiveCase: CustomStringConvertible, Sendable {
  var activation: Activation, coupling: Coupling
  var description: String { "\(activation)/\(coupling)" }
}

let objectiveCases = Activation.allCases.flatMap { f in
  [Coupling.identity, .dense].map { ObjectiveCase(activation: f, coupling: $0) }
}

@Suite("Objectives over the state")
struct ObjectiveTests {
  @Test(arguments: objectiveCases)
  func steadyRewardMatchesFiniteDifferences(c: ObjectiveCase) throws {
    let (net, batch) = try randomProblem(
      Double.self, activation: c.activation, loss: .mse, coupling: c.coupling, seed: 41)
    let r = reward(units: net.shape.units)
    let settings = tightSettings()
    let g = try net.gradient(batch: batch, settings: settings, objective: r)
    #expect(g.goal == .maximize)
    let fdTheta = try (0..<net.parameters.values.count).map { i in
      try centralDifference(h: 1e-4) { step in
        var moved = net
        moved.parameters.values[i] += step
        return try moved.evaluate(batch: batch, settings: settings, objective: r).loss
      }
    }
    let exact = g.gradient.values
    #expect(relativeError(exact, fdTheta, floor: fdFloor) < 1e-6, "∂R/∂θ")
    #expect(g.descentGradient.values == exact.map { -$0 })
    // ∂R/∂a_p = s_p: perturb one pattern's drive and solve again.
    let workspace = KernelWorkspace<Double>()
    let a = net.drives(batch.inputs, workspace: workspace)
    let options = settings.forwardOptions(for: Double.self, units: net.shape.units)
    var fdDrive: [Double] = []
    for p in 0..<batch.count {
      for i in 0..<net.shape.units {
        fdDrive.append(
          try centralDifference(h: 1e-4) { step in
            var moved = a
            moved[p, i] += step
            let x = try net.steadyStatesAndSlopes(
              drives: moved, from: Matrix(rows: batch.count, cols: net.shape.units),
              method: settings.forward, options: options, workspace: workspace
            ).states
            return x.withPointer { r.value(StateBlock(states: $0, rows: batch.count, units: net.shape.units, step: 0)) }
          })
      }
    }
    #expect(relativeError(g.adjoints.elements, fdDrive, floor: fdFloor) < 1e-6, "∂R/∂a")
  }

  @Test(arguments: objectiveCases)
  func trajectoryRewardMatchesFiniteDifferences(c: ObjectiveCase) throws {
    for leak in [1.0, 0.35] {
      // Identity coupling with I = N: a(t) = b + u(t), so ∂R/∂a(t) is ∂R/∂u(t).
      let units = 5  // (seed 42: no pre-activation within the differences' reach of relu's kink)
      let (net, batch) = try randomSequences(
        Double.self, activation: c.activation, loss: .mse, coupling: c.coupling,
        leak: leak, units: units, inputs: c.coupling == .identity ? units : 2,
        seed: 42)
      let r = reward(units: units)
      let g = try net.gradient(batch: batch, objective: r)
      let fdTheta = try (0..<net.parameters.values.count).map { i in
        try centralDifference(h: 1e-4) { step in
          var moved = net
          moved.parameters.values[i] += step
          return try moved.run(batch, objective: r).loss
        }
      }
      #expect(relativeError(g.gradient.values, fdTheta, floor: fdFloor) < 1e-6, "∂R/∂θ, leak \(leak)")
      guard c.coupling == .identity else { continue }
      var fdDrive = [Double](repeating: 0, count: batch.steps * batch.count * units)  // time-major, as g.adjoints
      for p in 0..<batch.count {
        for t in 0..<batch.steps {
          for i in 0..<units {
            fdDrive[(t * batch.count + p) * units + i] = try centralDifference(h: 1e-4) { step in
              var moved = batch
              moved.inputs[(p * batch.steps + t) * units + i] += step
              return try net.run(moved, objective: r).loss
            }
          }
        }
      }
      #expect(relativeError(g.adjoints, fdDrive, floor: fdFloor) < 1e-6, "∂R/∂a(t), leak \(leak)")
    }
  }

  /// Every memory mode gives the reward's gradient: checkpointed equals
  /// full; truncated with a window as long as the run equals full.
  @Test func everyBPTTModeTakesTheObjective() throws {
    let (net, batch) = try randomSequences(Double.self, activation: .tanh, loss: .mse, steps: 9, seed: 44)
    let r = reward(units: net.shape.units)
    let full = try net.gradient(batch: batch, mode: .full, objective: r)
    for mode in [BPTTMode.checkpointed(every: 2), .checkpointed(every: nil), .truncated(window: 9)] {
      let other = try net.gradient(batch: batch, mode: mode, objective: r)
      #expect(relativeError(other.gradient.values, full.gradient.values) < 1e-12, "\(mode)")
      #expect(abs(other.loss - full.loss) <= 1e-12 * abs(full.loss), "\(mode)")
    }
    // A shorter window drops long-range terms: the gradient must differ.
    let short = try net.gradient(batch: batch, mode: .truncated(window: 2), objective: r)
    #expect(relativeError(short.gradient.values, full.gradient.values) > 1e-6)
  }

  /// c = (D⁻¹ − Wᵀ) s at the fixed points, with D⁻¹ from the inverse.
  @Test(arguments: [Activation.tanh, .logistic, .linear])
  func steadyChainRuleIdentity(f: Activation) throws {
    let (net, batch) = try randomProblem(Double.self, activation: f, loss: .mse, coupling: .dense, seed: 45)
    let r = reward(units: net.shape.units)
    let g = try net.gradient(batch: batch, settings: tightSettings(adjoint: .direct), objective: r)
    let k = try net.inverseSlopes(forStates: g.states)
    let n = net.shape.units
    var c = [Double](repeating: 0, count: batch.count * n)
    c.withUnsafeMutableBufferPointer { cp in
      g.states.withPointer {
        r.addGradient(StateBlock(states: $0, rows: batch.count, units: n, step: 0), into: cp.baseAddress!)
      }
    }
    var rebuilt = [Double](repeating: 0, count: batch.count * n)
    for p in 0..<batch.count {
      for i in 0..<n {
        var v = k[p, i] * g.adjoints[p, i]
        for j in 0..<n { v -= net.parameters.W[j, i] * g.adjoints[p, j] }
        rebuilt[p * n + i] = v
      }
    }
    #expect(relativeError(rebuilt, c, floor: 1) < 1e-12)
  }

  /// c(t) = K(t) s(t) − (1−α) K(t+1) s(t+1) − Wᵀ s(t+1) along the run, K
  /// from the inverse (D⁻¹(t) without a leak).
  @Test(arguments: [1.0, 0.35])
  func trajectoryChainRuleIdentity(leak: Double) throws {
    let (net, batch) = try randomSequences(Double.self, activation: .tanh, loss: .mse, leak: leak, seed: 46)
    let r = reward(units: net.shape.units)
    let g = try net.gradient(batch: batch, objective: r)
    let (p, steps, n) = (batch.count, batch.steps, net.shape.units)
    let states = sequenceMajorCopy(g.states!, blocks: steps + 1, count: p, width: n)
    let k = try net.inverseSlopes(forTrajectories: states, count: p)  // P×T×N
    let s = sequenceMajorCopy(g.adjoints, blocks: steps, count: p, width: n)
    var worst = 0.0
    for q in 0..<p {
      for t in 1...steps {
        var c = [Double](repeating: 0, count: n)
        states.withUnsafeBufferPointer { xp in
          r.addGradient(
            StateBlock(states: xp.baseAddress! + (q * (steps + 1) + t) * n, rows: 1, units: n, step: t),
            into: &c)
        }
        for i in 0..<n {
          let here = (q * steps + t - 1) * n
          var v = k[here + i] * s[here + i]
          if t < steps {
            let next = here + n
            v -= (1 - leak) * k[next + i] * s[next + i]
            for j in 0..<n { v -= net.parameters.W[j, i] * s[next + j] }
          }
          worst = max(worst, abs(v - c[i]) / max(abs(c[i]), 1))
        }
      }
    }
    #expect(worst < 1e-12)
  }

  /// ∂x/∂a = (D⁻¹ − W)⁻¹ at a fixed point, against finite differences of
  /// the fixed point in its drive; and the dense trajectory Jacobian's
  /// inverse applied to ∂R/∂x(·) reproduces the adjoints.
  @Test func denseSensitivities() throws {
    let (net, batch) = try randomProblem(Double.self, activation: .tanh, loss: .mse, coupling: .dense, seed: 47)
    let settings = tightSettings()
    let n = net.shape.units
    let workspace = KernelWorkspace<Double>()
    let a = net.drives(batch.inputs, workspace: workspace)
    let x = try net.evaluate(batch: batch, settings: settings).states
    let sensitivity = try net.stateSensitivity(atState: x.row(0))
    let options = settings.forwardOptions(for: Double.self, units: n)
    for j in 0..<n {
      for i in 0..<n {
        let fd = try centralDifference(h: 1e-4) { step in
          var moved = a
          moved[0, j] += step
          return try net.steadyStatesAndSlopes(
            drives: moved, from: Matrix(rows: batch.count, cols: n), method: settings.forward,
            options: options, workspace: workspace
          ).states[0, i]
        }
        #expect(abs(sensitivity[i, j] - fd) < 1e-8, "∂x_\(i)/∂a_\(j)")
      }
    }
    // In time: s = (∂a/∂x)⁻ᵀ c over the whole sequence.
    let (tnet, tbatch) = try randomSequences(
      Double.self, activation: .tanh, loss: .mse, leak: 0.5, count: 1, steps: 4, seed: 48)
    let r = reward(units: tnet.shape.units)
    let g = try tnet.gradient(batch: tbatch, objective: r)
    let (steps, m) = (tbatch.steps, tbatch.steps * tnet.shape.units)
    let k = try tnet.inverseSlopes(forTrajectories: g.states!, count: 1)  // one sequence: time-major is sequence-major
    let jac = tnet.driveJacobian(inverseSlopes: k[...], steps: steps)
    var c = [Double](repeating: 0, count: m)
    for t in 1...steps {
      g.states!.withUnsafeBufferPointer { xp in
        c.withUnsafeMutableBufferPointer { cp in
          r.addGradient(
            StateBlock(states: xp.baseAddress! + t * tnet.shape.units, rows: 1, units: tnet.shape.units, step: t),
            into: cp.baseAddress! + (t - 1) * tnet.shape.units)
        }
      }
    }
    // Jᵀ s = c
    var rebuilt = [Double](repeating: 0, count: m)
    for col in 0..<m { for row in 0..<m { rebuilt[col] += jac[row * m + col] * g.adjoints[row] } }
    #expect(relativeError(rebuilt, c, floor: 1) < 1e-12)
    let inverse = try invertSquare(jac, n: m)
    var product = [Double](repeating: 0, count: m * m)
    for i in 0..<m { for j in 0..<m { for l in 0..<m { product[i * m + j] += inverse[i * m + l] * jac[l * m + j] } } }
    #expect(relativeError(product, (0..<m * m).map { $0 / m == $0 % m ? 1 : 0 }, floor: 1) < 1e-12)
  }

  /// The cotangent of mse, c = m ⊙ (x − y) on the outputs and zero
  /// elsewhere, as a mean over patterns: exactly the built-in gradient.
  @Test func mseCotangentIsTheBuiltInGradient() throws {
    let (net, batch) = try randomProblem(
      Double.self, activation: .tanh, loss: .mse, coupling: .dense, masked: true, seed: 49)
    let settings = tightSettings()
    let builtIn = try net.gradient(batch: batch, settings: settings)
    let (p, n, o) = (batch.count, net.shape.units, net.shape.outputs)
    var c = [Double](repeating: 0, count: p * n)
    for q in 0..<p {
      for k in 0..<o { c[q * n + n - o + k] = batch.mask![q, k] * (builtIn.states[q, n - o + k] - batch.targets[q, k]) }
    }
    let viaCotangent = try net.gradient(
      batch: batch, settings: settings,
      objective: CotangentObjective(c, count: p, units: n, goal: .minimize, mean: true))
    #expect(viaCotangent.gradient.values == builtIn.gradient.values)
    #expect(viaCotangent.adjoints.elements == builtIn.adjoints.elements)

    let (tnet, tbatch) = try randomSequences(Double.self, activation: .tanh, loss: .mse, masked: true, seed: 50)
    let tBuiltIn = try tnet.gradient(batch: tbatch)
    let (tp, steps, tn, to) = (tbatch.count, tbatch.steps, tnet.shape.units, tnet.shape.outputs)
    let xs = sequenceMajorCopy(tBuiltIn.states!, blocks: steps + 1, count: tp, width: tn)
    var tc = [Double](repeating: 0, count: tp * steps * tn)
    for q in 0..<tp {
      for t in 0..<steps {
        for k in 0..<to {
          let y = (q * steps + t) * to + k
          tc[(q * steps + t) * tn + tn - to + k] =
            tbatch.mask![y] * (xs[(q * (steps + 1) + t + 1) * tn + tn - to + k] - tbatch.targets[y])
        }
      }
    }
    let tViaCotangent = try tnet.gradient(
      batch: tbatch,
      objective: CotangentObjective(
        tc, count: tp, steps: steps, units: tn,
        goal: .minimize, mean: true))
    #expect(tViaCotangent.gradient.values == tBuiltIn.gradient.values)
  }

  @Test func badCotangentsAreRefused() throws {
    #expect(throws: RBPError.self) { try CotangentObjective([1, 2, 3], count: 2, units: 2) }
    #expect { try CotangentObjective([1, .nan, 3, 4], count: 2, units: 2) } throws: { error in
      "\(error)".contains("pattern 0") && "\(error)".contains("unit 1")
    }
  }
}

/// A time-major B×P×W array as P×B×W (as the store's `sequenceMajor`).
func sequenceMajorCopy(_ a: [Double], blocks: Int, count: Int, width: Int) -> [Double] {
  var out = a
  for t in 0..<blocks {
    for p in 0..<count { for k in 0..<width { out[(p * blocks + t) * width + k] = a[(t * count + p) * width + k] } }
  }
  return out
}
