// The sweep solvers' row bookkeeping against a plain model of it: each
// pattern retires at a sweep drawn in advance, and at every sweep the rows
// visited must be exactly the patterns not yet retired, each once, each
// row of the solver's buffer holding the pattern `order` says, and the
// buffer must come back in pattern order at the end.

import Testing

@testable import RBPCore

@Suite("Active rows")
struct ActiveRowsTests {
  @Test(arguments: [1, 2, 37])
  func retiredRowsLeaveTheBlockAndComeBackInOrder(patterns: Int) {
    var rng = SeededGenerator(seed: UInt64(patterns))
    let width = 3
    // Pattern p retires at sweep retiresAt[p] (1…6).
    let retiresAt = (0..<patterns).map { _ in 1 + Int(rng.next() % 6) }
    var buffer = (0..<patterns).flatMap { p in (0..<width).map { Double(10 * p + $0) } }
    var rows = ActiveRows(patterns: patterns)
    var sweeps = 0
    while rows.beginSweep(limit: 100) {
      sweeps += 1
      #expect(rows.sweep == sweeps)
      let expected = Set((0..<patterns).filter { retiresAt[$0] >= sweeps })
      #expect(rows.count == expected.count)
      var visited: [Int] = []
      let active = rows.count
      rows.visitFromLast { r, p in
        visited.append(p)
        #expect(r < active, "row \(r) visited outside the active block")
        #expect(buffer[r * width] == Double(10 * p), "buffer row \(r) does not hold pattern \(p)")
        return retiresAt[p] == sweeps
      } exchange: { r, last in
        swapRows(&buffer, r, last, width: width)
      }
      #expect(visited.count == expected.count && Set(visited) == expected, "sweep \(sweeps)")
    }
    #expect(sweeps == retiresAt.max())
    #expect(rows.count == 0)
    let back = rows.unpermuted(buffer, width: width)
    #expect(back.elements == (0..<patterns).flatMap { p in (0..<width).map { Double(10 * p + $0) } })
  }

  @Test func theSweepLimitEndsTheSolveWithRowsActive() {
    var rows = ActiveRows(patterns: 4)
    var sweeps = 0
    while rows.beginSweep(limit: 3) {
      sweeps += 1
      rows.visitFromLast { _, p in
        p == 0
      } exchange: { _, _ in
      }
    }
    #expect(sweeps == 3 && rows.count == 3)
    #expect(Set(rows.order.prefix(3)) == [1, 2, 3])
  }

  @Test func aSweepRecordsItsChangeAndHowThePatternEnds() {
    var diagnostics = SolveDiagnostics(count: 3)
    let options = SolverOptions(tolerance: 1e-6, maxIterations: 10)
    #expect(diagnostics.recordSweep(0, sweep: 4, change: 1e-3, scale: 1, options: options) == nil)
    // Relative to the value's scale above 1: 5e-6 ≤ 1e-6 · 10.
    #expect(diagnostics.recordSweep(1, sweep: 2, change: 5e-6, scale: 10, options: options) == .converged)
    #expect(diagnostics.recordSweep(2, sweep: 7, change: .nan, scale: 1, options: options) == .nonFinite)
    #expect(diagnostics.iterations == [4, 2, 7])
    #expect(diagnostics.residuals[0] == 1e-3 && diagnostics.residuals[1] == 5e-6 && diagnostics.residuals[2].isNaN)
    #expect(diagnostics.status == [.notConverged, .converged, .nonFinite])
  }
}
