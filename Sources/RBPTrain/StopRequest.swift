// Stopping work on request: the process's one `StopRequest` follows the
// stop signals the command line catches (`StopSignals`), and the trainers
// and sweeps poll it between minibatches and epochs, then save what they
// have.

import Foundation
import RBPStore

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
/// process: made by a stop signal (the shared one) or by `request`, polled
/// by the trainers.
public final class StopRequest: @unchecked Sendable {
  /// The process's one request, which a caught stop signal makes.
  public static let shared = StopRequest(followingSignals: true)
  private let lock = NSLock()
  private var pending: Int32? = nil
  private let followsSignals: Bool

  /// No request yet; made only by `request`.
  public init() { followsSignals = false }

  init(followingSignals: Bool) { followsSignals = followingSignals }

  /// The signal that asked to stop, if any.
  public var signal: Int32? { lock.withLock { pending } ?? (followsSignals ? StopSignals.first : nil) }

  /// Asks to stop, for `signal` (the first request is kept).
  public func request(_ signal: Int32) { lock.withLock { if pending == nil { pending = signal } } }
}
