// Helpers for the store tests: temporary folders, the built `rbp` binary,
// and the Python interpreter with h5py used for the interop tests.

import Foundation
import Testing
import RBPTestSupport

/// A fresh temporary folder, removed by the caller's `defer`.
func temporaryFolder() throws -> String {
  let path = FileManager.default.temporaryDirectory
    .appendingPathComponent("rbp-store-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// The package root (two folders above this file's folder).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent().path

/// The `rbp` executable built next to the test bundle.
var rbpExecutable: String {
  let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  for candidate in [here, here.deletingLastPathComponent()] {
    let path = candidate.appendingPathComponent("rbp").path
    if FileManager.default.isExecutableFile(atPath: path) { return path }
  }
  return packageRoot + "/.build/debug/rbp"
}

/// The interpreter with numpy and h5py: $RBP_PYTHON (set by
/// scripts/test.sh, which creates it), else the package's .venv; nil when
/// neither exists, and the interop tests then fail.
let interopPython: String? = {
  if let path = ProcessInfo.processInfo.environment["RBP_PYTHON"], FileManager.default.isExecutableFile(atPath: path) {
    return path
  }
  let venv = packageRoot + "/.venv/bin/python"
  return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
}()

/// Runs a Python script with the interop interpreter.
func runPython(_ script: String, _ arguments: [String] = []) throws -> (status: Int32, out: String, err: String) {
  guard let python = interopPython else { throw CancellationError() }
  return try runProgram(python, ["-c", script] + arguments)
}
