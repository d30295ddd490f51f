// The default steady solve, `auto`, forward and adjoint, in one place:
// which stages run, in what order, on which patterns.
//
// Forward (`relaxWithFallbacks`):
//   1. when ‖W‖₂ · max f' < 1 (`isContraction`: 8 Lanczos steps and a
//      10 % margin, `normSafetyMargin`) the map contracts: block
//      Gauss–Seidel passes (SteadyBlockPasses.swift); otherwise relaxation
//      with adaptive damping (`AdaptiveDampedMixer`, SteadyForward.swift);
//   2. the patterns still unconverged, each stage on what the one before
//      left (`retryUnconverged`): after the block passes, iterate, Anderson
//      and Newton; after relaxation, Newton from where it stopped, then
//      Anderson from the start and Newton from where that stopped. Newton
//      stages stop after `newtonFallbackIterations`.
// Then, for every method alike, `steadyStatesAndSlopes` checks each state
// found for stability (SteadyStability.swift): a state whose D W has an
// eigenvalue with real part ≥ 1 is not the pattern's steady state.
//
// Adjoint (`adjointWithFallbacks`): block Gauss–Seidel passes under the
// same certificate, else iterate with the damping the forward solve
// chose; then iterate (after the block passes), GMRES, and the direct
// solve for N ≤ 2048, each on the patterns left.
//
// Every stage reports the residual of SolveDiagnostics.residuals (one
// meaning: the residual of the last iterate it measured).

import RBPKernels

extension SteadyNetwork {
  /// Whether ‖W‖₂ · max f' is below 1 (with `norm` the estimate of ‖W‖₂,
  /// before its safety margin): the map x ↦ f(W x + a) then contracts and
  /// has one fixed point for every drive.
  func isContraction(norm: Double) -> Bool {
    norm * normSafetyMargin * activation.maxSlope < 1
  }

  /// The iteration limit of the Newton stages of `auto`.
  static var newtonFallbackIterations: Int { 50 }

  /// The stages of `.auto`: block Gauss–Seidel passes first on a
  /// `contractive` map (SteadyBlockPasses.swift), then relaxation. Each
  /// later stage runs only on the patterns the earlier ones left
  /// unconverged; relaxation stages start again from `start`, Newton from
  /// where Anderson stopped.
  func relaxWithFallbacks(
    drives: Matrix<T>, start: Matrix<T>, options: SolverOptions, contractive: Bool, workspace: KernelWorkspace<T>
  ) -> RelaxationResult {
    let first =
      contractive
      ? relaxByBlockPasses(drives: drives, start: start, options: options, workspace: workspace)
      : relaxByPasses(
        drives: drives, start: start, options: options, workspace: workspace,
        mixer: AdaptiveDampedMixer(patterns: start.rows))
    if first.slopes != nil { return first }
    var (states, diagnostics) = (first.states, first.diagnostics)
    // Without the certificate, Newton first polishes where the adaptive
    // relaxation stopped (on its way to the attractor it was reaching),
    // then Anderson from the start and Newton from where that stopped.
    let stages: [ForwardMethod] = contractive ? [.iterate, .anderson, .newton] : [.newton, .anderson, .newton]
    let chosen = diagnostics.damping
    retryUnconverged(&states, &diagnostics, stages: stages.count) { stage, rows, current in
      let method = stages[stage]
      let from = method == .newton ? current.rows(rows) : start.rows(rows)
      // Newton converges within a few dozen steps from where it can, or
      // not at all: its stages stop after `newtonFallbackIterations`.
      var stageOptions = options
      if method == .newton { stageOptions.maxIterations = min(options.maxIterations, Self.newtonFallbackIterations) }
      var r = uncheckedFixedPoints(
        drives: drives.rows(rows), from: from, method: method, options: stageOptions, workspace: workspace)
      if stage == 0 && !contractive {
        // Keep the damping the relaxation chose, for the adjoint.
        for (i, p) in rows.enumerated() { r.diagnostics.damping[i] = chosen[p] }
      }
      return r
    }
    return RelaxationResult(states: states, diagnostics: diagnostics, slopes: nil)
  }

  /// The stages of `.auto`, each on the patterns the earlier ones left:
  /// block Gauss–Seidel passes first when `contractive`, then iterate,
  /// GMRES and the direct solve. The passes' converged rows report their
  /// last change, as iterate's do.
  func adjointWithFallbacks(
    slopes d: Matrix<T>, lossGradient g: Matrix<T>, options: SolverOptions, contractive: Bool,
    damping: [Double]? = nil, workspace: KernelWorkspace<T>
  ) -> (adjoints: Matrix<T>, diagnostics: SolveDiagnostics) {
    var (s, diagnostics) =
      contractive
      ? adjointByBlockPasses(slopes: d, lossGradient: g, options: options, workspace: workspace)
      : adjoint(slopes: d, lossGradient: g, method: .iterate, options: options, damping: damping, workspace: workspace)
    let stages: [AdjointMethod] =
      (contractive ? [.iterate] : []) + (shape.units <= 2048 ? [.gmres, .direct] : [.gmres])
    retryUnconverged(&s, &diagnostics, stages: stages.count) { stage, rows, _ in
      adjoint(
        slopes: d.rows(rows), lossGradient: g.rows(rows), method: stages[stage], options: options, workspace: workspace)
    }
    return (s, diagnostics)
  }
}

/// Runs `stages` on the rows a batched solve left unconverged, each stage
/// only on the rows the earlier ones left, and merges what they return
/// into `values` and `diagnostics` (the `auto` solvers' fallbacks).
///
/// - Parameter solve: `(stage, rows, current)`: solves the rows `rows`,
///   given the states so far, and returns their results in that order.
func retryUnconverged<T: KernelScalar>(
  _ values: inout Matrix<T>, _ diagnostics: inout SolveDiagnostics, stages: Int,
  _ solve: (_ stage: Int, _ rows: [Int], _ current: Matrix<T>) -> (Matrix<T>, SolveDiagnostics)
) {
  for stage in 0..<stages {
    let failed = (0..<diagnostics.count).filter { diagnostics.status[$0] != .converged }
    if failed.isEmpty { return }
    let (solved, outcome) = solve(stage, failed, values)
    outcome.merge(into: &diagnostics, rows: failed, stage: stage + 1)
    for (r, p) in failed.enumerated() { values.setRow(p, solved.row(r)) }
  }
}
