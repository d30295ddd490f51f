// The solvers, BPTT modes and stabiliser by name, as settings give them:
// each name builds the method of that name with the parameters given, the
// expectations written out case by case.

import Testing

@testable import RBPCore

@Suite("Solvers by name")
struct SolverNameTests {
  @Test func forwardSolvers() {
    #expect(ForwardMethod(.auto, damping: 0.5, memory: 3) == .auto)
    #expect(ForwardMethod(.iterate, damping: 0.5, memory: 3) == .iterate(damping: 0.5))
    #expect(
      ForwardMethod(.anderson, damping: 0.5, memory: 3) == .anderson(memory: 3, regularization: 1e-10, damping: 0.5))
    #expect(ForwardMethod(.newton, damping: 0.5, memory: 3) == .newton)
    #expect(ForwardMethod.Name.allCases.map(\.rawValue) == ["auto", "iterate", "anderson", "newton"])
  }

  @Test func adjointSolvers() {
    #expect(AdjointMethod(.auto, terms: 7, restart: 9) == .auto)
    #expect(AdjointMethod(.iterate, terms: 7, restart: 9) == .iterate)
    #expect(AdjointMethod(.neumann, terms: 7, restart: 9) == .neumann(terms: 7))
    #expect(AdjointMethod(.direct, terms: 7, restart: 9) == .direct)
    #expect(AdjointMethod(.gmres, terms: 7, restart: 9) == .gmres(restart: 9))
    #expect(AdjointMethod.Name.allCases.map(\.rawValue) == ["auto", "iterate", "neumann", "direct", "gmres"])
  }

  @Test func bpttModesAndStabilizers() {
    #expect(BPTTMode(.full, window: 4) == .full)
    #expect(BPTTMode(.checkpointed, window: 4) == .checkpointed(every: nil))
    #expect(BPTTMode(.truncated, window: 4) == .truncated(window: 4))
    #expect(Stabilizer.named(.none, weight: 0.2, threshold: 0.8) == nil)
    #expect(Stabilizer.named(.jacobian, weight: 0.2, threshold: 0.8) == .jacobian(weight: 0.2, threshold: 0.8))
  }
}
