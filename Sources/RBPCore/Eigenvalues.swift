// Eigenvalues of small dense real matrices, for the stability rule of
// steady states (SPEC §1.1): a fixed point is an attractor of the network's
// dynamics dx/dt = −x + f(W x + a) exactly when every eigenvalue of D W has
// real part < 1, so the rule needs the rightmost eigenvalue of D W, which
// a power iteration (the largest modulus) does not give.
//
//   hessenberg   reduction to upper Hessenberg form by stabilised
//                elimination (row pivoting), the similarity of EISPACK's
//                elmhes, (10/3) n³ flops
//   francisQR    the implicit double-shift QR of EISPACK's hqr on the
//                Hessenberg form: every eigenvalue, real or a complex pair,
//                about 10 n³ flops, no eigenvectors
//
// Both run in Double on an n×n row-major copy. For the symmetric case
// (`--symmetric`) the spectrum is real and comes from a Lanczos
// tridiagonalisation instead (SteadyStability.swift).

/// One eigenvalue, re + i·im.
public struct Eigenvalue: Equatable, Sendable {
  /// The real part.
  public var re: Double
  /// The imaginary part.
  public var im: Double
}

/// Every eigenvalue of the real n×n matrix `a` (row-major), or nil when
/// the QR iteration does not deflate within 60 iterations for some
/// eigenvalue, or the matrix holds a non-finite value.
public func eigenvalues(_ a: [Double], n: Int) -> [Eigenvalue]? {
  precondition(a.count == n * n, "eigenvalues: \(a.count) elements for a \(n)×\(n) matrix")
  guard a.allSatisfy({ $0.isFinite }) else { return nil }
  if n == 0 { return [] }
  var h = a
  reduceToHessenberg(&h, n: n)
  return francisQR(&h, n: n)
}

/// The largest real part of the eigenvalues of `a` (the spectral abscissa
/// α), +∞ when they could not be computed.
public func spectralAbscissa(_ a: [Double], n: Int) -> Double {
  guard let values = eigenvalues(a, n: n) else { return .infinity }
  return values.map(\.re).max() ?? -.infinity
}

/// In place: a similar upper Hessenberg matrix (elements below the first
/// subdiagonal set to 0), by Gaussian elimination with row pivoting, each
/// row operation matched by the inverse column operation.
func reduceToHessenberg(_ a: inout [Double], n: Int) {
  guard n > 2 else { return }
  a.withUnsafeMutableBufferPointer { buffer in
    let h = buffer.baseAddress!
    for m in 1..<(n - 1) {
      // Pivot: the largest |a[j][m−1]| for j ≥ m.
      var x = 0.0, pivot = m
      for j in m..<n where abs(h[j * n + m - 1]) > abs(x) {
        x = h[j * n + m - 1]
        pivot = j
      }
      if pivot != m {
        for j in (m - 1)..<n { h.swapAt(pivot * n + j, m * n + j) }
        for j in 0..<n { h.swapAt(j * n + pivot, j * n + m) }
      }
      guard x != 0 else { continue }
      for i in (m + 1)..<n {
        var y = h[i * n + m - 1]
        guard y != 0 else { continue }
        y /= x
        h[i * n + m - 1] = 0
        for j in m..<n { h[i * n + j] -= y * h[m * n + j] }
        for j in 0..<n { h[j * n + m] += y * h[j * n + i] }
      }
    }
  }
}

private extension UnsafeMutablePointer where Pointee == Double {
  func swapAt(_ i: Int, _ j: Int) {
    let t = self[i]
    self[i] = self[j]
    self[j] = t
  }
}

/// The eigenvalues of the upper Hessenberg matrix `a` (destroyed), by the
/// Francis double-shift QR iteration with deflation and exceptional shifts
/// (EISPACK hqr); nil after 60 iterations without a deflation.
func francisQR(_ a: inout [Double], n: Int) -> [Eigenvalue]? {
  var values = [Eigenvalue](repeating: Eigenvalue(re: 0, im: 0), count: n)
  let ok = a.withUnsafeMutableBufferPointer { buffer -> Bool in
    let base = buffer.baseAddress!
    // 1-based element (i, j), as in the published algorithm.
    @inline(__always) func at(_ i: Int, _ j: Int) -> UnsafeMutablePointer<Double> { base + (i - 1) * n + (j - 1) }
    var norm = 0.0
    for i in 1...n { for j in max(i - 1, 1)...n { norm += abs(at(i, j).pointee) } }
    var nn = n
    var shift = 0.0
    while nn >= 1 {
      var its = 0
      var l = 0
      repeat {
        // Look for a single small subdiagonal element.
        l = nn
        while l >= 2 {
          var s = abs(at(l - 1, l - 1).pointee) + abs(at(l, l).pointee)
          if s == 0 { s = norm }
          if abs(at(l, l - 1).pointee) + s == s {
            at(l, l - 1).pointee = 0
            break
          }
          l -= 1
        }
        var x = at(nn, nn).pointee
        if l == nn {
          // One root found.
          values[nn - 1] = Eigenvalue(re: x + shift, im: 0)
          nn -= 1
        } else {
          var y = at(nn - 1, nn - 1).pointee
          var w = at(nn, nn - 1).pointee * at(nn - 1, nn).pointee
          if l == nn - 1 {
            // Two roots found.
            let p = 0.5 * (y - x)
            let q = p * p + w
            var z = abs(q).squareRoot()
            x += shift
            if q >= 0 {
              z = p + (p >= 0 ? z : -z)
              values[nn - 2] = Eigenvalue(re: x + z, im: 0)
              values[nn - 1] = Eigenvalue(re: z != 0 ? x - w / z : x + z, im: 0)
            } else {
              values[nn - 2] = Eigenvalue(re: x + p, im: -z)
              values[nn - 1] = Eigenvalue(re: x + p, im: z)
            }
            nn -= 2
          } else {
            if its == 60 { return false }
            if its == 10 || its == 20 || its == 40 {
              // Exceptional shift.
              shift += x
              for i in 1...nn { at(i, i).pointee -= x }
              let s = abs(at(nn, nn - 1).pointee) + abs(at(nn - 1, nn - 2).pointee)
              x = 0.75 * s
              y = x
              w = -0.4375 * s * s
            }
            its += 1
            // Two consecutive small subdiagonal elements.
            var m = nn - 2
            var p = 0.0, q = 0.0, r = 0.0, z = 0.0
            while m >= l {
              z = at(m, m).pointee
              r = x - z
              var s = y - z
              p = (r * s - w) / at(m + 1, m).pointee + at(m, m + 1).pointee
              q = at(m + 1, m + 1).pointee - z - r - s
              r = at(m + 2, m + 1).pointee
              s = abs(p) + abs(q) + abs(r)
              p /= s
              q /= s
              r /= s
              if m == l { break }
              let u = abs(at(m, m - 1).pointee) * (abs(q) + abs(r))
              let v = abs(p) * (abs(at(m - 1, m - 1).pointee) + abs(z) + abs(at(m + 1, m + 1).pointee))
              if u + v == v { break }
              m -= 1
            }
            if m + 2 <= nn {
              for i in (m + 2)...nn {
                at(i, i - 2).pointee = 0
                if i != m + 2 { at(i, i - 3).pointee = 0 }
              }
            }
            // The double QR step on rows l…nn and columns m…nn.
            var k = m
            while k <= nn - 1 {
              if k != m {
                p = at(k, k - 1).pointee
                q = at(k + 1, k - 1).pointee
                r = k != nn - 1 ? at(k + 2, k - 1).pointee : 0
                x = abs(p) + abs(q) + abs(r)
                if x != 0 {
                  p /= x
                  q /= x
                  r /= x
                }
              }
              let root = (p * p + q * q + r * r).squareRoot()
              let s = p >= 0 ? root : -root
              if s != 0 {
                if k == m {
                  if l != m { at(k, k - 1).pointee = -at(k, k - 1).pointee }
                } else {
                  at(k, k - 1).pointee = -s * x
                }
                p += s
                x = p / s
                y = q / s
                z = r / s
                q /= p
                r /= p
                for j in k...nn {
                  p = at(k, j).pointee + q * at(k + 1, j).pointee
                  if k != nn - 1 {
                    p += r * at(k + 2, j).pointee
                    at(k + 2, j).pointee -= p * z
                  }
                  at(k + 1, j).pointee -= p * y
                  at(k, j).pointee -= p * x
                }
                let last = min(nn, k + 3)
                for i in l...last {
                  p = x * at(i, k).pointee + y * at(i, k + 1).pointee
                  if k != nn - 1 {
                    p += z * at(i, k + 2).pointee
                    at(i, k + 2).pointee -= p * r
                  }
                  at(i, k + 1).pointee -= p * q
                  at(i, k).pointee -= p
                }
              }
              k += 1
            }
          }
        }
      } while l < nn - 1
    }
    return true
  }
  return ok ? values : nil
}
