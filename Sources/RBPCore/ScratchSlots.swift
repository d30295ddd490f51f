// The workspace's scratch slots (`KernelWorkspace.scratch`), one meaning
// each, and the packing of W, Wᵀ and Uᵀ into them: what the passes over a batch
// (BPTT's steps, the steady-state passes) keep from call to call so that a
// loop over batches of one shape allocates nothing after the first.

import RBPKernels

/// The workspace scratch slots of a pass (`KernelWorkspace.scratch`), one
/// meaning each: BPTT's blocks, and the packed weights BPTT and the
/// steady-state passes share.
enum ScratchSlot: Int {
  /// z and f(z) of one step.
  case preactivations
  /// The error brackets e, the next step's, and a truncated window's s.
  case brackets
  /// D(t): all steps, one segment, or one step.
  case slopes
  /// x(t): all steps, the checkpoints, or two in turn.
  case states
  /// g(t) then s(t) when the caller keeps none, or one segment's.
  case adjoints
  /// One recomputed segment of states.
  case segment
  /// The time-major inputs of dense coupling, all steps, T×P×I (identity
  /// coupling reads the batch's inputs in place).
  case inputs
  /// W packed into panels for `gemm(packedB:)`: the product s·W.
  case packedWeights
  /// Wᵀ packed into panels: the product x·Wᵀ.
  case packedTransposedWeights
  /// Uᵀ packed into panels: dense coupling's product u(t)·Uᵀ.
  case packedTransposedInputWeights
}

/// W (`transposed: false`, for s·W) or Wᵀ (for x·Wᵀ) packed into the
/// workspace's slot for it, once for all the products of a pass.
func packedWeights<T: KernelScalar>(
  _ w: UnsafePointer<T>, units n: Int, transposed: Bool, workspace: KernelWorkspace<T>
) -> UnsafePointer<T> {
  let slot = transposed ? ScratchSlot.packedTransposedWeights : .packedWeights
  let packed = workspace.scratch(slot.rawValue, count: packedBCount(k: n, n: n, workspace: workspace))
  packB(transB: transposed, k: n, n: n, b: w, ldb: n, into: packed, workspace: workspace)
  return UnsafePointer(packed)
}

/// Uᵀ (U is N×I) packed into the workspace's slot for it, once for the
/// input products of every step of a pass.
func packedTransposedInputWeights<T: KernelScalar>(
  _ u: UnsafePointer<T>, units n: Int, inputs: Int, workspace: KernelWorkspace<T>
) -> UnsafePointer<T> {
  let slot = ScratchSlot.packedTransposedInputWeights
  let packed = workspace.scratch(slot.rawValue, count: packedBCount(k: inputs, n: n, workspace: workspace))
  packB(transB: true, k: inputs, n: n, b: u, ldb: inputs, into: packed, workspace: workspace)
  return UnsafePointer(packed)
}
