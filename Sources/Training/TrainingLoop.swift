import Executor
import GraphIR
import Passes

// The training loop: a planned runner holding the parameters, BN statistics and optimizer state across
// steps; a second runner of the eval graph (BN on running statistics) that classifies the test split
// after each epoch with the trained parameters copied in by name. The memory figures are the OS's, over
// the first epoch's training steps (`MemoryMeasurement`), before any evaluation.
#if canImport(Glibc)
    import Glibc
#endif

/// One epoch's figures.
public struct EpochResult: Sendable {
    public var epoch: Int
    /// Mean training loss over the epoch's steps.
    public var loss: Double
    public var accuracy: Double
    public var correct: Int
    public var tested: Int
    /// Training time (evaluation excluded) and evaluation time.
    public var seconds: Double
    public var evalSeconds: Double
}

/// What a loop's caller hears while it runs (the CLI draws a progress bar from it).
public struct TrainingProgress {
    /// After every step: epoch (1-based), step within it (1-based), the step's loss, seconds into the epoch.
    public var step: (_ epoch: Int, _ done: Int, _ loss: Float, _ elapsed: Double) -> Void
    /// After every epoch's evaluation.
    public var epoch: (EpochResult) -> Void
    /// Before a non-finite loss is thrown (so a bar can be cleared).
    public var stopped: () -> Void

    public init(
        step: @escaping (Int, Int, Float, Double) -> Void = { _, _, _, _ in },
        epoch: @escaping (EpochResult) -> Void = { _ in }, stopped: @escaping () -> Void = {}
    ) {
        self.step = step
        self.epoch = epoch
        self.stopped = stopped
    }

    public static var silent: TrainingProgress { TrainingProgress() }
}

/// A non-finite loss stopped training. `lastGood` (when the loop kept it) is the state that gave the last
/// finite loss and the number of updates behind it.
public struct TrainingStopped: Error, @unchecked Sendable {
    public var loss: Float
    /// 1-based over the run; the epoch and the batch within it.
    public var step: Int
    public var epoch: Int
    public var batchIndex: Int
    public var lastGood: (updates: Int, storage: [ValueID: HostTensor])?
}

/// What a finished run did.
public struct TrainingOutcome: Sendable {
    public var epochs: [EpochResult]
    public var steps: Int
    public var lastLoss: Float?
    /// Over the first epoch's steps (or no step, when no epoch ran).
    public var measurement: MemoryMeasurement

    public var accuracy: Double? { epochs.last?.accuracy }
    public var loss: Double? { epochs.last?.loss }
    public var secondsPerEpoch: Double {
        epochs.isEmpty ? 0 : epochs.map(\.seconds).reduce(0, +) / Double(epochs.count)
    }
}

/// One run of a `TrainingSetup` from given weights.
public final class TrainingLoop {
    public let setup: TrainingSetup
    /// The training step's runner: its storage holds the trained state after `train`.
    public let runner: PlannedRunner
    private let evaluator: PlannedRunner
    private let evalInput: HostTensor
    private let baseline: MemoryBaseline
    private let copies: [(from: HostTensor, to: HostTensor)]
    private let keepLastGood: Bool
    /// The starting weights' test result, when the loop was made with `evaluateFirst`.
    public let startResult: (correct: Int, tested: Int)?
    private let inputs: (x: HostTensor, y: HostTensor, all: [HostTensor])
    private let stateIDs: [ValueID]
    /// The state before the running step (only with `keepLastGood`).
    private var pending: [HostTensor]

    /// Makes the eval runner, then (after the memory baseline: the measurement is the step's) the training
    /// runner with `weights` copied in. `observer` watches the training runner's nodes (a trace recorder).
    /// `keepLastGood` keeps a copy of the state before every step, for `TrainingStopped.lastGood`.
    /// `evaluateFirst` classifies the test split with `weights` before the baseline (`startResult`).
    public init(
        _ setup: TrainingSetup, weights: [(ValueID, Checkpoint.Tensor)], seed: UInt64,
        observer: (any NodeObserver)? = nil, keepLastGood: Bool = false, evaluateFirst: Bool = false
    ) throws {
        self.setup = setup
        self.keepLastGood = keepLastGood
        // The batch, the state copies and the eval runner are made before the baseline: the measurement
        // is the step's.
        inputs = try setup.feeds()
        stateIDs = Checkpoint.stateParameters(of: setup.step)
        pending = keepLastGood ? stateIDs.map { HostTensor(setup.step[$0].type) } : []
        let evalPlan = MemoryPlanner.plan(
            Liveness(setup.eval).transientIntervals(), strategy: GreedyBySize(), alignment: 64)
        evaluator = try PlannedRunner(setup.eval, plan: evalPlan, seed: seed)
        evalInput = HostTensor(setup.eval[setup.eval.inputs[0]].type)
        if evaluateFirst {
            // The starting weights, classified before the baseline: the evaluation's pages are not the step's.
            for (id, t) in weights {
                if let to = evaluator.parameter(named: setup.step[id].name) { t.copy(into: to.view) }
            }
            startResult = try Self.evaluate(evaluator, input: evalInput, test: setup.test, batch: setup.batch)
        } else {
            startResult = nil
        }
        baseline = MemoryBaseline.now()
        runner = try PlannedRunner(setup.step, plan: setup.plan, seed: seed)
        runner.observer = observer
        for (id, t) in weights { t.copy(into: runner.storage(of: id)!) }
        let runner = runner, evaluator = evaluator
        copies = try setup.eval.parameters.map { id in
            let name = setup.eval[id].name
            guard let from = runner.parameter(named: name), let to = evaluator.parameter(named: name) else {
                throw TrainingError("internal error: the training step has no parameter '\(name)' of the eval graph")
            }
            return (from, to)
        }
    }

    /// Runs `epochs` epochs (each evaluated), reporting to `progress`. A non-finite loss throws
    /// `TrainingStopped`.
    public func train(epochs: Int, progress: TrainingProgress = .silent) throws -> TrainingOutcome {
        let s = setup, g = s.step
        let (x, y, feeds) = inputs
        // The last good state: the parameters that produced the last finite loss.
        var good: [HostTensor]? = nil
        var goodSteps = 0
        var results: [EpochResult] = []
        var stepsRun = 0, lastLoss: Float?
        var measurement: MemoryMeasurement?
        for epoch in 0..<epochs {
            let order = s.train.order(epoch: epoch)
            let start = Self.clock()
            var sum = 0.0
            for b in 0..<s.stepsPerEpoch {
                s.fillStep(b, order: order, x: x, y: y)
                if keepLastGood {
                    for (k, id) in stateIDs.enumerated() { pending[k].copy(from: runner.storage(of: id)!) }
                }
                let loss = try runner.run(feeds)[0].f32[0]
                guard loss.isFinite else {
                    progress.stopped()
                    var kept: (Int, [ValueID: HostTensor])?
                    if let good {
                        var byID: [ValueID: HostTensor] = [:]
                        for (k, id) in stateIDs.enumerated() { byID[id] = good[k] }
                        kept = (goodSteps, byID)
                    }
                    throw TrainingStopped(
                        loss: loss, step: stepsRun + 1, epoch: epoch + 1, batchIndex: b + 1, lastGood: kept)
                }
                stepsRun += 1
                if keepLastGood {
                    if good == nil { good = stateIDs.map { HostTensor(g[$0].type) } }
                    swap(&good!, &pending)
                    goodSteps = stepsRun - 1
                }
                sum += Double(loss)
                lastLoss = loss
                progress.step(epoch + 1, b + 1, loss, Self.clock() - start)
            }
            let seconds = Self.clock() - start
            if measurement == nil { measurement = runner.measurement(steps: stepsRun, since: baseline) }
            let evalStart = Self.clock()
            let (correct, tested) = try evaluate()
            var r = EpochResult(
                epoch: epoch + 1, loss: sum / Double(max(s.stepsPerEpoch, 1)),
                accuracy: tested > 0 ? Double(correct) / Double(tested) : 0, correct: correct,
                tested: tested, seconds: seconds, evalSeconds: 0)
            r.evalSeconds = Self.clock() - evalStart
            results.append(r)
            progress.epoch(r)
        }
        if measurement == nil { measurement = runner.measurement(steps: 0, since: baseline) }
        return TrainingOutcome(epochs: results, steps: stepsRun, lastLoss: lastLoss, measurement: measurement!)
    }

    /// Classifies the test split with the training runner's current parameters, in batches of the
    /// setup's batch (the last one zero-padded, its padded rows ignored); returns the number right and the
    /// number tested.
    public func evaluate() throws -> (correct: Int, tested: Int) {
        for c in copies { c.to.copy(from: c.from.view) }
        return try Self.evaluate(evaluator, input: evalInput, test: setup.test, batch: setup.batch)
    }

    /// Classifies `test` with `runner` (an eval graph at `batch`, `input` its image input).
    public static func evaluate(_ runner: PlannedRunner, input x: HostTensor, test: DataLoader, batch: Int) throws
        -> (correct: Int, tested: Int)
    {
        let n = test.count, h = test.dataset.height, w = test.dataset.width, per = h * w
        var correct = 0, start = 0
        while start < n {
            let k = min(batch, n - start)
            let indices = test.samples[start..<start + k]
            if k < batch {
                (x.view.base + k * per * 4).initializeMemory(as: UInt8.self, repeating: 0, count: (batch - k) * per * 4)
            }
            test.fill(indices, images: TensorView(x.view.base, .f32, Shape([k, 1, h, w])))
            let logits = try runner.run([x])[0]
            let classes = logits.shape[1]
            for (row, sample) in indices.enumerated() {
                let p = logits.f32 + row * classes
                var best = 0
                for c in 1..<max(classes, 1) where p[c] > p[best] { best = c }
                if best == Int(test.dataset.labels[sample]) { correct += 1 }
            }
            start += k
        }
        return (correct, n)
    }

    /// A checkpoint of the training graph's state as it is now, with `steps` in num_batches_tracked.
    public func checkpoint(steps: Int, metadata: [String: String]) -> Checkpoint {
        Checkpoint(graph: setup.step, steps: steps, metadata: metadata) { runner.storage(of: $0)! }
    }

    /// Seconds on the monotonic clock.
    public static func clock() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}
