// Structured fuzzing of run configurations and sweep specs: valid JSON
// texts damaged by random edits (values replaced by other types and
// extreme numbers, keys doubled, characters deleted, inserted or cut off),
// with a fixed seed. Each must parse and resolve, or give a one-line
// error: never a crash or a trap.

import Foundation
import RBPCore
import RBPStore
import RBPTestSupport
import RBPTrain
import Testing

@Suite("Fuzzed configurations")
struct ConfigFuzzTests {
  @Test func damagedConfigsAndSpecsGiveErrorsNotCrashes() throws {
    var rng = SeededGenerator(seed: 1130)
    let summary = try DatasetSummary.read(shipped("xor"))
    let config =
      #"{"epochs": 3, "lr": 0.1, "units": 4, "activation": "tanh", "solver": "auto", "seed": 2, "batch": 8, "stop-when-solved": true, "memory": 5, "tolerance": 1e-6}"#
    let spec =
      #"{"data": "\#(shipped("xor"))", "base": {"epochs": 2, "units": 4}, "grid": {"lr": [0.1, 0.2], "seed": [0, 1]}, "runs": [{"epochs": 1}]}"#
    let replacements = [
      "null", "true", "\"x\"", "-1", "0", "2.5", "1e30", "1e400", "-1e400", "1e-400", "[]", "{}", "\"nan\"",
      "9223372036854775807", "-9223372036854775808", "18446744073709551616", "[1, 2]", "\"\"",
    ]
    func pick<E>(_ xs: [E]) -> E { xs[Int(rng.next() % UInt64(xs.count))] }
    func damaged(_ text: String) -> String {
      var t = Array(text)
      for _ in 0..<(1 + Int(rng.next() % 3)) {
        switch rng.next() % 5 {
        case 0, 1:  // a value after some ':' replaced
          let colons = t.indices.filter { t[$0] == ":" }
          guard let c = colons.isEmpty ? nil : pick(colons) else { continue }
          var end = c + 1
          var depth = 0
          while end < t.count {
            if "[{".contains(t[end]) { depth += 1 }
            if "]}".contains(t[end]) {
              if depth == 0 { break }
              depth -= 1
            }
            if t[end] == "," && depth == 0 { break }
            end += 1
          }
          t.replaceSubrange((c + 1)..<end, with: Array(" " + pick(replacements)))
        case 2:  // the first key doubled with another value
          if let brace = t.firstIndex(of: "{") {
            t.insert(contentsOf: Array(#""epochs": \#(pick(replacements)), "#), at: brace + 1)
          }
        case 3:  // a character deleted or inserted
          guard !t.isEmpty else { continue }
          let i = Int(rng.next() % UInt64(t.count))
          if rng.next() % 2 == 0 { t.remove(at: i) } else { t.insert(pick(Array("{}[],:\"0e-.x")), at: i) }
        default:  // cut off
          t = Array(t.prefix(Int(rng.next() % UInt64(t.count + 1))))
        }
      }
      return String(t)
    }
    var outcomes = (ok: 0, errors: 0)
    for index in 0..<1500 {
      let isSpec = index % 2 == 1
      let text = damaged(isSpec ? spec : config)
      do {
        if isSpec {
          let s = try SweepSpec.parse(json: Data(text.utf8), source: "spec")
          for run in s.runs { _ = try run.resolved(for: summary) }
        } else {
          _ = try RunConfig.parse(json: Data(text.utf8), source: "config").resolved(for: summary)
        }
        outcomes.ok += 1
      } catch {
        outcomes.errors += 1
        let message = "\(error)"
        #expect(!message.isEmpty && !message.contains("\n"), "case \(index) (\(text)): \(message)")
      }
    }
    // Both outcomes occur: the edits reach the checks and also leave valid texts.
    #expect(outcomes.errors > 500 && outcomes.ok > 20, "\(outcomes)")
  }
}
