// Parameter updates from gradients: plain gradient descent (the seed's
// ΔW = −η ∂J/∂W), momentum and Adam, with optional gradient-norm clipping
// and decoupled weight decay. The state (step count and moments) lives in
// the parameter layout, so it checkpoints like the parameters.

import Foundation
import RBPKernels

/// Which update rule.
public enum OptimizerKind: String, CaseIterable, Sendable, Codable {
  /// θ ← θ − η g.
  case sgd
  /// Heavy-ball momentum: v ← β1 v + g, θ ← θ − η v.
  case momentum
  /// Adam, with bias-corrected moments.
  case adam
}

/// Settings of an optimizer.
public struct OptimizerSettings: Equatable, Sendable, Codable {
  /// The update rule.
  public var kind: OptimizerKind
  /// η, the step size.
  public var learningRate: Double
  /// Momentum coefficient (`momentum`), or β1 (`adam`).
  public var beta1: Double
  /// β2 (`adam`).
  public var beta2: Double
  /// ε of Adam's denominator.
  public var epsilon: Double
  /// Rescale the gradient to at most this 2-norm (nil: no clipping).
  public var clipNorm: Double?
  /// Decoupled weight decay: θ ← θ − η·λ·θ each step.
  public var weightDecay: Double

  /// The defaults of β1 (momentum) and β2.
  public static let defaultBeta1 = 0.9
  /// The default β2.
  public static let defaultBeta2 = 0.999

  /// Settings of this rule; the coefficients not given take their defaults.
  public init(
    kind: OptimizerKind, learningRate: Double, beta1: Double = defaultBeta1, beta2: Double = defaultBeta2,
    epsilon: Double = 1e-8, clipNorm: Double? = nil, weightDecay: Double = 0
  ) {
    self.kind = kind
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.clipNorm = clipNorm
    self.weightDecay = weightDecay
  }

  /// Throws naming the first setting out of range.
  public func validate() throws {
    guard learningRate > 0 && learningRate.isFinite else {
      throw RBPError.invalid("lr must be positive, got \(learningRate)")
    }
    guard beta1 >= 0 && beta1 < 1 else { throw RBPError.invalid("beta1/momentum must be in [0, 1), got \(beta1)") }
    guard beta2 >= 0 && beta2 < 1 else { throw RBPError.invalid("beta2 must be in [0, 1), got \(beta2)") }
    guard epsilon > 0 && epsilon.isFinite else { throw RBPError.invalid("epsilon must be positive, got \(epsilon)") }
    if let clipNorm, !(clipNorm > 0 && clipNorm.isFinite) {
      throw RBPError.invalid("clip norm must be positive, got \(clipNorm)")
    }
    guard weightDecay >= 0 && weightDecay.isFinite else {
      throw RBPError.invalid("weight decay must be finite and >= 0, got \(weightDecay)")
    }
  }
}

/// An optimizer and its state.
public struct Optimizer<T: KernelScalar>: Equatable, Sendable {
  /// The rule and its coefficients.
  public var settings: OptimizerSettings
  /// Updates taken so far.
  public var step: Int
  /// Momentum buffer (`momentum`) or first moment (`adam`).
  public var first: Parameters<T>
  /// Second moment (`adam`).
  public var second: Parameters<T>

  /// A fresh optimizer (zero moments) for parameters of this layout; throws for settings out of range.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public init(settings: OptimizerSettings, layout: ParameterLayout) throws {
    try settings.validate()
    self.settings = settings
    step = 0
    first = Parameters(layout: layout)
    second = Parameters(layout: layout)
  }

  /// Applies one update to `parameters` from `gradient` (∂J/∂θ), at the
  /// learning rate η = `learningRate` (nil: `settings.learningRate`; a
  /// trainer passes the rate its schedule has reached).
  ///
  /// ```
  /// sgd:       θ ← θ − η g
  /// momentum:  v ← β v + g;               θ ← θ − η v
  /// adam:      m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²
  ///            θ ← θ − η m̂ / (√v̂ + ε),  m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ)
  /// ```
  /// then θ ← θ − η λ θ. The gradient is first rescaled to `clipNorm` when longer.
  @_specialize(exported:true,where T == Float)
  @_specialize(exported:true,where T == Double)
  public mutating func apply(_ gradient: Parameters<T>, to parameters: inout Parameters<T>, learningRate: Double? = nil)
  {
    precondition(
      gradient.layout == parameters.layout && gradient.layout == first.layout,
      "Optimizer.apply: layouts differ")
    step += 1
    var clip: T = 1
    if let limit = settings.clipNorm {
      let norm = gradient.values.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
      if norm > limit { clip = T(limit / norm) }
    }
    let eta = T(learningRate ?? settings.learningRate)
    let (b1, b2) = (T(settings.beta1), T(settings.beta2))
    let (oneMinusB1, oneMinusB2) = (1 - b1, 1 - b2)
    let decay = T(settings.weightDecay)
    let epsilon = T(settings.epsilon)
    let c1 = 1 - T(pow(settings.beta1, Double(step)))
    let c2 = 1 - T(pow(settings.beta2, Double(step)))
    let kind = settings.kind
    // One loop over raw buffers per rule, and per whether θ decays, the
    // constants hoisted and √ inlined (`_sqrt`: the C library's `sqrtf`, a
    // call per value, was most of the update's time); each element's
    // operations are those of the formulas, in their order (the decay of θ
    // before the step, after it): the same bits as element by element.
    // (The loops stay scalar in this module; the same loops compiled on
    // their own vectorise.)
    gradient.values.withUnsafeBufferPointer { gp in
      parameters.values.withUnsafeMutableBufferPointer { pp in
        first.values.withUnsafeMutableBufferPointer { mp in
          second.values.withUnsafeMutableBufferPointer { vp in
            /// θ_i ← `stepped(i)` (θ_i after its step, which reads θ_i
            /// and updates the moments), less the decay of θ_i before it.
            @inline(__always) func update(_ stepped: (Int) -> T) {
              if decay != 0 {
                for i in 0..<pp.count {
                  let old = pp[i]
                  pp[i] = stepped(i) - eta * decay * old
                }
              } else {
                for i in 0..<pp.count { pp[i] = stepped(i) }
              }
            }
            switch kind {
            case .sgd:
              update { i in pp[i] - eta * (clip * gp[i]) }
            case .momentum:
              update { i in
                let m = b1 * mp[i] + clip * gp[i]
                mp[i] = m
                return pp[i] - eta * m
              }
            case .adam:
              update { i in
                let g = clip * gp[i]
                let m = b1 * mp[i] + oneMinusB1 * g
                let v = b2 * vp[i] + oneMinusB2 * g * g
                mp[i] = m
                vp[i] = v
                return pp[i] - eta * (m / c1) / (T._sqrt(v / c2) + epsilon)
              }
            }
          }
        }
      }
    }
  }

  /// The same optimizer with its moments in precision U (f64 holds f32
  /// moments exactly).
  @_specialize(exported:true,where T == Float, U == Double)
  @_specialize(exported:true,where T == Double, U == Float)
  public func converted<U: KernelScalar>(to: U.Type) -> Optimizer<U> {
    Optimizer<U>(
      settings: settings, step: step, first: first.converted(to: U.self), second: second.converted(to: U.self))
  }

  init(settings: OptimizerSettings, step: Int, first: Parameters<T>, second: Parameters<T>) {
    self.settings = settings
    self.step = step
    self.first = first
    self.second = second
  }
}
