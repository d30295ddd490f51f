// Steady-state training through the command line, as a user runs it: what
// training reports is what `rbp eval` computes from the checkpoint; a run
// whose solves fail stops with its last good state and the reason, and
// resumes; the dataset's /initial decides which fixed point is a pattern's
// state; `rbp grad` in f64 is tight by default; empty datasets are refused.

import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTestSupport
import RBPTrain
import Testing

/// The number after `"key":` in one line of JSON, parsed exactly (the
/// platform's JSONSerialization may round the last digit).
func jsonNumber(_ text: String, _ key: String) -> Double? {
  guard let range = text.range(of: "\"\(key)\":") else { return nil }
  let rest = text[range.upperBound...].prefix { !",}".contains($0) }
  return Double(rest.trimmingCharacters(in: .whitespaces))
}

@Suite("Steady training")
struct SteadyTrainingTests {
  /// XOR without a task attribute, written as a user would (its accuracy
  /// is then the --metric the run chooses).
  func xorDataset(_ dir: String) throws -> String {
    let path = dir + "/xor4.h5"
    let batch = try SteadyBatch<Double>(
      inputs: Matrix([[0, 0], [0, 1], [1, 0], [1, 1]]), targets: Matrix([[0], [1], [1], [0]]))
    try DatasetFile.write(.steady(batch), to: path)
    return path
  }

  @Test func reportedMetricsAreThoseOfRbpEval() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let data = try xorDataset(dir)
    var solved = 0
    for seed in ["1", "2"] {
      let out = dir + "/run" + seed
      let r = try rbp([
        "train", "--data", data, "--out", out, "--model", "steady", "--units", "6", "--activation", "logistic",
        "--loss", "mse", "--epochs", "1500", "--seed", seed, "--metric", "threshold", "--stop-when-solved",
        "--quiet",
      ])
      try #require(r.status == 0, "\(r.err)")
      let ck = try CheckpointFile.read(out + "/checkpoint.h5")
      let e = try rbp(["eval", "--checkpoint", out + "/checkpoint.h5", "--data", data, "--json"])
      try #require(e.status == 0, "\(e.err)")
      let loss = try #require(jsonNumber(e.out, "loss")), accuracy = try #require(jsonNumber(e.out, "accuracy"))
      #expect(
        ck.history[.valLoss]?.last == loss,
        "seed \(seed): training reported \(ck.history[.valLoss]?.last ?? .nan), eval \(loss)")
      #expect(ck.history[.valAccuracy]?.last == accuracy)
      // An independent check: relax from zero in f64 from the saved parameters.
      let net = try ck.steadyNetwork(Double.self)
      var x = [Double](repeating: 0, count: 6)
      let w = net.parameters.W, b = net.parameters.b, u = net.parameters.U
      var reference = 0.0
      for (p, input) in [[0.0, 0], [0, 1], [1, 0], [1, 1]].enumerated() {
        x = [Double](repeating: 0, count: 6)
        for _ in 0..<5000 {
          x = (0..<6).map { i in
            let z = b[i] + (0..<2).reduce(0) { $0 + u[i, $1] * input[$1] } + (0..<6).reduce(0) { $0 + w[i, $1] * x[$1] }
            return 1 / (1 + exp(-z))
          }
        }
        let target = [0.0, 1, 1, 0][p]
        reference += 0.5 * (x[5] - target) * (x[5] - target) / 4
      }
      // (f32 states against f64: a state in another basin would be off by about 0.25)
      #expect(abs(reference - loss) <= 1e-6, "seed \(seed): f64 relaxation gives \(reference), eval \(loss)")
      if accuracy == 1 { solved += 1 }
    }
    #expect(solved == 2, "XOR solved for \(solved) of 2 seeds")
  }

  @Test func aFailingRunLeavesItsLastGoodCheckpointWithTheReason() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let out = dir + "/run"
    // A learning rate far too large no longer ends the run: steps whose
    // patterns do not settle are rejected and retried, or taken on the
    // settled ones, and every epoch validates.
    let r = try rbp(["train", "--data", shipped("patterns"), "--out", out, "--epochs", "12", "--lr", "1", "--quiet"])
    #expect(r.status == 0, "\(r.err)")
    let ck = try CheckpointFile.read(out + "/checkpoint.h5")
    #expect(ck.stopReason == nil && ck.epoch == 12 && ck.history[.loss]?.count == 12)
    // Its validation metrics are what eval computes.
    let e = try rbp(["eval", "--checkpoint", out + "/checkpoint.h5", "--data", shipped("patterns"), "--val", "--json"])
    #expect(e.status == 0 && jsonNumber(e.out, "loss") == ck.history[.valLoss]?.last, "\(e.err)")
    #expect(jsonNumber(e.out, "unsettled") == ck.history[.valUnsettled]?.last, "\(e.out)")

    // A failure with nothing to undo (the first step of a resumed run) stops
    // at once and keeps the state it started from.
    let good = dir + "/good"
    try #require(
      try rbp(["train", "--data", shipped("patterns"), "--out", good, "--epochs", "3", "--quiet"]).status == 0)
    let before = try CheckpointFile.read(good + "/checkpoint.h5")
    let failed = try rbp([
      "train", "--data", shipped("patterns"), "--out", good, "--resume", "--epochs", "6",
      "--solver", "iterate", "--max-iterations", "2", "--quiet",
    ])
    #expect(failed.status != 0 && failed.err.contains("did not converge"), "\(failed.err)")
    let stopped = try CheckpointFile.read(good + "/checkpoint.h5")
    #expect(
      stopped.epoch == 3 && stopped.parameters == before.parameters
        && stopped.stopReason?.contains("did not converge") == true)
    // Resumed with working settings, it finishes, and the reason is gone.
    let resumed = try rbp([
      "train", "--data", shipped("patterns"), "--out", good, "--resume", "--epochs", "6",
      "--solver", "auto", "--max-iterations", "1000", "--quiet",
    ])
    #expect(resumed.status == 0, "\(resumed.err)")
    let done = try CheckpointFile.read(good + "/checkpoint.h5")
    #expect(done.epoch == 6 && done.stopReason == nil)
    #expect(done.history[.maxAbscissa]?.suffix(3).allSatisfy { $0 < 1 } == true)
  }

  @Test func theInitialStateChoosesTheFixedPoint() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // x = tanh(2x): relaxation from +0.5 reaches +0.9575, from −0.5 reaches −0.9575.
    let shape = try NetworkShape(units: 1, inputs: 0, outputs: 1)
    var params = Parameters<Double>(layout: ParameterLayout(shape: shape, hasInitialState: false))
    params.W = Matrix([[2]])
    try CheckpointFile.write(
      Checkpoint(model: .steady, activation: .tanh, loss: .mse, parameters: params), to: dir + "/ck.h5")
    let data = dir + "/d.h5"
    try DatasetFile.write(
      .steady(
        try SteadyBatch(
          inputs: Matrix(rows: 2, cols: 0), targets: Matrix([[0.9575], [0.9575]]),
          initial: Matrix([[0.5], [-0.5]]))), to: data)
    let e = try rbp(["eval", "--checkpoint", dir + "/ck.h5", "--data", data, "--json"])
    try #require(e.status == 0, "\(e.err)")
    let loss = try #require(jsonNumber(e.out, "loss"))
    let x = 0.957_504_024_369_502_7
    let expected = (0.5 * (x - 0.9575) * (x - 0.9575) + 0.5 * (-x - 0.9575) * (-x - 0.9575)) / 2
    #expect(abs(loss - expected) < 1e-9, "loss \(loss), expected \(expected)")
    // fixed-points labels the state relaxation reaches from each initial state.
    let f = try rbp([
      "fixed-points", "--checkpoint", dir + "/ck.h5", "--data", data, "--starts", "10", "--out", dir + "/f.h5",
    ])
    try #require(f.status == 0, "\(f.err)")
    let file = try HDF5File.open(dir + "/f.h5")
    let states: [Double] = try file.dataset("states").read(), pattern: [Double] = try file.dataset("pattern").read()
    let reached: [Double] = try file.dataset("reached").read(), stable: [Double] = try file.dataset("stable").read()
    for p in 0..<2 {
      let own = (0..<states.count).filter { pattern[$0] == Double(p) && reached[$0] == 1 }
      try #require(own.count == 1, "pattern \(p): \(own.count) reached states")
      #expect(abs(states[own[0]] - (p == 0 ? x : -x)) < 1e-9 && stable[own[0]] == 1)
      // All three fixed points are found; 0 is unstable.
      #expect((0..<states.count).filter { pattern[$0] == Double(p) }.count == 3)
    }
  }

  @Test func gradInF64IsTightByDefault() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let out = dir + "/run"
    try #require(
      try rbp(["train", "--data", shipped("encoder"), "--out", out, "--epochs", "5", "--quiet"]).status == 0)
    let g = try rbp([
      "grad", "--checkpoint", out + "/checkpoint.h5", "--data", shipped("encoder"), "--out", dir + "/g.h5",
    ])
    try #require(g.status == 0, "\(g.err)")
    let ck = try CheckpointFile.read(out + "/checkpoint.h5")
    let grad = try GradientsFile.read(dir + "/g.h5", layout: ck.parameters.layout)
    // The reference: exact dense adjoint after a forward solve to 1e-15.
    guard case let .steady(batch) = try DatasetFile.read(shipped("encoder"), as: Double.self) else { return }
    let reference = try ck.steadyNetwork(Double.self).gradient(
      batch: batch,
      settings: SteadySolverSettings(
        forward: .iterate, forwardOptions: SolverOptions(tolerance: 1e-15, maxIterations: 20000),
        adjoint: .direct, adjointOptions: SolverOptions(tolerance: 1e-13, maxIterations: 1)))
    for (a, b) in zip(grad.gradient.values, reference.gradient.values) {
      #expect(abs(a - b) <= 1e-9 * max(abs(b), 1e-3), "component \(a) vs \(b)")
    }
    let file = try HDF5File.open(dir + "/g.h5")
    #expect(try file.numberAttribute("forward_tolerance") == 1e-12)
    #expect(try file.stringAttribute("solver") == "auto")
  }

  @Test func emptyDatasetsAreRefused() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let data = dir + "/empty.h5"
    try DatasetFile.write(
      .steady(try SteadyBatch<Double>(inputs: Matrix(rows: 0, cols: 2), targets: Matrix(rows: 0, cols: 1))),
      to: data)
    let r = try rbp(["train", "--data", data, "--out", dir + "/run"])
    #expect(r.status != 0 && r.err.contains(data) && r.err.contains("no patterns"), "\(r.err)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/run"), "a refused run left its output folder")
  }
}
