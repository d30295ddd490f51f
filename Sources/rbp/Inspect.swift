// `rbp inspect FILE.h5`: recognises each format of SPEC §2 and prints its
// attributes, every dataset's shape, type and summary statistics, and for a
// checkpoint the configuration and the last epoch's metrics. A member that
// cannot be read (a dangling link, a filter this HDF5 lacks, damage) is
// listed as unreadable with the reason, and the rest is still described;
// the command then fails with one line counting them.

import ArgumentParser
import Foundation
import RBPCore
import RBPKernels
import RBPStore

struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "inspect", abstract: "Describe an rbp HDF5 file (or any HDF5 file).")

  @Argument(help: ArgumentHelp("The file.", valueName: "file"))
  var file: String

  @Flag(help: "Print the description as one JSON object.")
  var json = false

  /// One line of the description: an attribute, a group or a dataset.
  struct Entry {
    var path: String
    var depth: Int
    enum Kind { case attribute, group, dataset, unreadable }
    var kind: Kind
    var text: String  // the value, or the dataset's summary, or the reason
    var object: [String: Any?]
  }

  func run() throws {
    try reporting {
      let f = try HDF5File.open(file)
      let format = f.hasAttribute("format") ? try f.stringAttribute("format") : nil
      var entries: [Entry] = []
      try describe(f, path: "", depth: 1, into: &entries)
      var network: [String: Any?]? = nil
      var lines: [String] = []
      if format == FileFormat.checkpoint.rawValue {
        do {
          let checkpoint = try CheckpointFile.read(file)
          network = [
            "model": checkpoint.model.rawValue, "units": checkpoint.shape.units, "inputs": checkpoint.shape.inputs,
            "outputs": checkpoint.shape.outputs, "activation": checkpoint.activation.rawValue,
            "loss": checkpoint.loss.rawValue, "coupling": checkpoint.shape.coupling.rawValue,
            "leak": checkpoint.model == .trajectory ? checkpoint.leak : nil,
            "epoch": checkpoint.progress?.epoch, "step": checkpoint.progress?.step,
            "lr": checkpoint.progress?.learningRate, "best_epoch": checkpoint.bestEpoch,
            "best_val_loss": checkpoint.bestValidationLoss, "validation": checkpoint.validation,
          ]
          lines.append(
            "  network: \(checkpoint.model), \(checkpoint.shape.units) units, \(checkpoint.shape.inputs) inputs, "
              + "\(checkpoint.shape.outputs) outputs, \(checkpoint.activation), \(checkpoint.loss), "
              + "\(checkpoint.shape.coupling) coupling"
              + (checkpoint.model == .trajectory ? ", leak \(checkpoint.leak)" : ""))
          if let progress = checkpoint.progress {
            lines.append(
              "  epoch \(progress.epoch), step \(progress.step), learning rate \(format6(progress.learningRate))"
                + (checkpoint.bestEpoch.map { ", best epoch \($0)" } ?? ""))
          } else {
            lines.append("  a network without a training run (no /optimizer)")
          }
          if let config = checkpoint.config { lines.append("  config: \(config)") }
          if !checkpoint.history.isEmpty {
            let last = checkpoint.history.byName.sorted { $0.key < $1.key }
              .compactMap { key, values in values.last.map { "\(key) \(format6($0))" } }
            lines.append("  last epoch: " + last.joined(separator: ", "))
          }
        } catch {
          entries.append(
            Entry(
              path: "", depth: 1, kind: .unreadable, text: "(not a readable checkpoint: \(error))",
              object: ["path": "/", "unreadable": "not a readable checkpoint: \(error)"]))
        }
      }
      let unreadable = entries.filter { $0.kind == .unreadable }.count
      if json {
        var object: [String: Any?] = [
          "file": file, "format": format,
          "attributes": Dictionary(
            uniqueKeysWithValues: entries.filter { $0.kind == .attribute && $0.depth == 1 }
              .map { (String($0.path.dropFirst(2)), $0.object["value"] ?? nil) }),
          "members": entries.filter { $0.kind != .attribute || $0.depth > 1 }.map { $0.object },
          "unreadable": unreadable,
        ]
        if let network { object["network"] = network }
        writeLine(jsonLine(object))
      } else {
        print("\(file): \(format ?? "(no format attribute)")")
        for e in entries {
          let indent = String(repeating: "  ", count: e.depth)
          let name = e.path.split(separator: "/").last.map(String.init) ?? e.path
          switch e.kind {
          case .attribute: print("\(indent)@\(name.dropFirst()) = \(e.text)")
          case .group: print("\(indent)\(name)/")
          case .unreadable where e.path.isEmpty: print("  \(e.text)")
          case .unreadable: print("\(indent)\(name)  (unreadable: \(e.text))")
          case .dataset: print("\(indent)\(name)  \(e.text)")
          }
        }
        for line in lines { print(line) }
      }
      if unreadable > 0 { throw CLIFailure(message: "\(file): \(unreadable) members could not be read (marked above)") }
    }
  }

  /// Appends the entries of `group` (attributes first, then members, each
  /// group's contents after it); a member that cannot be read is an
  /// "unreadable" entry with the reason.
  func describe(_ group: HDF5Group, path: String, depth: Int, into entries: inout [Entry]) throws {
    for name in try group.attributeNames() {
      let at = path + "/@" + name
      do {
        let (text, value) = try attribute(group, name)
        entries.append(
          Entry(
            path: at, depth: depth, kind: .attribute, text: text,
            object: ["path": at, "kind": "attribute", "value": value]))
      } catch {
        entries.append(
          Entry(
            path: at, depth: depth, kind: .unreadable, text: "\(error)",
            object: ["path": at, "unreadable": "\(error)"]))
      }
    }
    for name in try group.childNames() {
      let member = path + "/" + name
      do {
        if try group.isGroup(name) {
          entries.append(
            Entry(path: member, depth: depth, kind: .group, text: "", object: ["path": member, "kind": "group"]))
          try describe(try group.group(name), path: member, depth: depth + 1, into: &entries)
        } else {
          let (text, object) = try summary(try group.dataset(name))
          var o = object
          o["path"] = member
          o["kind"] = "dataset"
          entries.append(Entry(path: member, depth: depth, kind: .dataset, text: text, object: o))
        }
      } catch {
        entries.append(
          Entry(
            path: member, depth: depth, kind: .unreadable, text: "\(error)",
            object: ["path": member, "unreadable": "\(error)"]))
      }
    }
  }

  /// An attribute's text and its value for JSON.
  func attribute(_ group: HDF5Group, _ name: String) throws -> (String, Any?) {
    let (kind, shape) = try group.attributeInfo(name)
    switch kind {
    case .string:
      let v = try group.stringAttribute(name)
      return ("\"" + v + "\"", v)
    case .float, .integer:
      let values: [Double] = try group.numericAttribute(name)
      if values.count == 1 {
        return (format6(values[0]), kind == .integer ? Int(exactly: values[0]) ?? values[0] : values[0])
      }
      return ("\(shape) \(values.prefix(6).map(format6))", values)
    case .other: return ("(unsupported type)", nil)
    }
  }

  /// A dataset's shape, type, storage and summary statistics.
  func summary(_ d: HDF5Dataset) throws -> (String, [String: Any?]) {
    let kind = try d.kind, shape = try d.shape
    let type = "\(kind)\(try d.elementSize * 8)"
    var line = "\(shape)  \(type)"
    var object: [String: Any?] = ["shape": shape, "type": type, "compressed": d.isCompressed]
    if d.isCompressed { line += " (chunked, deflate)" }
    if kind == .float || kind == .integer {
      if let stats = ArrayStatistics(try d.read()) {
        line += "  min \(format6(stats.min))  max \(format6(stats.max))  mean \(format6(stats.mean))"
        if stats.nonFinite > 0 { line += "  \(stats.nonFinite) non-finite" }
        object["min"] = stats.min
        object["max"] = stats.max
        object["mean"] = stats.mean
        object["non_finite"] = stats.nonFinite
      }
    }
    return (line, object)
  }
}

func format6(_ x: Double) -> String { String(format: "%.6g", x) }
