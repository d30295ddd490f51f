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

/// Writes `path` atomically: `body` fills a fresh HDF5 file that replaces
/// `path` only once complete and on disk.
public func writeHDF5Atomically(to path: String, _ body: (HDF5File) throws -> Void) throws {
  let url = URL(fileURLWithPath: path)
  let folder = url.deletingLastPathComponent().path
  let name = url.lastPathComponent
  guard FileManager.default.fileExists(atPath: folder) else {
    throw HDF5Error(file: path, path: "", message: "folder \(folder) does not exist")
  }
  removeStaleTemporaries(in: folder, for: name)
  let temporary = folder + "/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
  do {
    let file = try HDF5File.create(temporary)
    try body(file)
    try file.close()
    try syncFile(temporary)
    guard rename(temporary, path) == 0 else {
      throw HDF5Error(file: path, path: "", message: "cannot replace the file: \(String(cString: strerror(errno)))")
    }
    try syncFile(folder)
  } catch {
    unlink(temporary)
    throw error
  }
}

/// fsync on a file or folder.
func syncFile(_ path: String) throws {
  let fd = open(path, O_RDONLY)
  guard fd >= 0 else { throw HDF5Error(file: path, path: "", message: "cannot open to sync: \(String(cString: strerror(errno)))") }
  defer { close(fd) }
  guard fsync(fd) == 0 else { throw HDF5Error(file: path, path: "", message: "fsync failed: \(String(cString: strerror(errno)))") }
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
