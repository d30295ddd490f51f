// The fused elementwise kernels against independent scalar formulas: values
// against the C library's functions, slopes against central finite
// differences of f in Double, the adjoint step against a scalar loop; over
// lengths around the vector width, in both precisions.

import Foundation
import RBPCore
import RBPKernels
import RBPTestSupport
import Testing

func referenceValue(_ f: Activation, _ z: Double) -> Double {
  switch f {
  case .tanh: return Foundation.tanh(z)
  case .logistic: return 1 / (1 + Foundation.exp(-z))
  case .linear: return z
  case .relu: return Swift.max(0, z)
  }
}

func checkActivate<T: KernelScalar>(
  _: T.Type, _ f: Activation, count: Int, inPlace: Bool,
  isa: KernelISA
) -> String? {
  var rng = SeededGenerator(seed: UInt64(count * 7 + 1))
  var z = randomArray(T.self, count, &rng).map { $0 * 4 }
  if count > 2 {
    z[0] = 0
    z[1] = -0.0
  }
  let zd = z.map(Double.init)
  var x = [T](repeating: .nan, count: count)
  var d = [T](repeating: .nan, count: count)
  if inPlace {
    x = z
    x.withUnsafeMutableBufferPointer { xp in
      activate(
        f, z: UnsafePointer(xp.baseAddress!), x: xp.baseAddress!, slope: &d, count: count,
        kernels: isa.kernels)
    }
  } else {
    activate(f, z: z, x: &x, slope: &d, count: count, kernels: isa.kernels)
  }
  let eps = Double(T.ulpOfOne)
  for i in 0..<count {
    let want = referenceValue(f, zd[i])
    if abs(Double(x[i]) - want) > 4 * eps * Swift.max(1, abs(want)) {
      return "\(T.self) \(isa) \(f) x[\(i)] = f(\(zd[i])) = \(x[i]), expected \(want)"
    }
    if f == .relu && zd[i] == 0 {
      if d[i] != 0 { return "\(T.self) relu slope at 0 is \(d[i]), expected 0" }
      continue
    }
    let h = 1e-6
    let fd = (referenceValue(f, zd[i] + h) - referenceValue(f, zd[i] - h)) / (2 * h)
    if abs(Double(d[i]) - fd) > 1e-6 + 16 * eps {
      return "\(T.self) \(isa) \(f) d[\(i)] = f'(\(zd[i])) = \(d[i]), finite difference \(fd)"
    }
  }
  return nil
}

@Suite("Elementwise kernels")
struct ElementwiseTests {
  @Test(arguments: Activation.allCases)
  func activationValuesAndSlopes(f: Activation) {
    for isa in testedISAs {
      for count in [1, 3, 7, 8, 9, 16, 17, 33, 100] {
        for inPlace in [false, true] {
          #expect(checkActivate(Float.self, f, count: count, inPlace: inPlace, isa: isa) == nil)
          #expect(checkActivate(Double.self, f, count: count, inPlace: inPlace, isa: isa) == nil)
        }
      }
    }
  }

  @Test func maxDifferenceMatchesScalarLoop() {
    func check<T: KernelScalar>(_: T.Type, isa: KernelISA) {
      for count in [1, 3, 7, 8, 9, 16, 17, 33, 100] {
        var rng = SeededGenerator(seed: UInt64(count + 40))
        var u = randomArray(T.self, count, &rng), v = randomArray(T.self, count, &rng)
        // The largest of each in the tail lanes too, and of either sign.
        u[count - 1] = -3
        v[count / 2] = 5
        var worst = 0.0, scale = 0.0
        for i in 0..<count {
          worst = Swift.max(worst, abs(Double(u[i] - v[i])))
          scale = Swift.max(scale, abs(Double(u[i])))
        }
        let got = maxDifference(u, v, count: count, kernels: isa.kernels)
        #expect(got.difference == worst && got.scale == scale, "\(T.self) \(isa) count \(count)")
        for at in Set([0, count / 2, count - 1]) {
          var w = v
          w[at] = .nan
          #expect(
            maxDifference(u, w, count: count, kernels: isa.kernels).difference.isNaN,
            "\(T.self) \(isa) NaN at \(at) of \(count)")
        }
      }
    }
    for isa in testedISAs {
      check(Float.self, isa: isa)
      check(Double.self, isa: isa)
    }
  }

  @Test func adjointStepMatchesScalarLoop() {
    func check<T: KernelScalar>(_: T.Type, isa: KernelISA) {
      for count in [1, 5, 8, 15, 16, 17, 64, 67] {
        var rng = SeededGenerator(seed: UInt64(count))
        let d = randomArray(T.self, count, &rng), v = randomArray(T.self, count, &rng)
        let g = randomArray(T.self, count, &rng)
        var s = [T](repeating: .nan, count: count)
        adjointStep(slope: d, v, plus: g, into: &s, count: count, kernels: isa.kernels)
        for i in 0..<count {
          let want = Double(d[i]) * (Double(v[i]) + Double(g[i]))
          #expect(abs(Double(s[i]) - want) <= 4 * Double(T.ulpOfOne), "s[\(i)] with g, count \(count)")
          #expect(s[i] == d[i] * (v[i] + g[i]), "\(T.self) \(isa): s[\(i)] with g, count \(count)")
        }
        adjointStep(slope: d, v, plus: nil, into: &s, count: count, kernels: isa.kernels)
        for i in 0..<count { #expect(s[i] == d[i] * v[i], "\(T.self) \(isa): s[\(i)] without g, count \(count)") }
        // In place: s aliases v, then g (the step back of BPTT).
        for aliased in [0, 1] {
          var inPlace = aliased == 0 ? v : g
          inPlace.withUnsafeMutableBufferPointer { sp in
            let other = aliased == 0 ? g : v
            other.withUnsafeBufferPointer { op in
              if aliased == 0 {
                adjointStep(
                  slope: d, UnsafePointer(sp.baseAddress!), plus: op.baseAddress!, into: sp.baseAddress!,
                  count: count, kernels: isa.kernels)
              } else {
                adjointStep(
                  slope: d, op.baseAddress!, plus: UnsafePointer(sp.baseAddress!), into: sp.baseAddress!,
                  count: count, kernels: isa.kernels)
              }
            }
          }
          for i in 0..<count {
            #expect(
              inPlace[i] == d[i] * (v[i] + g[i]), "\(T.self) \(isa): in place (\(aliased)) s[\(i)], count \(count)")
          }
        }
      }
    }
    for isa in testedISAs {
      check(Float.self, isa: isa)
      check(Double.self, isa: isa)
    }
  }

  /// The column sums of the bias gradient: the scalar loop's bits (one
  /// product and one sum per element, rows in order), for widths around
  /// the kernel's chunk of eight vectors, into a non-zero start.
  @Test func addScaledRowsMatchesScalarLoop() {
    func check<T: KernelScalar>(_: T.Type, isa: KernelISA) {
      for columns in [1, 3, 8, 17, 31, 64, 65, 129, 300] {
        for rows in [0, 1, 7, 40] {
          var rng = SeededGenerator(seed: UInt64(columns * 100 + rows))
          let a = randomArray(T.self, rows * columns, &rng)
          let start = randomArray(T.self, columns, &rng)
          let scale = T(0.37)
          var want = start
          for r in 0..<rows { for j in 0..<columns { want[j] += scale * a[r * columns + j] } }
          var got = start + [T(42)]  // one element past the end, untouched
          addScaledRows(a, rows: rows, columns: columns, scale: scale, into: &got, kernels: isa.kernels)
          #expect(Array(got[..<columns]) == want && got[columns] == 42, "\(T.self) \(isa) \(rows)×\(columns)")
        }
      }
    }
    for isa in testedISAs {
      check(Float.self, isa: isa)
      check(Double.self, isa: isa)
    }
  }

  /// A short row's copy: every count from 0 to past the memmove cutoff,
  /// from and to the start of an array and one element in, the source's
  /// bits exactly (a negative NaN and a negative zero too) and nothing
  /// written before or past the row.
  @Test func copyRowCopiesTheBitsAndNothingMore() {
    func check<T: KernelScalar>(_: T.Type) {
      let cutoff = 16 * T.Vector.scalarCount
      for count in Array(0...40) + [cutoff - 1, cutoff, cutoff + 1, 300] {
        for shift in 0..<2 {
          var rng = SeededGenerator(seed: UInt64(count * 10 + shift))
          var source = randomArray(T.self, count + shift, &rng)
          if count > 2 { (source[shift], source[shift + 1]) = (-T.zero, -T.nan) }
          var target = [T](repeating: 42, count: count + shift + 1)
          source.withUnsafeBufferPointer { s in
            target.withUnsafeMutableBufferPointer { t in
              copyRow(s.baseAddress! + shift, to: t.baseAddress! + shift, count: count)
            }
          }
          let copied = (0..<count).allSatisfy { i in
            source[shift + i].significandBitPattern == target[shift + i].significandBitPattern
              && source[shift + i].exponentBitPattern == target[shift + i].exponentBitPattern
              && source[shift + i].sign == target[shift + i].sign
          }
          #expect(copied, "\(T.self) count \(count) shift \(shift)")
          #expect(
            (0..<shift).allSatisfy { target[$0] == 42 } && target[shift + count] == 42, "\(T.self) count \(count)")
        }
      }
    }
    check(Float.self)
    check(Double.self)
  }

  /// The mse of a row against an independent formulation: Double sums with
  /// element k in sum k mod 8, combined ((0+4)+(2+6))+((1+5)+(3+7)), the
  /// same bits on every instruction set; the gradient x − y in T.
  @Test func meanSquaredMatchesEightRunningSums() {
    /// The row's value in plain Swift: Double sums, element k in sum k mod 8.
    func eightSums<T: KernelScalar>(_ x: ArraySlice<T>, _ y: ArraySlice<T>) -> Double {
      var sums = [Double](repeating: 0, count: 8)
      for (k, (xk, yk)) in zip(x, y).enumerated() {
        let d = Double(xk) - Double(yk)
        sums[k % 8] += 0.5 * d * d
      }
      return ((sums[0] + sums[4]) + (sums[2] + sums[6])) + ((sums[1] + sums[5]) + (sums[3] + sums[7]))
    }
    func check<T: KernelScalar>(_: T.Type, isa: KernelISA) {
      for count in [0, 1, 2, 5, 7, 8, 9, 16, 23, 64, 67] {
        var rng = SeededGenerator(seed: UInt64(count + 7))
        let x = randomArray(T.self, count, &rng), y = randomArray(T.self, count, &rng)
        let want = eightSums(x[...], y[...])
        var g = [T](repeating: .nan, count: count + 1)
        g[count] = 42
        let got = meanSquared(x, y, count: count, gradient: &g, kernels: isa.kernels)
        #expect(got == want, "\(T.self) \(isa) count \(count): \(got) against \(want)")
        #expect(meanSquared(x, y, count: count, kernels: isa.kernels) == want)
        #expect((0..<count).allSatisfy { g[$0] == x[$0] - y[$0] } && g[count] == 42, "\(T.self) \(isa) gradient")
        // Three rows at strides wider than the rows: each row's value by
        // the same formulation, added in order from 0.
        let (rows, ldx, ldy, ldg) = (3, count + 2, count + 5, count + 1)
        let xs = randomArray(T.self, rows * ldx, &rng), ys = randomArray(T.self, rows * ldy, &rng)
        var gs = [T](repeating: 42, count: rows * ldg)
        var total = 0.0
        for r in 0..<rows { total += eightSums(xs[(r * ldx)...].prefix(count), ys[(r * ldy)...].prefix(count)) }
        let block = meanSquared(
          rows: rows, count: count, xs, ldx: ldx, ys, ldy: ldy, gradient: &gs, ldg: ldg,
          kernels: isa.kernels)
        #expect(block == total, "\(T.self) \(isa) count \(count): rows")
        for r in 0..<rows {
          for k in 0..<ldg {
            #expect(gs[r * ldg + k] == (k < count ? xs[r * ldx + k] - ys[r * ldy + k] : 42), "rows' gradient")
          }
        }
      }
    }
    for isa in testedISAs {
      check(Float.self, isa: isa)
      check(Double.self, isa: isa)
    }
  }

  /// The fused passes against their two-pass forms, bit for bit: f(z)
  /// then max |f(z) − x|, and d ⊙ (v + g) then max |s − previous|; NaN
  /// reported wherever it lands.
  @Test(arguments: Activation.allCases)
  func fusedKernelsMatchTheirTwoPasses(_ f: Activation) {
    func check<T: KernelScalar>(_: T.Type, isa: KernelISA) {
      for count in [1, 3, 7, 8, 9, 16, 17, 33, 100] {
        var rng = SeededGenerator(seed: UInt64(count + 90))
        let z = randomArray(T.self, count, &rng), x = randomArray(T.self, count, &rng)
        var want = [T](repeating: 0, count: count), got = want
        activate(f, z: z, x: &want, slope: nil, count: count, kernels: isa.kernels)
        let wantChange = maxDifference(want, x, count: count, kernels: isa.kernels)
        let change = activateChange(f, z: z, previous: x, into: &got, count: count, kernels: isa.kernels)
        #expect(got == want && change == wantChange, "\(f) \(T.self) \(isa) count \(count)")
        // A pass that changes nothing: x = f(0) against z = 0, where the
        // padding of a partial vector must not count (f(0) = ½ for the
        // logistic function).
        let still = [T](repeating: T(referenceValue(f, 0)), count: count)
        let zeros = [T](repeating: 0, count: count)
        #expect(
          activateChange(f, z: zeros, previous: still, into: &got, count: count, kernels: isa.kernels)
            == (0, Double(still[0])), "\(f) \(T.self) \(isa) count \(count): an unchanged state")
        var nanZ = z
        nanZ[count - 1] = .nan
        // relu maps NaN to 0
        #expect(
          f == .relu
            || activateChange(f, z: nanZ, previous: x, into: &got, count: count, kernels: isa.kernels).difference.isNaN)

        let d = randomArray(T.self, count, &rng), v = randomArray(T.self, count, &rng)
        let g = randomArray(T.self, count, &rng)
        var s = [T](repeating: 0, count: count)
        adjointStep(slope: d, v, plus: g, into: &s, count: count, kernels: isa.kernels)
        let wantStep = maxDifference(s, x, count: count, kernels: isa.kernels)
        var inPlace = v
        let step = inPlace.withUnsafeMutableBufferPointer { vp in
          adjointChange(
            slope: d, UnsafePointer(vp.baseAddress!), plus: g, into: vp.baseAddress!, previous: x,
            count: count, kernels: isa.kernels)
        }
        #expect(inPlace == s && step == wantStep, "adjoint \(T.self) \(isa) count \(count)")
        var nanG = g
        nanG[count / 2] = .nan
        #expect(
          adjointChange(
            slope: d, v, plus: nanG, into: &s, previous: x, count: count,
            kernels: isa.kernels
          ).difference.isNaN)
      }
    }
    for isa in testedISAs {
      check(Float.self, isa: isa)
      check(Double.self, isa: isa)
    }
  }

  /// A trajectory step's activation with its drive against its two passes:
  /// C = b + u (b alone past the inputs) updated by `C += z` as the
  /// product's β = 1 does, then `activate`; bit for bit, with fewer inputs
  /// than units, partial vectors, and a bias of −0 past the inputs (where
  /// b + 0 would be +0).
  @Test(arguments: [Activation.tanh, .logistic, .linear, .relu])
  func activateDriveMatchesItsTwoPasses(_ f: Activation) {
    func check<T: KernelScalar>(_: T.Type, isa: KernelISA) {
      let (rows, stride) = (3, 50)
      for (count, inputs) in [(1, 1), (8, 8), (13, 5), (37, 37), (37, 20)] {
        var rng = SeededGenerator(seed: UInt64(count * 31 + inputs))
        let z = randomArray(T.self, rows * count, &rng), u = randomArray(T.self, rows * stride, &rng)
        var bias = randomArray(T.self, count, &rng)
        bias[count - 1] = -0.0
        var z2 = z
        z2[count - 1] = -0.0  // with the bias of −0 there: −0 + −0 is −0
        var want = [T](repeating: 0, count: rows * count), wantSlope = want
        var got = want, slope = want
        for r in 0..<rows {
          var c = (0..<count).map { j in j < inputs ? bias[j] + u[r * stride + j] : bias[j] }
          for j in 0..<count { c[j] = 1 * c[j] + z2[r * count + j] }
          var x = [T](repeating: 0, count: count), d = x
          activate(f, z: c, x: &x, slope: &d, count: count, kernels: isa.kernels)
          for j in 0..<count { (want[r * count + j], wantSlope[r * count + j]) = (x[j], d[j]) }
        }
        activateDrive(
          f, z: z2, bias: bias, inputs: u, inputStride: stride, inputCount: inputs, x: &got, slope: &slope,
          rows: rows, count: count, kernels: isa.kernels)
        let bits = { (a: [T]) in a.map { Double($0).bitPattern } }
        #expect(
          bits(got) == bits(want) && bits(slope) == bits(wantSlope),
          "\(f) \(T.self) \(isa) count \(count) inputs \(inputs)")
      }
    }
    for isa in testedISAs {
      check(Float.self, isa: isa)
      check(Double.self, isa: isa)
    }
  }

  /// The fused passes over a block of rows, updating in place (fx = x,
  /// s = previous, as the block Gauss–Seidel passes call them on a column
  /// block of each row): each row's values and maxima equal the two-pass
  /// form's on copies, bit for bit; the elements between the rows' blocks
  /// are left alone.
  @Test(arguments: [Activation.tanh, .logistic, .linear, .relu])
  func fusedPassesOverRowsInPlace(_ f: Activation) {
    func check<T: KernelScalar>(_: T.Type, isa: KernelISA) {
      let (rows, ld) = (5, 45)
      for count in [1, 7, 32, 37] {
        var rng = SeededGenerator(seed: UInt64(count + 190))
        let z = randomArray(T.self, rows * ld, &rng), x0 = randomArray(T.self, rows * ld, &rng)
        var x = x0
        var changes = [T](repeating: -1, count: 2 * rows)
        x.withUnsafeMutableBufferPointer { xp in
          activateChange(
            f, z: z, previous: xp.baseAddress!, into: xp.baseAddress!, ld: ld, rows: rows, count: count,
            changes: &changes, kernels: isa.kernels)
        }
        for r in 0..<rows {
          let row = Array(z[r * ld..<r * ld + count]), old = Array(x0[r * ld..<r * ld + count])
          var want = [T](repeating: 0, count: count)
          activate(f, z: row, x: &want, slope: nil, count: count, kernels: isa.kernels)
          let (worst, scale) = maxDifference(want, old, count: count, kernels: isa.kernels)
          #expect(Array(x[r * ld..<r * ld + count]) == want, "\(f) \(T.self) \(isa) count \(count) row \(r)")
          #expect(Array(x[r * ld + count..<(r + 1) * ld]) == Array(x0[r * ld + count..<(r + 1) * ld]))
          #expect((Double(changes[2 * r]), Double(changes[2 * r + 1])) == (worst, scale), "\(f) \(T.self) row \(r)")
        }
        // The adjoint: s = d ⊙ (v + g) written over `previous`.
        let d = randomArray(T.self, rows * ld, &rng), v = randomArray(T.self, rows * ld, &rng)
        let g = randomArray(T.self, rows * ld, &rng)
        var s = x0
        s.withUnsafeMutableBufferPointer { sp in
          adjointChange(
            slope: d, v, plus: g, into: sp.baseAddress!, previous: sp.baseAddress!, ld: ld, rows: rows,
            count: count, changes: &changes, kernels: isa.kernels)
        }
        for r in 0..<rows {
          let o = r * ld
          var want = [T](repeating: 0, count: count)
          adjointStep(
            slope: Array(d[o..<o + count]), Array(v[o..<o + count]), plus: Array(g[o..<o + count]),
            into: &want, count: count, kernels: isa.kernels)
          let (worst, scale) = maxDifference(want, Array(x0[o..<o + count]), count: count, kernels: isa.kernels)
          #expect(Array(s[o..<o + count]) == want, "adjoint \(T.self) \(isa) count \(count) row \(r)")
          #expect(Array(s[o + count..<o + ld]) == Array(x0[o + count..<o + ld]))
          #expect((Double(changes[2 * r]), Double(changes[2 * r + 1])) == (worst, scale), "adjoint \(T.self) row \(r)")
        }
      }
    }
    for isa in testedISAs {
      check(Float.self, isa: isa)
      check(Double.self, isa: isa)
    }
  }

  /// A pass that visits each row's units in blocks, with running maxima
  /// and an addend, against the two passes: the values are `activate`'s
  /// on z + a (`adjointStep`'s for the adjoint), z holds z + a afterwards,
  /// and the maxima `finishChanges` gives are `maxDifference`'s over the
  /// whole row: NaN when one block's change was NaN, +0 when every change
  /// was ±0.
  @Test(arguments: [Activation.tanh, .logistic, .linear, .relu])
  func runningMaximaOverBlocksMatchOneCall(_ f: Activation) {
    func check<T: KernelScalar>(_: T.Type, isa: KernelISA) {
      let (rows, ld) = (4, 83)
      let lanes = changeAccumulators(T.self)
      for (count, block) in [(83, 32), (83, 5), (64, 16), (7, 3)] {
        var rng = SeededGenerator(seed: UInt64(count * 7 + block))
        let z0 = randomArray(T.self, rows * ld, &rng), a = randomArray(T.self, rows * ld, &rng)
        var x0 = randomArray(T.self, rows * ld, &rng)
        x0[ld + count - 1] = .nan  // row 1: a NaN change in its last block only
        // Row 2 already at its fixed point: every change ±0.
        let settled = (0..<count).map { z0[2 * ld + $0] + a[2 * ld + $0] }
        var image = [T](repeating: 0, count: count)
        activate(f, z: settled, x: &image, slope: nil, count: count, kernels: isa.kernels)
        for i in 0..<count { x0[2 * ld + i] = image[i] }
        var (z, x) = (z0, x0)
        var running = [T](repeating: 0, count: rows * lanes), got = [T](repeating: -1, count: 2 * rows)
        z.withUnsafeMutableBufferPointer { zp in
          x.withUnsafeMutableBufferPointer { xp in
            var j0 = 0
            while j0 < count {
              let width = min(block, count - j0)
              activateChange(
                f, z: zp.baseAddress! + j0, adding: a.withUnsafeBufferPointer { $0.baseAddress! + j0 },
                previous: xp.baseAddress! + j0, into: xp.baseAddress! + j0, ld: ld, rows: rows,
                count: width, accumulators: &running, kernels: isa.kernels)
              j0 += width
            }
          }
        }
        finishChanges(running, rows: rows, into: &got, kernels: isa.kernels)
        var (wantZ, wantX) = (z0, x0)
        for i in 0..<rows * ld where i % ld < count { wantZ[i] = z0[i] + a[i] }
        var want = [Double](repeating: -1, count: 2 * rows)
        for r in 0..<rows {
          let o = r * ld
          var values = [T](repeating: 0, count: count)
          activate(f, z: Array(wantZ[o..<o + count]), x: &values, slope: nil, count: count, kernels: isa.kernels)
          (want[2 * r], want[2 * r + 1]) = maxDifference(
            values, Array(x0[o..<o + count]), count: count,
            kernels: isa.kernels)
          for i in 0..<count { wantX[o + i] = values[i] }
        }
        let label = "\(f) \(T.self) \(isa) count \(count) block \(block)"
        #expect(z == wantZ && x.elementsEqual(wantX) { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(label)")
        #expect(got[2].isNaN && want[2].isNaN, "\(label): a NaN change")
        #expect(got[4] == 0 && got[4].sign == .plus, "\(label): +0 at the fixed point")
        for k in 0..<2 * rows where k != 2 { #expect(Double(got[k]) == want[k], "\(label) [\(k)]") }
        // The adjoint over the same blocks.
        let d = randomArray(T.self, rows * ld, &rng), v = randomArray(T.self, rows * ld, &rng)
        let g = randomArray(T.self, rows * ld, &rng)
        var s = x0
        running = [T](repeating: 0, count: rows * lanes)
        s.withUnsafeMutableBufferPointer { sp in
          var j0 = 0
          while j0 < count {
            let width = min(block, count - j0)
            d.withUnsafeBufferPointer { dp in
              v.withUnsafeBufferPointer { vp in
                g.withUnsafeBufferPointer { gp in
                  adjointChange(
                    slope: dp.baseAddress! + j0, vp.baseAddress! + j0, plus: gp.baseAddress! + j0,
                    into: sp.baseAddress! + j0, previous: sp.baseAddress! + j0, ld: ld, rows: rows,
                    count: width, accumulators: &running, kernels: isa.kernels)
                }
              }
            }
            j0 += width
          }
        }
        finishChanges(running, rows: rows, into: &got, kernels: isa.kernels)
        var wantS = x0
        for r in 0..<rows {
          let o = r * ld
          var values = [T](repeating: 0, count: count)
          adjointStep(
            slope: Array(d[o..<o + count]), Array(v[o..<o + count]), plus: Array(g[o..<o + count]),
            into: &values, count: count, kernels: isa.kernels)
          (want[2 * r], want[2 * r + 1]) = maxDifference(
            values, Array(x0[o..<o + count]), count: count,
            kernels: isa.kernels)
          for i in 0..<count { wantS[o + i] = values[i] }
        }
        #expect(s.elementsEqual(wantS) { $0 == $1 || ($0.isNaN && $1.isNaN) }, "adjoint \(label)")
        for k in 0..<2 * rows {
          #expect(Double(got[k]) == want[k] || (got[k].isNaN && want[k].isNaN), "adjoint \(label) [\(k)]")
        }
      }
    }
    for isa in testedISAs {
      check(Float.self, isa: isa)
      check(Double.self, isa: isa)
    }
  }
}
