// Stopping on a signal without losing work. SIGINT and SIGTERM (how Slurm
// ends a job at its time limit, on preemption or on `scancel`) and SIGHUP
// ask every trainer in the process to write its state at the last epoch
// boundary and stop (`StopRequest`); the command then exits with 128 + the
// signal's number, as a shell reports a process killed by it, after saying
// where the state is. A second signal ends the process at once.

import ArgumentParser
import Dispatch
import Foundation
import RBPStore
import RBPTrain

#if canImport(Glibc)
  import Glibc
#endif

nonisolated(unsafe) private var stopSources: [DispatchSourceSignal] = []

/// Routes SIGINT, SIGTERM and SIGHUP to `StopRequest.shared`.
func installStopHandlers() {
  guard stopSources.isEmpty else { return }
  for s in [SIGINT, SIGTERM, SIGHUP] {
    signal(s, SIG_IGN)  // the source sees it; the default action (termination) does not run
    let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
    source.setEventHandler {
      if StopRequest.shared.signal != nil {
        TemporariesInProgress.shared.removeAll()
        FileHandle.standardError.write(
          Data("\(signalName(s)) again: stopping now, without saving (the last checkpoint written stays)\n".utf8))
        // _exit, not exit: the exit handlers (HDF5's shutdown among them)
        // take time, and a writer whose temporary was just removed could
        // meanwhile fail and exit with 1 first.
        _exit(128 + s)
      }
      StopRequest.shared.request(s)
      FileHandle.standardError.write(
        Data("\(signalName(s)): saving the state of the runs in progress, then stopping\n".utf8))
    }
    source.resume()
    stopSources.append(source)
  }
}

/// The exit of a command that stopped on `signal` after saving: the message
/// on stderr, status 128 + signal.
func interruptedExit(_ signal: Int32, message: String) -> ExitCode {
  FileHandle.standardError.write(Data("Interrupted: \(message)\n".utf8))
  return ExitCode(128 + signal)
}
