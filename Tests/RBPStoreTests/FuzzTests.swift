// Structured fuzzing of the readers: valid datasets and checkpoints, each
// damaged by one to three random edits made through HDF5 itself (attributes
// deleted or replaced by other types, other sizes and extreme numbers;
// arrays deleted or replaced by other ranks, shapes, types and values),
// with a fixed seed. Every case must end in a value or a one-line error:
// a crash, a trap or a hang fails the whole suite. Damage to the bytes
// themselves (flipped bits, truncation) is tested through the command line
// (RBPCLITests/ByteFuzzTests.swift).

import CHDF5
import Foundation
import RBPCore
import RBPKernels
import RBPTestSupport
import Testing

@testable import RBPStore

/// One random edit of `file`: which attribute or array, and how.
func damage(_ file: HDF5File, attributes: [String], arrays: [String], _ rng: inout SeededGenerator) throws {
  let strings = [
    "", "steady", "trajectory", "rbp-dataset", "rbp-checkpoint", "tanh", "logistic", "relu", "mse",
    "bce", "dense", "identity", "{", "{\"epochs\": 2}", "{\"units\": 1e30}", String(repeating: "x", count: 3000),
  ]
  let numbers: [Double] = [0, -1, 1, 2, 7, 0.5, 1e30, -1e30, .nan, .infinity, -.infinity, 3e9, 1e308]
  let values: [Double] = [0, 1, -1, 0.5, .nan, .infinity, 1e308, -1e-300]
  func pick<E>(_ xs: [E]) -> E { xs[Int(rng.next() % UInt64(xs.count))] }
  if rng.next() % 2 == 0 {
    let name = pick(attributes)
    _ = HDF5.locked { H5Adelete(file.id, name) }
    switch rng.next() % 5 {
    case 0: return  // deleted
    case 1: try file.setAttribute(name, string: pick(strings))
    case 2: try file.setAttribute(name, double: pick(numbers))
    case 3: try file.setAttribute(name, [Int64(bitPattern: rng.next() % 5 == 0 ? rng.next() : rng.next() % 9)])
    default:
      let count = Int(rng.next() % 4)
      try file.setAttribute(name, (0..<count).map { _ in pick(numbers) }, shape: [count])
    }
  } else {
    let name = pick(arrays)
    guard file.exists(name) else { return }
    _ = HDF5.locked { H5Ldelete(file.id, name, rbp_H5P_DEFAULT()) }
    if rng.next() % 4 == 0 { return }  // deleted
    let rank = Int(rng.next() % 5)
    let shape = (0..<rank).map { _ in Int(rng.next() % 5) }
    let count = shape.reduce(1, *)
    switch rng.next() % 3 {
    case 0: _ = try file.write(name, (0..<count).map { _ in pick(values) }, shape: shape)
    case 1: _ = try file.write(name, (0..<count).map { _ in Float(pick(values)) }, shape: shape)
    default: _ = try file.write(name, (0..<count).map { _ in Int64(rng.next() % 7) - 3 }, shape: shape)
    }
  }
}

@Suite("Fuzzed files")
struct FuzzTests {
  @Test func damagedDatasetsAndCheckpointsGiveErrorsNotCrashes() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var rng = SeededGenerator(seed: 20261130)
    let steady = try SteadyBatch<Double>(
      inputs: Matrix([[0, 1], [1, 0], [1, 1]]), targets: Matrix([[1], [0], [1]]),
      mask: Matrix([[1], [1], [0]]), initial: Matrix(rows: 3, cols: 3))
    let trajectory = try TrajectoryBatch<Double>(
      count: 2, steps: 3, inputs: [0, 1, 0, 1, 1, 0], inputWidth: 1,
      targets: [1, 0, 1, 0, 0, 1], outputWidth: 1)
    let shape = try NetworkShape(units: 3, inputs: 2, outputs: 1)
    var checkpoint = Checkpoint(
      model: .steady, activation: .tanh, loss: .mse,
      parameters: Parameters<Double>.random(
        layout: ParameterLayout(shape: shape, hasInitialState: false),
        gain: 0.4, using: &rng))
    checkpoint.config = #"{"epochs":3}"#
    checkpoint.progress = RunProgress(
      epoch: 3, step: 3,
      optimizer: try Optimizer<Double>(
        settings: OptimizerSettings(kind: .adam, learningRate: 0.01),
        layout: checkpoint.parameters.layout),
      learningRate: 0.01, seed: 0, history: History(byName: ["loss": [0.5, 0.4, 0.3]]))
    // Each case forks for the trial read; under AddressSanitizer a fork of
    // the instrumented process costs several times as much, and
    // scripts/sanitize.sh runs the first RBP_TEST_FUZZ_CASES of the same
    // seeded sequence instead.
    let cases = ProcessInfo.processInfo.environment["RBP_TEST_FUZZ_CASES"].flatMap { Int($0) } ?? 1200
    var outcomes = (ok: 0, errors: 0)
    for index in 0..<cases {
      let path = "\(dir)/case-\(index).h5"
      let kind = index % 3
      switch kind {
      case 0: try DatasetFile.write(.steady(steady), test: .steady(steady), to: path)
      case 1: try DatasetFile.write(.trajectory(trajectory), to: path)
      default: try CheckpointFile.write(checkpoint, to: path)
      }
      let file = try HDF5File.open(path, writable: true)
      let attributes =
        kind == 2
        ? [
          "format", "version", "model", "activation", "loss", "units", "inputs", "outputs", "leak", "coupling",
          "epoch", "step", "config", "stop_reason",
        ]
        : ["format", "version", "kind"]
      let arrays =
        kind == 2
        ? ["params/W", "params/b", "params/U", "optimizer/first", "optimizer/second", "history/loss"]
        : ["inputs", "targets", "mask", "initial", "test/inputs", "test/targets"]
      for _ in 0..<(1 + Int(rng.next() % 3)) { try damage(file, attributes: attributes, arrays: arrays, &rng) }
      try file.close()
      do {
        if kind == 2 {
          _ = try CheckpointFile.read(path)
        } else {
          _ = try DatasetFile.read(path, as: Double.self)
          _ = try MinibatchStream<Double>(path: path, batchSize: 2, inMemoryLimit: 0)  // the streamed reader
        }
        outcomes.ok += 1
      } catch {
        outcomes.errors += 1
        let message = "\(error)"
        #expect(!message.isEmpty && !message.contains("\n"), "case \(index): \(message)")
      }
      try? FileManager.default.removeItem(atPath: path)
    }
    // Most edits break something: the fuzzer really reaches the checks.
    #expect(outcomes.errors > cases / 2, "\(outcomes)")
  }

  /// A chunked dataset of a few KB declaring 10⁹ rows (never written, so
  /// every row would be a fill value): refused from its declaration, before
  /// any allocation, by the whole-file and the streamed reader.
  @Test func hugeDeclaredShapesAreRefusedBeforeAllocation() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/huge.h5"
    let file = try HDF5File.create(path)
    try file.setAttribute("format", string: "rbp-dataset")
    try file.setAttribute("version", int: 1)
    try file.setAttribute("kind", string: "steady")
    _ = try file.write("targets", [0.0, 1], shape: [2, 1])
    HDF5.locked {
      var dims: [hsize_t] = [1_000_000_000, 2], chunk: [hsize_t] = [1024, 2]
      let space = H5Screate_simple(2, &dims, nil)
      let create = H5Pcreate(rbp_H5P_DATASET_CREATE())
      H5Pset_chunk(create, 2, &chunk)
      let d = H5Dcreate2(
        file.id, "inputs", rbp_H5T_NATIVE_DOUBLE(), space, rbp_H5P_DEFAULT(), create, rbp_H5P_DEFAULT())
      H5Dclose(d)
      H5Pclose(create)
      H5Sclose(space)
    }
    try file.close()
    let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
    #expect(size < 100_000)
    #expect { _ = try DatasetFile.read(path, as: Double.self) } throws: { error in
      "\(error)".contains("declares shape [1000000000, 2]")
    }
    #expect { _ = try MinibatchStream<Double>(path: path, batchSize: 4) } throws: { error in
      "\(error)".contains("declares shape [1000000000, 2]")
    }
  }
}
