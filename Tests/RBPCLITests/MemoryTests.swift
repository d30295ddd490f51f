// Memory stays bounded where the README says it is: evaluating a model on
// long trajectories (5000 steps) keeps two state blocks, not T + 1; `rbp
// grad` on long trajectories holds a piece of the sequences at a time;
// training with checkpointed BPTT holds O(√T) blocks, not 3T, and reads
// sequences too long to hold by spans of steps. The
// peak resident memory of the process is read from the kernel (its
// rusage, through a small Python parent), not estimated.

import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A dataset of `count` random one-input sequences (targets half the
/// input) and a random tanh network of `units` for it, written to files.
func writeLongTrajectories(
  count p: Int, steps: Int, units n: Int, seed: UInt64, data: String, checkpoint: String
) throws
  -> (TrajectoryBatch<Double>, Checkpoint)
{
  var rng = SeededGenerator(seed: seed)
  let inputs = randomArray(Double.self, p * steps, &rng)
  let batch = try TrajectoryBatch(
    count: p, steps: steps, inputs: inputs, inputWidth: 1,
    targets: inputs.map { 0.5 * $0 }, outputWidth: 1)
  try DatasetFile.write(.trajectory(batch), to: data)
  let shape = try NetworkShape(units: n, inputs: 1, outputs: 1)
  let params = Parameters<Double>.random(
    layout: ParameterLayout(shape: shape, hasInitialState: true), gain: 0.8,
    using: &rng)
  let ck = Checkpoint(model: .trajectory, activation: .tanh, loss: .mse, parameters: params)
  try CheckpointFile.write(ck, to: checkpoint)
  return (batch, ck)
}

/// Runs a program and returns its exit status and peak resident memory in
/// bytes. The program is started by a small Python process that reports
/// its child's rusage: Linux records, at exec, the high-water mark of the
/// memory a process had before it, and a child spawned straight from this
/// large test process would carry this process's peak. The program gets no
/// descriptor beyond 0–2 (`close_fds`): other tests here hold HDF5 files
/// open, and an inherited descriptor would keep their `flock` alive.
func runMeasuringMemory(_ path: String, _ arguments: [String]) throws -> (status: Int32, peakBytes: Int) {
  let script = """
    import resource, subprocess, sys
    r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)
    print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    """
  let r = try runPython(script, [path] + arguments)
  let fields = r.out.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
  guard r.status == 0, fields.count == 2 else { throw CocoaError(.executableLoad) }
  return (Int32(fields[0]), fields[1] * 1024)  // ru_maxrss is in KiB on Linux
}

/// One epoch of `rbp train` with full and with checkpointed BPTT (f64, one
/// thread, one minibatch): each run's peak resident memory, and the largest
/// difference between the weights the two end with.
func trainBothWays(
  data: String, units n: Int, batch p: Int, in dir: String
) throws
  -> (peaks: [String: Int], worst: Double)
{
  var peaks: [String: Int] = [:]
  for mode in ["full", "checkpointed"] {
    let (status, peak) = try runMeasuringMemory(
      rbpBinary,
      [
        "train", "--data", data, "--out", "\(dir)/\(mode)", "--units", "\(n)", "--epochs", "1", "--batch", "\(p)",
        "--threads", "1", "--precision", "f64", "--bptt", mode, "--quiet",
      ])
    try #require(status == 0, "rbp train --bptt \(mode) failed")
    peaks[mode] = peak
  }
  let full = try CheckpointFile.read(dir + "/full/checkpoint.h5").parameters
  let checkpointed = try CheckpointFile.read(dir + "/checkpointed/checkpoint.h5").parameters
  return (peaks, zip(full.values, checkpointed.values).map { abs($0 - $1) }.max() ?? .infinity)
}

@Suite("Bounded memory")
struct MemoryTests {
  /// One epoch on 16 sequences × 5000 steps, N = 64, f64: full BPTT keeps
  /// states, slopes and adjoints of every step (3·T blocks of 8 KiB, 117
  /// MiB); checkpointed BPTT keeps about 3·√T blocks and one segment of
  /// adjoints. Both end with the same weights.
  @Test func checkpointedTrainingHoldsAFewBlocks() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (p, steps, n) = (16, 5000, 64)
    let data = dir + "/long.h5"
    _ = try writeLongTrajectories(count: p, steps: steps, units: n, seed: 9, data: data, checkpoint: dir + "/ck.h5")
    let (peaks, worst) = try trainBothWays(data: data, units: n, batch: p, in: dir)
    let blocks = 3 * steps * p * n * 8
    #expect(
      peaks["full"]! - peaks["checkpointed"]! > blocks * 3 / 4,
      "full peaked at \(peaks["full"]! >> 20) MiB, checkpointed at \(peaks["checkpointed"]! >> 20) MiB")
    #expect(worst < 1e-12, "weights differ by \(worst)")
  }

  /// Sequences too long to hold: 16 sequences × 2100 steps of 256 inputs
  /// are 69 MB in f64, more than a dataset the trainer loads whole (and
  /// more than the file's trial read takes in). Full BPTT holds the
  /// minibatch, its time-major inputs and 3·T blocks; checkpointed BPTT
  /// reads the sequences by spans of ⌈√T⌉ steps: its whole process must
  /// peak under the sequences' size, and full BPTT's above it by more than
  /// that. Both end with the same weights.
  @Test func checkpointedTrainingReadsLongSequencesBySpans() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (p, steps, width, n) = (16, 2100, 256, 32)
    var rng = SeededGenerator(seed: 12)
    let inputs = randomArray(Double.self, p * steps * width, &rng)
    let targets = (0..<(p * steps)).map { i in 0.3 * inputs[i * width] }
    let batch = try TrajectoryBatch(
      count: p, steps: steps, inputs: inputs, inputWidth: width,
      targets: targets, outputWidth: 1)
    let data = dir + "/long.h5"
    try DatasetFile.write(.trajectory(batch), to: data)
    let (peaks, worst) = try trainBothWays(data: data, units: n, batch: p, in: dir)
    let sequences = inputs.count * 8
    #expect(
      peaks["checkpointed"]! < sequences && peaks["full"]! - peaks["checkpointed"]! > sequences,
      "full peaked at \(peaks["full"]! >> 20) MiB, checkpointed at \(peaks["checkpointed"]! >> 20) MiB, the sequences are \(sequences >> 20) MiB"
    )
    #expect(worst < 1e-12, "weights differ by \(worst)")
  }

  @Test func evaluatingLongTrajectoriesKeepsTwoStateBlocks() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (p, steps, n) = (64, 5000, 64)
    let data = dir + "/long.h5"
    _ = try writeLongTrajectories(count: p, steps: steps, units: n, seed: 3, data: data, checkpoint: dir + "/ck.h5")
    let (status, peak) = try runMeasuringMemory(
      rbpBinary,
      [
        "eval", "--checkpoint", dir + "/ck.h5", "--data", data,
        "--precision", "f64",
      ])
    #expect(status == 0)
    // Keeping x(0…T) would take (T + 1)·P·N·8 bytes = 164 MB on its own.
    let allStates = (steps + 1) * p * n * 8
    #expect(peak < allStates / 2, "rbp eval peaked at \(peak >> 20) MiB; all states are \(allStates >> 20) MiB")
  }

  /// 32 sequences × 3000 steps, N = 64: the states alone are 49 MB, and
  /// BPTT on all of them at once (states, slopes, adjoints and their copies
  /// for the file) peaked at 269 MiB. In pieces, the file holds the same
  /// states and adjoints, and the gradient agrees with the whole batch's.
  @Test func gradOnLongTrajectoriesHoldsAPieceAtATime() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (p, steps, n) = (32, 3000, 64)
    let data = dir + "/long.h5"
    let (batch, checkpoint) = try writeLongTrajectories(
      count: p, steps: steps, units: n, seed: 5, data: data,
      checkpoint: dir + "/ck.h5")
    let params = checkpoint.parameters
    let (status, peak) = try runMeasuringMemory(
      rbpBinary,
      [
        "grad", "--checkpoint", dir + "/ck.h5", "--data", data,
        "--out", dir + "/g.h5",
      ])
    try #require(status == 0)
    let allStates = (steps + 1) * p * n * 8
    #expect(peak < 3 * allStates, "rbp grad peaked at \(peak >> 20) MiB; all states are \(allStates >> 20) MiB")
    let whole = try checkpoint.trajectoryNetwork(Double.self).gradient(batch: batch)
    let file = try GradientsFile.read(dir + "/g.h5", layout: params.layout)
    let worst = zip(file.gradient.values, whole.gradient.values).map { abs($0 - $1) / max(abs($1), 1e-6) }.max() ?? 0
    #expect(worst < 1e-10, "pieces against the whole batch: relative \(worst)")
    #expect(abs(file.loss - whole.loss) <= 1e-12 * whole.loss)
    let states = try HDF5File.open(dir + "/g.h5").dataset("states")
    #expect(try states.shape == [p, steps + 1, n])
    let last: [Double] = try states.readRows(p - 1, count: 1)
    let expected = (0...steps).flatMap { t in (0..<n).map { whole.states![(t * p + p - 1) * n + $0] } }
    #expect(last == expected, "the last sequence's states differ")
  }

  /// `--mean` on the piecewise path: R is the mean over the P sequences,
  /// so ∂R/∂θ and ∂R/∂a are the sum's divided by P, as a user dividing by
  /// hand would get. Small pieces (RBP_TEST_PIECE_VALUES: two sequences
  /// each, of five) make the path cross piece boundaries, and its results
  /// equal the whole batch's (states, adjoints, ∂R/∂a, ∂R/∂θ).
  @Test func meanCotangentOnLongTrajectoriesIsTheSumOverP() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (p, steps, n) = (5, 60, 8)
    let pieces = ["RBP_TEST_PIECE_VALUES": "\(2 * (steps + 1) * n)"]
    let data = dir + "/long.h5"
    _ = try writeLongTrajectories(count: p, steps: steps, units: n, seed: 9, data: data, checkpoint: dir + "/ck.h5")
    var rng = SeededGenerator(seed: 10)
    try writeCotangent(
      randomArray(Double.self, p * steps * n, &rng), shape: [p, steps, n],
      to: dir + "/c.h5")
    var results: [(w: [Double], drive: [Double])] = []
    for (mean, environment) in [(false, pieces), (true, pieces), (false, [:])] {
      let out = dir + "/\(mean)-\(environment.isEmpty ? "whole" : "pieces").h5"
      let r = try runProgram(
        rbpBinary,
        [
          "grad", "--checkpoint", dir + "/ck.h5", "--data", data, "--cotangent", dir + "/c.h5",
          "--out", out,
        ] + (mean ? ["--mean"] : []), environment: environment)
      try #require(r.status == 0, "\(r.err)")
      let f = try HDF5File.open(out)
      results.append((try f.dataset("grad/W").read(as: Double.self), try f.dataset("grad/drive").read(as: Double.self)))
      if !environment.isEmpty && !mean {
        // The pieces' rows of /states and /adjoint are the whole batch's, checked against it below.
        results.append((try f.dataset("states").read(as: Double.self), try f.dataset("adjoint").read(as: Double.self)))
      }
    }
    let (sum, rows, meanOf, whole) = (results[0], results[1], results[2], results[3])
    let scale = sum.w.map(abs).max()!
    #expect(
      zip(sum.w, meanOf.w).allSatisfy { abs($0 / Double(p) - $1) <= 1e-12 * scale },
      "∂R/∂W with --mean is not the sum's / \(p)")
    let driveScale = sum.drive.map(abs).max()!
    #expect(zip(sum.drive, meanOf.drive).allSatisfy { abs($0 / Double(p) - $1) <= 1e-12 * driveScale })
    // Piecewise against the whole batch in one piece.
    #expect(zip(sum.w, whole.w).allSatisfy { abs($0 - $1) <= 1e-12 * scale }, "∂R/∂W differs across piece boundaries")
    #expect(sum.drive == whole.drive, "∂R/∂a differs across piece boundaries")
    let f = try HDF5File.open(dir + "/false-whole.h5")
    #expect(rows.w == (try f.dataset("states").read(as: Double.self)), "/states rows differ across piece boundaries")
    #expect(
      rows.drive == (try f.dataset("adjoint").read(as: Double.self)), "/adjoint rows differ across piece boundaries")
  }
}
