// The learnable parameters of a network in one allocation (a slab), with
// named views: W (N×N), b (N), U (N×I, dense coupling only) and x0 (N,
// trajectories only). Gradients and optimizer states use the same layout,
// so zeroing, stepping and checkpointing are one loop over one array.
//
// Legend: N = units, I = inputs, O = outputs (the last O units).

import Foundation
import RBPKernels

/// How external inputs reach the units.
public enum Coupling: String, CaseIterable, Sendable, Codable {
  /// Inputs enter through the learned N×I matrix U: drive `a = b + U u`.
  case dense
  /// Input k is added to unit k's drive (needs I ≤ N); U is fixed, not learned.
  case identity
}

/// Sizes of a network: N units, I inputs, O outputs (the last O units).
public struct NetworkShape: Equatable, Sendable, Codable {
  /// N, the number of units (the last `outputs` of them are the outputs).
  public var units: Int
  /// I, the width of an input pattern.
  public var inputs: Int
  /// O, the number of output units: the last O of the N.
  public var outputs: Int
  /// How inputs enter: through U (dense) or one per unit (identity).
  public var coupling: Coupling

  /// The largest N (and I) accepted, and the most weights N·(N + I): 2²⁸,
  /// 2 GiB in f64 for W and U alone.
  public static let maximumUnits = 1 << 20
  /// The most weights N·(N + I) accepted.
  public static let maximumWeights = 1 << 28

  /// Checks the sizes fit together; throws naming the one that does not.
  public init(units: Int, inputs: Int, outputs: Int, coupling: Coupling = .dense) throws {
    guard units >= 1 else { throw RBPError.invalid("units must be at least 1, got \(units)") }
    guard inputs >= 0 else { throw RBPError.invalid("inputs must be at least 0, got \(inputs)") }
    // Sizes a file or a flag may claim are bounded before anything is
    // allocated (and before N·(N + I) could overflow).
    guard units <= NetworkShape.maximumUnits, inputs <= NetworkShape.maximumUnits,
      units * (units + inputs) <= NetworkShape.maximumWeights
    else {
      throw RBPError.invalid(
        "units \(units) with \(inputs) inputs need \(units)·(\(units) + \(inputs)) weights; "
          + "at most \(NetworkShape.maximumWeights) are supported")
    }
    guard outputs >= 1 && outputs <= units else {
      throw RBPError.invalid("outputs must be between 1 and units (\(units)), got \(outputs)")
    }
    if coupling == .identity && inputs > units {
      throw RBPError.invalid("identity coupling needs inputs (\(inputs)) <= units (\(units))")
    }
    self.units = units
    self.inputs = inputs
    self.outputs = outputs
    self.coupling = coupling
  }

  /// Index of the first output unit, N − O.
  public var firstOutput: Int { units - outputs }
}

/// Offsets of each parameter block inside the slab.
public struct ParameterLayout: Equatable, Sendable {
  /// The network the parameters belong to.
  public let shape: NetworkShape
  /// Whether there is a learned initial state x0 (trajectories).
  public let hasInitialState: Bool

  /// The layout of a network of this shape, with or without x0.
  public init(shape: NetworkShape, hasInitialState: Bool) {
    self.shape = shape
    self.hasInitialState = hasInitialState
  }

  /// W, N×N row-major.
  public var w: Range<Int> { 0..<shape.units * shape.units }
  /// b, N.
  public var b: Range<Int> { w.upperBound..<w.upperBound + shape.units }
  /// Empty with identity coupling.
  public var u: Range<Int> {
    b.upperBound..<b.upperBound + (shape.coupling == .dense ? shape.units * shape.inputs : 0)
  }
  /// Empty for steady-state networks.
  public var x0: Range<Int> { u.upperBound..<u.upperBound + (hasInitialState ? shape.units : 0) }
  /// The number of parameters in all.
  public var count: Int { x0.upperBound }
}

/// All parameters (or gradients, or optimizer moments) of one network in one
/// array, laid out by `layout`.
public struct Parameters<T: KernelScalar>: Equatable, Sendable {
  /// Where each block lies in `values`.
  public let layout: ParameterLayout
  /// Every parameter, block after block: W, b, U, x0.
  public var values: [T]

  /// All zeros.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init(layout: ParameterLayout) {
    self.layout = layout
    values = [T](repeating: 0, count: layout.count)
  }

  /// These values, which must number `layout.count`.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init(layout: ParameterLayout, values: [T]) {
    precondition(values.count == layout.count, "Parameters: \(values.count) values for layout of \(layout.count)")
    self.layout = layout
    self.values = values
  }

  /// The network's shape.
  public var shape: NetworkShape { layout.shape }

  /// W, N×N: `W[i, j]` is the weight from unit j to unit i.
  public var W: Matrix<T> {
    get { Matrix(rows: shape.units, cols: shape.units, elements: Array(values[layout.w])) }
    set { set(newValue, at: layout.w, rows: shape.units, cols: shape.units, name: "W") }
  }
  /// `body` on W, N×N row-major, read in place from `values` (no copy;
  /// the pointer is valid only inside `body`).
  @inlinable
  public func withWeights<R>(_ body: (UnsafePointer<T>) throws -> R) rethrows -> R {
    try values.withUnsafeBufferPointer { try body($0.baseAddress! + layout.w.lowerBound) }
  }
  /// b, N.
  public var b: [T] {
    get { Array(values[layout.b]) }
    set {
      precondition(newValue.count == shape.units, "b must have \(shape.units) elements")
      values.replaceSubrange(layout.b, with: newValue)
    }
  }
  /// U, N×I (0×0 with identity coupling).
  public var U: Matrix<T> {
    get {
      shape.coupling == .dense
        ? Matrix(rows: shape.units, cols: shape.inputs, elements: Array(values[layout.u]))
        : Matrix(rows: 0, cols: 0)
    }
    set {
      precondition(shape.coupling == .dense, "U is not a parameter with identity coupling")
      set(newValue, at: layout.u, rows: shape.units, cols: shape.inputs, name: "U")
    }
  }
  /// x0, N (empty for steady-state networks).
  public var x0: [T] {
    get { Array(values[layout.x0]) }
    set {
      precondition(
        layout.hasInitialState && newValue.count == shape.units,
        "x0 must have \(shape.units) elements on a trajectory network")
      values.replaceSubrange(layout.x0, with: newValue)
    }
  }

  private mutating func set(_ m: Matrix<T>, at range: Range<Int>, rows: Int, cols: Int, name: String) {
    precondition(m.rows == rows && m.cols == cols, "\(name) must be \(rows)×\(cols), got \(m.rows)×\(m.cols)")
    values.replaceSubrange(range, with: m.elements)
  }

  /// Whether W = Wᵀ with a zero diagonal (a Hopfield network).
  public var weightsAreSymmetric: Bool {
    let n = shape.units
    let w = layout.w.lowerBound
    for i in 0..<n {
      if values[w + i * n + i] != 0 { return false }
      for j in 0..<i where values[w + i * n + j] != values[w + j * n + i] { return false }
    }
    return true
  }

  /// W ← (W + Wᵀ)/2 with a zero diagonal: the nearest symmetric weights,
  /// for a network trained with `--symmetric`.
  public mutating func makeWeightsSymmetric() { combineWeightPairs { ($0 + $1) / 2 } }

  /// For a gradient with respect to W: G ← G + Gᵀ with a zero diagonal,
  /// the gradient with respect to each tied weight w_ij = w_ji of a
  /// symmetric W, written in both places (so a step keeps W symmetric).
  public mutating func symmetrizeWeights() { combineWeightPairs(+) }

  /// Sets W_ij and W_ji to `combine(W_ij, W_ji)` for i ≠ j, and W_ii to 0.
  private mutating func combineWeightPairs(_ combine: (T, T) -> T) {
    let n = shape.units
    let w = layout.w.lowerBound
    for i in 0..<n {
      values[w + i * n + i] = 0
      for j in 0..<i {
        let value = combine(values[w + i * n + j], values[w + j * n + i])
        values[w + i * n + j] = value
        values[w + j * n + i] = value
      }
    }
  }

  /// The same values in the other precision.
  public func converted<U: KernelScalar>(to: U.Type) -> Parameters<U> {
    Parameters<U>(layout: layout, values: convertedArray(values, to: U.self))
  }

  /// The default `gain` of `random`, the one default for the library and
  /// the trainer. Steady models start contractive: gain 0.4 / max f' puts
  /// ‖W‖₂ near 0.8 / max f', so ‖D W‖₂ < 1 at every state and the fixed
  /// point is unique to begin with. Trajectory models start at gain 1
  /// (‖W‖₂ ≈ 2), rich enough dynamics for sequence tasks.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public static func defaultGain(steady: Bool, activation: Activation) -> Double {
    steady ? 0.4 / activation.maxSlope : 1
  }

  /// Random parameters: W with entries N(0, (gain/√N)²) so that its spectral
  /// norm is about 2·gain, b and U with entries N(0, scale²), x0 zero.
  @_specialize(exported:true,where T == Float, G == SeededGenerator)
  @_specialize(exported:true,where T == Double, G == SeededGenerator)
  public static func random<G: RandomNumberGenerator>(
    layout: ParameterLayout, gain: Double, scale: Double = 0.1, using rng: inout G
  ) -> Parameters {
    var p = Parameters(layout: layout)
    let n = Double(layout.shape.units)
    for i in layout.w { p.values[i] = T(gaussian(&rng) * gain / n.squareRoot()) }
    for i in layout.b { p.values[i] = T(gaussian(&rng) * scale) }
    for i in layout.u { p.values[i] = T(gaussian(&rng) * scale) }
    return p
  }
}

/// A standard normal draw (Box–Muller).
@_specialize(exported:true,where G == SeededGenerator)
public func gaussian<G: RandomNumberGenerator>(_ rng: inout G) -> Double {
  let u1 = Double.random(in: Double.ulpOfOne..<1, using: &rng)
  let u2 = Double.random(in: 0..<1, using: &rng)
  return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
}

/// SplitMix64: a small, seeded, reproducible generator whose whole state is
/// one integer (easy to checkpoint).
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
  /// The whole state: save it to continue the same sequence.
  public var state: UInt64
  /// The generator whose state starts at `seed`.
  public init(seed: UInt64) { state = seed }
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
