// The signals that ask the command line to stop (SIGINT, SIGTERM, SIGHUP),
// caught from the moment `install()` returns: a C handler records the first
// where `StopRequest` polls it and queues each one for a thread of the
// program to act on (stop_signals.h). The command line installs it; the
// library never does.

import CRBPGuard

#if canImport(Glibc)
  import Glibc
#endif

/// The process's stop signals, as the handler received them.
public enum StopSignals {
  /// Installs the handler (once); throws naming the system's reason.
  public static func install() throws {
    guard rbp_stop_install() == 0 else {
      throw FileSystemError(path: "signals", message: "cannot install the handler: \(String(cString: strerror(errno)))")
    }
  }

  /// The first stop signal received, if any.
  public static var first: Int32? {
    let signal = rbp_stop_first()
    return signal == 0 ? nil : Int32(signal)
  }

  /// Waits for the next stop signal and returns it; nil when the handler is
  /// not installed.
  public static func next() -> Int32? {
    let signal = rbp_stop_next()
    return signal < 0 ? nil : Int32(signal)
  }
}
