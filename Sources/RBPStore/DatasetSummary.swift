// What a dataset file tells a run before its arrays are read: its kind,
// sizes, classic task, and which of /val, /test and /initial it has, with
// the widths of /val checked against the training set's. The header and
// the kind are read by the same code as `DatasetFile.read`'s, so a file
// gets the same error whichever reader meets it first.

import RBPCore

/// What a dataset tells the plan: kind, sizes, and its task if it is a classic one.
public struct DatasetSummary: Sendable {
  /// The dataset's path, as given.
  public var path: String
  /// Steady or trajectory.
  public var kind: ModelKind
  /// P, the training patterns or sequences.
  public var count: Int
  /// T for trajectories, 1 for steady states.
  public var steps: Int
  /// I, the inputs per pattern (or step).
  public var inputs: Int
  /// O, the targets per pattern (or step).
  public var outputs: Int
  /// The classic task that made it (attribute `task`), if any.
  public var task: ClassicTask?
  /// Whether the dataset has a test set (/test).
  public var hasTestSet: Bool
  /// Whether the dataset has a validation set (/val).
  public var hasValSet = false
  /// Whether the dataset gives each pattern's initial state (/initial).
  public var hasInitial = false
  /// The width of /initial (the network's units), when there is one.
  public var initialWidth: Int? = nil

  /// A summary of these sizes.
  public init(
    path: String, kind: ModelKind, count: Int, steps: Int, inputs: Int, outputs: Int, task: ClassicTask? = nil,
    hasTestSet: Bool = false, hasInitial: Bool = false
  ) {
    self.path = path
    self.kind = kind
    self.count = count
    self.steps = steps
    self.inputs = inputs
    self.outputs = outputs
    self.task = task
    self.hasTestSet = hasTestSet
    self.hasInitial = hasInitial
  }

  /// Reads the summary from a dataset file without loading its arrays.
  public static func read(_ path: String) throws -> DatasetSummary {
    let file = try HDF5File.open(path)
    try checkHeader(file, is: .dataset)
    let kind = try datasetKind(file)
    let inShape = try file.dataset("inputs").shape, outShape = try file.dataset("targets").shape
    guard let count = inShape.first, count > 0 else {
      throw HDF5Error(file: path, path: "/inputs", message: "has no patterns")
    }
    if kind == .trajectory && inShape.count == 3 && inShape[1] == 0 {
      throw HDF5Error(file: path, path: "/inputs", message: "has no steps")
    }
    var task: ClassicTask? = nil
    if file.hasAttribute("task") {
      let name = try file.stringAttribute("task")
      guard let known = ClassicTask(rawValue: name) else {
        throw HDF5Error(
          file: path, path: "",
          message: "attribute 'task' is \"\(name)\", not a classic task ("
            + ClassicTask.allCases.map(\.rawValue).joined(separator: ", ")
            + "); remove it, and choose accuracy with --metric sign|argmax|none")
      }
      task = known
    }
    let steps = kind == .trajectory && inShape.count == 3 ? inShape[1] : 1
    var summary = DatasetSummary(
      path: path, kind: kind, count: count, steps: steps, inputs: inShape.last ?? 0,
      outputs: outShape.last ?? 0, task: task, hasTestSet: file.exists("test"),
      hasInitial: file.exists("initial"))
    if summary.hasInitial { summary.initialWidth = try file.dataset("initial").shape.last }
    summary.hasValSet = file.exists("val")
    // The validation set is read with the network the training set defines:
    // its widths are checked now, before a run writes anything. (/test is
    // never read in training; `rbp eval --test` checks it.)
    for part in ["val"] where file.exists(part) {
      let test = try file.group(part)
      for (name, width) in [("inputs", summary.inputs), ("targets", summary.outputs)] {
        guard test.exists(name) else { continue }  // the reader names what is missing
        let found = try test.dataset(name).shape.last ?? 0
        guard found == width else {
          throw HDF5Error(
            file: path, path: "/\(part)/\(name)",
            message: "has \(found) columns, the training set's /\(name) has \(width)")
        }
      }
      if test.exists("initial"), let width = summary.initialWidth {
        let found = try test.dataset("initial").shape.last ?? 0
        guard found == width else {
          throw HDF5Error(
            file: path, path: "/\(part)/initial",
            message: "has \(found) columns, the training set's /initial has \(width)")
        }
      }
    }
    return summary
  }
}
