// Objectives: explicit functions of the state over all N units (SPEC §1.4),
// R(x_p) for steady states and R(x(1), …, x(T)) = Σ_t R_t(x(t)) for
// trajectories. An objective gives its value and adds ∂R/∂x into the
// cotangent that seeds every adjoint; the adjoint and the sensitivity lemma
// then give ∂R/∂θ and ∂R/∂a = s. The supervised losses (`mse`, `bce` on the
// last O units) are one objective, `LossObjective`; a given cotangent
// (∂R/∂x computed elsewhere, e.g. in numpy) is another, `CotangentObjective`.
//
// The engine hands an objective one block at a time: the P×N states of all
// patterns at one step (steady: step 0), one pattern per row.
//
// Legend: P = patterns (sequences), T = steps, N = units, O = outputs.

import RBPKernels

/// Whether an objective is to be made small (a loss) or large (a reward).
public enum ObjectiveGoal: String, Sendable, Codable {
  /// A loss: training steps against its gradient.
  case minimize
  /// A reward: training steps along its gradient.
  case maximize
}

/// The states an objective sees at once: every pattern of the batch at one
/// step, P rows of N units, row-major.
public struct StateBlock<T: KernelScalar> {
  /// The states, row-major P×N, valid during the call only.
  public let states: UnsafePointer<T>
  /// P: row p is pattern p of the batch.
  public let rows: Int
  /// N
  public let units: Int
  /// t = 1…T for trajectories; 0 for steady states.
  public let step: Int

  /// A block of `rows` states of `units` at `step`.
  public init(states: UnsafePointer<T>, rows: Int, units: Int, step: Int) {
    self.states = states
    self.rows = rows
    self.units = units
    self.step = step
  }
}

/// An explicit function of the state: the value of one block and its
/// derivative with respect to every unit of every row.
///
/// The gradient the engine returns is that of the objective as written
/// (∂R/∂θ for a reward); `goal` says which way training moves, and the
/// results' `descentGradient` is the one an optimizer steps along.
public protocol StateObjective<Scalar>: Sendable {
  /// The precision of the states.
  associatedtype Scalar: KernelScalar
  /// Whether training makes the objective small or large.
  var goal: ObjectiveGoal { get }
  /// True: the objective is the mean over the patterns, (1/P) Σ_p R_p, and
  /// the engine scales the parameter gradient by 1/P; false: the sum.
  var meanOverPatterns: Bool { get }
  /// Σ over the block's rows of the objective's term at this step.
  func value(_ block: StateBlock<Scalar>) -> Double
  /// Adds ∂(term of row p)/∂x_p into row p of `gradient` (P×N, row-major),
  /// for every row.
  func addGradient(_ block: StateBlock<Scalar>, into gradient: UnsafeMutablePointer<Scalar>)
  /// The objective of the patterns `rows` alone (row r of its blocks is
  /// pattern rows[r]), for a batch some of whose patterns did not settle;
  /// nil when it cannot be restricted (the default).
  func restricted(to rows: [Int]) -> (any StateObjective<Scalar>)?
}

extension StateObjective {
  public func restricted(to rows: [Int]) -> (any StateObjective<Scalar>)? { nil }
}

/// Rows `rows` of a sequence-major array of P×`width` blocks.
func pickRows<T>(_ values: [T], width: Int, rows: [Int]) -> [T] {
  var out: [T] = []
  out.reserveCapacity(rows.count * width)
  for p in rows { out.append(contentsOf: values[p * width..<(p + 1) * width]) }
  return out
}

extension StateObjective {
  /// The block's value, with its gradient written (not added) to
  /// `gradient`: zeros, then `addGradient`, then `value`.
  func valueAndGradientByParts(_ block: StateBlock<Scalar>, into gradient: UnsafeMutablePointer<Scalar>) -> Double {
    gradient.update(repeating: 0, count: block.rows * block.units)
    addGradient(block, into: gradient)
    return value(block)
  }
}

/// A supervised loss on the output units (the last O of N) against the
/// batch's targets, with its mask: the objective training uses,
/// J = (1/P) Σ_p L_p, minimised.
public struct LossObjective<T: KernelScalar>: StateObjective {
  /// The loss function.
  public let loss: Loss
  /// The batch's own arrays, sequence-major P×S×O (S = 1 for steady
  /// states), read in place: a step reads one row of O per sequence.
  let targets: [T]
  let mask: [T]?
  let count: Int, steps: Int, outputs: Int

  /// Minimised.
  public var goal: ObjectiveGoal { .minimize }
  /// J is the mean over the patterns.
  public var meanOverPatterns: Bool { true }

  /// The loss of a steady batch: targets P×O.
  public init(_ loss: Loss, batch: SteadyBatch<T>) {
    self.loss = loss
    targets = batch.targets.elements
    mask = batch.mask?.elements
    count = batch.count
    steps = 1
    outputs = batch.targets.cols
  }

  /// The loss of a trajectory batch, Σ_t over its steps: targets P×T×O.
  public init(_ loss: Loss, batch: TrajectoryBatch<T>) {
    self.loss = loss
    targets = batch.targets
    mask = batch.mask
    count = batch.count
    steps = batch.steps
    outputs = batch.outputWidth
  }

  init(loss: Loss, targets: [T], mask: [T]?, count: Int, steps: Int, outputs: Int) {
    self.loss = loss
    self.targets = targets
    self.mask = mask
    self.count = count
    self.steps = steps
    self.outputs = outputs
  }

  public func restricted(to rows: [Int]) -> (any StateObjective<T>)? { restrictedLoss(to: rows) }

  /// The loss of the patterns `rows` alone.
  func restrictedLoss(to rows: [Int]) -> LossObjective<T> {
    let width = steps * outputs
    return LossObjective(
      loss: loss, targets: pickRows(targets, width: width, rows: rows),
      mask: mask.map { pickRows($0, width: width, rows: rows) }, count: rows.count, steps: steps,
      outputs: outputs)
  }

  /// Offset of pattern p's targets at `step` (0 for steady, else 1…T).
  @inline(__always)
  func offset(_ p: Int, _ step: Int) -> Int { (p * steps + max(step, 1) - 1) * outputs }

  /// Asks the cache for every sequence's targets at `step`.
  func prefetch(step: Int) {
    guard steps > 1 && step >= 1 && step <= steps else { return }
    targets.withUnsafeBufferPointer { y in
      prefetchRows(y.baseAddress! + offset(0, step), rows: count, stride: steps * outputs, count: outputs)
    }
  }

  public func value(_ block: StateBlock<T>) -> Double {
    let first = block.units - outputs
    if loss == .mse && mask == nil {
      // Every row in one call (the rows' values added in order from 0, as
      // the loop below adds them): the same bits, without a call per row.
      return targets.withUnsafeBufferPointer { y in
        meanSquared(
          rows: block.rows, count: outputs, block.states + first, ldx: block.units,
          y.baseAddress! + offset(0, block.step), ldy: steps * outputs)
      }
    }
    return targets.withUnsafeBufferPointer { y in
      (mask ?? []).withUnsafeBufferPointer { m in
        var total = 0.0
        for p in 0..<block.rows {
          let o = offset(p, block.step)
          total += loss.value(
            block.states + p * block.units + first, y.baseAddress! + o,
            mask: mask == nil ? nil : m.baseAddress! + o, count: outputs)
        }
        return total
      }
    }
  }

  /// The block's value, with its gradient written (not added) to
  /// `gradient`; for the unmasked mse, row by row while the row's targets
  /// are in cache.
  func valueAndGradient(_ block: StateBlock<T>, into gradient: UnsafeMutablePointer<T>) -> Double {
    guard loss == .mse && mask == nil else { return valueAndGradientByParts(block, into: gradient) }
    let first = block.units - outputs
    if first > 0 {
      for p in 0..<block.rows { (gradient + p * block.units).update(repeating: 0, count: first) }
    }
    return targets.withUnsafeBufferPointer { y in
      meanSquared(
        rows: block.rows, count: outputs, block.states + first, ldx: block.units,
        y.baseAddress! + offset(0, block.step), ldy: steps * outputs,
        gradient: gradient + first, ldg: block.units)
    }
  }

  public func addGradient(_ block: StateBlock<T>, into gradient: UnsafeMutablePointer<T>) {
    let first = block.units - outputs
    targets.withUnsafeBufferPointer { y in
      (mask ?? []).withUnsafeBufferPointer { m in
        for p in 0..<block.rows {
          let o = offset(p, block.step)
          loss.addGradient(
            block.states + p * block.units + first, y.baseAddress! + o,
            mask: mask == nil ? nil : m.baseAddress! + o, count: outputs, scale: 1,
            into: gradient + p * block.units + first)
        }
      }
    }
  }
}

/// A given cotangent c = ∂R/∂x, computed elsewhere: the engine returns the
/// vector–Jacobian product, ∂R/∂θ = Σ_p (∂x_p/∂θ)ᵀ c_p and ∂R/∂a = s. Its
/// value is ⟨c, x⟩, the linear reward whose gradient this is.
public struct CotangentObjective<T: KernelScalar>: StateObjective {
  /// Sequence-major P×S×N (S = 1 for steady states).
  let cotangent: [T]
  let count: Int, steps: Int, units: Int
  /// Whether R is a loss or a reward (only the descent direction depends on it).
  public let goal: ObjectiveGoal
  /// Whether R is the mean over the patterns or their sum.
  public let meanOverPatterns: Bool

  /// - Parameters:
  ///   - cotangent: steady P×N; trajectory P×T×N for t = 1…T, sequence-major.
  ///   - count: P, the patterns or sequences.
  ///   - steps: 1 for steady states, else T.
  ///   - units: N.
  ///   - goal: whether R is to be maximised (a reward) or minimised.
  ///   - mean: whether R is the mean over the patterns (scales ∂R/∂θ by 1/P).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public init(
    _ cotangent: [T], count: Int, steps: Int = 1, units: Int, goal: ObjectiveGoal = .maximize,
    mean: Bool = false
  ) throws {
    guard count >= 1, steps >= 1, units >= 1, cotangent.count == count * steps * units else {
      throw RBPError.invalid("the cotangent has \(cotangent.count) values, expected \(count)×\(steps)×\(units)")
    }
    if let i = cotangent.firstIndex(where: { !$0.isFinite }) {
      let (p, rest) = i.quotientAndRemainder(dividingBy: steps * units)
      throw RBPError.invalid(
        "the cotangent is not finite at pattern \(p), "
          + (steps > 1 ? "step \(rest / units + 1), " : "") + "unit \(rest % units): \(cotangent[i])")
    }
    self.cotangent = cotangent
    self.count = count
    self.steps = steps
    self.units = units
    self.goal = goal
    self.meanOverPatterns = mean
  }

  @inline(__always)
  func offset(_ p: Int, _ step: Int) -> Int { (p * steps + max(step, 1) - 1) * units }

  public func restricted(to rows: [Int]) -> (any StateObjective<T>)? {
    try? CotangentObjective(
      pickRows(cotangent, width: steps * units, rows: rows), count: rows.count, steps: steps,
      units: units, goal: goal, mean: meanOverPatterns)
  }

  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func value(_ block: StateBlock<T>) -> Double {
    precondition(
      block.rows == count && block.units == units, "cotangent for \(count)×\(units), block \(block.rows)×\(block.units)"
    )
    var total = 0.0
    for p in 0..<block.rows {
      let o = offset(p, block.step)
      for i in 0..<units { total += Double(cotangent[o + i]) * Double(block.states[p * units + i]) }
    }
    return total
  }

  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func addGradient(_ block: StateBlock<T>, into gradient: UnsafeMutablePointer<T>) {
    precondition(
      block.rows == count && block.units == units, "cotangent for \(count)×\(units), block \(block.rows)×\(block.units)"
    )
    cotangent.withUnsafeBufferPointer { c in
      for p in 0..<block.rows {
        let o = offset(p, block.step)
        for i in 0..<units { gradient[p * units + i] += c[o + i] }
      }
    }
  }
}

/// The objective a pass uses, with the built-in loss kept concrete so that
/// its loops are specialised with the engine and cost nothing extra.
enum ActiveObjective<T: KernelScalar> {
  case loss(LossObjective<T>)
  case other(any StateObjective<T>)

  init(_ objective: (any StateObjective<T>)?, default builtIn: @autoclosure () -> LossObjective<T>) {
    switch objective {
    case nil: self = .loss(builtIn())
    case let l as LossObjective<T>: self = .loss(l)
    case let o?: self = .other(o)
    }
  }

  var goal: ObjectiveGoal {
    switch self {
    case .loss(let l): return l.goal
    case .other(let o): return o.goal
    }
  }

  var meanOverPatterns: Bool {
    switch self {
    case .loss(let l): return l.meanOverPatterns
    case .other(let o): return o.meanOverPatterns
    }
  }

  /// The objective of the patterns `rows` alone (see
  /// `StateObjective.restricted`), nil when it cannot be restricted.
  func restricted(to rows: [Int]) -> ActiveObjective? {
    switch self {
    case .loss(let l): return .loss(l.restrictedLoss(to: rows))
    case .other(let o): return o.restricted(to: rows).map { .other($0) }
    }
  }

  /// 1/P or 1, as the objective declares: the factor of ∂J/∂θ.
  func patternScale(_ count: Int) -> T { meanOverPatterns ? 1 / T(max(count, 1)) : 1 }

  /// The objective from the sum of its terms over P patterns.
  func scaled(_ total: Double, count: Int) -> Double { meanOverPatterns ? total / Double(max(count, 1)) : total }

  @inline(__always)
  func value(_ block: StateBlock<T>) -> Double {
    switch self {
    case .loss(let l): return l.value(block)
    case .other(let o): return o.value(block)
    }
  }

  /// The block's value, and its gradient written to `g` (P×N).
  @inline(__always)
  func valueAndGradient(_ block: StateBlock<T>, into g: UnsafeMutablePointer<T>) -> Double {
    switch self {
    case .loss(let l): return l.valueAndGradient(block, into: g)
    case .other(let o): return o.valueAndGradientByParts(block, into: g)
    }
  }

  /// Asks the cache for the data the terms at `step` read (a hint).
  @inline(__always)
  func prefetch(step: Int) {
    if case .loss(let l) = self { l.prefetch(step: step) }
  }

  @inline(__always)
  func addGradient(_ block: StateBlock<T>, into g: UnsafeMutablePointer<T>) {
    switch self {
    case .loss(let l): l.addGradient(block, into: g)
    case .other(let o): o.addGradient(block, into: g)
    }
  }
}

extension Parameters {
  /// The gradient an optimizer steps along: `gradient` itself for an
  /// objective to minimise, its negative for one to maximise.
  public func descending(_ goal: ObjectiveGoal) -> Parameters {
    guard goal == .maximize else { return self }
    var out = self
    for i in out.values.indices { out.values[i] = -out.values[i] }
    return out
  }
}
