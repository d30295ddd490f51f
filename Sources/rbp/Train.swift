// `rbp train --data D.h5 --out DIR [--config RUN.json] [flags]`: trains a
// network and writes DIR/checkpoint.h5 (with /history); --resume continues
// from it.

import ArgumentParser
import Foundation
import RBPCore
import RBPStore
import RBPTrain

struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train a network on a dataset.", discussion: RunOptions.help)

  @Option(help: "The dataset (rbp-dataset).") var data: String
  @Option(help: "Output folder; the checkpoint is OUT/checkpoint.h5.") var out: String
  @Option(help: "A JSON run configuration (keys are the settings' names below; flags override it).") var config: String?
  @Flag(help: "Continue from OUT/checkpoint.h5.") var resume = false
  @Flag(help: "Replace the run OUT holds (without it, a folder holding a run is refused).") var overwrite = false
  @Flag(help: "No progress output.") var quiet = false
  @Flag(help: "One JSON object per epoch on stdout.") var json = false
  @Option(
    name: .customLong("log-every"),
    help:
      "Print every K-th epoch (and the last) in logs and --json (default: about 25 lines per run); a terminal's live line shows every epoch."
  )
  var logEvery: Int?
  @OptionGroup var options: RunOptions

  func run() throws {
    try reporting {
      if let logEvery, logEvery < 1 { throw CLIFailure(message: "--log-every must be at least 1, got \(logEvery)") }
      guard !(resume && overwrite) else { throw CLIFailure(message: "--resume and --overwrite: choose one") }
      let out = trimmedFolder(self.out)
      let checkpointPath = joinedPath(out, "checkpoint.h5")
      var isFolder: ObjCBool = false
      if FileManager.default.fileExists(atPath: out, isDirectory: &isFolder), !isFolder.boolValue {
        throw CLIFailure(message: "--out \(out) exists and is not a folder")
      }
      try refuseOverwritingInputs(
        outputs: [("--out", checkpointPath)],
        inputs: [("--data", data)] + (config.map { [("--config", $0)] } ?? []))
      if !resume && !overwrite && FileManager.default.fileExists(atPath: checkpointPath) {
        throw CLIFailure(
          message: "--out \(out) holds a run (\(checkpointPath)); give --resume to continue it "
            + "or --overwrite to replace it")
      }
      var resolvedConfig = try config.map(readConfig) ?? RunConfig()
      var resumeFrom: Checkpoint? = nil
      var stored: RunConfig? = nil
      if resume {
        let ck = try readCheckpoint(checkpointPath)
        if let saved = ck.config {
          stored = try RunConfig.parse(json: Data(saved.utf8), source: checkpointPath + " (config)")
          resolvedConfig = stored!.overridden(by: resolvedConfig)
        }
        resumeFrom = ck
      }
      let flags = try options.config()
      resolvedConfig = resolvedConfig.overridden(by: flags)
      let summary = try DatasetSummary.read(data)
      let plan = try resolvedConfig.resolved(for: summary)
      let dataHash = try ContentHash.ofFile(data)
      if let ck = resumeFrom {
        try plan.checkResumable(from: try (stored ?? RunConfig()).resolved(for: summary), at: ck.epoch)
        if let trained = ck.dataHash, trained != dataHash {
          throw CLIFailure(
            message: "--resume: \(data) is not the dataset this run was trained on (its bytes hash to "
              + "\(dataHash), the checkpoint's data_hash is \(trained)); a resumed run keeps its data")
        }
      }
      // The trainer reads and checks the data before anything is written.
      let trainer = try makeTrainer(
        plan: plan, summary: summary, dataHash: dataHash, checkpoint: checkpointPath,
        resumeFrom: resumeFrom, learningRate: resume ? flags.lr : nil)
      // Everything is checked; only now does the output folder appear.
      let folder = try OutputFolder.lock(out)
      // The run replaced takes its best epoch with it.
      if overwrite { unlink(joinedPath(out, "best.h5")) }
      let printer = ProgressPrinter(quiet: quiet, json: json)
      installStopHandlers()
      let outcome: TrainingOutcome
      do {
        let toTrain = max(plan.epochs - (resumeFrom?.epoch ?? 0), 1)
        outcome = try trainer(
          trainingReport(
            plan: plan, summary: summary, printer: printer,
            logEvery: logEvery ?? max(1, toTrain / 25)))
      } catch let interrupted as TrainingInterrupted {
        printer.finish()
        throw interruptedExit(interrupted.signal, message: interrupted.description)
      } catch {
        printer.finish()
        folder.discardIfEmpty()
        throw error
      }
      printer.finish()
      let first = (resumeFrom?.epoch ?? 0) + 1
      if json {
        var object: [String: Any?] = [
          "checkpoint": outcome.checkpoint, "best": outcome.bestCheckpoint,
          "best_epoch": outcome.bestEpoch, "best_val_loss": outcome.bestValidationLoss,
          "epochs": outcome.epochs, "epochs_trained": max(0, outcome.epochs - first + 1),
          "stop_reason": outcome.stopReason, "seconds": outcome.seconds,
          "validation": outcome.validation,
        ]
        if let last = outcome.final {
          object["loss"] = last.loss
          object["val_loss"] = last.validationLoss
          object["val_accuracy"] = last.validationAccuracy
          object["solved"] = last.solved
        }
        writeLine(jsonLine(object))
      } else if !quiet {
        if outcome.final == nil && outcome.stoppedEarly {
          print(
            "nothing to train: the run already met its stopping rule (\(outcome.stopReason ?? "?")) at epoch "
              + "\(outcome.epochs); checkpoint \(outcome.checkpoint)")
        }
        if let last = outcome.final {
          let span = first == 1 ? "\(outcome.epochs) epochs" : "epochs \(first)–\(outcome.epochs)"
          print(
            "trained \(span) in \(clock(outcome.seconds)): loss \(format6(last.loss)), "
              + "validation loss \(format6(last.validationLoss))"
              + (last.validationAccuracy.map { ", accuracy \(format6($0))" } ?? "")
              + (last.solved.map { $0 ? ", solved" : ", not solved" } ?? "")
              + (outcome.stopReason.map { "; stopped: \($0)" } ?? "")
              + (outcome.bestEpoch.map { "; best epoch \($0) (\(outcome.bestCheckpoint ?? ""))" } ?? "")
              + "; checkpoint \(outcome.checkpoint)")
        }
      }
    }
  }
}

/// A trainer for a plan in its precision, set up (its data read and
/// checked, nothing written); calling it runs the training.
func makeTrainer(
  plan: TrainingPlan, summary: DatasetSummary, dataHash: String, checkpoint: String,
  resumeFrom: Checkpoint?, learningRate: Double? = nil
) throws
  -> (_ report: @escaping (EpochReport) -> Void) throws -> TrainingOutcome
{
  let runHash = plan.identity(dataHash: dataHash)
  if plan.precision == .f64 {
    let t = try Trainer<Double>(
      plan: plan, data: summary.path, summary: summary, checkpoint: checkpoint,
      resumeFrom: resumeFrom, learningRate: learningRate)
    t.runHash = runHash
    t.dataHash = dataHash
    return { try t.run(report: $0) }
  }
  let t = try Trainer<Float>(
    plan: plan, data: summary.path, summary: summary, checkpoint: checkpoint,
    resumeFrom: resumeFrom, learningRate: learningRate)
  t.runHash = runHash
  t.dataHash = dataHash
  return { try t.run(report: $0) }
}

/// What `rbp train` prints after each epoch (and the notices before).
func trainingReport(
  plan: TrainingPlan, summary: DatasetSummary, printer: ProgressPrinter, logEvery: Int
)
  -> (EpochReport) -> Void
{
  if plan.model == .steady && summary.hasInitial && summary.inputs == 0 {
    printer.notice(
      "Note: this steady dataset gives its cues only as /initial, with no inputs. Recurrent backpropagation "
        + "differentiates the fixed point as a function of the parameters and the inputs; it does not see which "
        + "basin the initial state lies in, so it cannot learn such cues. Give the cue as input, or train the "
        + "trajectory model through the relaxation (see docs/steady-states.md).")
  }
  // Rate and ETA from an exponentially smoothed epoch time (a tenth of
  // each new epoch), elapsed from the first report.
  final class Clock: @unchecked Sendable {
    let start = Date()
    var secondsPerEpoch: Double? = nil
  }
  let clockState = Clock()
  return { (r: EpochReport) in
    let smoothed = clockState.secondsPerEpoch.map { 0.9 * $0 + 0.1 * r.seconds } ?? r.seconds
    clockState.secondsPerEpoch = smoothed
    if !r.unsettledPatterns.isEmpty {
      let list =
        r.unsettledPatterns.prefix(10).map(String.init).joined(separator: ", ")
        + (r.unsettledPatterns.count > 10 ? ", …" : "")
      printer.notice(
        "epoch \(r.epoch): \(r.unsettledPatterns.count) patterns did not settle in some step and were left "
          + "out of its gradient: \(list)")
    }
    guard printer.mode == .live || r.epoch % logEvery == 0 || r.epoch == r.epochs else { return }
    let eta = Double(r.epochs - r.epoch) * smoothed
    let rate = r.patternsPerSecond * r.seconds / max(smoothed, 1e-9)
    printer.update(
      "epoch \(r.epoch)/\(r.epochs)  loss \(format6(r.loss))  val \(format6(r.validationLoss))"
        + (r.validationAccuracy.map { "  acc \(String(format: "%.3f", $0))" } ?? "")
        + "  \(Int(rate)) patterns/s  \(clock(Date().timeIntervalSince(clockState.start))) elapsed  ETA \(clock(eta))",
      json: [
        "epoch": r.epoch, "epochs": r.epochs, "loss": r.loss, "val_loss": r.validationLoss,
        "val_accuracy": r.validationAccuracy ?? NSNull(), "solved": r.solved ?? NSNull(),
        "seconds_per_epoch": (r.seconds * 1e6).rounded() / 1e6,
        "unsettled": r.unsettledPatterns.count, "val_unsettled": r.validationUnsettled,
      ])
  }
}
