// `rbp bench workloads`: times the reference workloads W1–W4 of SPEC §6 and
// the `epoch` and `sweep` workloads (RBPBench/Workloads.swift says what
// each is), in f32 and f64, on 1 thread and on all cores, and prints the
// median time per step and the nominal GFLOP/s.

import ArgumentParser
import Foundation
import RBPBench
import RBPCore
import RBPKernels
import RBPStore
import RBPTrain

struct Workloads: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "workloads", abstract: "Time the reference workloads W1–W4 of the specification.")

  @Option(help: "f32, f64 or both (comma-separated).") var precision = "f32,f64"
  @Option(help: "Threads to measure (repeatable).") var threads: [Int] = [1, 2]
  @Option(help: "Workloads to run (comma-separated): W1, W2, W3, W4, epoch, sweep.") var only = "W1,W2,W3,W4"
  @Option(help: "Minimum seconds of timing per case.") var seconds = 1.0
  @Flag(help: "One JSON object per line.") var json = false

  func run() throws {
    try reporting {
      let precisions = try Precision.parseList(precision)
      let names = only.split(separator: ",").map(String.init)
      for name in names where ReferenceWorkload(rawValue: name) == nil && !["epoch", "sweep"].contains(name) {
        throw CLIFailure(message: "--only: unknown workload '\(name)' (W1, W2, W3, W4, epoch, sweep)")
      }
      guard seconds > 0 && seconds.isFinite else {
        throw CLIFailure(message: "--seconds must be positive, got \(seconds)")
      }
      if !json { print("kernels: \(KernelISA.active)\nworkload prec thr   ms/step   GFLOP/s  what") }
      for prec in precisions {
        for t in threads {
          guard t >= 1 else { throw CLIFailure(message: "--threads must be at least 1") }
          for w in names {
            let r = try workload(w, prec, threads: t)
            if json {
              let ratio = r.gradientSteps.map { #","gradient_steps":\#($0)"# } ?? ""
              print(
                #"{"workload":"\#(w)","precision":"\#(prec)","threads":\#(t),"ms":\#(r.ms),"gflops":\#(r.gflops)\#(ratio)}"#
              )
            } else {
              print(
                String(
                  format: "%-8@ %-4@ %3d  %8.3f  %8.2f  %@", w as NSString, prec.rawValue as NSString, t,
                  r.ms, r.gflops, r.what as NSString))
            }
          }
        }
      }
    }
  }

  func workload(_ name: String, _ precision: Precision, threads: Int) throws -> WorkloadTiming {
    let timer = WorkloadTimer(seconds: seconds)
    switch name {
    case "epoch": return try timer.epoch(precision, threads: threads)
    case "sweep":
      let binary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
      return try timer.sweep(precision, threads: threads, executable: binary)
    default: return try timer.time(ReferenceWorkload(rawValue: name)!, precision, threads: threads)
    }
  }
}
