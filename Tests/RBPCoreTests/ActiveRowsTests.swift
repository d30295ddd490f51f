// The pass solvers' row bookkeeping against a plain model of it: each
// pattern retires at a pass drawn in advance, and at every pass the rows
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
    // Pattern p retires at pass retiresAt[p] (1…6).
    let retiresAt = (0..<patterns).map { _ in 1 + Int(rng.next() % 6) }
    var buffer = (0..<patterns).flatMap { p in (0..<width).map { Double(10 * p + $0) } }
    var rows = ActiveRows(patterns: patterns)
    var passes = 0
    while rows.beginPass(limit: 100) {
      passes += 1
      #expect(rows.pass == passes)
      let expected = Set((0..<patterns).filter { retiresAt[$0] >= passes })
      #expect(rows.count == expected.count)
      var visited: [Int] = []
      let active = rows.count
      rows.visitFromLast { r, p in
        visited.append(p)
        #expect(r < active, "row \(r) visited outside the active block")
        #expect(buffer[r * width] == Double(10 * p), "buffer row \(r) does not hold pattern \(p)")
        return retiresAt[p] == passes
      } exchange: { r, last in
        swapRows(&buffer, r, last, width: width)
      }
      #expect(visited.count == expected.count && Set(visited) == expected, "pass \(passes)")
    }
    #expect(passes == retiresAt.max())
    #expect(rows.count == 0)
    let back = rows.unpermuted(buffer, width: width)
    #expect(back.elements == (0..<patterns).flatMap { p in (0..<width).map { Double(10 * p + $0) } })
  }

  @Test func thePassLimitEndsTheSolveWithRowsActive() {
    var rows = ActiveRows(patterns: 4)
    var passes = 0
    while rows.beginPass(limit: 3) {
      passes += 1
      rows.visitFromLast { _, p in
        p == 0
      } exchange: { _, _ in
      }
    }
    #expect(passes == 3 && rows.count == 3)
    #expect(Set(rows.order.prefix(3)) == [1, 2, 3])
  }

  @Test func aPassRecordsItsChangeAndHowThePatternEnds() {
    var diagnostics = SolveDiagnostics(count: 3)
    let options = SolverOptions(tolerance: 1e-6, maxIterations: 10)
    #expect(diagnostics.recordPass(0, pass: 4, change: 1e-3, scale: 1, options: options) == nil)
    // Relative to the value's scale above 1: 5e-6 ≤ 1e-6 · 10.
    #expect(diagnostics.recordPass(1, pass: 2, change: 5e-6, scale: 10, options: options) == .converged)
    #expect(diagnostics.recordPass(2, pass: 7, change: .nan, scale: 1, options: options) == .nonFinite)
    #expect(diagnostics.iterations == [4, 2, 7])
    #expect(diagnostics.residuals[0] == 1e-3 && diagnostics.residuals[1] == 5e-6 && diagnostics.residuals[2].isNaN)
    #expect(diagnostics.status == [.notConverged, .converged, .nonFinite])
  }
}
