// Writing a file so that a reader never sees it half-written: the content
// goes to a temporary file in the same folder, which is flushed, fsync'ed
// and renamed over the destination, and then the folder is fsync'ed. A
// failure (or a kill) at any point leaves the previous file intact and no
// partial output behind, except a stray temporary (".name.tmp-HOST-PID-…")
// after a kill, which the next write of the same file removes once no
// process of that host and pid runs (a temporary of another host, on a
// shared file system, is left to its writer). An existing destination that
// is not a regular file (a device, a FIFO, a folder) is refused, never
// replaced; a symbolic link is followed, and its target replaced.
//
// Given a `WriteBehind`, a write fills its temporary and returns; the
// fsync, the rename and the folder's fsync happen on the write-behind's
// thread, in the order the writes were made (see WriteBehind.swift).

import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A failure of the file system (not of HDF5 or of a file's contents): the
/// path and the system's reason.
public struct FileSystemError: Error, Equatable, CustomStringConvertible {
  /// The file or folder.
  public let path: String
  /// The system's reason.
  public let message: String
  public var description: String { "\(path): \(message)" }

  /// With the reason `errno` gives.
  static func system(_ path: String, _ what: String) -> FileSystemError {
    FileSystemError(path: path, message: "\(what): \(String(cString: strerror(errno)))")
  }
}

/// Writes `path` atomically: `body` fills a fresh HDF5 file that replaces
/// `path` only once complete and on disk.
///
/// With `inMemory`, the file is built in memory (`HDF5File.createInMemory`)
/// and written in one piece: one write and one fsync instead of the
/// library's dozens of small writes, opens and stats. For files of a few
/// megabytes at most (a checkpoint, whose write was most of what a small
/// sweep run cost), not for datasets of any size.
///
/// With `behind`, the temporary is synced and renamed later, by `behind`.
public func writeHDF5Atomically(
  to destination: String, inMemory: Bool = false, behind: WriteBehind? = nil, _ body: (HDF5File) throws -> Void
) throws {
  try replaceAtomically(destination, behind: behind) { temporary in
    _ = try writeHDF5(temporary, reportedAs: destination, inMemory: inMemory, syncing: behind == nil, body)
  }
}

/// The HDF5 file `body` builds, written to `temporary` and synced (unless
/// `syncing` is false): built in memory and written in one piece (its bytes
/// returned), or written by the library (nil returned).
func writeHDF5(
  _ temporary: String, reportedAs destination: String, inMemory: Bool, syncing: Bool = true,
  _ body: (HDF5File) throws -> Void
) throws -> [UInt8]? {
  guard inMemory else {
    try fillHDF5(temporary, reportedAs: destination, syncing: syncing, body)
    return nil
  }
  let bytes = try imageOfHDF5(temporary, body)
  try writeBytes(bytes, to: temporary, reportedAs: destination, pausing: true, syncing: syncing)
  return bytes
}

/// The bytes of an HDF5 file built in memory by `body`; `name` is what
/// errors name. The library's lock is held once for the whole build (no
/// I/O happens in it): taken call by call, two sweep workers writing
/// checkpoints at once took turns at it on every attribute and array
/// (`futex` calls of a 64-run sweep: 2186, against 91 held once).
func imageOfHDF5(_ name: String, _ body: (HDF5File) throws -> Void) throws -> [UInt8] {
  try HDF5.locked {
    let file = try HDF5File.createInMemory(name)
    try body(file)
    let bytes = try file.image()
    try file.close()
    return bytes
  }
}

/// A fresh HDF5 file at `temporary`, filled by `body`, closed and synced
/// (unless `syncing` is false); failures of the file system name `destination`.
func fillHDF5(
  _ temporary: String, reportedAs destination: String, syncing: Bool = true, _ body: (HDF5File) throws -> Void
) throws {
  // Created only while the write is still in progress (see `writeBytes`).
  var created: Result<HDF5File, Error>? = nil
  TemporariesInProgress.shared.whileInProgress(temporary) { created = Result { try HDF5File.create(temporary) } }
  guard let created else { throw FileSystemError(path: destination, message: "the write was stopped") }
  let file = try created.get()
  try body(file)
  pauseForTests(temporary, phase: 1)  // contents written, not yet closed
  try file.close()
  if syncing { try syncFile(temporary) }
  pauseForTests(temporary, phase: 2)  // complete on disk, not yet renamed
}

/// Writes `destination` and `copy` atomically with the same bytes, filled
/// once by `body`: `copy` is replaced first, then `destination`, so a
/// reader who finds the new `destination` finds the new `copy` too. Two
/// files, not links to one: a change to one in place leaves the other.
/// `inMemory` and `behind` as for `writeHDF5Atomically(to:inMemory:behind:_:)`;
/// in memory, the copy needs no reading back.
public func writeHDF5Atomically(
  to destination: String, copy: String, inMemory: Bool = false, behind: WriteBehind? = nil,
  _ body: (HDF5File) throws -> Void
) throws {
  let syncing = behind == nil
  try replaceAtomically(destination, behind: behind) { temporary in
    let bytes = try writeHDF5(temporary, reportedAs: destination, inMemory: inMemory, syncing: syncing, body)
    guard let bytes = bytes ?? FileManager.default.contents(atPath: temporary).map({ [UInt8]($0) }) else {
      throw FileSystemError.system(destination, "cannot read back the file just written")
    }
    try replaceAtomically(copy, behind: behind) { second in
      try writeBytes(bytes, to: second, reportedAs: copy, syncing: syncing)
    }
  }
}

/// Writes `bytes` to `path` atomically, as `writeHDF5Atomically` does
/// (`behind` likewise).
public func writeBytesAtomically(_ bytes: Data, to destination: String, behind: WriteBehind? = nil) throws {
  try replaceAtomically(destination, behind: behind) { temporary in
    try writeBytes(bytes, to: temporary, reportedAs: destination, syncing: behind == nil)
  }
}

/// `bytes` into the new file `temporary`, flushed and synced (unless
/// `syncing` is false); failures name `destination`. With `pausing`, the
/// test hook's pauses come where `fillHDF5` has them: half the bytes
/// written (phase 1), then all of them on disk (phase 2).
func writeBytes(
  _ bytes: some ContiguousBytes, to temporary: String, reportedAs destination: String, pausing: Bool = false,
  syncing: Bool = true
) throws {
  // Created only while the write is still in progress: a second signal's
  // `removeAll` that ran first would otherwise leave this file behind.
  var fd: Int32 = -1
  TemporariesInProgress.shared.whileInProgress(temporary) {
    fd = open(temporary, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o644)
  }
  guard fd >= 0 else { throw FileSystemError.system(destination, "cannot create a temporary file beside it") }
  var failure: FileSystemError? = nil
  bytes.withUnsafeBytes { raw in
    /// Writes raw[offset..<end]; false on failure.
    func write(from start: Int, to end: Int) -> Bool {
      var offset = start
      while offset < end {
        let n = Glibc.write(fd, raw.baseAddress! + offset, end - offset)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 {
          failure = .system(destination, "cannot write")
          return false
        }
        offset += n
      }
      return true
    }
    let half = pausing ? raw.count / 2 : raw.count
    guard write(from: 0, to: half) else { return }
    if pausing { pauseForTests(temporary, phase: 1) }  // half written, not yet complete
    _ = write(from: half, to: raw.count)
  }
  if syncing && failure == nil && fsync(fd) != 0 { failure = .system(destination, "cannot write (fsync)") }
  if close(fd) != 0 && failure == nil { failure = .system(destination, "cannot write (close)") }
  if let failure { throw failure }
  if pausing { pauseForTests(temporary, phase: 2) }
}

/// The one way a file is replaced: `write` fills a fresh temporary beside
/// the destination (a symbolic link's target), which is then renamed over
/// it and the folder synced. On any failure the temporary is removed and
/// the destination left as it was; an HDF5 error about the temporary is
/// reported against the destination. With `behind`, `write` leaves the
/// temporary unsynced and `behind` syncs and renames it later.
func replaceAtomically(
  _ destination: String, behind: WriteBehind? = nil, write: (_ temporary: String) throws -> Void
) throws {
  let path = try checkReplaceable(destination)
  let url = URL(fileURLWithPath: path)
  let folder = url.deletingLastPathComponent().path
  let name = url.lastPathComponent
  guard FileManager.default.fileExists(atPath: folder) else {
    throw FileSystemError(path: path, message: "folder \(folder) does not exist")
  }
  removeStaleTemporaries(in: folder, for: name)
  let temporary = folder + "/.\(name).tmp-\(temporaryTag())-\(UInt32.random(in: 0...UInt32.max))"
  TemporariesInProgress.shared.insert(temporary)
  do {
    try write(temporary)
  } catch var error as HDF5Error {
    abandon(temporary)
    if error.file == temporary { error.file = path }
    throw error
  } catch {
    abandon(temporary)
    throw error
  }
  // The complete temporary put in place: synced first when `write` left
  // that to `behind`, renamed, the folder synced; removed on failure.
  let putInPlace: @Sendable () throws -> Void = {
    defer { TemporariesInProgress.shared.remove(temporary) }
    do {
      if behind != nil { try syncFile(temporary, reportedAs: path) }
      guard rename(temporary, path) == 0 else { throw FileSystemError.system(path, "cannot replace the file") }
      try syncFile(folder)
      if testWritePause != nil { for phase in 1...2 { unlink("\(temporary).paused-\(phase)") } }
    } catch {
      unlink(temporary)
      throw error
    }
  }
  if let behind { behind.enqueue(putInPlace) } else { try putInPlace() }
}

/// Removes a temporary whose write failed, and its entry in the list.
private func abandon(_ temporary: String) {
  unlink(temporary)
  TemporariesInProgress.shared.remove(temporary)
}

/// The temporaries being written now, so that a process ending at once
/// (a second SIGTERM) can remove them first.
public final class TemporariesInProgress: @unchecked Sendable {
  /// The process's one list.
  public static let shared = TemporariesInProgress()
  private let lock = NSLock()
  private var paths = Set<String>()

  func insert(_ path: String) { lock.withLock { _ = paths.insert(path) } }
  func remove(_ path: String) { lock.withLock { _ = paths.remove(path) } }

  /// Runs `body` while `path` is still in progress (not removed by
  /// `removeAll`), holding the lock, so nothing it creates outlives a
  /// `removeAll` that ran first.
  func whileInProgress(_ path: String, _ body: () -> Void) { lock.withLock { if paths.contains(path) { body() } } }

  /// Unlinks every temporary being written (their writers' files stay open
  /// until the process ends).
  public func removeAll() {
    lock.withLock {
      for path in paths {
        unlink(path)
        for phase in 1...2 { unlink("\(path).paused-\(phase)") }  // the atomicity tests' markers
      }
      paths.removeAll()
    }
  }
}

/// The path a write to `path` replaces: `path` itself, or the target of
/// the symbolic link it is. Throws when that exists and is not a regular
/// file.
@discardableResult
public func checkReplaceable(_ path: String) throws -> String {
  var st = stat()
  guard lstat(path, &st) == 0 else { return path }
  var target = path
  if (st.st_mode & S_IFMT) == S_IFLNK {
    guard stat(path, &st) == 0 else { return path }  // a dangling link is replaced
    target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
  }
  let kind = st.st_mode & S_IFMT
  guard kind == S_IFREG else {
    let what =
      kind == S_IFDIR
      ? "a folder"
      : kind == S_IFCHR || kind == S_IFBLK
        ? "a device"
        : kind == S_IFIFO ? "a FIFO" : kind == S_IFSOCK ? "a socket" : "not a regular file"
    throw FileSystemError(path: path, message: "exists and is \(what), not a regular file; refusing to replace it")
  }
  return target
}

/// This machine's host name (a temporary or lock names its writer by host and pid).
public func hostName() -> String {
  var buffer = [CChar](repeating: 0, count: 256)
  guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
  let name = String(cStringBuffer: buffer)
  return name.isEmpty ? "localhost" : name
}

/// "HOST-PID" with the host's "-" and "." replaced, so the tag splits back.
func temporaryTag(pid: Int32 = getpid()) -> String {
  hostName().map { $0 == "-" || $0 == "." || $0 == "/" ? "_" : $0 }.map(String.init).joined() + "-\(pid)"
}

/// How the temporaries of `name` written by process `pid` of this host begin.
public func temporaryPrefix(for name: String, pid: Int32) -> String { ".\(name).tmp-\(temporaryTag(pid: pid))-" }

/// fsync on a file or folder; failures name `name`.
func syncFile(_ path: String, reportedAs name: String? = nil) throws {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  guard fd >= 0 else { throw FileSystemError.system(name ?? path, "cannot open to sync") }
  defer { close(fd) }
  guard fsync(fd) == 0 else { throw FileSystemError.system(name ?? path, "fsync failed") }
}

/// Temporaries left by writers of `name` that no longer run.
func removeStaleTemporaries(in folder: String, for name: String) {
  guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
  let host = String(temporaryTag().split(separator: "-").first ?? "")
  for entry in entries where entry.hasPrefix(".\(name).tmp-") {
    let parts = entry.dropFirst(".\(name).tmp-".count).split(separator: "-")
    // ".name.tmp-HOST-PID-N"; the older ".name.tmp-PID-N" was written on this host.
    let (writer, pidText) = parts.count >= 3 ? (String(parts[0]), parts[1]) : (host, parts.first ?? "")
    guard writer == host, let pid = Int32(pidText) else { continue }
    if pid != getpid(), kill(pid, 0) != 0 && errno == ESRCH {
      unlink(folder + "/" + entry)
    }
  }
}

/// Seconds a writer pauses at phases 1 and 2, from `RBP_TEST_WRITE_PAUSE`
/// ("s" for both, or "s1,s2"); nil (no pause) unless the atomicity tests
/// set it.
let testWritePause: [Double]? = ProcessInfo.processInfo.environment["RBP_TEST_WRITE_PAUSE"].flatMap { text in
  let values = text.split(separator: ",").compactMap { Double($0) }
  return values.count == 1 ? [values[0], values[0]] : values.count == 2 ? values : nil
}

/// The atomicity tests' hook: with `RBP_TEST_WRITE_PAUSE` set, marks the
/// phase with an empty file next to the temporary (`<temporary>.paused-<phase>`)
/// and sleeps, so that a test can kill the writer at exactly this point.
/// The marker carries the temporary's name, so the next write of the same
/// file removes it with the temporary.
func pauseForTests(_ temporary: String, phase: Int) {
  guard let pauses = testWritePause else { return }
  let seconds = pauses[phase - 1]
  // Not after a second signal removed the write's files: the process is ending.
  TemporariesInProgress.shared.whileInProgress(temporary) {
    _ = FileManager.default.createFile(atPath: "\(temporary).paused-\(phase)", contents: nil)
  }
  if seconds > 0 { usleep(UInt32(min(seconds, 60) * 1e6)) }
}
