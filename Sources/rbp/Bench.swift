// `rbp bench kernels`: times the GEMM and GEMV kernels on the sizes and
// engine shapes the README quotes, and prints GFLOP/s and the fraction of
// the machine's peak (a table, or one JSON object per line with --json).
// scripts/bench_kernels.py runs it beside numpy to report ratios.

import ArgumentParser
import Dispatch
import Foundation
import RBPBench
import RBPKernels
import RBPTrain

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure kernel throughput.",
    subcommands: [Kernels.self, Workloads.self, BenchGrad.self])

  struct Kernels: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "kernels",
      abstract: "GFLOP/s of GEMM and GEMV on square sizes and the engine's shapes.")

    @Option(help: "Precisions to measure: f32, f64 or both (comma-separated).")
    var precision: String = "f32,f64"

    @Option(help: "Worker threads for GEMM (1 = the single-threaded kernels).")
    var threads: [Int] = [1]

    @Option(help: "Square sizes n for n×n·n×n GEMM (comma-separated).")
    var sizes: String = "32,64,128,256,512,1024"

    @Option(help: "Minimum seconds of timing per case.")
    var seconds: Double = 0.3

    @Flag(help: "Skip the engine shapes and GEMV.")
    var squareOnly = false

    @Option(help: "Only the cases whose name contains this text.")
    var filter: String?

    @Flag(help: "One JSON object per line instead of a table.")
    var json = false

    @Option(help: ArgumentHelp("Override the packed GEMM's KC,MC,NC (for tuning).", valueName: "kc,mc,nc"))
    var blocking: String?

    func validate() throws {
      do { _ = try Precision.parseList(precision) } catch let error as ConfigError {
        throw CLIFailure(message: error.description)
      }
      if threads.contains(where: { $0 < 1 }) { throw CLIFailure(message: "--threads must be at least 1") }
      if parsedSizes == nil {
        throw CLIFailure(message: "--sizes: '\(sizes)' is not a comma-separated list of positive integers")
      }
      if seconds <= 0 { throw CLIFailure(message: "--seconds must be positive") }
      if let blocking, parsedBlocking == nil {
        throw CLIFailure(message: "--blocking: '\(blocking)' is not three positive integers kc,mc,nc")
      }
    }

    var parsedBlocking: BlockingOverride? {
      guard let blocking else { return nil }
      let v = blocking.split(separator: ",").compactMap { Int($0) }
      guard v.count == 3, v.allSatisfy({ $0 > 0 }) else { return nil }
      return BlockingOverride(kc: v[0], mc: v[1], nc: v[2])
    }

    var parsedSizes: [Int]? {
      let values = sizes.split(separator: ",").map { Int($0) }
      guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
      return values.map { $0! }
    }

    func run() throws {
      let cases = kernelCases(sizes: parsedSizes!, squareOnly: squareOnly)
        .filter { filter == nil || $0.name.contains(filter!) }
      if !json {
        print("kernels: \(KernelISA.active)")
        print("kernel prec thr  shape                       GFLOP/s  %peak   time/call")
      }
      for prec in try Precision.parseList(precision) {
        for t in threads {
          let peak = fmaPeak(prec, threads: t)
          if json {
            print(
              #"{"kernel":"peak","name":"FMA loop","isa":"\#(KernelISA.active)","precision":"\#(prec)","threads":\#(t),"gflops":\#(peak)}"#
            )
          }
          for c in cases where t == 1 || c.kind == .gemm {
            let r = timeKernel(
              c, prec, threads: t, seconds: seconds,
              blocking: parsedBlocking)
            if json {
              print(
                #"{"kernel":"\#(c.kind)","name":"\#(c.name)","precision":"\#(prec)","threads":\#(t),"m":\#(c.m),"n":\#(c.n),"k":\#(c.k),"transA":\#(c.transA),"transB":\#(c.transB),"gflops":\#(r.gflops),"seconds":\#(r.seconds)}"#
              )
            } else {
              let shape = c.name.padding(toLength: 26, withPad: " ", startingAt: 0)
              print(
                String(
                  format: "%-6@ %-4@ %3d  %@ %8.2f  %5.1f%%  %9.2f µs",
                  "\(c.kind)" as NSString, prec.rawValue as NSString, t, shape as NSString,
                  r.gflops, 100 * r.gflops / peak, r.seconds * 1e6))
            }
          }
          if !json {
            print(
              String(format: "peak   %-4@ %3d  FMA loop in registers      %8.2f", prec.rawValue as NSString, t, peak))
          }
        }
      }
    }
  }
}
