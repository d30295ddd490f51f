// Outputs never destroy inputs, and one process writes an output folder at
// a time. Every command that writes compares its output paths with the
// paths it reads, after resolving symbolic links and `..` (and, for files
// that exist, by device and inode, so hard links count too), and refuses a
// match before doing any work; `rbp train` holds an exclusive lock on its
// output folder for as long as it runs.

import Foundation
import RBPStore

#if canImport(Glibc)
import Glibc
#endif

/// The identity of a path: its device and inode when it exists, else its
/// resolved folder and name.
private func identity(_ path: String) -> String {
  var st = stat()
  if stat(path, &st) == 0 { return "inode \(st.st_dev):\(st.st_ino)" }
  let url = URL(fileURLWithPath: path)
  let folder = url.deletingLastPathComponent().path
  var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
  let resolved = realpath(folder, &buffer) != nil
    ? String(cStringBuffer: buffer) : URL(fileURLWithPath: folder).standardizedFileURL.path
  return "path \(resolved)/\(url.lastPathComponent)"
}

/// Throws when an output path (flag, path) is the same file as an input.
func refuseOverwritingInputs(outputs: [(flag: String, path: String)], inputs: [(flag: String, path: String)]) throws {
  for output in outputs {
    let id = identity(output.path)
    if let input = inputs.first(where: { identity($0.path) == id }) {
      throw CLIFailure(message: "\(output.flag) \(output.path) is the \(input.flag) input; refusing to overwrite it")
    }
  }
}

/// Creates `folder` if needed, checks that it can be written, and takes an
/// exclusive lock on it (`folder/.rbp-lock`) held until the process ends.
/// Another process writing the same folder makes this throw.
func lockOutputFolder(_ folder: String, flag: String = "--out") throws {
  var isFolder: ObjCBool = false
  if FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) {
    guard isFolder.boolValue else { throw CLIFailure(message: "\(flag) \(folder) exists and is not a folder") }
  } else {
    do {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
      throw CLIFailure(message: "\(flag) \(folder): cannot create the folder (\(String(cStringPointer: strerror(errno))))")
    }
  }
  guard access(folder, W_OK) == 0 else { throw CLIFailure(message: "\(flag) \(folder) is not writable") }
  let lockPath = folder + "/.rbp-lock"
  let fd = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
  guard fd >= 0 else {
    throw CLIFailure(message: "\(flag) \(folder): cannot create the lock file (\(String(cStringPointer: strerror(errno))))")
  }
  guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
    close(fd)
    throw CLIFailure(message: "\(flag) \(folder) is being written by another rbp process (locked: \(lockPath))")
  }
  // `fd` stays open, and the lock held, until the process exits.
}
