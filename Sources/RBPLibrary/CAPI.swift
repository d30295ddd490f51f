// The C library (`librbp`, header `rbp.h`): every function of the header,
// each a thin wrapper that checks its arguments, calls the analysis layer
// the command line calls (RBPAnalysis), and turns any error into RBP_ERROR
// and the command line's one-line message (rbp_last_error). No Swift type
// crosses the boundary: networks are opaque handles, arrays are the
// caller's (CallerArrays.swift).

import CRBPLibrary
import Foundation
import RBPAnalysis
import RBPCore
import RBPKernels
import RBPStore
import RBPTrain

/// What an `rbp_network *` points to: a network with its solver settings,
/// immutable, and the precision its computations run in.
final class NetworkHandle: Sendable {
  let analysis: Analysis
  let precision: Precision
  init(_ analysis: Analysis, precision: Precision) {
    self.analysis = analysis
    self.precision = precision
  }

  static func from(_ pointer: OpaquePointer?) throws -> NetworkHandle {
    guard let pointer else { throw RBPError.invalid("no network (a null handle)") }
    return Unmanaged<NetworkHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
  }

  var checkpoint: Checkpoint { analysis.checkpoint }
  var units: Int { checkpoint.shape.units }
}

/// Runs `body`; an error becomes RBP_ERROR with its message kept for
/// `rbp_last_error`.
func guarded(_ body: () throws -> Void) -> Int32 {
  do {
    try body()
    return RBP_OK
  } catch {
    rbp_error_set_("\(error)")
    return RBP_ERROR
  }
}

/// The precision a dtype argument asks for (0: f64).
func precision(ofDtype dtype: Int32) throws -> Precision {
  switch dtype {
  case 0, RBP_F64: return .f64
  case RBP_F32: return .f32
  default: throw RBPError.invalid("dtype \(dtype) is neither float32 nor float64")
  }
}

/// Solver settings from a JSON object, with the command line's names:
/// only the solver settings (and, for trajectories, bptt and window).
func solverSettings(_ json: UnsafePointer<CChar>?) throws -> RunConfig {
  guard let json else { return RunConfig() }
  let config = try RunConfig.parse(json: Data(String(cString: json).utf8), source: "solver settings")
  for setting in RunConfig.settings where setting.value(in: config) != nil {
    guard setting.group == .solver || ["bptt", "window"].contains(setting.name) else {
      throw RBPError.invalid("solver settings: '\(setting.name)' is not a solver setting")
    }
  }
  return config
}

/// A C string that must be given.
func string(_ pointer: UnsafePointer<CChar>?, _ name: String) throws -> String {
  guard let pointer else { throw RBPError.invalid("\(name): not given") }
  return String(cString: pointer)
}

/// A C string made once and never freed, for the process's lifetime.
struct PermanentCString: @unchecked Sendable {
  let pointer: UnsafePointer<CChar>
  init(_ text: String) { pointer = UnsafePointer(strdup(text)!) }
}

private let versionText = PermanentCString(RBPVersion.string)
private let kernelsText = PermanentCString(KernelISA.active.description)

@_cdecl("rbp_version")
public func rbpVersion() -> UnsafePointer<CChar> { versionText.pointer }

@_cdecl("rbp_kernels")
public func rbpKernels() -> UnsafePointer<CChar> { kernelsText.pointer }

/// Hands a new handle to the caller.
func handOut(_ analysis: Analysis, precision: Precision, _ out: UnsafeMutablePointer<OpaquePointer?>?) throws {
  guard let out else { throw RBPError.invalid("out: no place for the network") }
  out.pointee = OpaquePointer(Unmanaged.passRetained(NetworkHandle(analysis, precision: precision)).toOpaque())
}

@_cdecl("rbp_load")
public func rbpLoad(
  _ path: UnsafePointer<CChar>?, _ dtype: Int32, _ solverJSON: UnsafePointer<CChar>?,
  _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
  guarded {
    let path = try string(path, "path")
    let precision = try precision(ofDtype: dtype)
    let checkpoint = try readCheckpoint(path)
    try handOut(
      Analysis(checkpoint: checkpoint, source: path, solver: try solverSettings(solverJSON)), precision: precision, out)
  }
}

/// A checkpoint holding the network given as arrays.
func checkpointFromArrays(
  model: ModelKind, w: UnsafePointer<rbp_array>?, b: UnsafePointer<rbp_array>?, u: UnsafePointer<rbp_array>?,
  x0: UnsafePointer<rbp_array>?, leak: Double, activation: UnsafePointer<CChar>?, loss: UnsafePointer<CChar>?,
  outputs: Int64
) throws -> Checkpoint {
  let w = try CallerArray(w, name: "W"), b = try CallerArray(b, name: "b")
  let u = try CallerArray.optional(u, name: "U")
  let n = try w.expect([nil, nil], "(N, N)")[0]
  try w.expect([n, n], "(N, N)")
  try b.expect([n], "(N)")
  let inputs = try u?.expect([n, nil], "(N, I)")[1] ?? 0
  let activationName = try string(activation, "activation")
  guard let activation = Activation(rawValue: activationName) else {
    throw RBPError.invalid(
      "activation: '\(activationName)' is not one of "
        + Activation.allCases.map(\.rawValue).joined(separator: ", "))
  }
  let lossName = loss.map { String(cString: $0) } ?? "mse"
  guard let loss = Loss(rawValue: lossName) else {
    throw RBPError.invalid("loss: '\(lossName)' is not one of " + Loss.allCases.map(\.rawValue).joined(separator: ", "))
  }
  let shape = try NetworkShape(units: n, inputs: inputs, outputs: Int(outputs), coupling: u == nil ? .identity : .dense)
  var p = Parameters<Double>(layout: ParameterLayout(shape: shape, hasInitialState: model == .trajectory))
  p.values.replaceSubrange(p.layout.w, with: w.values())
  p.values.replaceSubrange(p.layout.b, with: b.values())
  if let u { p.values.replaceSubrange(p.layout.u, with: u.values()) }
  if model == .trajectory {
    let x0 = try CallerArray(x0, name: "x0")
    try x0.expect([n], "(N)")
    p.values.replaceSubrange(p.layout.x0, with: x0.values())
  }
  if let bad = p.values.firstIndex(where: { !$0.isFinite }) {
    throw RBPError.invalid("the parameters hold a non-finite value (\(p.values[bad]))")
  }
  guard leak > 0 && leak <= 1 else { throw RBPError.invalid("leak must be in (0, 1], got \(leak)") }
  return Checkpoint(
    model: model, activation: activation, loss: loss, leak: model == .trajectory ? leak : 1,
    parameters: p)
}

@_cdecl("rbp_steady_new")
public func rbpSteadyNew(
  _ w: UnsafePointer<rbp_array>?, _ b: UnsafePointer<rbp_array>?, _ u: UnsafePointer<rbp_array>?,
  _ activation: UnsafePointer<CChar>?, _ loss: UnsafePointer<CChar>?, _ outputs: Int64, _ symmetric: Int32,
  _ dtype: Int32, _ solverJSON: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
  guarded {
    let precision = try precision(ofDtype: dtype)
    var checkpoint = try checkpointFromArrays(
      model: .steady, w: w, b: b, u: u, x0: nil, leak: 1, activation: activation,
      loss: loss, outputs: outputs)
    if symmetric != 0 {
      guard checkpoint.parameters.weightsAreSymmetric else {
        throw RBPError.invalid("W: is not symmetric with a zero diagonal, as symmetric = 1 says")
      }
      checkpoint.symmetric = true
    }
    try handOut(
      Analysis(checkpoint: checkpoint, source: "network", solver: try solverSettings(solverJSON)),
      precision: precision, out)
  }
}

@_cdecl("rbp_trajectory_new")
public func rbpTrajectoryNew(
  _ w: UnsafePointer<rbp_array>?, _ b: UnsafePointer<rbp_array>?, _ u: UnsafePointer<rbp_array>?,
  _ x0: UnsafePointer<rbp_array>?, _ leak: Double, _ activation: UnsafePointer<CChar>?,
  _ loss: UnsafePointer<CChar>?, _ outputs: Int64, _ dtype: Int32, _ solverJSON: UnsafePointer<CChar>?,
  _ out: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
  guarded {
    let precision = try precision(ofDtype: dtype)
    let checkpoint = try checkpointFromArrays(
      model: .trajectory, w: w, b: b, u: u, x0: x0, leak: leak,
      activation: activation, loss: loss, outputs: outputs)
    try handOut(
      Analysis(checkpoint: checkpoint, source: "network", solver: try solverSettings(solverJSON)),
      precision: precision, out)
  }
}

@_cdecl("rbp_free")
public func rbpFree(_ net: OpaquePointer?) {
  guard let net else { return }
  Unmanaged<NetworkHandle>.fromOpaque(UnsafeRawPointer(net)).release()
}

/// Copies `text` into a fixed C char array of 16.
func fill16(
  _ field:
    inout (
      CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar,
      CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar
    ), _ text: String
) {
  withUnsafeMutableBytes(of: &field) { bytes in
    bytes.initializeMemory(as: UInt8.self, repeating: 0)
    for (i, c) in text.utf8.prefix(15).enumerated() { bytes[i] = c }
  }
}

@_cdecl("rbp_info_get")
public func rbpInfoGet(_ net: OpaquePointer?, _ out: UnsafeMutablePointer<rbp_info>?) -> Int32 {
  guarded {
    let h = try NetworkHandle.from(net)
    guard let out else { throw RBPError.invalid("out: no place for the information") }
    let ck = h.checkpoint
    var info = rbp_info()
    info.model = ck.model == .steady ? RBP_STEADY : RBP_TRAJECTORY
    info.dtype = h.precision == .f64 ? RBP_F64 : RBP_F32
    info.units = Int64(ck.shape.units)
    info.inputs = Int64(ck.shape.inputs)
    info.outputs = Int64(ck.shape.outputs)
    info.dense_coupling = ck.shape.coupling == .dense ? 1 : 0
    info.symmetric = ck.symmetric ? 1 : 0
    info.leak = ck.leak
    fill16(&info.activation, ck.activation.rawValue)
    fill16(&info.loss, ck.loss.rawValue)
    out.pointee = info
  }
}

@_cdecl("rbp_parameters")
public func rbpParameters(
  _ net: OpaquePointer?, _ w: UnsafeMutablePointer<rbp_array>?,
  _ b: UnsafeMutablePointer<rbp_array>?, _ u: UnsafeMutablePointer<rbp_array>?,
  _ x0: UnsafeMutablePointer<rbp_array>?
) -> Int32 {
  guarded {
    let h = try NetworkHandle.from(net)
    let values = h.checkpoint.parameters.values
    let writes = try h.parameterBlocks(
      w: try CallerArray.optional(w, name: "W"), b: try CallerArray.optional(b, name: "b"),
      u: try CallerArray.optional(u, name: "U"), x0: try CallerArray.optional(x0, name: "x0"))
    for (array, range) in writes { array.write(Array(values[range])) }
  }
}

@_cdecl("rbp_save")
public func rbpSave(_ net: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
  guarded {
    let h = try NetworkHandle.from(net)
    try CheckpointFile.write(h.checkpoint, to: try string(path, "path"))
  }
}
