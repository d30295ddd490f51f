// A row-major matrix of scalars: the one container the core passes around
// (states B×N, weights N×N, inputs B×I, ...). Row r is pattern r wherever a
// matrix holds one row per pattern, as in the HDF5 files. Kernels get raw
// pointers through the `with...` accessors; nothing here computes.

import RBPKernels

/// A row-major `rows × cols` matrix.
public struct Matrix<T: KernelScalar>: Equatable, Sendable {
  /// The number of rows.
  public private(set) var rows: Int
  /// The number of columns.
  public private(set) var cols: Int
  /// Elements in row-major order, `rows · cols` of them (changing the count
  /// is a programmer error).
  public var elements: [T] {
    didSet { precondition(elements.count == rows * cols, "Matrix: element count changed from \(rows)×\(cols)") }
  }

  /// A rows×cols matrix of `value`.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init(rows: Int, cols: Int, repeating value: T = 0) {
    precondition(rows >= 0 && cols >= 0, "Matrix: negative shape \(rows)×\(cols)")
    self.rows = rows
    self.cols = cols
    elements = [T](repeating: value, count: rows * cols)
  }

  /// A rows×cols matrix of these elements, row-major.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init(rows: Int, cols: Int, elements: [T]) {
    precondition(
      elements.count == rows * cols,
      "Matrix: \(elements.count) elements for a \(rows)×\(cols) matrix")
    self.rows = rows
    self.cols = cols
    self.elements = elements
  }

  /// A matrix from rows of equal length.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init(_ rowArrays: [[T]]) {
    let cols = rowArrays.first?.count ?? 0
    precondition(rowArrays.allSatisfy { $0.count == cols }, "Matrix: ragged rows")
    self.init(rows: rowArrays.count, cols: cols, elements: rowArrays.flatMap { $0 })
  }

  /// The element at row r, column c.
  public subscript(r: Int, c: Int) -> T {
    get { elements[r * cols + c] }
    set { elements[r * cols + c] = newValue }
  }

  /// Row `r` as an array.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func row(_ r: Int) -> [T] { Array(elements[r * cols..<(r + 1) * cols]) }

  /// Replaces row r by `values` (cols of them).
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public mutating func setRow(_ r: Int, _ values: [T]) {
    precondition(values.count == cols, "Matrix.setRow: \(values.count) values for \(cols) columns")
    elements.replaceSubrange(r * cols..<(r + 1) * cols, with: values)
  }

  /// The rows at `indices`, in that order (the matrix itself when they
  /// are all of them in order).
  public func rows(_ indices: [Int]) -> Matrix {
    if isEveryIndexInOrder(indices, count: rows) { return self }
    var out = Matrix(rows: indices.count, cols: cols)
    for (r, i) in indices.enumerated() {
      out.elements.replaceSubrange(r * cols..<(r + 1) * cols, with: elements[i * cols..<(i + 1) * cols])
    }
    return out
  }

  /// The transpose, `cols × rows`.
  public var transposed: Matrix {
    let (rows, cols) = (self.rows, self.cols)
    let out = [T](unsafeUninitializedCapacity: rows * cols) { t, initialized in
      elements.withUnsafeBufferPointer { a in
        // 16×16 tiles, so that both sides stay in cache.
        for r0 in stride(from: 0, to: rows, by: 16) {
          for c0 in stride(from: 0, to: cols, by: 16) {
            for r in r0..<min(r0 + 16, rows) {
              for c in c0..<min(c0 + 16, cols) { t[c &* rows &+ r] = a[r &* cols &+ c] }
            }
          }
        }
      }
      initialized = rows * cols
    }
    return Matrix(rows: cols, cols: rows, elements: out)
  }

  /// The same elements in the other precision.
  public func converted<U: KernelScalar>(to: U.Type) -> Matrix<U> {
    Matrix<U>(rows: rows, cols: cols, elements: convertedArray(elements, to: U.self))
  }

  /// The elements' address for the duration of `body`. An empty matrix
  /// may have no storage; it then gets a dangling, aligned pointer that no
  /// kernel dereferences (every loop over it has zero trips).
  public func withPointer<R>(_ body: (UnsafePointer<T>) throws -> R) rethrows -> R {
    try elements.withUnsafeBufferPointer { try body($0.baseAddress ?? UnsafePointer(bitPattern: 64)!) }
  }

  /// The elements' mutable address for the duration of `body` (see `withPointer`).
  public mutating func withMutablePointer<R>(_ body: (UnsafeMutablePointer<T>) throws -> R) rethrows -> R {
    try elements.withUnsafeMutableBufferPointer {
      try body($0.baseAddress ?? UnsafeMutablePointer(bitPattern: 64)!)
    }
  }

  /// Largest absolute element (0 when empty).
  public var maxAbs: T { elements.reduce(0) { max($0, abs($1)) } }
}

/// Whether `indices` is 0, 1, …, count − 1: every row of `count`, in order.
func isEveryIndexInOrder(_ indices: [Int], count: Int) -> Bool {
  guard indices.count == count else { return false }
  for (i, index) in indices.enumerated() where index != i { return false }
  return true
}
