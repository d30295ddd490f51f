// The bookkeeping every batched pass solver shares (forward and adjoint,
// plain and block Gauss–Seidel): which patterns still iterate, where their
// rows are, and how a pattern's pass is recorded.
//
// A solver keeps its row-major buffers (states, drives, products, slopes,
// adjoints) with the active patterns in rows 0..<count, so each pass's
// product runs on one contiguous block of rows. When a row retires it is
// exchanged, in every buffer, with the last active row, and `order`
// remembers which pattern each buffer row holds; `unpermuted` puts a
// buffer back in pattern order at the end. Rows are visited from the last
// to the first, so a retired row's place is taken by a row already visited
// in that pass, and every active row is visited once per pass.
//
// Legend: P = patterns (rows), r = a buffer row, p = order[r] its pattern.

import RBPKernels

/// The active rows of a batched pass solve and the permutation of its
/// buffers.
struct ActiveRows {
  /// order[r]: the pattern whose values are in buffer row r.
  private(set) var order: [Int]
  /// Rows 0..<count are still iterating.
  private(set) var count: Int
  /// Passes begun so far.
  private(set) var pass = 0

  /// All of `patterns` rows active, in pattern order.
  init(patterns: Int) {
    order = Array(0..<patterns)
    count = patterns
  }

  /// Begins the next pass when a row is still active and fewer than
  /// `limit` passes have run; false when the solve is over.
  mutating func beginPass(limit: Int) -> Bool {
    guard count > 0 && pass < limit else { return false }
    pass += 1
    return true
  }

  /// Visits each active row once, from the last to the first.
  ///
  /// - Parameters:
  ///   - visit: `(row, pattern)`: does the row's work for this pass and
  ///     returns whether it retires.
  ///   - exchange: `(row, last)`: swaps the two rows in each of the
  ///     solver's buffers; called for each retiring row, with `last` the
  ///     last active row (which may be `row` itself).
  mutating func visitFromLast(
    _ visit: (_ row: Int, _ pattern: Int) -> Bool, exchange: (_ row: Int, _ last: Int) -> Void
  ) {
    var r = count - 1
    while r >= 0 {
      if visit(r, order[r]) {
        count -= 1
        exchange(r, count)
        order.swapAt(r, count)
      }
      r -= 1
    }
  }

  /// The P×width matrix whose row order[r] is row r of `rows` (a buffer
  /// put back in pattern order).
  func unpermuted<T: KernelScalar>(_ rows: [T], width: Int) -> Matrix<T> {
    // Rows still in their places (no row retired before another one below
    // it): the buffer as it is.
    if order.indices.allSatisfy({ order[$0] == $0 }) && rows.count == order.count * width {
      return Matrix(rows: order.count, cols: width, elements: rows)
    }
    var out = Matrix<T>(rows: order.count, cols: width)
    out.withMutablePointer { o in
      rows.withUnsafeBufferPointer { r in
        for (i, p) in order.enumerated() { (o + p * width).update(from: r.baseAddress! + i * width, count: width) }
      }
    }
    return out
  }
}

extension SolveDiagnostics {
  /// Records pattern `p`'s pass number `pass` and its change, and
  /// returns how the pattern ends if it retires: `.nonFinite` for a change
  /// that is not finite, `.converged` for one `options` accepts at `scale`
  /// (the ∞-norm of the value solved for), else nil (it goes on). A
  /// retiring pattern's status is set.
  mutating func recordPass(
    _ p: Int, pass: Int, change: Double, scale: Double, options: SolverOptions
  ) -> SolveStatus? {
    iterations[p] = pass
    residuals[p] = change
    let ending: SolveStatus? = !change.isFinite ? .nonFinite : options.accepts(change, scale: scale) ? .converged : nil
    if let ending { status[p] = ending }
    return ending
  }
}

/// Swaps rows i and j (each `width` long) of a row-major buffer.
@inline(__always)
func swapRows<T>(_ buffer: inout [T], _ i: Int, _ j: Int, width: Int) {
  if i == j { return }
  buffer.withUnsafeMutableBufferPointer { p in
    precondition(max(i, j) * width + width <= p.count, "swapRows: row out of range")
    let (a, b) = (p.baseAddress! + i * width, p.baseAddress! + j * width)
    for c in 0..<width {
      let t = a[c]
      a[c] = b[c]
      b[c] = t
    }
  }
}
