// Progress reporting shared by the long-running commands: on a terminal a
// live line rewritten in place (epoch or runs done, loss, throughput, ETA);
// in a pipe or log one plain line per epoch or run; --json one JSON object
// per line; --quiet nothing.

import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct ProgressPrinter {
  enum Mode { case live, lines, json, quiet }
  let mode: Mode

  init(quiet: Bool, json: Bool) {
    if quiet { mode = .quiet } else if json { mode = .json } else if isatty(STDERR_FILENO) != 0 { mode = .live } else { mode = .lines }
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

/// A line on stdout, unbuffered (so logs and pipes see it at once).
func writeLine(_ text: String) {
  FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
