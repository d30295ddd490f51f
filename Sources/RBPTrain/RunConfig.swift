// The configuration of one training run and the declaration of each of its
// settings (`RunConfig.settings`, one entry per setting; see Setting.swift).
// A configuration comes from flags (`parse(arguments:)`), from a JSON object
// (`parse(json:)`, strict: unknown or doubled keys and out-of-range values
// are errors naming them), or from the stored configuration of a checkpoint;
// `overridden(by:)` merges them setting by setting. Files spell the keys in
// snake_case; readers also accept the hyphenated keys of version-1 files.

import Foundation
import RBPCore
import RBPKernels
import RBPStore

/// An error in a configuration: names the key (or flag) and the value.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
  /// The message, naming the key or flag and the value.
  public var message: String
  /// An error with this message.
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// The precision a run (or an analysis) computes in: the one spelling of
/// precision in settings, flags, the plan and the C library.
public enum Precision: String, CaseIterable, Sendable {
  /// Single precision (`Float`).
  case f32
  /// Double precision (`Double`).
  case f64

  /// `text` as a precision, or an error naming `flag`.
  public static func parse(_ text: String, flag: String = "--precision") throws -> Precision {
    guard let p = Precision(rawValue: text) else { throw ConfigError("\(flag): '\(text)' is not f32 or f64") }
    return p
  }

  /// A comma-separated list of precisions ("f32,f64").
  public static func parseList(_ text: String, flag: String = "--precision") throws -> [Precision] {
    try text.split(separator: ",", omittingEmptySubsequences: false).map { try parse(String($0), flag: flag) }
  }
}
/// How accuracy and "solved" are measured: the sign of each output against
/// its target's, the side of 0.5 (for 0/1 targets), the largest output
/// against the largest target (per pattern, or per step), or not at all.
public enum MetricName: String, CaseIterable, Sendable {
  /// The sign of each output against its target's.
  case sign
  /// The side of 0.5 of each output against its 0/1 target.
  case threshold
  /// The largest output against the largest target.
  case argmax
  /// No accuracy, and "solved" never.
  case none
}

/// Everything that defines a run. An unset (nil) setting takes its default
/// when the configuration is resolved against a dataset (`resolved(for:)`).
public struct RunConfig: Equatable, Sendable {
  /// The model: steady or trajectory. (`--model`)
  public var model: ModelKind?
  /// Units N (at least the outputs). (`--units`)
  public var units: Int?
  /// The units' f. (`--activation`)
  public var activation: Activation?
  /// The loss on the output units (bce needs logistic units). (`--loss`)
  public var loss: Loss?
  /// How inputs enter: through a learned U (dense) or one input per unit (identity). (`--coupling`)
  public var coupling: Coupling?
  /// Leak α of x(t) = (1−α) x(t−1) + α f(…). (`--leak`)
  public var leak: Double?
  /// Scale of the random initial weights: ‖W‖₂ ≈ 2·gain. (`--gain`)
  public var gain: Double?
  /// Forward solver: relaxation with fallbacks (auto), iterate, anderson or newton. (`--solver`)
  public var solver: ForwardMethod.Name?
  /// Damping of iterate and anderson. (`--damping`)
  public var damping: Double?
  /// Anderson memory. (`--memory`)
  public var memory: Int?
  /// Forward tolerance: ∞-norm residual relative to max(1, ‖x‖∞). (`--tolerance`)
  public var tolerance: Double?
  /// Iteration limit of each solver stage. (`--max-iterations`)
  public var maxIterations: Int?
  /// Adjoint solver: iterate, then gmres, then direct (auto); iterate, neumann, direct or gmres. (`--adjoint`)
  public var adjoint: AdjointMethod.Name?
  /// Neumann terms. (`--terms`)
  public var terms: Int?
  /// GMRES restart length. (`--restart`)
  public var restart: Int?
  /// Adjoint tolerance. (`--adjoint-tolerance`)
  public var adjointTolerance: Double?
  /// BPTT mode. (`--bptt`)
  public var bptt: BPTTMode.Name?
  /// Window of truncated BPTT. (`--window`)
  public var window: Int?
  /// The update rule. (`--optimizer`)
  public var optimizer: OptimizerKind?
  /// Learning rate η. (`--lr`)
  public var lr: Double?
  /// Momentum, or Adam's β1. (`--momentum`)
  public var momentum: Double?
  /// Adam's β2. (`--beta2`)
  public var beta2: Double?
  /// Clip the gradient's 2-norm to this. (`--clip`)
  public var clip: Double?
  /// Decoupled weight decay. (`--weight-decay`)
  public var weightDecay: Double?
  /// Multiply η by this after each epoch. (`--lr-decay`)
  public var lrDecay: Double?
  /// Epochs. (`--epochs`)
  public var epochs: Int?
  /// Minibatch size. (`--batch`)
  public var batch: Int?
  /// Random seed. (`--seed`)
  public var seed: Int?
  /// Worker threads (results do not depend on it). (`--threads`)
  public var threads: Int?
  /// The precision the run computes in. (`--precision`)
  public var precision: Precision?
  /// Checkpoint every k epochs (0: only at the end). (`--checkpoint-every`)
  public var checkpointEvery: Int?
  /// Stop once the validation loss is at most this. (`--target-loss`)
  public var targetLoss: Double?
  /// Stop once the task counts as solved (every validation output right by the metric). (`--stop-when-solved`)
  public var stopWhenSolved: Bool?
  /// Start each training step's solves from the pattern's last fixed point (faster; validation and eval always relax from the initial state). (`--warm-start`)
  public var warmStart: Bool?
  /// Jacobian regularisation of patterns near instability, or none. (`--stabilizer`)
  public var stabilizer: Stabilizer.Name?
  /// Initial weight λ of the jacobian stabiliser (it adapts from epoch to epoch, up to 10 λ). (`--stability-weight`)
  public var stabilityWeight: Double?
  /// Estimated ρ(D W) (a bound on the largest real part of D W's eigenvalues) from which the stabiliser applies to a pattern. (`--stability-threshold`)
  public var stabilityThreshold: Double?
  /// Failed steps in a row retried at half the learning rate before the run stops. (`--max-retries`)
  public var maxRetries: Int?
  /// Fraction of a step's patterns that may be unsettled (left out of its gradient); above it the step counts as failed. (`--max-unsettled`)
  public var maxUnsettled: Double?
  /// Hopfield weights: W = Wᵀ with a zero diagonal, kept so by the optimizer (steady models). (`--symmetric`)
  public var symmetric: Bool?
  /// Validate on this fraction of the training patterns, split off by the seed (when the dataset has no /val). (`--val-fraction`)
  public var valFraction: Double?
  /// Stop after this many epochs without a validation loss better than the best by more than min_delta. (`--patience`)
  public var patience: Int?
  /// The improvement of the validation loss that counts as better, for patience and best.h5. (`--min-delta`)
  public var minDelta: Double?
  /// Accuracy and solved: sign (each output's sign matches its target's), threshold (each output on its target's side of 0.5, for 0/1 targets), argmax (the largest output is the largest target's, per pattern or step), or none. (`--metric`)
  public var metric: MetricName?

  /// A configuration with every setting unset.
  public init() {}

  /// Every setting, declared once, in the order `--help` lists them.
  public static let settings: [Setting] = {
    let standard: (weight: Double, threshold: Double) = {
      guard case let .jacobian(weight, threshold) = Stabilizer.standard else { return (0.1, 0.9) }
      return (weight, threshold)
    }()
    return [
      // The network.
      .choice(
        "model", \.model, rule: "the dataset's kind", help: "steady or trajectory.", group: .network,
        onResume: .fixed),
      .integer(
        "units", \.units, 1...NetworkShape.maximumUnits, rule: "the task's suggestion, else outputs + 8",
        help: "Units N (at least the outputs).", group: .network, onResume: .fixed),
      .choice(
        "activation", \.activation, rule: "the task's, else tanh", help: "The units' f.", group: .network,
        onResume: .fixed),
      .choice(
        "loss", \.loss, default: .mse, help: "The loss on the output units (bce needs logistic units).",
        group: .network, onResume: .fixed),
      .choice(
        "coupling", \.coupling, rule: "identity for the patterns task, else dense",
        help: "How inputs enter: through a learned U (dense) or one input per unit (identity).",
        group: .network, onResume: .fixed),
      .number(
        "leak", \.leak, .rate, default: 1, help: "Leak α of x(t) = (1−α) x(t−1) + α f(…).", group: .trajectory,
        scope: .trajectory, onResume: .fixed),
      .flag(
        "symmetric", \.symmetric,
        help: "Hopfield weights: W = Wᵀ with a zero diagonal, kept so by the optimizer (steady models).",
        group: .network, scope: .steady, onResume: .fixed),
      .number(
        "gain", \.gain, .nonNegative, rule: "0.4/max f' for steady models (a contractive start), 1 for trajectories",
        help: "Scale of the random initial weights: ‖W‖₂ ≈ 2·gain.", group: .network, onResume: .fixed),
      // Steady solvers.
      .choice(
        "solver", \.solver, default: .auto,
        help: "Forward solver: relaxation with fallbacks (auto), iterate, anderson or newton.", group: .solver,
        scope: .steady, onResume: .mayChange),
      .number(
        "damping", \.damping, .rate, default: 1, help: "Damping of iterate and anderson.", group: .solver,
        scope: .steady, onResume: .mayChange),
      .integer(
        "memory", \.memory, 1...SolverOptions.maximumAndersonMemory, default: ForwardMethod.defaultMemory,
        help: "Anderson memory.",
        group: .solver, scope: .steady, onResume: .mayChange),
      .number(
        "tolerance", \.tolerance, .positive, rule: "32·√N·ε, at least 1e-6 in f32 and 1e-12 in f64",
        help: "Forward tolerance: ∞-norm residual relative to max(1, ‖x‖∞).", group: .solver, scope: .steady,
        onResume: .mayChange),
      .integer(
        "max_iterations", \.maxIterations, 1...Int.max, default: SolverOptions.defaultMaxIterations,
        help: "Iteration limit of each solver stage.", group: .solver, scope: .steady, onResume: .mayChange),
      .choice(
        "adjoint", \.adjoint, default: .auto,
        help: "Adjoint solver: iterate, then gmres, then direct (auto); iterate, neumann, direct or gmres.",
        group: .solver, scope: .steady, onResume: .mayChange),
      .integer(
        "terms", \.terms, 1...Int.max, default: AdjointMethod.defaultTerms, help: "Neumann terms.", group: .solver,
        scope: .steady,
        onResume: .mayChange),
      .integer(
        "restart", \.restart, 1...Int.max, default: AdjointMethod.defaultRestart, help: "GMRES restart length.",
        group: .solver,
        scope: .steady, onResume: .mayChange),
      .number(
        "adjoint_tolerance", \.adjointTolerance, .positive, rule: "the forward tolerance",
        help: "Adjoint tolerance.", group: .solver, scope: .steady, onResume: .mayChange),
      // The stabiliser of steady models.
      .choice(
        "stabilizer", \.stabilizer, rule: "jacobian for steady models, none for trajectories",
        help: "Jacobian regularisation of patterns near instability, or none.", group: .stabilizer,
        scope: .steady, onResume: .fixed),
      .number(
        "stability_weight", \.stabilityWeight, .nonNegative, default: standard.weight,
        help: "Initial weight λ of the jacobian stabiliser (it adapts from epoch to epoch, up to 10 λ).",
        group: .stabilizer, scope: .steady, onResume: .fixed),
      .number(
        "stability_threshold", \.stabilityThreshold, .nonNegative, default: standard.threshold,
        help:
          "Estimated ρ(D W) (a bound on the largest real part of D W's eigenvalues) from which the stabiliser applies to a pattern.",
        group: .stabilizer, scope: .steady, onResume: .fixed),
      .flag(
        "warm_start", \.warmStart,
        help:
          "Start each training step's solves from the pattern's last fixed point (faster; validation and eval always relax from the initial state).",
        group: .run, scope: .steady, onResume: .fixed),
      // Trajectories.
      .choice(
        "bptt", \.bptt, default: .full, help: "BPTT mode.", group: .trajectory, scope: .trajectory,
        onResume: .fixed),
      .integer(
        "window", \.window, 1...Int.max, default: 10, help: "Window of truncated BPTT.", group: .trajectory,
        scope: .trajectory, onResume: .fixed),
      // The optimizer.
      .choice("optimizer", \.optimizer, default: .adam, help: "The update rule.", group: .optimizer, onResume: .fixed),
      .number(
        "lr", \.lr, .positive, rule: "0.01 with adam, else 0.1", help: "Learning rate η.", group: .optimizer,
        onResume: .mayChange),
      .number(
        "momentum", \.momentum, .coefficient, default: OptimizerSettings.defaultBeta1, help: "Momentum, or Adam's β1.",
        group: .optimizer,
        onResume: .fixed),
      .number(
        "beta2", \.beta2, .coefficient, default: OptimizerSettings.defaultBeta2, help: "Adam's β2.", group: .optimizer,
        onResume: .fixed),
      .number(
        "clip", \.clip, .positive, rule: "no clipping", help: "Clip the gradient's 2-norm to this.",
        group: .optimizer, onResume: .fixed),
      .number(
        "weight_decay", \.weightDecay, .nonNegative, default: 0, help: "Decoupled weight decay.",
        group: .optimizer, onResume: .fixed),
      .number(
        "lr_decay", \.lrDecay, .rate, default: 1, help: "Multiply η by this after each epoch.",
        group: .optimizer, onResume: .mayChange),
      // The run.
      .integer("epochs", \.epochs, 0...Int.max, default: 100, help: "Epochs.", group: .run, onResume: .mayChange),
      .integer(
        "batch", \.batch, 1...Int.max, rule: "the patterns, at most 32", help: "Minibatch size.", group: .run,
        onResume: .fixed),
      .integer("seed", \.seed, 0...Int.max, default: 0, help: "Random seed.", group: .run, onResume: .fixed),
      .integer(
        "threads", \.threads, 1...4096, default: 1, help: "Worker threads (results do not depend on it).",
        group: .run, identifies: false, onResume: .mayChange),
      .choice(
        "precision", \.precision, default: .f32, help: "The precision the run computes in.", group: .run,
        onResume: .fixed),
      .integer(
        "checkpoint_every", \.checkpointEvery, 0...Int.max, default: 0,
        help: "Checkpoint every k epochs (0: only at the end).", group: .run, identifies: false,
        onResume: .mayChange),
      .number(
        "target_loss", \.targetLoss, .nonNegative, rule: "none",
        help: "Stop once the validation loss is at most this.", group: .run, onResume: .mayChange),
      .flag(
        "stop_when_solved", \.stopWhenSolved,
        help: "Stop once the task counts as solved (every validation output right by the metric).", group: .run,
        onResume: .mayChange),
      .number(
        "val_fraction", \.valFraction, Setting.Interval(lower: 0, lowerOpen: true, upper: 1, upperOpen: true),
        rule: "none: the dataset's /val, else the training set",
        help:
          "Validate on this fraction of the training patterns, split off by the seed (when the dataset has no /val).",
        group: .run, onResume: .fixed),
      .integer(
        "patience", \.patience, 1...Int.max, rule: "none",
        help: "Stop after this many epochs without a validation loss better than the best by more than min_delta.",
        group: .run, onResume: .mayChange),
      .number(
        "min_delta", \.minDelta, .nonNegative, rule: "0",
        help: "The improvement of the validation loss that counts as better, for patience and best.h5.",
        group: .run, onResume: .mayChange),
      .choice(
        "metric", \.metric, rule: "the classic task's rule, else none",
        help:
          "Accuracy and solved: sign (each output's sign matches its target's), threshold (each output on its target's side of 0.5, for 0/1 targets), argmax (the largest output is the largest target's, per pattern or step), or none.",
        group: .run, onResume: .mayChange),
      .integer(
        "max_retries", \.maxRetries, 0...Int.max, default: 4,
        help: "Failed steps in a row retried at half the learning rate before the run stops.", group: .run,
        onResume: .mayChange),
      .number(
        "max_unsettled", \.maxUnsettled, .fraction, default: 0.1,
        help:
          "Fraction of a step's patterns that may be unsettled (left out of its gradient); above it the step counts as failed.",
        group: .run, scope: .steady, onResume: .mayChange),
    ]
  }()

  /// The declaration named `key`, snake_case or (version 1) hyphenated.
  public static func setting(named key: String) -> Setting? {
    settingsByName[key]
  }

  /// Every setting under both spellings of its name.
  private static let settingsByName: [String: Setting] = {
    var byName: [String: Setting] = [:]
    for s in settings { (byName[s.name], byName[s.hyphenated]) = (s, s) }
    return byName
  }()

  /// The names a JSON config may use.
  public static var keys: [String] { settings.map(\.name) }

  /// The keys whose values are integers, in both spellings.
  public static var integerKeys: Set<String> {
    Set(settings.filter { if case .integer = $0.values { true } else { false } }.flatMap { [$0.name, $0.hyphenated] })
  }

  // MARK: Reading

  /// Parses a JSON object strictly: unknown or doubled keys, wrong types and
  /// values out of range are errors naming the key. `null` leaves a setting
  /// unset.
  public static func parse(json data: Data, source: String) throws -> RunConfig {
    let object: Any
    do { object = try JSONSerialization.jsonObject(with: data) } catch {
      throw ConfigError("\(source): not valid JSON (\(jsonErrorLocation(error)))")
    }
    guard object is [String: Any] else { throw ConfigError("\(source): expected a JSON object") }
    if let key = duplicateJSONKey(in: data) { throw ConfigError("\(source): key '\(key)' is given twice") }
    let values: [String: SettingValue?]
    do { values = try JSONDecoder().decode([String: SettingValue?].self, from: data) } catch let error as DecodingError
    {
      let key: String
      switch error {
      case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c), .dataCorrupted(let c):
        key = c.codingPath.first?.stringValue ?? "?"
      @unknown default: key = "?"
      }
      throw ConfigError("\(source): key '\(key)' must be a number, a string or a boolean")
    }
    var config = RunConfig()
    var seen: [String: String] = [:]
    for key in values.keys.sorted() {
      guard let setting = setting(named: key) else {
        throw ConfigError("\(source): unknown key '\(key)'; known keys: \(keys.joined(separator: ", "))")
      }
      if let other = seen[setting.name] {
        throw ConfigError("\(source): keys '\(other)' and '\(key)' name the same setting")
      }
      seen[setting.name] = key
      guard let given = values[key], let value = given else { continue }
      if let problem = setting.problem(with: value) { throw ConfigError("\(source): '\(key)' \(problem)") }
      setting.set(setting.normalized(value), in: &config)
    }
    return config
  }

  /// Parses setting flags (`--lr 0.1`, `--lr=0.1`, `--warm-start`), naming
  /// the flag of any bad value; a flag given again replaces its value.
  /// `only`: the groups accepted (nil: all).
  public static func parse(arguments: [String], only groups: Set<Setting.Group>? = nil) throws -> RunConfig {
    var config = RunConfig()
    var rest = arguments[...]
    while let argument = rest.popFirst() {
      guard argument.hasPrefix("--"), argument.count > 2 else {
        throw ConfigError("unexpected argument '\(argument)'")
      }
      let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      var flag = String(parts[0])
      // Every boolean setting also has its --no- form.
      var negated = false
      if flag.hasPrefix("--no-"), let s = settings.first(where: { $0.flag == "--" + flag.dropFirst(5) }),
        case .flag = s.values
      {
        guard parts.count == 1 else { throw ConfigError("\(flag) takes no value") }
        negated = true
        flag = s.flag
      }
      guard let setting = settings.first(where: { $0.flag == flag }), groups?.contains(setting.group) ?? true else {
        throw ConfigError("unknown option '\(flag)'")
      }
      let text: String
      if negated {
        text = "false"
      } else if parts.count == 2 {
        text = String(parts[1])
      } else if case .flag = setting.values {
        text = "true"
      } else {
        guard let next = rest.popFirst() else { throw ConfigError("\(flag) needs a value") }
        text = next
      }
      let value = setting.value(fromText: text)
      if let problem = setting.problem(with: value) { throw ConfigError("\(flag) \(problem)") }
      setting.set(value, in: &config)
    }
    return config
  }

  // MARK: Combining and checking

  /// Values of `other` where it sets them, else ours.
  public func overridden(by other: RunConfig) -> RunConfig {
    var merged = self
    for setting in Self.settings {
      if let value = setting.value(in: other) { setting.set(value, in: &merged) }
    }
    return merged
  }

  /// Throws, naming the setting, when a value is out of its declared range
  /// (configurations built in code skip the parsers' checks).
  public func validate() throws {
    for setting in Self.settings {
      if let value = setting.value(in: self), let problem = setting.problem(with: value) {
        throw ConfigError("\(setting.name) \(problem)")
      }
    }
  }

  /// The settings that are set, by name.
  public var values: [String: SettingValue] {
    var out: [String: SettingValue] = [:]
    for setting in Self.settings { if let v = setting.value(in: self) { out[setting.name] = v } }
    return out
  }

  // MARK: Writing

  /// Canonical JSON (sorted snake_case keys), as stored in checkpoints and results.
  public var json: String { encoded(Self.sortedByName, hyphenated: false) }

  /// The JSON the run's identity is a hash of: hyphenated keys, as version 1
  /// wrote them, so that identities of earlier runs stay valid.
  public var identityJSON: String { encoded(Self.sortedByHyphenated, hyphenated: true) }

  /// The declarations in the order of their names, and of their hyphenated
  /// names: the key orders of `json` and `identityJSON`.
  private static let sortedByName = settings.sorted { $0.name < $1.name }
  private static let sortedByHyphenated = settings.sorted { $0.hyphenated < $1.hyphenated }

  /// The settings that are set, in `order`, as `encode` writes them (read
  /// once per run of a sweep: no dictionary, no sorting).
  private func encoded(_ order: [Setting], hyphenated: Bool) -> String {
    var out = "{"
    out.reserveCapacity(1024)
    var first = true
    for setting in order {
      guard let value = setting.value(in: self) else { continue }
      if !first { out += "," }
      first = false
      out += hyphenated ? setting.hyphenatedKeyJSON : setting.keyJSON
      Self.append(value, to: &out)
    }
    out += "}"
    return out
  }

  /// JSON with sorted keys, byte for byte what `JSONEncoder` with
  /// `.sortedKeys` writes for these values (a test holds the two equal:
  /// run identities are hashes of this text), without its cost: numbers in
  /// Swift's shortest round-trip form less a trailing ".0", strings
  /// escaped as JSONEncoder escapes them ("/" included).
  public static func encode(_ values: [String: SettingValue]) -> String {
    var out = "{"
    for (n, key) in values.keys.sorted().enumerated() {
      if n > 0 { out += "," }
      out += quoted(key)
      out += ":"
      append(values[key]!, to: &out)
    }
    return out + "}"
  }

  /// Appends `value` as `encode` writes it.
  private static func append(_ value: SettingValue, to out: inout String) {
    switch value {
    case .integer(let v): out += String(v)
    case .number(let v):
      let text = "\(v)"
      out += text.hasSuffix(".0") ? text.dropLast(2) : Substring(text)
    case .text(let v): out += quoted(v)
    case .flag(let v): out += v ? "true" : "false"
    }
  }

  /// `text` as a JSON string, escaped as `encode` escapes it.
  static func quoted(_ text: String) -> String { jsonQuoted(text, escapingSlashes: true) }

  /// `rbp train --help`'s list of settings, by group, in lines of at most
  /// 78 columns (ArgumentParser keeps such lines as they are).
  /// `resuming`: say which settings `--resume` may change (for `train`;
  /// the analysis commands resume nothing).
  public static func helpText(groups: [Setting.Group] = Setting.Group.allCases, resuming: Bool = true) -> String {
    var lines: [String] = []
    func wrap(_ text: String, indent: Int) {
      var line = ""
      for word in text.split(separator: " ") {
        if !line.isEmpty && indent + line.count + 1 + word.count > 78 {
          lines.append(String(repeating: " ", count: indent) + line)
          line = ""
        }
        line += (line.isEmpty ? "" : " ") + word
      }
      if !line.isEmpty { lines.append(String(repeating: " ", count: indent) + line) }
    }
    for group in groups {
      let members = settings.filter { $0.group == group }
      guard !members.isEmpty else { continue }
      if !lines.isEmpty { lines.append("") }
      lines.append("\(group.rawValue.uppercased()) SETTINGS (flag, and [key] in JSON configs):")
      for s in members {
        let fallback = s.defaultRule ?? s.fixedDefault.map(\.description)
        let notes = [
          fallback.map { "Default: \($0)." },
          s.scope == .every ? nil : "For \(s.scope == .steady ? "steady" : "trajectory") models only.",
          resuming && s.onResume == .mayChange ? "May change on --resume." : nil,
        ].compactMap { $0 }
        if case .flag = s.values {
          wrap("\(s.flag) | --no-\(s.flag.dropFirst(2)) [\(s.name)]", indent: 2)
        } else {
          wrap("\(s.flag) \(s.placeholder) [\(s.name)]", indent: 2)
        }
        wrap(([s.help] + notes).joined(separator: " "), indent: 6)
      }
    }
    return lines.joined(separator: "\n")
  }
}
