// Atomic writes: a writer killed with SIGKILL at random points, many times,
// never leaves a file that fails to load; the previous version survives
// intact, and a successful rewrite removes the killed writers' temporaries.

import Foundation
import Testing
import RBPCore
import RBPKernels
import RBPStore

@Suite("Atomic writes")
struct AtomicityTests {
  @Test func killedWritersNeverLeaveABrokenFile() throws {
    let dir = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/task.h5"
    let rbp = rbpExecutable
    // The first version: a small file. Each killed writer tries to replace
    // it with a large one (about 4 MB, several hundred milliseconds).
    let first = try runProgram(rbp, ["datasets", "make", "sine", "--out", path])
    try #require(first.status == 0, "rbp datasets make failed: \(first.err)")
    guard case let .trajectory(original) = try DatasetFile.read(path, as: Double.self) else { return }
    var rng = SeededGenerator(seed: 99)
    var killed = 0
    for attempt in 0..<25 {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: rbp)
      process.arguments = ["datasets", "make", "delayed-xor", "--count", "4000", "--length", "60",
                           "--seed", "\(attempt)", "--out", path]
      process.standardError = FileHandle.nullDevice
      try process.run()
      usleep(UInt32.random(in: 1_000...250_000, using: &rng))
      if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        killed += 1
      }
      process.waitUntilExit()
      // Whatever happened, the file loads: the old version or a complete new one.
      let contents = try DatasetFile.read(path, as: Double.self)
      if process.terminationReason == .uncaughtSignal {
        if case let .trajectory(b) = contents, b.steps == original.steps {
          #expect(b == original, "attempt \(attempt): the previous version changed")
        }
      }
    }
    #expect(killed >= 5, "only \(killed) writers were killed mid-write; the test proves little")
    // A completed write cleans up the temporaries the killed writers left.
    let done = try runProgram(rbp, ["datasets", "make", "sine", "--out", path])
    #expect(done.status == 0)
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
    #expect(leftovers.isEmpty, "temporaries left: \(leftovers)")
  }

  /// The same for checkpoints: training runs that write a checkpoint
  /// every epoch, killed at random moments; the checkpoint always loads,
  /// at an epoch no earlier than before.
  @Test func killedTrainingNeverLeavesABrokenCheckpoint() throws {
    let dir = try temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let data = packageRoot + "/datasets/xor.h5"
    let first = try runProgram(rbpExecutable, ["train", "--data", data, "--out", dir, "--units", "150",
                                               "--epochs", "1", "--quiet"])
    try #require(first.status == 0, "rbp train failed: \(first.err)")
    var epoch = try CheckpointFile.read(dir + "/checkpoint.h5").epoch
    var rng = SeededGenerator(seed: 5)
    var killed = 0
    for _ in 0..<12 {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: rbpExecutable)
      process.arguments = ["train", "--data", data, "--out", dir, "--units", "150", "--epochs", "100000",
                           "--checkpoint-every", "1", "--resume", "--quiet"]
      try process.run()
      usleep(UInt32.random(in: 800_000...3_000_000, using: &rng))
      if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        killed += 1
      }
      process.waitUntilExit()
      let checkpoint = try CheckpointFile.read(dir + "/checkpoint.h5")
      #expect(checkpoint.epoch >= epoch)
      #expect(checkpoint.shape.units == 150)
      epoch = checkpoint.epoch
    }
    #expect(killed >= 10 && epoch > 1, "killed \(killed), reached epoch \(epoch)")
  }
}
