// Every declared setting walked through its whole life: given as a flag,
// written to and read back from JSON (and under its version-1 hyphenated
// key), trained with into a checkpoint whose stored configuration carries
// it, and resumed with another value, which the declaration says is either
// allowed (and then trains on) or refused naming the setting.

import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTestSupport
import RBPTrain
import Testing

@Suite("Run settings")
struct SettingsTests {
  /// Per setting: a value other than its default, and a second one a resume
  /// tries. A setting without an entry fails the test, so a new setting
  /// cannot skip the walk.
  static let samples: [String: (value: String, resumed: String)] = [
    "model": ("steady", "trajectory"), "units": ("18", "19"), "activation": ("logistic", "tanh"),
    "loss": ("bce", "mse"), "coupling": ("dense", "identity"), "leak": ("0.5", "0.6"), "gain": ("0.3", "0.2"),
    "solver": ("anderson", "newton"), "damping": ("0.9", "0.8"), "memory": ("4", "6"), "tolerance": ("1e-5", "2e-5"),
    "max_iterations": ("700", "800"), "adjoint": ("gmres", "direct"), "terms": ("40", "60"), "restart": ("20", "25"),
    "adjoint_tolerance": ("1e-5", "3e-5"), "stabilizer": ("none", "jacobian"), "stability_weight": ("0.2", "0.3"),
    "stability_threshold": ("0.8", "0.7"), "warm_start": ("true", "false"), "bptt": ("truncated", "full"),
    "window": ("5", "6"), "optimizer": ("momentum", "sgd"), "lr": ("0.02", "0.03"), "momentum": ("0.8", "0.7"),
    "beta2": ("0.99", "0.98"), "clip": ("5", "4"), "weight_decay": ("0.001", "0.002"), "lr_decay": ("0.95", "0.9"),
    "epochs": ("2", "3"), "batch": ("8", "16"), "seed": ("3", "4"), "threads": ("2", "1"), "precision": ("f64", "f32"),
    "checkpoint_every": ("1", "2"), "target_loss": ("1e-9", "1e-8"), "stop_when_solved": ("true", "false"),
    "max_retries": ("2", "3"), "max_unsettled": ("0.2", "0.3"), "symmetric": ("true", "false"),
    "val_fraction": ("0.25", "0.5"), "patience": ("5", "6"), "min_delta": ("0.001", "0.002"),
    "metric": ("sign", "argmax"),
  ]

  /// What defines a run (SPEC §3: its fully resolved configuration and its
  /// data): every setting but the two that change no result. Written out
  /// here, not read from the declarations they check.
  static let notIdentifying: Set<String> = ["threads", "checkpoint_every"]

  /// What a resumed run may change: the solvers and their limits, the
  /// learning rate and its decay, how long to train and when to stop, how
  /// many threads, how often to save, and the failure policy's limits.
  /// Everything else defines the network, the data order or the optimizer's
  /// path, and a resume keeps it.
  static let changeableOnResume: Set<String> = [
    "solver", "damping", "memory", "tolerance", "max_iterations", "adjoint", "terms", "restart", "adjoint_tolerance",
    "lr", "lr_decay", "epochs", "threads", "checkpoint_every", "target_loss", "stop_when_solved", "max_retries",
    "max_unsettled", "patience", "min_delta", "metric",
  ]

  /// Run identities are hashes of the configuration's JSON: the encoder
  /// that writes it must give JSONEncoder's bytes (sorted keys), which
  /// earlier identities were computed from, for every kind of value.
  @Test func identityJSONIsJSONEncodersText() throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    var rng = SeededGenerator(seed: 72)
    var numbers: [Double] = [
      0, 1, 0.1, 1e-5, 1.5e-5, 1e21, 1e22, 1e-7, 1e16, 1e15, 0.001, 2.5, 100, 12345.678,
      1.0000000000000002, 1.7976931348623157e308, Double.leastNonzeroMagnitude,
    ]
    for _ in 0..<3000 {
      numbers.append(Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF))
      numbers.append(Double(rng.next() % 1_000_000) / 997)
    }
    let texts = ["tanh", "f32", "a/b", "quote\"d", "back\\slash", "tab\tnew\nline", "é"]
    for (i, x) in numbers.enumerated() {
      let values: [String: SettingValue] = [
        "lr": .number(x), "max-iterations": .integer(Int(rng.next() % 100_000) - 50_000),
        "activation": .text(texts[i % texts.count]), "warm-start": .flag(i % 2 == 0),
        "weight-decay": .number(-x),
      ]
      let expected = String(decoding: try encoder.encode(values), as: UTF8.self)
      #expect(RunConfig.encode(values) == expected, "\(x)")
    }
  }

  @Test func theIdentityAndResumeRulesAreTheSpecifications() throws {
    for setting in RunConfig.settings {
      #expect(setting.identifies == !Self.notIdentifying.contains(setting.name), "\(setting.name): identifies")
      #expect(
        (setting.onResume == .mayChange) == Self.changeableOnResume.contains(setting.name),
        "\(setting.name): on resume")
    }
    // Each setting's value reaches the run's identity exactly when it defines the run.
    let steady = try DatasetSummary.read(shipped("patterns")), trajectory = try DatasetSummary.read(shipped("figure8"))
    let xor = try DatasetSummary.read(shipped("xor"))
    // (`model` has one value per dataset, its kind; the walk below checks it.)
    for setting in RunConfig.settings where setting.name != "model" {
      guard let (text, _) = Self.samples[setting.name] else { continue }
      var base = RunConfig()
      if setting.name == "loss" { base.activation = .logistic }
      if setting.name == "window" { base.bptt = .truncated }
      // val_fraction: a dataset without /val.
      let data =
        setting.name == "val_fraction"
        ? xor : setting.scope == .trajectory || setting.name == "bptt" ? trajectory : steady
      let changed = base.overridden(by: try RunConfig.parse(arguments: Self.flags(setting, text)))
      guard let before = try? base.resolved(for: data), let after = try? changed.resolved(for: data) else {
        Issue.record("\(setting.name): \(text) does not resolve for \(data.path)")
        continue
      }
      let differs = before.identity(dataHash: "d") != after.identity(dataHash: "d")
      #expect(
        differs == !Self.notIdentifying.contains(setting.name), "\(setting.name) = \(text): identity changed \(differs)"
      )
    }
  }

  /// The flags that give `setting` the value `text`.
  static func flags(_ setting: Setting, _ text: String) -> [String] {
    if case .flag = setting.values { return text == "true" ? [setting.flag] : [setting.flag + "=false"] }
    return [setting.flag, text]
  }

  @Test func everySettingGoesFromFlagToJSONToCheckpointToResume() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    #expect(Set(Self.samples.keys) == Set(RunConfig.settings.map(\.name)), "samples and declarations differ")
    let steady = try DatasetSummary.read(shipped("patterns")), trajectory = try DatasetSummary.read(shipped("figure8"))
    let xor = try DatasetSummary.read(shipped("xor"))
    for setting in RunConfig.settings {
      guard let (text, resumedText) = Self.samples[setting.name] else { continue }
      // Flag → configuration.
      let given = try RunConfig.parse(arguments: Self.flags(setting, text))
      let value = try #require(setting.value(in: given), "\(setting.flag) \(text) set nothing")
      #expect(setting.problem(with: value) == nil)
      #expect(given.values.count == 1, "\(setting.flag) set \(given.values.keys.sorted())")
      // Configuration → JSON → configuration, under both spellings of the key.
      #expect(try RunConfig.parse(json: Data(given.json.utf8), source: "json") == given, "\(setting.name)")
      let old = given.json.replacingOccurrences(of: "\"\(setting.name)\"", with: "\"\(setting.hyphenated)\"")
      #expect(try RunConfig.parse(json: Data(old.utf8), source: "v1 json") == given, "\(setting.hyphenated)")
      // Training with it: the checkpoint stores it (threads excepted: the
      // stored configuration leaves it out so that checkpoints do not depend
      // on it), and the resolved configuration has it where it applies.
      var config = RunConfig()
      config.epochs = 1
      config.batch = 16
      if setting.name == "loss" { config.activation = .logistic }
      if setting.name == "window" { config.bptt = .truncated }
      config = config.overridden(by: given)
      let data =
        setting.name == "val_fraction"
        ? xor : setting.scope == .trajectory || setting.name == "bptt" ? trajectory : steady
      let plan = try config.resolved(for: data)
      let out = dir + "/\(setting.name).h5"
      let trainer = try Trainer<Double>(plan: plan, data: data.path, summary: data, checkpoint: out)
      _ = try trainer.run()
      let checkpoint = try CheckpointFile.read(out)
      let stored = try RunConfig.parse(json: Data(try #require(checkpoint.config).utf8), source: out)
      if setting.name != "threads" { #expect(setting.value(in: stored) == value, "\(setting.name) not stored") }
      let resolved = try RunConfig.parse(json: Data(try #require(checkpoint.resolvedConfig).utf8), source: out)
      if !Self.notIdentifying.contains(setting.name) {
        #expect(setting.value(in: resolved) == value, "\(setting.name) not resolved")
      }
      // Resuming with another value: allowed or refused as declared.
      var again = stored.overridden(by: try RunConfig.parse(arguments: Self.flags(setting, resumedText)))
      if setting.name != "epochs" { again.epochs = (again.epochs ?? 1) + 1 }
      let refusal: String? = {
        do {
          try again.resolved(for: data).checkResumable(from: try stored.resolved(for: data), at: checkpoint.epoch)
          return nil
        } catch { return "\(error)" }
      }()
      switch Self.changeableOnResume.contains(setting.name) ? Setting.OnResume.mayChange : .fixed {
      case .fixed:
        #expect(
          refusal?.contains(setting.name) == true || refusal?.contains("does not fit") == true,
          "\(setting.name): \(refusal ?? "resumed")")
      case .mayChange:
        #expect(refusal == nil, "\(setting.name): \(refusal ?? "")")
        let resumed = try Trainer<Double>(
          plan: try again.resolved(for: data), data: data.path, summary: data,
          checkpoint: out, resumeFrom: checkpoint)
        _ = try resumed.run()
        #expect(try CheckpointFile.read(out).epoch > checkpoint.epoch, "\(setting.name): resumed nothing")
      }
    }
  }

  /// Bad values name the flag or the key, in every spelling; nothing is
  /// dropped on the way.
  @Test func badValuesNameTheirSetting() throws {
    for (arguments, message) in [
      (["--lr", "nan"], "--lr must be a finite number"),
      (["--units", "0"], "--units must be between 1 and"),
      (["--units", "2.5"], "--units must be an integer"),
      (["--bptt", "some"], "--bptt must be full, checkpointed or truncated, got some"),
      (["--lr-decay", "1.5"], "--lr-decay must be in (0, 1], got 1.5"),
      (["--epochs"], "--epochs needs a value"), (["--learning-rate", "1"], "unknown option"),
    ] {
      #expect(throws: ConfigError.self, "\(arguments)") { try RunConfig.parse(arguments: arguments) }
      do { _ = try RunConfig.parse(arguments: arguments) } catch { #expect("\(error)".contains(message), "\(error)") }
    }
    for (json, message) in [
      (#"{"lr_decay": 2}"#, "'lr_decay' must be in (0, 1], got 2"),
      (#"{"lr-decay": 0}"#, "'lr-decay' must be in (0, 1], got 0"),
      (#"{"lr_decay": 0.5, "lr-decay": 0.5}"#, "name the same setting"),
      (#"{"units": 1e30}"#, "'units' must be an integer"),
      (#"{"units": "4"}"#, "'units' must be an integer, got \"4\""),
      (#"{"warm_start": 1}"#, "'warm_start' must be true or false"),
      (#"{"epochs": [1]}"#, "key 'epochs' must be a number, a string or a boolean"),
    ] {
      do {
        _ = try RunConfig.parse(json: Data(json.utf8), source: "c.json")
        Issue.record("\(json) was accepted")
      } catch { #expect("\(error)".contains(message), "\(json): \(error)") }
    }
    // Flags over a configuration: every flag that is given wins, the rest stays.
    var base = RunConfig()
    (base.lr, base.epochs) = (0.5, 7)
    let merged = base.overridden(by: try RunConfig.parse(arguments: ["--lr", "0.1", "--seed", "2"]))
    #expect(merged.lr == 0.1 && merged.epochs == 7 && merged.seed == 2)
  }
}

@Suite("Run identities")
struct RunIdentityTests {
  /// A sweep checks its dataset's hash before and after every run; the
  /// cache behind it reads a file again whenever it may have changed, even
  /// when rewritten with its old size and modification time.
  @Test func aDatasetRewrittenWithItsOldSizeAndTimeIsHashedAgain() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/data.bin"
    try Data(repeating: 1, count: 40_000).write(to: URL(fileURLWithPath: path))
    let cache = FileHashCache(racySeconds: 0)
    let first = try cache.hash(path)
    #expect(first == (try ContentHash.ofFile(path)))
    #expect(try cache.hash(path) == first)
    #expect(cache.reads == 1, "an unchanged file is not read again")
    var info = stat()
    #expect(stat(path, &info) == 0)
    // One byte changed in place: the same inode and size.
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    try handle.seek(toOffset: 12_345)
    try handle.write(contentsOf: Data([2]))
    try handle.close()
    var times = [info.st_atim, info.st_mtim]
    #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
    let again = try cache.hash(path)
    #expect(again != first)
    #expect(again == (try ContentHash.ofFile(path)))
    #expect(cache.reads == 2)
    // A file changed within `racySeconds` of its hashing is read every time.
    let wary = FileHashCache(racySeconds: 3600)
    _ = try wary.hash(path)
    _ = try wary.hash(path)
    #expect(wary.reads == 2)
  }

  /// Specs of every kind of value (grid and explicit runs, steady and
  /// trajectory, defaults that depend on other settings), resolved against
  /// the shipped datasets' summaries, with a fixed data hash.
  static let specs = [
    #"{"data": "xor.h5", "grid": {"lr": [0.03, 0.1], "units": [3, 4]}, "runs": [{"optimizer": "sgd", "momentum": 0.5}, {"weight_decay": 1e-05, "clip": 2.5, "precision": "f64"}]}"#,
    #"{"data": "figure8.h5", "base": {"bptt": "truncated", "window": 7, "leak": 0.5}, "grid": {"seed": [1, 2]}}"#,
  ]

  static func identities() throws -> [String] {
    var out: [String] = []
    for text in specs {
      let spec = try SweepSpec.parse(json: Data(text.utf8), source: repositoryRoot + "/datasets/spec.json")
      let summary = try DatasetSummary.read(spec.data)
      for config in spec.runs { out.append(try config.resolved(for: summary).identity(dataHash: "0123456789abcdef")) }
    }
    return out
  }

  /// A run's identity names its results across versions: a sweep finds its
  /// finished runs by it. These are the identities version 1 computed;
  /// a change of encoder, of key order or of hash would change them.
  @Test func identitiesAreThoseOfEarlierVersions() throws {
    let expected = [
      "14160c7fd304a304", "5c35634a8ad82cf3", "35e91a4fd0769b82", "b39c41d63000948a", "579a179710527006",
      "b34a1c53de538473", "2c02ea3ef3635e4c", "8972eb75be477734",
    ]
    let got = try Self.identities()
    #expect(got == expected, "\(got)")
  }
}

extension RunIdentityTests {
  /// `json` (snake_case keys) and `identityJSON` (hyphenated keys) are
  /// JSONEncoder's sorted-keys text of the settings that are set, for the
  /// configurations as given and as resolved.
  @Test func configurationJSONIsJSONEncodersText() throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    var checked = 0
    for text in Self.specs {
      let spec = try SweepSpec.parse(json: Data(text.utf8), source: repositoryRoot + "/datasets/spec.json")
      let summary = try DatasetSummary.read(spec.data)
      for given in spec.runs {
        for config in [given, try given.resolved(for: summary).resolvedConfig] {
          var snake: [String: SettingValue] = [:], hyphenated: [String: SettingValue] = [:]
          for setting in RunConfig.settings {
            if let v = setting.value(in: config) { (snake[setting.name], hyphenated[setting.hyphenated]) = (v, v) }
          }
          #expect(config.json == String(decoding: try encoder.encode(snake), as: UTF8.self))
          #expect(config.identityJSON == String(decoding: try encoder.encode(hyphenated), as: UTF8.self))
          checked += 1
        }
      }
    }
    #expect(checked == 16)
  }
}
