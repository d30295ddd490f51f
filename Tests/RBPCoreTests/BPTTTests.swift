// Backpropagation through time against trusted references, in f64: central
// finite differences for every parameter (x0 and U included, with masks)
// for each activation, loss and leak; the chain-rule identity along
// computed trajectories; memory-bounded and truncated BPTT against full;
// the dynamic inverse reproducing its trajectory; and the BPTT gradient of
// a long run with constant input tending to the RBP gradient.

import RBPCore
import Testing

@testable import RBPKernels

func randomSequences<T: KernelScalar>(
  _: T.Type, activation: Activation, loss: Loss, coupling: Coupling = .dense, leak: Double = 1,
  units: Int = 5, inputs: Int = 2, outputs: Int = 2, count: Int = 3, steps: Int = 6,
  gain: Double = 0.6, masked: Bool = false, initial: Bool = false, seed: UInt64
) throws -> (TrajectoryNetwork<T>, TrajectoryBatch<T>) {
  var rng = SeededGenerator(seed: seed)
  let shape = try NetworkShape(units: units, inputs: inputs, outputs: outputs, coupling: coupling)
  var net = try TrajectoryNetwork<T>.random(
    shape: shape, activation: activation, loss: loss, leak: leak,
    gain: gain, using: &rng)
  let (lo, hi) = activation == .logistic ? (0.15, 0.85) : (-0.7, 0.7)
  net.parameters.x0 = (0..<units).map { _ in T(Double.random(in: lo...hi, using: &rng)) }
  let u = (0..<count * steps * inputs).map { _ in T(Double.random(in: -1...1, using: &rng)) }
  let y = (0..<count * steps * outputs).map { _ in T(Double.random(in: lo...hi, using: &rng)) }
  let m: [T]? = masked ? (0..<count * steps * outputs).map { $0 % 4 == 1 ? 0 : 1 } : nil
  let x0: Matrix<T>? =
    initial
    ? Matrix(
      rows: count, cols: units, elements: (0..<count * units).map { _ in T(Double.random(in: lo...hi, using: &rng)) })
    : nil
  let batch = try TrajectoryBatch(
    count: count, steps: steps, inputs: u, inputWidth: inputs, targets: y,
    outputWidth: outputs, mask: m, initial: x0)
  return (net, batch)
}

func trajectoryFD(
  _ net: TrajectoryNetwork<Double>, _ batch: TrajectoryBatch<Double>, h: Double = 1e-4
) throws -> [Double] {
  try (0..<net.parameters.values.count).map { i in
    try centralDifference(h: h) { step in
      var moved = net
      moved.parameters.values[i] += step
      return try moved.run(batch).loss
    }
  }
}

struct TrajectoryCase: CustomStringConvertible, Sendable {
  var activation: Activation, loss: Loss, leak: Double, coupling: Coupling
  var description: String { "\(activation)/\(loss)/leak \(leak)/\(coupling)" }
}

let trajectoryCases: [TrajectoryCase] = Activation.allCases.flatMap { f in
  (f == .logistic ? Loss.allCases : [.mse]).flatMap { l in
    [1.0, 0.35].map { TrajectoryCase(activation: f, loss: l, leak: $0, coupling: $0 == 1 ? .dense : .identity) }
  }
}

@Suite("Backpropagation through time")
struct BPTTTests {
  /// Without the trajectory, every mode returns the same gradient bits
  /// (checkpointed BPTT then holds one segment of adjoints), and a second
  /// call in the same workspace, whose blocks it reuses, gives them again.
  @Test func withoutTheTrajectoryIsTheSameGradient() throws {
    let (net, batch) = try randomSequences(
      Double.self, activation: .tanh, loss: .mse, leak: 0.5, units: 6,
      count: 3, steps: 23, seed: 41)
    let workspace = KernelWorkspace<Double>()
    for mode in [
      BPTTMode.full, .truncated(window: 4), .checkpointed(every: 1), .checkpointed(every: 5), .checkpointed(every: nil),
    ] {
      let kept = try net.gradient(batch: batch, mode: mode)
      for _ in 0..<2 {
        let dropped = try net.gradient(batch: batch, mode: mode, workspace: workspace, keepingTrajectory: false)
        #expect(dropped.adjoints.isEmpty && dropped.states == nil && kept.adjoints.count == 23 * 3 * 6)
        #expect(kept.gradient.values == dropped.gradient.values && kept.loss == dropped.loss, "\(mode)")
        #expect(kept.initialStateGradient == dropped.initialStateGradient && kept.finalStates == dropped.finalStates)
      }
    }
  }

  /// Identity coupling reads u(t) in place from the sequence-major batch
  /// at each step (forward, and again per recomputed segment); over 41
  /// steps every mode must give what dense coupling with U = I gives from
  /// its whole time-major copy: the same loss, ∂W, ∂b and ∂x0.
  @Test func identityInputsInPlaceMatchDenseCouplingWithTheIdentity() throws {
    let (n, steps) = (6, 41)
    let (identity, batch) = try randomSequences(
      Double.self, activation: .tanh, loss: .mse, coupling: .identity,
      leak: 0.6, units: n, inputs: 4, outputs: 3, count: 5, steps: steps,
      seed: 73)
    let shape = try NetworkShape(units: n, inputs: 4, outputs: 3, coupling: .dense)
    var rng = SeededGenerator(seed: 1)
    var dense = try TrajectoryNetwork<Double>.random(
      shape: shape, activation: .tanh, loss: .mse, leak: 0.6,
      gain: 0.6, using: &rng)
    dense.parameters.W = identity.parameters.W
    dense.parameters.b = identity.parameters.b
    dense.parameters.x0 = identity.parameters.x0
    dense.parameters.U = Matrix(rows: n, cols: 4, elements: (0..<n * 4).map { $0 / 4 == $0 % 4 ? 1 : 0 })
    for mode in [BPTTMode.full, .truncated(window: 7), .checkpointed(every: 5), .checkpointed(every: nil)] {
      let a = try identity.gradient(batch: batch, mode: mode, keepingTrajectory: false)
      let b = try dense.gradient(batch: batch, mode: mode, keepingTrajectory: false)
      #expect(abs(a.loss - b.loss) <= 1e-13 * abs(b.loss), "\(mode) loss")
      let worst = zip(
        a.gradient.W.elements + a.gradient.b + a.gradient.x0,
        b.gradient.W.elements + b.gradient.b + b.gradient.x0
      ).map { abs($0 - $1) }.max()!
      #expect(worst <= 1e-13, "\(mode): ∂W, ∂b, ∂x0 differ by \(worst)")
    }
  }

  /// BPTT over spans of steps (the sequences read a segment at a time)
  /// gives checkpointed BPTT's bits on the whole batch: loss, gradient,
  /// x(T) and ∂L/∂x(0); and full BPTT's gradient to rounding. Every step
  /// is read exactly twice (forward, then again going back) and no span
  /// is longer than the checkpoint interval.
  @Test func gradientBySpansMatchesCheckpointedBPTT() throws {
    final class CountingSpans<T: KernelScalar>: TrajectorySpans {
      let batch: TrajectoryBatch<T>
      var reads: [Range<Int>] = []
      init(_ batch: TrajectoryBatch<T>) { self.batch = batch }
      var count: Int { batch.count }
      var steps: Int { batch.steps }
      var inputWidth: Int { batch.inputWidth }
      var outputWidth: Int { batch.outputWidth }
      var initial: Matrix<T>? { batch.initial }
      func span(_ range: Range<Int>) throws -> TrajectoryBatch<T> {
        reads.append(range)
        return try batch.span(range)
      }
    }
    func check<T: KernelScalar>(
      _: T.Type, coupling: Coupling, leak: Double, masked: Bool, initial: Bool,
      every: Int?, seed: UInt64
    ) throws {
      let steps = 41
      let (net, batch) = try randomSequences(
        T.self, activation: masked ? .logistic : .tanh, loss: masked ? .bce : .mse,
        coupling: coupling,
        leak: leak, units: 6, inputs: 4, outputs: 3, count: 5, steps: steps,
        masked: masked, initial: initial, seed: seed)
      let label = "\(T.self) \(coupling) leak \(leak) masked \(masked) initial \(initial) every \(every ?? 0)"
      let whole = try net.gradient(batch: batch, mode: .checkpointed(every: every), keepingTrajectory: false)
      let source = CountingSpans(batch)
      let bySpans = try net.gradient(spans: source, every: every)
      #expect(bySpans.loss == whole.loss, "\(label): loss")
      #expect(bySpans.gradient.values == whole.gradient.values, "\(label): gradient")
      #expect(bySpans.finalStates == whole.finalStates, "\(label): x(T)")
      #expect(bySpans.initialStateGradient == whole.initialStateGradient, "\(label): ∂L/∂x(0)")
      let c = every ?? 7  // ⌈√41⌉
      var reads = [Int](repeating: 0, count: steps)
      for r in source.reads { for t in r { reads[t] += 1 } }
      #expect(reads.allSatisfy { $0 == 2 } && source.reads.allSatisfy { $0.count <= c }, "\(label): \(source.reads)")
      let full = try net.gradient(batch: batch)
      let scale = full.gradient.values.map { abs(Double($0)) }.max()!
      let worst = zip(bySpans.gradient.values, full.gradient.values).map { abs(Double($0 - $1)) }.max()!
      #expect(worst <= (T.self == Double.self ? 1e-13 : 1e-5) * scale, "\(label): against full BPTT, \(worst)")
    }
    try check(Double.self, coupling: .dense, leak: 1, masked: false, initial: false, every: nil, seed: 81)
    try check(Double.self, coupling: .identity, leak: 0.6, masked: true, initial: false, every: 4, seed: 82)
    try check(Double.self, coupling: .dense, leak: 0.8, masked: true, initial: true, every: 9, seed: 83)
    try check(Double.self, coupling: .identity, leak: 1, masked: false, initial: true, every: 41, seed: 84)
    try check(Float.self, coupling: .identity, leak: 1, masked: false, initial: false, every: 5, seed: 85)
    try check(Float.self, coupling: .dense, leak: 0.7, masked: true, initial: false, every: nil, seed: 86)
  }

  /// Threads inside the matrix products (wide enough to be split) give the
  /// same bits as one thread, in every mode, leaky and dense inputs included.
  @Test func productThreadsGiveTheSameBits() throws {
    let (net, batch) = try randomSequences(
      Float.self, activation: .tanh, loss: .mse, leak: 0.5, units: 512,
      inputs: 3, outputs: 4, count: 64, steps: 3, gain: 0.5, seed: 31)
    for mode in [BPTTMode.full, .checkpointed(every: 2), .truncated(window: 2)] {
      let one = try net.gradient(batch: batch, mode: mode)
      let workspace = KernelWorkspace<Float>()
      let two = try net.gradient(batch: batch, mode: mode, workspace: workspace, threads: 2)
      // The products really ran on two workers, each with its own buffers.
      #expect(workspace.workers.count == 2, "\(mode): \(workspace.workers.count) workers")
      #expect(
        one.gradient.values == two.gradient.values && one.adjoints == two.adjoints && one.loss == two.loss,
        "\(mode)")
    }
  }

  @Test(arguments: trajectoryCases)
  func matchesFiniteDifferences(c: TrajectoryCase) throws {
    for masked in [false, true] {
      let (net, batch) = try randomSequences(
        Double.self, activation: c.activation, loss: c.loss,
        coupling: c.coupling, leak: c.leak, masked: masked, seed: masked ? 3 : 4)
      let g = try net.gradient(batch: batch)
      let fd = try trajectoryFD(net, batch)
      let err = relativeError(g.gradient.values, fd, floor: fdFloor)
      #expect(err < 1e-6, "\(c) masked \(masked): relative error \(err)")
      // x0 and U really are exercised.
      #expect(g.gradient.x0.contains { $0 != 0 })
    }
  }

  @Test func givenInitialStatesReplaceX0() throws {
    let (net, batch) = try randomSequences(Double.self, activation: .tanh, loss: .mse, initial: true, seed: 8)
    let g = try net.gradient(batch: batch)
    let fd = try trajectoryFD(net, batch)
    #expect(relativeError(g.gradient.values, fd, floor: fdFloor) < 1e-6)
    #expect(g.gradient.x0.allSatisfy { $0 == 0 })
  }

  /// g(t) = D⁻¹(t) s(t) − Wᵀ s(t+1), with g(t) computed independently from
  /// the states and targets.
  @Test(arguments: [Activation.tanh, .logistic])
  func chainRuleIdentityHolds(f: Activation) throws {
    let (net, batch) = try randomSequences(Double.self, activation: f, loss: .mse, steps: 9, seed: 21)
    let g = try net.gradient(batch: batch)
    let (p, tMax, n, o) = (batch.count, batch.steps, net.shape.units, net.shape.outputs)
    let w = net.parameters.W
    let x = g.states!, s = g.adjoints
    var worst = 0.0
    for t in 1...tMax {
      for q in 0..<p {
        for i in 0..<n {
          let xi = x[(t * p + q) * n + i]
          let slope = f.slope(atState: xi)
          var back = 0.0
          if t < tMax { for j in 0..<n { back += w[j, i] * s[(t * p + q) * n + j] } }
          let lhs = s[((t - 1) * p + q) * n + i] / slope - back
          let k = i - (n - o)
          let rhs = k >= 0 ? xi - batch.targets[(q * tMax + t - 1) * o + k] : 0
          worst = max(worst, abs(lhs - rhs))
        }
      }
    }
    #expect(worst < 1e-12, "largest violation \(worst)")
  }

  @Test(arguments: [1.0, 0.5])
  func checkpointedEqualsFull(leak: Double) throws {
    for steps in [1, 7, 50, 100] {
      let (net, batch) = try randomSequences(
        Double.self, activation: .tanh, loss: .mse, leak: leak,
        steps: steps, masked: true, seed: UInt64(steps))
      let full = try net.gradient(batch: batch, mode: .full)
      let bounded = try net.gradient(batch: batch, mode: .checkpointed(every: nil))
      #expect(relativeError(bounded.gradient.values, full.gradient.values) < 1e-12, "T = \(steps)")
      #expect(relativeError(bounded.adjoints, full.adjoints) < 1e-12, "T = \(steps)")
      #expect(abs(bounded.loss - full.loss) <= 1e-12 * abs(full.loss))
      #expect(bounded.finalStates == full.finalStates)
      // O(√T) blocks: checkpoints + one segment, about 3√T + 3.
      let root = Double(steps).squareRoot().rounded(.up)
      #expect(Double(bounded.storedStates) <= 3 * root + 3, "T = \(steps): \(bounded.storedStates) blocks")
      if steps == 100 { #expect(bounded.storedStates <= 33 && full.storedStates == 201) }
    }
  }

  @Test func truncatedWithAWideWindowEqualsFull() throws {
    let (net, batch) = try randomSequences(Double.self, activation: .tanh, loss: .mse, leak: 0.7, steps: 12, seed: 2)
    let full = try net.gradient(batch: batch, mode: .full)
    for window in [12, 13, 100] {
      let truncated = try net.gradient(batch: batch, mode: .truncated(window: window))
      #expect(relativeError(truncated.gradient.values, full.gradient.values) < 1e-12, "window \(window)")
    }
  }

  /// Window 1 on T = 3, α = 1, by hand: each g(t) reaches only z(t), so
  /// ∂J/∂W = (1/P) Σ_t (D(t) g(t)) x(t−1)ᵀ, ∂J/∂b = (1/P) Σ_t D(t) g(t),
  /// ∂J/∂x0 = 0 unless t = 1: (1/P) Wᵀ D(1) g(1).
  @Test func truncatedWindowOneIsTheHandDerivedSum() throws {
    let (net, batch) = try randomSequences(
      Double.self, activation: .tanh, loss: .mse, units: 3, inputs: 1,
      outputs: 1, count: 1, steps: 3, seed: 6)
    let g = try net.gradient(batch: batch, mode: .truncated(window: 1))
    let x = try net.run(batch).states
    let w = net.parameters.W
    var gW = [Double](repeating: 0, count: 9), gb = [Double](repeating: 0, count: 3), gx0 = gb
    for t in 1...3 {
      var delta = [0.0, 0.0, 0.0]
      delta[2] = (x[t * 3 + 2] - batch.targets[t - 1]) * (1 - x[t * 3 + 2] * x[t * 3 + 2])
      for i in 0..<3 {
        gb[i] += delta[i]
        for j in 0..<3 { gW[i * 3 + j] += delta[i] * x[(t - 1) * 3 + j] }
      }
      if t == 1 { for j in 0..<3 { for i in 0..<3 { gx0[j] += w[i, j] * delta[i] } } }
    }
    #expect(relativeError(g.gradient.W.elements, gW) < 1e-14)
    #expect(relativeError(g.gradient.b, gb) < 1e-14)
    #expect(relativeError(g.gradient.x0, gx0) < 1e-14)
  }

  /// Drives from the inverse, fed back in as inputs (identity coupling,
  /// I = N, u = a − b), reproduce the trajectory.
  @Test(arguments: [(Activation.tanh, 1.0), (.logistic, 1.0), (.tanh, 0.4), (.linear, 0.8)])
  func inverseReproducesTheTrajectory(f: Activation, leak: Double) throws {
    let (net0, batch) = try randomSequences(
      Double.self, activation: f, loss: .mse, leak: leak, units: 4,
      inputs: 2, outputs: 1, count: 2, steps: 8, seed: 14)
    let x = try net0.run(batch).states  // time-major (T+1)×P×N
    let (p, steps, n) = (2, 8, 4)
    var sequenceMajor = [Double](repeating: 0, count: x.count)
    for t in 0...steps {
      for q in 0..<p { for i in 0..<n { sequenceMajor[(q * (steps + 1) + t) * n + i] = x[(t * p + q) * n + i] } }
    }
    let a = try net0.drives(forTrajectories: sequenceMajor, count: p)
    // A network with the same W, b, x0, leak, but the drive fed in directly.
    let shape = try NetworkShape(units: n, inputs: n, outputs: 1, coupling: .identity)
    var params = Parameters<Double>(layout: ParameterLayout(shape: shape, hasInitialState: true))
    params.W = net0.parameters.W
    params.b = net0.parameters.b
    params.x0 = net0.parameters.x0
    let driven = try TrajectoryNetwork(parameters: params, activation: f, loss: .mse, leak: leak)
    let b = params.b
    let u = a.enumerated().map { $0.element - b[$0.offset % n] }
    let replay = try TrajectoryBatch(
      count: p, steps: steps, inputs: u, inputWidth: n,
      targets: [Double](repeating: 0, count: p * steps), outputWidth: 1)
    let y = try driven.run(replay).states
    #expect(relativeError(y, x, floor: 1) < 1e-12)
  }

  @Test func inverseOutsideTheDomainNamesSequenceStepAndUnit() throws {
    let (net, _) = try randomSequences(
      Double.self, activation: .tanh, loss: .mse, units: 2, inputs: 0, outputs: 1, seed: 1)
    let states: [Double] = [0, 0, 0.5, 0.2, 0.1, -1.5]  // P = 1, T = 2, N = 2
    #expect(throws: RBPError.outsideDomainInTime(activation: .tanh, sequence: 0, step: 2, unit: 1, value: -1.5)) {
      try net.drives(forTrajectories: states, count: 1)
    }
  }

  /// A contractive network with constant input, loss on x(T) only: as T
  /// grows, BPTT's gradient tends to the steady-state RBP gradient.
  @Test func longRunTendsToTheRBPGradient() throws {
    let (steadyNet, steadyBatch) = try randomProblem(
      Double.self, activation: .tanh, loss: .mse, coupling: .dense,
      units: 6, inputs: 3, outputs: 2, patterns: 3, seed: 51)
    let rbp = try steadyNet.gradient(batch: steadyBatch, settings: tightSettings())
    let steps = 300
    let shape = steadyNet.shape
    var params = Parameters<Double>(layout: ParameterLayout(shape: shape, hasInitialState: true))
    params.W = steadyNet.parameters.W
    params.b = steadyNet.parameters.b
    params.U = steadyNet.parameters.U
    let net = try TrajectoryNetwork(parameters: params, activation: .tanh, loss: .mse)
    let (p, i, o) = (3, 3, 2)
    var u = [Double](), y = [Double](), m = [Double]()
    for q in 0..<p {
      for t in 0..<steps {
        u += steadyBatch.inputs.row(q)
        y += steadyBatch.targets.row(q)
        m += [Double](repeating: t == steps - 1 ? 1 : 0, count: o)
      }
    }
    _ = i
    let batch = try TrajectoryBatch(
      count: p, steps: steps, inputs: u, inputWidth: 3, targets: y,
      outputWidth: o, mask: m)
    let bptt = try net.gradient(batch: batch, mode: .checkpointed(every: nil))
    let layout = params.layout
    #expect(relativeError(Array(bptt.gradient.values[layout.w]), rbp.gradient.W.elements) < 1e-10)
    #expect(relativeError(Array(bptt.gradient.values[layout.b]), rbp.gradient.b) < 1e-10)
    #expect(relativeError(Array(bptt.gradient.values[layout.u]), rbp.gradient.U.elements) < 1e-10)
    #expect(bptt.gradient.x0.allSatisfy { abs($0) < 1e-12 })
  }

  /// A long stream cut into chunks, each starting from the previous
  /// chunk's final states, runs exactly as the whole stream does.
  @Test func chunksCarryTheStateAcross() throws {
    let (net, batch) = try randomSequences(
      Double.self, activation: .tanh, loss: .mse, leak: 0.6, count: 2, steps: 12, seed: 19)
    let whole = try net.run(batch).states
    var initial: Matrix<Double>? = nil
    var chunks: [[Double]] = []
    for (start, length) in [(0, 5), (5, 7)] {
      var u: [Double] = [], y: [Double] = []
      for p in 0..<2 {
        u += batch.inputs[(p * 12 + start) * 2..<(p * 12 + start + length) * 2]
        y += batch.targets[(p * 12 + start) * 2..<(p * 12 + start + length) * 2]
      }
      let chunk = try TrajectoryBatch(
        count: 2, steps: length, inputs: u, inputWidth: 2, targets: y,
        outputWidth: 2, initial: initial)
      let g = try net.gradient(batch: chunk, mode: .truncated(window: 3))
      chunks.append(Array(g.states![(2 * 5)...]))  // x(1…length), time-major
      initial = g.finalStates
    }
    #expect(chunks[0] + chunks[1] == Array(whole[(2 * 5)...]))
  }

  @Test func singlePrecisionAgreesWithDouble() throws {
    let (net, batch) = try randomSequences(Double.self, activation: .tanh, loss: .mse, leak: 0.8, steps: 20, seed: 77)
    let exact = try net.gradient(batch: batch)
    let net32 = try TrajectoryNetwork(
      parameters: net.parameters.converted(to: Float.self), activation: .tanh,
      loss: .mse, leak: 0.8)
    let batch32 = try TrajectoryBatch(
      count: batch.count, steps: batch.steps, inputs: batch.inputs.map { Float($0) },
      inputWidth: batch.inputWidth, targets: batch.targets.map { Float($0) },
      outputWidth: batch.outputWidth)
    let single = try net32.gradient(batch: batch32)
    #expect(relativeError(single.gradient.values.map(Double.init), exact.gradient.values, floor: singleFloor) < 1e-4)
  }
}
