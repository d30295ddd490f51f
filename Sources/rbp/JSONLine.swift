// One JSON object per line for --json output, written so that a number
// reads back as exactly the double the engine computed (Swift's shortest
// round-trip form; Foundation's serializer may drop the last digit), with
// keys sorted. JSON has no NaN or ∞: such values are written as null.

import Foundation
import RBPStore

/// `object` as one line of JSON. Values: Double, Float, Int, Bool, String,
/// arrays of these, nested objects, or nil (null).
func jsonLine(_ object: [String: Any?]) -> String {
  jsonText(object as Any?)
}

private func jsonText(_ value: Any?) -> String {
  switch value {
  case nil: return "null"
  case is NSNull: return "null"
  case let v as Double: return v.isFinite ? "\(v)" : "null"
  case let v as Float: return v.isFinite ? "\(Double(v))" : "null"
  case let v as Int: return "\(v)"
  case let v as Bool: return v ? "true" : "false"
  case let v as String: return jsonQuoted(v)
  case let v as [Any?]: return "[" + v.map(jsonText).joined(separator: ",") + "]"
  case let v as [String: Any?]:
    return "{" + v.keys.sorted().map { jsonQuoted($0) + ":" + jsonText(v[$0] ?? nil) }.joined(separator: ",") + "}"
  case let v as [String: Any]:
    return jsonText(v.mapValues { Optional($0) })
  case let v?: return jsonQuoted("\(v)")
  }
}

private func jsonQuoted(_ s: String) -> String { RBPStore.jsonQuoted(s, escapingSlashes: false) }
