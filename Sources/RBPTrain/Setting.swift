// One setting of a training run, declared once: its name, the values it
// takes, its default, its help text, the models it applies to, whether it is
// part of the run's identity and whether a resumed run may change it.
//
// Names: `name` is snake_case, as every file the engine writes spells it
// (configs, checkpoints, results, exports); the flag is the same words
// joined by hyphens (`max_iterations` ↔ `--max-iterations`), and the hyphen
// form is also what version-1 files wrote, so readers accept it.
//
// The list of declarations is `RunConfig.settings` (RunConfig.swift). Flag
// parsing, JSON configs, validation, merging, the resolved configuration,
// the resume rules and `rbp train --help` are derived from it.

import Foundation

/// A setting's value as flags and files carry it.
public enum SettingValue: Equatable, Sendable, CustomStringConvertible {
  /// An integer.
  case integer(Int)
  /// A number.
  case number(Double)
  /// A name or a path.
  case text(String)
  /// On or off.
  case flag(Bool)

  public var description: String {
    switch self {
    case .integer(let v): "\(v)"
    case .number(let v): "\(v)"
    case .text(let v): v
    case .flag(let v): "\(v)"
    }
  }
}

extension SettingValue: Codable {
  public init(from decoder: Decoder) throws {
    let c = try decoder.singleValueContainer()
    // Order matters: JSON `true` is not an integer, `2` is an integer
    // before it is a number, `2.5` only a number.
    if let v = try? c.decode(Bool.self) {
      self = .flag(v)
    } else if let v = try? c.decode(Int.self) {
      self = .integer(v)
    } else if let v = try? c.decode(Double.self) {
      self = .number(v)
    } else if let v = try? c.decode(String.self) {
      self = .text(v)
    } else {
      throw DecodingError.typeMismatch(
        SettingValue.self,
        .init(
          codingPath: decoder.codingPath,
          debugDescription: "expected a number, a string or a boolean"))
    }
  }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.singleValueContainer()
    switch self {
    case .integer(let v): try c.encode(v)
    case .number(let v): try c.encode(v)
    case .text(let v): try c.encode(v)
    case .flag(let v): try c.encode(v)
    }
  }
}

/// The declaration of one run setting (a class: the declarations are read
/// for every run of a sweep, and a reference is all that is copied).
public final class Setting: Sendable {
  /// The values a setting takes.
  public enum Values: Sendable {
    /// An integer in this range.
    case integer(ClosedRange<Int>)
    /// A finite number in this interval.
    case number(Interval)
    /// One of these names.
    case choice([String])
    /// On or off; as a flag it takes no value.
    case flag
  }

  /// An interval of the real line, each end open, closed or absent.
  public struct Interval: Sendable {
    /// The lower end, or nil for none.
    public var lower: Double?
    /// Whether the lower end is excluded.
    public var lowerOpen: Bool
    /// The upper end, or nil for none.
    public var upper: Double?
    /// Whether the upper end is excluded.
    public var upperOpen: Bool

    /// (0, ∞)
    public static let positive = Interval(lower: 0, lowerOpen: true, upper: nil, upperOpen: true)
    /// [0, ∞)
    public static let nonNegative = Interval(lower: 0, lowerOpen: false, upper: nil, upperOpen: true)
    /// (0, 1]
    public static let rate = Interval(lower: 0, lowerOpen: true, upper: 1, upperOpen: false)
    /// [0, 1)
    public static let coefficient = Interval(lower: 0, lowerOpen: false, upper: 1, upperOpen: true)
    /// [0, 1]
    public static let fraction = Interval(lower: 0, lowerOpen: false, upper: 1, upperOpen: false)

    /// Whether `x` is finite and inside the interval.
    public func contains(_ x: Double) -> Bool {
      guard x.isFinite else { return false }
      if let lower, lowerOpen ? !(x > lower) : !(x >= lower) { return false }
      if let upper, upperOpen ? !(x < upper) : !(x <= upper) { return false }
      return true
    }

    /// "positive", ">= 0", "in (0, 1]"…
    public var requirement: String {
      switch (lower, upper) {
      case (0?, nil): lowerOpen ? "positive" : ">= 0"
      case let (l?, nil): lowerOpen ? "> \(l)" : ">= \(l)"
      case let (nil, u?): upperOpen ? "< \(u)" : "<= \(u)"
      case let (l?, u?): "in \(lowerOpen ? "(" : "[")\(format(l)), \(format(u))\(upperOpen ? ")" : "]")"
      case (nil, nil): "a finite number"
      }
    }

    private func format(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? "\(Int(x))" : "\(x)" }
  }

  /// Which models a setting applies to; elsewhere it is not part of the
  /// resolved configuration.
  public enum Scope: Sendable {
    /// Steady and trajectory models.
    case every
    /// Steady models only.
    case steady
    /// Trajectory models only.
    case trajectory
  }

  /// Whether `--resume` may change the setting.
  public enum OnResume: Sendable {
    /// `--resume` refuses a change.
    case fixed
    /// `--resume` may change it.
    case mayChange
  }

  /// Where a setting belongs; the analysis commands take the solver group.
  public enum Group: String, Sendable, CaseIterable {
    /// The network's shape and functions.
    case network
    /// The steady-state solvers.
    case solver
    /// The stabiliser of steady models.
    case stabilizer
    /// Trajectory models: BPTT and the leak.
    case trajectory
    /// The optimizer and its schedule.
    case optimizer
    /// Epochs, batches, threads, stopping and validation.
    case run
  }

  /// The name in files and JSON configs (snake_case).
  public let name: String
  /// The values it takes.
  public let values: Values
  /// A default that is the same for every run, or nil.
  public let fixedDefault: SettingValue?
  /// How the default is chosen, for help text, when it depends on the data
  /// or on other settings (nil: `fixedDefault`, or none).
  public let defaultRule: String?
  /// One line of help, as `--help` and docs/settings.md show it.
  public let help: String
  /// Where it belongs.
  public let group: Group
  /// The models it applies to.
  public let scope: Scope
  /// False for settings that change no result (threads, checkpoint interval):
  /// they are left out of the run's identity.
  public let identifies: Bool
  /// Whether `--resume` may change it.
  public let onResume: OnResume
  let read: @Sendable (RunConfig) -> SettingValue?
  let write: @Sendable (inout RunConfig, SettingValue?) -> Void

  /// The flag: `--` and the name's words joined by hyphens.
  public let flag: String
  /// The name with hyphens: the flag's words, and the key version-1 files used.
  public let hyphenated: String
  /// `"name":` and `"hyphenated":`, as JSON objects spell the keys.
  let keyJSON: String, hyphenatedKeyJSON: String

  init(
    _ name: String, _ values: Values, default fixedDefault: SettingValue?, rule: String?, help: String,
    group: Group, scope: Scope, identifies: Bool, onResume: OnResume,
    read: @escaping @Sendable (RunConfig) -> SettingValue?,
    write: @escaping @Sendable (inout RunConfig, SettingValue?) -> Void
  ) {
    self.name = name
    // Character by character: Foundation's replacingOccurrences bridges
    // through NSString, which every command's start paid for every setting.
    hyphenated = String(name.map { $0 == "_" ? "-" : $0 })
    flag = "--" + hyphenated
    keyJSON = RunConfig.quoted(name) + ":"
    hyphenatedKeyJSON = RunConfig.quoted(hyphenated) + ":"
    self.values = values
    self.fixedDefault = fixedDefault
    self.defaultRule = rule
    self.help = help
    self.group = group
    self.scope = scope
    self.identifies = identifies
    self.onResume = onResume
    self.read = read
    self.write = write
  }

  /// The value of this setting in `config`, or nil where it is not set.
  public func value(in config: RunConfig) -> SettingValue? { read(config) }

  /// Sets (or, with nil, clears) this setting in `config`. The value must
  /// have passed `problem(with:)`.
  public func set(_ value: SettingValue?, in config: inout RunConfig) { write(&config, value) }

  /// What is wrong with `value` for this setting ("must be positive, got
  /// -1.0"), or nil when it is valid.
  public func problem(with value: SettingValue) -> String? {
    switch (values, value) {
    case let (.integer(range), .integer(v)):
      if range.contains(v) { return nil }
      if range.upperBound == Int.max { return "must be at least \(range.lowerBound), got \(v)" }
      return "must be between \(range.lowerBound) and \(range.upperBound), got \(v)"
    case let (.integer, .number(v)) where v == v.rounded() && abs(v) < 9e15:
      return problem(with: .integer(Int(v)))
    case let (.integer, other): return "must be an integer, got \(other.quoted)"
    case let (.number(interval), .number(v)):
      if !v.isFinite { return "must be a finite number, got \(v)" }
      return interval.contains(v) ? nil : "must be \(interval.requirement), got \(v)"
    case let (.number(interval), .integer(v)):
      return interval.contains(Double(v)) ? nil : "must be \(interval.requirement), got \(v)"
    case let (.number, other): return "must be a number, got \(other.quoted)"
    case let (.choice(names), .text(v)):
      return names.contains(v) ? nil : "must be \(Setting.list(names)), got \(v)"
    case let (.choice(names), other): return "must be \(Setting.list(names)), got \(other.quoted)"
    case (.flag, .flag): return nil
    case let (.flag, other): return "must be true or false, got \(other.quoted)"
    }
  }

  /// `value` in this setting's own type: an integral number for an integer
  /// setting becomes an integer, an integer for a number setting a number.
  func normalized(_ value: SettingValue) -> SettingValue {
    switch (values, value) {
    case let (.integer, .number(v)): .integer(Int(v))
    case let (.number, .integer(v)): .number(Double(v))
    default: value
    }
  }

  /// Reads the value of a flag from its text.
  func value(fromText text: String) -> SettingValue {
    switch values {
    case .integer: if let v = Int(text) { return .integer(v) }
    case .number: if let v = Double(text) { return .number(v) }
    case .flag: if let v = Bool(text) { return .flag(v) }
    case .choice: return .text(text)
    }
    return .text(text)
  }

  /// The values for help text: `<n>`, `<x>`, `auto|iterate|…`.
  public var placeholder: String {
    switch values {
    case .integer: "<n>"
    case .number: "<x>"
    case .choice(let names): names.joined(separator: "|")
    case .flag: ""
    }
  }

  static func list(_ names: [String]) -> String {
    names.count <= 1 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names.last!
  }
}

extension SettingValue {
  /// For messages: strings in quotes, so that "2" and 2 differ.
  var quoted: String {
    if case .text(let s) = self { return "\"\(s)\"" }
    return description
  }
}

// MARK: - Declaring settings by key path

// A setting reads and writes its field of RunConfig at the field's offset,
// found once from the key path: a key path applied at run time goes through
// the runtime's generic machinery, and a sweep reads every setting of every
// run several times (that was most of the time a 100,000-run sweep took to
// plan). The fields are optionals of plain values (integers, numbers,
// booleans and enums without payloads), which pointers to them handle.

/// The offset of a stored field of RunConfig.
private func fieldOffset<V>(_ path: WritableKeyPath<RunConfig, V?>) -> Int {
  guard let offset = MemoryLayout<RunConfig>.offset(of: path) else {
    preconditionFailure("a setting must name a stored field of RunConfig")
  }
  return offset
}

/// The field of type V at `offset` in `config`.
@inline(__always)
private func field<V>(_: V.Type, _ offset: Int, of config: RunConfig) -> V {
  withUnsafePointer(to: config) { UnsafeRawPointer($0).advanced(by: offset).assumingMemoryBound(to: V.self).pointee }
}

/// Sets the field of type V at `offset` in `config`.
@inline(__always)
private func setField<V>(_ value: V, _ offset: Int, of config: inout RunConfig) {
  withUnsafeMutablePointer(to: &config) {
    UnsafeMutableRawPointer($0).advanced(by: offset).assumingMemoryBound(to: V.self).pointee = value
  }
}

extension Setting {
  static func integer(
    _ name: String, _ path: WritableKeyPath<RunConfig, Int?> & Sendable, _ range: ClosedRange<Int>,
    default d: Int? = nil, rule: String? = nil, help: String, group: Group, scope: Scope = .every,
    identifies: Bool = true, onResume: OnResume
  ) -> Setting {
    let offset = fieldOffset(path)
    return Setting(
      name, .integer(range), default: d.map(SettingValue.integer), rule: rule, help: help, group: group,
      scope: scope, identifies: identifies, onResume: onResume,
      read: { field(Int?.self, offset, of: $0).map(SettingValue.integer) },
      write: { c, v in
        if case .integer(let i)? = v {
          setField(Int?.some(i), offset, of: &c)
        } else {
          setField(Int?.none, offset, of: &c)
        }
      })
  }

  static func number(
    _ name: String, _ path: WritableKeyPath<RunConfig, Double?> & Sendable, _ interval: Interval,
    default d: Double? = nil, rule: String? = nil, help: String, group: Group, scope: Scope = .every,
    onResume: OnResume
  ) -> Setting {
    let offset = fieldOffset(path)
    return Setting(
      name, .number(interval), default: d.map(SettingValue.number), rule: rule, help: help, group: group,
      scope: scope, identifies: true, onResume: onResume,
      read: { field(Double?.self, offset, of: $0).map(SettingValue.number) },
      write: { c, v in
        switch v {
        case .number(let x)?: setField(Double?.some(x), offset, of: &c)
        case .integer(let i)?: setField(Double?.some(Double(i)), offset, of: &c)
        default: setField(Double?.none, offset, of: &c)
        }
      })
  }

  static func choice<E: RawRepresentable & CaseIterable & Sendable>(
    _ name: String, _ path: WritableKeyPath<RunConfig, E?> & Sendable, default d: E? = nil, rule: String? = nil,
    help: String, group: Group, scope: Scope = .every, onResume: OnResume
  ) -> Setting where E.RawValue == String {
    let offset = fieldOffset(path)
    return Setting(
      name, .choice(E.allCases.map(\.rawValue)), default: d.map { .text($0.rawValue) }, rule: rule, help: help,
      group: group, scope: scope, identifies: true, onResume: onResume,
      read: { field(E?.self, offset, of: $0).map { .text($0.rawValue) } },
      write: { c, v in
        if case .text(let s)? = v {
          setField(E(rawValue: s) as E?, offset, of: &c)
        } else {
          setField(E?.none, offset, of: &c)
        }
      })
  }

  static func flag(
    _ name: String, _ path: WritableKeyPath<RunConfig, Bool?> & Sendable, help: String, group: Group,
    scope: Scope = .every, onResume: OnResume
  ) -> Setting {
    let offset = fieldOffset(path)
    return Setting(
      name, .flag, default: .flag(false), rule: nil, help: help, group: group, scope: scope, identifies: true,
      onResume: onResume,
      read: { field(Bool?.self, offset, of: $0).map(SettingValue.flag) },
      write: { c, v in
        if case .flag(let b)? = v {
          setField(Bool?.some(b), offset, of: &c)
        } else {
          setField(Bool?.none, offset, of: &c)
        }
      })
  }
}
