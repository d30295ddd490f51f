// A trajectory dataset file read a span of steps at a time, for BPTT over
// sequences too long to hold whole (`TrajectoryNetwork.gradient(spans:)`).
// Opening reads only the shapes and the chosen sequences' initial states;
// each span is one hyperslab read per array (/inputs, /targets, /mask) of
// those sequences and steps, validated as a whole read would be (finite
// values, masks >= 0), with errors naming the file, the array, the sequence
// and the step.
//
// Legend: P = sequences chosen, T = steps, I = inputs, O = outputs.

import RBPCore
import RBPKernels

/// Sequences `rows` of a trajectory dataset file, read by spans of steps.
/// Sendable: its fields never change after `init`, and every read goes
/// through the HDF5 library's lock.
public final class DatasetSpans<T: KernelScalar & HDF5Numeric>: TrajectorySpans, @unchecked Sendable {
  /// The dataset file.
  public let path: String
  /// The file's sequences, in the order the spans hold them.
  public let rows: [Int]
  public let count: Int
  public let steps: Int
  /// I, the inputs per step.
  public let inputWidth: Int
  /// O, the targets per step.
  public let outputWidth: Int
  /// x(0) of the chosen sequences from /initial, or nil.
  public let initial: Matrix<T>?
  private let file: HDF5File
  private let hasMask: Bool

  /// Opens the dataset file at `path` for the sequences `rows` (all of
  /// them when nil).
  public convenience init(path: String, rows: [Int]? = nil) throws {
    let file = try HDF5File.open(path)
    try checkHeader(file, is: .dataset)
    try self.init(file: file, path: path, rows: rows)
  }

  init(file: HDF5File, path: String, rows: [Int]?) throws {
    let kind = file.hasAttribute("kind") ? try file.stringAttribute("kind") : ""
    guard kind == ModelKind.trajectory.rawValue else {
      throw file.fail("attribute 'kind' is \"\(kind)\": only trajectory datasets are read by spans of steps")
    }
    let inputs = try file.dataset("inputs"), targets = try file.dataset("targets")
    let (inShape, outShape) = (try inputs.shape, try targets.shape)
    guard inShape.count == 3 else { throw inputs.fail("has shape \(inShape), expected (P, T, I)") }
    guard outShape.count == 3 else { throw targets.fail("has shape \(outShape), expected (P, T, O)") }
    guard outShape[0] == inShape[0], outShape[1] == inShape[1] else {
      throw targets.fail("has shape \(outShape), but /inputs has \(inShape): sequences and steps must agree")
    }
    guard inShape[0] >= 1, inShape[1] >= 1 else { throw inputs.fail("has shape \(inShape): no sequences or no steps") }
    _ = try inputs.checkedCount()
    _ = try targets.checkedCount()
    hasMask = file.exists("mask")
    if hasMask {
      let mask = try file.dataset("mask")
      guard try mask.shape == outShape else {
        throw mask.fail("has shape \(try mask.shape), expected that of /targets \(outShape)")
      }
      _ = try mask.checkedCount()
    }
    let chosen = rows ?? Array(0..<inShape[0])
    guard !chosen.isEmpty else { throw inputs.fail("no sequences chosen") }
    if let bad = chosen.first(where: { $0 < 0 || $0 >= inShape[0] }) {
      throw inputs.fail("sequence \(bad) outside the \(inShape[0]) sequences")
    }
    if file.exists("initial") {
      let (x0, shape) = try readArray(file, "initial", rank: 2, rows: chosen, as: T.self)
      initial = Matrix(rows: shape[0], cols: shape[1], elements: x0)
    } else {
      initial = nil
    }
    self.file = file
    self.path = path
    self.rows = chosen
    (count, steps, inputWidth, outputWidth) = (chosen.count, inShape[1], inShape[2], outShape[2])
  }

  /// Steps `range` (0-based) of the chosen sequences.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func span(_ range: Range<Int>) throws -> TrajectoryBatch<T> {
    guard range.lowerBound >= 0, range.upperBound <= steps, !range.isEmpty else {
      throw HDF5Error(file: path, path: "/inputs", message: "steps \(range) are not within its \(steps) steps")
    }
    let inputs = try read("inputs", range, width: inputWidth)
    let targets = try read("targets", range, width: outputWidth)
    var mask: [T]? = nil
    if hasMask {
      let m = try read("mask", range, width: outputWidth)
      if let bad = m.firstIndex(where: { $0 < 0 }) {
        throw try file.dataset("mask").fail(
          "holds \(m[bad]) \(spanLocation(bad, range, width: outputWidth)); mask values must be >= 0")
      }
      mask = m
    }
    return try wrap(path) {
      try TrajectoryBatch(
        count: count, steps: range.count, inputs: inputs, inputWidth: inputWidth, targets: targets,
        outputWidth: outputWidth, mask: mask)
    }
  }

  /// One array's span, P×len×width, every value finite.
  private func read(_ name: String, _ range: Range<Int>, width: Int) throws -> [T] {
    let d = try file.dataset(name)
    let values: [T] = try d.readRows(at: rows, within: range)
    var finite = true
    values.withUnsafeBufferPointer { v in for x in v { finite = finite && x.isFinite } }
    if !finite, let bad = values.firstIndex(where: { !$0.isFinite }) {
      let exact: [Double]? = T.self == Double.self ? nil : try d.readRows(at: rows, within: range)
      throw d.fail(
        nonFiniteMessage(T.self, values[bad], exact: exact?[bad]) + " " + spanLocation(bad, range, width: width))
    }
    return values
  }

  /// "at pattern p, step t, column c" of the file for index `i` of a span.
  private func spanLocation(_ i: Int, _ range: Range<Int>, width: Int) -> String {
    let perRow = max(range.count * width, 1)
    let (row, rest) = i.quotientAndRemainder(dividingBy: perRow)
    return "at pattern \(rows[row]), step \(range.lowerBound + rest / max(width, 1)), column \(rest % max(width, 1))"
  }
}
