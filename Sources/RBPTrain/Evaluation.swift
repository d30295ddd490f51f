// Evaluating parameters on a dataset: the loss, the accuracy and whether
// the task counts as solved, by the run's metric (`--metric sign|argmax`),
// else the classic task's rule; with neither (or `--metric none`) there is
// no accuracy and no "solved". Shared by the trainer's validation and `rbp eval`.

import RBPCore
import RBPKernels
import RBPStore

/// What `evaluate` measures.
public struct Evaluation<T: KernelScalar>: Sendable {
  /// J on the data.
  public var loss: Double
  /// Fraction of (unmasked) outputs right by the metric or the task's rule
  /// (argmax: of rows of outputs); nil without either.
  public var accuracy: Double?
  /// Every output right (the task's own rule for classic tasks); nil
  /// without a metric.
  public var solved: Bool?
  /// Steady models: the fixed points reached (P×N), for warm starts; NaN
  /// rows for unsettled patterns.
  public var states: Matrix<T>?
  /// Steady models: the patterns whose state was not found (SPEC §1.1);
  /// they are left out of the loss and count as wrong for the accuracy and
  /// "solved".
  public var unsettled: Int = 0
  /// Trajectory models evaluated `keepingForward`: the whole forward pass,
  /// from which a gradient at the same parameters can start.
  public var forward: TrajectoryForward<T>? = nil
}

/// Evaluates `parameters` (configured as in `plan`) on `data`.
///
/// - Parameters:
///   - data: the patterns or sequences.
///   - parameters: the network's parameters.
///   - plan: the run's functions, shape and solver settings.
///   - task: the dataset's classic task, if it is one.
///   - start: steady models: P×N states to start the fixed-point solves from.
///   - workspace: packing buffers and the kernels.
///   - keepingForward: trajectory models: keep the forward pass in
///     `forward` (the same metrics, the same bits).
@_specialize(exported:true,where T == Float)
@_specialize(exported:true,where T == Double)
public func evaluate<T: KernelScalar>(
  _ data: DatasetContents<T>, parameters: Parameters<T>, plan: TrainingPlan, task: ClassicTask?,
  start: Matrix<T>? = nil, workspace: KernelWorkspace<T> = KernelWorkspace(), keepingForward: Bool = false
) throws -> Evaluation<T> {
  var result = Evaluation<T>(loss: 0)
  let outputs: [T], targets: [T], mask: [T]?
  switch data {
  case .steady(let b):
    var net = try SteadyNetwork(parameters: parameters, activation: plan.activation, loss: plan.loss)
    net.symmetric = plan.symmetric
    net.threads = plan.threads
    let r = try net.evaluate(
      batch: b, settings: plan.steady, start: start, workspace: workspace,
      allowingUnsettled: true)
    result.loss = r.loss
    result.states = r.states
    result.unsettled = r.diagnostics.count - r.diagnostics.settledRows.count
    let (first, o) = (net.shape.firstOutput, net.shape.outputs)
    outputs = (0..<b.count).flatMap { p in (0..<o).map { r.states[p, first + $0] } }
    targets = b.targets.elements
    mask = b.mask?.elements
  case .trajectory(let b):
    let net = try TrajectoryNetwork(
      parameters: parameters, activation: plan.activation, loss: plan.loss, leak: plan.leak)
    // Two state blocks, not T + 1, unless the caller keeps the pass:
    // validation of long trajectories stays within the memory checkpointed
    // BPTT needs.
    let r = try net.evaluate(b, workspace: workspace, keepingForward: keepingForward)
    result.loss = r.loss
    result.forward = r.forward
    outputs = r.outputs
    targets = b.targets
    mask = b.mask
  }
  // The metric: the plan's, else the classic task's rule, else none.
  let width = plan.shape.outputs
  switch plan.metric {
  case .none?:
    break
  case nil:
    guard let task else { break }
    var right = 0, total = 0
    for i in outputs.indices where (mask?[i] ?? 1) != 0 {
      total += 1
      // An unsettled pattern's outputs (NaN) are wrong.
      if !outputs[i].isNaN && task.isSolved(outputs: [outputs[i]], targets: [targets[i]], mask: nil) { right += 1 }
    }
    result.accuracy = Double(right) / Double(max(total, 1))
    result.solved = task.isSolved(outputs: outputs, targets: targets, mask: mask)
  case .sign?, .threshold?:
    let cut: T = plan.metric == .sign ? 0 : 0.5
    var right = 0, total = 0
    for i in outputs.indices where (mask?[i] ?? 1) != 0 {
      total += 1
      if !outputs[i].isNaN && (outputs[i] > cut) == (targets[i] > cut) { right += 1 }
    }
    result.accuracy = Double(right) / Double(max(total, 1))
    result.solved = right == total
  case .argmax?:
    // One decision per row of O outputs (a pattern, or a step), counted
    // when any of its outputs is unmasked.
    var right = 0, total = 0
    for row in stride(from: 0, to: outputs.count, by: max(width, 1)) {
      let range = row..<min(row + width, outputs.count)
      guard range.contains(where: { (mask?[$0] ?? 1) != 0 }) else { continue }
      total += 1
      if range.contains(where: { outputs[$0].isNaN }) { continue }
      let predicted = range.max { outputs[$0] < outputs[$1] }!
      let wanted = range.max { targets[$0] < targets[$1] }!
      if predicted == wanted { right += 1 }
    }
    result.accuracy = Double(right) / Double(max(total, 1))
    result.solved = right == total
  }
  if result.unsettled > 0 && result.solved != nil { result.solved = false }
  return result
}

extension Evaluation {
  init(loss: Double) {
    self.init(loss: loss, accuracy: nil, solved: nil, states: nil, unsettled: 0, forward: nil)
  }
}
