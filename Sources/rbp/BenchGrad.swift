// `rbp bench grad`: the time of one gradient of a checkpoint on a dataset,
// called from Swift in a loop exactly as `rbp grad` (and the C library's
// rbp_grad) computes it, data in memory: the loss, or R = ⟨c, x⟩ with
// --cotangent. The baseline scripts/bench_python.py measures the Python
// package's per-call overhead against, in the same run.

import ArgumentParser
import Foundation
import RBPAnalysis
import RBPStore
import RBPTrain

struct BenchGrad: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "grad", abstract: "Time one gradient of a checkpoint on a dataset, in process (median of repeats).")

  @Option(help: "The checkpoint.") var checkpoint: String
  @Option(help: "The dataset.") var data: String
  @Option(help: ArgumentHelp("A file with /dstates = ∂R/∂x, as for rbp grad.", valueName: "C.h5")) var cotangent:
    String?
  @Option(help: "f64 (default) or f32.") var precision = "f64"
  @Option(help: "Minimum seconds of timing.") var seconds = 1.0
  @Flag(help: "One JSON object.") var json = false

  func run() throws {
    try reporting {
      let precision = try Precision.parse(self.precision)
      guard seconds > 0 && seconds.isFinite else {
        throw CLIFailure(message: "--seconds must be positive, got \(seconds)")
      }
      let l = try Loaded(checkpoint: checkpoint, data: data)
      let c = try cotangent.map { try l.openCotangent($0) }.map { try $0.read(0, $0.shape[0]) }
      let call = { _ = try l.analysis.gradient(l.data, cotangent: c, in: precision) }
      try call()  // warm-up
      // Batches of calls of about 10 ms each; the median batch's time per call.
      var perBatch = 1
      while true {
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<perBatch { try call() }
        if Double(DispatchTime.now().uptimeNanoseconds - t0) > 1e7 || perBatch >= 1 << 20 { break }
        perBatch *= 2
      }
      var times: [Double] = []
      let start = DispatchTime.now().uptimeNanoseconds
      repeat {
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<perBatch { try call() }
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e3 / Double(perBatch))
      } while Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < seconds || times.count < 5
      let median = times.sorted()[times.count / 2]
      if json {
        writeLine(jsonLine(["microseconds": median, "calls": times.count * perBatch, "precision": precision]))
      } else {
        print(String(format: "%.2f µs per gradient (median of %d batches of %d calls)", median, times.count, perBatch))
      }
    }
  }
}
