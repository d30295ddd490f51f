// The caller's arrays of the C library (`rbp_array`: data, dtype, rank,
// shape and byte strides, owned by the caller): checked against the shape
// a call expects, read into f64 row-major arrays, and written back in the
// caller's own dtype and strides. Nothing here keeps a caller's pointer.

import CRBPLibrary
import RBPCore
import RBPKernels

/// One of the caller's arrays, with the name errors give it.
struct CallerArray {
  let array: rbp_array
  let name: String
  let shape: [Int]
  let strides: [Int]

  /// The array at `pointer`, checked: a known dtype, a rank of at most
  /// RBP_MAX_RANK, sizes ≥ 0 and data unless it is empty.
  init(_ pointer: UnsafePointer<rbp_array>?, name: String) throws {
    guard let pointer else { throw RBPError.invalid("\(name): no array given") }
    let array = pointer.pointee
    self.array = array
    self.name = name
    let rank = Int(min(max(array.rank, 0), Int32(RBP_MAX_RANK)))
    shape = withUnsafeBytes(of: array.shape) { Array($0.bindMemory(to: Int64.self).prefix(rank).map { Int($0) }) }
    strides = withUnsafeBytes(of: array.strides) { Array($0.bindMemory(to: Int64.self).prefix(rank).map { Int($0) }) }
    guard array.dtype == RBP_F32 || array.dtype == RBP_F64 else {
      throw RBPError.invalid("\(name): dtype \(array.dtype) is neither float32 nor float64")
    }
    guard (0...Int32(RBP_MAX_RANK)).contains(array.rank) else {
      throw RBPError.invalid("\(name): rank \(array.rank), at most \(RBP_MAX_RANK) is supported")
    }
    guard shape.allSatisfy({ $0 >= 0 }) else { throw RBPError.invalid("\(name): shape \(shape) has a negative size") }
    guard array.data != nil || count == 0 else { throw RBPError.invalid("\(name): no data") }
  }

  /// An optional array: nil for a null pointer.
  static func optional(_ pointer: UnsafePointer<rbp_array>?, name: String) throws -> CallerArray? {
    guard pointer != nil else { return nil }
    return try CallerArray(pointer, name: name)
  }

  var count: Int { shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 } }
  var isDouble: Bool { array.dtype == RBP_F64 }

  /// Throws unless the shape is `expected`, where nil stands for any size.
  /// `what` describes the shape in words, "(P, N)".
  @discardableResult
  func expect(_ expected: [Int?], _ what: String) throws -> [Int] {
    let s = shape
    guard s.count == expected.count, zip(s, expected).allSatisfy({ $1 == nil || $0 == $1 }) else {
      let wanted = "(" + expected.map { $0.map(String.init) ?? "·" }.joined(separator: ", ") + ")"
      throw RBPError.invalid(
        "\(name): shape (\(s.map(String.init).joined(separator: ", "))), expected \(what) = \(wanted)")
    }
    return s
  }

  /// Byte offset of the element at flat row-major index `i`.
  @inline(__always)
  private func offset(_ i: Int, _ shape: [Int], _ strides: [Int]) -> Int {
    var rest = i, bytes = 0
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
      let (q, r) = rest.quotientAndRemainder(dividingBy: shape[d])
      bytes += r * strides[d]
      rest = q
    }
    return bytes
  }

  /// Whether the elements lie one after another in row-major order.
  private var isContiguous: Bool {
    var expected = isDouble ? 8 : 4
    for (size, stride) in zip(shape, strides).reversed() {
      if size > 1 && stride != expected { return false }
      expected *= size
    }
    return true
  }

  /// The values, row-major, as f64 (exact for either dtype); throws
  /// naming the first NaN or infinity.
  func finiteValues() throws -> [Double] {
    let v = values()
    let finite = v.withUnsafeBufferPointer { p in
      var all = true
      for x in p { all = all && x.isFinite }
      return all
    }
    if !finite, let bad = v.indices.first(where: { !v[$0].isFinite }) {
      throw RBPError.invalid("\(name): holds a non-finite value (\(v[bad])) at flat index \(bad)")
    }
    return v
  }

  /// The values, row-major, as f64 (exact for either dtype).
  func values() -> [Double] {
    let n = count
    guard n > 0, let data = array.data else { return [] }
    if isContiguous {
      if isDouble { return Array(UnsafeBufferPointer(start: data.assumingMemoryBound(to: Double.self), count: n)) }
      let f = data.assumingMemoryBound(to: Float.self)
      return (0..<n).map { Double(f[$0]) }
    }
    let (s, st) = (shape, strides)
    return (0..<n).map { i in
      let p = data + offset(i, s, st)
      return isDouble ? p.load(as: Double.self) : Double(p.load(as: Float.self))
    }
  }

  /// Writes `values` (row-major, as many as the array holds) in the
  /// array's dtype and strides.
  func write(_ values: [Double]) {
    precondition(values.count == count, "\(name): \(values.count) values for shape \(shape)")
    guard let data = array.data, !values.isEmpty else { return }
    if isContiguous {
      if isDouble {
        values.withUnsafeBytes { data.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
      } else {
        convertedArray(values, to: Float.self).withUnsafeBytes {
          data.copyMemory(from: $0.baseAddress!, byteCount: $0.count)
        }
      }
      return
    }
    let (s, st) = (shape, strides)
    for (i, v) in values.enumerated() {
      let p = data + offset(i, s, st)
      if isDouble { p.storeBytes(of: v, as: Double.self) } else { p.storeBytes(of: Float(v), as: Float.self) }
    }
  }
}
