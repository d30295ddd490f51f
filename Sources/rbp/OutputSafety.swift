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
  let resolved =
    realpath(folder, &buffer) != nil
    ? String(cStringBuffer: buffer) : URL(fileURLWithPath: folder).standardizedFileURL.path
  return "path \(resolved)/\(url.lastPathComponent)"
}

/// Throws when an output path (flag, path) is the same file as an input,
/// or exists and is not a regular file (a device such as /dev/null, a FIFO,
/// a folder), which an atomic write would replace.
func refuseOverwritingInputs(outputs: [(flag: String, path: String)], inputs: [(flag: String, path: String)]) throws {
  for output in outputs {
    try refuseNonRegularOutput(flag: output.flag, path: output.path)
    let id = identity(output.path)
    if let input = inputs.first(where: { identity($0.path) == id }) {
      throw CLIFailure(message: "\(output.flag) \(output.path) is the \(input.flag) input; refusing to overwrite it")
    }
  }
}

/// Throws when `path` exists (after following symbolic links) and is not a
/// regular file.
func refuseNonRegularOutput(flag: String, path: String) throws {
  do { try checkReplaceable(path) } catch let error as FileSystemError {
    throw CLIFailure(message: "\(flag) \(error.description)")
  }
}

/// The output folder of `rbp train`, locked for as long as the process runs.
struct OutputFolder {
  let path: String
  /// The topmost folder this process created (nil: the folder existed).
  let created: String?
  let lockPath: String

  /// Creates `path` (and missing parents) if needed, checks that it can be
  /// written, and takes an exclusive lock on it (`path/.rbp-lock`, held
  /// until the process ends). Another process writing the same folder, or
  /// any failure, throws, and leaves no folder this call created.
  static func lock(_ path: String, flag: String = "--out") throws -> OutputFolder {
    var isFolder: ObjCBool = false
    var created: String? = nil
    if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
      guard isFolder.boolValue else { throw CLIFailure(message: "\(flag) \(path) exists and is not a folder") }
    } else {
      // The first missing ancestor is what this call creates (and removes on failure).
      var top = URL(fileURLWithPath: path).standardizedFileURL
      while case let parent = top.deletingLastPathComponent(), parent.path != top.path,
        !FileManager.default.fileExists(atPath: parent.path)
      {
        top = parent
      }
      created = top.path
      // Each missing folder from `top` down, so the failing one names its reason.
      var chain = [URL(fileURLWithPath: path).standardizedFileURL]
      while chain.last!.path != top.path { chain.append(chain.last!.deletingLastPathComponent()) }
      for folder in chain.reversed() where mkdir(folder.path, 0o777) != 0 && errno != EEXIST {
        let reason = String(cStringPointer: strerror(errno))
        try? FileManager.default.removeItem(atPath: top.path)
        throw CLIFailure(message: "\(flag) \(path): cannot create the folder (\(reason))")
      }
    }
    let folder = OutputFolder(path: path, created: created, lockPath: path + "/.rbp-lock")
    do {
      guard access(path, W_OK) == 0 else { throw CLIFailure(message: "\(flag) \(path) is not writable") }
      let fd = open(folder.lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
      guard fd >= 0 else {
        throw CLIFailure(
          message: "\(flag) \(path): cannot create the lock file (\(String(cStringPointer: strerror(errno))))")
      }
      guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
        close(fd)
        throw CLIFailure(
          message: "\(flag) \(path) is being written by another rbp process (locked: \(folder.lockPath))")
      }
      // The lock file says who holds it, for a person looking at the folder.
      let holder = Array("\(hostName()) \(getpid())\n".utf8)
      if ftruncate(fd, 0) == 0 { _ = holder.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
      // `fd` stays open, and the lock held, until the process exits.
    } catch {
      folder.discardIfEmpty()
      throw error
    }
    return folder
  }

  /// After a failure: when the folder holds nothing but the lock, removes
  /// the lock and the folders this process created, so a run that wrote
  /// nothing leaves nothing behind.
  func discardIfEmpty() {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    guard entries.allSatisfy({ $0 == ".rbp-lock" }) else { return }
    unlink(lockPath)
    guard let created else { return }
    // Remove the created chain from the bottom up, only while it is empty.
    var folder = URL(fileURLWithPath: path).standardizedFileURL
    while true {
      guard rmdir(folder.path) == 0, folder.path != created else { return }
      folder = folder.deletingLastPathComponent()
    }
  }
}

/// `folder/name` without a doubled slash when `folder` ends in one ("run/").
func joinedPath(_ folder: String, _ name: String) -> String {
  folder.hasSuffix("/") ? folder + name : folder + "/" + name
}

/// A folder path without trailing slashes ("run/" → "run"; "/" stays), so
/// the paths made from it and printed never hold "//".
func trimmedFolder(_ path: String) -> String {
  var p = path
  while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
  return p
}
