// The gradients file of a trajectory dataset whose states do not fit in
// memory at once: BPTT on pieces of whole sequences, each piece's states,
// adjoints (and ∂R/∂a) written to the file as it is done, the parameter
// gradient and the objective summed over the pieces. Memory holds one
// piece; the file is the one `GradientsFile.write(_:to:)` writes.

import RBPCore
import RBPKernels
import RBPStore
import RBPTrain

extension Analysis {
  /// Writes the gradients file of `b` to `path`, `pieceValues` values of
  /// x(0…T) per piece (at least one sequence).
  ///
  /// - Parameters:
  ///   - b: the sequences.
  ///   - cotangent: the shape-checked rows of ∂R/∂x, (P, T, N), read a
  ///     piece at a time (`CotangentFile.rows`); nil for the loss.
  ///   - mean: R is the mean over the sequences.
  ///   - pieceValues: the values of x(0…T) a piece may hold.
  ///   - path: the gradients file to write.
  @discardableResult
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func writeGradientInPieces<T: KernelScalar & HDF5Numeric>(
    _ b: TrajectoryBatch<Double>, cotangent given: ((Int, Int) throws -> [Double])?, mean: Bool, pieceValues: Int,
    to path: String, as _: T.Type
  ) throws -> GradientsRecord {
    let net = try checkpoint.trajectoryNetwork(T.self)
    let n = net.shape.units
    let piece = max(1, pieceValues / ((b.steps + 1) * n))
    let mode = gradientMode
    return try GradientsFile.write(
      to: path, statesShape: [b.count, b.steps + 1, n], adjointShape: [b.count, b.steps, n],
      withDrive: given != nil
    ) { rows in
      var total = [Double](repeating: 0, count: checkpoint.parameters.values.count)
      var value = 0.0
      for first in stride(from: 0, to: b.count, by: piece) {
        let indices = Array(first..<min(first + piece, b.count))
        let part = try b.subset(indices).converted(to: T.self)
        let objective = try given.map {
          try CotangentObjective(
            convertedArray(try $0(first, indices.count), to: T.self), count: indices.count, steps: b.steps,
            units: n, mean: false)
        }
        let g = try net.gradient(batch: part, mode: mode, objective: objective)
        // The loss is a mean over the piece: weigh it by the piece's size.
        let weight = given == nil ? Double(indices.count) : 1
        for (i, v) in g.gradient.values.enumerated() { total[i] += weight * Double(v) }
        value += weight * g.loss
        let r = try GradientsRecord(g, count: indices.count, steps: b.steps, units: n)
        let driveScale = mean ? 1 / Double(b.count) : 1
        try rows(first, r.states, r.adjoint, given == nil ? nil : r.adjoint.map { $0 * driveScale })
      }
      let scale = given == nil || mean ? 1 / Double(b.count) : 1
      var gradient = Parameters<Double>(layout: checkpoint.parameters.layout)
      gradient.values = total.map { $0 * scale }
      var record = GradientsRecord(
        loss: value * scale, gradient: gradient, model: .trajectory, states: [], statesShape: [],
        adjoint: [], adjointShape: [])
      record.objective = given == nil ? checkpoint.loss.rawValue : "cotangent"
      return record
    }
  }
}
