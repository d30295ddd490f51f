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
    var points: [[String: Any]] = []
    if let grid = dict["grid"] {
      guard let grid = grid as? [String: Any] else { throw ConfigError("\(source): 'grid' must be an object of arrays") }
      var combos: [[String: Any]] = [[:]]
      for key in grid.keys.sorted() {
        guard let values = grid[key] as? [Any], !values.isEmpty else {
          throw ConfigError("\(source): grid key '\(key)' must be a non-empty array")
        }
        combos = combos.flatMap { c in values.map { v in c.merging([key: v]) { $1 } } }
      }
      points += combos
    }
    if let list = dict["runs"] {
      guard let list = list as? [[String: Any]] else { throw ConfigError("\(source): 'runs' must be an array of objects") }
      points += list
    }
    if points.isEmpty { points = [[:]] }
    let runs = try points.enumerated().map { (i, point) -> RunConfig in
      let merged = base.merging(point) { $1 }
      return try RunConfig.parse(json: try JSONSerialization.data(withJSONObject: merged), source: "\(source) run \(i)")
    }
    return SweepSpec(data: data, runs: runs)
  }
}

