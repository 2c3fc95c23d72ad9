import ArgumentParser
import Executor
import Foundation
import GraphIR
import Passes
import Training

/// A progress bar on stderr, redrawn in place, only when stderr is a terminal.
final class ProgressBar {
    let enabled = isatty(2) == 1
    private var drawn = false
    private var lastDraw = 0.0

    func update(_ label: String, done: Int, total: Int, loss: Float?, elapsed: Double) {
        guard enabled else { return }
        let now = TrainingLoop.clock()
        guard done == total || now - lastDraw >= 0.1 else { return }
        lastDraw = now
        let width = 24, filled = total > 0 ? width * done / total : width
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        var line =
            "\(label) [" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            + "] \(done)/\(total)  " + String(format: "%.1f steps/s", rate)
        if let loss { line += "  loss " + String(format: "%.4f", loss) }
        line += "  ETA " + Self.duration(eta)
        StandardStream.error.write("\r\u{1b}[2K" + line)
        drawn = true
    }

    /// Removes the bar, so that a line can be printed.
    func clear() {
        guard drawn else { return }
        StandardStream.error.write("\r\u{1b}[2K")
        drawn = false
    }

    /// Prints a line on stderr (below no bar).
    func line(_ text: String) {
        clear()
        printError(text)
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600
            ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
            : String(format: "%d:%02d", s / 60, s % 60)
    }
}

extension Train {
    // MARK: Training

    func trainLoop(_ start: Start, inputs: [String]) throws {
        let s = start.setup, g = s.step
        // --trace: the recorder observes the training runner's nodes; its categories are the analyses'.
        let recorder = trace.map { _ in
            TraceRecorder(
                g, plan: s.plan, categories: Liveness(g, saving: s.config.saving).entries.map { $0.category.rawValue },
                maxSteps: traceSteps)
        }
        let loop = try TrainingLoop(
            s, weights: start.weights, seed: seed, observer: recorder, keepLastGood: saveCheckpoint != nil)
        let bar = ProgressBar()
        let progress = TrainingProgress(
            step: { epoch, done, loss, elapsed in
                bar.update(
                    "epoch \(epoch)/\(epochs)", done: done, total: s.stepsPerEpoch, loss: loss, elapsed: elapsed)
            },
            epoch: { r in
                bar.line(
                    "epoch \(r.epoch)/\(epochs): loss \(String(format: "%.4f", r.loss)), test accuracy "
                        + String(format: "%.4f", r.accuracy) + " (\(r.correct)/\(r.tested)), "
                        + String(
                            format: "%.1f s, %.0f samples/s", r.seconds,
                            Double(s.stepsPerEpoch * batch) / max(r.seconds, 1e-9)))
            },
            stopped: { bar.clear() })
        let outcome: TrainingOutcome
        do {
            outcome = try loop.train(epochs: epochs, progress: progress)
        } catch let stopped as TrainingStopped {
            try stop(start, stopped, inputs: inputs)
        }
        var initial: (correct: Int, tested: Int)?
        if epochs == 0 { initial = try loop.evaluate() }

        loop.runner.observer = nil
        // The checkpoint and the trace land together or not at all.
        let outputs = OutputSet(inputs: inputs)
        if let saveCheckpoint {
            let ckpt = checkpoint(start, steps: start.priorSteps + outcome.steps) { loop.runner.storage(of: $0)! }
            try outputs.stage(saveCheckpoint, ckpt.serialized())
        }
        if let trace, let recorder { try outputs.stage(trace, recorder.json(measurement: outcome.measurement)) }
        try outputs.commit()
        let summary = Summary(
            setup: s, epochs: outcome.epochs, initial: initial, steps: outcome.steps, lastLoss: outcome.lastLoss,
            measurement: outcome.measurement, batch: batch, lr: lr)
        printOut(format == .json ? summary.json.rendered() : summary.table, terminator: format == .json ? "\n" : "")
    }

    /// A checkpoint of the training graph's state with `steps` in num_batches_tracked.
    private func checkpoint(_ start: Start, steps: Int, storage: (ValueID) -> TensorView) -> Checkpoint {
        Checkpoint(
            graph: start.setup.step, steps: steps,
            metadata: ["model": start.setup.eval.name, "method": start.setup.config.label, "producer": "graphc train"],
            storage: storage)
    }

    /// A non-finite loss: writes the last good state (the parameters that gave the last finite loss) when
    /// saving, and fails naming the step.
    private func stop(_ start: Start, _ stopped: TrainingStopped, inputs: [String]) throws -> Never {
        let step = stopped.step
        var message = stopped.message("the loss", "training stopped")
        if let saveCheckpoint {
            if let (steps, tensors) = stopped.lastGood {
                let ckpt = checkpoint(start, steps: start.priorSteps + steps) { tensors[$0]!.view }
                try OutputSet.write(ckpt.serialized(), to: saveCheckpoint, inputs: inputs)
                message +=
                    "; wrote the last good parameters to '\(saveCheckpoint)' (those of step \(step - 1)'s finite "
                    + "loss, after \(steps) updates)"
            } else {
                message += "; the starting parameters already give it, so nothing was written to '\(saveCheckpoint)'"
            }
        }
        if lr >= 1 { message += " (--lr \(lr) is large)" }
        throw CLIError(message)
    }

    // MARK: check-plan

    func runCheckPlan(_ start: Start) throws {
        let s = start.setup
        let total = epochs * s.stepsPerEpoch
        let g = s.step
        let progress = ProgressBar()
        let began = TrainingLoop.clock()
        let report = try s.checkPlan(weights: start.weights, steps: total, seed: seed) { done in
            progress.update("check-plan", done: done, total: total, loss: nil, elapsed: TrainingLoop.clock() - began)
        }
        progress.clear()
        if format == .json {
            var fields: [(String, JSON)] = [
                ("check_plan", .string(report.passed ? "bit-identical" : "differs")),
                ("passed", .bool(report.passed)), ("steps", .int(report.steps)),
                ("compared_tensors", .int(report.comparedTensors)), ("compared_bytes", .int(report.comparedBytes)),
                ("losses", .array(report.losses.map { .double(Double($0)) })),
                ("arena_bytes", .int(s.plan.arenaBytes)),
            ]
            if !report.passed { fields.append(("message", .string(report.description))) }
            printOut(JSON.object(fields).rendered())
        } else {
            printOut("\(g.name) \(s.config.label), batch \(batch), \(total) steps: \(report)".escapingControlCharacters)
            printOut("reference losses: " + report.losses.map { String(format: "%.6f", $0) }.joined(separator: ", "))
        }
        if !report.passed {
            printError("graphc: error: the planned run differs from the reference (see above)")
            throw ExitCode(1)
        }
    }
}

/// The final report of a training run.
struct Summary {
    var setup: TrainingSetup
    var epochs: [EpochResult]
    /// The accuracy of the starting parameters when no epoch ran.
    var initial: (correct: Int, tested: Int)?
    var steps: Int
    var lastLoss: Float?
    var measurement: MemoryMeasurement
    var batch: Int
    var lr: Double

    var accuracy: Double {
        if let e = epochs.last { return e.accuracy }
        guard let initial, initial.tested > 0 else { return 0 }
        return Double(initial.correct) / Double(initial.tested)
    }
    var loss: Double? { epochs.last?.loss }
    var secondsPerEpoch: Double { epochs.isEmpty ? 0 : epochs.map(\.seconds).reduce(0, +) / Double(epochs.count) }
    var samplesPerSecond: Double {
        let seconds = epochs.map(\.seconds).reduce(0, +)
        return seconds > 0 ? Double(steps * batch) / seconds : 0
    }
    var memory: TrainingReport.Memory { setup.report.memory }
    var dropped: Int { setup.train.count - setup.stepsPerEpoch * batch }

    /// Why the measured figures differ from the predicted peak.
    var explanation: String {
        let m = measurement
        var lines: [String] = []
        let pages = (memory.arenaBytes + m.pageSize - 1) / m.pageSize
        if m.arenaTouchedPages == pages {
            lines.append(
                "the measured arena is the planned arena rounded up to \(m.pageSize)-byte pages (every page written)")
        } else {
            lines.append("the measured arena covers \(m.arenaTouchedPages) of the plan's \(pages) pages (mincore)")
        }
        if let delta = m.peakRSSDeltaBytes {
            let diff = delta - memory.peakBytes
            lines.append(
                "the peak RSS delta is \(group(abs(diff))) bytes \(diff >= 0 ? "above" : "below") the predicted "
                    + "peak: the prediction counts the step's tensors only (unaligned, the batch included, which was "
                    + "allocated before the baseline); the RSS also holds the kernel workspace (\(group(m.workspaceBytes))), "
                    + "page rounding and 64-byte alignment, malloc's pages and metadata, OpenBLAS's buffers, thread "
                    + "stacks and the runner's bookkeeping")
        } else {
            lines.append("the peak RSS could not be reset (/proc/self/clear_refs), so no RSS delta is reported")
        }
        return lines.map { "note: " + $0 }.joined(separator: "\n")
    }

    var table: String {
        let s = setup
        var out =
            "\(s.eval.name.escapingControlCharacters) \(s.config.label), \(s.config.optimizer.rawValue) lr \(lr), batch \(batch): "
            + "\(epochs.count) epoch\(epochs.count == 1 ? "" : "s"), \(steps) steps over \(s.train.count) training samples"
            + (dropped > 0 ? " (the trailing partial batch of \(dropped) dropped each epoch)" : "")
            + "; \(s.test.count) test samples\n" + s.config.memoryModelLabel + "\n"
        func row(_ key: String, _ value: String, _ note: String = "") {
            out += key.padding(toLength: 24, withPad: " ", startingAt: 0) + value
            out += note.isEmpty ? "\n" : "  (" + note + ")\n"
        }
        row("accuracy", String(format: "%.4f", accuracy), epochs.isEmpty ? "the starting parameters" : "test split")
        row(
            "loss", loss.map { String(format: "%.4f", $0) } ?? "-",
            "mean over the last epoch's steps"
                + (lastLoss.map { "; last step " + String(format: "%.4f", $0) } ?? ""))
        row("seconds per epoch", String(format: "%.2f", secondsPerEpoch), "training, evaluation excluded")
        row("samples/s", String(format: "%.1f", samplesPerSecond))
        row("trainable params", group(s.report.trainableParams), "of \(group(s.report.params))")
        row(
            "predicted peak bytes", group(memory.peakBytes),
            "persistent \(group(memory.persistentBytes)) + transient \(group(memory.transientPeakBytes))")
        row("arena bytes", group(memory.arenaBytes), "the plan; lower bound \(group(memory.lowerBoundBytes))")
        row(
            "measured arena bytes", group(measurement.arenaHighWaterBytes),
            "mincore high-water, \(group(measurement.arenaTouchedPages)) pages touched")
        row(
            "measured peak RSS delta", measurement.peakRSSDeltaBytes.map(group) ?? "n/a",
            "over the first epoch's steps")
        row("workspace bytes", group(measurement.workspaceBytes))
        return out + explanation + "\n"
    }

    var json: JSON {
        let s = setup, m = measurement
        return .object(
            [
                ("model", .string(s.eval.name)), ("method", .string(s.config.method.rawValue)),
                ("rank", s.config.method.takesRank ? .int(s.config.rank) : .null),
                ("optimizer", .string(s.config.optimizer.rawValue)), ("lr", .double(lr)), ("batch", .int(batch)),
            ] + s.config.memoryModelFields + [
                ("accuracy", .double(accuracy)), ("loss", loss.map { .double($0) } ?? .null),
                ("epochs", .int(epochs.count)), ("steps", .int(steps)),
                ("seconds_per_epoch", .double(secondsPerEpoch)), ("samples_per_second", .double(samplesPerSecond)),
                ("predicted_peak_bytes", .int(memory.peakBytes)), ("arena_bytes", .int(memory.arenaBytes)),
                ("measured_arena_bytes", .int(m.arenaHighWaterBytes)),
                ("measured_peak_rss_delta_bytes", m.peakRSSDeltaBytes.map { .int($0) } ?? .null),
                ("workspace_bytes", .int(m.workspaceBytes)), ("trainable_params", .int(s.report.trainableParams)),
                ("params", .int(s.report.params)),
                ("persistent_bytes", .int(memory.persistentBytes)), ("lower_bound_bytes", .int(memory.lowerBoundBytes)),
                ("measured_arena_pages", .int(m.arenaTouchedPages)), ("page_size", .int(m.pageSize)),
                ("owned_bytes", .int(m.ownedBytes)),
                ("train_samples", .int(s.train.count)), ("dropped_samples_per_epoch", .int(dropped)),
                ("test_samples", .int(s.test.count)),
                ("last_step_loss", lastLoss.map { .double(Double($0)) } ?? .null),
                (
                    "history",
                    .array(
                        epochs.map { e in
                            .object([
                                ("epoch", .int(e.epoch)), ("loss", .double(e.loss)), ("accuracy", .double(e.accuracy)),
                                ("seconds", .double(e.seconds)), ("eval_seconds", .double(e.evalSeconds)),
                            ])
                        })
                ),
            ])
    }
}

extension TrainingConfig {
    /// The memory model's keys in train's and study's JSON (its `memoryModelLabel` in their tables).
    var memoryModelFields: [(String, JSON)] {
        [
            ("saving", .string(saving.rawValue)), ("bn", .string(bn.rawValue)),
            ("weights_dtype", .string(weights.rawValue)), ("activations_dtype", .string(activations.rawValue)),
        ]
    }
}

/// 1234567 → "1,234,567".
func group(_ n: Int) -> String {
    let digits = String(abs(n))
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(c)
    }
    return n < 0 ? "-" + out : out
}
