// What Foundation's JSON parser lets through and a configuration must not:
// a key given twice in one object (the parser keeps one silently, whatever
// the other held). A small scan of the text finds the first such key, with
// the path of the object it is in.

import Foundation

/// The first key that appears twice in one object of `data`, as
/// "grid.lr" (its object's path and the key), or nil. Assumes text the JSON
/// parser accepted.
func duplicateJSONKey(in data: Data) -> String? {
  enum Container {
    case object(keys: Set<String>, path: String, expectKey: Bool)
    case array(path: String)
  }
  var stack: [Container] = []
  var lastKey: String? = nil
  var bytes = data.makeIterator()
  func path() -> String {
    switch stack.last {
    case .object(_, let p, _)?: return p
    case .array(let p)?: return p
    case nil: return ""
    }
  }
  func childPath() -> String {
    let p = path(), key = lastKey ?? ""
    return p.isEmpty ? key : p + "." + key
  }
  while let byte = bytes.next() {
    switch byte {
    case UInt8(ascii: "\""):
      var text: [UInt8] = []
      while let b = bytes.next(), b != UInt8(ascii: "\"") {
        text.append(b)
        if b == UInt8(ascii: "\\"), let escaped = bytes.next() { text.append(escaped) }
      }
      if case .object(var keys, let p, true)? = stack.last {
        let key = String(decoding: text, as: UTF8.self)
        if keys.contains(key) { return p.isEmpty ? key : p + "." + key }
        keys.insert(key)
        stack[stack.count - 1] = .object(keys: keys, path: p, expectKey: false)
        lastKey = key
      }
    case UInt8(ascii: "{"):
      let p = stack.isEmpty ? "" : childPath()
      stack.append(.object(keys: [], path: p, expectKey: true))
    case UInt8(ascii: "["):
      stack.append(.array(path: stack.isEmpty ? "" : childPath()))
    case UInt8(ascii: "}"), UInt8(ascii: "]"):
      _ = stack.popLast()
    case UInt8(ascii: ","):
      if case .object(let keys, let p, _)? = stack.last {
        stack[stack.count - 1] = .object(keys: keys, path: p, expectKey: true)
      }
    default:
      continue
    }
  }
  return nil
}

/// Where and why a JSON parser refused the text: Foundation's description
/// ("Unexpected character … around line 1, column 9"), else its message.
func jsonErrorLocation(_ error: Error) -> String {
  let ns = error as NSError
  for key in [NSDebugDescriptionErrorKey, NSLocalizedFailureReasonErrorKey] {
    if let text = ns.userInfo[key] as? String, !text.isEmpty { return text }
  }
  return ns.localizedDescription
}
