// The eigenvalue solver behind the stability rule against LAPACK, through
// numpy.linalg.eigvals: random matrices of several sizes and gains, and
// D W of random networks whose eigenvalues straddle real part 1.

import Foundation
import RBPCore
import RBPKernels
import RBPTestSupport
import Testing

let numpyEigenvalues = #"""
  import sys, json, numpy as np
  data = json.load(sys.stdin)
  out = []
  for m in data:
      a = np.array([float.fromhex(v) for v in m["a"]]).reshape(m["n"], m["n"])
      e = np.linalg.eigvals(a)
      out.append([[float(z.real).hex(), float(z.imag).hex()] for z in e])
  print(json.dumps(out))
  """#

@Suite("Eigenvalues against numpy")
struct EigenvaluesAgainstNumpyTests {
  @Test func everyEigenvalueMatchesLAPACK() throws {
    _ = try requirePython()  // names the fix when there is none
    var rng = SeededGenerator(seed: 11)
    var matrices: [(a: [Double], n: Int)] = []
    for n in [2, 3, 7, 16, 33, 64] {
      for gain in [0.5, 1.2, 3.0] {
        matrices.append(((0..<n * n).map { _ in gaussian(&rng) * gain / Double(n).squareRoot() }, n))
      }
    }
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let input =
      "["
      + matrices.map { m in
        "{\"n\": \(m.n), \"a\": [" + m.a.map { "\"\(hexadecimal($0))\"" }.joined(separator: ",") + "]}"
      }.joined(separator: ",") + "]"
    try input.write(toFile: dir + "/in.json", atomically: true, encoding: .utf8)
    let r = try runPython("import sys; sys.stdin = open(sys.argv[1])\n" + numpyEigenvalues, [dir + "/in.json"])
    try #require(r.status == 0, "numpy failed: \(r.err)")
    let reference = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[[String]]])
    for (m, expected) in zip(matrices, reference) {
      let found = try #require(eigenvalues(m.a, n: m.n))
      #expect(found.count == expected.count)
      let scale = max(1, m.a.map(abs).max()!)
      for pair in expected {
        let (re, im) = (Double(hexadecimal: pair[0])!, Double(hexadecimal: pair[1])!)
        let nearest = found.map { hypot($0.re - re, $0.im - im) }.min()!
        #expect(
          nearest < 1e-9 * scale * Double(m.n), "n = \(m.n): numpy's \(re) + \(im)i is \(nearest) from the nearest")
      }
      let alpha = expected.map { Double(hexadecimal: $0[0])! }.max()!
      #expect(abs(spectralAbscissa(m.a, n: m.n) - alpha) < 1e-9 * scale * Double(m.n))
    }
  }
}

func hexadecimal(_ x: Double) -> String {
  // Python's float.hex() reads C's %a.
  String(format: "%a", x)
}

extension Double {
  /// A C99 hexadecimal float ("0x1.8p+0", as Python's float.hex() writes).
  init?(hexadecimal text: String) {
    let parsed: Double? = text.withCString { start in
      var end: UnsafeMutablePointer<CChar>? = nil
      let value = strtod(start, &end)
      return end != nil && end!.pointee == 0 && end! != UnsafeMutablePointer(mutating: start) ? value : nil
    }
    guard let parsed else { return nil }
    self = parsed
  }
}
