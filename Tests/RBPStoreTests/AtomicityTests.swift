// Atomic writes: a writer killed while it writes never leaves a file that
// fails to load; the previous version survives intact, and the next
// successful write removes the killed writers' temporaries. The kills are
// placed, not hoped for: with RBP_TEST_WRITE_PAUSE the writer marks and
// pauses at two points (contents written but the file still open; complete
// on disk but not yet renamed), and the test kills it there.

import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTestSupport
import Testing

/// Starts `rbp` with the write pause on.
func startPausingWriter(_ arguments: [String], pause: String = "30") throws -> ChildProcess {
  try ChildProcess(rbpBinary, arguments, environment: ["RBP_TEST_WRITE_PAUSE": pause])
}

/// Waits until `count` markers of `phase` for writes of `name` exist in
/// `folder` (or the process ends); true when they do.
func waitForPause(_ folder: String, _ name: String, phase: Int, count: Int = 1, of process: ChildProcess) -> Bool {
  for _ in 0..<6000 {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    // This writer's markers only, not those a killed predecessor left.
    let mine = temporaryPrefix(for: name, pid: process.processIdentifier)
    if entries.filter({ $0.hasPrefix(mine) && $0.hasSuffix(".paused-\(phase)") }).count >= count {
      return true
    }
    if !process.isRunning { return false }
    usleep(10_000)
  }
  return false
}

@Suite("Atomic writes", .serialized)
struct AtomicityTests {
  @Test func writersKilledMidWriteNeverLeaveABrokenFile() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/task.h5"
    let first = try runProgram(rbpBinary, ["datasets", "make", "sine", "--out", path])
    try #require(first.status == 0, "rbp datasets make failed: \(first.err)")
    guard case let .trajectory(original) = try DatasetFile.read(path, as: Double.self) else { return }
    for phase in [1, 2] {
      for attempt in 0..<3 {
        let writer = try startPausingWriter(
          [
            "datasets", "make", "delayed-xor", "--count", "300", "--length", "40",
            "--seed", "\(attempt)", "--out", path,
          ],
          pause: phase == 1 ? "30,0" : "0,30")
        let paused = waitForPause(dir, "task.h5", phase: phase, of: writer)
        kill(writer.processIdentifier, SIGKILL)
        let ending = writer.wait()
        #expect(paused, "the writer never reached pause \(phase)")
        let temporaries = try FileManager.default.contentsOfDirectory(atPath: dir)
          .filter {
            $0.hasPrefix(temporaryPrefix(for: "task.h5", pid: writer.processIdentifier)) && !$0.contains(".paused-")
          }
        #expect(temporaries.count == 1, "no temporary: the writer was not killed mid-write")
        #expect(ending == .signal(SIGKILL))
        // Killed mid-write: the previous version, intact.
        guard case let .trajectory(now) = try DatasetFile.read(path, as: Double.self) else {
          Issue.record("the file changed kind")
          return
        }
        #expect(now == original, "phase \(phase), attempt \(attempt): the previous version changed")
      }
    }
    // A completed write replaces the file and cleans up the temporaries.
    let done = try runProgram(rbpBinary, ["datasets", "make", "delayed-xor", "--count", "300", "--out", path])
    #expect(done.status == 0)
    guard case let .trajectory(replaced) = try DatasetFile.read(path, as: Double.self) else { return }
    #expect(replaced.count == 300)
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
    #expect(leftovers.isEmpty, "temporaries left: \(leftovers)")
  }

  /// The same for checkpoints: training that writes a checkpoint every
  /// epoch, killed in the middle of its second checkpoint write (so the
  /// first one, a later epoch than before, has landed): the checkpoint
  /// always loads, and each round gets further.
  @Test func trainingKilledMidCheckpointNeverLeavesABrokenOne() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let data = repositoryRoot + "/datasets/xor.h5"
    let first = try runProgram(
      rbpBinary,
      [
        "train", "--data", data, "--out", dir, "--units", "40",
        "--epochs", "1", "--quiet",
      ])
    try #require(first.status == 0, "rbp train failed: \(first.err)")
    var epoch = try CheckpointFile.read(dir + "/checkpoint.h5").epoch
    for round in 0..<4 {
      let phase = round % 2 + 1
      let trainer = try startPausingWriter(
        [
          "train", "--data", data, "--out", dir, "--units", "40",
          "--epochs", "100000", "--checkpoint-every", "1", "--resume", "--quiet",
        ],
        pause: "0.3")
      let paused = waitForLaterWrite(dir, phase: phase, trainer)
      kill(trainer.processIdentifier, SIGKILL)
      trainer.wait()
      #expect(paused, "round \(round): the trainer never reached its second checkpoint write")
      let checkpoint = try CheckpointFile.read(dir + "/checkpoint.h5")
      #expect(checkpoint.epoch > epoch, "round \(round): epoch \(checkpoint.epoch), before \(epoch)")
      #expect(checkpoint.shape.units == 40)
      epoch = checkpoint.epoch
    }
  }
}

/// Waits until the trainer is paused at `phase` of a checkpoint write that
/// is not its first (a completed write removes its markers; a later one
/// shows under another temporary name); false if it ends first.
func waitForLaterWrite(_ folder: String, phase: Int, _ process: ChildProcess) -> Bool {
  var first: String?
  let mine = temporaryPrefix(for: "checkpoint.h5", pid: process.processIdentifier)  // not a killed predecessor's
  for _ in 0..<6000 {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    for marker in entries where marker.hasPrefix(mine) && marker.contains(".paused-") {
      let temporary = marker.components(separatedBy: ".paused-")[0]
      if first == nil { first = temporary }
      if temporary != first && marker.hasSuffix(".paused-\(phase)") { return true }
    }
    if !process.isRunning { return false }
    usleep(10_000)
  }
  return false
}
