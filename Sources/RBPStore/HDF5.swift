// A safe Swift layer over the HDF5 C library: one final class per handle
// kind (file, group, dataset, attribute, dataspace, datatype, property
// list), opened by a throwing init and closed in deinit. Every status goes
// through `HDF5.check`, which throws an error carrying HDF5's own message
// (from its error stack) with the file and object path. The library's
// automatic printing to stderr is turned off.
//
// The serial HDF5 build is not thread-safe: every call into it holds one
// process-wide recursive lock, so the library has one owner at a time.

import CHDF5
import CRBPGuard
import Foundation

/// An error from HDF5, or from reading a file that does not hold what it
/// should.
public struct HDF5Error: Error, Equatable, CustomStringConvertible {
  /// The file involved.
  public var file: String
  /// The object inside it ("/" for the root), or "" when not applicable.
  public var path: String
  /// What went wrong, with HDF5's own message where there is one.
  public var message: String

  /// An error about `path` inside `file`.
  public init(file: String, path: String, message: String) {
    self.file = file
    self.path = path
    self.message = message
  }

  public var description: String {
    path.isEmpty ? "\(file): \(message)" : "\(file): \(path): \(message)"
  }
}

/// The one lock, the error-stack walk and the status check.
public enum HDF5 {
  static let lock = NSRecursiveLock()

  /// Before the library's first use: no clean-up at exit. Files are closed
  /// explicitly; the library's own clean-up would close again a file whose
  /// close failed (a full disk), and faults inside HDF5 1.10 doing it.
  private static let setUp: Void = { H5dont_atexit() }()

  /// Runs `body` holding the HDF5 lock. The library's own printing of
  /// errors is silenced first (the setting is per thread in thread-safe
  /// builds); we report its errors ourselves.
  @inline(__always) @discardableResult
  static func locked<R>(_ body: () throws -> R) rethrows -> R {
    lock.lock()
    _ = setUp
    rbp_guard_enter()
    defer {
      rbp_guard_leave()
      lock.unlock()
    }
    H5Eset_auto2(rbp_H5E_DEFAULT(), nil, nil)
    return try body()
  }

  /// Runs `body` while no other thread of this process is inside the HDF5
  /// library. A child process starts with a copy of every open descriptor,
  /// and with it HDF5's `flock` on each open file, until it closes them or
  /// execs: start programs in here, and no thread reopens a file while a
  /// child that has not yet closed its copies still holds the lock.
  public static func excludingFileOperations<R>(_ body: () throws -> R) rethrows -> R {
    lock.lock()
    defer { lock.unlock() }
    return try body()
  }

  /// The current error stack's descriptions, innermost first, then cleared.
  static func stackMessage() -> String {
    final class Box { var lines: [String] = [] }
    let box = Box()
    let walker: H5E_walk2_t = { _, error, data in
      guard let error, let data else { return 0 }
      let box = Unmanaged<Box>.fromOpaque(data).takeUnretainedValue()
      if let desc = error.pointee.desc {
        let text = conciseHDF5Message(String(cStringPointer: desc))
        if !text.isEmpty && !box.lines.contains(text) { box.lines.append(text) }
      }
      return 0
    }
    H5Ewalk2(rbp_H5E_DEFAULT(), H5E_WALK_UPWARD, walker, Unmanaged.passUnretained(box).toOpaque())
    H5Eclear2(rbp_H5E_DEFAULT())
    return box.lines.prefix(3).joined(separator: "; ")
  }

  /// Throws when `status` is negative, with `what` and HDF5's message.
  /// Call it inside the `locked` region of the call that returned `status`,
  /// so that the error stack read is that call's (or use `checked`).
  @discardableResult
  static func check<S: BinaryInteger>(
    _ status: S, _ what: @autoclosure () -> String, file: String, path: String
  ) throws -> S {
    if status >= 0 { return status }
    let detail = locked { stackMessage() }
    throw HDF5Error(file: file, path: path, message: detail.isEmpty ? what() : "\(what()) (\(detail))")
  }

  /// Makes a fault inside the library while it reads a file end the
  /// process with one line naming the files open for reading, instead of a
  /// crash (crash_guard.h). For programs, not libraries: it replaces the
  /// process's SIGSEGV, SIGBUS, SIGFPE and SIGABRT handlers (passing other faults on
  /// to them).
  public static func installCrashGuard() { rbp_guard_install() }

  /// Makes one library call and checks its status, reading the error stack
  /// before the lock is released.
  @discardableResult
  static func checked<S: BinaryInteger>(
    _ what: @autoclosure () -> String, file: String, path: String,
    _ call: () -> S
  ) throws -> S {
    try locked { try check(call(), what(), file: file, path: path) }
  }
}

/// One line from an HDF5 error description: whitespace runs (newlines
/// included) become one space, and a failed system call's report ("file
/// write failed: time = …, errno = 28, error message = 'No space left on
/// device', …") becomes its first words and the system's reason.
func conciseHDF5Message(_ text: String) -> String {
  let line = text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
  if let start = line.range(of: "error message = '"),
    let end = line[start.upperBound...].firstIndex(of: "'")
  {
    let what = line[..<(line.firstIndex(of: ":") ?? line.endIndex)]
    return "\(what): \(line[start.upperBound..<end])"
  }
  return line
}

/// An open HDF5 identifier, closed by `close` when the handle goes away.
/// Sendable because every call into the library, and every read or write
/// of `isOpen`, holds `HDF5.lock`.
public class HDF5Handle: @unchecked Sendable {
  /// The library's identifier.
  public let id: hid_t
  /// The file and object path, for messages.
  public let file: String
  /// The object's path inside the file.
  public let path: String
  private let close: (hid_t) -> herr_t
  private var isOpen = true
  /// The handle this one lives in (its file or group), kept open as long
  /// as this one is: closing a file closes everything in it.
  let owner: HDF5Handle?

  init(id: hid_t, file: String, path: String, owner: HDF5Handle? = nil, close: @escaping (hid_t) -> herr_t) {
    self.id = id
    self.file = file
    self.path = path
    self.owner = owner
    self.close = close
  }

  deinit {
    // An object of a file closed explicitly was closed with it (strong
    // close degree); its id may since belong to another object.
    HDF5.locked { if chainOpen { _ = close(id) } }
  }

  /// Open, and so is everything it lives in.
  var chainOpen: Bool { HDF5.locked { isOpen && (owner?.chainOpen ?? true) } }

  /// Closes now rather than when the last reference goes; later use of the
  /// handle fails with HDF5's error.
  func closeNow() throws {
    try HDF5.locked {
      guard isOpen else { return }
      isOpen = false
      try HDF5.check(close(id), "cannot close", file: file, path: path)
    }
  }

  func fail(_ message: String) -> HDF5Error { HDF5Error(file: file, path: path, message: message) }
}

/// A dataspace: the shape of a dataset or attribute.
final class HDF5Space: HDF5Handle, @unchecked Sendable {
  /// Takes the dataspace `call` returns (`H5Dget_space`…), checked inside the call's lock.
  init(taking call: () -> hid_t, file: String, path: String) throws {
    let id = try HDF5.checked("cannot get dataspace", file: file, path: path, call)
    super.init(id: id, file: file, path: path, close: H5Sclose)
  }

  convenience init(shape: [Int], file: String, path: String) throws {
    var dims = shape.map { hsize_t($0) }
    try self.init(
      taking: { shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(shape.count), &dims, nil) },
      file: file, path: path)
  }

  /// The number of elements, checked: a corrupt file may declare any.
  func elementCount() throws -> Int {
    try HDF5.locked {
      let n = H5Sget_simple_extent_npoints(id)
      try HDF5.check(n, "cannot get the dataspace's size", file: file, path: path)
      return Int(n)
    }
  }

  /// The dimensions ([] for a scalar); a failure throws, it is not rank 0.
  var shape: [Int] {
    get throws {
      try HDF5.locked {
        let rank = Int(
          try HDF5.check(H5Sget_simple_extent_ndims(id), "cannot get the dataspace's rank", file: file, path: path))
        guard rank > 0 else { return [] }
        var dims = [hsize_t](repeating: 0, count: rank)
        try HDF5.check(
          H5Sget_simple_extent_dims(id, &dims, nil), "cannot get the dataspace's dimensions", file: file, path: path)
        return dims.map { Int($0) }
      }
    }
  }
}

/// A datatype handle (closed with the handle).
final class HDF5Type: HDF5Handle, @unchecked Sendable {
  /// Takes the datatype `call` returns (`H5Dget_type`…), checked inside the call's lock.
  init(taking call: () -> hid_t, file: String, path: String) throws {
    let id = try HDF5.checked("cannot get datatype", file: file, path: path, call)
    super.init(id: id, file: file, path: path, close: H5Tclose)
  }

  /// Variable-length UTF-8 strings, as h5py writes them.
  static func variableString(file: String, path: String) throws -> HDF5Type {
    let t = try HDF5Type(taking: { H5Tcopy(rbp_H5T_C_S1()) }, file: file, path: path)
    try HDF5.locked {
      try HDF5.check(H5Tset_size(t.id, rbp_H5T_VARIABLE()), "cannot make a string type", file: file, path: path)
      try HDF5.check(H5Tset_cset(t.id, H5T_CSET_UTF8), "cannot make a string type", file: file, path: path)
    }
    return t
  }

  var typeClass: H5T_class_t { HDF5.locked { H5Tget_class(id) } }
}

/// A property list (creation or access settings).
final class HDF5PropertyList: HDF5Handle, @unchecked Sendable {
  init(class cls: hid_t, file: String, path: String) throws {
    let id = try HDF5.checked("cannot create a property list", file: file, path: path) { H5Pcreate(cls) }
    super.init(id: id, file: file, path: path, close: H5Pclose)
  }
}
