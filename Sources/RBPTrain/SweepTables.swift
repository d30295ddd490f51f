// Reading a sweep as a researcher would in pandas: the best runs by a
// column, or the mean ± standard deviation of that column per group of
// runs that share a setting (seeds averaged out), and one row per run and
// epoch for learning curves. Built on `SweepFolder.table()`, so every
// column of `rbp sweep export` can rank or group.

import Foundation
import RBPStore

/// One group of `SweepFolder.best(by:groupBy:)`: the setting's value, the
/// runs in it and the statistics of the ranked column.
public struct SweepGroup: Sendable {
  /// The setting's value the group shares.
  public var value: String
  /// Runs in the group.
  public var runs: Int
  /// The mean of the ranked column.
  public var mean: Double
  /// Sample standard deviation (n − 1); 0 for one run.
  public var sd: Double
  /// The best value of the ranked column.
  public var best: Double
  /// The run that has it.
  public var bestRun: String
}

extension SweepFolder {
  /// Whether larger values of `column` are better (accuracy, solved).
  public static func higherIsBetter(_ column: String) -> Bool {
    column.contains("accuracy") || column == "solved"
  }

  /// The finished runs (status done) ranked by `column`, best first (ties
  /// by run order): their rows of `table()`.
  public func best(by column: String, count: Int) throws -> (columns: [String], rows: [[Any]]) {
    let (columns, rows) = table()
    guard let c = columns.firstIndex(of: column) else {
      throw ConfigError("--by \(column): not a column of this sweep; columns: \(columns.joined(separator: ", "))")
    }
    let status = columns.firstIndex(of: "status")!
    let ranked = rows.enumerated()
      .filter { ($0.element[status] as? String) == RunState.done.rawValue && number($0.element[c]) != nil }
      .sorted { a, b in
        let (x, y) = (number(a.element[c])!, number(b.element[c])!)
        if x != y { return Self.higherIsBetter(column) ? x > y : x < y }
        return a.offset < b.offset
      }
    return (columns, ranked.prefix(count).map(\.element))
  }

  /// The finished runs grouped by the value of `groupBy`, with the mean,
  /// standard deviation and best of `column`, best group first.
  public func groups(by groupBy: String, of column: String) throws -> [SweepGroup] {
    let (columns, rows) = table()
    guard let g = columns.firstIndex(of: groupBy) else {
      throw ConfigError(
        "--group-by \(groupBy): not a column of this sweep; columns: \(columns.joined(separator: ", "))")
    }
    guard let c = columns.firstIndex(of: column) else {
      throw ConfigError("--by \(column): not a column of this sweep; columns: \(columns.joined(separator: ", "))")
    }
    let status = columns.firstIndex(of: "status")!, name = columns.firstIndex(of: "name")!
    var order: [String] = []
    var members: [String: [(String, Double)]] = [:]
    for row in rows where (row[status] as? String) == RunState.done.rawValue {
      guard let v = number(row[c]) else { continue }
      let key = cellText(row[g])
      if members[key] == nil { order.append(key) }
      members[key, default: []].append((row[name] as? String ?? "", v))
    }
    let higher = Self.higherIsBetter(column)
    let groups = order.map { key -> SweepGroup in
      let values = members[key]!.map(\.1)
      let mean = values.reduce(0, +) / Double(values.count)
      let sd =
        values.count > 1
        ? (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)).squareRoot() : 0
      let best = members[key]!.min { higher ? $0.1 > $1.1 : $0.1 < $1.1 }!
      return SweepGroup(value: key, runs: values.count, mean: mean, sd: sd, best: best.1, bestRun: best.0)
    }
    return groups.enumerated().sorted { a, b in
      if a.element.mean != b.element.mean {
        return higher ? a.element.mean > b.element.mean : a.element.mean < b.element.mean
      }
      return a.offset < b.offset
    }.map(\.element)
  }

  /// One row per run and epoch: name, index, status, epoch, train_loss, val_loss,
  /// then the run's resolved settings (the columns of `table()` after
  /// "best_val_loss").
  public func longTable() -> (columns: [String], rows: [[Any]]) {
    let (columns, rows) = table()
    let settingsStart = (columns.firstIndex(of: "best_val_loss") ?? columns.count - 1) + 1
    let settings = Array(columns[settingsStart...])
    var out: [[Any]] = []
    for (i, entry) in manifest.runs.enumerated() {
      guard let r = results[entry.index] else { continue }
      let rest = Array(rows[i][settingsStart...])
      for (e, loss) in r.curve.enumerated() {
        let val = e < r.validationCurve.count ? r.validationCurve[e] : .nan
        out.append([entry.name, entry.index, state(entry.index).rawValue, e + 1, finite(loss), finite(val)] + rest)
      }
    }
    return (["name", "index", "status", "epoch", "train_loss", "val_loss"] + settings, out)
  }
}

/// A cell as a number, when it is one.
func number(_ v: Any) -> Double? {
  if v is NSNull || v is String { return nil }
  if let b = v as? Bool, (v as? NSNumber).map({ String(cString: $0.objCType) == "c" }) ?? true { return b ? 1 : 0 }
  if let d = v as? Double { return d.isFinite ? d : nil }
  if let i = v as? Int { return Double(i) }
  return (v as? NSNumber)?.doubleValue
}

func finite(_ x: Double) -> Any { x.isFinite ? x : NSNull() }

/// A cell as CSV and the tables print it: numbers in their shortest
/// round-trip form, booleans as true/false, nothing as "".
public func cellText(_ v: Any) -> String {
  switch v {
  case is NSNull: return ""
  case let b as Bool where (v as? NSNumber).map({ String(cString: $0.objCType) == "c" }) ?? true:
    return b ? "true" : "false"
  case let n as NSNumber where ["d", "f"].contains(String(cString: n.objCType)): return "\(n.doubleValue)"
  case let n as NSNumber: return n.stringValue
  case let d as Double: return "\(d)"
  case let i as Int: return "\(i)"
  default: return "\(v)"
  }
}
