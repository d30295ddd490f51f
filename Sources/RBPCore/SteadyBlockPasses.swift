// Block Gauss–Seidel passes, the first stage of the `auto` solvers on a
// network whose map is a contraction. A pass goes through the units in
// blocks of `gaussSeidelBlock`; each block's product reads the newest
// values of the blocks before it in the same pass:
//
//   forward   x_J ← f(a_J + X·(Wᵀ)_{:,J})          J = 0, B, 2B, …
//   adjoint   s_J ← d_J ⊙ (S·W_{:,J} + g_J)
//
// The products of a pass add up to one GEMM over all the units, as in
// plain relaxation, but the passes needed to a tolerance drop: on W3's
// problem (N = 256, ‖W‖₂ ≈ 0.5; `rbp bench workloads --only W3`) 9 forward
// and 8 adjoint passes instead of relaxation's 10 and 10, each solve's
// first pass from zero without a product.
//
// Which fixed point. The network's state is the one relaxation reaches
// (SPEC §1.1). When ‖W‖₂ · max f' < 1 the map x ↦ f(W x + a) is a
// contraction, its fixed point is unique, and any pass order that
// converges reaches that one point; so the forward passes run only under
// that certificate (‖W‖₂ from `spectralNorm`, with its safety margin).
// The adjoint's linear system has one solution whenever the state is
// stable, and is solved in block passes under the same certificate. Rows the
// passes leave unconverged go on to the other stages of `auto`.
//
// A pass's change is the largest change of any of its blocks (each row's
// running maxima stay in vectors across the blocks, reduced once per
// pass), and a row retires once that change is within tolerance, as in
// plain relaxation;
// the first pass from a zero start is a plain one: its product is known
// without a GEMM, +0 in every column, because under the certificate every
// weight is finite (`spectralNorm` is ∞ when one is not; see
// `productOfZeros` for the general case).
//
// Legend: P = patterns (rows), N = units, B = `gaussSeidelBlock`.

import RBPKernels

/// Units per block of a Gauss–Seidel pass. A multiple of every
/// micro-kernel's panel width (8 to 32 columns), so that a block's product
/// reads whole panels of the packed weights; the same on every instruction
/// set, so that the passes and their results do not depend on it.
let gaussSeidelBlock = 32

extension SteadyNetwork {
  /// Forward block Gauss–Seidel passes from `start`, each row retiring
  /// when its pass's change is within tolerance; the slopes as
  /// `relaxByPasses` keeps them.
  func relaxByBlockPasses(
    drives: Matrix<T>, start: Matrix<T>, options: SolverOptions, workspace: KernelWorkspace<T>
  ) -> RelaxationResult {
    let (count, n) = (start.rows, shape.units)
    var x = start.elements
    var a = drives.elements
    var rows = ActiveRows(patterns: count)
    var diagnostics = SolveDiagnostics(count: count)
    var z: [T] = uninitializedArray(count * n)  // every pass writes what it reads
    var image: [T] = uninitializedArray(n)
    let lanes = changeAccumulators(T.self)
    var running: [T] = uninitializedArray(count * lanes)  // each row's maxima over a pass's blocks
    var maxima: [T] = uninitializedArray(2 * count)  // row r's change and scale at 2r, 2r + 1
    var slopes = Matrix<T>(rows: count, cols: n, elements: uninitializedArray(count * n))  // each row at its retirement
    let kernels = workspace.kernels
    let packedWT = parameters.withWeights { packedWeights($0, units: n, transposed: true, workspace: workspace) }
    let zeroStart = isAllZero(start)
    while rows.beginPass(limit: options.maxIterations) {
      let (active, pass) = (rows.count, rows.pass)
      let plain = pass == 1 && zeroStart
      z.withUnsafeMutableBufferPointer { zb in
        x.withUnsafeMutableBufferPointer { xb in
          a.withUnsafeBufferPointer { ab in
            running.withUnsafeMutableBufferPointer { rb in
              let (zp, xp, ap, rp) = (zb.baseAddress!, xb.baseAddress!, ab.baseAddress!, rb.baseAddress!)
              rp.update(repeating: 0, count: active &* lanes)
              var j0 = 0
              while j0 < n {
                let width = plain ? n : min(gaussSeidelBlock, n - j0)
                // Z_J = X·(Wᵀ)_{:,J}, X with the blocks before J updated.
                if plain {
                  zp.update(repeating: 0, count: active &* n)  // 0·Wᵀ, W finite (see above)
                } else {
                  parameters.withWeights { w in
                    gemm(
                      transB: true, m: active, n: width, k: n, a: xp, lda: n, b: w + j0 &* n, ldb: n,
                      packedB: packedWT + j0 &* n, c: zp + j0, ldc: n, threads: threads, workspace: workspace)
                  }
                }
                // Z_J += A_J and X_J = f(Z_J) in place, with each row's change.
                activateChange(
                  activation, z: zp + j0, adding: ap + j0, previous: xp + j0, into: xp + j0, ld: n,
                  rows: active, count: width, accumulators: rp, kernels: kernels)
                j0 += width
              }
            }
          }
        }
      }
      passMaxima(running, rows: active, into: &maxima, kernels: kernels)
      rows.visitFromLast { r, p in
        let (change, scale) = (Double(maxima[2 &* r]), Double(maxima[2 &* r &+ 1]))
        guard diagnostics.recordPass(p, pass: pass, change: change, scale: scale, options: options) != nil
        else { return false }
        z.withUnsafeBufferPointer { zp in
          image.withUnsafeMutableBufferPointer { ip in
            slopes.withMutablePointer { dp in
              activate(
                activation, z: zp.baseAddress! + r * n, x: ip.baseAddress!, slope: dp + p * n, count: n,
                kernels: kernels)
            }
          }
        }
        return true
      } exchange: { r, last in
        swapRows(&x, r, last, width: n)
        swapRows(&a, r, last, width: n)
        swapRows(&z, r, last, width: n)
      }
    }
    let states = rows.unpermuted(x, width: n)
    let allConverged = diagnostics.status.allSatisfy { $0 == .converged }
    return RelaxationResult(states: states, diagnostics: diagnostics, slopes: allConverged ? slopes : nil)
  }

  /// Adjoint block Gauss–Seidel passes from s = 0, each row retiring with
  /// its newest iterate once its pass's change is within tolerance.
  func adjointByBlockPasses(
    slopes: Matrix<T>, lossGradient: Matrix<T>, options: SolverOptions, workspace: KernelWorkspace<T>
  ) -> (Matrix<T>, SolveDiagnostics) {
    let (count, n) = (slopes.rows, shape.units)
    var s = [T](repeating: 0, count: count * n)
    var d = slopes.elements, g = lossGradient.elements
    var v: [T] = uninitializedArray(count * n)  // each block's product before its use
    var rows = ActiveRows(patterns: count)
    var diagnostics = SolveDiagnostics(count: count)
    let lanes = changeAccumulators(T.self)
    var running: [T] = uninitializedArray(count * lanes)  // each row's maxima over a pass's blocks
    var maxima: [T] = uninitializedArray(2 * count)  // row r's change and scale at 2r, 2r + 1
    let kernels = workspace.kernels
    let packedW = parameters.withWeights { packedWeights($0, units: n, transposed: false, workspace: workspace) }
    while rows.beginPass(limit: options.maxIterations) {
      let (active, pass) = (rows.count, rows.pass)
      let plain = pass == 1
      s.withUnsafeMutableBufferPointer { sb in
        v.withUnsafeMutableBufferPointer { vb in
          d.withUnsafeBufferPointer { db in
            g.withUnsafeBufferPointer { gb in
              running.withUnsafeMutableBufferPointer { rb in
                let (sp, vp, dp, gp, rp) = (
                  sb.baseAddress!, vb.baseAddress!, db.baseAddress!, gb.baseAddress!, rb.baseAddress!
                )
                rp.update(repeating: 0, count: active &* lanes)
                var j0 = 0
                while j0 < n {
                  let width = plain ? n : min(gaussSeidelBlock, n - j0)
                  // V_J = S·W_{:,J}, S with the blocks before J updated.
                  if plain {
                    vp.update(repeating: 0, count: active &* n)  // 0·W, W finite (see above)
                  } else {
                    parameters.withWeights { w in
                      gemm(
                        m: active, n: width, k: n, a: sp, lda: n, b: w + j0, ldb: n, packedB: packedW + j0 &* n,
                        c: vp + j0, ldc: n, threads: threads, workspace: workspace)
                    }
                  }
                  // S_J = d_J ⊙ (V_J + g_J) in place, and each row's change.
                  adjointChange(
                    slope: dp + j0, UnsafePointer(vp + j0), plus: gp + j0, into: sp + j0, previous: sp + j0,
                    ld: n, rows: active, count: width, accumulators: rp, kernels: kernels)
                  j0 += width
                }
              }
            }
          }
        }
      }
      passMaxima(running, rows: active, into: &maxima, kernels: kernels)
      rows.visitFromLast { r, p in
        let (change, scale) = (Double(maxima[2 &* r]), Double(maxima[2 &* r &+ 1]))
        return diagnostics.recordPass(p, pass: pass, change: change, scale: scale, options: options) != nil
      } exchange: { r, last in
        swapRows(&s, r, last, width: n)
        swapRows(&d, r, last, width: n)
        swapRows(&g, r, last, width: n)
      }
    }
    return (rows.unpermuted(s, width: n), diagnostics)
  }
}

/// Each row's change and scale over a pass (at `maxima[2r]`,
/// `maxima[2r+1]`), from its running maxima. Rows that retire only move
/// rows already read, so the maxima need no reordering.
@inline(__always)
func passMaxima<T: KernelScalar>(_ running: [T], rows: Int, into maxima: inout [T], kernels: KernelTable) {
  running.withUnsafeBufferPointer { rb in
    maxima.withUnsafeMutableBufferPointer { mb in
      finishChanges(rb.baseAddress!, rows: rows, into: mb.baseAddress!, kernels: kernels)
    }
  }
}
