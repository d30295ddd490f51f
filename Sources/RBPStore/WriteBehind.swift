// Durability off the writer's path. A sweep's run ends by writing its
// checkpoint, best.h5 and result.json, each atomically: fsync the
// temporary, rename it, fsync the folder. Those six waits for the disk were
// a third of a small run's time, with its worker idle. Through a
// `WriteBehind`, the worker only fills the temporaries; one thread then
// syncs and renames them, in the order they were written, so every file is
// still on disk before its name is, and result.json still comes after the
// checkpoint it describes. What a crash can lose is the writes still
// queued: their temporaries, never a file that was in place.
//
// Work that must follow a write (releasing a run's lock once its
// result.json is in place) is queued after it. The first failure is kept
// and thrown by `finish()`, which waits for the queue; the writes after a
// failure still run (they are of other files).

import Dispatch
import Foundation

/// A queue of atomic replacements whose sync and rename happen on one
/// background thread, in order.
public final class WriteBehind: @unchecked Sendable {
  private let queue = DispatchQueue(label: "rbp.write-behind")
  private let lock = NSLock()
  private var failures: [Error] = []

  /// An empty queue, with its thread.
  public init() {}

  /// Runs `step` after everything queued before it; a thrown error is kept
  /// for `finish()`.
  public func enqueue(_ step: @escaping @Sendable () throws -> Void) {
    queue.async {
      do { try step() } catch { self.lock.withLock { self.failures.append(error) } }
    }
  }

  /// Waits until everything queued so far is done (failures are kept for
  /// `finish()`).
  public func wait() { queue.sync {} }

  /// Waits until everything queued so far is done; throws the first
  /// failure of any of it (once).
  public func finish() throws {
    wait()
    let first = lock.withLock {
      defer { failures.removeAll() }
      return failures.first
    }
    if let first { throw first }
  }
}
