// Any reward through files (SPEC §1.4), as a user runs it: `rbp states`
// gives the states, a cotangent ∂R/∂x is computed from them outside the
// engine, `rbp grad --cotangent` returns ∂R/∂θ and ∂R/∂a, checked against
// the library and against central finite differences of ⟨c, x⟩; the mse
// cotangent gives exactly `rbp grad`'s own gradient; `rbp invert
// --jacobian` gives the slopes for which the chain rule holds on the files
// to 1e-12, and `--dense` the per-pattern matrices; bad cotangent files are
// one-line errors with no output.

import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTestSupport
import Testing

/// Writes /dstates, as numpy would.
func writeCotangent(_ values: [Double], shape: [Int], to path: String, name: String = "dstates") throws {
  let file = try HDF5File.create(path)
  _ = try file.write(name, values, shape: shape)
  try file.close()
}

func readArray(_ path: String, _ name: String) throws -> [Double] {
  try HDF5File.open(path).dataset(name).read(as: Double.self)
}

/// A trained checkpoint of each kind, in f64.
func trainedCheckpoint(_ task: String, epochs: String, in dir: String) throws -> String {
  let run = dir + "/" + task
  let r = try rbp(["train", "--data", shipped(task), "--out", run, "--epochs", epochs, "--quiet", "--precision", "f64"])
  try #require(r.status == 0, "\(r.err)")
  return run + "/checkpoint.h5"
}

@Suite("Cotangents and Jacobians on the command line", .serialized)
struct CotangentCLITests {
  @Test(arguments: [("xor", "20"), ("delayed-xor", "3")])
  func gradForAGivenCotangent(task: String, epochs: String) throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let ck = try trainedCheckpoint(task, epochs: epochs, in: dir)
    let checkpoint = try CheckpointFile.read(ck)
    let data = shipped(task)
    try #require(try rbp(["states", "--checkpoint", ck, "--data", data, "--out", dir + "/s.h5"]).status == 0)
    let statesFile = try HDF5File.open(dir + "/s.h5")
    #expect(try statesFile.stringAttribute("format") == "rbp-states")
    let shape = try statesFile.dataset("states").shape
    let states = try readArray(dir + "/s.h5", "states")
    // c = cos(x) + (unit index) over every unit: a reward on all N units.
    let n = shape.last!
    var c: [Double], cShape: [Int]
    if shape.count == 2 {
      (c, cShape) = (states.enumerated().map { cos($1) + Double($0 % n) }, shape)
    } else {
      // (P, T+1, N) → drop x(0): c for t = 1…T.
      let (p, steps) = (shape[0], shape[1] - 1)
      c = []
      for q in 0..<p {
        for t in 1...steps { for i in 0..<n { c.append(cos(states[(q * (steps + 1) + t) * n + i]) + Double(i)) } }
      }
      cShape = [p, steps, n]
    }
    try writeCotangent(c, shape: cShape, to: dir + "/c.h5")
    for extra in [[], ["--mean"]] {
      let out = dir + "/g\(extra.count).h5", fd = dir + "/fd\(extra.count).h5"
      let r = try rbp(["grad", "--checkpoint", ck, "--data", data, "--cotangent", dir + "/c.h5", "--out", out] + extra)
      try #require(r.status == 0, "\(r.err)")
      try #require(
        try rbp(
          [
            "grad", "--checkpoint", ck, "--data", data, "--cotangent", dir + "/c.h5", "--out", fd,
            "--method", "fd",
          ] + extra
        ).status == 0)
      let analytic = try GradientsFile.read(out, layout: checkpoint.parameters.layout)
      let differences = try GradientsFile.read(fd, layout: checkpoint.parameters.layout)
      // The library with the same cotangent.
      let mean = !extra.isEmpty
      let library: Parameters<Double>
      switch try DatasetFile.read(data, as: Double.self) {
      case .steady(let b):
        library = try checkpoint.steadyNetwork(Double.self).gradient(
          batch: b, settings: SteadySolverSettings(),
          objective: CotangentObjective(c, count: b.count, units: n, mean: mean)
        ).gradient
      case .trajectory(let b):
        library = try checkpoint.trajectoryNetwork(Double.self).gradient(
          batch: b, objective: CotangentObjective(c, count: b.count, steps: b.steps, units: n, mean: mean)
        ).gradient
      }
      #expect(analytic.gradient == library, "\(task) \(extra): rbp grad --cotangent differs from the library")
      let worst =
        zip(analytic.gradient.values, differences.gradient.values).map { abs($0 - $1) / max(abs($1), 1e-4) }.max() ?? 0
      #expect(worst < 1e-5, "\(task) \(extra): against finite differences of ⟨c, x⟩, relative \(worst)")
      // ∂R/∂a = s (divided by P for a mean), shaped as /adjoint.
      let file = try HDF5File.open(out)
      #expect(try file.stringAttribute("objective") == "cotangent")
      #expect(try file.dataset("grad/drive").shape == cShape)
      let adjoint = try readArray(out, "adjoint"), drive = try readArray(out, "grad/drive")
      let scale = mean ? 1 / Double(cShape[0]) : 1
      #expect(drive == adjoint.map { $0 * scale })
      // The mean is the sum divided by P.
      if mean {
        let sum = try GradientsFile.read(dir + "/g0.h5", layout: checkpoint.parameters.layout)
        let worstMean =
          zip(sum.gradient.values, analytic.gradient.values)
          .map { abs($0 / Double(cShape[0]) - $1) / max(abs($1), 1e-12) }.max() ?? 0
        #expect(worstMean < 1e-12)
      }
    }
  }

  /// c = m ⊙ (x − y) on the outputs, zero elsewhere, with --mean: the
  /// built-in mse gradient, bit for bit.
  @Test(arguments: [("xor", "20"), ("delayed-xor", "3")])
  func mseCotangentGivesTheBuiltInGradient(task: String, epochs: String) throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let ck = try trainedCheckpoint(task, epochs: epochs, in: dir)
    let checkpoint = try CheckpointFile.read(ck)
    let data = shipped(task)
    try #require(try rbp(["grad", "--checkpoint", ck, "--data", data, "--out", dir + "/builtin.h5"]).status == 0)
    let states = try readArray(dir + "/builtin.h5", "states")
    let (n, o) = (checkpoint.shape.units, checkpoint.shape.outputs)
    var c: [Double], shape: [Int]
    switch try DatasetFile.read(data, as: Double.self) {
    case .steady(let b):
      (c, shape) = ([Double](repeating: 0, count: b.count * n), [b.count, n])
      for p in 0..<b.count {
        for k in 0..<o { c[p * n + n - o + k] = (b.mask?[p, k] ?? 1) * (states[p * n + n - o + k] - b.targets[p, k]) }
      }
    case .trajectory(let b):
      (c, shape) = ([Double](repeating: 0, count: b.count * b.steps * n), [b.count, b.steps, n])
      for p in 0..<b.count {
        for t in 0..<b.steps {
          for k in 0..<o {
            let y = (p * b.steps + t) * o + k
            c[(p * b.steps + t) * n + n - o + k] =
              (b.mask?[y] ?? 1) * (states[(p * (b.steps + 1) + t + 1) * n + n - o + k] - b.targets[y])
          }
        }
      }
    }
    try writeCotangent(c, shape: shape, to: dir + "/c.h5")
    try #require(
      try rbp([
        "grad", "--checkpoint", ck, "--data", data, "--cotangent", dir + "/c.h5", "--mean",
        "--out", dir + "/cot.h5",
      ]).status == 0)
    let builtIn = try GradientsFile.read(dir + "/builtin.h5", layout: checkpoint.parameters.layout)
    let viaCotangent = try GradientsFile.read(dir + "/cot.h5", layout: checkpoint.parameters.layout)
    #expect(viaCotangent.gradient == builtIn.gradient, "\(task)")
    #expect(try readArray(dir + "/cot.h5", "adjoint") == readArray(dir + "/builtin.h5", "adjoint"))
  }

  /// ∂R/∂x = (D⁻¹ − Wᵀ) ∂R/∂a (steady) and ∂R/∂x(t) = D⁻¹(t) s(t) − Wᵀ s(t+1)
  /// (trajectory), from the files alone: the cotangent given, /grad/drive
  /// from `rbp grad`, /inverse_slopes from `rbp invert --jacobian`, W from
  /// the checkpoint.
  @Test(arguments: [("xor", "20"), ("delayed-xor", "3")])
  func chainRuleHoldsOnTheFiles(task: String, epochs: String) throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let ck = try trainedCheckpoint(task, epochs: epochs, in: dir)
    let checkpoint = try CheckpointFile.read(ck)
    let data = shipped(task)
    // Steady: exact fixed points and an exact adjoint, so that D at the
    // states is 1/f'(f⁻¹(x)) to the last bits.
    let tight = task == "xor" ? ["--tolerance", "1e-14"] : []
    try #require(try rbp(["states", "--checkpoint", ck, "--data", data, "--out", dir + "/s.h5"] + tight).status == 0)
    let shape = try HDF5File.open(dir + "/s.h5").dataset("states").shape
    let states = try readArray(dir + "/s.h5", "states")
    let n = checkpoint.shape.units
    let p = shape[0], steps = shape.count == 3 ? shape[1] - 1 : 1
    var c: [Double] = []
    for q in 0..<p {
      for t in 0..<steps {
        let row = shape.count == 3 ? (q * (steps + 1) + t + 1) * n : q * n
        for i in 0..<n { c.append(sin(3 * states[row + i]) + (i == 0 ? states[row + 1] : 0)) }
      }
    }
    try writeCotangent(c, shape: shape.count == 3 ? [p, steps, n] : shape, to: dir + "/c.h5")
    let grad = try rbp(
      ["grad", "--checkpoint", ck, "--data", data, "--cotangent", dir + "/c.h5", "--out", dir + "/g.h5"]
        + (task == "xor" ? tight + ["--adjoint", "direct"] : []))
    try #require(grad.status == 0, "\(grad.err)")
    let invert = try rbp([
      "invert", "--checkpoint", ck, "--states", dir + "/s.h5", "--out", dir + "/a.h5", "--jacobian",
    ])
    try #require(invert.status == 0, "\(invert.err)")
    let s = try readArray(dir + "/g.h5", "grad/drive"), k = try readArray(dir + "/a.h5", "inverse_slopes")
    #expect(k.count == s.count)
    let w = checkpoint.parameters.W
    var worst = 0.0
    for q in 0..<p {
      for t in 0..<steps {
        let here = (q * steps + t) * n
        for i in 0..<n {
          var v = k[here + i] * s[here + i]
          if shape.count == 2 {
            for j in 0..<n { v -= w[j, i] * s[here + j] }
          } else if t + 1 < steps {
            for j in 0..<n { v -= w[j, i] * s[here + n + j] }
          }
          worst = max(worst, abs(v - c[here + i]) / max(abs(c[here + i]), 1))
        }
      }
    }
    #expect(worst < 1e-12, "\(task): chain rule off by \(worst)")
  }

  @Test func denseJacobiansAndSensitivities() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for (task, epochs) in [("xor", "20"), ("delayed-xor", "3")] {
      let ck = try trainedCheckpoint(task, epochs: epochs, in: dir)
      let checkpoint = try CheckpointFile.read(ck)
      let data = shipped(task)
      let s = dir + "/\(task)-s.h5", out = dir + "/\(task)-a.h5"
      try #require(try rbp(["states", "--checkpoint", ck, "--data", data, "--out", s]).status == 0)
      var statesShape = try HDF5File.open(s).dataset("states").shape
      if statesShape.count == 3 {
        // A few steps of a few sequences keep the dense matrices small.
        let (p, t1, n) = (min(statesShape[0], 3), min(statesShape[1], 5), statesShape[2])
        let all = try readArray(s, "states")
        var cut: [Double] = []
        for q in 0..<p { cut += all[(q * statesShape[1]) * n..<(q * statesShape[1] + t1) * n] }
        statesShape = [p, t1, n]
        try FileManager.default.removeItem(atPath: s)
        try writeCotangent(cut, shape: statesShape, to: s, name: "states")
      }
      let r = try rbp(["invert", "--checkpoint", ck, "--states", s, "--out", out, "--dense"])
      try #require(r.status == 0, "\(r.err)")
      let file = try HDF5File.open(out)
      let m = statesShape.count == 2 ? statesShape[1] : (statesShape[1] - 1) * statesShape[2]
      #expect(try file.dataset("jacobian").shape == [statesShape[0], m, m])
      #expect(try file.dataset("sensitivity").shape == [statesShape[0], m, m])
      #expect(file.exists("inverse_slopes"))
      let j = try readArray(out, "jacobian"), inverse = try readArray(out, "sensitivity")
      let k = try readArray(out, "inverse_slopes")
      let w = checkpoint.parameters.W, n = checkpoint.shape.units
      var worst = 0.0, worstEntry = 0.0
      for q in 0..<statesShape[0] {
        for row in 0..<m {
          for col in 0..<m {
            var v = 0.0
            for l in 0..<m { v += inverse[(q * m + row) * m + l] * j[(q * m + l) * m + col] }
            worst = max(worst, abs(v - (row == col ? 1 : 0)))
            // The entries: K on the diagonal, −W beside it (steady) or one step below (trajectory).
            let (tr, i) = row.quotientAndRemainder(dividingBy: n), (tc, jj) = col.quotientAndRemainder(dividingBy: n)
            var expected = 0.0
            if tr == tc && i == jj { expected += k[q * m + row] }
            if statesShape.count == 2 && tr == tc { expected -= w[i, jj] }
            if statesShape.count == 3 && tc == tr - 1 { expected -= w[i, jj] }
            worstEntry = max(worstEntry, abs(j[(q * m + row) * m + col] - expected))
          }
        }
      }
      #expect(worst < 1e-9, "\(task): sensitivity × jacobian is off the identity by \(worst)")
      #expect(worstEntry == 0, "\(task): jacobian entries off by \(worstEntry)")
    }
  }

  /// The worked example, a few iterations, both ways: in process through
  /// the rbp Python package (librbp, as scripts/setup.sh installs it into
  /// .venv) and through files and the rbp binary. numpy's reward grows, and
  /// the two routes give the same rewards to the last digit.
  @Test func numpyRewardExampleRunsInProcessAndThroughFiles() throws {
    let python = try requirePython()
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var curves: [[Substring]] = []
    for route in ["process", "files"] {
      let r = try runProgram(
        python,
        [
          repositoryRoot + "/scripts/reward_example.py", "--route", route, "--rbp", rbpBinary,
          "--data", shipped("xor"), "--out", dir + "/" + route, "--iterations", "12",
        ])
      #expect(r.status == 0, "\(route): \(r.err)")
      let csv = try String(contentsOfFile: dir + "/\(route)/reward.csv", encoding: .utf8).split(separator: "\n")
        .dropFirst()
      let rewards = csv.compactMap { $0.split(separator: ",").last.flatMap { Double(String($0)) } }
      #expect(rewards.count == 12 && rewards.last! > rewards.first!, "\(route): \(rewards)")
      curves.append(Array(csv))
    }
    #expect(curves[0] == curves[1], "the routes differ: \(curves)")
  }

  @Test func badCotangentFilesAreOneLineErrorsWithNoOutput() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let ck = try trainedCheckpoint("xor", epochs: "2", in: dir)
    let data = shipped("xor")
    let units = try CheckpointFile.read(ck).shape.units
    try writeCotangent([Double](repeating: 1, count: 4 * (units + 1)), shape: [4, units + 1], to: dir + "/wide.h5")
    try writeCotangent([Double](repeating: 1, count: 3 * units), shape: [3, units], to: dir + "/short.h5")
    try writeCotangent([Double](repeating: 1, count: 4 * 2 * units), shape: [4, 2, units], to: dir + "/rank3.h5")
    var withNaN = [Double](repeating: 1, count: 4 * units)
    withNaN[units + 2] = .nan
    try writeCotangent(withNaN, shape: [4, units], to: dir + "/nan.h5")
    try writeCotangent([1, 2], shape: [2], to: dir + "/other.h5", name: "gradient")
    let cases: [([String], String)] = [
      (["--cotangent", dir + "/wide.h5"], "expected [4, \(units)]"),
      (["--cotangent", dir + "/short.h5"], "expected [4, \(units)]"),
      (["--cotangent", dir + "/rank3.h5"], "expected [4, \(units)]"),
      (["--cotangent", dir + "/nan.h5"], "non-finite value (nan) at pattern 1, column 2"),
      (["--cotangent", dir + "/other.h5"], "has no /dstates"),
      (["--cotangent", dir + "/missing.h5"], "missing.h5"),
      (["--mean"], "--mean applies only with --cotangent"),
    ]
    for (extra, expected) in cases {
      let out = dir + "/g.h5"
      let r = try rbp(["grad", "--checkpoint", ck, "--data", data, "--out", out] + extra)
      #expect(r.status != 0, "\(extra)")
      let lines = r.err.split(separator: "\n")
      #expect(lines.count == 1 && r.err.contains(expected), "\(extra): \(r.err)")
      #expect(!FileManager.default.fileExists(atPath: out), "\(extra) left an output file")
    }
    // The cotangent is an input: --out may not replace it.
    let r = try rbp([
      "grad", "--checkpoint", ck, "--data", data, "--cotangent", dir + "/nan.h5", "--out", dir + "/nan.h5",
    ])
    #expect(r.status != 0 && bytes(dir + "/nan.h5") != nil)
  }
}
