// Reading a trajectory dataset by spans of steps: h5py writes a
// compressed, chunked float32 file whose every value follows a formula,
// and each span of chosen sequences must hold exactly the formula's
// values; a non-finite target or a negative mask inside a span is
// reported with the array, the sequence and the step, and a span that
// does not reach it reads fine.

import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTestSupport
import Testing

let spansWriter = #"""
  import sys, h5py, numpy as np
  P, T, I, O, N = 5, 23, 3, 2, 4
  p, t, k = np.meshgrid(np.arange(P), np.arange(T), np.arange(I), indexing="ij")
  inputs = (p * 1000 + t + k / 8).astype(np.float32)
  p, t, k = np.meshgrid(np.arange(P), np.arange(T), np.arange(O), indexing="ij")
  targets = (-(p * 1000 + t) - k / 4).astype(np.float32)
  mask = ((t + k) % 3 != 0).astype(np.float32)
  targets[3, 10, 1] = np.nan
  mask[2, 18, 0] = -1
  with h5py.File(sys.argv[1], "w") as f:
      f.attrs["format"] = "rbp-dataset"
      f.attrs["version"] = 1
      f.attrs["kind"] = "trajectory"
      for name, a in (("inputs", inputs), ("targets", targets), ("mask", mask)):
          f.create_dataset(name, data=a, chunks=(2, 7, a.shape[2]), compression="gzip")
      f["initial"] = np.arange(P * N, dtype=np.float64).reshape(P, N) / 10
  """#

@Suite("Dataset spans")
struct DatasetSpansTests {
  @Test func spansHoldTheFileValuesAndNameBadOnes() throws {
    _ = try requirePython()  // names the fix when there is none
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/long.h5"
    let written = try runPython(spansWriter, [path])
    try #require(written.status == 0, "python writer failed: \(written.err)")
    let rows = [4, 1, 3]
    let spans = try DatasetSpans<Double>(path: path, rows: rows)
    #expect(spans.count == 3 && spans.steps == 23 && spans.inputWidth == 3 && spans.outputWidth == 2)
    let initial: [Double] = rows.flatMap { p in (0..<4).map { k -> Double in Double(p * 4 + k) / 10 } }
    #expect(spans.initial?.elements == initial)
    // Steps 2..<9 of sequences 4, 1, 3: before the bad values.
    let w = try spans.span(2..<9)
    #expect(w.count == 3 && w.steps == 7)
    /// The formula's value at (sequence, step, column), rounded to float32 as stored.
    func expected(_ width: Int, _ value: (Int, Int, Int) -> Double) -> [Double] {
      var out: [Double] = []
      for p in rows { for t in 2..<9 { for k in 0..<width { out.append(Double(Float(value(p, t, k)))) } } }
      return out
    }
    #expect(w.inputs == expected(3) { p, t, k in Double(p * 1000 + t) + Double(k) / 8 })
    #expect(w.targets == expected(2) { p, t, k in -Double(p * 1000 + t) - Double(k) / 4 })
    #expect(w.mask == expected(2) { _, t, k in (t + k) % 3 != 0 ? 1 : 0 })
    // The NaN at sequence 3, step 10, column 1 of /targets.
    #expect(throws: (any Error).self) { try spans.span(7..<15) }
    do {
      _ = try spans.span(7..<15)
    } catch {
      #expect("\(error)".contains("/targets") && "\(error)".contains("pattern 3, step 10, column 1"), "\(error)")
    }
    // The negative mask at sequence 2, step 18: not among rows 4, 1, 3.
    _ = try spans.span(15..<23)
    do {
      _ = try DatasetSpans<Float>(path: path, rows: [0, 2]).span(15..<23)
      Issue.record("a negative mask value was read without an error")
    } catch {
      #expect("\(error)".contains("/mask") && "\(error)".contains("pattern 2, step 18, column 0"), "\(error)")
    }
    #expect(throws: (any Error).self) { try spans.span(20..<24) }
    #expect(throws: (any Error).self) { try DatasetSpans<Double>(path: path, rows: [5]) }
  }
}

@Suite("Chunks of written arrays")
struct ChunkShapeTests {
  /// A sequence of 700 steps × 200 inputs is 140,000 values, more than one
  /// chunk: the file must cut it along the steps (chunks of one sequence,
  /// whole rows of 200 inputs, at most 64 Ki values), so that a span of
  /// steps decompresses a few chunks, not the whole sequence. Small rows
  /// keep chunks of whole rows. h5py reads the chunk shapes.
  @Test func longSequencesAreChunkedAlongTheirSteps() throws {
    _ = try requirePython()  // names the fix when there is none
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/chunks.h5"
    let file = try HDF5File.create(path)
    try file.write("long", [Double](repeating: 0.5, count: 3 * 700 * 200), shape: [3, 700, 200])
    try file.write("rows", [Float](repeating: 1, count: 5000 * 20), shape: [5000, 20])
    try file.close()
    let r = try runPython(
      """
      import sys, h5py
      with h5py.File(sys.argv[1], "r") as f:
          print(f["long"].chunks, f["rows"].chunks, f["long"][2, 699, 199])
      """, [path])
    try #require(r.status == 0, "\(r.err)")
    let steps = 65536 / 200
    #expect(r.out.trimmingCharacters(in: .whitespacesAndNewlines) == "(1, \(steps), 200) (3276, 20) 0.5", "\(r.out)")
  }
}
