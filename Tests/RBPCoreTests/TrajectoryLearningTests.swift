// Learning by BPTT on the classic trajectory tasks, with Adam on the whole
// training set: figure8 and delayed-xor must reach their "solved" rule
// (ClassicTask.solvedCriterion) within 1000 epochs, for every one of three
// seeds (measured: 60–140 epochs).

import RBPCore
import RBPKernels
import Testing

/// Epoch at which `task` counts as solved on its test set (or training set
/// when it has none), or nil within `epochs`.
func trajectoryEpochsToSolve(
  _ task: ClassicTask, units: Int, rate: Double, epochs: Int, seed: UInt64
) throws -> Int? {
  guard case let .trajectory(train, test) = try task.make(Double.self, seed: seed) else { return nil }
  var rng = SeededGenerator(seed: seed &+ 1000)
  let shape = try NetworkShape(units: units, inputs: train.inputWidth, outputs: train.outputWidth)
  var net = try TrajectoryNetwork<Double>.random(
    shape: shape, activation: task.activation, loss: .mse,
    gain: 1.0, using: &rng)
  var optimizer = try Optimizer<Double>(
    settings: OptimizerSettings(kind: .adam, learningRate: rate),
    layout: net.parameters.layout)
  let check = test ?? train
  let ws = KernelWorkspace<Double>()
  for epoch in 1...epochs {
    let g = try net.gradient(batch: train, workspace: ws)
    optimizer.apply(g.gradient, to: &net.parameters)
    if epoch % 10 == 0,
      task.isSolved(outputs: try net.outputs(check), targets: check.targets, mask: check.mask)
    {
      return epoch
    }
  }
  return nil
}

@Suite("Learning by backpropagation through time")
struct TrajectoryLearningTests {
  @Test func figure8() throws {
    var solved: [Int] = []
    for seed in 0..<3 {
      if let e = try trajectoryEpochsToSolve(.figure8, units: 16, rate: 0.01, epochs: 1000, seed: UInt64(seed)) {
        solved.append(e)
      }
    }
    #expect(solved.count == 3, "figure8 solved by \(solved.count) of 3 seeds (epochs \(solved))")
  }

  @Test func delayedXor() throws {
    var solved: [Int] = []
    for seed in 0..<3 {
      if let e = try trajectoryEpochsToSolve(.delayedXor, units: 12, rate: 0.01, epochs: 1000, seed: UInt64(seed)) {
        solved.append(e)
      }
    }
    #expect(solved.count == 3, "delayed-xor solved by \(solved.count) of 3 seeds (epochs \(solved))")
  }
}
