// What a run is: its configuration with every default filled in (the
// resolved configuration) and the content of its dataset. Their hash is the
// run's identity: a sweep skips a run only when a result with the same
// identity exists, and a checkpoint records it (SPEC §3: a run is
// identified by its fully resolved configuration and its data).
//
// Settings that do not change any result (threads, checkpoint-every) are
// left out. The hash is FNV-1a over 8-byte words (each step folding the
// high half down) with a final mix, 64 bits: an identity check against
// accidents (a changed spec, another dataset), not a cryptographic digest.

import Foundation
import RBPStore

/// 64-bit FNV-1a over little-endian 8-byte words (the tail byte by byte).
public struct ContentHash: Sendable {
  /// The hash of everything added so far.
  public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
  static let prime: UInt64 = 0x100_0000_01b3

  /// The hash of nothing.
  public init() {}

  /// Adds these bytes.
  public mutating func add(_ bytes: UnsafeRawBufferPointer) {
    var h = value
    let words = bytes.count / 8
    for w in 0..<words {
      h = (h ^ bytes.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self)) &* Self.prime
      h ^= h >> 32  // carry the high bits down, which the multiply alone never does
    }
    for i in (words * 8)..<bytes.count { h = (h ^ UInt64(bytes[i])) &* Self.prime }
    value = h
  }

  /// Adds the UTF-8 bytes of `text`.
  public mutating func add(_ text: String) {
    var copy = text
    copy.withUTF8 { add(UnsafeRawBufferPointer($0)) }
  }

  /// 16 hex digits, after a final mix (splitmix64's) so that every input
  /// bit reaches every output digit.
  public var hex: String { Self.hex(mixed) }

  /// The hash after the final mix: the number `hex` writes.
  public var mixed: UInt64 {
    var z = value
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
  }

  /// `value` as 16 lowercase hex digits.
  public static func hex(_ value: UInt64) -> String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    return String(unsafeUninitializedCapacity: 16) { out in
      for i in 0..<16 { out[i] = digits[Int((value >> UInt64(60 - 4 * i)) & 15)] }
      return 16
    }
  }

  /// Adds `part` prefixed by its length (so that concatenations differ).
  public mutating func addPart(_ part: String) {
    var length = UInt64(part.utf8.count).littleEndian
    withUnsafeBytes(of: &length) { add($0) }
    add(part)
  }

  /// The hash of strings, each prefixed by its length.
  public static func of(_ parts: [String]) -> String {
    var h = ContentHash()
    for part in parts { h.addPart(part) }
    return h.hex
  }

  /// The hash of a file's bytes, read in 4 MiB pieces.
  public static func ofFile(_ path: String) throws -> String {
    do { try checkReadable(path) } catch let error as HDF5Error { throw ConfigError(error.description) }
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw ConfigError("\(path): cannot read the file to identify it")
    }
    defer { try? handle.close() }
    var h = ContentHash()
    var carry: [UInt8] = []
    while true {
      let chunk: Data
      do { chunk = try handle.read(upToCount: 4 << 20) ?? Data() } catch {
        throw ConfigError("\(path): cannot read the file to identify it (\(error.localizedDescription))")
      }
      if chunk.isEmpty { break }
      // Whole words only until the end, so the result does not depend on where reads split.
      var bytes = carry + chunk
      let whole = bytes.count / 8 * 8
      bytes.withUnsafeBytes { h.add(UnsafeRawBufferPointer(rebasing: $0[0..<whole])) }
      carry = Array(bytes[whole...])
      bytes = []
    }
    carry.withUnsafeBytes { h.add($0) }
    return h.hex
  }
}

/// The hash of a file's bytes, computed again only when the file may have
/// changed: a file whose size, inode, modification and status-change times
/// are those seen at its last hashing is not read again, unless those
/// times were then within `racySeconds` seconds of the hashing (a write in
/// the same tick of a coarse clock could go unseen; such a file is hashed
/// every time until it is older). The status-change time cannot be set
/// back by a user, so a rewritten file is always seen.
public final class FileHashCache: @unchecked Sendable {
  /// Seconds within which a file's times are too close to its hashing to
  /// vouch for its bytes (2 unless a test says otherwise).
  public let racySeconds: Double
  private let lock = NSLock()
  private var known: [String: (key: [Int], hash: String)] = [:]
  private var readCount = 0
  /// Files read and hashed so far.
  public var reads: Int { lock.withLock { readCount } }

  /// An empty cache.
  public init(racySeconds: Double = 2) { self.racySeconds = racySeconds }

  /// The hash of `path`'s bytes (`ContentHash.ofFile`).
  public func hash(_ path: String) throws -> String {
    let before = Self.key(path)
    if let before, let entry = lock.withLock({ known[path] }), entry.key == before { return entry.hash }
    let started = Date().timeIntervalSince1970
    let hash = try ContentHash.ofFile(path)
    lock.withLock { readCount += 1 }
    // Vouched for only when the file did not change while it was read and
    // its last change is old enough not to share a clock tick with the read.
    guard let before, Self.key(path) == before else { return hash }
    let changed = max(Double(before[2]) + Double(before[3]) * 1e-9, Double(before[4]) + Double(before[5]) * 1e-9)
    if changed + racySeconds < started { lock.withLock { known[path] = (before, hash) } }
    return hash
  }

  /// Device, inode, modification time (s, ns), status-change time (s, ns)
  /// and size; nil when the file cannot be examined (reading it will say why).
  static func key(_ path: String) -> [Int]? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return [
      Int(info.st_dev), Int(info.st_ino), Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec),
      Int(info.st_ctim.tv_sec), Int(info.st_ctim.tv_nsec), Int(info.st_size),
    ]
  }
}

extension TrainingPlan {
  /// The run's identity with the dataset whose content hashes to `dataHash`.
  public func identity(dataHash: String) -> String {
    ContentHash.of(["rbp-run", resolvedConfig.identityJSON, dataHash])
  }
}
