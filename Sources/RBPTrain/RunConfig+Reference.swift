// The settings reference (docs/settings.md), rendered from the declarations
// in `RunConfig.settings`: the page is generated, never edited by hand, and
// a test fails when it differs from what the declarations say.

extension RunConfig {
  /// Every setting as Markdown, by group: flag and JSON key, the values it
  /// takes, its default, the models it applies to, whether it is part of
  /// the run's identity, whether `--resume` may change it, and its help.
  public static func settingsReference() -> String {
    var out = """
      # Settings

      Generated from the declarations in `Sources/RBPTrain/RunConfig.swift`
      (`scripts/update-docs.sh` rewrites this page; a test fails when it is
      out of date). Every setting is a flag of `rbp train` and a key of a
      JSON config (`--config run.json`, `"max_iterations": 500`); the solver
      settings are also flags of `rbp eval`, `states`, `grad` and
      `fixed-points`. A setting that is part of the run's identity changes
      its hash when it changes (a sweep then reruns the run); `--resume`
      refuses to change a setting unless it is marked "May change".

      """
    for group in Setting.Group.allCases {
      let members = settings.filter { $0.group == group }
      guard !members.isEmpty else { continue }
      out += "\n## \(group.rawValue.prefix(1).uppercased() + group.rawValue.dropFirst())\n\n"
      for s in members {
        let flag: String
        if case .flag = s.values {
          flag = "`\(s.flag)` / `--no-\(s.flag.dropFirst(2))`"
        } else {
          flag = "`\(s.flag) \(s.placeholder)`"
        }
        let facts = [
          "Values: \(s.valuesText).",
          (s.defaultRule ?? s.fixedDefault.map { "`\($0)`" }).map { "Default: \($0)." },
          s.scope == .every ? nil : "\(s.scope == .steady ? "Steady" : "Trajectory") models only.",
          s.identifies ? nil : "Not part of the run's identity.",
          s.onResume == .mayChange ? "May change on `--resume`." : nil,
        ].compactMap { $0 }
        out += "- \(flag) (`\(s.name)`): \(s.help) \(facts.joined(separator: " "))\n"
      }
    }
    return out
  }
}

extension Setting {
  /// The values, in words: "an integer >= 1", "positive", "`a`, `b` or `c`".
  var valuesText: String {
    switch values {
    case .integer(let range):
      range.upperBound == Int.max
        ? "an integer >= \(range.lowerBound)"
        : "an integer from \(range.lowerBound) to \(range.upperBound)"
    case .number(let interval): "a number, \(interval.requirement)"
    case .choice(let names): Setting.list(names.map { "`\($0)`" })
    case .flag: "on or off"
    }
  }
}
