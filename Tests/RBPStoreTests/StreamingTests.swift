// The minibatch stream: shuffled minibatches read by hyperslab equal the
// same rows of an in-memory load, epoch after epoch; the shuffle depends
// only on seed and epoch; and on a dataset of about 200 MB the stream holds
// at most two minibatches (asserted on its buffer accounting, not on RSS).

import Foundation
import RBPCore
import RBPKernels
import RBPStore
import RBPTestSupport
import Testing

@Suite("Minibatch streaming")
struct StreamingTests {
  struct NotTrajectories: Error {}

  /// Delayed-XOR sequences written to `dir`/dx.h5: the file's path and
  /// the sequences.
  func delayedXorFile(in dir: String, count: Int, length: Int) throws -> (path: String, all: TrajectoryBatch<Double>) {
    guard
      case let .trajectory(all, _) = try ClassicTask.delayedXor.make(
        Double.self, seed: 5, options: TaskOptions(count: count, length: length))
    else { throw NotTrajectories() }
    try DatasetFile.write(.trajectory(all), to: dir + "/dx.h5")
    return (dir + "/dx.h5", all)
  }

  @Test func streamedMinibatchesEqualAnInMemoryLoad() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (path, all) = try delayedXorFile(in: dir, count: 301, length: 9)
    let streamed = try MinibatchStream<Double>(path: path, batchSize: 32, seed: 11, inMemoryLimit: 0)
    let memory = try MinibatchStream<Double>(path: path, batchSize: 32, seed: 11)
    // Over contents read beforehand (a sweep's runs share them).
    let given = try MinibatchStream<Double>(contents: .trajectory(all), path: path, batchSize: 32, seed: 11)
    #expect(!streamed.inMemory && memory.inMemory && given.inMemory)
    #expect(given.count == memory.count && given.elementsPerPattern == memory.elementsPerPattern)
    // With a mask and initial states, and steady patterns, the sizes still agree with the file's.
    let masked = try TrajectoryBatch(
      count: 3, steps: 4, inputs: [Double](repeating: 0.5, count: 24), inputWidth: 2,
      targets: [Double](repeating: 0.1, count: 12), outputWidth: 1,
      mask: [Double](repeating: 1, count: 12),
      initial: Matrix(rows: 3, cols: 5, elements: [Double](repeating: 0, count: 15)))
    let steady = try SteadyBatch(
      inputs: Matrix(rows: 3, cols: 2, elements: [Double](repeating: 1, count: 6)),
      targets: Matrix(rows: 3, cols: 1, elements: [0, 1, 0]),
      mask: Matrix(rows: 3, cols: 1, elements: [1, 1, 0]),
      initial: Matrix(rows: 3, cols: 4, elements: [Double](repeating: 0, count: 12)))
    for (name, contents) in [("masked", DatasetContents<Double>.trajectory(masked)), ("steady", .steady(steady))] {
      try DatasetFile.write(contents, to: dir + "/\(name).h5")
      let read = try MinibatchStream<Double>(path: dir + "/\(name).h5", batchSize: 2)
      let held = try MinibatchStream<Double>(contents: contents, path: dir + "/\(name).h5", batchSize: 2)
      #expect(held.elementsPerPattern == read.elementsPerPattern && held.count == read.count, "\(name)")
    }
    for epoch in 0..<2 {
      streamed.startEpoch(epoch)
      memory.startEpoch(epoch)
      given.startEpoch(epoch)
      var seen: [Int] = []
      while let (indices, batch) = try streamed.next() {
        let other = try memory.next(), third = try given.next()
        #expect(other?.indices == indices && third?.indices == indices)
        guard case let .trajectory(b) = batch, case let .trajectory(o)? = other?.batch,
          case let .trajectory(g)? = third?.batch
        else {
          Issue.record("kind")
          return
        }
        #expect(b == all.subset(indices) && o == b && g == b)
        seen += indices
      }
      #expect(try memory.next() == nil && given.next() == nil)
      #expect(seen.sorted() == Array(0..<301), "epoch \(epoch) must visit every sequence once")
      #expect(seen != Array(0..<301), "epoch \(epoch) must be shuffled")
    }
    // Same seed and epoch, same order; another epoch, another order.
    let again = try MinibatchStream<Double>(path: path, batchSize: 32, seed: 11, inMemoryLimit: 0)
    again.startEpoch(1)
    streamed.startEpoch(1)
    #expect(try again.next()?.indices == streamed.next()?.indices)
    again.startEpoch(0)
    streamed.startEpoch(1)
    #expect(try again.next()?.indices != streamed.next()?.indices)
  }

  /// A minibatch of the whole set, read or held, is the set in its order in
  /// every epoch: shuffling it would change only the rounding of its sums.
  @Test func oneMinibatchOfTheWholeSetIsTheSetInOrder() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (path, all) = try delayedXorFile(in: dir, count: 23, length: 6)
    for (batchSize, limit) in [(23, 0), (23, MinibatchStream<Double>.defaultInMemoryLimit), (40, 0)] {
      let stream = try MinibatchStream<Double>(path: path, batchSize: batchSize, seed: 3, inMemoryLimit: limit)
      for epoch in 0..<3 {
        stream.startEpoch(epoch)
        let first = try #require(try stream.next())
        #expect(first.indices == Array(0..<23), "batch \(batchSize), epoch \(epoch)")
        guard case .trajectory(let b) = first.batch else {
          Issue.record("kind")
          return
        }
        #expect(b == all)
        #expect(try stream.next() == nil)
      }
    }
    // One pattern short of the set: two minibatches, shuffled.
    let split = try MinibatchStream<Double>(path: path, batchSize: 22, seed: 3)
    split.startEpoch(0)
    let indices = try #require(try split.next()).indices + (try #require(try split.next())).indices
    #expect(indices.sorted() == Array(0..<23) && indices != Array(0..<23))
  }

  @Test func memoryStaysBoundedOnALargeFile() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/large.h5"
    let (p, i, o) = (2_000, 256, 64)  // (256 + 64) · 4 B · 2 000 = 2.6 MB of float32
    var inputs = [Float](repeating: 0, count: p * i)
    for k in inputs.indices { inputs[k] = Float(k % 97) / 97 }
    var targets = [Float](repeating: 0, count: p * o)
    for k in targets.indices { targets[k] = Float(k / o % 13) }
    let batch = try SteadyBatch(
      inputs: Matrix(rows: p, cols: i, elements: inputs),
      targets: Matrix(rows: p, cols: o, elements: targets))
    try DatasetFile.write(.steady(batch), to: path)
    // Streamed as if it were larger than memory: the bound is on the
    // stream's buffer accounting, which does not depend on the file's size.
    let stream = try MinibatchStream<Float>(path: path, batchSize: 64, seed: 3, inMemoryLimit: 1 << 20)
    #expect(!stream.inMemory, "a dataset above the in-memory limit must be streamed")
    stream.startEpoch(0)
    for _ in 0..<10 {
      guard let (indices, contents) = try stream.next(), case let .steady(b) = contents else {
        Issue.record("no minibatch")
        return
      }
      var expected: [Float] = []
      for r in indices { for c in 0..<i { expected.append(Float((r * i + c) % 97) / 97) } }
      #expect(b.inputs.elements == expected)
    }
    #expect(stream.peakBufferedElements <= 2 * 64 * (i + o))
    #expect(stream.peakBufferedElements > 0)
  }
}
