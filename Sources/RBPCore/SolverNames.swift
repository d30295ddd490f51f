// The solvers, BPTT modes and stabiliser by the names settings and files
// give them (`--solver anderson`, `"bptt": "truncated"`), beside the types
// that carry their parameters: adding one means adding a case here and in
// its type, and the switch below that builds it from its name.

extension ForwardMethod {
  /// The forward solvers by name.
  public enum Name: String, CaseIterable, Sendable {
    /// Relaxation, with block passes, Anderson and Newton as fallbacks.
    case auto
    /// Damped fixed-point iteration.
    case iterate
    /// Anderson acceleration of the iteration.
    case anderson
    /// Newton's method with a line search.
    case newton
  }

  /// The solver `name`, with the parameters of those that take them.
  public init(_ name: Name, damping: Double = 1, memory: Int = defaultMemory) {
    switch name {
    case .auto: self = .auto
    case .iterate: self = .iterate(damping: damping)
    case .anderson: self = .anderson(memory: memory, regularization: Self.defaultRegularization, damping: damping)
    case .newton: self = .newton
    }
  }
}

extension AdjointMethod {
  /// The adjoint solvers by name.
  public enum Name: String, CaseIterable, Sendable {
    /// Iteration, then GMRES, then a direct solve.
    case auto
    /// Fixed-point iteration of the adjoint.
    case iterate
    /// A fixed number of Neumann-series terms.
    case neumann
    /// An LU factorisation per pattern.
    case direct
    /// Restarted GMRES.
    case gmres
  }

  /// The solver `name`, with the parameters of those that take them.
  public init(_ name: Name, terms: Int = defaultTerms, restart: Int = defaultRestart) {
    switch name {
    case .auto: self = .auto
    case .iterate: self = .iterate
    case .neumann: self = .neumann(terms: terms)
    case .direct: self = .direct
    case .gmres: self = .gmres(restart: restart)
    }
  }
}

extension BPTTMode {
  /// The BPTT modes by name.
  public enum Name: String, CaseIterable, Sendable {
    /// Every state kept.
    case full
    /// Every ⌈√T⌉-th state kept, the segments between recomputed.
    case checkpointed
    /// Each step's gradient flows back at most `window` steps.
    case truncated
  }

  /// The mode `name`; `window` is the truncated mode's horizon.
  public init(_ name: Name, window: Int) {
    switch name {
    case .full: self = .full
    case .checkpointed: self = .checkpointed(every: nil)
    case .truncated: self = .truncated(window: window)
    }
  }
}

extension Stabilizer {
  /// The stabilisers by name, `none` for none.
  public enum Name: String, CaseIterable, Sendable {
    /// No stabiliser.
    case none
    /// The Jacobian penalty on patterns near instability.
    case jacobian
  }

  /// The stabiliser `name` with its weight and threshold, or nil for `none`.
  public static func named(_ name: Name, weight: Double, threshold: Double) -> Stabilizer? {
    switch name {
    case .none: nil
    case .jacobian: .jacobian(weight: weight, threshold: threshold)
    }
  }
}
