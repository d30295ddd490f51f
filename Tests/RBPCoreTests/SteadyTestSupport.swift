// Helpers for the steady-state tests: random networks and batches, central
// finite differences of the objective, and relative errors.

import RBPCore
import RBPKernels

/// Tight solver settings for f64 checks.
func tightSettings(adjoint: AdjointMethod = .iterate, forward: ForwardMethod = .iterate) -> SteadySolverSettings {
  SteadySolverSettings(
    forward: forward, forwardOptions: SolverOptions(tolerance: 1e-14, maxIterations: 5000),
    adjoint: adjoint, adjointOptions: SolverOptions(tolerance: 1e-14, maxIterations: 5000))
}

/// A random network and batch whose targets lie inside the activation's range.
func randomProblem<T: KernelScalar>(
  _: T.Type, activation: Activation, loss: Loss, coupling: Coupling,
  units: Int = 6, inputs: Int = 3, outputs: Int = 2, patterns: Int = 4, gain: Double = 0.3,
  masked: Bool = false, seed: UInt64
) throws -> (SteadyNetwork<T>, SteadyBatch<T>) {
  var rng = SeededGenerator(seed: seed)
  let shape = try NetworkShape(units: units, inputs: inputs, outputs: outputs, coupling: coupling)
  let layout = ParameterLayout(shape: shape, hasInitialState: false)
  // gain 0.3: ‖W‖ ≈ 0.6, so ρ(DW) < 1 for slopes ≤ 1 and every solver contracts.
  let params = Parameters<T>.random(layout: layout, gain: gain, scale: 0.5, using: &rng)
  let net = try SteadyNetwork(parameters: params, activation: activation, loss: loss)
  let (lo, hi) = activation == .logistic ? (0.1, 0.9) : (-0.8, 0.8)
  let x = Matrix<T>(rows: patterns, cols: inputs,
                    elements: (0..<patterns * inputs).map { _ in T(Double.random(in: -1...1, using: &rng)) })
  let y = Matrix<T>(rows: patterns, cols: outputs,
                    elements: (0..<patterns * outputs).map { _ in T(Double.random(in: lo...hi, using: &rng)) })
  var mask: Matrix<T>? = nil
  if masked {
    mask = Matrix<T>(rows: patterns, cols: outputs, elements: (0..<patterns * outputs).map { $0 % 3 == 1 ? 0 : 1 })
  }
  return (net, try SteadyBatch(inputs: x, targets: y, mask: mask))
}

/// Central differences of J over every parameter, step h.
func finiteDifferenceGradient(
  _ net: SteadyNetwork<Double>, _ batch: SteadyBatch<Double>, h: Double = 1e-6,
  settings: SteadySolverSettings = tightSettings()
) throws -> [Double] {
  var grad = [Double](repeating: 0, count: net.parameters.values.count)
  for i in grad.indices {
    var plus = net, minus = net
    plus.parameters.values[i] += h
    minus.parameters.values[i] -= h
    let jp = try plus.evaluate(batch: batch, settings: settings).loss
    let jm = try minus.evaluate(batch: batch, settings: settings).loss
    grad[i] = (jp - jm) / (2 * h)
  }
  return grad
}

/// max_i |a_i − b_i| / max(max_i |b_i|, floor)
func relativeError(_ a: [Double], _ b: [Double], floor: Double = 1e-12) -> Double {
  precondition(a.count == b.count)
  let scale = max(b.reduce(0) { max($0, abs($1)) }, floor)
  return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) } / scale
}
