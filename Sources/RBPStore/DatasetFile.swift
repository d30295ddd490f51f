// The dataset format of SPEC §2 (`format = "rbp-dataset"`, version 1):
// steady (P, I) inputs and (P, O) targets, or trajectory (P, T, I) and
// (P, T, O), an optional mask shaped like the targets and, for
// trajectories, optional (P, N) initial states. A task's test set, when it
// has one, goes under /test with the same names. Reading validates every
// field and names the one that is wrong.

import Foundation
import RBPCore
import RBPKernels

/// The two model kinds of the formats: `kind` of a dataset, `model` of a checkpoint.
public enum ModelKind: String, Sendable, Codable, CaseIterable {
  /// Patterns that settle to a steady state.
  case steady
  /// Sequences run in time.
  case trajectory
}

/// The contents of a dataset file.
public enum DatasetContents<T: KernelScalar>: Sendable {
  /// Steady patterns.
  case steady(SteadyBatch<T>)
  /// Sequences.
  case trajectory(TrajectoryBatch<T>)

  /// Steady or trajectory.
  public var kind: ModelKind {
    if case .steady = self { return .steady }
    return .trajectory
  }
  /// P, the patterns or sequences.
  public var count: Int {
    switch self {
    case .steady(let b): return b.count
    case .trajectory(let b): return b.count
    }
  }
}

/// Format names and the version of SPEC §2.
public enum FileFormat: String, CaseIterable, Sendable {
  /// Inputs and targets.
  case dataset = "rbp-dataset"
  /// A network, and a run's state.
  case checkpoint = "rbp-checkpoint"
  /// `rbp grad`'s output.
  case gradients = "rbp-gradients"
  /// `rbp invert`'s output.
  case inverse = "rbp-inverse"
  /// `rbp states`'s output.
  case states = "rbp-states"
  /// A sweep's results.
  case sweep = "rbp-sweep"
  /// `rbp fixed-points`'s output.
  case fixedPoints = "rbp-fixed-points"

  /// The version every format is written in.
  public static let version = 1
}

/// Checks the root attributes `format` and `version`.
func checkHeader(_ file: HDF5File, is format: FileFormat) throws {
  guard file.hasAttribute("format") else {
    throw file.fail("missing attribute 'format' (expected \"\(format.rawValue)\")")
  }
  let found = try file.stringAttribute("format")
  guard found == format.rawValue else {
    throw file.fail("attribute 'format' is \"\(found)\", expected \"\(format.rawValue)\"")
  }
  guard file.hasAttribute("version") else { throw file.fail("missing attribute 'version'") }
  let version = try file.numberAttribute("version")
  guard version == Double(FileFormat.version) else {
    throw file.fail("attribute 'version' is \(version), this reader knows version \(FileFormat.version)")
  }
}

func writeHeader(_ file: HDF5File, _ format: FileFormat) throws {
  try file.setAttribute("format", string: format.rawValue)
  try file.setAttribute("version", int: FileFormat.version)
}

/// The root attribute `kind` of a dataset file.
func datasetKind(_ file: HDF5File) throws -> ModelKind {
  guard file.hasAttribute("kind") else { throw file.fail("missing attribute 'kind' (\"steady\" or \"trajectory\")") }
  let name = try file.stringAttribute("kind")
  guard let kind = ModelKind(rawValue: name) else {
    throw file.fail("attribute 'kind' is \"\(name)\", expected \"steady\" or \"trajectory\"")
  }
  return kind
}

/// The parts of a dataset file: the training set at the root, and the
/// optional /val (validation) and /test groups with the same members.
public enum DatasetPart: String, Sendable {
  /// The root's arrays.
  case train
  /// The /val group.
  case val
  /// The /test group.
  case test
}

/// Reads a dataset (or only the rows `rows` of its first dimension) with
/// the expected rank, naming it when it is missing or misshapen, and
/// rejecting non-finite values. The returned shape has the rows read.
func readArray<T: KernelScalar & HDF5Numeric>(
  _ group: HDF5Group, _ name: String, rank: Int, rows: [Int]? = nil, as: T.Type
) throws -> (values: [T], shape: [Int]) {
  let d = try group.dataset(name)
  var shape = try d.shape
  guard shape.count == rank else {
    throw d.fail("has rank \(shape.count) (shape \(shape)), expected rank \(rank)")
  }
  let kind = try d.kind
  guard kind == .float || kind == .integer else { throw d.fail("holds \(kind) values, expected numbers") }
  let values: [T]
  if let rows {
    values = try d.readRows(at: rows)
    shape[0] = rows.count
  } else {
    values = try d.read()
  }
  if let bad = values.firstIndex(where: { !$0.isFinite }) {
    let exact: [Double]? = T.self == Double.self ? nil : try rows.map { try d.readRows(at: $0) } ?? d.read()
    throw d.fail(
      nonFiniteMessage(T.self, values[bad], exact: exact?[bad]) + " " + location(bad, shape: shape, rows: rows))
  }
  return (values, shape)
}

/// "holds a non-finite value (nan)", or, for a finite value that became
/// infinite in f32, that it overflows f32.
func nonFiniteMessage<T: KernelScalar>(_: T.Type, _ value: T, exact: Double?) -> String {
  if let exact, exact.isFinite {
    return
      "holds \(exact), which overflows f32 (largest \(Float.greatestFiniteMagnitude)); rescale it, or use --precision f64,"
  }
  return "holds a non-finite value (\(value))"
}

/// Where flat index `i` of an array read as `shape` lies in the file:
/// "at pattern p, step t, column c" (p is the file's row when only `rows`
/// were read).
func location(_ i: Int, shape: [Int], rows: [Int]?) -> String {
  let perRow = shape.dropFirst().reduce(1, *)
  guard perRow > 0 else { return "at flat index \(i)" }
  let row = i / perRow, rest = i % perRow
  let pattern = rows.map { $0[row] } ?? row
  if shape.count == 3 {
    return "at pattern \(pattern), step \(rest / shape[2]), column \(rest % shape[2])"
  }
  return "at pattern \(pattern), column \(rest)"
}

/// Reading and writing dataset files.
public enum DatasetFile {
  /// Reads the dataset at `path` in precision T, validating every field.
  /// With `testSet`, reads the /test group instead; with `rows`, only those
  /// patterns (by hyperslab reads), in that order.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public static func read<T: KernelScalar & HDF5Numeric>(
    _ path: String, as: T.Type, testSet: Bool = false, rows: [Int]? = nil
  ) throws -> DatasetContents<T> {
    try read(path, as: T.self, part: testSet ? .test : .train, rows: rows)
  }

  /// The training set, or the /val or /test group.
  public static func read<T: KernelScalar & HDF5Numeric>(
    _ path: String, as: T.Type, part: DatasetPart, rows: [Int]? = nil
  ) throws -> DatasetContents<T> {
    let file = try HDF5File.open(path)
    try checkHeader(file, is: .dataset)
    return try read(file, part: part, rows: rows, path: path)
  }

  /// The rows `indices` of an open dataset file's training set.
  static func read<T: KernelScalar & HDF5Numeric>(
    _ file: HDF5File, rows: [Int], path: String
  ) throws
    -> DatasetContents<T>
  {
    try read(file, part: .train, rows: rows, path: path)
  }

  static func read<T: KernelScalar & HDF5Numeric>(
    _ file: HDF5File, part: DatasetPart, rows: [Int]?, path: String
  ) throws -> DatasetContents<T> {
    let kind = try datasetKind(file)
    let group: HDF5Group = part == .train ? file : try file.group(part.rawValue)
    let rank = kind == .steady ? 2 : 3
    let (inputs, inShape) = try readArray(group, "inputs", rank: rank, rows: rows, as: T.self)
    let (targets, outShape) = try readArray(group, "targets", rank: rank, rows: rows, as: T.self)
    let fail = { (field: String, message: String) in
      HDF5Error(file: path, path: group.childPath(field), message: message)
    }
    guard inShape[0] == outShape[0] else {
      throw fail("targets", "has \(outShape[0]) patterns but /inputs has \(inShape[0])")
    }
    if rows == nil && inShape[0] == 0 { throw fail("inputs", "has no patterns") }
    if kind == .trajectory && inShape[1] != outShape[1] {
      throw fail("targets", "has \(outShape[1]) steps but /inputs has \(inShape[1])")
    }
    var mask: [T]? = nil
    if group.exists("mask") {
      let (m, mShape) = try readArray(group, "mask", rank: rank, rows: rows, as: T.self)
      guard mShape == outShape else { throw fail("mask", "has shape \(mShape), expected that of /targets \(outShape)") }
      // Mask values weigh the loss: a negative one would make it negative.
      if let bad = m.firstIndex(where: { $0 < 0 }) {
        throw fail("mask", "holds \(m[bad]) \(location(bad, shape: mShape, rows: rows)); mask values must be >= 0")
      }
      if rows == nil && !m.contains(where: { $0 > 0 }) {
        throw fail("mask", "is zero everywhere: no output would count towards the loss")
      }
      mask = m
    }
    // x(0) of each trajectory, or the state each steady pattern relaxes from.
    var initial: Matrix<T>? = nil
    if group.exists("initial") {
      let (x0, shape) = try readArray(group, "initial", rank: 2, rows: rows, as: T.self)
      guard shape[0] == inShape[0] else { throw fail("initial", "has \(shape[0]) rows for \(inShape[0]) patterns") }
      initial = Matrix(rows: shape[0], cols: shape[1], elements: x0)
    }
    switch kind {
    case .steady:
      let (p, i, o) = (inShape[0], inShape[1], outShape[1])
      let batch = try wrap(path) {
        try SteadyBatch(
          inputs: Matrix(rows: p, cols: i, elements: inputs),
          targets: Matrix(rows: p, cols: o, elements: targets),
          mask: mask.map { Matrix(rows: p, cols: o, elements: $0) }, initial: initial)
      }
      return .steady(batch)
    case .trajectory:
      let (p, steps, i, o) = (inShape[0], inShape[1], inShape[2], outShape[2])
      guard steps >= 1 else { throw fail("inputs", "has no steps") }
      let batch = try wrap(path) {
        try TrajectoryBatch(
          count: p, steps: steps, inputs: inputs, inputWidth: i, targets: targets,
          outputWidth: o, mask: mask, initial: initial)
      }
      return .trajectory(batch)
    }
  }

  /// Writes a dataset file atomically (float64 unless T is Float).
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public static func write<T: KernelScalar & HDF5Numeric>(
    _ contents: DatasetContents<T>, test: DatasetContents<T>? = nil, val: DatasetContents<T>? = nil, to path: String,
    attributes: [String: String] = [:]
  ) throws {
    try writeHDF5Atomically(to: path) { file in
      try writeHeader(file, .dataset)
      try file.setAttribute("kind", string: contents.kind.rawValue)
      for (key, value) in attributes.sorted(by: { $0.key < $1.key }) { try file.setAttribute(key, string: value) }
      try writeBatch(contents, into: file)
      if let val { try writeBatch(val, into: try file.createGroup("val")) }
      if let test { try writeBatch(test, into: try file.createGroup("test")) }
    }
  }

  static func writeBatch<T: KernelScalar & HDF5Numeric>(_ contents: DatasetContents<T>, into group: HDF5Group) throws {
    switch contents {
    case .steady(let b):
      try group.write("inputs", b.inputs.elements, shape: [b.count, b.inputs.cols])
      try group.write("targets", b.targets.elements, shape: [b.count, b.targets.cols])
      if let m = b.mask { try group.write("mask", m.elements, shape: [b.count, m.cols]) }
      if let x0 = b.initial { try group.write("initial", x0.elements, shape: [b.count, x0.cols]) }
    case .trajectory(let b):
      try group.write("inputs", b.inputs, shape: [b.count, b.steps, b.inputWidth])
      try group.write("targets", b.targets, shape: [b.count, b.steps, b.outputWidth])
      if let m = b.mask { try group.write("mask", m, shape: [b.count, b.steps, b.outputWidth]) }
      if let x0 = b.initial { try group.write("initial", x0.elements, shape: [b.count, x0.cols]) }
    }
  }
}

/// Turns the core's validation errors into errors naming the file.
func wrap<R>(_ path: String, _ body: () throws -> R) throws -> R {
  do { return try body() } catch let error as RBPError {
    throw HDF5Error(file: path, path: "", message: error.description)
  }
}
