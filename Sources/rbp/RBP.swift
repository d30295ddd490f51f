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
    subcommands: [Train.self, Eval.self, Grad.self, States.self, Invert.self, FixedPoints.self, Sweep.self,
                  Inspect.self, Datasets.self, Bench.self])
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
        FileHandle.standardError.write(Data(
          "Warning: RBP_ISA=\(rejected) is not an instruction set this CPU runs (\(KernelISA.supported.map(\.rawValue).joined(separator: ", "))); using \(KernelISA.active)\n".utf8))
      }
      // Arguments reach the commands as Swift strings: a file name that is
      // not UTF-8 would be changed on the way and then not be found.
      for i in 1..<Int(CommandLine.argc) {
        guard let raw = CommandLine.unsafeArgv[i] else { continue }
        let bytes = UnsafeBufferPointer(start: raw, count: strlen(raw)).map { UInt8(bitPattern: $0) }
        if String(validating: bytes, as: UTF8.self) == nil {
          throw CLIFailure(message: "argument \(i) (\(String(decoding: bytes, as: UTF8.self))) is not valid UTF-8; "
                           + "rbp needs file names and values in UTF-8 (rename the file, or link it under a UTF-8 name)")
        }
      }
      var command = try RBP.parseAsRoot()
      try command.run()
      errno = 0
      try checkStandardOutput()
    } catch let code as ExitCode {
      exit(code.rawValue)   // the command has said why
    } catch {
      if RBP.exitCode(for: error) == .success {
        RBP.exit(withError: error)   // --help, --version: full text, exit 0
      }
      let message = RBP.message(for: error)
        .split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? "\(error)"
      FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
      let code = RBP.exitCode(for: error)
      exit(code == .success ? 1 : code.rawValue)
    }
  }
}
