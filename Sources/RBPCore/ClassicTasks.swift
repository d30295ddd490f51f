// The classic tasks of SPEC §5 as generators of batches, each with its
// definition and what counts as solved. `rbp datasets make` writes them to
// HDF5; the tests train on them directly. datasets/README.md documents them.
//
//   xor          steady      4 patterns, 2 inputs (0/1), 1 output (0/1), logistic
//   encoder      steady      8-3-8: 8 one-hot inputs, 8 outputs, 3 hidden units
//   patterns     steady      associative memory: K stored ±1 patterns of N bits;
//                            inputs are cues with half the bits zeroed (identity
//                            coupling), targets the whole pattern at ±0.9
//   figure8      trajectory  one input pulse at step 1, then two outputs trace
//                            0.5 sin(ωt), 0.5 sin(2ωt), ω = 2π/16, T = 32
//   delayed-xor  trajectory  two ±1 input bit streams, output 0.8·(±1) = XOR of the
//                            inputs two steps earlier (masked for t ≤ 2)
//   sine         trajectory  no input; one output traces 0.8 sin(2πt/20), T = 40,
//                            from the learned x0
//   memory       steady or   K random ±1 patterns over N units (5 × 24); each cue
//                trajectory  is a pattern with a fraction of its signs flipped
//                            (0.2), scaled by 0.5; targets 0.9 · pattern on every
//                            unit. `--cue input` (steady): the cue is the input
//                            (identity coupling). `--cue initial` (trajectory,
//                            T = 10): the cue is x(0) (/initial), the input is
//                            zero, and the mask covers the last 3 steps

import Foundation
import RBPKernels

/// One of the classic tasks.
public enum ClassicTask: String, CaseIterable, Sendable, Codable {
  /// XOR of two inputs: 4 steady patterns.
  case xor
  /// The 8-3-8 encoder: 8 one-hot patterns through 3 hidden units.
  case encoder
  /// Pattern completion: stored patterns recalled from half-erased cues.
  case patterns
  /// A trajectory tracing a figure eight.
  case figure8
  /// At every step, the XOR of the two input bits of two steps before.
  case delayedXor = "delayed-xor"
  /// A sine wave generated from the learned initial state, with no input.
  case sine
  /// Associative memory: stored patterns recalled from noisy cues.
  case memory

  /// Whether the task's dataset is steady (memory: with the cue as input).
  public var isSteady: Bool { [.xor, .encoder, .patterns, .memory].contains(self) }

  /// The activation the task's targets are scaled for.
  public var activation: Activation {
    switch self {
    case .xor, .encoder: return .logistic
    case .patterns, .figure8, .delayedXor, .sine, .memory: return .tanh
    }
  }

  /// Units a network needs to solve it comfortably (hidden + outputs).
  public var suggestedUnits: Int {
    switch self {
    case .xor: return 4
    case .encoder: return 11
    case .patterns: return 16
    case .figure8: return 16
    case .delayedXor: return 12
    case .sine: return 8
    case .memory: return 24
    }
  }

  /// What counts as solved, in words (the same rule `isSolved` applies).
  public var solvedCriterion: String {
    switch self {
    case .xor, .encoder:
      return "every output on the correct side of 0.5"
    case .patterns:
      return "on held-out cues (half of each pattern's bits zeroed), every unit has the sign of its pattern bit"
    case .figure8, .sine:
      return "every output within 0.1 of its target at every step"
    case .delayedXor:
      return "on held-out sequences, every unmasked output has the sign of its target"
    case .memory:
      return "on held-out cues, every unit has the sign of its pattern bit (at every unmasked step)"
    }
  }
}

/// A task's data: training batch and, where the task has one, a test batch.
public enum TaskData<T: KernelScalar>: Sendable {
  /// Steady patterns.
  case steady(train: SteadyBatch<T>, test: SteadyBatch<T>?)
  /// Sequences.
  case trajectory(train: TrajectoryBatch<T>, test: TrajectoryBatch<T>?)
}

/// Sizes a generator may vary; nil keeps the task's default.
public struct TaskOptions: Sendable {
  /// patterns: stored patterns (4); delayed-xor: training sequences (32).
  public var count: Int?
  /// patterns, memory: bits per pattern (16, 24); delayed-xor, sine, figure8: steps.
  public var length: Int?
  /// memory: where the cue goes, the input (steady) or the initial state
  /// (trajectory).
  public var cueAsInitialState = false
  /// memory: the fraction of a pattern's signs a cue flips.
  public var flips: Double?
  /// When set, the cues and sequences (everything drawn after a task's
  /// stored patterns) come from this seed: the same patterns, other cues.
  /// `datasets make` draws the validation set so.
  public var cueSeed: UInt64? = nil
  /// These sizes; nil keeps the task's.
  public init(count: Int? = nil, length: Int? = nil, cueAsInitialState: Bool = false, flips: Double? = nil) {
    self.count = count
    self.length = length
    self.cueAsInitialState = cueAsInitialState
    self.flips = flips
  }
}

extension ClassicTask {
  /// Generates the task's data; `seed` fixes every random choice.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func make<T: KernelScalar>(_: T.Type, seed: UInt64, options: TaskOptions = TaskOptions()) throws -> TaskData<T>
  {
    var rng = SeededGenerator(seed: seed)
    // Bounded before anything is generated: 2²⁶ sequences or patterns, 2²⁰
    // steps, 2²⁸ values of each array.
    let count = options.count ?? 1, length = options.length ?? 1
    guard (1...(1 << 26)).contains(count), (1...(1 << 20)).contains(length), count * length <= 1 << 28 else {
      throw RBPError.invalid(
        "count \(count) × length \(length) is outside what a dataset may hold "
          + "(count ≤ 2^26, length ≤ 2^20, count·length ≤ 2^28)")
    }
    switch self {
    case .xor:
      return .steady(
        train: try SteadyBatch(
          inputs: Matrix([[0, 0], [0, 1], [1, 0], [1, 1]]),
          targets: Matrix([[0], [1], [1], [0]])), test: nil)
    case .encoder:
      var eye = Matrix<T>(rows: 8, cols: 8)
      for i in 0..<8 { eye[i, i] = 1 }
      return .steady(train: try SteadyBatch(inputs: eye, targets: eye), test: nil)
    case .patterns:
      let (k, n) = (options.count ?? 4, options.length ?? 16)
      guard k >= 1 && n >= 2 else { throw RBPError.invalid("patterns needs count >= 1 and length >= 2") }
      let stored = (0..<k).map { _ in (0..<n).map { _ in Bool.random(using: &rng) ? 1.0 : -1.0 } }
      if let cueSeed = options.cueSeed { rng = SeededGenerator(seed: cueSeed) }
      func cues(_ perPattern: Int) throws -> SteadyBatch<T> {
        var inputs: [[T]] = [], targets: [[T]] = []
        for pattern in stored {
          for _ in 0..<perPattern {
            let hidden = Set((0..<n).shuffled(using: &rng).prefix(n / 2))
            inputs.append((0..<n).map { hidden.contains($0) ? 0 : T(pattern[$0]) })
            targets.append(pattern.map { T(0.9 * $0) })
          }
        }
        return try SteadyBatch(inputs: Matrix(inputs), targets: Matrix(targets))
      }
      return .steady(train: try cues(8), test: try cues(4))
    case .figure8:
      let steps = options.length ?? 32
      let omega = 2 * Double.pi / 16
      var u = [T](repeating: 0, count: steps), y: [T] = []
      u[0] = 1
      for t in 0..<steps { y += [T(0.5 * sin(omega * Double(t))), T(0.5 * sin(2 * omega * Double(t)))] }
      return .trajectory(
        train: try TrajectoryBatch(
          count: 1, steps: steps, inputs: u, inputWidth: 1,
          targets: y, outputWidth: 2), test: nil)
    case .delayedXor:
      let steps = options.length ?? 12
      let count = options.count ?? 32
      guard steps >= 3 else { throw RBPError.invalid("delayed-xor needs at least 3 steps, got \(steps)") }
      if let cueSeed = options.cueSeed { rng = SeededGenerator(seed: cueSeed) }
      func sequences(_ p: Int) throws -> TrajectoryBatch<T> {
        var u: [T] = [], y: [T] = [], m: [T] = []
        for _ in 0..<p {
          let bits = (0..<steps).map { _ in (Bool.random(using: &rng), Bool.random(using: &rng)) }
          for t in 0..<steps {
            u += [bits[t].0 ? 1 : -1, bits[t].1 ? 1 : -1]
            if t >= 2 {
              y.append(bits[t - 2].0 != bits[t - 2].1 ? 0.8 : -0.8)
              m.append(1)
            } else {
              y.append(0)
              m.append(0)
            }
          }
        }
        return try TrajectoryBatch(
          count: p, steps: steps, inputs: u, inputWidth: 2, targets: y,
          outputWidth: 1, mask: m)
      }
      return .trajectory(train: try sequences(count), test: try sequences(count))
    case .memory:
      let (k, n) = (options.count ?? 5, options.length ?? 24)
      let fraction = options.flips ?? 0.2
      guard k >= 1 && n >= 2 else { throw RBPError.invalid("memory needs count >= 1 and length >= 2") }
      guard fraction >= 0 && fraction <= 1 else {
        throw RBPError.invalid("memory: --flips must be in [0, 1], got \(fraction)")
      }
      let stored = (0..<k).map { _ in (0..<n).map { _ in Bool.random(using: &rng) ? 1.0 : -1.0 } }
      if let cueSeed = options.cueSeed { rng = SeededGenerator(seed: cueSeed) }
      let flipped = Int((fraction * Double(n)).rounded())
      let steps = 10, masked = 7
      func cues(_ perPattern: Int) throws -> TaskData<T> {
        var cue: [[T]] = [], targets: [[T]] = []
        for pattern in stored {
          for _ in 0..<perPattern {
            let flip = Set((0..<n).shuffled(using: &rng).prefix(flipped))
            cue.append((0..<n).map { T(0.5 * (flip.contains($0) ? -pattern[$0] : pattern[$0])) })
            targets.append(pattern.map { T(0.9 * $0) })
          }
        }
        guard options.cueAsInitialState else {
          return .steady(train: try SteadyBatch(inputs: Matrix(cue), targets: Matrix(targets)), test: nil)
        }
        let count = cue.count
        var y: [T] = [], m: [T] = []
        for p in 0..<count {
          for t in 1...steps {
            y += targets[p]
            m += [T](repeating: t > masked ? 1 : 0, count: n)
          }
        }
        return .trajectory(
          train: try TrajectoryBatch(
            count: count, steps: steps, inputs: [], inputWidth: 0, targets: y,
            outputWidth: n, mask: m, initial: Matrix(cue)), test: nil)
      }
      switch (try cues(16), try cues(8)) {
      case let (.steady(train, _), .steady(test, _)): return .steady(train: train, test: test)
      case let (.trajectory(train, _), .trajectory(test, _)): return .trajectory(train: train, test: test)
      default: preconditionFailure("memory: the training and test cues are of one kind")
      }
    case .sine:
      let steps = options.length ?? 40
      let y = (1...steps).map { T(0.8 * sin(2 * Double.pi * Double($0) / 20)) }
      return .trajectory(
        train: try TrajectoryBatch(
          count: 1, steps: steps, inputs: [], inputWidth: 0,
          targets: y, outputWidth: 1), test: nil)
    }
  }

  /// The task's "solved" rule applied to outputs.
  ///
  /// - Parameters:
  ///   - outputs: the network's output units, laid out like `targets`.
  ///   - targets: the targets.
  ///   - mask: zero where a target does not count; nil: all count.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func isSolved<T: KernelScalar>(outputs: [T], targets: [T], mask: [T]?) -> Bool {
    precondition(outputs.count == targets.count, "isSolved: \(outputs.count) outputs for \(targets.count) targets")
    for i in outputs.indices where (mask?[i] ?? 1) != 0 {
      let (x, y) = (Double(outputs[i]), Double(targets[i]))
      switch self {
      case .xor, .encoder: if (x > 0.5) != (y > 0.5) { return false }
      case .patterns, .delayedXor, .memory: if (x > 0) != (y > 0) { return false }
      case .figure8, .sine: if !(abs(x - y) < 0.1) { return false }
      }
    }
    return true
  }
}

extension TrajectoryNetwork {
  /// The output units of every step, laid out like the batch's targets
  /// (P×T×O, sequence-major).
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func outputs(_ batch: TrajectoryBatch<T>) throws -> [T] {
    try evaluate(batch).outputs
  }
}
