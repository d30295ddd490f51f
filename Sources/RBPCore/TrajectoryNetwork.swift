// A network run through time, x(t) = (1−α) x(t−1) + α f(W x(t−1) + a(t))
// with a(t) = b + U u(t), and the batch of sequences it is trained on.
// Inside, every per-step block is time-major: the P×N states of step t are
// contiguous, so one GEMM advances all sequences by a step and the weight
// gradient over all steps and sequences is one GEMM.
//
// Legend: P = sequences, T = steps, N = units, I = inputs, O = outputs,
// α = leak (1 = none).

import RBPKernels

/// The model of SPEC §1.2: parameters (with x0), activation, loss and leak.
public struct TrajectoryNetwork<T: KernelScalar>: Equatable, Sendable {
  /// W, b, U and x0.
  public var parameters: Parameters<T>
  /// The units' f.
  public var activation: Activation
  /// The loss on the output units.
  public var loss: Loss
  /// α ∈ (0, 1]: the discretised dx/dt = −x + f(Wx + a); 1 means none.
  public var leak: Double

  /// A network of these parameters; throws without x0, for a leak outside (0, 1], or for bce without logistic units.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init(parameters: Parameters<T>, activation: Activation, loss: Loss, leak: Double = 1) throws {
    guard parameters.layout.hasInitialState else {
      throw RBPError.invalid("a trajectory network needs the x0 parameter")
    }
    guard leak > 0 && leak <= 1 else { throw RBPError.invalid("leak must be in (0, 1], got \(leak)") }
    if loss == .bce && activation != .logistic {
      throw RBPError.invalid("loss bce needs logistic outputs, not \(activation)")
    }
    self.parameters = parameters
    self.activation = activation
    self.loss = loss
    self.leak = leak
  }

  /// N, I, O and the coupling.
  public var shape: NetworkShape { parameters.shape }

  /// A network with random parameters (see `Parameters.random`) and x0 = 0.
  public static func random<G: RandomNumberGenerator>(
    shape: NetworkShape, activation: Activation, loss: Loss, leak: Double = 1, gain: Double? = nil,
    using rng: inout G
  ) throws -> TrajectoryNetwork {
    let layout = ParameterLayout(shape: shape, hasInitialState: true)
    let gain = gain ?? Parameters<T>.defaultGain(steady: false, activation: activation)
    return try TrajectoryNetwork(
      parameters: .random(layout: layout, gain: gain, using: &rng),
      activation: activation, loss: loss, leak: leak)
  }
}

/// Sequences for a trajectory network, sequence-major as in the HDF5 files:
/// element (p, t, k) of a P×T×K array is at `(p·T + t)·K + k`, t = 0 being
/// step 1.
public struct TrajectoryBatch<T: KernelScalar>: Equatable, Sendable {
  public let count: Int
  public let steps: Int
  /// P×T×I
  public var inputs: [T]
  /// P×T×O
  public var targets: [T]
  /// P×T×O or nil (all ones); zero marks a "don't care" step and unit.
  public var mask: [T]?
  /// P×N initial states, or nil to use the learned x0.
  public var initial: Matrix<T>?
  /// I, the inputs per step.
  public let inputWidth: Int
  /// O, the targets per step.
  public let outputWidth: Int

  /// P sequences of T steps: inputs P×T×I and targets P×T×O,
  /// sequence-major, with an optional mask P×T×O and initial states P×N;
  /// throws naming a size that does not fit.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init(
    count: Int, steps: Int, inputs: [T], inputWidth: Int, targets: [T], outputWidth: Int,
    mask: [T]? = nil, initial: Matrix<T>? = nil
  ) throws {
    guard count >= 1 && steps >= 1 else {
      throw RBPError.invalid("a trajectory batch needs at least one sequence and one step, got \(count)×\(steps)")
    }
    guard inputs.count == count * steps * inputWidth else {
      throw RBPError.invalid("inputs have \(inputs.count) values, expected \(count)×\(steps)×\(inputWidth)")
    }
    guard targets.count == count * steps * outputWidth else {
      throw RBPError.invalid("targets have \(targets.count) values, expected \(count)×\(steps)×\(outputWidth)")
    }
    if let mask, mask.count != targets.count {
      throw RBPError.invalid("mask has \(mask.count) values, targets have \(targets.count)")
    }
    if let initial, initial.rows != count {
      throw RBPError.invalid("initial states have \(initial.rows) rows for \(count) sequences")
    }
    self.init(unchecked: count, steps, inputs, inputWidth, targets, outputWidth, mask, initial)
  }

  /// Checks the batch fits `shape`; throws naming the mismatch.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func check(against shape: NetworkShape) throws {
    guard inputWidth == shape.inputs else {
      throw RBPError.invalid("inputs have \(inputWidth) channels but the network has \(shape.inputs) inputs")
    }
    guard outputWidth == shape.outputs else {
      throw RBPError.invalid("targets have \(outputWidth) channels but the network has \(shape.outputs) outputs")
    }
    if let initial, initial.cols != shape.units {
      throw RBPError.invalid("initial states have \(initial.cols) units but the network has \(shape.units)")
    }
  }

  /// The sequences at `indices`, in that order (the batch itself, not a
  /// copy, when they are all of them in order).
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func subset(_ indices: [Int]) -> TrajectoryBatch {
    if isEveryIndexInOrder(indices, count: count) { return self }
    func pick(_ a: [T], _ width: Int) -> [T] {
      indices.flatMap { a[$0 * steps * width..<($0 + 1) * steps * width] }
    }
    return TrajectoryBatch(
      unchecked: indices.count, steps, pick(inputs, inputWidth), inputWidth,
      pick(targets, outputWidth), outputWidth, mask.map { pick($0, outputWidth) },
      initial.map { $0.rows(indices) })
  }

  private init(
    unchecked count: Int, _ steps: Int, _ inputs: [T], _ inputWidth: Int, _ targets: [T],
    _ outputWidth: Int, _ mask: [T]?, _ initial: Matrix<T>?
  ) {
    self.count = count
    self.steps = steps
    self.inputs = inputs
    self.targets = targets
    self.mask = mask
    self.initial = initial
    self.inputWidth = inputWidth
    self.outputWidth = outputWidth
  }

  /// A P×T×K sequence-major array rearranged time-major, T×P×K.
  func timeMajor(_ a: [T], width: Int) -> [T] {
    guard width > 0 else { return [] }
    return [T](unsafeUninitializedCapacity: a.count) { out, initialized in
      timeMajor(a, width: width, into: out.baseAddress!)
      initialized = a.count
    }
  }

  /// The same into `out`, which holds `a.count` elements.
  func timeMajor(_ a: [T], width: Int, into out: UnsafeMutablePointer<T>) {
    a.withUnsafeBufferPointer { from in
      var source = from.baseAddress!
      let stride = count &* width
      for p in 0..<count {
        var target = out + p &* width
        for _ in 0..<steps {
          copyRow(source, to: target, count: width)
          source += width
          target += stride
        }
      }
    }
  }

}
