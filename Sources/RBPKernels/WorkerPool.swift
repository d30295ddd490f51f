// Threads that stay awake between the products of one pass. A pass of
// BPTT or of a steady solve runs thousands of products of tens of
// microseconds each, and the thresholds for splitting one across cores
// had been set for Dispatch, whose threads sleep between jobs: products at
// N = 256 never split. The pool's threads spin (with the CPU's pause hint)
// for a while after each job, so that the next one starts at once; idle
// longer, they sleep on a condition variable until work arrives.
//
// One job at a time: `run` hands tasks 0..<n to the caller and the pool's
// threads, each task to exactly one of them, and returns when all are
// done. A call made while another job runs (from another thread) runs its
// tasks on the calling thread alone. Which thread runs a task never changes
// what it computes: callers give each task its own share of the output.
//
// Protocol. `next` holds a job's number (high 32 bits) and its next task
// (low 32). The job's body, task count and pending count are written
// before `next` is set to (job, 0); a thread takes a task by a
// compare-and-swap of `next` that checks the job's number, so a thread
// that saw an earlier job late takes nothing from a later one, and one that
// took task i of a job reads that job's body (the caller is still waiting
// for task i, so the body stays).

import CRBPKernels
import Foundation
import Synchronization

/// The process's worker threads for splitting products across cores.
final class WorkerPool: @unchecked Sendable {
  /// One thread fewer than the cores the process may use (the caller is
  /// the other), started at the first job that needs them.
  static let shared = WorkerPool(threads: max(0, ProcessInfo.processInfo.activeProcessorCount - 1))

  /// Pause-hinted polls of a thread waiting for work before it sleeps (how
  /// long that is depends on the CPU's `pause`: tens of cycles on some,
  /// over a hundred on others).
  static let spinLimit = 20_000

  private let threads: Int
  private let started = Atomic<Bool>(false)
  private let busy = Atomic<Bool>(false)
  private let generation = Atomic<Int>(0)
  private let next = Atomic<Int>(0)
  private let count = Atomic<Int>(0)
  private let pending = Atomic<Int>(0)
  private let sleepers = Atomic<Int>(0)
  /// The current job's body; written only while `busy`, before `next` is reset.
  nonisolated(unsafe) private var body: ((Int) -> Void)? = nil
  private let condition = NSCondition()

  init(threads: Int) { self.threads = threads }

  /// Runs `body(0) … body(tasks - 1)`, each once, on the calling thread
  /// and the pool's threads; returns when all have returned.
  func run(tasks: Int, _ body: @escaping (Int) -> Void) {
    if tasks <= 1 || threads == 0
      || !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    {
      for i in 0..<tasks { body(i) }
      return
    }
    startIfNeeded()
    let job = generation.load(ordering: .relaxed) + 1
    self.body = body
    count.store(tasks, ordering: .sequentiallyConsistent)
    pending.store(tasks, ordering: .sequentiallyConsistent)
    next.store(job << 32, ordering: .sequentiallyConsistent)
    generation.store(job, ordering: .sequentiallyConsistent)
    if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
      condition.lock()
      condition.broadcast()
      condition.unlock()
    }
    takeTasks(of: job)
    while pending.load(ordering: .acquiring) > 0 { rbp_cpu_relax() }
    self.body = nil
    busy.store(false, ordering: .releasing)
  }

  /// Takes and runs tasks of job `job` until none is left.
  private func takeTasks(of job: Int) {
    var v = next.load(ordering: .sequentiallyConsistent)
    while v >> 32 == job {
      let i = v & 0xFFFF_FFFF
      guard i < count.load(ordering: .sequentiallyConsistent) else { return }
      let (exchanged, original) = next.compareExchange(expected: v, desired: v + 1, ordering: .sequentiallyConsistent)
      if exchanged {
        body!(i)
        pending.subtract(1, ordering: .releasing)
        v = next.load(ordering: .sequentiallyConsistent)
      } else {
        v = original
      }
    }
  }

  private func startIfNeeded() {
    guard !started.load(ordering: .acquiring) else { return }
    started.store(true, ordering: .releasing)
    for _ in 0..<threads {
      let thread = Thread { [self] in work() }
      thread.stackSize = 1 << 20
      thread.start()
    }
  }

  /// A pool thread: waits for each new generation, spinning, then sleeping.
  private func work() {
    var seen = 0
    while true {
      var spins = 0
      var now = generation.load(ordering: .acquiring)
      while now == seen && spins < Self.spinLimit {
        rbp_cpu_relax()
        spins += 1
        now = generation.load(ordering: .acquiring)
      }
      if now == seen {
        condition.lock()
        sleepers.add(1, ordering: .sequentiallyConsistent)
        while generation.load(ordering: .sequentiallyConsistent) == seen { condition.wait() }
        sleepers.subtract(1, ordering: .sequentiallyConsistent)
        condition.unlock()
        now = generation.load(ordering: .acquiring)
      }
      seen = now
      takeTasks(of: now)
    }
  }
}
