// Sweep specifications: a dataset, a base configuration, a grid whose
// cartesian product is taken over sorted keys, and/or an explicit list of
// runs. How the runs are planned, sharded, trained and merged is in
// SweepPlan.swift, SweepRunner.swift and SweepResults.swift.

import Foundation
import RBPCore
import RBPKernels
import RBPStore

/// A parsed sweep specification.
public struct SweepSpec: Sendable {
  /// The dataset every run trains on.
  public var data: String
  /// The runs' configurations, in run order.
  public var runs: [RunConfig]

  static let keys = ["data", "base", "grid", "runs"]

  /// Parses a spec strictly; a relative `data` path is resolved against
  /// the spec's folder.
  public static func parse(json: Data, source: String) throws -> SweepSpec {
    let object: Any
    do { object = try JSONSerialization.jsonObject(with: json) } catch {
      throw ConfigError("\(source): not valid JSON (\(jsonErrorLocation(error)))")
    }
    guard let dict = object as? [String: Any] else {
      throw ConfigError("\(source): expected a JSON object with keys \(keys.joined(separator: ", "))")
    }
    if let key = duplicateJSONKey(in: json) { throw ConfigError("\(source): key '\(key)' is given twice") }
    if let unknown = dict.keys.sorted().first(where: { !keys.contains($0) }) {
      throw ConfigError("\(source): unknown key '\(unknown)'; expected \(keys.joined(separator: ", "))")
    }
    guard var data = dict["data"] as? String else { throw ConfigError("\(source): missing string key 'data' (the dataset)") }
    // A relative path is the spec's own: resolved against the spec's folder,
    // wherever the sweep is started from.
    if !data.hasPrefix("/") {
      let folder = (source as NSString).deletingLastPathComponent
      data = folder.isEmpty ? data : folder + "/" + data
    }
    let base = dict["base"] as? [String: Any] ?? [:]
    if dict["base"] != nil && dict["base"] as? [String: Any] == nil { throw ConfigError("\(source): 'base' must be an object") }
    // Each value is parsed once, as its own one-key configuration, and the
    // runs are the base overridden by one value per grid key (the
    // cartesian product over the sorted keys, the last key fastest).
    func config(_ object: [String: Any], _ what: String) throws -> RunConfig {
      try RunConfig.parse(json: try JSONSerialization.data(withJSONObject: object), source: "\(source) \(what)")
    }
    let baseConfig = try config(base, "base")
    var runs: [RunConfig] = []
    if let grid = dict["grid"] {
      guard let grid = grid as? [String: Any] else { throw ConfigError("\(source): 'grid' must be an object of arrays") }
      var axes: [[RunConfig]] = []
      for key in grid.keys.sorted() {
        guard let values = grid[key] as? [Any], !values.isEmpty else {
          throw ConfigError("\(source): grid key '\(key)' must be a non-empty array")
        }
        axes.append(try values.enumerated().map { i, v in try config([key: v], "grid key '\(key)', value \(i + 1)") })
      }
      var combos = [baseConfig]
      for axis in axes { combos = combos.flatMap { c in axis.map { c.overridden(by: $0) } } }
      runs += combos
    }
    if let list = dict["runs"] {
      guard let list = list as? [[String: Any]] else { throw ConfigError("\(source): 'runs' must be an array of objects") }
      let first = runs.count
      runs += try list.enumerated().map { i, point in try config(base.merging(point) { $1 }, "run \(first + i)") }
    }
    if runs.isEmpty { runs = [baseConfig] }
    return SweepSpec(data: data, runs: runs)
  }
}

