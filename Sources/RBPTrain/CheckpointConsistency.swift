// A checkpoint read for use: the file's own checks (CheckpointFile), then
// the agreement of its parts that only the run configuration can judge.
// The `config` and `resolved_config` attributes must be JSON run
// configurations, and where they name the network (model, units,
// activation, loss, coupling, leak) or the optimizer (kind, momentum,
// beta2, weight decay, clip), they must say what the arrays and the
// /optimizer attributes say. A file that contradicts itself is refused,
// naming the attribute, rather than resumed or evaluated as one of the two.

import Foundation
import RBPCore
import RBPKernels
import RBPStore

/// Reads the checkpoint at `path` and checks that it agrees with itself.
public func readCheckpoint(_ path: String) throws -> Checkpoint {
  let ck = try CheckpointFile.read(path)
  try ck.checkConsistent(path: path)
  return ck
}

/// A checkpoint's configurations checked against its network.
extension Checkpoint {
  /// Throws when the stored configurations are not JSON run
  /// configurations, or contradict the network or the optimizer state.
  public func checkConsistent(path: String) throws {
    for (attribute, text) in [("config", config), ("resolved_config", resolvedConfig)] {
      guard let text else { continue }
      let c = try RunConfig.parse(json: Data(text.utf8), source: "\(path): attribute '\(attribute)'")
      func agree<V: Equatable>(_ name: String, _ stored: V?, _ actual: V, _ what: String) throws {
        if let stored, stored != actual {
          throw ConfigError(
            "\(path): attribute '\(attribute)' says \(name) \(stored), but the checkpoint \(what) \(actual)")
        }
      }
      try agree("model", c.model?.rawValue, model.rawValue, "holds a")
      try agree("units", c.units, shape.units, "has")
      try agree("activation", c.activation?.rawValue, activation.rawValue, "has")
      try agree("loss", c.loss?.rawValue, loss.rawValue, "has")
      try agree("coupling", c.coupling?.rawValue, shape.coupling.rawValue, "has")
      if model == .trajectory { try agree("leak", c.leak, leak, "has") }
      if let o = progress?.optimizer.settings {
        let attributes = "'/optimizer' attribute"
        try agree("optimizer", c.optimizer?.rawValue, o.kind.rawValue, "\(attributes) is")
        if o.kind != .sgd { try agree("momentum", c.momentum, o.beta1, "\(attributes) is") }
        if o.kind == .adam { try agree("beta2", c.beta2, o.beta2, "\(attributes) is") }
        try agree("weight_decay", c.weightDecay, o.weightDecay, "\(attributes) is")
        if let clip = c.clip { try agree("clip", clip, o.clipNorm ?? .infinity, "\(attributes) is") }
      }
    }
  }
}
