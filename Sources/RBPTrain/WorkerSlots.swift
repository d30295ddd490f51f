// Results handed from worker threads to the thread that started them, one
// slot per worker, without a shared array mutated concurrently.

/// One slot per worker or microbatch, each written by exactly one thread
/// (through a raw buffer: no shared array is mutated concurrently) and read
/// after the threads are done.
public final class WorkerSlots<Element>: @unchecked Sendable {
  /// The number of slots.
  public let count: Int
  private let slots: UnsafeMutablePointer<Element?>

  /// `count` empty slots.
  public init(count: Int) {
    self.count = count
    slots = .allocate(capacity: count)
    slots.initialize(repeating: nil, count: count)
  }

  deinit {
    slots.deinitialize(count: count)
    slots.deallocate()
  }

  /// Slot i: write it from one thread only.
  public subscript(i: Int) -> Element? {
    get { slots[i] }
    set { slots[i] = newValue }
  }

  /// Every slot, once the threads are done.
  public var all: [Element?] { Array(UnsafeBufferPointer(start: slots, count: count)) }
}
