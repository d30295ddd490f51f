// The sweep-results format (`format = "rbp-sweep"`): one record per run
// under /runs/<name> (its identity, resolved configuration as JSON, status,
// failure reason, final metrics, epochs, seconds, and the learning curves),
// plus columns at the root in run order for quick loading: /index, /epochs
// (int64), /ok, /solved (int8), /seconds, /final_loss, /final_val_loss,
// /final_accuracy (float64, NaN where there is none), and under /config
// one column per numeric or boolean setting. A record is also one run's
// `result.json` (snake_case keys; NaN and ∞ are written as null).

import Foundation

/// One run's outcome in a sweep.
public struct SweepRecord: Equatable, Sendable {
  /// The run's name, `run-0007`.
  public var name: String
  /// The run's place in the sweep's grid.
  public var index: Int
  /// The run's identity: a hash of its resolved configuration and its data.
  public var hash: String = ""
  /// The run's resolved configuration (as given, if it does not resolve), JSON.
  public var config: String
  /// "done", "failed", or (in a partial merge) "missing" (files of earlier
  /// versions said "ok" for "done"; read as "done").
  public var status: String
  /// Why the run stopped (or failed).
  public var reason: String
  /// Epochs trained.
  public var epochs: Int
  /// Wall time of the run.
  public var seconds: Double
  /// The training loss after the last epoch.
  public var finalLoss: Double
  /// The validation loss after the last epoch.
  public var finalValidationLoss: Double
  /// The validation accuracy after the last epoch, when the metric has one.
  public var finalAccuracy: Double?
  /// Whether the task counted as solved.
  public var solved: Bool
  /// Training loss per epoch.
  public var curve: [Double]
  /// Validation loss per epoch.
  public var validationCurve: [Double]
  /// The epoch with the best validation loss (its parameters in the run's
  /// best.h5), and that loss.
  public var bestEpoch: Int? = nil
  /// The best validation loss.
  public var bestValidationLoss: Double? = nil

  /// "ok", the word of earlier versions, is "done".
  public static func currentStatus(_ status: String) -> String { status == "ok" ? "done" : status }

  /// A record of these values, with no best epoch.
  public init(
    name: String, index: Int, config: String, status: String, reason: String, epochs: Int,
    seconds: Double, finalLoss: Double, finalValidationLoss: Double, finalAccuracy: Double?,
    solved: Bool, curve: [Double], validationCurve: [Double]
  ) {
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

/// Reading and writing a sweep's results (`sweep.h5` and the shards' files, format `rbp-sweep`).
public enum SweepResultsFile {
  /// Writes the records (sorted by index) atomically, with string and
  /// integer root attributes; the same bytes also to `copy`, when given
  /// (built once).
  /// `integerSettings`: the configuration keys whose columns are int64.
  public static func write(
    _ records: [SweepRecord], to path: String, copy: String? = nil, attributes: [String: String] = [:],
    integers: [String: Int] = [:], integerSettings: Set<String> = []
  ) throws {
    let sorted = records.sorted { $0.index < $1.index }
    // Built in memory when small (a few thousand runs of short curves):
    // about 1 KB of settings and names a run, and its two curves.
    let bytes = sorted.reduce(0) { $0 + 1024 + 16 * max($1.curve.count, $1.validationCurve.count) }
    let inMemory = bytes <= 64 << 20
    let body = { (f: HDF5File) throws in
      try f.setAttribute("format", string: FileFormat.sweep.rawValue)
      try f.setAttribute("version", int: FileFormat.version)
      for (k, v) in attributes.sorted(by: { $0.key < $1.key }) { try f.setAttribute(k, string: v) }
      for (k, v) in integers.sorted(by: { $0.key < $1.key }) { try f.setAttribute(k, int: v) }
      try f.setAttribute("runs", int: sorted.count)
      let count = [sorted.count]
      try f.write("index", sorted.map { Int64($0.index) }, shape: count)
      try f.write("epochs", sorted.map { Int64($0.epochs) }, shape: count)
      try f.write("done", sorted.map { $0.status == "done" ? Int8(1) : 0 }, shape: count)
      try f.write("solved", sorted.map { $0.solved ? Int8(1) : 0 }, shape: count)
      try f.write("seconds", sorted.map(\.seconds), shape: count)
      try f.write("final_loss", sorted.map(\.finalLoss), shape: count)
      try f.write("final_val_loss", sorted.map(\.finalValidationLoss), shape: count)
      try f.write("final_accuracy", sorted.map { $0.finalAccuracy ?? .nan }, shape: count)
      try f.write("best_epoch", sorted.map { Int64($0.bestEpoch ?? 0) }, shape: count)
      try f.write("best_val_loss", sorted.map { $0.bestValidationLoss ?? .nan }, shape: count)
      // One column per numeric or boolean setting found in every run's configuration.
      let configs = sorted.map {
        (try? JSONSerialization.jsonObject(with: Data($0.config.utf8))) as? [String: Any] ?? [:]
      }
      if !configs.isEmpty {
        let group = try f.createGroup("config")
        let keys = Set(configs.flatMap(\.keys)).sorted()
        for key in keys {
          let values = configs.map { $0[key] }
          let name = key.replacingOccurrences(of: "-", with: "_")
          // JSON booleans come back as NSNumber of type "c", integers as "i"/"q", fractions as "d".
          func type(_ v: Any?) -> String? { (v as? NSNumber).map { String(cString: $0.objCType) } }
          if values.allSatisfy({ type($0) == "c" }) {
            try group.write(name, values.map { ($0 as! NSNumber).boolValue ? Int8(1) : 0 }, shape: count)
          } else if integerSettings.contains(key), values.allSatisfy({ type($0).map { $0 != "c" } ?? false }) {
            try group.write(name, values.map { ($0 as! NSNumber).int64Value }, shape: count)
          } else if values.allSatisfy({ $0 is NSNumber }) {
            try group.write(name, values.map { ($0 as! NSNumber).doubleValue }, shape: count)
          } else if values.allSatisfy({ $0 == nil || $0 is NSNumber }) {
            try group.write(name, values.map { ($0 as? NSNumber)?.doubleValue ?? .nan }, shape: count)
          }
        }
      }
      try f.createGroup("runs")
      for r in sorted {
        let g = try f.createGroup("runs/\(r.name)")
        try g.setAttribute("index", int: r.index)
        try g.setAttribute("hash", string: r.hash)
        try g.setAttribute("config", string: r.config)
        try g.setAttribute("status", string: r.status)
        try g.setAttribute("reason", string: r.reason)
        try g.setAttribute("epochs", int: r.epochs)
        try g.setAttribute("seconds", double: r.seconds)
        try g.setAttribute("final_loss", double: r.finalLoss)
        try g.setAttribute("final_val_loss", double: r.finalValidationLoss)
        if let best = r.bestEpoch, let loss = r.bestValidationLoss {
          try g.setAttribute("best_epoch", int: best)
          try g.setAttribute("best_val_loss", double: loss)
        }
        if let a = r.finalAccuracy { try g.setAttribute("final_accuracy", double: a) }
        try g.setAttribute("solved", int: r.solved ? 1 : 0)
        try g.write("curve", r.curve, shape: [r.curve.count])
        try g.write("val_curve", r.validationCurve, shape: [r.validationCurve.count])
      }
    }
    if let copy {
      try writeHDF5Atomically(to: path, copy: copy, inMemory: inMemory, body)
    } else {
      try writeHDF5Atomically(to: path, inMemory: inMemory, body)
    }
  }

  /// Reads every record of a sweep-results file.
  public static func read(_ path: String) throws -> [SweepRecord] {
    try records(of: try HDF5File.open(path))
  }

  /// Reads a shard's results file (`results-I-of-N.h5`): its records, if
  /// its attributes `shards` and `spec_hash` (-1 and "" when absent) are
  /// ones `belongs` accepts; nil for a file of another sweep or sharding.
  public static func readShard(
    _ path: String, belongs: (_ shards: Int, _ specHash: String) -> Bool
  ) throws
    -> [SweepRecord]?
  {
    let file = try HDF5File.open(path)
    let shards = file.hasAttribute("shards") ? try file.integerAttribute("shards") : -1
    let spec = file.hasAttribute("spec_hash") ? try file.stringAttribute("spec_hash") : ""
    guard belongs(shards, spec) else { return nil }
    return try records(of: file)
  }

  static func records(of f: HDF5File) throws -> [SweepRecord] {
    try checkHeader(f, is: .sweep)
    guard f.exists("runs") else { return [] }
    let runs = try f.group("runs")
    return try runs.childNames().map { name in
      let g = try runs.group(name)
      var record = SweepRecord(
        name: name, index: try g.integerAttribute("index"), config: try g.stringAttribute("config"),
        status: SweepRecord.currentStatus(try g.stringAttribute("status")), reason: try g.stringAttribute("reason"),
        epochs: try g.integerAttribute("epochs"), seconds: try g.numberAttribute("seconds"),
        finalLoss: try g.numberAttribute("final_loss"), finalValidationLoss: try g.numberAttribute("final_val_loss"),
        finalAccuracy: g.hasAttribute("final_accuracy") ? try g.numberAttribute("final_accuracy") : nil,
        solved: try g.integerAttribute("solved") != 0, curve: try g.dataset("curve").read(),
        validationCurve: try g.dataset("val_curve").read())
      if g.hasAttribute("hash") { record.hash = try g.stringAttribute("hash") }
      if g.hasAttribute("best_epoch") {
        record.bestEpoch = try g.integerAttribute("best_epoch")
        record.bestValidationLoss = try g.numberAttribute("best_val_loss")
      }
      guard record.index >= 0 else { throw g.fail("attribute 'index' is \(record.index), expected a run index >= 0") }
      guard record.epochs >= 0 else { throw g.fail("attribute 'epochs' is \(record.epochs), expected >= 0") }
      return record
    }.sorted { $0.index < $1.index }
  }
}

extension SweepRecord {
  /// The record as `result.json` holds it: snake_case keys, `config` as an
  /// object, non-finite numbers as null.
  public var jsonObject: [String: Any] {
    func number(_ x: Double) -> Any { x.isFinite ? x : NSNull() }
    let config = (try? JSONSerialization.jsonObject(with: Data(self.config.utf8))) ?? self.config
    return [
      "name": name, "index": index, "hash": hash, "config": config, "status": status, "reason": reason,
      "epochs": epochs, "seconds": number(seconds), "final_loss": number(finalLoss),
      "final_val_loss": number(finalValidationLoss), "final_accuracy": finalAccuracy.map(number) ?? NSNull(),
      "solved": solved, "curve": curve.map(number), "val_curve": validationCurve.map(number),
      "best_epoch": bestEpoch ?? NSNull(), "best_val_loss": bestValidationLoss.map(number) ?? NSNull(),
    ]
  }

  /// `jsonObject` as text, keys sorted, numbers in Swift's shortest form,
  /// which reads back as the same double (JSONSerialization's writer may
  /// drop a last digit, and a rerun that reads the result back would then
  /// record another number than the run computed). The configuration is
  /// its own text (canonical JSON), not a reparse of it.
  ///
  /// Written field by field: through `jsonObject` and `jsonText` (the
  /// reference it is tested against), a sweep run spent as long on this
  /// text as on a third of its training, casting `Any`s.
  public func jsonData() throws -> Data {
    guard config.hasPrefix("{") && config.hasSuffix("}") else { return Data(jsonText(jsonObject).utf8) }
    func number(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
    func numbers(_ xs: [Double]) -> String { "[" + xs.map(number).joined(separator: ",") + "]" }
    func quoted(_ text: String) -> String { jsonQuoted(text, escapingSlashes: false) }
    let fields: [(String, String)] = [
      ("best_epoch", bestEpoch.map { "\($0)" } ?? "null"),
      ("best_val_loss", bestValidationLoss.map(number) ?? "null"),
      ("config", config), ("curve", numbers(curve)), ("epochs", "\(epochs)"),
      ("final_accuracy", finalAccuracy.map(number) ?? "null"), ("final_loss", number(finalLoss)),
      ("final_val_loss", number(finalValidationLoss)), ("hash", quoted(hash)), ("index", "\(index)"),
      ("name", quoted(name)), ("reason", quoted(reason)), ("seconds", number(seconds)),
      ("solved", solved ? "true" : "false"), ("status", quoted(status)), ("val_curve", numbers(validationCurve)),
    ]
    return Data(("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}").utf8)
  }

  /// Reads `result.json`; nil when it is not a record (damaged, or from
  /// another version).
  public init?(json data: Data) {
    // JSONDecoder reads numbers exactly (JSONSerialization's reader may
    // change a last digit, and a rerun would then record another number).
    guard let r = try? JSONDecoder().decode(ResultJSON.self, from: data) else { return nil }
    let config =
      r.config.map { values in
        "{"
          + values.keys.sorted().map { jsonQuoted($0, escapingSlashes: true) + ":" + values[$0]!.canonical }
          .joined(separator: ",") + "}"
      } ?? "{}"
    self.init(
      name: r.name, index: r.index, config: config, status: Self.currentStatus(r.status), reason: r.reason,
      epochs: r.epochs, seconds: r.seconds ?? .nan, finalLoss: r.final_loss ?? .nan,
      finalValidationLoss: r.final_val_loss ?? .nan, finalAccuracy: r.final_accuracy, solved: r.solved,
      curve: (r.curve ?? []).map { $0 ?? .nan }, validationCurve: (r.val_curve ?? []).map { $0 ?? .nan })
    self.hash = r.hash
    bestEpoch = r.best_epoch
    bestValidationLoss = r.best_val_loss
  }

}

/// JSON text written as it is.
struct RawJSON { var text: String }

/// JSON text of a value made of dictionaries (keys sorted), arrays,
/// strings, booleans, integers, doubles (shortest round-trip form) and
/// NSNull.
func jsonText(_ value: Any) -> String {
  switch value {
  case let raw as RawJSON: return raw.text
  case is NSNull: return "null"
  case let b as Bool where (value as? NSNumber).map({ String(cString: $0.objCType) == "c" }) ?? true:
    return b ? "true" : "false"
  case let n as NSNumber where ["d", "f"].contains(String(cString: n.objCType)):
    return n.doubleValue.isFinite ? "\(n.doubleValue)" : "null"
  case let i as Int: return "\(i)"
  case let d as Double: return d.isFinite ? "\(d)" : "null"
  case let n as NSNumber: return n.stringValue
  case let s as String: return jsonQuoted(s, escapingSlashes: false)
  case let a as [Any]: return "[" + a.map(jsonText).joined(separator: ",") + "]"
  case let o as [String: Any]:
    return "{"
      + o.keys.sorted().map { jsonQuoted($0, escapingSlashes: false) + ":" + jsonText(o[$0]!) }.joined(separator: ",")
      + "}"
  default: return jsonQuoted("\(value)", escapingSlashes: false)
  }
}

/// `text` as a JSON string: quotes, backslashes and control characters
/// escaped (\b \f \n \r \t by name, others as \u00XX), and "/" too when
/// `escapingSlashes`, as JSONEncoder writes it (run identities hash that
/// text; --json output leaves slashes as they are).
public func jsonQuoted(_ text: String, escapingSlashes: Bool) -> String {
  // Most texts (names of choices, of files) need no escape: copied whole.
  if text.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C && ($0 != 0x2F || !escapingSlashes) }) {
    return "\"" + text + "\""
  }
  var out = "\""
  for scalar in text.unicodeScalars {
    switch scalar {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "/" where escapingSlashes: out += "\\/"
    case "\n": out += "\\n"
    case "\r": out += "\\r"
    case "\t": out += "\\t"
    case "\u{08}": out += "\\b"
    case "\u{0C}": out += "\\f"
    case let c where c.value < 0x20:
      let hex = String(c.value, radix: 16)
      out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
    default: out.unicodeScalars.append(scalar)
    }
  }
  return out + "\""
}

/// `result.json` as JSONDecoder reads it.
private struct ResultJSON: Decodable {
  var name: String, index: Int, hash: String, status: String, reason: String, epochs: Int, solved: Bool
  var seconds: Double?, final_loss: Double?, final_val_loss: Double?, final_accuracy: Double?
  var curve: [Double?]?, val_curve: [Double?]?, best_epoch: Int?, best_val_loss: Double?
  var config: [String: ConfigScalar]?

  /// A configuration value, written back as the canonical configuration
  /// JSON writes it (integers bare, doubles without a trailing ".0").
  enum ConfigScalar: Decodable {
    case integer(Int)
    case number(Double)
    case text(String)
    case flag(Bool)
    init(from decoder: Decoder) throws {
      let c = try decoder.singleValueContainer()
      if let b = try? c.decode(Bool.self) {
        self = .flag(b)
      } else if let i = try? c.decode(Int.self) {
        self = .integer(i)
      } else if let d = try? c.decode(Double.self) {
        self = .number(d)
      } else {
        self = .text(try c.decode(String.self))
      }
    }
    var canonical: String {
      switch self {
      case .integer(let i): return "\(i)"
      case .number(let d):
        var t = "\(d)"
        if t.hasSuffix(".0") { t.removeLast(2) }
        return t
      case .text(let s): return jsonQuoted(s, escapingSlashes: true)
      case .flag(let b): return b ? "true" : "false"
      }
    }
  }
}
