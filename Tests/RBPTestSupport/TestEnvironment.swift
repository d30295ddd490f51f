// What every test target finds the same way: the repository, the built
// `rbp`, the shipped datasets, scratch folders, the Python interpreter the
// reference computations run in, and random arrays from the engine's one
// seeded generator (`SeededGenerator` of RBPCore).

import Foundation
import RBPCore
import RBPKernels
import RBPStore

/// The repository root (three folders above this file).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent().path

/// The `rbp` executable built beside the test bundle.
public let rbpBinary: String = {
  let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  for folder in [here, here.deletingLastPathComponent()] {
    let path = folder.appendingPathComponent("rbp").path
    if FileManager.default.isExecutableFile(atPath: path) { return path }
  }
  return repositoryRoot + "/.build/debug/rbp"
}()

/// A shipped dataset (datasets/NAME.h5).
public func shipped(_ name: String) -> String { repositoryRoot + "/datasets/\(name).h5" }

/// A fresh folder under the temporary directory, removed by the caller's
/// `defer`.
public func scratchFolder() throws -> String {
  let path = FileManager.default.temporaryDirectory
    .appendingPathComponent("rbp-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// A file's bytes, nil when it cannot be read.
public func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

/// Python without the packages the tests need.
struct MissingPython: Error, CustomStringConvertible {
  var detail: String
  var description: String {
    "no Python with numpy, h5py and matplotlib (\(detail)): run scripts/setup.sh (or scripts/test.sh), or set RBP_PYTHON"
  }
}

/// The interpreter found once per test process (the check imports numpy,
/// h5py and matplotlib: about 0.45 s of CPU).
private let foundPython: Result<String, MissingPython> = {
  var python: String? = nil
  if let path = ProcessInfo.processInfo.environment["RBP_PYTHON"], FileManager.default.isExecutableFile(atPath: path) {
    python = path
  } else if FileManager.default.isExecutableFile(atPath: repositoryRoot + "/.venv/bin/python") {
    python = repositoryRoot + "/.venv/bin/python"
  }
  guard let python else { return .failure(MissingPython(detail: "neither RBP_PYTHON nor .venv")) }
  guard let check = try? runProgram(python, ["-c", "import numpy, h5py, matplotlib"]) else {
    return .failure(MissingPython(detail: "\(python) does not start"))
  }
  guard check.status == 0 else {
    let last = check.err.split(separator: "\n").last.map(String.init) ?? "import failed"
    return .failure(MissingPython(detail: "\(python): \(last)"))
  }
  return .success(python)
}()

/// The Python interpreter with numpy, h5py and matplotlib (what
/// scripts/setup.sh installs): $RBP_PYTHON (scripts/test.sh sets it), else
/// the repository's .venv. Without one, or with a package missing, the
/// calling test fails naming the fix: the reference computations are part
/// of the suite.
public func requirePython() throws -> String { try foundPython.get() }

/// Runs a Python script with arguments; returns status, stdout, stderr.
@discardableResult
public func runPython(_ script: String, _ arguments: [String] = []) throws -> (status: Int32, out: String, err: String)
{
  try runProgram(try requirePython(), ["-c", script] + arguments)
}

/// `count` values uniform in [−1, 1), from the top 53 bits of each draw
/// (written out: the generic `Double.random(in:using:)` is unspecialised
/// in a debug build, and drawing took most of some suites' time).
public func randomArray<T: KernelScalar>(_: T.Type, _ count: Int, _ rng: inout SeededGenerator) -> [T] {
  var values = [T](repeating: 0, count: count)
  for i in 0..<count { values[i] = T(Double(rng.next() >> 11) * 0x1p-52 - 1) }
  return values
}

/// What a run that met infinities must not have recorded, as messages
/// (empty when all is well): non-finite parameters, optimizer moments or
/// history; and no rejected step with no stop reason, which would mean the
/// run never met an infinity at all.
public func nonFiniteRecords(_ ck: Checkpoint) -> [String] {
  var problems: [String] = []
  if !ck.parameters.values.allSatisfy({ $0.isFinite }) { problems.append("non-finite parameters saved") }
  for (key, series) in ck.history.byName.sorted(by: { $0.key < $1.key }) where !series.allSatisfy({ $0.isFinite }) {
    problems.append("history '\(key)' holds \(series.filter { !$0.isFinite })")
  }
  if let opt = ck.progress?.optimizer,
    !(opt.first.values.allSatisfy { $0.isFinite } && opt.second.values.allSatisfy { $0.isFinite })
  {
    problems.append("non-finite optimizer moments saved")
  }
  let rejected = ck.history[.rejectedSteps]?.reduce(0, +) ?? 0
  if !(rejected > 0 || ck.stopReason != nil) { problems.append("no step was rejected: the run never met an infinity") }
  return problems
}
