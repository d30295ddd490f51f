// The setting flags of a training run (`train`) and the solver flags of the
// analysis commands (`eval`, `grad`, `fixed-points`). They are not declared
// here: each is a `Setting` of `RunConfig.settings`, and its flag, values,
// default and help come from that declaration. ArgumentParser hands the
// arguments it does not know to `RunConfig.parse(arguments:)`.

import ArgumentParser
import Foundation
import RBPTrain

/// Every setting flag of `rbp train`.
struct RunOptions: ParsableArguments {
  @Argument(parsing: .allUnrecognized, help: .hidden) var arguments: [String] = []

  func config() throws -> RunConfig {
    do { return try RunConfig.parse(arguments: arguments) } catch let error as ConfigError {
      throw CLIFailure(
        message: error.description
          + (error.description.hasPrefix("unknown option")
            ? "; see rbp train --help" : ""))
    }
  }

  /// For `--help`.
  static var help: String { RunConfig.helpText() }
}

/// The steady-state solver flags, taken by the analysis commands to
/// override the checkpoint's stored solver settings.
struct SolverFlags: ParsableArguments {
  @Argument(parsing: .allUnrecognized, help: .hidden) var arguments: [String] = []

  /// The solver settings given as flags (the others unset).
  func overrides() throws -> RunConfig {
    do { return try RunConfig.parse(arguments: arguments, only: [.solver]) } catch let error as ConfigError {
      throw CLIFailure(message: error.description)
    }
  }

  /// For `--help`.
  static var help: String { RunConfig.helpText(groups: [.solver], resuming: false) }
}

/// Reads a JSON run configuration file strictly.
func readConfig(_ path: String) throws -> RunConfig {
  guard let data = FileManager.default.contents(atPath: path) else {
    throw CLIFailure(message: "\(path): cannot read the configuration file")
  }
  return try RunConfig.parse(json: data, source: path)
}
