// Writing a file so that a reader never sees it half-written: the content
// goes to a temporary file in the same folder, which is flushed, fsync'ed
// and renamed over the destination, and then the folder is fsync'ed. A
// failure (or a kill) at any point leaves the previous file intact and no
// partial output behind, except a stray temporary (".name.tmp-…") after a
// kill, which the next write of the same file removes.

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A failure of the file system (not of HDF5 or of a file's contents): the
/// path and the system's reason.
public struct FileSystemError: Error, Equatable, CustomStringConvertible {
  public let path: String, message: String
  public var description: String { "\(path): \(message)" }

  /// With the reason `errno` gives.
  static func system(_ path: String, _ what: String) -> FileSystemError {
    FileSystemError(path: path, message: "\(what): \(String(cString: strerror(errno)))")
  }
}

/// Writes `path` atomically: `body` fills a fresh HDF5 file that replaces
/// `path` only once complete and on disk.
public func writeHDF5Atomically(to path: String, _ body: (HDF5File) throws -> Void) throws {
  let url = URL(fileURLWithPath: path)
  let folder = url.deletingLastPathComponent().path
  let name = url.lastPathComponent
  guard FileManager.default.fileExists(atPath: folder) else {
    throw FileSystemError(path: path, message: "folder \(folder) does not exist")
  }
  removeStaleTemporaries(in: folder, for: name)
  let temporary = folder + "/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
  do {
    let file = try HDF5File.create(temporary)
    try body(file)
    pauseForTests(temporary, phase: 1)   // contents written, not yet closed
    try file.close()
    try syncFile(temporary)
    pauseForTests(temporary, phase: 2)   // complete on disk, not yet renamed
    guard rename(temporary, path) == 0 else {
      throw FileSystemError.system(path, "cannot replace the file")
    }
    try syncFile(folder)
    if testWritePause != nil { for phase in 1...2 { unlink("\(temporary).paused-\(phase)") } }
  } catch {
    unlink(temporary)
    throw error
  }
}

/// fsync on a file or folder.
func syncFile(_ path: String) throws {
  let fd = open(path, O_RDONLY)
  guard fd >= 0 else { throw FileSystemError.system(path, "cannot open to sync") }
  defer { close(fd) }
  guard fsync(fd) == 0 else { throw FileSystemError.system(path, "fsync failed") }
}

/// Temporaries left by writers of `name` that no longer run.
func removeStaleTemporaries(in folder: String, for name: String) {
  guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
  for entry in entries where entry.hasPrefix(".\(name).tmp-") {
    let parts = entry.dropFirst(".\(name).tmp-".count).split(separator: "-")
    if let pid = parts.first.flatMap({ Int32($0) }), pid != getpid(), kill(pid, 0) != 0 {
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
  _ = FileManager.default.createFile(atPath: "\(temporary).paused-\(phase)", contents: nil)
  if seconds > 0 { usleep(UInt32(min(seconds, 60) * 1e6)) }
}
