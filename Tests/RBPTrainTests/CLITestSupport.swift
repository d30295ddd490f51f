// Running the built `rbp` binary from the tests, in a temporary folder.

import Foundation
import RBPCore
import RBPStore
import RBPTestSupport
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent().path

/// The `rbp` executable built beside the test bundle.
let rbpBinary: String = {
  let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  for folder in [here, here.deletingLastPathComponent()] {
    let path = folder.appendingPathComponent("rbp").path
    if FileManager.default.isExecutableFile(atPath: path) { return path }
  }
  return repositoryRoot + "/.build/debug/rbp"
}()

/// A shipped dataset.
func shipped(_ name: String) -> String { repositoryRoot + "/datasets/\(name).h5" }

/// Runs `rbp` with arguments; returns status, stdout, stderr.
@discardableResult
func rbp(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
  try runTool(rbpBinary, arguments)
}

/// Runs any program with arguments; returns status, stdout, stderr.
@discardableResult
func runTool(_ path: String, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
  try runProgram(path, arguments)
}

func scratchFolder() throws -> String {
  let path = FileManager.default.temporaryDirectory
    .appendingPathComponent("rbp-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

/// The Python interpreter with numpy, h5py and matplotlib (what
/// scripts/setup.sh installs): $RBP_PYTHON (scripts/test.sh sets it), else
/// the package's .venv. Without one, or with a package missing, the calling
/// test fails naming the fix: the reference computations are part of the
/// suite.
func requirePython() throws -> String {
  struct MissingPython: Error, CustomStringConvertible {
    var detail: String
    var description: String {
      "no Python with numpy, h5py and matplotlib (\(detail)): run scripts/setup.sh (or scripts/test.sh), or set RBP_PYTHON"
    }
  }
  var python: String? = nil
  if let path = ProcessInfo.processInfo.environment["RBP_PYTHON"], FileManager.default.isExecutableFile(atPath: path) {
    python = path
  } else if FileManager.default.isExecutableFile(atPath: repositoryRoot + "/.venv/bin/python") {
    python = repositoryRoot + "/.venv/bin/python"
  }
  guard let python else { throw MissingPython(detail: "neither RBP_PYTHON nor .venv") }
  let check = try runTool(python, ["-c", "import numpy, h5py, matplotlib"])
  guard check.status == 0 else {
    throw MissingPython(detail: "\(python): " + (check.err.split(separator: "\n").last.map(String.init) ?? "import failed"))
  }
  return python
}

/// A run that met infinities recorded none: its parameters, optimizer
/// moments and history are finite, and steps were rejected (or the run
/// stopped saying why), so the infinities were really met.
func expectNothingNonFinite(_ ck: Checkpoint, context: String) {
  #expect(ck.parameters.values.allSatisfy { $0.isFinite }, "\(context): non-finite parameters saved")
  for (key, series) in ck.history.byName {
    #expect(series.allSatisfy { $0.isFinite }, "\(context): history '\(key)' holds \(series.filter { !$0.isFinite })")
  }
  if let opt = ck.progress?.optimizer {
    #expect(opt.first.values.allSatisfy { $0.isFinite } && opt.second.values.allSatisfy { $0.isFinite }, "\(context)")
  }
  let rejected = ck.history[.rejectedSteps]?.reduce(0, +) ?? 0
  #expect(rejected > 0 || ck.stopReason != nil, "\(context): no step was rejected: the run never met an infinity")
}
