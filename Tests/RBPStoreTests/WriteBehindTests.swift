// Writes whose sync and rename come later (`WriteBehind`, a sweep's runs):
// the files appear in the order they were written, each only once complete,
// work queued after a write sees it in place, and a write that fails in the
// background is reported by `finish()`, naming the file, with nothing left
// behind.

import Dispatch
import Foundation
import RBPStore
import RBPTestSupport
import Testing

@Suite("Write-behind")
struct WriteBehindTests {
  @Test func filesAppearInOrderOnceComplete() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let behind = WriteBehind()
    // Hold the queue so that nothing is in place yet when the writes return.
    let gate = DispatchSemaphore(value: 0)
    behind.enqueue { gate.wait() }
    let (first, second) = (dir + "/checkpoint.bin", dir + "/result.json")
    try writeBytesAtomically(Data(repeating: 7, count: 100_000), to: first, behind: behind)
    let seenFirst = Flag()
    behind.enqueue { seenFirst.set(FileManager.default.contents(atPath: first)?.count == 100_000) }
    try writeBytesAtomically(Data("{}".utf8), to: second, behind: behind)
    let seenBoth = Flag()
    behind.enqueue {
      seenBoth.set(FileManager.default.fileExists(atPath: first) && FileManager.default.fileExists(atPath: second))
    }
    #expect(!FileManager.default.fileExists(atPath: first) && !FileManager.default.fileExists(atPath: second))
    gate.signal()
    try behind.finish()
    #expect(seenFirst.value && seenBoth.value)
    #expect(FileManager.default.contents(atPath: second) == Data("{}".utf8))
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["checkpoint.bin", "result.json"])
  }

  @Test func aFailureInTheBackgroundIsReportedByFinish() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let behind = WriteBehind()
    let gate = DispatchSemaphore(value: 0)
    behind.enqueue { gate.wait() }
    let lost = dir + "/lost.h5"
    try writeBytesAtomically(Data(repeating: 1, count: 10), to: lost, behind: behind)
    try writeBytesAtomically(Data(repeating: 2, count: 10), to: dir + "/kept.h5", behind: behind)
    // The temporary vanishes before its sync (as a second signal removes it).
    for entry in try FileManager.default.contentsOfDirectory(atPath: dir) where entry.hasPrefix(".lost.h5.tmp-") {
      try FileManager.default.removeItem(atPath: dir + "/" + entry)
    }
    gate.signal()
    #expect {
      try behind.finish()
    } throws: { error in
      "\(error)".contains(lost)
    }
    try behind.finish()  // reported once
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["kept.h5"])
  }
}

/// A Bool set on the write-behind's thread and read on the test's.
final class Flag: @unchecked Sendable {
  private let lock = NSLock()
  private var stored = false
  var value: Bool { lock.withLock { stored } }
  func set(_ value: Bool) { lock.withLock { stored = value } }
}
