// Sweep specifications: a dataset, a base configuration, a grid whose
// cartesian product is taken over sorted keys, and/or an explicit list of
// runs. How the runs are planned, sharded, trained and merged is in
// SweepPlan.swift, SweepRunner.swift and SweepResults.swift.

import Foundation
import RBPCore
import RBPKernels
import RBPStore

/// A parsed sweep specification. Its runs are numbered: the grid's points
/// (the cartesian product over the sorted keys, the last key fastest), then
/// the explicit runs. A grid point's configuration is built when it is
/// asked for (`config(at:)`): a grid of a million points holds its axes,
/// not a million configurations.
public struct SweepSpec: Sendable {
  /// The dataset every run trains on.
  public var data: String
  /// The configuration every run starts from.
  public var base: RunConfig
  /// The grid's axes in the order of their keys: the setting, and each of
  /// its values (nil: `null`, which leaves the base's value).
  var axes: [(setting: Setting, values: [SettingValue?])]
  /// The explicit runs, each the base merged with its object.
  var explicit: [RunConfig]

  static let keys = ["data", "base", "grid", "runs"]

  /// The spec's grid points, 0 without a grid.
  var gridCount: Int { axes.isEmpty ? 0 : axes.reduce(1) { $0 * $1.values.count } }

  /// The number of runs: the grid's points and the explicit runs, or 1 (the
  /// base) for a spec with neither.
  public var count: Int { max(gridCount + explicit.count, 1) }

  /// Run `index`'s configuration (0 ≤ index < `count`).
  public func config(at index: Int) -> RunConfig {
    precondition(index >= 0 && index < count, "run \(index) of a sweep of \(count)")
    let grid = gridCount
    if index >= grid { return explicit.isEmpty ? base : explicit[index - grid] }
    var config = base
    var rest = index
    var digits = [Int](repeating: 0, count: axes.count)
    for a in axes.indices.reversed() {
      digits[a] = rest % axes[a].values.count
      rest /= axes[a].values.count
    }
    for (a, axis) in axes.enumerated() {
      if let value = axis.values[digits[a]] { axis.setting.set(value, in: &config) }
    }
    return config
  }

  /// Every run's configuration, in run order (for small sweeps: a large
  /// grid is better walked with `config(at:)`).
  public var runs: [RunConfig] { (0..<count).map(config(at:)) }

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
    guard var data = dict["data"] as? String else {
      throw ConfigError("\(source): missing string key 'data' (the dataset)")
    }
    // A relative path is the spec's own: resolved against the spec's folder,
    // wherever the sweep is started from.
    if !data.hasPrefix("/") {
      let folder = (source as NSString).deletingLastPathComponent
      data = folder.isEmpty ? data : folder + "/" + data
    }
    let base = dict["base"] as? [String: Any] ?? [:]
    if dict["base"] != nil && dict["base"] as? [String: Any] == nil {
      throw ConfigError("\(source): 'base' must be an object")
    }
    // Each value is parsed once, as its own one-key configuration, and
    // kept as the setting's value.
    func config(_ object: [String: Any], _ what: String) throws -> RunConfig {
      try RunConfig.parse(json: try JSONSerialization.data(withJSONObject: object), source: "\(source) \(what)")
    }
    let baseConfig = try config(base, "base")
    var axes: [(setting: Setting, values: [SettingValue?])] = []
    var points = 1
    if let grid = dict["grid"] {
      guard let grid = grid as? [String: Any] else {
        throw ConfigError("\(source): 'grid' must be an object of arrays")
      }
      for key in grid.keys.sorted() {
        guard let values = grid[key] as? [Any], !values.isEmpty else {
          throw ConfigError("\(source): grid key '\(key)' must be a non-empty array")
        }
        guard let setting = RunConfig.setting(named: key) else {
          throw ConfigError(
            "\(source) grid: unknown key '\(key)'; known keys: \(RunConfig.keys.joined(separator: ", "))")
        }
        let parsed = try values.enumerated().map { i, v in
          setting.value(in: try config([key: v], "grid key '\(key)', value \(i + 1)"))
        }
        let (product, overflow) = points.multipliedReportingOverflow(by: parsed.count)
        guard !overflow, product <= maxRuns else {
          throw ConfigError("\(source): the grid has more than \(maxRuns) points")
        }
        points = product
        axes.append((setting, parsed))
      }
    }
    var explicit: [RunConfig] = []
    if let list = dict["runs"] {
      guard let list = list as? [[String: Any]] else {
        throw ConfigError("\(source): 'runs' must be an array of objects")
      }
      let first = axes.isEmpty ? 0 : points
      explicit = try list.enumerated().map { i, point in try config(base.merging(point) { $1 }, "run \(first + i)") }
    }
    return SweepSpec(data: data, base: baseConfig, axes: axes, explicit: explicit)
  }

  /// The largest sweep a spec may describe.
  public static let maxRuns = 100_000_000
}
