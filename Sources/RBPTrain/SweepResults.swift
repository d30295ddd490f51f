// What a sweep folder holds, against its manifest: which runs are done,
// failed, being trained or missing (`status`); the shards' results joined
// into OUT/sweep.h5, refused while runs are missing unless partial
// (`merge`); and one row per run with its resolved settings as columns
// (`export`, CSV or JSON).
//
// A run's result comes from its shard's file, or, for runs a shard has
// not reported (a shard still running, or killed), from the run's own
// result.json. Either counts only with the identity the manifest gives the
// run; shard files of another split or another spec are refused.

import Foundation
import RBPStore

/// The state of one run of a sweep folder.
public enum RunState: String, Sendable, CaseIterable {
  /// Finished, with its results.
  case done
  /// Ended in an error, recorded in its results.
  case failed
  /// Started, with no results yet.
  case running
  /// Not started.
  case missing
}

/// A sweep folder's runs against its manifest.
public struct SweepFolder: Sendable {
  /// The folder.
  public var folder: String
  /// Its manifest: the runs the sweep has.
  public var manifest: SweepManifest
  /// The result of each run that has one of its identity, by index.
  public var results: [Int: SweepRecord]
  /// Runs whose lock is held, by index: "host pid".
  public var running: [Int: String]
  /// Shard files that belong to another split or another spec.
  public var strayFiles: [String]

  /// Reads `folder`: its manifest, shard files, run results and locks.
  public static func read(_ folder: String) throws -> SweepFolder {
    let manifest = try SweepManifest.read(from: folder)
    var results: [Int: SweepRecord] = [:]
    var stray: [String] = []
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    for name in names.sorted() where name.hasPrefix("results-") && name.hasSuffix(".h5") {
      guard
        let records = try SweepResultsFile.readShard(
          folder + "/" + name,
          belongs: {
            $0 == manifest.shards && $1 == manifest.specHash
          })
      else {
        stray.append(name)
        continue
      }
      for r in records where (0..<manifest.runs.count).contains(r.index) && r.hash == manifest.runs[r.index].hash {
        results[r.index] = r
      }
    }
    var running: [Int: String] = [:]
    for entry in manifest.runs {
      let dir = folder + "/runs/" + entry.name
      if results[entry.index] == nil, let data = FileManager.default.contents(atPath: dir + "/result.json"),
        let r = SweepRecord(json: data), r.hash == entry.hash
      {
        results[entry.index] = r
      }
      if let holder = RunLock.holder(dir + "/lock") { running[entry.index] = holder }
    }
    return SweepFolder(folder: folder, manifest: manifest, results: results, running: running, strayFiles: stray)
  }

  /// The state of run `index`.
  public func state(_ index: Int) -> RunState {
    if let r = results[index] { return r.status == "done" ? .done : .failed }
    return running[index] != nil ? .running : .missing
  }

  /// Counts of each state per shard (index = shard).
  public var counts: [[RunState: Int]] {
    var table = [[RunState: Int]](repeating: [:], count: manifest.shards)
    for entry in manifest.runs { table[entry.shard][state(entry.index), default: 0] += 1 }
    return table
  }

  /// Joins every run's result into OUT/sweep.h5. Refuses stray shard files,
  /// and runs without a result unless `partial` (they are then written with
  /// status "missing", and the file's attribute `complete` is 0).
  public func merge(partial: Bool) throws -> [SweepRecord] {
    if let stray = strayFiles.first {
      throw ConfigError(
        "\(folder)/\(stray): results of another split or another spec than \(SweepManifest.fileName) "
          + "(\(manifest.shards) shards); remove it, or rerun that shard")
    }
    let missing = manifest.runs.filter { results[$0.index] == nil }
    if !missing.isEmpty && !partial {
      var perShard: [Int: Int] = [:]
      for entry in missing { perShard[entry.shard, default: 0] += 1 }
      let detail = perShard.keys.sorted().prefix(6).map { s in
        "shard \(s)/\(manifest.shards): \(perShard[s]!)"
          + (FileManager.default.fileExists(atPath: "\(folder)/results-\(s)-of-\(manifest.shards).h5")
            ? "" : " (no results file)")
      }.joined(separator: ", ")
      let busy = missing.filter { running[$0.index] != nil }.count
      throw ConfigError(
        "\(folder): \(missing.count) of \(manifest.runs.count) runs have no result (\(detail)"
          + (perShard.count > 6 ? ", …" : "") + ")" + (busy > 0 ? "; \(busy) are being trained" : "")
          + "; merge what is there with --partial")
    }
    let records = manifest.runs.map { entry in
      results[entry.index]
        ?? {
          var r = SweepRecord(
            name: entry.name, index: entry.index, config: "{}", status: "missing",
            reason: running[entry.index].map { "being trained by \($0)" } ?? "no result",
            epochs: 0, seconds: .nan, finalLoss: .nan, finalValidationLoss: .nan, finalAccuracy: nil,
            solved: false, curve: [], validationCurve: [])
          r.hash = entry.hash
          return r
        }()
    }
    try SweepResultsFile.write(
      records, to: folder + "/sweep.h5",
      attributes: ["data": manifest.data, "spec_hash": manifest.specHash],
      integers: ["complete": missing.isEmpty ? 1 : 0, "missing": missing.count],
      integerSettings: RunConfig.integerKeys)
    return records
  }

  /// One row per run, in run order: name, index, hash, state, reason,
  /// epochs trained, seconds, final metrics, then every resolved setting
  /// (snake_case; `epochs` is the setting).
  public func table() -> (columns: [String], rows: [[Any]]) {
    let fixed = [
      "name", "index", "hash", "status", "reason", "epochs_trained", "seconds", "final_loss", "final_val_loss",
      "final_accuracy", "solved", "best_epoch", "best_val_loss",
    ]
    let configs: [[String: Any]] = manifest.runs.map { entry in
      guard let r = results[entry.index] else { return [:] }
      // JSONDecoder: exact numbers (JSONSerialization's reader may change a last digit).
      let values = (try? JSONDecoder().decode([String: SettingValue].self, from: Data(r.config.utf8))) ?? [:]
      return values.mapValues { v -> Any in
        switch v {
        case .integer(let i): return i
        case .number(let d): return d
        case .text(let t): return t
        case .flag(let b): return b
        }
      }
    }
    let keys = Set(configs.flatMap(\.keys)).sorted()
    let rows: [[Any]] = manifest.runs.map { entry in
      let r = results[entry.index]
      func number(_ x: Double?) -> Any { x.flatMap { $0.isFinite ? $0 : nil } ?? NSNull() }
      let head: [Any] = [
        entry.name, entry.index, entry.hash, state(entry.index).rawValue,
        r?.reason ?? (running[entry.index].map { "being trained by \($0)" } ?? ""),
        r.map { $0.epochs as Any } ?? NSNull(), number(r?.seconds), number(r?.finalLoss),
        number(r?.finalValidationLoss), number(r?.finalAccuracy), r.map { $0.solved as Any } ?? NSNull(),
        r?.bestEpoch.map { $0 as Any } ?? NSNull(), number(r?.bestValidationLoss),
      ]
      return head + keys.map { configs[entry.index][$0] ?? NSNull() }
    }
    return (fixed + keys.map { $0.replacingOccurrences(of: "-", with: "_") }, rows)
  }

  /// The table as CSV (RFC 4180 quoting; empty cells for nothing).
  public func csv() -> String { Self.csv(table()) }

  /// A table as CSV (RFC 4180 quoting; numbers in their shortest form).
  public static func csv(_ t: (columns: [String], rows: [[Any]])) -> String {
    func cell(_ v: Any) -> String {
      let text = cellText(v)
      return text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
        ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }
    return ([t.columns.joined(separator: ",")] + t.rows.map { $0.map(cell).joined(separator: ",") }).joined(
      separator: "\n") + "\n"
  }

  /// The table as a JSON array of objects.
  public func json() throws -> Data { try Self.json(table()) }

  /// A table as a JSON array of objects.
  public static func json(_ t: (columns: [String], rows: [[Any]])) throws -> Data {
    let (columns, rows) = t
    let objects = rows.map { Dictionary(uniqueKeysWithValues: zip(columns, $0)) }
    return try JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys])
  }
}
