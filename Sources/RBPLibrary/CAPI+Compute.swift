// The C library's computations: rbp_states, rbp_grad and rbp_invert. Each
// checks every array's dtype and shape before any work, builds the patterns
// as the dataset reader would, and calls the analysis layer the command
// line calls (`rbp states`, `rbp grad`, `rbp invert`), so the results are
// those of the command line, bit for bit.

import CRBPLibrary
import RBPAnalysis
import RBPCore
import RBPKernels
import RBPStore
import RBPTrain

extension NetworkHandle {
  /// The patterns of a call, as a dataset in memory: inputs (P, I) or
  /// (P, T, I); targets (P, O) or (P, T, O), zero when not given; mask
  /// shaped as the targets; initial (P, N).
  func patterns(
    inputs: CallerArray, initial: CallerArray?, targets: CallerArray?, mask: CallerArray?
  ) throws
    -> DatasetContents<Double>
  {
    let shape = checkpoint.shape
    let (n, i, o) = (shape.units, shape.inputs, shape.outputs)
    switch checkpoint.model {
    case .steady:
      let p = try inputs.expect([nil, i], "(P, I)")[0]
      guard p >= 1 else { throw RBPError.invalid("inputs: no patterns (P = 0)") }
      try targets?.expect([p, o], "(P, O)")
      try mask?.expect([p, o], "(P, O)")
      try initial?.expect([p, n], "(P, N)")
      return .steady(
        try SteadyBatch(
          inputs: Matrix(rows: p, cols: i, elements: try inputs.finiteValues()),
          targets: Matrix(rows: p, cols: o, elements: try targets?.finiteValues() ?? .init(repeating: 0, count: p * o)),
          mask: try mask.map { Matrix(rows: p, cols: o, elements: try checkedMask($0)) },
          initial: try initial.map { Matrix(rows: p, cols: n, elements: try $0.finiteValues()) }))
    case .trajectory:
      let s = try inputs.expect([nil, nil, i], "(P, T, I)")
      let (p, t) = (s[0], s[1])
      guard p >= 1, t >= 1 else { throw RBPError.invalid("inputs: no sequences or no steps (P = \(p), T = \(t))") }
      try targets?.expect([p, t, o], "(P, T, O)")
      try mask?.expect([p, t, o], "(P, T, O)")
      try initial?.expect([p, n], "(P, N)")
      return .trajectory(
        try TrajectoryBatch(
          count: p, steps: t, inputs: try inputs.finiteValues(), inputWidth: i,
          targets: try targets?.finiteValues() ?? .init(repeating: 0, count: p * t * o), outputWidth: o,
          mask: try mask.map(checkedMask),
          initial: try initial.map { Matrix(rows: p, cols: n, elements: try $0.finiteValues()) }))
    }
  }

  func checkedMask(_ mask: CallerArray) throws -> [Double] {
    let v = try mask.finiteValues()
    if let bad = v.firstIndex(where: { $0 < 0 }) {
      throw RBPError.invalid("mask: holds \(v[bad]) at flat index \(bad); mask values must be >= 0")
    }
    return v
  }

  /// The wanted parameter arrays (W, b, U, x0; nil: not wanted), each
  /// checked against its block of the network's parameters and paired
  /// with that block's range.
  func parameterBlocks(
    w: CallerArray?, b: CallerArray?, u: CallerArray?, x0: CallerArray?
  ) throws
    -> [(CallerArray, Range<Int>)]
  {
    let layout = checkpoint.parameters.layout, n = units
    var blocks: [(CallerArray, Range<Int>)] = []
    if let w {
      try w.expect([n, n], "(N, N)")
      blocks.append((w, layout.w))
    }
    if let b {
      try b.expect([n], "(N)")
      blocks.append((b, layout.b))
    }
    if let u {
      guard !layout.u.isEmpty else { throw RBPError.invalid("U: the network has identity coupling, no U") }
      try u.expect([n, layout.shape.inputs], "(N, I)")
      blocks.append((u, layout.u))
    }
    if let x0 {
      guard !layout.x0.isEmpty else { throw RBPError.invalid("x0: a steady network has no x0") }
      try x0.expect([n], "(N)")
      blocks.append((x0, layout.x0))
    }
    return blocks
  }

  /// The shape of the states of `data`: (P, N) or (P, T+1, N).
  func statesShape(_ data: DatasetContents<Double>) -> [Int] {
    switch data {
    case .steady(let b): [b.count, units]
    case .trajectory(let b): [b.count, b.steps + 1, units]
    }
  }
}

@_cdecl("rbp_states")
public func rbpStates(
  _ net: OpaquePointer?, _ inputs: UnsafePointer<rbp_array>?, _ initial: UnsafePointer<rbp_array>?,
  _ states: UnsafeMutablePointer<rbp_array>?, _ settled: UnsafeMutablePointer<Int8>?
) -> Int32 {
  guarded {
    let h = try NetworkHandle.from(net)
    let data = try h.patterns(
      inputs: try CallerArray(inputs, name: "inputs"),
      initial: try CallerArray.optional(initial, name: "initial"), targets: nil, mask: nil)
    let out = try CallerArray(states, name: "states")
    try out.expect(h.statesShape(data).map { $0 }, data.kind == .steady ? "(P, N)" : "(P, T+1, N)")
    let r = try h.analysis.states(data, in: h.precision)
    out.write(r.states)
    if let settled, let flags = r.settled {
      for (p, ok) in flags.enumerated() { settled[p] = ok ? 1 : 0 }
    }
  }
}

@_cdecl("rbp_grad")
public func rbpGrad(
  _ net: OpaquePointer?, _ inputs: UnsafePointer<rbp_array>?, _ initial: UnsafePointer<rbp_array>?,
  _ targets: UnsafePointer<rbp_array>?, _ mask: UnsafePointer<rbp_array>?, _ cotangent: UnsafePointer<rbp_array>?,
  _ mean: Int32, _ out: UnsafeMutablePointer<rbp_gradients>?
) -> Int32 {
  guarded {
    let h = try NetworkHandle.from(net)
    guard let out else { throw RBPError.invalid("out: no place for the gradients") }
    guard (targets == nil) != (cotangent == nil) else {
      throw RBPError.invalid(
        "give either targets (the built-in loss) or a cotangent dR/dx, not "
          + (targets == nil ? "neither" : "both"))
    }
    if mean != 0 && cotangent == nil { throw RBPError.invalid("mean applies only with a cotangent") }
    let data = try h.patterns(
      inputs: try CallerArray(inputs, name: "inputs"),
      initial: try CallerArray.optional(initial, name: "initial"),
      targets: try CallerArray.optional(targets, name: "targets"),
      mask: try CallerArray.optional(mask, name: "mask"))
    let c = try CallerArray.optional(cotangent, name: "cotangent")
    let cotangentShape = h.analysis.cotangentShape(data)
    let steady = data.kind == .steady
    try c?.expect(cotangentShape, steady ? "(P, N)" : "(P, T, N)")
    let cValues = try c?.finiteValues()
    // Every wanted output, checked before the work.
    func wanted(_ a: rbp_array, _ name: String) throws -> CallerArray? {
      guard a.data != nil else { return nil }
      return try withUnsafePointer(to: a) { try CallerArray($0, name: name) }
    }
    let g = out.pointee
    let outputs = try h.parameterBlocks(
      w: try wanted(g.W, "W"), b: try wanted(g.b, "b"), u: try wanted(g.U, "U"),
      x0: try wanted(g.x0, "x0"))
    let drive = try wanted(g.drive, "drive")
    if let drive {
      guard c != nil else { throw RBPError.invalid("drive: dR/da is computed only for a cotangent") }
      try drive.expect(cotangentShape, steady ? "(P, N)" : "(P, T, N)")
    }
    let states = try wanted(g.states, "states")
    try states?.expect(h.statesShape(data), steady ? "(P, N)" : "(P, T+1, N)")
    let r = try h.analysis.gradient(data, cotangent: cValues, mean: mean != 0, in: h.precision)
    for (array, range) in outputs { array.write(Array(r.gradient.values[range])) }
    if let drive, let d = r.drive { drive.write(d) }
    states?.write(r.states)
    if let flags = r.settled, let settled = g.settled {
      for (p, ok) in flags.enumerated() { settled[p] = ok ? 1 : 0 }
    }
    out.pointee.loss = r.loss
    out.pointee.unsettled = Int64(r.settled?.filter { !$0 }.count ?? 0)
  }
}

@_cdecl("rbp_invert")
public func rbpInvert(
  _ net: OpaquePointer?, _ states: UnsafePointer<rbp_array>?,
  _ drive: UnsafeMutablePointer<rbp_array>?
) -> Int32 {
  guarded {
    let h = try NetworkHandle.from(net)
    let x = try CallerArray(states, name: "states")
    let out = try CallerArray(drive, name: "drive")
    let n = h.units
    let shape: [Int]
    if h.checkpoint.model == .steady {
      shape = try x.expect([nil, n], "(P, N)")
      try out.expect(shape, "(P, N)")
    } else {
      shape = try x.expect([nil, nil, n], "(P, T+1, N)")
      guard shape[1] >= 2 else { throw RBPError.invalid("states: T+1 = \(shape[1]) steps, a trajectory needs T >= 1") }
      try out.expect([shape[0], shape[1] - 1, n], "(P, T, N)")
    }
    let r = try h.analysis.drives(forStates: try x.finiteValues(), shape: shape, source: "states")
    out.write(r.drive)
  }
}
