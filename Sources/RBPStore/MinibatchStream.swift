// Streaming a dataset file in shuffled minibatches with bounded memory:
// each minibatch is one hyperslab read of its rows, and the next one is read
// in the background while the current one trains. A dataset small enough
// (`inMemoryLimit`) is read once and served from memory instead. The
// shuffle of each epoch depends only on the seed and the epoch number, so
// every run with the same seed sees the same minibatches; a single
// minibatch of the whole set is not shuffled. A stream opened
// `bySpans` reads no minibatch of a dataset it does not hold in memory:
// it hands out the indices, and the caller reads spans of steps of those
// sequences (`spans(for:)`) as BPTT reaches them.

import Dispatch
import Foundation
import RBPCore
import RBPKernels

/// Shuffled minibatches of a dataset file.
/// Driven by one thread; the prefetch closure captures only the (locked)
/// file handle, immutable values and its own `Prefetch`.
public final class MinibatchStream<T: KernelScalar & HDF5Numeric> {
  /// The dataset file.
  public let path: String
  /// Steady or trajectory.
  public let kind: ModelKind
  /// Patterns or sequences in the file.
  public let count: Int
  /// The patterns an epoch goes through (nil: all of them), in dataset order.
  public let subset: [Int]?
  /// Patterns or sequences per minibatch.
  public let batchSize: Int
  /// Whether each epoch draws a new order.
  public let shuffle: Bool
  /// The run's seed: an epoch's order depends on it and the epoch alone.
  public let seed: UInt64
  /// True when the whole dataset was small enough to hold in memory.
  public let inMemory: Bool
  /// True when minibatches are not read but handed out as indices
  /// (`nextIndices`), for the caller to read by spans of steps: a
  /// trajectory dataset opened `bySpans` and not held in memory.
  public let readsSpans: Bool

  /// Elements of one pattern (or sequence) across all arrays of the file.
  public let elementsPerPattern: Int
  /// The most elements held in minibatch buffers at once (the current and
  /// the prefetched one); the bound the stream promises is
  /// `2 · batchSize · elementsPerPattern` when not in memory.
  public private(set) var peakBufferedElements = 0

  /// The open file (nil for a stream over contents already read).
  private let file: HDF5File?
  private let whole: DatasetContents<T>?

  /// The largest dataset, in bytes, a stream holds whole unless told
  /// otherwise (the trainer's default too).
  public static var defaultInMemoryLimit: Int { 64 << 20 }

  /// The whole dataset when it was small enough to hold in memory, else nil.
  public var contents: DatasetContents<T>? { whole }
  private let queue = DispatchQueue(label: "rbp.minibatch-prefetch")
  private var order: [Int] = []
  private var position = 0
  private var pending: Prefetch?

  /// One minibatch being read in the background. `result` is written by
  /// the prefetch queue before it signals `done`, and read only after a
  /// wait on `done`: the semaphore orders the two.
  private final class Prefetch: @unchecked Sendable {
    let indices: [Int]
    var result: Result<DatasetContents<T>, Error>?
    let done = DispatchSemaphore(value: 0)
    init(_ indices: [Int]) { self.indices = indices }
  }

  /// Opens `path` for streaming. Validates it as a whole dataset read would,
  /// without reading the arrays unless they fit in `inMemoryLimit` bytes.
  /// `bySpans`: a trajectory dataset that does not fit is read by
  /// spans of steps (see `readsSpans`).
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init(
    path: String, batchSize: Int, shuffle: Bool = true, seed: UInt64 = 0,
    inMemoryLimit: Int = defaultInMemoryLimit, bySpans: Bool = false, subset: [Int]? = nil
  ) throws {
    self.subset = subset
    guard batchSize >= 1 else { throw RBPError.invalid("batch size must be at least 1, got \(batchSize)") }
    self.path = path
    self.batchSize = batchSize
    self.shuffle = shuffle
    self.seed = seed
    let f = try HDF5File.open(path)
    try checkHeader(f, is: .dataset)
    let kind = try datasetKind(f)
    let names = ["inputs", "targets", "mask", "initial"].filter { f.exists($0) }
    // Declared sizes checked (against overflow and the file) before use.
    let shapes = try names.map { name in
      let d = try f.dataset(name)
      _ = try d.checkedCount()
      return try d.shape
    }
    let count = shapes.first?.first ?? 0
    let perPattern = shapes.reduce(0) { $0 + $1.dropFirst().reduce(1, *) }
    let inMemory = count * perPattern * MemoryLayout<T>.stride <= inMemoryLimit
    readsSpans = bySpans && !inMemory && kind == .trajectory
    if inMemory {
      whole = try DatasetFile.read(path, as: T.self)
    } else if readsSpans {
      whole = nil
      _ = try DatasetSpans<T>(file: f, path: path, rows: [0])  // validates names, ranks and sizes
    } else {
      whole = nil
      _ = try DatasetFile.read(path, as: T.self, rows: [0])  // validates names, ranks and sizes
    }
    self.kind = kind
    self.count = count
    self.elementsPerPattern = perPattern
    self.inMemory = inMemory
    file = f
  }

  /// A stream over `contents`, the whole dataset of `path` already read
  /// (a sweep's runs share one copy): the same minibatches as a stream
  /// that reads the file and holds it in memory.
  public init(
    contents: DatasetContents<T>, path: String, batchSize: Int, shuffle: Bool = true, seed: UInt64 = 0,
    subset: [Int]? = nil
  ) throws {
    guard batchSize >= 1 else { throw RBPError.invalid("batch size must be at least 1, got \(batchSize)") }
    (self.path, self.batchSize, self.shuffle, self.seed, self.subset) = (path, batchSize, shuffle, seed, subset)
    kind = contents.kind
    count = contents.count
    switch contents {
    case .steady(let b):
      elementsPerPattern = b.inputs.cols + b.targets.cols + (b.mask?.cols ?? 0) + (b.initial?.cols ?? 0)
    case .trajectory(let b):
      elementsPerPattern = b.steps * (b.inputWidth + b.outputWidth * (b.mask == nil ? 1 : 2)) + (b.initial?.cols ?? 0)
    }
    inMemory = true
    readsSpans = false
    whole = contents
    file = nil
  }

  /// Starts epoch `epoch` (from 0): a fresh shuffle, the first minibatch
  /// requested in the background.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func startEpoch(_ epoch: Int) {
    pending?.done.wait()
    pending = nil
    order = subset ?? Array(0..<count)
    // One minibatch of the whole set is taken in the set's order: shuffling
    // it would change nothing but the rounding of its sums, and in order it
    // is the set itself, not a copy (and a kept pass over a set of one
    // microbatch serves its first step in place).
    if shuffle && batchSize < order.count {
      var rng = SeededGenerator(seed: seed &+ 0x9E37_79B9 &* UInt64(epoch + 1))
      order.shuffle(using: &rng)
    }
    position = 0
    if !readsSpans { prefetch() }
  }

  /// The indices of the epoch's next minibatch, or nil at its end, for a
  /// stream that `readsSpans`; nothing is read.
  public func nextIndices() -> [Int]? {
    precondition(readsSpans, "nextIndices: this stream reads its minibatches; use next()")
    guard position < order.count else { return nil }
    let indices = Array(order[position..<min(position + batchSize, order.count)])
    position += indices.count
    return indices
  }

  /// The sequences `rows` of the file, to be read by spans of steps.
  public func spans(for rows: [Int]) throws -> DatasetSpans<T> {
    guard let file else { preconditionFailure("spans(for:): this stream serves contents held in memory") }
    return try DatasetSpans(file: file, path: path, rows: rows)
  }

  /// The next minibatch of the epoch (dataset indices and contents), or nil
  /// at the end of the epoch. The one after it is read in the background
  /// while this one is used; asking for the next one hands this one back.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public func next() throws -> (indices: [Int], batch: DatasetContents<T>)? {
    precondition(!readsSpans, "next: this stream hands out indices; use nextIndices()")
    guard let current = pending else { return nil }
    current.done.wait()
    pending = nil
    prefetch()
    let held = current.indices.count + (pending?.indices.count ?? 0)
    peakBufferedElements = max(peakBufferedElements, held * elementsPerPattern)
    return (current.indices, try current.result!.get())
  }

  private func prefetch() {
    guard position < order.count else { return }
    let indices = Array(order[position..<min(position + batchSize, order.count)])
    position += indices.count
    let job = Prefetch(indices)
    pending = job
    // A dataset in memory is cut at once: a copy of a minibatch's rows
    // costs less than handing it to another thread.
    if let whole {
      job.result = .success(Self.subset(whole, indices))
      job.done.signal()
      return
    }
    guard let file else { preconditionFailure("a stream without its file holds its contents") }
    let path = self.path
    queue.async {
      job.result = Result { try DatasetFile.read(file, rows: indices, path: path) }
      job.done.signal()
    }
  }

  /// The patterns `indices` of `whole`, in that order.
  public static func subset(_ whole: DatasetContents<T>, _ indices: [Int]) -> DatasetContents<T> {
    switch whole {
    case .steady(let b): return .steady(b.subset(indices))
    case .trajectory(let b): return .trajectory(b.subset(indices))
    }
  }
}
