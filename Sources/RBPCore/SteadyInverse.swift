// Input as a function of output: the drive that makes a given state a
// steady state, a = f⁻¹(x) − W x, unique even where x is not a unique
// function of a; and its Jacobian ∂a/∂x = D⁻¹ − W with D = diag f'(f⁻¹(x)).
//
// Legend: P = patterns, N = units; states and drives are P×N.

import RBPKernels

extension SteadyNetwork {
  /// Drives `a_p = f⁻¹(x_p) − W x_p` for each row of `states` (P×N).
  ///
  /// - Throws: `RBPError.noInverse` for relu, `RBPError.outsideDomain`
  ///   naming the pattern, unit and value of the first state outside the
  ///   inverse's domain.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func drive(forStates x: Matrix<T>, workspace: KernelWorkspace<T> = KernelWorkspace()) throws -> Matrix<T> {
    let (count, n) = (x.rows, shape.units)
    guard x.cols == n else { throw RBPError.invalid("states have \(x.cols) columns, the network has \(n) units") }
    var a = try inverseActivations(x)
    // A = f⁻¹(X) − X Wᵀ
    let w = parameters.W
    x.withPointer { xp in
      w.withPointer { wp in
        a.withMutablePointer { ap in
          gemm(
            transB: true, m: count, n: n, k: n, alpha: -1, a: xp, lda: n, b: wp, ldb: n,
            beta: 1, c: ap, ldc: n, threads: threads, workspace: workspace)
        }
      }
    }
    return a
  }

  /// ∂a/∂x = D⁻¹ − W at state `x` (N), with D = diag f'(f⁻¹(x)), N×N.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func driveJacobian(atState x: [T]) throws -> Matrix<T> {
    let n = shape.units
    guard x.count == n else { throw RBPError.invalid("state has \(x.count) units, the network has \(n)") }
    _ = try inverseActivations(Matrix(rows: 1, cols: n, elements: x))
    var j = parameters.W
    for r in 0..<n {
      for c in 0..<n { j[r, c] = -j[r, c] }
      j[r, r] += 1 / activation.slope(atState: x[r])
    }
    return j
  }

  /// diag D⁻¹ = 1/f'(f⁻¹(x_p)) for each row of `states` (P×N): with W, all
  /// of ∂a/∂x = D⁻¹ − W without N×N per pattern. The chain rule in
  /// reverse, ∂R/∂x = (D⁻¹ − Wᵀ) ∂R/∂a, needs nothing else.
  ///
  /// - Throws: as `drive(forStates:)`, for a state outside f⁻¹'s domain.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func inverseSlopes(forStates x: Matrix<T>) throws -> Matrix<T> {
    guard x.cols == shape.units else {
      throw RBPError.invalid("states have \(x.cols) columns, the network has \(shape.units) units")
    }
    _ = try inverseActivations(x)
    var k = x
    for i in k.elements.indices { k.elements[i] = 1 / activation.slope(atState: x.elements[i]) }
    return k
  }

  /// The forward sensitivity ∂x/∂a = (D⁻¹ − W)⁻¹ at state `x` (N), N×N.
  ///
  /// - Throws: `RBPError.invalid` when D⁻¹ − W is singular there.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func stateSensitivity(atState x: [T]) throws -> Matrix<T> {
    let j = try driveJacobian(atState: x)
    return Matrix(rows: shape.units, cols: shape.units, elements: try invertSquare(j.elements, n: shape.units))
  }

  /// f⁻¹ elementwise, checking the domain.
  func inverseActivations(_ x: Matrix<T>) throws -> Matrix<T> {
    guard activation != .relu else { throw RBPError.noInverse(activation: activation) }
    var out = x
    for p in 0..<x.rows {
      for u in 0..<x.cols {
        let v = x[p, u]
        guard activation.inverseAccepts(v) else {
          throw RBPError.outsideDomain(activation: activation, pattern: p, unit: u, value: Double(v))
        }
        out[p, u] = activation.inverse(v)
      }
    }
    return out
  }
}
