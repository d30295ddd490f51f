// The fused elementwise kernels against independent scalar formulas: values
// against the C library's functions, slopes against central finite
// differences of f in Double, the adjoint step against a scalar loop; over
// lengths around the vector width, in both precisions.

import Foundation
import Testing
import RBPKernels

func referenceValue(_ f: Activation, _ z: Double) -> Double {
  switch f {
  case .tanh: return Foundation.tanh(z)
  case .logistic: return 1 / (1 + Foundation.exp(-z))
  case .linear: return z
  case .relu: return Swift.max(0, z)
  }
}

func checkActivate<T: KernelScalar>(_: T.Type, _ f: Activation, count: Int, inPlace: Bool,
                                    isa: KernelISA) -> String? {
  var rng = SeededGenerator(seed: UInt64(count * 7 + 1))
  var z = randomArray(T.self, count, &rng).map { $0 * 4 }
  if count > 2 { z[0] = 0; z[1] = -0.0 }
  let zd = z.map(Double.init)
  var x = [T](repeating: .nan, count: count)
  var d = [T](repeating: .nan, count: count)
  if inPlace {
    x = z
    x.withUnsafeMutableBufferPointer { xp in
      activate(f, z: UnsafePointer(xp.baseAddress!), x: xp.baseAddress!, slope: &d, count: count,
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
          #expect(maxDifference(u, w, count: count, kernels: isa.kernels).difference.isNaN,
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
    func check<T: KernelScalar>(_: T.Type) {
      for count in [1, 5, 8, 15, 16, 17, 64, 67] {
        var rng = SeededGenerator(seed: UInt64(count))
        let d = randomArray(T.self, count, &rng), v = randomArray(T.self, count, &rng)
        let g = randomArray(T.self, count, &rng)
        var s = [T](repeating: .nan, count: count)
        adjointStep(slope: d, v, plus: g, into: &s, count: count)
        for i in 0..<count {
          let want = Double(d[i]) * (Double(v[i]) + Double(g[i]))
          #expect(abs(Double(s[i]) - want) <= 4 * Double(T.ulpOfOne), "s[\(i)] with g, count \(count)")
        }
        adjointStep(slope: d, v, plus: nil, into: &s, count: count)
        for i in 0..<count { #expect(s[i] == d[i] * v[i], "s[\(i)] without g, count \(count)") }
        // In place: s aliases v.
        var vs = v
        vs.withUnsafeMutableBufferPointer { vp in
          adjointStep(slope: d, UnsafePointer(vp.baseAddress!), plus: g, into: vp.baseAddress!, count: count)
        }
        for i in 0..<count {
          let want = Double(d[i]) * (Double(v[i]) + Double(g[i]))
          #expect(abs(Double(vs[i]) - want) <= 4 * Double(T.ulpOfOne), "in place s[\(i)], count \(count)")
        }
      }
    }
    check(Float.self)
    check(Double.self)
  }
}
