// What the tool reports is what an independent computation gives: `rbp
// eval` and the metrics training records in /history, against numpy
// working from the files alone (h5py reads the checkpoint's parameters and
// the dataset; relaxation to the fixed point or the recurrence in time,
// the loss of SPEC §1 and the task's accuracy rule written out again).

import Foundation
import RBPStore
import RBPTestSupport
import Testing

/// numpy's metrics of a checkpoint on a dataset: prints one JSON object
/// with the loss J, the accuracy and how many outputs lie in (0.5, 0.9)
/// (where a wrong accuracy threshold would show).
let referenceMetrics = #"""
  import sys, json, h5py, numpy as np
  ck_path, data_path, task, part = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
  text = lambda v: v.decode() if isinstance(v, bytes) else str(v)
  with h5py.File(ck_path, "r") as f:
      a = f.attrs
      model, act, loss = text(a["model"]), text(a["activation"]), text(a["loss"])
      n, i_, o = int(a["units"]), int(a["inputs"]), int(a["outputs"])
      coupling = text(a["coupling"]) if "coupling" in a else "dense"
      leak = float(a["leak"]) if "leak" in a else 1.0
      W, b = f["params/W"][()], f["params/b"][()]
      U = f["params/U"][()] if "params/U" in f else None
      x0 = f["params/x0"][()] if "params/x0" in f else np.zeros(n)
  with h5py.File(data_path, "r") as f:
      g = f[part] if part else f
      u, y = g["inputs"][()].astype(np.float64), g["targets"][()].astype(np.float64)
      m = g["mask"][()].astype(np.float64) if "mask" in g else np.ones_like(y)
      init = g["initial"][()].astype(np.float64) if "initial" in g else None
  fn = {"tanh": np.tanh, "logistic": lambda z: 1 / (1 + np.exp(-z)),
        "linear": lambda z: z, "relu": lambda z: np.maximum(z, 0)}[act]
  def drive(uu):
      d = np.tile(b, uu.shape[:-1] + (1,))
      if uu.shape[-1] == 0: return d
      if coupling == "identity":
          d[..., :uu.shape[-1]] += uu
          return d
      return d + uu @ U.T
  def ell(x, yy, mm):   # summed over the last axis
      if loss == "mse": return 0.5 * np.sum(mm * (x - yy) ** 2, axis=-1)
      with np.errstate(divide="ignore"):
          t = np.where(yy != 0, yy * np.log(x), 0) + np.where(yy != 1, (1 - yy) * np.log(1 - x), 0)
      return -np.sum(mm * t, axis=-1)
  if model == "steady":
      A = drive(u)
      x = init.copy() if init is not None else np.zeros((u.shape[0], n))
      for it in range(100000):
          nx = fn(x @ W.T + A)
          if np.max(np.abs(nx - x)) <= 1e-14 * max(1, np.max(np.abs(nx))): x = nx; break
          x = nx
      out = x[:, n - o:]
      J = float(np.mean(ell(out, y, m)))
  else:
      P, T = u.shape[0], u.shape[1]
      x = init.copy() if init is not None else np.tile(x0, (P, 1))
      outs, L = [], np.zeros(P)
      A = drive(u)
      for t in range(T):
          x = (1 - leak) * x + leak * fn(x @ W.T + A[:, t])
          outs.append(x[:, n - o:])
          L += ell(x[:, n - o:], y[:, t], m[:, t])
      out = np.stack(outs, axis=1)
      J = float(np.mean(L))
  keep = m != 0
  if task in ("xor", "encoder") or (task == "" and np.all((y == 0) | (y == 1))):
      right = (out > 0.5) == (y > 0.5)
  elif task in ("patterns", "delayed-xor"):
      right = (out > 0) == (y > 0)
  else:
      right = np.abs(out - y) < 0.1
  accuracy = float(np.sum(right & keep) / max(np.sum(keep), 1))
  between = int(np.sum(keep & (out > 0.5) & (out < 0.9)))
  print(json.dumps({"loss": J, "accuracy": accuracy, "between": between}))
  """#

@Suite("Reported metrics against numpy", .serialized)
struct MetricsTests {
  /// Trains briefly in f64, then compares `rbp eval` and the last epoch's
  /// validation metrics with numpy's, on the set validation uses (the
  /// test set where the task has one).
  @Test(arguments: [("xor", "8", false), ("patterns", "6", true), ("figure8", "4", false)])
  func evalAndTrainingMetricsMatchNumpy(task: String, epochs: String, hasTest: Bool) throws {
    let python = try requirePython()
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let train = try rbp([
      "train", "--data", shipped(task), "--out", dir, "--epochs", epochs, "--precision", "f64",
      "--quiet",
    ])
    try #require(train.status == 0, "\(train.err)")
    let ck = dir + "/checkpoint.h5"
    var evalArgs = ["eval", "--checkpoint", ck, "--data", shipped(task), "--json"]
    // Training validates on /val where the dataset has one (the classic
    // tasks with a test set do).
    if hasTest { evalArgs.append("--val") }
    let eval = try rbp(evalArgs)
    try #require(eval.status == 0, "\(eval.err)")
    let ref = try runProgram(python, ["-c", referenceMetrics, ck, shipped(task), task, hasTest ? "val" : ""])
    try #require(ref.status == 0, "numpy reference failed: \(ref.err)")
    // Numbers parsed exactly (Foundation's JSON parser may change the last digit).
    let loss = try #require(jsonNumber(eval.out, "loss")), refLoss = try #require(jsonNumber(ref.out, "loss"))
    #expect(abs(loss - refLoss) <= 1e-9 * max(1, abs(refLoss)), "\(task): rbp eval loss \(loss), numpy \(refLoss)")
    let accuracy = try #require(jsonNumber(eval.out, "accuracy"))
    let refAccuracy = try #require(jsonNumber(ref.out, "accuracy"))
    #expect(accuracy == refAccuracy, "\(task): rbp eval accuracy \(accuracy), numpy \(refAccuracy)")
    if task == "xor" {
      // Outputs between 0.5 and 0.9 make the accuracy rule's threshold visible.
      #expect((jsonNumber(ref.out, "between") ?? 0) > 0, "no output in (0.5, 0.9): the threshold goes unchecked")
    }
    // What training reported for its last epoch is what rbp eval computes.
    let history = try CheckpointFile.read(ck).history
    #expect(
      history[.valLoss]?.last == loss, "\(task): training's val_loss \(history[.valLoss]?.last ?? .nan) vs eval \(loss)"
    )
    #expect(history[.valAccuracy]?.last == accuracy)
  }
}
