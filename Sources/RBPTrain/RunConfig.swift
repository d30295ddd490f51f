// The configuration of one training run: every setting `rbp train` takes,
// with the flag names as JSON keys. A JSON config is read strictly (unknown
// keys and out-of-range values are errors naming them); flags override it;
// the resolved configuration is stored in the checkpoint as JSON.

import Foundation
import RBPCore
import RBPKernels
import RBPStore

/// An error in a configuration: names the key (or flag) and the value.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// Everything that defines a run. Optional fields fall back to defaults
/// that depend on the model or the dataset (see `resolved`).
public struct RunConfig: Codable, Equatable, Sendable {
  public var model: ModelKind?
  public var units: Int?
  public var activation: Activation?
  public var loss: Loss?
  public var coupling: Coupling?
  public var leak: Double?
  public var gain: Double?
  /// Forward solver (steady): auto, iterate, anderson, newton.
  public var solver: String?
  public var damping: Double?
  public var memory: Int?
  public var tolerance: Double?
  public var maxIterations: Int?
  /// Adjoint solver (steady): auto, iterate, neumann, direct, gmres.
  public var adjoint: String?
  public var terms: Int?
  public var restart: Int?
  public var adjointTolerance: Double?
  /// BPTT mode (trajectory): full, checkpointed, truncated.
  public var bptt: String?
  public var window: Int?
  public var optimizer: OptimizerKind?
  public var lr: Double?
  public var momentum: Double?
  public var beta2: Double?
  public var clip: Double?
  public var weightDecay: Double?
  /// Multiply the learning rate by this after every epoch (1 = constant).
  public var lrDecay: Double?
  public var epochs: Int?
  public var batch: Int?
  public var seed: UInt64?
  public var threads: Int?
  public var precision: String?
  /// Save a checkpoint every this many epochs (and always at the end).
  public var checkpointEvery: Int?
  /// Stop early once the validation loss is at most this.
  public var targetLoss: Double?
  /// Stop early once the dataset's task counts as solved (classic tasks).
  public var stopWhenSolved: Bool?
  /// Steady: start each training step's solves from the pattern's last
  /// fixed point rather than its initial state (faster; may settle a
  /// pattern in another basin than relaxation from the initial state).
  public var warmStart: Bool?
  /// Steady: none or jacobian.
  public var stabilizer: String?
  public var stabilityWeight: Double?
  public var stabilityThreshold: Double?
  /// A failed step is rejected and retried at half the learning rate this
  /// many times in a row before the run stops.
  public var maxRetries: Int?

  public init() {}

  enum CodingKeys: String, CodingKey, CaseIterable {
    case model, units, activation, loss, coupling, leak, gain, solver, damping, memory, tolerance
    case maxIterations = "max-iterations"
    case adjoint, terms, restart
    case adjointTolerance = "adjoint-tolerance"
    case bptt, window, optimizer, lr, momentum, beta2, clip
    case weightDecay = "weight-decay"
    case lrDecay = "lr-decay"
    case epochs, batch, seed, threads, precision
    case checkpointEvery = "checkpoint-every"
    case targetLoss = "target-loss"
    case stopWhenSolved = "stop-when-solved"
    case warmStart = "warm-start"
    case stabilizer
    case stabilityWeight = "stability-weight"
    case stabilityThreshold = "stability-threshold"
    case maxRetries = "max-retries"
  }

  /// The names a JSON config may use.
  public static var keys: [String] { CodingKeys.allCases.map(\.rawValue) }

  /// The keys whose values are integers.
  public static let integerKeys: Set<String> = [
    "units", "memory", "max-iterations", "terms", "restart", "window", "epochs", "batch", "seed", "threads",
    "checkpoint-every", "max-retries",
  ]

  /// Parses JSON strictly: unknown keys and wrong types are errors naming the key.
  public static func parse(json data: Data, source: String) throws -> RunConfig {
    let object: Any
    do { object = try JSONSerialization.jsonObject(with: data) } catch {
      throw ConfigError("\(source): not valid JSON (\(error.localizedDescription))")
    }
    guard let dict = object as? [String: Any] else { throw ConfigError("\(source): expected a JSON object") }
    if let key = duplicateJSONKey(in: data) { throw ConfigError("\(source): key '\(key)' is given twice") }
    let known = Set(keys)
    if let unknown = dict.keys.sorted().first(where: { !known.contains($0) }) {
      throw ConfigError("\(source): unknown key '\(unknown)'; known keys: \(keys.joined(separator: ", "))")
    }
    do {
      let config = try JSONDecoder().decode(RunConfig.self, from: data)
      try config.checkFinite(source: source)
      return config
    } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
      throw ConfigError("\(source): key '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
    } catch let DecodingError.dataCorrupted(context) {
      // The decoder does not always say which key (a fraction for an
      // integer setting comes back with an empty path): decode the keys one
      // at a time to find it.
      let culprit = context.codingPath.last?.stringValue ?? dict.keys.sorted().first { key in
        guard let one = try? JSONSerialization.data(withJSONObject: [key: dict[key]!]) else { return true }
        return (try? JSONDecoder().decode(RunConfig.self, from: one)) == nil
      }
      guard let culprit else { throw ConfigError("\(source): \(context.debugDescription)") }
      throw ConfigError("\(source): key '\(culprit)' has a value of the wrong type or range: \(dict[culprit].map { "\($0)" } ?? "null")")
    }
  }

  /// Values of `other` where set, else ours. Throws (naming the key) rather
  /// than drop a value it cannot carry, such as a non-finite number.
  public func overridden(by other: RunConfig) throws -> RunConfig {
    try other.checkFinite(source: "flags")
    try checkFinite(source: "configuration")
    func dictionary(_ c: RunConfig) throws -> [String: Any] {
      guard let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(c)) as? [String: Any] else {
        throw ConfigError("a run configuration did not encode as a JSON object")
      }
      return object
    }
    var merged = try dictionary(self)
    for (key, value) in try dictionary(other) { merged[key] = value }
    return try JSONDecoder().decode(RunConfig.self, from: JSONSerialization.data(withJSONObject: merged))
  }

  /// Throws, naming the setting, when a number is NaN or infinite.
  public func checkFinite(source: String) throws {
    for child in Mirror(reflecting: self).children {
      guard let label = child.label, let value = child.value as? Double?, let number = value else { continue }
      if !number.isFinite {
        let key = CodingKeys.allCases.first { "\($0)" == label }?.rawValue ?? label
        throw ConfigError(source == "flags" ? "--\(key) must be a finite number, got \(number)"
                                            : "\(source): '\(key)' must be a finite number, got \(number)")
      }
    }
  }

  /// Canonical JSON (sorted keys), as stored in checkpoints and sweep results.
  public var json: String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
  }
}
