// Round trips of every format in both precisions, with chunking and
// compression, and the validation errors of deliberately broken files,
// each asserting the message names the field.

import CHDF5
import Foundation
import RBPCore
import RBPKernels
import RBPTestSupport
import Testing

@testable import RBPStore

@Suite("Formats")
struct FormatRoundTripTests {
  @Test func steadyDatasetRoundTripsInBothPrecisions() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    guard case let .steady(train, test) = try ClassicTask.patterns.make(Double.self, seed: 3) else { return }
    let path = dir + "/p.h5"
    try DatasetFile.write(.steady(train), test: test.map { .steady($0) }, to: path)
    guard case let .steady(back) = try DatasetFile.read(path, as: Double.self) else {
      Issue.record("kind")
      return
    }
    #expect(back == train)
    guard case let .steady(backTest) = try DatasetFile.read(path, as: Double.self, testSet: true) else { return }
    #expect(backTest == test)
    guard case let .steady(single) = try DatasetFile.read(path, as: Float.self) else { return }
    #expect(single.inputs.elements == train.inputs.elements.map { Float($0) })
    // f32 written, f64 read.
    let path32 = dir + "/p32.h5"
    try DatasetFile.write(.steady(single), to: path32)
    let d = try HDF5File.open(path32).dataset("inputs")
    #expect(try d.elementSize == 4)
    guard case let .steady(widened) = try DatasetFile.read(path32, as: Double.self) else { return }
    #expect(widened.inputs.elements == single.inputs.elements.map { Double($0) })
  }

  @Test func largeTrajectoryDatasetIsChunkedCompressedAndRoundTrips() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    guard
      case let .trajectory(train, _) = try ClassicTask.delayedXor.make(
        Float.self, seed: 1,
        options: TaskOptions(count: 200, length: 30))
    else { return }
    var withInitial = train
    withInitial.initial = Matrix(rows: 200, cols: 5, elements: (0..<1000).map { Float($0) / 1000 })
    let path = dir + "/t.h5"
    try DatasetFile.write(.trajectory(withInitial), to: path)
    let file = try HDF5File.open(path)
    #expect(try file.dataset("inputs").isCompressed)
    #expect(try file.dataset("inputs").shape == [200, 30, 2])
    guard case let .trajectory(back) = try DatasetFile.read(path, as: Float.self) else {
      Issue.record("kind")
      return
    }
    #expect(back == withInitial)
    // A row range through a hyperslab equals the same rows of a whole read.
    let rows: [Float] = try file.dataset("targets").readRows(17, count: 9)
    #expect(rows == Array(withInitial.targets[17 * 30..<26 * 30]))
  }

  @Test(arguments: [ModelKind.steady, .trajectory])
  func checkpointRoundTrips(model: ModelKind) throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var rng = SeededGenerator(seed: 4)
    let shape = try NetworkShape(units: 5, inputs: 3, outputs: 2, coupling: model == .steady ? .dense : .identity)
    let layout = ParameterLayout(shape: shape, hasInitialState: model == .trajectory)
    var params = Parameters<Double>.random(layout: layout, gain: 0.5, using: &rng)
    if model == .trajectory { params.x0 = [0.1, 0.2, 0.3, 0.4, 0.5] }
    var optimizer = try Optimizer<Double>(
      settings: OptimizerSettings(kind: .adam, learningRate: 0.01, clipNorm: 5), layout: layout)
    optimizer.apply(Parameters(layout: layout, values: params.values.map { $0 * 0.5 }), to: &params)
    // A series this version does not name ("accuracy") is kept too.
    let progress = RunProgress(
      epoch: 3, step: 12, optimizer: optimizer, learningRate: 0.0025, seed: 0xDEAD_BEEF_F00D_0001,
      history: History(byName: ["loss": [1, 0.5, 0.25], "accuracy": [0.5, 0.75, 1]]))
    let checkpoint = Checkpoint(
      model: model, activation: .tanh, loss: .mse, leak: model == .trajectory ? 0.5 : 1,
      parameters: params, config: #"{"lr":0.01}"#, progress: progress)
    let path = dir + "/ck.h5"
    try CheckpointFile.write(checkpoint, to: path)
    // Written with a copy (a run's best epoch that is its last): the same
    // bytes, in two files of their own.
    try CheckpointFile.write(checkpoint, to: dir + "/twin.h5", copy: dir + "/best.h5")
    let (single, twin, copy) = (
      FileManager.default.contents(atPath: path), FileManager.default.contents(atPath: dir + "/twin.h5"),
      FileManager.default.contents(atPath: dir + "/best.h5")
    )
    #expect(twin != nil && twin == copy && twin == single)
    var a = stat(), b = stat()
    #expect(stat(dir + "/twin.h5", &a) == 0 && stat(dir + "/best.h5", &b) == 0 && a.st_ino != b.st_ino)
    let back = try CheckpointFile.read(path)
    #expect(back.parameters == params)
    #expect(back.model == model && back.leak == checkpoint.leak && back.shape == shape)
    // The optimizer's settings come back with the rate the run reached.
    var expected = progress
    expected.optimizer.settings.learningRate = 0.0025
    #expect(back.progress == expected)
    #expect(back.history[.loss] == [1, 0.5, 0.25] && back.history.byName["accuracy"] == [0.5, 0.75, 1])
    #expect(back.config == checkpoint.config && back.epoch == 3)
    // A version-1 file, whose /optimizer named the rule `kind`, β1 `beta1`
    // and the clip `clip_norm`, reads the same.
    do {
      let file = try HDF5File.open(path, writable: true)
      let g = try file.group("optimizer")
      let kind = try g.stringAttribute("optimizer"), beta1 = try g.numberAttribute("momentum")
      let clip = try g.numberAttribute("clip")
      for name in ["optimizer", "momentum", "clip"] { _ = HDF5.locked { H5Adelete(g.id, name) } }
      try g.setAttribute("kind", string: kind)
      try g.setAttribute("beta1", double: beta1)
      try g.setAttribute("clip_norm", double: clip)
      try file.close()
    }
    #expect(try CheckpointFile.read(path).progress == expected)
    // f32 parameters survive the f64 file exactly.
    let p32 = params.converted(to: Float.self)
    try CheckpointFile.write(
      Checkpoint(model: model, activation: .tanh, loss: .mse, parameters: p32.converted(to: Double.self)), to: path)
    #expect(try CheckpointFile.read(path).parameters.converted(to: Float.self) == p32)
  }

  @Test func gradientsRoundTrip() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var rng = SeededGenerator(seed: 2)
    let shape = try NetworkShape(units: 4, inputs: 2, outputs: 1)
    let net = try SteadyNetwork<Double>.random(shape: shape, activation: .logistic, loss: .bce, using: &rng)
    let batch = try SteadyBatch<Double>(inputs: Matrix([[0, 1], [1, 0]]), targets: Matrix([[1], [0]]))
    let g = try net.gradient(batch: batch, settings: SteadySolverSettings())
    let path = dir + "/g.h5"
    try GradientsFile.write(GradientsRecord(g), to: path)
    let back = try GradientsFile.read(path, layout: net.parameters.layout)
    #expect(back.loss == g.loss && back.gradient == g.gradient)
    let file = try HDF5File.open(path)
    #expect(try file.dataset("states").shape == [2, 4] && file.dataset("adjoint").shape == [2, 4])
  }

  // MARK: - Broken files

  /// Writes a steady dataset, lets `damage` break it, and returns the read error.
  func readError(_ damage: (HDF5File) throws -> Void) throws -> String {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/broken.h5"
    let file = try HDF5File.create(path)
    try file.setAttribute("format", string: "rbp-dataset")
    try file.setAttribute("version", int: 1)
    try file.setAttribute("kind", string: "steady")
    try file.write("inputs", [0.0, 1, 1, 0], shape: [2, 2])
    try file.write("targets", [1.0, 0], shape: [2, 1])
    try damage(file)
    try file.close()
    do {
      _ = try DatasetFile.read(path, as: Double.self)
      return "no error"
    } catch let error as HDF5Error {
      #expect(error.file == path)
      return error.description
    }
  }

  func removeAttribute(_ file: HDF5File, _ name: String) { _ = HDF5.locked { H5Adelete(file.id, name) } }
  func removeLink(_ file: HDF5File, _ name: String) { _ = HDF5.locked { H5Ldelete(file.id, name, rbp_H5P_DEFAULT()) } }

  @Test func brokenDatasetsNameTheField() throws {
    #expect(try readError { _ in } == "no error")
    #expect(try readError { removeAttribute($0, "format") }.contains("missing attribute 'format'"))
    #expect(
      try readError { try $0.setAttribute("format", string: "rbp-checkpoint") }
        .contains("attribute 'format' is \"rbp-checkpoint\", expected \"rbp-dataset\""))
    #expect(try readError { try $0.setAttribute("version", int: 2) }.contains("attribute 'version' is 2.0"))
    #expect(try readError { removeAttribute($0, "kind") }.contains("missing attribute 'kind'"))
    #expect(try readError { try $0.setAttribute("kind", string: "loop") }.contains("attribute 'kind' is \"loop\""))
    #expect(try readError { removeLink($0, "inputs") }.contains("/inputs: missing dataset"))
    #expect(
      try readError { f in
        removeLink(f, "targets")
        try f.write("targets", [1.0, 0], shape: [2])
      }
      .contains("/targets: has rank 1"))
    #expect(
      try readError { f in
        removeLink(f, "targets")
        try f.write("targets", [1.0, 0, 1], shape: [3, 1])
      }
      .contains("/targets: has 3 patterns but /inputs has 2"))
    #expect(
      try readError { try $0.write("mask", [1.0, 0, 1, 1], shape: [2, 2]) }
        .contains("/mask: has shape [2, 2], expected that of /targets [2, 1]"))
    #expect(
      try readError { f in
        removeLink(f, "inputs")
        try f.write("inputs", [0.0, 0, 1, .nan], shape: [2, 2])
      }
      .contains("/inputs: holds a non-finite value (nan) at pattern 1, column 1"))
    // A mask weighs the loss: negative values, or nothing counting at all, are refused.
    #expect(
      try readError { try $0.write("mask", [1.0, -1], shape: [2, 1]) }
        .contains("/mask: holds -1.0 at pattern 1, column 0; mask values must be >= 0"))
    #expect(
      try readError { try $0.write("mask", [0.0, 0], shape: [2, 1]) }
        .contains("/mask: is zero everywhere"))
    #expect(
      try readError { try $0.write("initial", [0.0, 0], shape: [1, 2]) }
        .contains("/initial: has 1 rows for 2 patterns"))
  }

  @Test func brokenCheckpointsNameTheField() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/ck.h5"
    func error(_ damage: (HDF5File) throws -> Void) throws -> String {
      let f = try HDF5File.create(path)
      try f.setAttribute("format", string: "rbp-checkpoint")
      try f.setAttribute("version", int: 1)
      try f.setAttribute("model", string: "steady")
      try f.setAttribute("activation", string: "tanh")
      try f.setAttribute("loss", string: "mse")
      try f.setAttribute("units", int: 2)
      try f.setAttribute("inputs", int: 1)
      try f.setAttribute("outputs", int: 1)
      try f.write("params/W", [0.0, 0, 0, 0], shape: [2, 2])
      try f.write("params/b", [0.0, 0], shape: [2])
      try f.write("params/U", [0.0, 0], shape: [2, 1])
      try damage(f)
      try f.close()
      do {
        _ = try CheckpointFile.read(path)
        return "no error"
      } catch let e as HDF5Error { return e.description }
    }
    #expect(try error { _ in } == "no error")
    #expect(try error { removeAttribute($0, "units") }.contains("missing attribute 'units'"))
    #expect(
      try error { try $0.setAttribute("activation", string: "sigmoid") }.contains(
        "attribute 'activation' is \"sigmoid\""))
    #expect(
      try error { try $0.setAttribute("outputs", int: 3) }.contains("outputs must be between 1 and units (2), got 3"))
    #expect(
      try error { f in
        removeLink(f, "params/W")
        try f.write("params/W", [0.0, 0, 0], shape: [3, 1])
      }
      .contains("/params/W: has shape [3, 1], expected [2, 2]"))
    #expect(
      try error { try $0.setAttribute("coupling", string: "identity") }.contains(
        "/params/U: must be absent with identity coupling"))
    #expect(
      try error { try $0.setAttribute("leak", double: 0.5) }.contains(
        "attribute 'leak' is only allowed on trajectory models"))
    #expect(
      try error { f in try f.setAttribute("model", string: "trajectory") }.contains("/params/x0: missing dataset"))
    #expect(try error { f in try f.setAttribute("loss", string: "bce") }.contains("loss bce needs logistic outputs"))
    // Numbers no integer holds are errors, not crashes in the conversion.
    #expect(try error { try $0.setAttribute("units", double: 1e30) }.contains("attribute 'units' is 1e+30"))
    #expect(try error { try $0.setAttribute("units", double: .infinity) }.contains("attribute 'units' is inf"))
    #expect(try error { try $0.setAttribute("epoch", double: 1e30) }.contains("attribute 'epoch' is 1e+30"))
    #expect(try error { try $0.setAttribute("units", int: 3_000_000_000) }.contains("at most 268435456"))
    #expect(
      try error { f in
        let g = try f.createGroup("optimizer")
        try g.setAttribute("kind", string: "adam")
        for (key, value) in [("lr", 0.01), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-8), ("weight_decay", 0)] {
          try g.setAttribute(key, double: value)
        }
        try g.setAttribute("step", int: 3)
        try g.write("first", [0.0, .nan, 0, 0, 0, 0, 0, 0], shape: [8])
        try g.write("second", [Double](repeating: 0, count: 8), shape: [8])
      }.contains("/optimizer/first: holds a non-finite value (nan)"))
  }

  @Test func notAnHDF5FileIsAClearError() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/text.h5"
    try "hello".write(toFile: path, atomically: true, encoding: .utf8)
    #expect(throws: HDF5Error.self) { try DatasetFile.read(path, as: Double.self) }
    do { _ = try DatasetFile.read(path, as: Double.self) } catch let e as HDF5Error {
      #expect(e.description.hasPrefix(path + ": cannot open file as HDF5"))
      #expect(!e.description.contains("\n"))
    }
  }
}

/// A sweep run's result.json reads back as the very numbers and
/// configuration text written: a rerun that takes a result from it (its
/// shard file not written yet) must record what the run computed.
/// (JSONSerialization's reader changed 2.0007196384590986 to
/// 2.000719638459098, and a cluster sweep's merge then differed.)
@Test func resultJSONReadsBackExactly() throws {
  let config =
    #"{"activation":"tanh","gain":1,"lr":0.01,"path":"a\/b","tolerance":1.8688123647942946e-05,"warm_start":false}"#
  var record = SweepRecord(
    name: "run-0007", index: 7, config: config, status: "done", reason: "", epochs: 300,
    seconds: 0.123456789012345, finalLoss: 2.0007196384590986, finalValidationLoss: 0.1 + 0.2,
    finalAccuracy: nil, solved: false, curve: [1e-300, .nan, 2.0007196384590986],
    validationCurve: [0.30000000000000004])
  record.hash = "c0d8d8b0ea0d7758"
  record.bestEpoch = 3
  record.bestValidationLoss = 1.9986661435260853
  let back = try #require(SweepRecord(json: try record.jsonData()))
  #expect(back.finalLoss == record.finalLoss && back.finalValidationLoss == record.finalValidationLoss)
  #expect(back.seconds == record.seconds && back.bestValidationLoss == record.bestValidationLoss && back.bestEpoch == 3)
  #expect(back.curve[0] == 1e-300 && back.curve[1].isNaN && back.curve[2] == 2.0007196384590986)
  #expect(back.validationCurve == record.validationCurve && back.finalAccuracy == nil)
  #expect(back.config == config, "\(back.config)")
  #expect(back.hash == record.hash && back.name == "run-0007" && back.index == 7 && back.status == "done")
}

/// result.json written field by field is the text of the generic writer
/// (dictionaries of `Any`, keys sorted) on every kind of field: escapes in
/// the texts, non-finite numbers, absent optionals, an accuracy and a best
/// epoch present.
@Test func resultJSONIsTheGenericWritersText() throws {
  let config = #"{"lr":0.01,"path":"a\/b","units":32}"#
  var failed = SweepRecord(
    name: "run-0003", index: 3, config: config, status: "failed", reason: "diverged: \"loss\" = inf\n\tat 1/2",
    epochs: 0, seconds: .nan, finalLoss: .infinity, finalValidationLoss: .nan, finalAccuracy: nil, solved: false,
    curve: [], validationCurve: [])
  failed.hash = "00ff"
  var done = failed
  (done.status, done.reason, done.epochs, done.seconds) = ("done", "", 2, 0.5)
  (done.finalLoss, done.finalValidationLoss, done.finalAccuracy, done.solved) = (1e-7, 0.25, 0.875, true)
  (done.curve, done.validationCurve, done.bestEpoch, done.bestValidationLoss) = ([2, 1e-7], [.nan, 0.25], 1, 0.25)
  for record in [failed, done] {
    var object = record.jsonObject
    object["config"] = RawJSON(text: config)
    #expect(String(decoding: try record.jsonData(), as: UTF8.self) == jsonText(object))
  }
}
