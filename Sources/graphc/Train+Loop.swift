import ArgumentParser
import Executor
import Foundation
import GraphIR
import Passes

/// One epoch's figures.
struct EpochResult {
    var epoch: Int
    /// Mean training loss over the epoch's steps.
    var loss: Double
    var accuracy: Double
    var correct: Int
    var tested: Int
    /// Training time (evaluation excluded) and evaluation time.
    var seconds: Double
    var evalSeconds: Double
}

/// A progress bar on stderr, redrawn in place, only when stderr is a terminal.
final class ProgressBar {
    let enabled = isatty(2) == 1
    private var drawn = false
    private var lastDraw = 0.0

    func update(_ label: String, done: Int, total: Int, loss: Float?, elapsed: Double) {
        guard enabled else { return }
        let now = Train.clock()
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
    static func clock() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// The training graph's image and label inputs (by dtype: the image is f32, the labels i64).
    private func feeds(_ g: Graph) throws -> (x: HostTensor, y: HostTensor, all: [HostTensor]) {
        guard g.inputs.count == 2, let xi = g.inputs.first(where: { g[$0].type.dtype == .f32 }),
            let yi = g.inputs.first(where: { g[$0].type.dtype == .i64 })
        else {
            throw CLIError("the training step of '\(g.name)' does not take one image and one label input")
        }
        let x = HostTensor(g[xi].type), y = HostTensor(g[yi].type)
        return (x, y, g.inputs.map { $0 == xi ? x : y })
    }

    /// The batch of training step `index` (0-based over the whole run) into `x`, `y`.
    private func fillStep(_ s: Setup, _ index: Int, order: [Int], x: HostTensor, y: HostTensor) {
        let indices = s.train.batch(index % s.stepsPerEpoch, of: order, size: batch)
        s.train.fill(indices, images: x.view, labels: y.view)
    }

    // MARK: Training

    func trainLoop(_ s: Setup, inputs: [String]) throws {
        let g = s.step
        let (x, y, feeds) = try feeds(g)
        // The evaluation runner and its input, made before the baseline: the measurement is the step's.
        let evalPlan = MemoryPlanner.plan(
            Liveness(s.eval).transientIntervals(), strategy: GreedyBySize(), alignment: 64)
        let evaluator = try PlannedRunner(s.eval, plan: evalPlan, seed: seed)
        let ex = HostTensor(s.eval[s.eval.inputs[0]].type)
        let saving = saveCheckpoint != nil
        let stateIDs = Checkpoint.stateParameters(of: g)
        // The last good state (see `stop`): the parameters that produced the last finite loss.
        var good: [HostTensor]? = nil, pending: [HostTensor] = saving ? stateIDs.map { HostTensor(g[$0].type) } : []
        var goodSteps = 0

        let baseline = MemoryBaseline.now()
        let runner = try PlannedRunner(g, plan: s.plan, seed: seed)
        // --trace: the recorder observes the training runner's nodes; its categories are the analyses'.
        let recorder = trace.map { _ in
            TraceRecorder(
                g, plan: s.plan, categories: Liveness(g).entries.map { $0.category.rawValue },
                maxSteps: traceSteps)
        }
        runner.observer = recorder
        for (id, t) in s.weights { t.copy(into: runner.storage(of: id)!) }
        let copies: [(from: HostTensor, to: HostTensor)] = try s.eval.parameters.map { id in
            let name = s.eval[id].name
            guard let from = runner.parameter(named: name), let to = evaluator.parameter(named: name) else {
                throw CLIError("internal error: the training step has no parameter '\(name)' of the eval graph")
            }
            return (from, to)
        }

        let progress = ProgressBar()
        var results: [EpochResult] = []
        var stepsRun = 0, lastLoss: Float?
        var measurement: MemoryMeasurement?
        for epoch in 0..<epochs {
            let order = s.train.order(epoch: epoch)
            let start = Self.clock()
            var sum = 0.0
            let label = "epoch \(epoch + 1)/\(epochs)"
            for b in 0..<s.stepsPerEpoch {
                fillStep(s, b, order: order, x: x, y: y)
                if saving {
                    for (k, id) in stateIDs.enumerated() { pending[k].copy(from: runner.storage(of: id)!) }
                }
                let loss = try runner.run(feeds)[0].f32[0]
                guard loss.isFinite else {
                    progress.clear()
                    try stop(
                        s, loss: loss, step: stepsRun + 1, epoch: epoch + 1, batchIndex: b + 1,
                        good: good.map { (goodSteps, $0) }, stateIDs: stateIDs, inputs: inputs)
                }
                stepsRun += 1
                if saving {
                    if good == nil { good = stateIDs.map { HostTensor(g[$0].type) } }
                    swap(&good!, &pending)
                    goodSteps = stepsRun - 1
                }
                sum += Double(loss)
                lastLoss = loss
                progress.update(label, done: b + 1, total: s.stepsPerEpoch, loss: loss, elapsed: Self.clock() - start)
            }
            let seconds = Self.clock() - start
            if measurement == nil { measurement = runner.measurement(steps: stepsRun, since: baseline) }
            let evalStart = Self.clock()
            for c in copies { c.to.copy(from: c.from.view) }
            let (correct, tested) = try evaluate(s, evaluator, ex)
            var r = EpochResult(
                epoch: epoch + 1, loss: sum / Double(max(s.stepsPerEpoch, 1)),
                accuracy: tested > 0 ? Double(correct) / Double(tested) : 0, correct: correct,
                tested: tested, seconds: seconds, evalSeconds: 0)
            r.evalSeconds = Self.clock() - evalStart
            results.append(r)
            progress.line(
                "\(label): loss \(String(format: "%.4f", r.loss)), test accuracy "
                    + String(format: "%.4f", r.accuracy) + " (\(correct)/\(tested)), "
                    + String(
                        format: "%.1f s, %.0f samples/s", seconds,
                        Double(s.stepsPerEpoch * batch) / max(seconds, 1e-9)))
        }
        if measurement == nil { measurement = runner.measurement(steps: 0, since: baseline) }
        var initial: (correct: Int, tested: Int)?
        if epochs == 0 {
            for c in copies { c.to.copy(from: c.from.view) }
            initial = try evaluate(s, evaluator, ex)
        }

        runner.observer = nil
        // The checkpoint and the trace land together or not at all.
        let outputs = OutputSet(inputs: inputs)
        if let saveCheckpoint {
            let ckpt = checkpoint(s, steps: s.priorSteps + stepsRun) { runner.storage(of: $0)! }
            try outputs.stage(saveCheckpoint, ckpt.serialized())
        }
        if let trace, let recorder { try outputs.stage(trace, recorder.json(measurement: measurement)) }
        try outputs.commit()
        let summary = Summary(
            setup: s, epochs: results, initial: initial, steps: stepsRun, lastLoss: lastLoss,
            measurement: measurement!, batch: batch, lr: lr)
        printOut(format == .json ? summary.json.rendered() : summary.table, terminator: format == .json ? "\n" : "")
    }

    /// A checkpoint of the training graph's state with `steps` in num_batches_tracked.
    private func checkpoint(_ s: Setup, steps: Int, storage: (ValueID) -> TensorView) -> Checkpoint {
        Checkpoint(
            graph: s.step, steps: steps,
            metadata: ["model": s.eval.name, "method": s.config.label, "producer": "graphc train"],
            storage: storage)
    }

    /// A non-finite loss: writes the last good state (the parameters that gave the last finite loss) when
    /// saving, and fails naming the step.
    private func stop(
        _ s: Setup, loss: Float, step: Int, epoch: Int, batchIndex: Int, good: (Int, [HostTensor])?,
        stateIDs: [ValueID], inputs: [String]
    ) throws -> Never {
        let shown = loss.isNaN ? "NaN" : loss > 0 ? "+infinity" : "-infinity"
        var message = "the loss is \(shown) at step \(step) (epoch \(epoch), batch \(batchIndex)): training stopped"
        if let saveCheckpoint {
            if let (steps, tensors) = good {
                var byID: [Int: TensorView] = [:]
                for (k, id) in stateIDs.enumerated() { byID[id.raw] = tensors[k].view }
                let ckpt = checkpoint(s, steps: s.priorSteps + steps) { byID[$0.raw]! }
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

    /// Classifies the test split in batches of `batch` (the last one zero-padded, its padded rows
    /// ignored); returns the number right and the number tested.
    private func evaluate(_ s: Setup, _ runner: PlannedRunner, _ x: HostTensor) throws -> (Int, Int) {
        let n = s.test.count, h = s.test.dataset.height, w = s.test.dataset.width, per = h * w
        var correct = 0, start = 0
        while start < n {
            let k = min(batch, n - start)
            let indices = s.test.samples[start..<start + k]
            if k < batch {
                (x.view.base + k * per * 4).initializeMemory(as: UInt8.self, repeating: 0, count: (batch - k) * per * 4)
            }
            s.test.fill(indices, images: TensorView(x.view.base, .f32, Shape([k, 1, h, w])))
            let logits = try runner.run([x])[0]
            let classes = logits.shape[1]
            for (row, sample) in indices.enumerated() {
                let p = logits.f32 + row * classes
                var best = 0
                for c in 1..<max(classes, 1) where p[c] > p[best] { best = c }
                if best == Int(s.test.dataset.labels[sample]) { correct += 1 }
            }
            start += k
        }
        return (correct, n)
    }

    // MARK: check-plan

    func runCheckPlan(_ s: Setup) throws {
        let total = epochs * s.stepsPerEpoch
        guard total >= 1 else { throw CLIError("--check-plan needs at least one step (--epochs 0 runs none)") }
        let g = s.step
        var weights: [Int: Checkpoint.Tensor] = [:]
        for (id, t) in s.weights { weights[id.raw] = t }
        let progress = ProgressBar()
        var order: [Int] = []
        let start = Self.clock()
        let report = try PlannedRunner.checkPlan(
            g, plan: s.plan, steps: total, seed: seed,
            initialize: { id, view in weights[id.raw]?.copy(into: view) }
        ) { step in
            let index = step - 1
            if index % s.stepsPerEpoch == 0 { order = s.train.order(epoch: index / s.stepsPerEpoch) }
            let (x, y, all) = try feeds(g)
            fillStep(s, index, order: order, x: x, y: y)
            progress.update("check-plan", done: index, total: total, loss: nil, elapsed: Self.clock() - start)
            return all
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
            printOut("\(g.name) \(s.config.label), batch \(batch), \(total) steps: \(report)")
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
    var setup: Train.Setup
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
            "\(s.eval.name) \(s.config.label), \(s.config.optimizer.rawValue) lr \(lr), batch \(batch): "
            + "\(epochs.count) epoch\(epochs.count == 1 ? "" : "s"), \(steps) steps over \(s.train.count) training samples"
            + (dropped > 0 ? " (the trailing partial batch of \(dropped) dropped each epoch)" : "")
            + "; \(s.test.count) test samples\n"
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
        return .object([
            ("model", .string(s.eval.name)), ("method", .string(s.config.method.rawValue)),
            ("rank", s.config.method.takesRank ? .int(s.config.rank) : .null),
            ("optimizer", .string(s.config.optimizer.rawValue)), ("lr", .double(lr)), ("batch", .int(batch)),
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
