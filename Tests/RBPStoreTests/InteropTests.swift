// Interop with h5py: Python writes a dataset and a checkpoint exactly as
// SPEC §2 says (float64, variable-length string attributes, chunked and
// gzip-compressed) and the engine loads them; the engine writes a
// checkpoint and a gradients file and Python reads them and checks the
// values. Needs the Python environment of scripts/setup.sh, which
// scripts/test.sh always provides; without it the test fails, naming the fix.

import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTestSupport
import Testing

let pythonWriter = #"""
  import sys, h5py, numpy as np
  out = sys.argv[1]
  with h5py.File(out + "/data.h5", "w") as f:
      f.attrs["format"] = "rbp-dataset"
      f.attrs["version"] = 1
      f.attrs["kind"] = "trajectory"
      x = np.arange(3 * 4 * 2, dtype=np.float64).reshape(3, 4, 2) / 10
      y = np.linspace(-1, 1, 3 * 4 * 1).reshape(3, 4, 1)
      f.create_dataset("inputs", data=x, chunks=(1, 4, 2), compression="gzip")
      f.create_dataset("targets", data=y, chunks=(1, 4, 1), compression="gzip")
      f.create_dataset("mask", data=(np.arange(12).reshape(3, 4, 1) % 2).astype(np.float32))
  with h5py.File(out + "/ck.h5", "w") as f:
      f.attrs["format"] = "rbp-checkpoint"
      f.attrs["version"] = 1
      f.attrs["model"] = "trajectory"
      f.attrs["activation"] = np.bytes_("tanh")   # a fixed-length string
      f.attrs["loss"] = "mse"                     # a variable-length UTF-8 string
      f.attrs["units"] = 3
      f.attrs["inputs"] = 2
      f.attrs["outputs"] = 1
      f.attrs["leak"] = 0.5
      g = f.create_group("params")
      g.create_dataset("W", data=np.arange(9, dtype=np.float64).reshape(3, 3) / 100, compression="gzip")
      g.create_dataset("b", data=np.array([0.1, -0.2, 0.3]))
      g.create_dataset("U", data=np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]) / 10)
      g.create_dataset("x0", data=np.array([0.0, 0.5, -0.5], dtype=np.float32))
  """#

let pythonReader = #"""
  import sys, json, h5py, numpy as np
  out = sys.argv[1]
  res = {}
  # Floats travel as exact hexadecimal strings: JSON decimal parsing may round.
  hx = lambda a: [float(v).hex() for v in np.asarray(a, dtype=np.float64).ravel()]
  with h5py.File(out + "/engine_ck.h5", "r") as f:
      res["format"] = f.attrs["format"]
      res["model"] = f.attrs["model"]
      res["units"] = int(f.attrs["units"])
      res["W"] = hx(f["params/W"][()])
      res["b"] = hx(f["params/b"][()])
      res["epoch"] = int(f.attrs["epoch"])
      res["history_loss"] = hx(f["history/loss"][()])
  with h5py.File(out + "/engine_grad.h5", "r") as f:
      res["gformat"] = f.attrs["format"]
      res["loss"] = hx([f.attrs["loss"]])
      res["gW"] = hx(f["grad/W"][()])
      res["gx0"] = hx(f["grad/x0"][()])
      res["states_shape"] = list(f["states"].shape)
      res["adjoint_shape"] = list(f["adjoint"].shape)
      res["states"] = hx(f["states"][()])
  print(json.dumps(res))
  """#

@Suite("Interop with h5py")
struct InteropTests {
  @Test func engineReadsH5pyFilesAndH5pyReadsEngineFiles() throws {
    // Not skipped without Python: the interop guarantees are part of the suite.
    _ = try requirePython()  // names the fix when there is none
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let written = try runPython(pythonWriter, [dir])
    try #require(written.status == 0, "python writer failed: \(written.err)")

    guard case let .trajectory(batch) = try DatasetFile.read(dir + "/data.h5", as: Double.self) else {
      Issue.record("expected a trajectory dataset")
      return
    }
    #expect(batch.count == 3 && batch.steps == 4 && batch.inputWidth == 2 && batch.outputWidth == 1)
    #expect(batch.inputs == (0..<24).map { Double($0) / 10 })
    #expect(batch.mask == (0..<12).map { Double($0 % 2) })
    let checkpoint = try CheckpointFile.read(dir + "/ck.h5")
    #expect(checkpoint.model == .trajectory && checkpoint.leak == 0.5 && checkpoint.shape.coupling == .dense)
    #expect(checkpoint.parameters.W.elements == (0..<9).map { Double($0) / 100 })
    #expect(checkpoint.parameters.x0 == [0, 0.5, -0.5])
    #expect(checkpoint.parameters.U.elements == [1, 2, 3, 4, 5, 6].map { $0 / 10 })

    // The engine computes on what h5py wrote and writes its own files back.
    let net = try checkpoint.trajectoryNetwork(Double.self)
    let g = try net.gradient(batch: batch)
    var saved = checkpoint
    saved.progress = RunProgress(
      epoch: 7, step: 7,
      optimizer: try Optimizer<Double>(
        settings: OptimizerSettings(kind: .sgd, learningRate: 0.1),
        layout: checkpoint.parameters.layout),
      learningRate: 0.1, seed: 1, history: History(byName: ["loss": [0.5, 0.25]]))
    try CheckpointFile.write(saved, to: dir + "/engine_ck.h5")
    try GradientsFile.write(try GradientsRecord(g, count: 3, steps: 4, units: 3), to: dir + "/engine_grad.h5")

    let read = try runPython(pythonReader, [dir])
    try #require(read.status == 0, "python reader failed: \(read.err)")
    let json = try JSONSerialization.jsonObject(with: Data(read.out.utf8)) as! [String: Any]
    func floats(_ key: String) -> [Double]? { (json[key] as? [String])?.map { Double($0) ?? .nan } }
    #expect(json["format"] as? String == "rbp-checkpoint")
    #expect(json["model"] as? String == "trajectory")
    #expect(json["units"] as? Int == 3)
    #expect(floats("W") == checkpoint.parameters.W.elements)
    #expect(floats("b") == checkpoint.parameters.b)
    #expect(json["epoch"] as? Int == 7)
    #expect(floats("history_loss") == [0.5, 0.25])
    #expect(json["gformat"] as? String == "rbp-gradients")
    #expect(floats("loss") == [g.loss])
    #expect(floats("gW") == g.gradient.W.elements)
    #expect(floats("gx0") == g.gradient.x0)
    #expect(json["states_shape"] as? [Int] == [3, 5, 3])
    #expect(json["adjoint_shape"] as? [Int] == [3, 4, 3])
    // /states is sequence-major: sequence 1, step 0 is x0.
    let states = floats("states") ?? []
    #expect(Array(states[15..<18]) == checkpoint.parameters.x0)
  }
}

/// Attributes h5py writes as arrays where one string belongs: read by
/// their actual size, never into room for one (this used to smash the stack).
let pythonStringArrays = #"""
  import sys, h5py, numpy as np
  out = sys.argv[1]
  for name, value in [("vlen", ["steady", "trajectory"]), ("fixed", np.array([b"steady", b"trajectory"], dtype="S10"))]:
      with h5py.File(f"{out}/{name}.h5", "w") as f:
          f.attrs["format"] = "rbp-dataset"
          f.attrs["version"] = 1
          f.attrs["kind"] = value
          f.create_dataset("inputs", data=np.zeros((2, 1)))
          f.create_dataset("targets", data=np.zeros((2, 1)))
  """#

@Suite("Hostile attributes from h5py")
struct HostileAttributeTests {
  @Test func stringArraysAreRefusedCleanly() throws {
    _ = try requirePython()  // names the fix when there is none
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let written = try runPython(pythonStringArrays, [dir])
    try #require(written.status == 0, "python writer failed: \(written.err)")
    for name in ["vlen", "fixed"] {
      let path = "\(dir)/\(name).h5"
      do {
        _ = try DatasetFile.read(path, as: Double.self)
        Issue.record("\(name): an array of strings was read as the kind")
      } catch let error as HDF5Error {
        #expect(error.description.contains("attribute 'kind' holds 2 strings, expected 1"), "\(error)")
      }
      let inspect = try runProgram(rbpBinary, ["inspect", path])
      #expect(inspect.status != 0 || inspect.out.contains("kind"), "\(name): \(inspect.err)")
      #expect(
        inspect.status == 0 || (inspect.status == 1 && inspect.err.split(separator: "\n").count == 1),
        "\(name): rbp inspect ended with status \(inspect.status): \(inspect.err)")
    }
  }
}
