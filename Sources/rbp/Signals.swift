// Stopping on a signal without losing work. SIGINT and SIGTERM (how Slurm
// ends a job at its time limit, on preemption or on `scancel`) and SIGHUP
// ask every trainer in the process to write its state at the last epoch
// boundary and stop (`StopRequest`); the command then exits with 128 + the
// signal's number, as a shell reports a process killed by it, after saying
// where the state is. A second signal ends the process at once. The
// handler is in place when `installStopHandlers` returns (a Dispatch
// signal source registered itself later, and a signal sent in between was
// lost: a run terminated just after it started then trained to its end).

import ArgumentParser
import Dispatch
import Foundation
import RBPStore
import RBPTrain

#if canImport(Glibc)
  import Glibc
#endif

nonisolated(unsafe) private var stopHandlersInstalled = false

/// Catches SIGINT, SIGTERM and SIGHUP (`StopSignals`): from here on the
/// first is `StopRequest.shared`'s request to stop, the second ends the
/// process.
func installStopHandlers() {
  guard !stopHandlersInstalled else { return }
  stopHandlersInstalled = true
  do {
    try StopSignals.install()
  } catch {
    FileHandle.standardError.write(Data("Warning: \(error); a signal will end the process without saving\n".utf8))
    return
  }
  let watcher = Thread {
    var received = 0
    while let s = StopSignals.next() {
      received += 1
      if received > 1 {
        TemporariesInProgress.shared.removeAll()
        FileHandle.standardError.write(
          Data("\(signalName(s)) again: stopping now, without saving (the last checkpoint written stays)\n".utf8))
        // _exit, not exit: the exit handlers (HDF5's shutdown among them)
        // take time, and a writer whose temporary was just removed could
        // meanwhile fail and exit with 1 first.
        _exit(128 + s)
      }
      // The first is already the shared request (`StopSignals.first`).
      FileHandle.standardError.write(
        Data("\(signalName(s)): saving the state of the runs in progress, then stopping\n".utf8))
    }
  }
  watcher.start()
}

/// The exit of a command that stopped on `signal` after saving: the message
/// on stderr, status 128 + signal.
func interruptedExit(_ signal: Int32, message: String) -> ExitCode {
  FileHandle.standardError.write(Data("Interrupted: \(message)\n".utf8))
  return ExitCode(128 + signal)
}
