// Warm starts: each pattern's last fixed point, kept across epochs and used
// to start its next solve (SPEC §1.1). Indexed by the pattern's position in
// its dataset, so it survives shuffling into different minibatches.
//
// Legend: N = units; a state is an N-vector, a batch of them B×N.

import RBPKernels

/// The last steady state of each pattern of a dataset.
public struct SteadyStateCache<T: KernelScalar>: Sendable {
  /// N, the width of each state.
  public let units: Int
  private var states: [Int: [T]] = [:]

  /// An empty cache of states of `units`.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init(units: Int) { self.units = units }

  /// Start states for the dataset patterns `indices`: their last fixed
  /// point, or zeros for a pattern not solved before. P×N.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func start(for indices: [Int]) -> Matrix<T> {
    var m = Matrix<T>(rows: indices.count, cols: units)
    for (r, index) in indices.enumerated() {
      if let s = states[index] { m.setRow(r, s) }
    }
    return m
  }

  /// Remembers row r of `solved` as the fixed point of dataset pattern `indices[r]`.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public mutating func store(_ solved: Matrix<T>, for indices: [Int]) {
    precondition(solved.rows == indices.count && solved.cols == units, "SteadyStateCache.store: shape mismatch")
    for (r, index) in indices.enumerated() { states[index] = solved.row(r) }
  }

  /// The number of patterns with a state kept.
  public var count: Int { states.count }

  /// Every dataset pattern 0 ..< count as a P×N matrix (zeros where
  /// unknown) and which of them are known, for checkpoints.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func snapshot(count: Int) -> (states: Matrix<T>, known: [Bool]) {
    (start(for: Array(0..<count)), (0..<count).map { states[$0] != nil })
  }

  /// Restores what `snapshot` returned.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public mutating func restore(_ snapshot: Matrix<T>, known: [Bool]) {
    precondition(snapshot.cols == units && snapshot.rows == known.count, "SteadyStateCache.restore: shape mismatch")
    states = [:]
    for (p, isKnown) in known.enumerated() where isKnown { states[p] = snapshot.row(p) }
  }
}
