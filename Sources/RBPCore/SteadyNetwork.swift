// A network that settles to a steady state, x = f(W x + a) with drive
// a = b + U u, and the batch of patterns it is trained on. States, drives
// and adjoints are held one row per pattern (P×N), as in the HDF5 files;
// the matrix products run on the transposed weights so that every hot GEMM
// is untransposed.
//
// Legend: P = patterns in the batch, N = units, I = inputs, O = outputs.

import RBPKernels

/// The model of SPEC §1.1: parameters, activation and loss.
public struct SteadyNetwork<T: KernelScalar>: Equatable, Sendable {
  /// W, b and U.
  public var parameters: Parameters<T>
  /// The units' f.
  public var activation: Activation
  /// The loss on the output units.
  public var loss: Loss
  /// W = Wᵀ with a zero diagonal (Hopfield; `--symmetric`): the stability
  /// test then uses the real spectrum of D^½ W D^½. Training keeps W so.
  public var symmetric = false
  /// Workers inside each matrix product of a solve, a gradient or an
  /// evaluation (1: the caller's thread). Products split their output
  /// between workers, so the results are the same bits for any count; it
  /// pays for wide networks, where one product is large.
  public var threads = 1

  /// A network of these parameters; throws for a layout with x0, or for bce without logistic units.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init(parameters: Parameters<T>, activation: Activation, loss: Loss) throws {
    guard !parameters.layout.hasInitialState else {
      throw RBPError.invalid("a steady-state network has no x0 parameter")
    }
    if loss == .bce && activation != .logistic {
      throw RBPError.invalid("loss bce needs logistic outputs, not \(activation)")
    }
    self.parameters = parameters
    self.activation = activation
    self.loss = loss
  }

  /// N, I, O and the coupling.
  public var shape: NetworkShape { parameters.shape }

  /// A network with random parameters (see `Parameters.random`); gain nil:
  /// `Parameters.defaultGain`, a contractive start.
  public static func random<G: RandomNumberGenerator>(
    shape: NetworkShape, activation: Activation, loss: Loss, gain: Double? = nil, using rng: inout G
  ) throws -> SteadyNetwork {
    let layout = ParameterLayout(shape: shape, hasInitialState: false)
    let gain = gain ?? Parameters<T>.defaultGain(steady: true, activation: activation)
    return try SteadyNetwork(
      parameters: .random(layout: layout, gain: gain, using: &rng),
      activation: activation, loss: loss)
  }

  /// Drives of a batch, P×N: row p is `b + U u_p` (dense) or `b` plus
  /// `u_p` on its first I units (identity).
  ///
  /// - Parameters:
  ///   - inputs: P×I.
  ///   - workspace: packing buffers and the kernels.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func drives(_ inputs: Matrix<T>, workspace: KernelWorkspace<T>) -> Matrix<T> {
    let (n, i) = (shape.units, shape.inputs)
    precondition(inputs.cols == i, "drives: inputs have \(inputs.cols) columns, network has \(i) inputs")
    let p = inputs.rows
    var a = Matrix<T>(rows: p, cols: n, elements: uninitializedArray(p * n))
    a.withMutablePointer { ap in
      parameters.values.withUnsafeBufferPointer { values in
        let b = values.baseAddress! + parameters.layout.b.lowerBound
        for r in 0..<p { (ap + r &* n).update(from: b, count: n) }
      }
    }
    guard i > 0 else { return a }
    switch shape.coupling {
    case .identity:
      inputs.withPointer { x in
        a.withMutablePointer { ap in
          for r in 0..<p {
            let (row, u) = (ap + r &* n, x + r &* i)
            for k in 0..<i { row[k] += u[k] }
          }
        }
      }
    case .dense:
      // A += Uin · Uᵀ   (P×I · I×N)
      let u = parameters.U
      inputs.withPointer { x in
        u.withPointer { up in
          a.withMutablePointer { ap in
            gemm(
              transB: true, m: p, n: n, k: i, a: x, lda: i, b: up, ldb: i,
              beta: 1, c: ap, ldc: n, threads: threads, workspace: workspace)
          }
        }
      }
    }
    return a
  }
}

/// Patterns for a steady-state network: inputs, targets for the output
/// units, an optional mask (nonzero counts) and optional initial states.
public struct SteadyBatch<T: KernelScalar>: Equatable, Sendable {
  /// P×I
  public var inputs: Matrix<T>
  /// P×O
  public var targets: Matrix<T>
  /// P×O or nil (all ones)
  public var mask: Matrix<T>?
  /// P×N: the state each pattern relaxes from, or nil (zeros).
  public var initial: Matrix<T>?

  /// Inputs P×I, targets P×O (the last O units), an optional mask P×O
  /// and initial states P×N; throws when their rows differ.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init(inputs: Matrix<T>, targets: Matrix<T>, mask: Matrix<T>? = nil, initial: Matrix<T>? = nil) throws {
    guard inputs.rows == targets.rows else {
      throw RBPError.invalid("inputs have \(inputs.rows) patterns but targets have \(targets.rows)")
    }
    if let mask, mask.rows != targets.rows || mask.cols != targets.cols {
      throw RBPError.invalid("mask is \(mask.rows)×\(mask.cols) but targets are \(targets.rows)×\(targets.cols)")
    }
    if let initial, initial.rows != inputs.rows {
      throw RBPError.invalid("initial states have \(initial.rows) rows for \(inputs.rows) patterns")
    }
    self.inputs = inputs
    self.targets = targets
    self.mask = mask
    self.initial = initial
  }

  /// Patterns without targets, for an objective that needs none (a reward
  /// R(x), a cotangent): targets P×0. The built-in loss refuses such a
  /// batch.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init(inputs: Matrix<T>, initial: Matrix<T>? = nil) throws {
    try self.init(inputs: inputs, targets: Matrix(rows: inputs.rows, cols: 0), initial: initial)
  }

  /// P, the number of patterns.
  public var count: Int { inputs.rows }

  /// The patterns at `indices`, in that order (the batch itself, not a
  /// copy, when they are all of them in order).
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func subset(_ indices: [Int]) -> SteadyBatch {
    if isEveryIndexInOrder(indices, count: count) { return self }
    var picked = self
    picked.inputs = inputs.rows(indices)
    picked.targets = targets.rows(indices)
    picked.mask = mask?.rows(indices)
    picked.initial = initial?.rows(indices)
    return picked
  }

  /// Checks the batch fits `shape`; throws naming the mismatch.
  /// `needsTargets` false: an objective other than the loss is given, and
  /// a batch without targets (`init(inputs:initial:)`) fits too.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func check(against shape: NetworkShape, needsTargets: Bool = true) throws {
    guard inputs.cols == shape.inputs else {
      throw RBPError.invalid("inputs have \(inputs.cols) columns but the network has \(shape.inputs) inputs")
    }
    if targets.cols == 0 && shape.outputs > 0 {
      guard !needsTargets else {
        throw RBPError.invalid(
          "the batch has no targets, which the built-in loss needs; give an objective "
            + "(a reward or a cotangent) or targets")
      }
    } else if targets.cols != shape.outputs {
      throw RBPError.invalid("targets have \(targets.cols) columns but the network has \(shape.outputs) outputs")
    }
    if let initial, initial.cols != shape.units {
      throw RBPError.invalid("initial states have \(initial.cols) columns but the network has \(shape.units) units")
    }
  }
}
