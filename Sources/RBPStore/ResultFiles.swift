// The files the engine writes for other tools (SPEC §2): gradients
// (`rbp-gradients`: the objective, ∂J/∂θ, the states and the adjoints, and
// ∂R/∂a for a given cotangent), states (`rbp-states`: the forward pass
// alone) and inverses (`rbp-inverse`: the drives that make given states
// steady, or a trajectory the network's own, with the diagonal of their
// Jacobian and, for small networks, the dense Jacobians); and the readers of
// any file's /states and of a cotangent file's /dstates, row by row.

import Foundation
import RBPCore
import RBPKernels

/// A gradients file's contents, in f64.
public struct GradientsRecord: Sendable {
  /// The loss, or R for a cotangent.
  public var loss: Double
  /// ∂J/∂θ (or ∂R/∂θ).
  public var gradient: Parameters<Double>
  /// Steady or trajectory.
  public var model: ModelKind
  /// steady (P, N); trajectory (P, T+1, N) with x(0)
  public var states: [Double]
  /// The shape of `states`.
  public var statesShape: [Int]
  /// steady (P, N); trajectory (P, T, N) for s(1…T)
  public var adjoint: [Double]
  /// The shape of `adjoint`.
  public var adjointShape: [Int]
  /// Steady: the solver settings used, written as root attributes
  /// (`solver`, `adjoint_solver`, `forward_tolerance`, `adjoint_tolerance`).
  public var solverAttributes: [String: String] = [:]
  /// Steady: the tolerances used, written as root attributes.
  public var toleranceAttributes: [String: Double] = [:]
  /// With a cotangent: ∂R/∂a, steady (P, N); trajectory (P, T, N).
  public var drive: [Double]?
  /// What was differentiated: the loss's name, or "cotangent" (attr `objective`).
  public var objective: String?
  /// Steady models: whether each pattern's state and adjoint were found
  /// (written as /settled, int8); the others' rows are NaN.
  public var settled: [Bool]?

  /// ‖∂J/∂θ‖₂ over every parameter (what `rbp grad --json` reports).
  public var gradientNorm: Double { gradient.values.reduce(0) { $0 + $1 * $1 }.squareRoot() }

  /// A record of these arrays; the optional members start empty.
  public init(
    loss: Double, gradient: Parameters<Double>, model: ModelKind, states: [Double], statesShape: [Int],
    adjoint: [Double], adjointShape: [Int]
  ) {
    self.loss = loss
    self.gradient = gradient
    self.model = model
    self.states = states
    self.statesShape = statesShape
    self.adjoint = adjoint
    self.adjointShape = adjointShape
  }

  /// From a steady-state gradient.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init<T: KernelScalar>(_ g: SteadyGradient<T>) {
    self.init(
      loss: g.loss, gradient: g.gradient.converted(to: Double.self), model: .steady,
      states: convertedArray(g.states.elements, to: Double.self), statesShape: [g.states.rows, g.states.cols],
      adjoint: convertedArray(g.adjoints.elements, to: Double.self), adjointShape: [g.adjoints.rows, g.adjoints.cols])
    settled = g.settled.isEmpty ? nil : g.settled
  }

  /// From a BPTT gradient with its states (`.full` or `.truncated` mode),
  /// rearranged sequence-major.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init<T: KernelScalar>(_ g: TrajectoryGradient<T>, count: Int, steps: Int, units: Int) throws {
    guard let states = g.states else {
      throw RBPError.invalid("the gradients file needs the states: use full or truncated BPTT")
    }
    self.init(
      loss: g.loss, gradient: g.gradient.converted(to: Double.self), model: .trajectory,
      states: sequenceMajor(convertedArray(states, to: Double.self), blocks: steps + 1, count: count, width: units),
      statesShape: [count, steps + 1, units],
      adjoint: sequenceMajor(convertedArray(g.adjoints, to: Double.self), blocks: steps, count: count, width: units),
      adjointShape: [count, steps, units])
  }
}

/// A time-major B×P×W array (block t holds P rows) as P×B×W.
@_specialize(exported:true,where T == Float)
@_specialize(exported:true,where T == Double)
public func sequenceMajor<T>(_ a: [T], blocks: Int, count: Int, width: Int) -> [T] {
  precondition(a.count == blocks * count * width, "sequenceMajor: \(a.count) values for \(blocks)×\(count)×\(width)")
  var out = a
  for t in 0..<blocks {
    for p in 0..<count {
      for k in 0..<width { out[(p * blocks + t) * width + k] = a[(t * count + p) * width + k] }
    }
  }
  return out
}

/// Writing `rbp grad`'s files (format `rbp-gradients`).
public enum GradientsFile {
  /// Writes the record atomically; throws naming the file.
  public static func write(_ record: GradientsRecord, to path: String) throws {
    try writeHDF5Atomically(to: path) { file in
      try writeSummary(record, to: file)
      if let drive = record.drive { try file.write("grad/drive", drive, shape: record.adjointShape) }
      try file.write("states", record.states, shape: record.statesShape)
      try file.write("adjoint", record.adjoint, shape: record.adjointShape)
      if let settled = record.settled {
        try file.write("settled", settled.map { $0 ? Int8(1) : 0 }, shape: [settled.count])
        try file.setAttribute("unsettled", int: settled.filter { !$0 }.count)
      }
    }
  }

  /// Writes a gradients file whose /states, /adjoint (and /grad/drive)
  /// arrive in pieces of whole patterns, so that no more than a piece is
  /// ever in memory: `fill` gets a function that writes the rows of
  /// patterns `first…` of each array, and returns the rest of the record
  /// (its `states`, `adjoint` and `drive` are not used), which this returns.
  @discardableResult
  public static func write(
    to path: String, statesShape: [Int], adjointShape: [Int], withDrive: Bool,
    fill: (_ rows: (_ first: Int, _ states: [Double], _ adjoint: [Double], _ drive: [Double]?) throws -> Void) throws
      -> GradientsRecord
  ) throws -> GradientsRecord {
    var written: GradientsRecord? = nil
    try writeHDF5Atomically(to: path) { file in
      let states = try file.create("states", shape: statesShape, as: Double.self)
      let adjoint = try file.create("adjoint", shape: adjointShape, as: Double.self)
      let drive = withDrive ? try file.create("grad/drive", shape: adjointShape, as: Double.self) : nil
      let record = try fill { first, s, a, d in
        try states.writeRows(first, s)
        try adjoint.writeRows(first, a)
        if let drive, let d { try drive.writeRows(first, d) }
      }
      try writeSummary(record, to: file)
      written = record
    }
    return written!
  }

  /// The header, the objective, ∂/∂θ and the solver attributes.
  static func writeSummary(_ record: GradientsRecord, to file: HDF5File) throws {
    try writeHeader(file, .gradients)
    try file.setAttribute("loss", double: record.loss)
    try file.setAttribute("model", string: record.model.rawValue)
    let g = record.gradient, s = g.shape
    try file.write("grad/W", g.W.elements, shape: [s.units, s.units])
    try file.write("grad/b", g.b, shape: [s.units])
    if s.coupling == .dense { try file.write("grad/U", g.U.elements, shape: [s.units, s.inputs]) }
    if record.model == .trajectory { try file.write("grad/x0", g.x0, shape: [s.units]) }
    if let objective = record.objective { try file.setAttribute("objective", string: objective) }
    for (key, value) in record.solverAttributes.sorted(by: { $0.key < $1.key }) {
      try file.setAttribute(key, string: value)
    }
    for (key, value) in record.toleranceAttributes.sorted(by: { $0.key < $1.key }) {
      try file.setAttribute(key, double: value)
    }
  }

  /// Reads back what `write` wrote (for checks); the layout fixes the shapes.
  public static func read(
    _ path: String, layout: ParameterLayout
  ) throws -> (loss: Double, gradient: Parameters<Double>) {
    let file = try HDF5File.open(path)
    try checkHeader(file, is: .gradients)
    var g = Parameters<Double>(layout: layout)
    let grad = try file.group("grad")
    g.values.replaceSubrange(layout.w, with: try grad.dataset("W").read(as: Double.self))
    g.values.replaceSubrange(layout.b, with: try grad.dataset("b").read(as: Double.self))
    if !layout.u.isEmpty { g.values.replaceSubrange(layout.u, with: try grad.dataset("U").read(as: Double.self)) }
    if !layout.x0.isEmpty { g.values.replaceSubrange(layout.x0, with: try grad.dataset("x0").read(as: Double.self)) }
    return (try file.numberAttribute("loss"), g)
  }
}

/// States read from any file with /states: steady (P, N) or trajectory (P, T+1, N).
public struct StatesRecord: Sendable {
  /// The states, row-major in `shape`.
  public var values: [Double]
  /// (P, N) or (P, T+1, N).
  public var shape: [Int]
}

/// Reading the states `rbp invert` inverts, and writing its files (format `rbp-inverse`).
public enum InverseFile {
  /// /states of any HDF5 file (its `format` is not checked), with rank 2 or 3.
  public static func readStates(_ path: String) throws -> StatesRecord {
    let file = try HDF5File.open(path)
    let d = try file.dataset("states")
    let declared = try d.shape, rank = declared.count
    guard rank == 2 || rank == 3 else {
      throw d.fail("has rank \(rank) (shape \(declared)), expected (P, N) or (P, T+1, N)")
    }
    let (values, shape) = try readArray(file, "states", rank: rank, as: Double.self)
    return StatesRecord(values: values, shape: shape)
  }

  /// Writes /drive: steady (P, N), trajectory (P, T, N); with
  /// `inverseSlopes`, /inverse_slopes of the same shape; with `dense`,
  /// /jacobian = ∂a/∂x and /sensitivity = ∂x/∂a, (P, M, M) with M = N
  /// (steady) or T·N (trajectory).
  public static func write(
    drive: [Double], shape: [Int], model: ModelKind, inverseSlopes: [Double]? = nil,
    dense: (jacobian: [Double], sensitivity: [Double], size: Int)? = nil, to path: String
  ) throws {
    try writeHDF5Atomically(to: path) { file in
      try writeHeader(file, .inverse)
      try file.setAttribute("model", string: model.rawValue)
      try file.write("drive", drive, shape: shape)
      if let inverseSlopes { try file.write("inverse_slopes", inverseSlopes, shape: shape) }
      if let dense {
        try file.write("jacobian", dense.jacobian, shape: [shape[0], dense.size, dense.size])
        try file.write("sensitivity", dense.sensitivity, shape: [shape[0], dense.size, dense.size])
      }
    }
  }
}

/// The forward pass alone (written by `rbp states`): /states shaped as in
/// the gradients file, the objective's value and the model.
public enum StatesFile {
  /// Writes a states file atomically.
  ///
  /// - Parameters:
  ///   - states: the states, row-major in `shape`.
  ///   - shape: (P, N) steady, (P, T+1, N) trajectory.
  ///   - model: steady or trajectory.
  ///   - loss: the objective's value.
  ///   - settled: steady models: whether each pattern settled
  ///     (/settled, int8, and the attribute `unsettled`); the unsettled
  ///     patterns' rows of /states are NaN.
  ///   - path: the file to write.
  public static func write(
    states: [Double], shape: [Int], model: ModelKind, loss: Double, settled: [Bool]? = nil,
    to path: String
  ) throws {
    try writeHDF5Atomically(to: path) { file in
      try writeHeader(file, .states)
      try file.setAttribute("model", string: model.rawValue)
      try file.setAttribute("loss", double: loss)
      try file.write("states", states, shape: shape)
      if let settled {
        try file.write("settled", settled.map { $0 ? Int8(1) : 0 }, shape: [settled.count])
        try file.setAttribute("unsettled", int: settled.filter { !$0 }.count)
      }
    }
  }
}

/// A cotangent c = ∂R/∂x for `rbp grad --cotangent` (SPEC §1.4).
public enum CotangentFile {
  /// The shape of /dstates, and a reader of its rows (patterns), each piece
  /// checked for non-finite values (named by pattern, step and column).
  public static func rows(
    _ path: String
  ) throws -> (shape: [Int], read: (_ first: Int, _ count: Int) throws -> [Double]) {
    let file = try HDF5File.open(path)
    guard file.exists("dstates") else {
      throw file.fail("has no /dstates (the cotangent ∂R/∂x: (P, N) steady or (P, T, N) trajectory)")
    }
    let d = try file.dataset("dstates")
    let shape = try d.shape
    guard shape.count == 2 || shape.count == 3 else {
      throw d.fail("has rank \(shape.count), expected (P, N) steady or (P, T, N) trajectory")
    }
    let kind = try d.kind
    guard kind == .float || kind == .integer else { throw d.fail("holds \(kind) values, expected numbers") }
    _ = try d.checkedCount()
    return (
      shape,
      { first, count in
        let values: [Double] = try d.readRows(first, count: count)
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
          var local = shape
          local[0] = count
          throw d.fail(
            "holds a non-finite value (\(values[bad])) \(location(bad, shape: local, rows: Array(first..<(first + count))))"
          )
        }
        return values
      }
    )
  }
}

/// The distinct steady states of each pattern (written by `rbp
/// fixed-points`): one row per point, K in all.
public enum FixedPointsFile {
  /// Writes /states (K, N), /pattern, /hits (int64), /spectral_radius,
  /// /abscissa, /residual (f64), /stable and /reached (int8), and the
  /// attribute `starts`.
  public static func write(
    starts: Int, units: Int, states: [Double], pattern: [Int], spectralRadius: [Double],
    abscissa: [Double], stable: [Bool], residual: [Double], hits: [Int], reached: [Bool],
    to path: String
  ) throws {
    let k = pattern.count
    try writeHDF5Atomically(to: path) { f in
      try writeHeader(f, .fixedPoints)
      try f.setAttribute("starts", int: starts)
      try f.write("states", states, shape: [k, units])
      try f.write("pattern", pattern.map { Int64($0) }, shape: [k])
      try f.write("spectral_radius", spectralRadius, shape: [k])
      try f.write("abscissa", abscissa, shape: [k])
      try f.write("stable", stable.map { $0 ? Int8(1) : 0 }, shape: [k])
      try f.write("residual", residual, shape: [k])
      try f.write("hits", hits.map { Int64($0) }, shape: [k])
      try f.write("reached", reached.map { $0 ? Int8(1) : 0 }, shape: [k])
    }
  }
}
