// Progress reporting shared by the long-running commands: on a terminal a
// live line rewritten in place (epoch or runs done, loss, throughput, ETA);
// in a pipe or log one plain line per epoch or run; --json one JSON object
// per line; --quiet nothing. The live line needs both stdout and stderr on
// a terminal that is not `TERM=dumb`: `rbp train … | tee log` gets plain
// lines. A reader that goes away (`| head`) does not stop the work: output
// is dropped from then on and the run finishes with its checkpoint.

import Foundation
import RBPStore

#if canImport(Glibc)
  import Glibc
#endif

struct ProgressPrinter {
  enum Mode { case live, lines, json, quiet }
  let mode: Mode

  init(quiet: Bool, json: Bool) {
    if quiet {
      mode = .quiet
    } else if json {
      mode = .json
    } else {
      let dumb = ProcessInfo.processInfo.environment["TERM"].map { $0 == "dumb" || $0.isEmpty } ?? true
      mode = isatty(STDOUT_FILENO) != 0 && isatty(STDERR_FILENO) != 0 && !dumb ? .live : .lines
    }
  }

  /// One update: `fields` in order for text, as a JSON object for --json.
  func update(_ text: String, json: [String: Any], final: Bool = false) {
    switch mode {
    case .quiet: return
    case .json:
      writeLine(jsonLine(json.mapValues { Optional($0) }))
    case .lines:
      writeLine(text)
    case .live:
      // Cut to the terminal's width: a wrapped line would break the redraw.
      var size = winsize()
      let width = ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
      let shown = text.count >= width ? String(text.prefix(max(width - 2, 1))) + "…" : text
      FileHandle.standardError.write(Data(("\r\u{1B}[K" + shown + (final ? "\n" : "")).utf8))
    }
  }

  /// A notice on stderr (not in --json or --quiet), on its own line above
  /// a live line.
  func notice(_ text: String) {
    switch mode {
    case .quiet, .json: return
    case .lines: FileHandle.standardError.write(Data((text + "\n").utf8))
    case .live: FileHandle.standardError.write(Data(("\r\u{1B}[K" + text + "\n").utf8))
    }
  }

  /// Ends a live line.
  func finish() {
    if mode == .live { FileHandle.standardError.write(Data("\n".utf8)) }
  }
}

/// "1:05" or "2:03:04".
func clock(_ seconds: Double) -> String {
  guard seconds.isFinite && seconds >= 0 else { return "?" }
  let s = Int(seconds.rounded())
  return s >= 3600
    ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}

/// One line on stderr, "Warning: …": something the user gets that is not
/// what they asked for in full (patterns that did not settle, say).
func warn(_ text: String) {
  FileHandle.standardError.write(Data("Warning: \(text)\n".utf8))
}

/// A line on stdout, unbuffered (so logs and pipes see it at once). Once
/// the reader has gone (EPIPE; SIGPIPE is ignored, see `main`), lines are
/// dropped and the work goes on; any other failure (a full disk) is
/// remembered, and `checkStandardOutput` fails the command with it.
func writeLine(_ text: String) {
  guard !stdoutClosed && stdoutFailure == nil else { return }
  // After anything print() buffered (stdout is the only buffered stream).
  if fflush(nil) != 0 { noteStdoutError(errno) }
  let bytes = Array((text + "\n").utf8)
  var offset = 0
  while offset < bytes.count {
    let n = bytes[offset...].withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
    if n < 0 {
      if errno == EINTR { continue }
      noteStdoutError(errno)
      return
    }
    offset += n
  }
}

private func noteStdoutError(_ code: Int32) {
  if code == EPIPE { stdoutClosed = true } else if stdoutFailure == nil { stdoutFailure = code }
}

/// At the end of a command: flushes stdout and throws if any write to it
/// failed other than for a reader that went away.
func checkStandardOutput() throws {
  if fflush(nil) != 0 { noteStdoutError(errno == 0 ? EIO : errno) }
  if let code = stdoutFailure {
    throw CLIFailure(message: "cannot write to standard output (\(String(cStringPointer: strerror(code))))")
  }
}

nonisolated(unsafe) private var stdoutClosed = false
nonisolated(unsafe) private var stdoutFailure: Int32? = nil
