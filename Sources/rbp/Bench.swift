// `rbp bench kernels`: times the GEMM and GEMV kernels on the sizes and
// engine shapes the README quotes, and prints GFLOP/s and the fraction of
// the machine's peak (a table, or one JSON object per line with --json).
// scripts/bench_kernels.py runs it beside numpy to report ratios.

import ArgumentParser
import Dispatch
import Foundation
import RBPKernels
import RBPTrain

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Measure kernel throughput.",
    subcommands: [Kernels.self, Workloads.self, BenchGrad.self])

  struct Kernels: ParsableCommand {
    static let configuration = CommandConfiguration(
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
      if parsedSizes == nil { throw CLIFailure(message: "--sizes: '\(sizes)' is not a comma-separated list of positive integers") }
      if seconds <= 0 { throw CLIFailure(message: "--seconds must be positive") }
      if let blocking, parsedBlocking == nil {
        throw CLIFailure(message: "--blocking: '\(blocking)' is not three positive integers kc,mc,nc")
      }
    }

    var parsedBlocking: (kc: Int, mc: Int, nc: Int)? {
      guard let blocking else { return nil }
      let v = blocking.split(separator: ",").compactMap { Int($0) }
      guard v.count == 3, v.allSatisfy({ $0 > 0 }) else { return nil }
      return (v[0], v[1], v[2])
    }

    func workspace<T: KernelScalar>(_: T.Type) -> GEMMWorkspace<T> {
      guard let b = parsedBlocking else { return GEMMWorkspace<T>() }
      let base = T.gemmBlocking
      return GEMMWorkspace<T>(blocking: GEMMBlocking(
        mr: base.mr, nr: base.nr, kc: b.kc, mc: roundUp(b.mc, base.mr), nc: roundUp(b.nc, base.nr)))
    }

    var parsedSizes: [Int]? {
      let values = sizes.split(separator: ",").map { Int($0) }
      guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
      return values.map { $0! }
    }

    func run() throws {
      let cases = benchmarkCases(sizes: parsedSizes!, squareOnly: squareOnly)
        .filter { filter == nil || $0.name.contains(filter!) }
      if !json {
        print("kernels: \(KernelISA.active)")
        print("kernel prec thr  shape                       GFLOP/s  %peak   time/call")
      }
      for prec in try Precision.parseList(precision) {
        for t in threads {
          let peak = prec == .f32 ? fmaPeak(Float.self, threads: t) : fmaPeak(Double.self, threads: t)
          if json {
            print(#"{"kernel":"peak","name":"FMA loop","isa":"\#(KernelISA.active)","precision":"\#(prec)","threads":\#(t),"gflops":\#(peak)}"#)
          }
          for c in cases where t == 1 || c.kind == .gemm {
            let r = prec == .f32
              ? measure(c, threads: t, seconds: seconds, workspace: workspace(Float.self))
              : measure(c, threads: t, seconds: seconds, workspace: workspace(Double.self))
            if json {
              print(#"{"kernel":"\#(c.kind)","name":"\#(c.name)","precision":"\#(prec)","threads":\#(t),"m":\#(c.m),"n":\#(c.n),"k":\#(c.k),"transA":\#(c.transA),"transB":\#(c.transB),"gflops":\#(r.gflops),"seconds":\#(r.seconds)}"#)
            } else {
              let shape = c.name.padding(toLength: 26, withPad: " ", startingAt: 0)
              print(String(format: "%-6@ %-4@ %3d  %@ %8.2f  %5.1f%%  %9.2f µs",
                           "\(c.kind)" as NSString, prec.rawValue as NSString, t, shape as NSString,
                           r.gflops, 100 * r.gflops / peak, r.seconds * 1e6))
            }
          }
          if !json {
            print(String(format: "peak   %-4@ %3d  FMA loop in registers      %8.2f", prec.rawValue as NSString, t, peak))
          }
        }
      }
    }
  }
}

/// One timed kernel call: GEMM `C(m×n) = A(m×k)·B(k×n)` (with the stated
/// transposes) or GEMV `y(m) = A(m×n)·x`.
struct BenchCase {
  enum Kind: String, CustomStringConvertible { case gemm, gemv
    var description: String { rawValue }
  }
  var kind: Kind
  var name: String
  var m: Int, n: Int, k: Int
  var transA = false, transB = false
  var flops: Double { kind == .gemm ? 2.0 * Double(m * n * k) : 2.0 * Double(m * n) }
}

/// The sizes of the README table: squares; then the engine's shapes, in
/// both layouts of the state block: N×B columns (`W·X`, `Wᵀ·S`, gradient
/// `S·Xᵀ`) and B×N rows (`X·W`, gradient `Sᵀ·X` over B·T = 3200 rows);
/// then GEMV.
func benchmarkCases(sizes: [Int], squareOnly: Bool) -> [BenchCase] {
  var cases = sizes.map { BenchCase(kind: .gemm, name: "\($0)x\($0)x\($0)", m: $0, n: $0, k: $0) }
  if squareOnly { return cases }
  for (n, b) in [(64, 32), (32, 16), (256, 64), (512, 64)] {
    cases.append(BenchCase(kind: .gemm, name: "W·X \(n)x\(n)·\(n)x\(b)", m: n, n: b, k: n))
    cases.append(BenchCase(kind: .gemm, name: "Wᵀ·S \(n)x\(n)·\(n)x\(b)", m: n, n: b, k: n, transA: true))
    cases.append(BenchCase(kind: .gemm, name: "X·W \(b)x\(n)·\(n)x\(n)", m: b, n: n, k: n))
  }
  cases.append(BenchCase(kind: .gemm, name: "S·Xᵀ 64x3200·3200x64", m: 64, n: 64, k: 3200, transB: true))
  cases.append(BenchCase(kind: .gemm, name: "Sᵀ·X 64x3200·3200x64", m: 64, n: 64, k: 3200, transA: true))
  for n in [256, 1024] {
    cases.append(BenchCase(kind: .gemv, name: "A·x \(n)x\(n)", m: n, n: n, k: 1))
    cases.append(BenchCase(kind: .gemv, name: "Aᵀ·x \(n)x\(n)", m: n, n: n, k: 1, transA: true))
  }
  return cases
}

/// Median seconds per call over batches that each last about 20 ms, after a
/// warm-up; stops once `seconds` of timing have accumulated.
func measure<T: KernelScalar>(_ c: BenchCase, threads: Int, seconds: Double, workspace ws: GEMMWorkspace<T>)
  -> (gflops: Double, seconds: Double)
{
  var rng = SystemRandomNumberGenerator()
  let aCount = c.m * (c.kind == .gemm ? c.k : c.n)
  let bCount = c.kind == .gemm ? c.k * c.n : (c.transA ? c.m : c.n)
  let a = (0..<aCount).map { _ in T(Double.random(in: -1...1, using: &rng)) }
  let b = (0..<bCount).map { _ in T(Double.random(in: -1...1, using: &rng)) }
  var out = [T](repeating: 0, count: c.kind == .gemm ? c.m * c.n : max(c.m, c.n))
  let call: () -> Void = {
    a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        out.withUnsafeMutableBufferPointer { o in
          switch c.kind {
          case .gemm:
            gemm(transA: c.transA, transB: c.transB, m: c.m, n: c.n, k: c.k,
                 a: a.baseAddress!, lda: c.transA ? c.m : c.k,
                 b: b.baseAddress!, ldb: c.transB ? c.k : c.n,
                 c: o.baseAddress!, ldc: c.n, threads: threads, workspace: ws)
          case .gemv:
            gemv(trans: c.transA, m: c.m, n: c.n, a: a.baseAddress!, lda: c.n,
                 x: b.baseAddress!, y: o.baseAddress!)
          }
        }
      }
    }
  }
  call()
  let start = DispatchTime.now().uptimeNanoseconds
  call()
  let once = max(1e-7, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
  let reps = max(1, Int(0.02 / once))
  var samples: [Double] = []
  var total = 0.0
  while total < seconds || samples.count < 5 {
    let t0 = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<reps { call() }
    let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
    samples.append(dt / Double(reps))
    total += dt
  }
  samples.sort()
  let median = samples[samples.count / 2]
  return (c.flops / median * 1e-9, median)
}

/// The machine's FMA throughput in this precision with the active
/// instruction set: twelve independent vector accumulators per thread,
/// nothing but register FMAs, on `threads` threads at once. The "100 %" of
/// the fraction-of-peak column.
func fmaPeak<T: KernelScalar>(_: T.Type, threads: Int) -> Double {
  let iterations = 20_000_000
  let kernels = KernelTable.active
  let sink = UnsafeMutablePointer<T>.allocate(capacity: threads)
  defer { sink.deallocate() }
  let sinkAddress = Int(bitPattern: sink)
  let start = DispatchTime.now().uptimeNanoseconds
  DispatchQueue.concurrentPerform(iterations: threads) { w in
    let sink = UnsafeMutablePointer<T>(bitPattern: sinkAddress)!
    sink[w] = T._fmaLoop(kernels, iterations: iterations, seed: T(w + 1) * T(1e-9))
  }
  let dt = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
  let width = T.gemmBlocking(for: kernels.isa).nr / 2
  return Double(threads * iterations * 12 * 2 * width) / dt * 1e-9
}
