// `rbp inspect FILE.h5`: recognises each format of SPEC §2 and prints its
// attributes, every dataset's shape, type and summary statistics, and for a
// checkpoint the configuration and the last epoch's metrics. A member that
// cannot be read (a dangling link, a filter this HDF5 lacks, damage) is
// listed as unreadable with the reason, and the rest is still described;
// the command then fails with one line counting them.

import ArgumentParser
import Foundation
import RBPCore
import RBPStore

struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Describe an rbp HDF5 file (or any HDF5 file).")

  @Argument(help: ArgumentHelp("The file.", valueName: "file"))
  var file: String

  func run() throws {
    try reporting {
      let f = try HDF5File.open(file)
      let format = f.hasAttribute("format") ? try f.stringAttribute("format") : "(no format attribute)"
      print("\(file): \(format)")
      try describe(f, indent: "  ")
      if format == FileFormat.checkpoint.rawValue {
        let checkpoint: Checkpoint
        do { checkpoint = try CheckpointFile.read(file) } catch {
          print("  (not a readable checkpoint: \(error))")
          unreadable += 1
          throw CLIFailure(message: "\(file): \(unreadable) members could not be read (marked above)")
        }
        print("  network: \(checkpoint.model), \(checkpoint.shape.units) units, \(checkpoint.shape.inputs) inputs, "
              + "\(checkpoint.shape.outputs) outputs, \(checkpoint.activation), \(checkpoint.loss), "
              + "\(checkpoint.shape.coupling) coupling" + (checkpoint.model == .trajectory ? ", leak \(checkpoint.leak)" : ""))
        if let progress = checkpoint.progress {
          print("  epoch \(progress.epoch), step \(progress.step), learning rate \(format6(progress.learningRate))")
        } else {
          print("  a network without a training run (no /optimizer)")
        }
        if let config = checkpoint.config { print("  config: \(config)") }
        if !checkpoint.history.isEmpty {
          let last = checkpoint.history.byName.sorted { $0.key < $1.key }
            .compactMap { key, values in values.last.map { "\(key) \(format6($0))" } }
          print("  last epoch: " + last.joined(separator: ", "))
        }
      }
      if unreadable > 0 { throw CLIFailure(message: "\(file): \(unreadable) members could not be read (marked above)") }
    }
  }

  /// Members described as unreadable so far.
  private nonisolated(unsafe) static var unreadableCount = 0
  private var unreadable: Int {
    get { Self.unreadableCount }
    nonmutating set { Self.unreadableCount = newValue }
  }

  /// Runs `body`; a failure prints the member as unreadable and is counted.
  func member(_ indent: String, _ name: String, _ body: () throws -> Void) {
    do { try body() } catch {
      print("\(indent)\(name)  (unreadable: \(error))")
      unreadable += 1
    }
  }

  func describe(_ group: HDF5Group, indent: String) throws {
    for name in try group.attributeNames() {
      member(indent, "@" + name) { print("\(indent)@\(name) = \(try attributeText(group, name))") }
    }
    for name in try group.childNames() {
      member(indent, name) {
        if try group.isGroup(name) {
          print("\(indent)\(name)/")
          try describe(try group.group(name), indent: indent + "  ")
        } else {
          print(try datasetLine(try group.dataset(name), name, indent: indent))
        }
      }
    }
  }

  func attributeText(_ group: HDF5Group, _ name: String) throws -> String {
    let (kind, shape) = try group.attributeInfo(name)
    switch kind {
    case .string: return "\"" + (try group.stringAttribute(name)) + "\""
    case .float, .integer:
      let values: [Double] = try group.numericAttribute(name)
      return values.count == 1 ? format6(values[0]) : "\(shape) \(values.prefix(6).map(format6))"
    case .other: return "(unsupported type)"
    }
  }

  /// Name, shape, type, storage and summary statistics.
  func datasetLine(_ d: HDF5Dataset, _ name: String, indent: String) throws -> String {
    let kind = try d.kind
    var line = "\(indent)\(name)  \(try d.shape)  \(kind)\(try d.elementSize * 8)"
    if d.isCompressed { line += " (chunked, deflate)" }
    if kind == .float || kind == .integer {
      let values: [Double] = try d.read()
      if !values.isEmpty {
        let finite = values.filter(\.isFinite)
        let mean = finite.reduce(0, +) / Double(max(finite.count, 1))
        line += "  min \(format6(finite.min() ?? .nan))  max \(format6(finite.max() ?? .nan))  mean \(format6(mean))"
        if finite.count < values.count { line += "  \(values.count - finite.count) non-finite" }
      }
    }
    return line
  }
}

func format6(_ x: Double) -> String { String(format: "%.6g", x) }
