// The `rbp` command line: parsing and printing only. Each subcommand lives
// in its own file and calls the library modules for the work. Every error
// is one line on stderr ("Error: …") with a non-zero exit; --help prints
// the full help.

import ArgumentParser
import Foundation
import RBPKernels
import RBPStore

struct RBP: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "rbp",
    abstract: "Train recurrent networks by recurrent backpropagation and BPTT.",
    version: "rbp \(RBPVersion.string) (kernels: \(KernelISA.active))",
    subcommands: [
      Train.self, Eval.self, Grad.self, States.self, Invert.self, FixedPoints.self, Sweep.self,
      Inspect.self, Datasets.self, Bench.self,
    ])
}

@main
enum Main {
  static func main() {
    // A reader that goes away (`rbp train … | head`) must not kill a run
    // before its checkpoint: writes then fail with EPIPE, and are dropped.
    signal(SIGPIPE, SIG_IGN)
    // A damaged file that crashes the HDF5 library as it is read ends the
    // command with one line naming it (the trial read catches most first).
    HDF5.installCrashGuard()
    // A launcher may hand its blocked signals down (test harnesses do):
    // SIGINT, SIGTERM and SIGHUP must reach this process whatever started it.
    var stopSignals = sigset_t()
    sigemptyset(&stopSignals)
    for s in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&stopSignals, s) }
    pthread_sigmask(SIG_UNBLOCK, &stopSignals, nil)
    do {
      if let rejected = KernelISA.rejectedOverride {
        FileHandle.standardError.write(
          Data(
            "Warning: RBP_ISA=\(rejected) is not an instruction set this CPU runs (\(KernelISA.supported.map(\.rawValue).joined(separator: ", "))); using \(KernelISA.active)\n"
              .utf8))
      }
      // Arguments reach the commands as Swift strings: a file name that is
      // not UTF-8 would be changed on the way and then not be found.
      for i in 1..<Int(CommandLine.argc) {
        guard let raw = CommandLine.unsafeArgv[i] else { continue }
        let bytes = UnsafeBufferPointer(start: raw, count: strlen(raw)).map { UInt8(bitPattern: $0) }
        if String(validating: bytes, as: UTF8.self) == nil {
          throw CLIFailure(
            message: "argument \(i) (\(String(decoding: bytes, as: UTF8.self))) is not valid UTF-8; "
              + "rbp needs file names and values in UTF-8 (rename the file, or link it under a UTF-8 name)")
        }
      }
      var command = try RBP.parseAsRoot()
      try command.run()
      errno = 0
      try checkStandardOutput()
    } catch let code as ExitCode {
      exit(code.rawValue)  // the command has said why
    } catch {
      if RBP.exitCode(for: error) == .success {
        RBP.exit(withError: error)  // --help, --version: full text, exit 0
      }
      let message = rbpVoice(
        RBP.message(for: error)
          .split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? "\(error)")
      FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
      let code = RBP.exitCode(for: error)
      // Usage errors too: one status for every error.
      exit(code == .success || code == .validationFailure ? 1 : code.rawValue)
    }
  }
}

/// ArgumentParser's own messages in rbp's voice: lower case, the flag
/// first, and where to read more ("Missing expected argument '--data
/// <data>'" becomes "missing --data <data>; see rbp train --help").
func rbpVoice(_ message: String) -> String {
  let commands = ["train", "eval", "grad", "states", "invert", "fixed-points", "sweep", "inspect", "datasets", "bench"]
  let words = CommandLine.arguments.dropFirst().prefix { !$0.hasPrefix("-") }
  var path = words.prefix(2).filter { !$0.contains("/") && !$0.contains(".") }
  if let first = path.first, !commands.contains(first) { path = [] }
  if path.first != "sweep" && path.first != "datasets" && path.first != "bench" { path = Array(path.prefix(1)) }
  let help = "see rbp " + (path.isEmpty ? "" : path.joined(separator: " ") + " ") + "--help"
  func quoted(_ text: String, after prefix: String) -> String? {
    guard text.hasPrefix(prefix), let end = text.dropFirst(prefix.count).firstIndex(of: "'") else { return nil }
    return String(text[text.index(text.startIndex, offsetBy: prefix.count)..<end])
  }
  if let arg = quoted(message, after: "Missing expected argument '") { return "missing \(arg); \(help)" }
  if let arg = quoted(message, after: "Missing value for '") { return "\(arg) needs a value; \(help)" }
  if let arg = quoted(message, after: "Unknown option '") { return "unknown option '\(arg)'; \(help)" }
  if let arg = quoted(message, after: "Unexpected argument '") {
    return path.isEmpty ? "unknown command '\(arg)'; \(help)" : "unexpected argument '\(arg)'; \(help)"
  }
  if message.hasPrefix("The value '"), let value = quoted(message, after: "The value '"),
    let flag = message.range(of: "' is invalid for '").map({ message[$0.upperBound...].prefix { $0 != "'" } })
  {
    return "\(flag): '\(value)' is not a valid value; \(help)"
  }
  guard let first = message.first, first.isUppercase, message.dropFirst().first?.isLowercase == true else {
    return message
  }
  return first.lowercased() + message.dropFirst()
}
