// Progress reporting shared by the long-running commands: on a terminal a
// live line rewritten in place (epoch or runs done, loss, throughput, ETA);
// in a pipe or log one plain line per epoch or run; --json one JSON object
// per line; --quiet nothing. The live line needs both stdout and stderr on
// a terminal that is not `TERM=dumb`: `rbp train … | tee log` gets plain
// lines. A reader that goes away (`| head`) does not stop the work: output
// is dropped from then on and the run finishes with its checkpoint.

import Foundation

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
      FileHandle.standardError.write(Data(("\r\u{1B}[K" + text + (final ? "\n" : "")).utf8))
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
  return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}

/// A line on stdout, unbuffered (so logs and pipes see it at once). Once
/// the reader has gone (EPIPE; SIGPIPE is ignored, see `main`), lines are
/// dropped.
/// One line on stderr, "Warning: …": something the user gets that is not
/// what they asked for in full (patterns that did not settle, say).
func warn(_ text: String) {
  FileHandle.standardError.write(Data("Warning: \(text)\n".utf8))
}

func writeLine(_ text: String) {
  guard !stdoutClosed else { return }
  fflush(nil)   // after anything print() buffered (all C streams)
  let bytes = Array((text + "\n").utf8)
  var offset = 0
  while offset < bytes.count {
    let n = bytes[offset...].withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
    if n < 0 {
      if errno == EINTR { continue }
      stdoutClosed = true
      return
    }
    offset += n
  }
}

nonisolated(unsafe) private var stdoutClosed = false
