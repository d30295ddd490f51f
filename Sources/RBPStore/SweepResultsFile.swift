// The sweep-results format (`format = "rbp-sweep"`): one record per run
// under /runs/<name> (its configuration as JSON, status, failure reason,
// final metrics, epochs, seconds, and the learning curves), plus summary
// columns at the root in run order (/index, /ok, /final_loss,
// /final_val_loss) for quick plotting.

import Foundation

/// One run's outcome in a sweep.
public struct SweepRecord: Codable, Equatable, Sendable {
  public var name: String
  public var index: Int
  /// The run's full configuration, JSON.
  public var config: String
  /// "ok" or "failed".
  public var status: String
  public var reason: String
  public var epochs: Int
  public var seconds: Double
  public var finalLoss: Double
  public var finalValidationLoss: Double
  public var finalAccuracy: Double?
  public var solved: Bool
  /// Training loss per epoch.
  public var curve: [Double]
  /// Validation loss per epoch.
  public var validationCurve: [Double]

  public init(name: String, index: Int, config: String, status: String, reason: String, epochs: Int,
              seconds: Double, finalLoss: Double, finalValidationLoss: Double, finalAccuracy: Double?,
              solved: Bool, curve: [Double], validationCurve: [Double]) {
    self.name = name
    self.index = index
    self.config = config
    self.status = status
    self.reason = reason
    self.epochs = epochs
    self.seconds = seconds
    self.finalLoss = finalLoss
    self.finalValidationLoss = finalValidationLoss
    self.finalAccuracy = finalAccuracy
    self.solved = solved
    self.curve = curve
    self.validationCurve = validationCurve
  }
}

public enum SweepResultsFile {
  /// Writes the records (sorted by index) atomically.
  public static func write(_ records: [SweepRecord], to path: String, attributes: [String: String] = [:]) throws {
    let sorted = records.sorted { $0.index < $1.index }
    try writeHDF5Atomically(to: path) { f in
      try f.setAttribute("format", string: FileFormat.sweep.rawValue)
      try f.setAttribute("version", int: FileFormat.version)
      for (k, v) in attributes.sorted(by: { $0.key < $1.key }) { try f.setAttribute(k, string: v) }
      try f.setAttribute("runs", int: sorted.count)
      try f.write("index", sorted.map { Double($0.index) }, shape: [sorted.count])
      try f.write("ok", sorted.map { $0.status == "ok" ? 1.0 : 0.0 }, shape: [sorted.count])
      try f.write("final_loss", sorted.map(\.finalLoss), shape: [sorted.count])
      try f.write("final_val_loss", sorted.map(\.finalValidationLoss), shape: [sorted.count])
      try f.createGroup("runs")
      for r in sorted {
        let g = try f.createGroup("runs/\(r.name)")
        try g.setAttribute("index", int: r.index)
        try g.setAttribute("config", string: r.config)
        try g.setAttribute("status", string: r.status)
        try g.setAttribute("reason", string: r.reason)
        try g.setAttribute("epochs", int: r.epochs)
        try g.setAttribute("seconds", double: r.seconds)
        try g.setAttribute("final_loss", double: r.finalLoss)
        try g.setAttribute("final_val_loss", double: r.finalValidationLoss)
        if let a = r.finalAccuracy { try g.setAttribute("final_accuracy", double: a) }
        try g.setAttribute("solved", int: r.solved ? 1 : 0)
        try g.write("curve", r.curve, shape: [r.curve.count])
        try g.write("val_curve", r.validationCurve, shape: [r.validationCurve.count])
      }
    }
  }

  /// Reads every record of a sweep-results file.
  public static func read(_ path: String) throws -> [SweepRecord] {
    let f = try HDF5File.open(path)
    try checkHeader(f, is: .sweep)
    guard f.exists("runs") else { return [] }
    let runs = try f.group("runs")
    return try runs.childNames().map { name in
      let g = try runs.group(name)
      return SweepRecord(
        name: name, index: try g.integerAttribute("index"), config: try g.stringAttribute("config"),
        status: try g.stringAttribute("status"), reason: try g.stringAttribute("reason"),
        epochs: try g.integerAttribute("epochs"), seconds: try g.numberAttribute("seconds"),
        finalLoss: try g.numberAttribute("final_loss"), finalValidationLoss: try g.numberAttribute("final_val_loss"),
        finalAccuracy: g.hasAttribute("final_accuracy") ? try g.numberAttribute("final_accuracy") : nil,
        solved: try g.integerAttribute("solved") != 0, curve: try g.dataset("curve").read(),
        validationCurve: try g.dataset("val_curve").read())
    }.sorted { $0.index < $1.index }
  }
}
