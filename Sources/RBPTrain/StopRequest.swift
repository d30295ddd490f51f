// Stopping work on request: a signal handler's queue sets the process's
// one `StopRequest`, and the trainers and sweeps poll it between
// minibatches and epochs, then save what they have.

import Foundation

/// "SIGTERM", "SIGINT", or "signal N".
public func signalName(_ signal: Int32) -> String {
  switch signal {
  case SIGINT: return "SIGINT"
  case SIGTERM: return "SIGTERM"
  case SIGHUP: return "SIGHUP"
  default: return "signal \(signal)"
  }
}

/// A request to stop work soon and save it, shared by every trainer in the
/// process: set from a signal handler's queue, polled by the trainers.
public final class StopRequest: @unchecked Sendable {
  /// The process's one request.
  public static let shared = StopRequest()
  private let lock = NSLock()
  private var pending: Int32? = nil

  /// No request yet.
  public init() {}

  /// The signal that asked to stop, if any.
  public var signal: Int32? { lock.withLock { pending } }

  /// Asks to stop, for `signal` (the first request is kept).
  public func request(_ signal: Int32) { lock.withLock { if pending == nil { pending = signal } } }
}
