// Programs started from the tests with nothing of the test process but
// their arguments, environment and standard streams. The tests run in
// parallel in one process, and other tests hold HDF5 files open while a
// program starts. HDF5 takes a `flock` on every file it opens, and the lock
// lives as long as any copy of the descriptor does: a descriptor inherited
// by a child keeps another test's lock alive until the child ends, and
// reopening that file here fails with EAGAIN. Foundation's `Process` on
// Linux closes the descriptors it saw open a moment before the spawn, so a
// file opened in between is inherited. Here the child closes every
// descriptor above 2 itself, as part of the spawn
// (`posix_spawn_file_actions_addclosefrom_np`). Until it has, it holds a copy
// of every descriptor; the spawn returns only after the child's exec, and it
// runs holding the HDF5 lock, so no test reopens a file in that window.

import Foundation
import RBPStore

#if canImport(Glibc)
  import Glibc
#endif

/// A program started by the tests.
public final class ChildProcess: @unchecked Sendable {
  /// Where a standard stream of the child goes.
  public enum Stream: Sendable {
    /// /dev/null.
    case discard
    /// A pipe this object reads (`run` collects it).
    case pipe
  }

  /// How the child ended.
  public enum Ending: Equatable, Sendable {
    case exit(Int32)
    case signal(Int32)
  }

  public let processIdentifier: pid_t
  /// The read end of the child's standard output or error, for `.pipe`.
  public let standardOutput: FileHandle?
  public let standardError: FileHandle?
  private let lock = NSLock()
  private var ending: Ending?

  /// Starts `path` with `arguments`; `environment` entries are added to
  /// (or replace) this process's environment.
  public init(
    _ path: String, _ arguments: [String], environment: [String: String] = [:],
    standardOutput out: Stream = .discard, standardError err: Stream = .discard
  ) throws {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    var readEnds: [FileHandle?] = []
    var writeEnds: [Int32] = []
    defer { for fd in writeEnds { close(fd) } }
    for (target, stream) in [(Int32(1), out), (Int32(2), err)] {
      switch stream {
      case .discard:
        posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0)
        readEnds.append(nil)
      case .pipe:
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw SpawnError(path: path, errno: errno) }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        posix_spawn_file_actions_adddup2(&actions, ends[1], target)
        writeEnds.append(ends[1])
        readEnds.append(FileHandle(fileDescriptor: ends[0], closeOnDealloc: true))
      }
    }
    guard let addCloseFrom = Self.addCloseFrom else { throw SpawnError(path: path, errno: ENOSYS) }
    let closing = addCloseFrom(&actions, 3)
    guard closing == 0 else { throw SpawnError(path: path, errno: closing) }

    var variables = ProcessInfo.processInfo.environment
    // numpy's OpenBLAS starts a thread per core, and its idle threads spin:
    // beside the other tests on two cores, a child computing a few small
    // products burnt seconds of CPU doing nothing. One thread, unless the
    // caller or the environment says otherwise.
    if variables["OPENBLAS_NUM_THREADS"] == nil { variables["OPENBLAS_NUM_THREADS"] = "1" }
    for (key, value) in environment { variables[key] = value }
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    let envp = variables.map { strdup("\($0)=\($1)") } + [nil]
    defer { for p in argv + envp { free(p) } }
    var pid: pid_t = 0
    let started = HDF5.excludingFileOperations { posix_spawn(&pid, path, &actions, nil, argv, envp) }
    guard started == 0 else { throw SpawnError(path: path, errno: started) }
    processIdentifier = pid
    standardOutput = readEnds[0]
    standardError = readEnds[1]
  }

  /// True until the child has ended (it is reaped on the first call after).
  public var isRunning: Bool { poll(blocking: false) == nil }

  /// Waits for the child to end and returns how it ended.
  @discardableResult
  public func wait() -> Ending { poll(blocking: true)! }

  /// The child's exit status, or 128 + the signal that ended it, as a
  /// shell reports it (`wait()` tells the two apart).
  public var status: Int32 {
    switch wait() {
    case .exit(let code): return code
    case .signal(let number): return 128 + number
    }
  }

  public func signal(_ number: Int32) {
    if isRunning { kill(processIdentifier, number) }
  }

  private func poll(blocking: Bool) -> Ending? {
    lock.lock()
    defer { lock.unlock() }
    if let ending { return ending }
    var raw: Int32 = 0
    while true {
      let done = waitpid(processIdentifier, &raw, blocking ? 0 : WNOHANG)
      if done == 0 { return nil }
      if done < 0 && errno == EINTR { continue }
      precondition(done == processIdentifier, "wait4 failed: errno \(errno)")
      break
    }
    let signal = raw & 0x7f
    ending = signal == 0 ? .exit((raw >> 8) & 0xff) : .signal(signal)
    return ending
  }

  /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later),
  /// which the Glibc module does not import (it needs `_GNU_SOURCE`).
  private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
  private static let addCloseFrom: AddCloseFrom? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
      return nil
    }
    return unsafeBitCast(symbol, to: AddCloseFrom.self)
  }()
}

/// A program that could not be started.
public struct SpawnError: Error, CustomStringConvertible {
  public let path: String
  public let errno: Int32
  public var description: String { "cannot start \(path): \(String(cString: strerror(errno)))" }
}

/// Runs a program to its end; returns its status (exit code, or 128 +
/// signal), standard output and standard error.
@discardableResult
public func runProgram(
  _ path: String, _ arguments: [String], environment: [String: String] = [:]
) throws
  -> (status: Int32, out: String, err: String)
{
  let child = try ChildProcess(path, arguments, environment: environment, standardOutput: .pipe, standardError: .pipe)
  // Both pipes at once: a child that fills one while this reads the other would stall.
  nonisolated(unsafe) var err = Data()
  let done = DispatchSemaphore(value: 0)
  DispatchQueue.global().async {
    err = child.standardError!.readDataToEndOfFile()
    done.signal()
  }
  let out = child.standardOutput!.readDataToEndOfFile()
  done.wait()
  return (child.status, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}
