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
  let x = Matrix<T>(
    rows: patterns, cols: inputs,
    elements: (0..<patterns * inputs).map { _ in T(Double.random(in: -1...1, using: &rng)) })
  let y = Matrix<T>(
    rows: patterns, cols: outputs,
    elements: (0..<patterns * outputs).map { _ in T(Double.random(in: lo...hi, using: &rng)) })
  var mask: Matrix<T>? = nil
  if masked {
    mask = Matrix<T>(rows: patterns, cols: outputs, elements: (0..<patterns * outputs).map { $0 % 3 == 1 ? 0 : 1 })
  }
  return (net, try SteadyBatch(inputs: x, targets: y, mask: mask))
}

/// Central differences of J over every parameter, step h.
func finiteDifferenceGradient(
  _ net: SteadyNetwork<Double>, _ batch: SteadyBatch<Double>, h: Double = 1e-4,
  settings: SteadySolverSettings = tightSettings()
) throws -> [Double] {
  try (0..<net.parameters.values.count).map { i in
    try centralDifference(h: h) { step in
      var moved = net
      moved.parameters.values[i] += step
      return try moved.evaluate(batch: batch, settings: settings).loss
    }
  }
}

/// f'(0) by the fourth-order central difference
/// (−f(2h) + 8 f(h) − 8 f(−h) + f(−2h)) / 12h: truncation O(h⁴), so
/// h = 1e-4 leaves errors of about 1e-11 (round-off and solver tolerance
/// divided by h), far below the second-order formula's.
func centralDifference(h: Double, _ f: (Double) throws -> Double) rethrows -> Double {
  (-(try f(2 * h)) + 8 * (try f(h)) - 8 * (try f(-h)) + (try f(-2 * h))) / (12 * h)
}

/// max_i |a_i − b_i| / max(|b_i|, floor): every element against its own
/// size, so a small component cannot hide behind the largest one; `floor`
/// (absolute) keeps components that are zero, or at the level of the
/// reference's own error, from demanding more than it can give.
func relativeError(_ a: [Double], _ b: [Double], floor: Double = 1e-9) -> Double {
  precondition(a.count == b.count)
  return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1) / max(abs($1.1), floor)) }
}

/// The floor for comparisons with the fourth-order central differences:
/// their absolute error is about 1e-11, so components are measured against
/// max(|component|, 1e-4), and a relative 1e-6 allows 1e-10 at the floor.
let fdFloor = 1e-4
/// The floor for f32 against f64: f32's rounding leaves absolute errors of
/// about 1e-6 on components of order one.
let singleFloor = 1e-2
