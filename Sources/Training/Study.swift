// The study in one call: pretrain once, then fine-tune every method from those same parameters on each
// scenario, and test. What a user compares is on one row per run: the method's cost as the analyses
// predict it (trainable parameters, step FLOPs, peak bytes), the memory the OS saw, the accuracy and the
// time; and per scenario the pretrained model's own accuracy on the scenario's test set, before any
// fine-tuning (the baseline).
//
// Every fine-tune starts from the one in-memory checkpoint of the pretrained parameters (LoRA and DoRA
// adapters added at PyTorch's starting values, as `graphc train --init` does), with fresh optimizer
// state. Each run also classifies its scenario's test set before its first step (`startCorrect`): equal
// to the baseline for every method, which shows they started from the same weights.
import Executor
import GraphIR
import Passes

/// What the fine-tuning data is.
public enum StudyScenario: Sendable, Hashable, CustomStringConvertible {
    /// Fine-tune and test on the classes the pretraining did not see.
    case unseenClasses
    /// Fine-tune and test on transformed images of every class.
    case shift(DataShift)

    /// `unseen-classes`, or `shift=invert`, `shift=rotate90`, `shift=noise=SIGMA`; nil for anything else
    /// (`shift=none` included: it is no scenario).
    public static func parse(_ text: String) -> StudyScenario? {
        if text == "unseen-classes" { return .unseenClasses }
        guard text.hasPrefix("shift="), let shift = DataShift.parse(String(text.dropFirst(6))), shift != .none
        else { return nil }
        return .shift(shift)
    }

    public var description: String {
        switch self {
        case .unseenClasses: return "unseen-classes"
        case .shift(let s): return "shift=\(s)"
        }
    }
}

/// What to run.
public struct StudyRecipe: Sendable {
    /// The forward graph at `batch`, a classifier of 1xHxW images.
    public var forward: Graph
    public var trainSet: ImageDataset
    public var testSet: ImageDataset
    /// The pretraining's configuration (full fine-tuning; its optimizer and learning rate).
    public var pretrain: TrainingConfig
    public var pretrainEpochs: Int
    public var pretrainClasses: Set<Int>
    /// One configuration per method, in the order of the rows.
    public var methods: [TrainingConfig]
    public var epochs: Int
    public var batch: Int
    public var scenarios: [StudyScenario]
    public var limit: Int?
    public var testLimit: Int?
    public var seed: UInt64
    /// The parameters the pretraining starts from and where they come from (an ONNX file's weights);
    /// nil: PyTorch's default initialisation from `seed`.
    public var start: (checkpoint: Checkpoint, file: String)?

    public init(
        forward: Graph, trainSet: ImageDataset, testSet: ImageDataset, pretrain: TrainingConfig,
        pretrainEpochs: Int, pretrainClasses: Set<Int>, methods: [TrainingConfig], epochs: Int, batch: Int,
        scenarios: [StudyScenario], limit: Int?, testLimit: Int?, seed: UInt64,
        start: (checkpoint: Checkpoint, file: String)? = nil
    ) {
        self.start = start
        self.forward = forward
        self.trainSet = trainSet
        self.testSet = testSet
        self.pretrain = pretrain
        self.pretrainEpochs = pretrainEpochs
        self.pretrainClasses = pretrainClasses
        self.methods = methods
        self.epochs = epochs
        self.batch = batch
        self.scenarios = scenarios
        self.limit = limit
        self.testLimit = testLimit
        self.seed = seed
    }

    /// The model's classes.
    public var outputs: Int { forward[forward.outputs[0]].type.shape[1] }

    /// The labels a scenario trains and tests on (nil: all).
    public func classes(_ scenario: StudyScenario) -> Set<Int>? {
        switch scenario {
        case .unseenClasses: return Set(0..<outputs).subtracting(pretrainClasses)
        case .shift: return nil
        }
    }

    public func shift(_ scenario: StudyScenario) -> DataShift {
        switch scenario {
        case .unseenClasses: return .none
        case .shift(let s): return s
        }
    }

    /// The training and test loaders of `classes` under `shift`.
    func loaders(classes: Set<Int>?, shift: DataShift) throws -> (train: DataLoader, test: DataLoader) {
        let train = try DataLoader(
            trainSet, options: DataOptions(classes: classes, shift: shift, limit: limit, seed: seed, shuffle: true))
        let test = try DataLoader(
            testSet, options: DataOptions(classes: classes, shift: shift, limit: testLimit, seed: seed, shuffle: false))
        try TrainingSetup.checkLabels([train, test], outputs: outputs, model: forward.name)
        guard train.batchCount(size: batch, dropLast: true) >= 1 else {
            throw TrainingError(
                "the training set of \(classes.map { "classes " + StudyRow.classList($0) } ?? "all classes")"
                    + (shift == .none ? "" : " shifted \(shift)") + " has \(train.count) samples (after --limit), "
                    + "fewer than one batch of \(batch)")
        }
        guard test.count >= 1 else {
            throw TrainingError(
                "the test set of \(classes.map { "classes " + StudyRow.classList($0) } ?? "all classes") is empty")
        }
        return (train, test)
    }
}

/// One row of the study's table.
public struct StudyRow: Sendable {
    public enum Kind: String, Sendable { case pretrain, baseline, fineTune = "fine-tune" }
    public var kind: Kind
    /// `pretrain`, or the scenario.
    public var scenario: String
    /// The run's configuration; nil for a baseline (the pretrained parameters, untrained further).
    public var config: TrainingConfig?
    /// The step's predicted cost (nil for a baseline).
    public var report: TrainingReport?
    /// What the run did (nil for a baseline).
    public var outcome: TrainingOutcome?
    public var correct: Int
    public var tested: Int
    /// Test samples the run got right before its first step (fine-tunes only).
    public var startCorrect: Int?
    public var trainSamples: Int
    /// The classes trained and tested on (nil: all) and the shift.
    public var classes: Set<Int>?
    public var shift: DataShift

    public var accuracy: Double { tested > 0 ? Double(correct) / Double(tested) : 0 }
    public var startAccuracy: Double? { startCorrect.map { tested > 0 ? Double($0) / Double(tested) : 0 } }

    /// 0-4, or 0,2,7-9.
    public static func classList(_ classes: Set<Int>) -> String {
        var parts: [String] = [], sorted = classes.sorted()[...]
        while let first = sorted.first {
            var last = first
            sorted.removeFirst()
            while sorted.first == last + 1 { last = sorted.removeFirst() }
            parts.append(last == first ? "\(first)" : last == first + 1 ? "\(first),\(last)" : "\(first)-\(last)")
        }
        return parts.joined(separator: ",")
    }
}

/// What a study's caller hears while it runs.
public struct StudyProgress {
    /// Before each run: its 1-based index, the number of runs, and a label (`unseen-classes lora r8`).
    public var run: (_ index: Int, _ total: Int, _ label: String, _ epochs: Int, _ stepsPerEpoch: Int) -> Void
    /// The training progress of the current run.
    public var training: TrainingProgress

    public init(
        run: @escaping (Int, Int, String, Int, Int) -> Void = { _, _, _, _, _ in },
        training: TrainingProgress = .silent
    ) {
        self.run = run
        self.training = training
    }
}

/// The study's results.
public struct StudyResult: Sendable {
    public var rows: [StudyRow]
    /// The pretrained parameters every fine-tune started from.
    public var base: Checkpoint
}

public enum Study {
    /// Runs `recipe`: pretrains (unless `base` is given), then per scenario the baseline and one fine-tune
    /// per method, all from the same base parameters.
    public static func run(
        _ recipe: StudyRecipe, base given: Checkpoint? = nil, progress: StudyProgress = StudyProgress()
    )
        throws -> StudyResult
    {
        let r = recipe
        // A run's row reports its last epoch: a run of no epochs has none (the CLI validates these too).
        guard r.epochs >= 1 else { throw TrainingError("a study fine-tunes at least 1 epoch, got \(r.epochs)") }
        guard given != nil || r.pretrainEpochs >= 1 else {
            throw TrainingError(
                "a study pretrains at least 1 epoch (or starts from given base parameters), got \(r.pretrainEpochs)")
        }
        let total = (given == nil ? 1 : 0) + r.scenarios.count * r.methods.count
        var index = 0
        var rows: [StudyRow] = []
        // Every scenario's data, before the first minute of training: a bad one is the cheaper error.
        let data = try r.scenarios.map { try r.loaders(classes: r.classes($0), shift: r.shift($0)) }
        // Likewise a step the executor cannot run (reduced precision) before the pretraining.
        for config in (given == nil ? [r.pretrain] : []) + r.methods {
            _ = try TrainingSetup.runnableStep(r.forward, config)
        }

        let base: Checkpoint
        if let given {
            base = given
        } else {
            let (train, test) = try r.loaders(classes: r.pretrainClasses, shift: .none)
            let setup = try TrainingSetup(
                forward: r.forward, config: r.pretrain, batch: r.batch, train: train, test: test)
            let weights = try (r.start?.checkpoint ?? Checkpoint.pytorchDefault(setup.eval, seed: r.seed))
                .addingAdapters(of: setup.step, seed: r.seed)
                .bind(to: setup.step, file: r.start?.file ?? "PyTorch's default initialisation")
            index += 1
            progress.run(index, total, "pretrain \(r.pretrain.label)", r.pretrainEpochs, setup.stepsPerEpoch)
            let loop = try TrainingLoop(setup, weights: weights, seed: r.seed)
            let outcome = try runEpochs(loop, epochs: r.pretrainEpochs, progress.training, what: "pretraining")
            guard let last = outcome.epochs.last else { throw TrainingError("the pretraining ran no epoch") }
            rows.append(
                StudyRow(
                    kind: .pretrain, scenario: "pretrain", config: r.pretrain, report: setup.report, outcome: outcome,
                    correct: last.correct, tested: last.tested, trainSamples: train.count, classes: r.pretrainClasses,
                    shift: .none))
            base = loop.checkpoint(
                steps: outcome.steps,
                metadata: ["model": r.forward.name, "method": r.pretrain.label, "producer": "graphc study"])
        }

        for (scenario, (train, test)) in zip(r.scenarios, data) {
            let classes = r.classes(scenario), shift = r.shift(scenario)
            let baseline = try evaluate(base, forward: r.forward, test: test, batch: r.batch, seed: r.seed)
            rows.append(
                StudyRow(
                    kind: .baseline, scenario: scenario.description, config: nil, report: nil, outcome: nil,
                    correct: baseline.correct, tested: baseline.tested, trainSamples: train.count, classes: classes,
                    shift: shift))
            for config in r.methods {
                let setup = try TrainingSetup(
                    forward: r.forward, config: config, batch: r.batch, train: train, test: test)
                let weights = try base.addingAdapters(of: setup.step, seed: r.seed)
                    .bind(to: setup.step, file: "the pretrained parameters")
                index += 1
                progress.run(index, total, "\(scenario) \(config.label)", r.epochs, setup.stepsPerEpoch)
                let loop = try TrainingLoop(setup, weights: weights, seed: r.seed, evaluateFirst: true)
                let outcome = try runEpochs(
                    loop, epochs: r.epochs, progress.training, what: "\(scenario) \(config.label)")
                guard let last = outcome.epochs.last else {
                    throw TrainingError("\(scenario) \(config.label) ran no epoch")
                }
                rows.append(
                    StudyRow(
                        kind: .fineTune, scenario: scenario.description, config: config, report: setup.report,
                        outcome: outcome, correct: last.correct, tested: last.tested,
                        startCorrect: loop.startResult?.correct,
                        trainSamples: train.count, classes: classes, shift: shift))
            }
        }
        return StudyResult(rows: rows, base: base)
    }

    /// Trains, turning a non-finite loss into a study error naming the run.
    private static func runEpochs(_ loop: TrainingLoop, epochs: Int, _ progress: TrainingProgress, what: String) throws
        -> TrainingOutcome
    {
        do {
            return try loop.train(epochs: epochs, progress: progress)
        } catch let stopped as TrainingStopped {
            throw TrainingError(stopped.message("the loss of \(what)", "the study stopped"))
        }
    }

    /// Classifies `test` with `checkpoint`'s parameters in `forward` (eval semantics).
    public static func evaluate(_ checkpoint: Checkpoint, forward: Graph, test: DataLoader, batch: Int, seed: UInt64)
        throws -> (correct: Int, tested: Int)
    {
        let plan = MemoryPlanner.plan(Liveness(forward).transientIntervals(), strategy: GreedyBySize(), alignment: 64)
        let runner = try PlannedRunner(forward, plan: plan, seed: seed)
        for (id, t) in try checkpoint.bind(to: forward, file: "the pretrained parameters") {
            t.copy(into: runner.storage(of: id)!)
        }
        return try TrainingLoop.evaluate(
            runner, input: HostTensor(forward[forward.inputs[0]].type), test: test, batch: batch)
    }
}
