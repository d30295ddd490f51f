// Files, groups, datasets and their attributes. A file is its root group;
// groups create and open children by path; datasets read and write whole
// arrays or row ranges (hyperslabs), converting float32/float64 on disk to
// the precision asked for. Large datasets are written chunked, byte-shuffled
// and deflate-compressed.

import CHDF5
import CRBPGuard
import Foundation

/// A number type HDF5 can convert to and from.
public protocol HDF5Numeric: Numeric, BitwiseCopyable {
  /// The native memory type.
  static var hdf5Native: hid_t { get }
  /// The little-endian type written to disk.
  static var hdf5Disk: hid_t { get }
}
/// Stored as IEEE float32, little-endian.
extension Float: HDF5Numeric {
  public static var hdf5Native: hid_t { rbp_H5T_NATIVE_FLOAT() }
  public static var hdf5Disk: hid_t { rbp_H5T_IEEE_F32LE() }
}
/// Stored as IEEE float64, little-endian.
extension Double: HDF5Numeric {
  public static var hdf5Native: hid_t { rbp_H5T_NATIVE_DOUBLE() }
  public static var hdf5Disk: hid_t { rbp_H5T_IEEE_F64LE() }
}
/// Stored as int64, little-endian.
extension Int64: HDF5Numeric {
  public static var hdf5Native: hid_t { rbp_H5T_NATIVE_INT64() }
  public static var hdf5Disk: hid_t { rbp_H5T_STD_I64LE() }
}
/// Flags (h5py reads them as int8; numpy's bool columns convert).
extension Int8: HDF5Numeric {
  public static var hdf5Native: hid_t { rbp_H5T_NATIVE_INT8() }
  public static var hdf5Disk: hid_t { rbp_H5T_STD_I8LE() }
}

/// What kind of values a dataset or attribute holds.
public enum HDF5ValueKind: Equatable, Sendable {
  /// Floating point.
  case float
  /// Integers.
  case integer
  /// Strings.
  case string
  /// Anything else (compound, enum, …).
  case other
}

/// A group or dataset: anything that carries attributes.
public class HDF5Object: HDF5Handle, @unchecked Sendable {
  /// Names of the attributes, in name order.
  public func attributeNames() throws -> [String] {
    try HDF5.locked {
      var info = H5O_info_t()
      try HDF5.check(
        H5Oget_info2(id, &info, rbp_H5O_INFO_NUM_ATTRS()), "cannot list attributes", file: file, path: path)
      return try (0..<info.num_attrs).map { i in
        let size = H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, rbp_H5P_DEFAULT())
        try HDF5.check(size, "cannot read an attribute name", file: file, path: path)
        var buffer = [CChar](repeating: 0, count: Int(size) + 1)
        H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, buffer.count, rbp_H5P_DEFAULT())
        return String(cStringBuffer: buffer)
      }
    }
  }

  /// Whether the object has an attribute of this name.
  public func hasAttribute(_ name: String) -> Bool {
    HDF5.locked { H5Aexists(id, name) > 0 }
  }

  private func openAttribute(_ name: String) throws -> HDF5Handle {
    guard hasAttribute(name) else { throw fail("missing attribute '\(name)'") }
    let a = try HDF5.checked("cannot open attribute '\(name)'", file: file, path: path) {
      H5Aopen(id, name, rbp_H5P_DEFAULT())
    }
    return HDF5Handle(id: a, file: file, path: path, owner: self, close: H5Aclose)
  }

  /// The kind and shape of an attribute.
  public func attributeInfo(_ name: String) throws -> (kind: HDF5ValueKind, shape: [Int]) {
    let a = try openAttribute(name)
    let type = try HDF5Type(taking: { H5Aget_type(a.id) }, file: file, path: path)
    let space = try HDF5Space(taking: { H5Aget_space(a.id) }, file: file, path: path)
    return (kindOf(type.typeClass), try space.shape)
  }

  /// A string attribute, fixed- or variable-length.
  public func stringAttribute(_ name: String) throws -> String {
    let a = try openAttribute(name)
    let type = try HDF5Type(taking: { H5Aget_type(a.id) }, file: file, path: path)
    guard type.typeClass == H5T_STRING else {
      throw fail("attribute '\(name)' is not a string")
    }
    // One string, never an array of them read into room for one.
    let space = try HDF5Space(taking: { H5Aget_space(a.id) }, file: file, path: path)
    let count = try space.elementCount()
    guard count == 1 else { throw fail("attribute '\(name)' holds \(count) strings, expected 1") }
    return try HDF5.locked {
      if H5Tis_variable_str(type.id) > 0 {
        let memory = try HDF5Type.variableString(file: file, path: path)
        var pointer: UnsafeMutablePointer<CChar>? = nil
        try HDF5.check(H5Aread(a.id, memory.id, &pointer), "cannot read attribute '\(name)'", file: file, path: path)
        defer { if let pointer { H5free_memory(pointer) } }
        return pointer.map { String(cStringPointer: $0) } ?? ""
      }
      let size = H5Tget_size(type.id)
      guard size > 0 && size <= maximumStringBytes else {
        throw fail("attribute '\(name)' is a string of \(size) bytes, outside 1...\(maximumStringBytes)")
      }
      var buffer = [CChar](repeating: 0, count: size + 1)
      try HDF5.check(H5Aread(a.id, type.id, &buffer), "cannot read attribute '\(name)'", file: file, path: path)
      return String(cStringBuffer: buffer).trimmingCharacters(in: .whitespaces)
    }
  }

  /// A numeric scalar attribute as Double (integers convert exactly up to 2⁵³).
  public func numberAttribute(_ name: String) throws -> Double {
    let values: [Double] = try numericAttribute(name)
    guard values.count == 1 else { throw fail("attribute '\(name)' holds \(values.count) values, expected 1") }
    return values[0]
  }

  /// An integer scalar attribute.
  public func integerAttribute(_ name: String) throws -> Int {
    let (kind, _) = try attributeInfo(name)
    guard kind == .integer else { throw fail("attribute '\(name)' is not an integer") }
    let values: [Int64] = try numericAttribute(name)
    guard values.count == 1 else { throw fail("attribute '\(name)' holds \(values.count) values, expected 1") }
    return Int(values[0])
  }

  /// All values of a numeric attribute.
  public func numericAttribute<N: HDF5Numeric>(_ name: String) throws -> [N] {
    let a = try openAttribute(name)
    let type = try HDF5Type(taking: { H5Aget_type(a.id) }, file: file, path: path)
    guard [H5T_FLOAT, H5T_INTEGER].contains(type.typeClass) else {
      throw fail("attribute '\(name)' is not numeric")
    }
    let space = try HDF5Space(taking: { H5Aget_space(a.id) }, file: file, path: path)
    var values = [N](repeating: 0, count: try space.shape.reduce(1, *))
    try HDF5.locked {
      try HDF5.check(H5Aread(a.id, N.hdf5Native, &values), "cannot read attribute '\(name)'", file: file, path: path)
    }
    return values
  }

  private func replaceAttribute(_ name: String) throws {
    try HDF5.locked {
      if H5Aexists(id, name) > 0 {
        try HDF5.check(H5Adelete(id, name), "cannot replace attribute '\(name)'", file: file, path: path)
      }
    }
  }

  /// Writes a variable-length UTF-8 string attribute (as h5py does).
  public func setAttribute(_ name: String, string value: String) throws {
    try replaceAttribute(name)
    let type = try HDF5Type.variableString(file: file, path: path)
    let space = try HDF5Space(shape: [], file: file, path: path)
    try HDF5.locked {
      let a = H5Acreate2(id, name, type.id, space.id, rbp_H5P_DEFAULT(), rbp_H5P_DEFAULT())
      try HDF5.check(a, "cannot create attribute '\(name)'", file: file, path: path)
      defer { H5Aclose(a) }
      try value.withCString { c in
        var pointer: UnsafePointer<CChar>? = c
        try HDF5.check(H5Awrite(a, type.id, &pointer), "cannot write attribute '\(name)'", file: file, path: path)
      }
    }
  }

  /// Writes a numeric attribute: a scalar when `values` has one element
  /// and `shape` is nil.
  public func setAttribute<N: HDF5Numeric>(_ name: String, _ values: [N], shape: [Int]? = nil) throws {
    try replaceAttribute(name)
    let space = try HDF5Space(shape: shape ?? (values.count == 1 ? [] : [values.count]), file: file, path: path)
    try HDF5.locked {
      let a = H5Acreate2(id, name, N.hdf5Disk, space.id, rbp_H5P_DEFAULT(), rbp_H5P_DEFAULT())
      try HDF5.check(a, "cannot create attribute '\(name)'", file: file, path: path)
      defer { H5Aclose(a) }
      try HDF5.check(H5Awrite(a, N.hdf5Native, values), "cannot write attribute '\(name)'", file: file, path: path)
    }
  }

  /// Writes an int64 scalar attribute.
  public func setAttribute(_ name: String, int value: Int) throws { try setAttribute(name, [Int64(value)]) }
  /// Writes a float64 scalar attribute.
  public func setAttribute(_ name: String, double value: Double) throws { try setAttribute(name, [value]) }
}

func kindOf(_ c: H5T_class_t) -> HDF5ValueKind {
  switch c {
  case H5T_FLOAT: return .float
  case H5T_INTEGER: return .integer
  case H5T_STRING: return .string
  default: return .other
  }
}

/// A group: creates and opens children by path (relative to it).
public class HDF5Group: HDF5Object, @unchecked Sendable {
  /// Whether a link exists at `path` (every intermediate group must exist).
  public func exists(_ child: String) -> Bool {
    HDF5.locked {
      var prefix = ""
      for part in child.split(separator: "/") {
        prefix += (prefix.isEmpty ? "" : "/") + part
        if H5Lexists(id, prefix, rbp_H5P_DEFAULT()) <= 0 { return false }
      }
      return true
    }
  }

  func childPath(_ child: String) -> String {
    path == "/" ? "/" + child : path + "/" + child
  }

  /// Names of the direct children, in name order.
  public func childNames() throws -> [String] {
    try HDF5.locked {
      var info = H5G_info_t()
      try HDF5.check(H5Gget_info(id, &info), "cannot list the group", file: file, path: path)
      return (0..<info.nlinks).map { i in
        let size = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, rbp_H5P_DEFAULT())
        var buffer = [CChar](repeating: 0, count: max(Int(size), 0) + 1)
        H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, buffer.count, rbp_H5P_DEFAULT())
        return String(cStringBuffer: buffer)
      }
    }
  }

  /// True when the child is a group, false when it is a dataset.
  public func isGroup(_ child: String) throws -> Bool {
    try HDF5.locked {
      var info = H5O_info_t()
      try HDF5.check(
        H5Oget_info_by_name2(id, child, &info, rbp_H5O_INFO_BASIC(), rbp_H5P_DEFAULT()),
        "cannot inspect '\(child)'", file: file, path: childPath(child))
      return info.type == H5O_TYPE_GROUP
    }
  }

  /// Throws when a link on the way to `child` leads out of the file (an
  /// external link or a user-defined one): rbp reads only the bytes of the
  /// file it names and identifies by hash.
  func checkInFile(_ child: String) throws {
    try HDF5.locked {
      var prefix = ""
      for part in child.split(separator: "/") {
        prefix += (prefix.isEmpty ? "" : "/") + part
        var info = H5L_info_t()
        guard H5Lget_info(id, prefix, &info, rbp_H5P_DEFAULT()) >= 0 else { return }  // the open names the failure
        guard info.type == H5L_TYPE_HARD || info.type == H5L_TYPE_SOFT else {
          throw HDF5Error(
            file: file, path: childPath(prefix),
            message: "is a link to another file; rbp reads only what the file itself holds")
        }
      }
    }
  }

  /// Opens the group at `child`.
  public func group(_ child: String) throws -> HDF5Group {
    guard exists(child) else { throw HDF5Error(file: file, path: childPath(child), message: "missing group") }
    try checkInFile(child)
    let g = try HDF5.checked("cannot open group", file: file, path: childPath(child)) {
      H5Gopen2(id, child, rbp_H5P_DEFAULT())
    }
    return HDF5Group(id: g, file: file, path: childPath(child), owner: self, close: H5Gclose)
  }

  /// Creates the group at `child`, with any missing intermediate groups.
  @discardableResult
  public func createGroup(_ child: String) throws -> HDF5Group {
    let lcpl = try HDF5PropertyList(class: rbp_H5P_LINK_CREATE(), file: file, path: childPath(child))
    let gcpl = try HDF5PropertyList(class: rbp_H5P_GROUP_CREATE(), file: file, path: childPath(child))
    let g = try HDF5.locked { () -> hid_t in
      try HDF5.check(
        H5Pset_create_intermediate_group(lcpl.id, 1), "cannot create group", file: file, path: childPath(child))
      // No modification times: the same content gives the same bytes.
      try HDF5.check(H5Pset_obj_track_times(gcpl.id, false), "cannot create group", file: file, path: childPath(child))
      return try HDF5.check(
        H5Gcreate2(id, child, lcpl.id, gcpl.id, rbp_H5P_DEFAULT()), "cannot create group",
        file: file, path: childPath(child))
    }
    return HDF5Group(id: g, file: file, path: childPath(child), owner: self, close: H5Gclose)
  }

  /// Opens the dataset at `child`; a missing one is an error naming it.
  public func dataset(_ child: String) throws -> HDF5Dataset {
    guard exists(child) else { throw HDF5Error(file: file, path: childPath(child), message: "missing dataset") }
    try checkInFile(child)
    let d = try HDF5.checked("cannot open dataset", file: file, path: childPath(child)) {
      H5Dopen2(id, child, rbp_H5P_DEFAULT())
    }
    let dataset = HDF5Dataset(id: d, file: file, path: childPath(child), owner: self, close: H5Dclose)
    // Raw data kept in other files (external storage, virtual datasets)
    // is not what the file's hash covers: refused.
    try HDF5.locked {
      let plist = H5Dget_create_plist(d)
      guard plist >= 0 else { return }
      defer { H5Pclose(plist) }
      if H5Pget_external_count(plist) > 0 || H5Pget_layout(plist) == H5D_VIRTUAL {
        throw HDF5Error(
          file: file, path: childPath(child),
          message: "keeps its values in other files (external storage or a virtual dataset); "
            + "rbp reads only what the file itself holds")
      }
      // A compression filter this HDF5 library lacks (h5py's lzf, say).
      for i in 0..<max(H5Pget_nfilters(plist), 0) {
        var flags: UInt32 = 0, count = 0
        var name = [CChar](repeating: 0, count: 64)
        var config: UInt32 = 0
        let id = H5Pget_filter2(plist, UInt32(i), &flags, &count, nil, name.count, &name, &config)
        if id >= 0 && H5Zfilter_avail(id) <= 0 {
          // A damaged file may hold any bytes here: printable ASCII only, 40 at most.
          name[name.count - 1] = 0
          let label = String(
            String(cStringBuffer: name).unicodeScalars
              .filter { $0.value >= 0x20 && $0.value < 0x7F }.prefix(40).map(Character.init))
          throw HDF5Error(
            file: file, path: childPath(child),
            message: "is compressed with filter \(id)\(label.isEmpty ? "" : " (\(label))"), which this HDF5 "
              + "library does not have; rewrite it uncompressed or with gzip (h5py: compression=\"gzip\")")
        }
      }
    }
    return dataset
  }

  /// Elements above which a dataset is written chunked and compressed.
  public static let compressAbove = 4096

  /// The chunks a dataset of `shape` is written in: about 64 Ki elements
  /// each, whole along the trailing dimensions while they fit, so a read of
  /// a few rows, or of a span of steps of long sequences, decompresses
  /// little more than it reads. (Chunks of one whole sequence of 2100 steps
  /// × 256 inputs were 4 MiB, more than HDF5's chunk cache, and each span
  /// of steps decompressed the whole sequence again.)
  static func chunkShape(_ shape: [Int]) -> [Int] {
    var chunk = shape
    var room = 65536
    for d in shape.indices.reversed() {
      chunk[d] = max(1, min(shape[d], room))
      room = chunk[d] == shape[d] ? room / max(shape[d], 1) : 0
    }
    return chunk
  }

  /// Writes `values` with `shape` as a new dataset at `child` (intermediate
  /// groups created), stored as N's disk type; chunked along the first
  /// dimension, byte-shuffled and deflate-compressed when larger than
  /// `compressAbove`.
  @discardableResult
  public func write<N: HDF5Numeric>(_ child: String, _ values: [N], shape: [Int]) throws -> HDF5Dataset {
    let full = childPath(child)
    guard shape.reduce(1, *) == values.count else {
      throw HDF5Error(file: file, path: full, message: "\(values.count) values for shape \(shape)")
    }
    let dataset = try create(child, shape: shape, as: N.self)
    try HDF5.locked {
      try HDF5.check(
        H5Dwrite(dataset.id, N.hdf5Native, rbp_H5S_ALL(), rbp_H5S_ALL(), rbp_H5P_DEFAULT(), values),
        "cannot write dataset", file: file, path: full)
    }
    return dataset
  }

  /// Creates a dataset of `shape` holding N's disk type, to be filled by
  /// `writeRows` (chunked and compressed as `write` does).
  public func create<N: HDF5Numeric>(_ child: String, shape: [Int], as _: N.Type) throws -> HDF5Dataset {
    let full = childPath(child)
    let space = try HDF5Space(shape: shape, file: file, path: full)
    let lcpl = try HDF5PropertyList(class: rbp_H5P_LINK_CREATE(), file: file, path: full)
    let dcpl = try HDF5PropertyList(class: rbp_H5P_DATASET_CREATE(), file: file, path: full)
    let d = try HDF5.locked { () -> hid_t in
      try HDF5.check(H5Pset_create_intermediate_group(lcpl.id, 1), "cannot create dataset", file: file, path: full)
      // No modification times: the same content gives the same bytes.
      try HDF5.check(H5Pset_obj_track_times(dcpl.id, false), "cannot create dataset", file: file, path: full)
      if shape.reduce(1, *) > Self.compressAbove && !shape.isEmpty && !shape.contains(0) {
        var chunk = Self.chunkShape(shape).map { hsize_t($0) }
        try HDF5.check(H5Pset_chunk(dcpl.id, Int32(shape.count), &chunk), "cannot set chunking", file: file, path: full)
        // Bytes shuffled (byte k of every value together), then deflate at
        // level 1: on float arrays this writes about a third faster and
        // reads about 40 % faster than deflate 4 alone, and the file is
        // smaller (h5py's shuffle=True, compression="gzip"). Both filters
        // are built into every HDF5.
        try HDF5.check(H5Pset_shuffle(dcpl.id), "cannot set compression", file: file, path: full)
        try HDF5.check(H5Pset_deflate(dcpl.id, 1), "cannot set compression", file: file, path: full)
      }
      return try HDF5.check(
        H5Dcreate2(id, child, N.hdf5Disk, space.id, lcpl.id, dcpl.id, rbp_H5P_DEFAULT()),
        "cannot create dataset", file: file, path: full)
    }
    return HDF5Dataset(id: d, file: file, path: full, owner: self, close: H5Dclose)
  }
}

/// The crash guard's test hook: with `RBP_TEST_FAULT_IN_READ=1`, opening a
/// file for reading reads address 16 inside the HDF5 lock, a fault as a
/// damaged file that crashes the library makes.
let testFaultWhileReading = ProcessInfo.processInfo.environment["RBP_TEST_FAULT_IN_READ"] == "1"

/// Throws unless `path` names a regular file (after symbolic links): a
/// missing file, a folder, a FIFO (which would block the reader) or a
/// device is refused by name.
public func checkReadable(_ path: String) throws {
  var st = stat()
  guard stat(path, &st) == 0 else {
    throw HDF5Error(
      file: path, path: "", message: errno == ENOENT ? "no such file" : String(cStringPointer: strerror(errno)))
  }
  let kind = st.st_mode & S_IFMT
  guard kind == S_IFREG else {
    let what =
      kind == S_IFDIR
      ? "a folder" : kind == S_IFIFO ? "a FIFO" : kind == S_IFCHR || kind == S_IFBLK ? "a device" : "a special file"
    throw HDF5Error(file: path, path: "", message: "is \(what), not a regular file")
  }
}

/// An HDF5 file, which is its root group. `create` truncates; `open` reads
/// (or updates, with `writable`).
public final class HDF5File: HDF5Group, @unchecked Sendable {
  /// Creates (or truncates) the file at `path`.
  public static func create(_ path: String) throws -> HDF5File {
    let fapl = try strongCloseAccess(path)
    let id = try HDF5.locked {
      let id = try HDF5.check(
        H5Fcreate(path, rbp_H5F_ACC_TRUNC(), rbp_H5P_DEFAULT(), fapl.id), "cannot create file",
        file: path, path: "")
      rbp_close_on_exec(id)
      return id
    }
    return HDF5File(id: id, file: path, path: "/", close: H5Fclose)
  }

  /// Creates a file that lives in memory only (HDF5's core driver, no
  /// backing store): nothing touches the file system; `image()` returns
  /// its bytes. `name` is what errors name, and must be unique among the
  /// files open in the process (the temporary's path does).
  public static func createInMemory(_ name: String) throws -> HDF5File {
    let fapl = try strongCloseAccess(name)
    let id = try HDF5.locked {
      try HDF5.check(H5Pset_fapl_core(fapl.id, 1 << 16, false), "cannot create a file in memory", file: name, path: "")
      return try HDF5.check(
        H5Fcreate(name, rbp_H5F_ACC_TRUNC(), rbp_H5P_DEFAULT(), fapl.id), "cannot create file", file: name, path: "")
    }
    return HDF5File(id: id, file: name, path: "/", close: H5Fclose)
  }

  /// The file's bytes as they would be on disk, after a flush.
  public func image() throws -> [UInt8] {
    try flush()
    return try HDF5.locked {
      let size = H5Fget_file_image(id, nil, 0)
      guard size > 0 else { throw HDF5Error(file: file, path: "", message: "cannot take the file's image") }
      var bytes = [UInt8](repeating: 0, count: size)
      let got = bytes.withUnsafeMutableBytes { H5Fget_file_image(id, $0.baseAddress, size) }
      guard got == size else { throw HDF5Error(file: file, path: "", message: "cannot take the file's image") }
      return bytes
    }
  }

  /// Opens the existing file at `path`.
  public static func open(_ path: String, writable: Bool = false) throws -> HDF5File {
    try checkReadable(path)
    if !writable { try TrialRead.check(path) }
    let fapl = try strongCloseAccess(path)
    let (id, slot) = try HDF5.locked {
      let id = try HDF5.check(
        H5Fopen(path, writable ? rbp_H5F_ACC_RDWR() : rbp_H5F_ACC_RDONLY(), fapl.id),
        "cannot open file as HDF5", file: path, path: "")
      rbp_close_on_exec(id)
      // Named by the crash guard while it is open for reading.
      let slot = writable ? -1 : rbp_guard_open(path)
      if !writable && testFaultWhileReading { rbp_guard_test_fault() }
      return (id, slot)
    }
    return HDF5File(
      id: id, file: path, path: "/",
      close: { id in
        // Closing reads and frees what the file made the library cache: still guarded.
        defer { rbp_guard_close(slot) }
        return H5Fclose(id)
      })
  }

  /// Closing the file closes every object still open in it, so the file is
  /// complete on disk once the last reference to this handle goes.
  private static func strongCloseAccess(_ path: String) throws -> HDF5PropertyList {
    let fapl = try HDF5PropertyList(class: rbp_H5P_FILE_ACCESS(), file: path, path: "")
    try HDF5.locked {
      try HDF5.check(H5Pset_fclose_degree(fapl.id, H5F_CLOSE_STRONG), "cannot set close degree", file: path, path: "")
    }
    return fapl
  }

  /// Flushes and closes the file (and, with the strong close degree, every
  /// object still open in it).
  public func close() throws {
    try flush()
    try closeNow()
  }

  /// Writes buffered data to disk.
  public func flush() throws {
    try HDF5.locked { try HDF5.check(H5Fflush(id, H5F_SCOPE_GLOBAL), "cannot flush", file: file, path: "") }
  }
}

/// A dataset: shape, element kind, and whole or row-range reads.
public final class HDF5Dataset: HDF5Object, @unchecked Sendable {
  /// The dimensions; throws (naming the dataset) when HDF5 cannot tell.
  public var shape: [Int] {
    get throws { try HDF5Space(taking: { H5Dget_space(id) }, file: file, path: path).shape }
  }

  /// What its elements are; throws when HDF5 cannot tell.
  public var kind: HDF5ValueKind {
    get throws { kindOf(try HDF5Type(taking: { H5Dget_type(id) }, file: file, path: path).typeClass) }
  }

  /// Bytes per element on disk (4 for float32, 8 for float64).
  public var elementSize: Int {
    get throws {
      let type = try HDF5Type(taking: { H5Dget_type(id) }, file: file, path: path)
      return HDF5.locked { H5Tget_size(type.id) }
    }
  }

  /// The number of elements the dataset declares, checked before anything
  /// is allocated for them: the product does not overflow, stays within
  /// 2³¹, and is not out of all proportion to the bytes the file stores for
  /// the dataset (a few KB of file may declare 10⁹ rows of fill values;
  /// compression of real data stays far below 2000:1).
  public func checkedCount() throws -> Int {
    let dims = try shape
    var count = 1
    for d in dims {
      let (product, overflow) = count.multipliedReportingOverflow(by: d)
      guard !overflow, d >= 0, product <= maximumElements else {
        throw fail("declares shape \(dims), more than \(maximumElements) values")
      }
      count = product
    }
    let stored = HDF5.locked { Int(clamping: H5Dget_storage_size(id)) }
    let (declaredBytes, tooMany) = count.multipliedReportingOverflow(by: max(try elementSize, 1))
    let (allowed, huge) = stored.multipliedReportingOverflow(by: 2000)
    guard !tooMany, huge || declaredBytes <= allowed + (1 << 20) else {
      throw fail("declares shape \(dims) (\(declaredBytes) bytes) but the file stores \(stored) bytes for it")
    }
    return count
  }

  /// Every element, converted to N (float32 or float64 on disk).
  public func read<N: HDF5Numeric>(as: N.Type = N.self) throws -> [N] {
    let kind = try self.kind
    guard kind == .float || kind == .integer else { throw fail("holds \(kind) values, expected numbers") }
    var values = [N](repeating: 0, count: try checkedCount())
    if values.isEmpty { return values }
    try HDF5.locked {
      try HDF5.check(
        H5Dread(id, N.hdf5Native, rbp_H5S_ALL(), rbp_H5S_ALL(), rbp_H5P_DEFAULT(), &values),
        "cannot read dataset", file: file, path: path)
    }
    return values
  }

  /// Writes `values` as the rows from `start` on, along the first dimension
  /// (a hyperslab): whole rows, as many as `values` holds.
  public func writeRows<N: HDF5Numeric>(_ start: Int, _ values: [N]) throws {
    let dims = try shape
    let rowSize = dims.dropFirst().reduce(1, *)
    guard !dims.isEmpty, rowSize > 0, values.count % rowSize == 0, start >= 0,
      start + values.count / rowSize <= dims[0]
    else {
      throw fail("\(values.count) values from row \(start) do not fit shape \(dims)")
    }
    let count = values.count / rowSize
    if count == 0 { return }
    let (fileSpace, memory) = try rowSelection(start, count: count, of: dims)
    try HDF5.locked {
      try HDF5.check(
        H5Dwrite(id, N.hdf5Native, memory.id, fileSpace.id, rbp_H5P_DEFAULT(), values),
        "cannot write rows", file: file, path: path)
    }
  }

  /// The file's selection of rows `start ..< start + count` (a hyperslab
  /// along the first dimension) and the memory space that holds them.
  private func rowSelection(_ start: Int, count: Int, of dims: [Int]) throws -> (file: HDF5Space, memory: HDF5Space) {
    let fileSpace = try HDF5Space(taking: { H5Dget_space(id) }, file: file, path: path)
    var offset = [hsize_t](repeating: 0, count: dims.count)
    offset[0] = hsize_t(start)
    var extent = dims.map { hsize_t($0) }
    extent[0] = hsize_t(count)
    let memory = try HDF5Space(shape: extent.map { Int($0) }, file: file, path: path)
    try HDF5.locked {
      try HDF5.check(
        H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, &offset, nil, &extent, nil),
        "cannot select rows", file: file, path: path)
    }
    return (fileSpace, memory)
  }

  /// Rows `start ..< start + count` along the first dimension (a hyperslab).
  public func readRows<N: HDF5Numeric>(_ start: Int, count: Int, as: N.Type = N.self) throws -> [N] {
    let dims = try shape
    guard !dims.isEmpty, start >= 0, count >= 0, start + count <= dims[0] else {
      throw fail("rows \(start)..<\(start + count) outside the \(dims.first ?? 0) rows")
    }
    let rowSize = dims.dropFirst().reduce(1, *)
    var values = [N](repeating: 0, count: count * rowSize)
    if values.isEmpty { return values }
    let (fileSpace, memory) = try rowSelection(start, count: count, of: dims)
    try HDF5.locked {
      try HDF5.check(
        H5Dread(id, N.hdf5Native, memory.id, fileSpace.id, rbp_H5P_DEFAULT(), &values),
        "cannot read rows", file: file, path: path)
    }
    return values
  }

  /// The rows at `indices` along the first dimension, in that order: one
  /// hyperslab read per run of consecutive sorted indices. With `within`,
  /// only that range of
  /// the second dimension of each row (a span of steps of a P×T×K
  /// array).
  public func readRows<N: HDF5Numeric>(
    at indices: [Int], within second: Range<Int>? = nil, as: N.Type = N.self
  )
    throws -> [N]
  {
    var dims = try shape
    guard !dims.isEmpty else { throw fail("is a scalar, it has no rows") }
    if let bad = indices.first(where: { $0 < 0 || $0 >= dims[0] }) {
      throw fail("row \(bad) outside the \(dims[0]) rows")
    }
    var start = [hsize_t](repeating: 0, count: dims.count)
    if let second {
      guard dims.count >= 2, second.lowerBound >= 0, second.upperBound <= dims[1] else {
        throw fail("range \(second) of the second dimension is outside shape \(dims)")
      }
      start[1] = hsize_t(second.lowerBound)
      dims[1] = second.count
    }
    let rowSize = dims.dropFirst().reduce(1, *)
    guard !indices.isEmpty, rowSize > 0 else { return [N](repeating: 0, count: indices.count * rowSize) }
    let sorted = Array(Set(indices)).sorted()
    var runs: [(start: Int, count: Int)] = []
    for i in sorted {
      if let last = runs.last, last.start + last.count == i {
        runs[runs.count - 1].count += 1
      } else {
        runs.append((i, 1))
      }
    }
    // One read per run: a union of hyperslabs is an irregular selection,
    // which the library walks element by element (measured: most of the
    // time of a span of 16 scattered sequences).
    let fileSpace = try HDF5Space(taking: { H5Dget_space(id) }, file: file, path: path)
    var values = [N](repeating: 0, count: sorted.count * rowSize)
    var done = 0
    for run in runs {
      var offset = start
      offset[0] = hsize_t(run.start)
      var extent = dims.map { hsize_t($0) }
      extent[0] = hsize_t(run.count)
      let memory = try HDF5Space(shape: extent.map { Int($0) }, file: file, path: path)
      try HDF5.locked {
        try HDF5.check(
          H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, &offset, nil, &extent, nil),
          "cannot select rows", file: file, path: path)
        _ = try values.withUnsafeMutableBufferPointer { v in
          try HDF5.check(
            H5Dread(id, N.hdf5Native, memory.id, fileSpace.id, rbp_H5P_DEFAULT(), v.baseAddress! + done * rowSize),
            "cannot read rows", file: file, path: path)
        }
      }
      done += run.count
    }
    var position = [Int: Int]()
    for (k, i) in sorted.enumerated() { position[i] = k }
    var out = [N](repeating: 0, count: indices.count * rowSize)
    for (r, i) in indices.enumerated() {
      let k = position[i]!
      out.replaceSubrange(r * rowSize..<(r + 1) * rowSize, with: values[k * rowSize..<(k + 1) * rowSize])
    }
    return out
  }

  /// Whether the dataset is stored through filters (shuffle, deflate).
  public var isCompressed: Bool {
    HDF5.locked {
      let plist = H5Dget_create_plist(id)
      defer { H5Pclose(plist) }
      return H5Pget_nfilters(plist) > 0
    }
  }
}

/// The most elements one dataset may declare (16 GiB of float64).
let maximumElements = 1 << 31

/// The longest fixed-length string attribute read (a corrupt file may
/// declare any size).
let maximumStringBytes = 1 << 20

/// Strings from the library's C buffers.
extension String {
  /// The UTF-8 text before the first NUL of `buffer` (all of it if none).
  public init(cStringBuffer buffer: [CChar]) {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    self = String(decoding: bytes, as: UTF8.self)
  }

  /// The UTF-8 text of a NUL-terminated C string.
  public init(cStringPointer pointer: UnsafePointer<CChar>) {
    self = String(decoding: UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)), as: UTF8.self)
  }
}

/// Damaged files refused before the engine reads them: a trial read in a
/// child process (trial_read.h), once per version of each file (path,
/// device, inode, size and modification time) in this process.
enum TrialRead {
  /// Files up to this size also have every numeric dataset read in the trial.
  static let dataBytes: Int64 = 64 << 20
  /// How long a trial may take before the file is refused: 30 s, or
  /// RBP_TRIAL_READ_TIMEOUT seconds (a positive number; anything else is
  /// ignored). Damage can make the library loop; a file on a slow shared
  /// file system can take long to read whole.
  static let timeoutMilliseconds: Int32 = {
    guard let text = ProcessInfo.processInfo.environment["RBP_TRIAL_READ_TIMEOUT"], let seconds = Double(text),
      seconds > 0, seconds <= 86_400
    else { return 30_000 }
    return Int32(max(1, (seconds * 1000).rounded()))
  }()
  nonisolated(unsafe) private static var passed: Set<String> = []

  static func check(_ path: String) throws {
    var info = stat()
    guard stat(path, &info) == 0 else { return }  // opening it will say why
    let key = "\(info.st_dev):\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec):\(path)"
    let outcome: Int32? = HDF5.locked {
      if passed.contains(key) { return nil }
      let result = rbp_trial_read(path, Int64(dataBytes), timeoutMilliseconds)
      if result == 0 || result == -2 { passed.insert(key) }
      return result
    }
    guard let outcome, outcome != 0 && outcome != -2 else { return }
    if outcome == -1 {
      throw HDF5Error(
        file: path, path: "",
        message: "is damaged: reading it did not finish in \(Double(timeoutMilliseconds) / 1000) s")
    }
    if outcome >= 1000 {
      throw HDF5Error(
        file: path, path: "", message: "is damaged: a trial read of it ended abnormally (exit \(outcome - 1000))")
    }
    throw HDF5Error(
      file: path, path: "", message: "is damaged: reading its contents crashed the HDF5 library (signal \(outcome))")
  }
}
