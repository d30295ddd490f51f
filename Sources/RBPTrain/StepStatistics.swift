// What the trainer keeps of each step's solves (steady models): the
// iteration counts, residuals, spectral radii and unsettled patterns that
// go into the epoch's history, and the step failures that the failure
// policy (Trainer.swift) undoes and retries.

import RBPCore
import RBPKernels

/// Solver statistics of the steps of one epoch (steady models).
struct SolveStats: Sendable {
  var forwardIterations = 0, forwardMax = 0, adjointIterations = 0, adjointMax = 0, patterns = 0
  var maxResidual = 0.0, maxRadius = 0.0, fallbacks = 0, penalty = 0.0
  var maxAbscissa = 0.0, minDamping = 1.0, settled = 0
  /// Positions in the microbatch's rows of the patterns left out.
  var unsettledRows: [Int] = []
  /// Why the first of them did not settle (the solver's error).
  var failure: String? = nil

  init() {}

  /// The statistics of one gradient's solves; `indices`: the dataset
  /// indices of its patterns, `tolerance` the solves' (for the message of
  /// the first unsettled one).
  init(_ g: SteadyGradient<some KernelScalar>, indices: [Int], tolerance: Double) {
    patterns = g.forward.count
    settled = g.settled.filter { $0 }.count
    unsettledRows = g.settled.indices.filter { !g.settled[$0] }
    if let p = unsettledRows.first {
      let (diagnostics, solver) =
        g.forward.status[p] != .converged ? (g.forward, "forward solver") : (g.adjoint, "adjoint solver")
      var one = SolveDiagnostics(count: 1)
      one.status[0] = diagnostics.status[p]
      one.iterations[0] = diagnostics.iterations[p]
      one.residuals[0] = diagnostics.residuals[p]
      one.abscissa[0] = diagnostics.abscissa[p]
      do { try one.check(solver: solver, tolerance: tolerance, patternOffset: indices[p]) } catch {
        failure = "\(error)"
      }
    }
    maxAbscissa = g.forward.abscissa.filter { !$0.isNaN }.max() ?? 0
    minDamping = g.forward.damping.min() ?? 1
    forwardIterations = g.forward.iterations.reduce(0, +)
    forwardMax = g.forward.iterations.max() ?? 0
    adjointIterations = g.adjoint.iterations.reduce(0, +)
    adjointMax = g.adjoint.iterations.max() ?? 0
    maxResidual = g.settled.indices.filter { g.settled[$0] }.map { g.forward.residuals[$0] }.max() ?? 0
    maxRadius = g.forward.spectralRadius.filter { !$0.isNaN }.max() ?? 0
    fallbacks = g.forward.fallbacks.filter { $0 > 0 }.count + g.adjoint.fallbacks.filter { $0 > 0 }.count
    penalty = g.penalty * Double(g.forward.count)
  }

  mutating func add(_ other: SolveStats) {
    patterns += other.patterns
    forwardIterations += other.forwardIterations
    forwardMax = max(forwardMax, other.forwardMax)
    adjointIterations += other.adjointIterations
    adjointMax = max(adjointMax, other.adjointMax)
    maxResidual = max(maxResidual, other.maxResidual)
    maxRadius = max(maxRadius, other.maxRadius)
    fallbacks += other.fallbacks
    penalty += other.penalty
    maxAbscissa = max(maxAbscissa, other.maxAbscissa)
    minDamping = min(minDamping, other.minDamping)
    settled += other.settled
    if failure == nil { failure = other.failure }
  }
}

/// A failure of a training step that undoing the last update and retrying
/// at a lower rate may cure (see the failure policy above).
protocol StepFailure: Error, CustomStringConvertible {}
extension RBPError: StepFailure {}

/// A step with more unsettled patterns than `max_unsettled` allows.
struct UnsettledStep: StepFailure {
  var step: Int, unsettled: Int, patterns: Int, limit: Double, first: Int
  /// The solver's error for the first of them (its pattern numbered in the microbatch).
  var failure: String?
  var description: String {
    "\(unsettled) of the \(patterns) patterns of step \(step) did not settle, more than max_unsettled = \(limit) "
      + "allows; the first, dataset pattern \(first): " + (failure ?? "no state found")
  }
}
