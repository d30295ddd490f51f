// A gradient that starts from a kept forward pass over a larger batch
// (`evaluate(_:keepingForward:)`, then `gradient(batch:reusing:rows:)`)
// against the plain gradient of the same sequences, which finite
// differences check in BPTTTests: the same loss and the same bits, in every
// coupling, leak, mask and initial-state case, for full and truncated BPTT,
// whether the pass's rows are copied or (all of them, in order) read in place;
// and the kept pass's loss and outputs are those of `evaluate`.

import RBPCore
import RBPKernels
import Testing

@Suite("Gradients from a kept forward pass")
struct KeptForwardTests {
  struct Case: CustomStringConvertible, Sendable {
    var activation: Activation, coupling: Coupling, leak: Double, masked: Bool, initial: Bool, units: Int
    var description: String { "\(activation) \(coupling) α=\(leak) masked=\(masked) initial=\(initial) N=\(units)" }
  }
  static let cases = [
    Case(activation: .tanh, coupling: .dense, leak: 1, masked: false, initial: false, units: 5),
    Case(activation: .logistic, coupling: .dense, leak: 0.6, masked: true, initial: false, units: 7),
    Case(activation: .tanh, coupling: .identity, leak: 1, masked: false, initial: true, units: 6),
    Case(activation: .tanh, coupling: .dense, leak: 1, masked: true, initial: true, units: 40),
  ]

  func check<T: KernelScalar>(_: T.Type, _ c: Case, mode: BPTTMode) throws {
    let inputs = c.coupling == .identity ? c.units : 3
    let (net, all) = try randomSequences(
      T.self, activation: c.activation, loss: .mse, coupling: c.coupling,
      leak: c.leak, units: c.units, inputs: inputs, outputs: 2, count: 21, steps: 9,
      masked: c.masked, initial: c.initial, seed: 41)
    let kept = try net.evaluate(all, keepingForward: true)
    let plain = try net.evaluate(all)
    #expect(kept.loss == plain.loss)
    #expect(kept.outputs == plain.outputs)
    let forward = try #require(kept.forward)
    // A shuffled subset, smaller than the pass and of another size than a
    // product's tiles, every sequence in reverse order, and every sequence
    // in order (the kept pass read in place).
    for rows in [[17, 3, 9, 0, 20], Array((0..<21).reversed()), Array(0..<21)] {
      let batch = all.subset(rows)
      let expected = try net.gradient(batch: batch, mode: mode, keepingTrajectory: false)
      let got = try net.gradient(batch: batch, reusing: forward, rows: rows, mode: mode)
      #expect(got.loss == expected.loss, "\(c) \(mode) rows \(rows)")
      #expect(got.gradient.values == expected.gradient.values, "\(c) \(mode) rows \(rows)")
    }
  }

  @Test(arguments: cases)
  func sameBitsAsTheGradientsOwnForwardPass(c: Case) throws {
    for mode in [BPTTMode.full, .truncated(window: 3)] {
      try check(Double.self, c, mode: mode)
      try check(Float.self, c, mode: mode)
    }
  }

  @Test func refusesAPassOfOtherParametersOrTheCheckpointedMode() throws {
    let (net, all) = try randomSequences(Double.self, activation: .tanh, loss: .mse, count: 4, seed: 5)
    let forward = try #require(try net.evaluate(all, keepingForward: true).forward)
    #expect(try net.evaluate(all, keepingForward: false).forward == nil)
    var moved = net
    moved.parameters.values[0] += 1e-9
    #expect(throws: RBPError.self) { try moved.gradient(batch: all, reusing: forward, rows: [0, 1, 2, 3]) }
    #expect(throws: RBPError.self) { try net.gradient(batch: all.subset([0, 1]), reusing: forward, rows: [0, 4]) }
    #expect(throws: RBPError.self) {
      try net.gradient(batch: all, reusing: forward, rows: [0, 1, 2, 3], mode: .checkpointed(every: 2))
    }
  }
}
