import ArgumentParser
import Executor
import Foundation
import Frontend
import GraphIR
import Passes
import Training

/// `graphc train`: fine-tunes a model on an IDX image dataset (Fashion-MNIST by default) with the
/// compiled training step, run in its planned arena.
///
/// The step is compiled once, at `--batch` (TrainingSession), planned by the analyses (Liveness →
/// MemoryPlanner, the plan `analyze` reports) and run by a `PlannedRunner`, which keeps the parameters,
/// BN statistics and optimizer state across steps. Per step the DataLoader fills the batch and labels in
/// place; the loss is the graph's one output. An epoch is floor(samples / batch) steps: the trailing
/// partial batch is dropped (the plan is for a fixed batch). After each epoch the forward graph (eval
/// semantics: BN on running statistics) at the same batch, with the trained parameters copied in by name,
/// classifies the test split; a last partial batch is zero-padded and its padded rows ignored.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a model on an image dataset (Fashion-MNIST) with the compiled training step.",
        discussion: """
            The training step is compiled for --batch (the method, optimizer and options are analyze's), \
            planned into one arena and run on the CPU; the parameters persist across steps. Each epoch runs \
            floor(samples / batch) steps over a seeded shuffle (a trailing partial batch is dropped), then \
            evaluates on the test split (BN on running statistics; accuracy = argmax over all the head's \
            outputs). --classes keeps only those labels in both splits (the head keeps all outputs); \
            --shift transforms both splits. Models must take 1x28x28 images (small_resnet, small_mobilenet, \
            or a zoo model with --input 1x28x28).

            Weights: --init CKPT (a safetensors checkpoint of the model's parameters, adapters included for \
            lora/dora), else PyTorch's default initialisation from --seed. --save writes the trained \
            parameters (PyTorch state_dict names, num_batches_tracked = steps) after training; if the loss \
            becomes NaN or infinite, training stops with the step number, exit status 1, and --save writes \
            the last good parameters. --check-plan runs the steps planned and unplanned instead and demands \
            bit-identical results.

            Examples:
              graphc train small_resnet --method lora --rank 4 --epochs 2
              graphc train small_mobilenet --method fft --limit 2048 --batch 32 --format json
              graphc train small_resnet --classes 0-4 --shift invert --init base.safetensors --save tuned.safetensors
              graphc train small_resnet --method lora --limit 256 --batch 32 --check-plan
            """
    )

    @Argument(help: ArgumentHelp("A zoo model name or a .model file."))
    var model: String

    @Option(
        help: ArgumentHelp(
            "Per-sample input shape to instantiate the model with (must be 1x28x28 for "
                + "Fashion-MNIST; default: the model's own).", valueName: "CxHxW"))
    var input: String?

    @Option(
        name: .customLong("set"), parsing: .singleValue,
        help: ArgumentHelp("Set a model parameter, e.g. --set dropout=0.1 (repeatable).", valueName: "name=value"))
    var settings: [String] = []

    @OptionGroup var training: TrainingOptions

    @Option(parsing: .unconditional, help: "Epochs over the training set (0: only evaluate, and --save).")
    var epochs: Int = 1

    @Option(parsing: .unconditional, help: "Samples per training step (and per evaluation run).")
    var batch: Int = 64

    @Option(parsing: .unconditional, help: "Learning rate.")
    var lr: Double = 1e-3

    @Option(help: ArgumentHelp("Train and test only on these labels, e.g. 0-4 or 0,2,7-9.", valueName: "LIST"))
    var classes: String?

    @Option(help: ArgumentHelp("Transform both splits: none, invert, rotate90 or noise=SIGMA.", valueName: "SHIFT"))
    var shift: String = "none"

    @Option(parsing: .unconditional, help: "Use at most N training samples (the first ones, after --classes).")
    var limit: Int?

    @Option(
        name: .customLong("test-limit"), parsing: .unconditional,
        help: "Evaluate on at most N test samples (the first ones, after --classes).")
    var testLimit: Int?

    @Option(help: "Seed of the shuffles, the noise shift, dropout and (without --init) the initialisation.")
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: "Threads for the kernels and OpenBLAS (default: every core).")
    var threads: Int?

    @Option(
        help: ArgumentHelp(
            "A directory holding an MNIST-style IDX pair per split (default: Fashion-MNIST).",
            valueName: "DIR"))
    var data: String = ImageDataset.fashionMNISTDirectory

    @Option(name: .customLong("init"), help: ArgumentHelp("Start from this safetensors checkpoint.", valueName: "CKPT"))
    var initCheckpoint: String?

    @Option(
        name: .customLong("save"),
        help: ArgumentHelp(
            "Write the trained parameters here (safetensors).",
            valueName: "CKPT"))
    var saveCheckpoint: String?

    @Flag(help: "Run the steps planned and through the reference runner, and report whether they are bit-identical.")
    var checkPlan = false

    @Option(help: "Output format of the summary: table or json.")
    var format: TrainFormat = .table

    enum TrainFormat: String, ExpressibleByArgument { case table, json }

    @Option(
        help: ArgumentHelp(
            "Write a Chrome trace of the training steps (Perfetto opens it): a slice per op on "
                + "forward, backward and optimizer tracks, live bytes per memory category "
                + "(docs/trace-format.md).", valueName: "FILE.json"))
    var trace: String?

    @Option(
        name: .customLong("trace-steps"), parsing: .unconditional,
        help: "Training steps the trace records, from the first (bounds the file). (default: 20)")
    var traceSteps: Int = 20

    func validate() throws {
        if let input, Shape.parse(input) == nil {
            throw ValidationError("--input must look like 1x28x28 (positive integers joined by x), got '\(input)'")
        }
        for s in settings where !s.contains("=") { throw ValidationError("--set takes name=value, got '\(s)'") }
        if epochs < 0 { throw ValidationError("--epochs must be at least 0, got \(epochs)") }
        if batch < 1 { throw ValidationError("--batch must be at least 1, got \(batch)") }
        if !(lr.isFinite && lr > 0) { throw ValidationError("--lr must be a finite number above 0, got \(lr)") }
        if let classes, parseClassList(classes) == nil {
            throw ValidationError("--classes takes labels and ranges such as 0-4 or 0,2,7-9, got '\(classes)'")
        }
        if DataShift.parse(shift) == nil {
            throw ValidationError("--shift must be none, invert, rotate90 or noise=SIGMA (SIGMA ≥ 0), got '\(shift)'")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit)") }
        if let testLimit, testLimit < 1 { throw ValidationError("--test-limit must be at least 1, got \(testLimit)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if checkPlan && saveCheckpoint != nil {
            throw ValidationError("--check-plan compares runs and trains nothing to save; drop --save")
        }
        if checkPlan && trace != nil { throw ValidationError("--check-plan runs no training to trace; drop --trace") }
        if traceSteps < 1 { throw ValidationError("--trace-steps must be at least 1, got \(traceSteps)") }
    }

    func run() throws {
        try reportingErrors { try execute() }
    }

    // MARK: Setting up

    private func execute() throws {
        if let threads { ExecutorThreads.setLimit(threads) }
        var overrides = ModelOverrides()
        overrides.input = input.flatMap(Shape.parse)
        overrides.batch = batch
        for s in settings {
            let parts = s.split(separator: "=", maxSplits: 1)
            overrides.set[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        let (source, forward) = try ModelSource.trainingForward(model, command: "train", overrides: overrides)
        let outputs = try TrainingSetup.classifierOutputs(forward, command: "train")
        // The executor's kernels read f32 storage only (ExecutorPrecision): say so before loading data.
        _ = try TrainingSetup.runnableStep(forward, training.config)

        // The data, before compiling anything: a missing dataset is the cheaper error.
        let trainSet = try ImageDataset.load(directory: data, split: .train)
        let testSet = try ImageDataset.load(directory: data, split: .test)
        try TrainingSetup.checkImages(forward, train: trainSet, test: testSet)
        let classSet = classes.flatMap(parseClassList)
        let dataShift = DataShift.parse(shift)!
        let trainData = try DataLoader(
            trainSet,
            options: DataOptions(
                classes: classSet, shift: dataShift, limit: limit,
                seed: seed, shuffle: true))
        let testData = try DataLoader(
            testSet,
            options: DataOptions(
                classes: classSet, shift: dataShift, limit: testLimit,
                seed: seed, shuffle: false))
        try TrainingSetup.checkLabels([trainData, testData], outputs: outputs, model: forward.name)
        guard trainData.batchCount(size: batch, dropLast: true) >= 1 || epochs == 0 else {
            throw CLIError(
                "the training set has \(trainData.count) samples (after --classes and --limit), fewer than "
                    + "one batch of \(batch)")
        }

        var config = training.config
        config.learningRate = lr
        // The step, its plan (the one `analyze` reports) and its report.
        let setup = try TrainingSetup(forward: forward, config: config, batch: batch, train: trainData, test: testData)
        let step = setup.step

        // The starting weights, checked against the graph before anything runs.
        let weights: Checkpoint, weightsFile: String
        if let initCheckpoint {
            // A base model's checkpoint starts a LoRA / DoRA fine-tune: its adapters start as PyTorch's do.
            weights = try Checkpoint.read(initCheckpoint).addingAdapters(of: step, seed: seed)
            weightsFile = initCheckpoint
        } else if source.isONNX {
            // An ONNX file starts from its own weights (initializers); adapters start as PyTorch's do.
            weights = try source.onnx(batch: batch).checkpoint.addingAdapters(of: step, seed: seed)
            weightsFile = source.file
        } else {
            weights = Checkpoint.pytorchDefault(setup.eval, seed: seed)
            weightsFile = "PyTorch's default initialisation"
        }
        let bound = try weights.bind(to: step, file: weightsFile)

        let start = Start(setup: setup, weights: bound, priorSteps: weights.steps(for: step) ?? 0)
        if checkPlan {
            try runCheckPlan(start)
        } else {
            try trainLoop(
                start,
                inputs: ModelSource.files([model]) + (initCheckpoint.map { [$0] } ?? [])
                    + [trainSet.imagesFile, trainSet.labelsFile, testSet.imagesFile, testSet.labelsFile])
        }
    }

    /// A compiled setup and the weights it starts from.
    struct Start {
        var setup: TrainingSetup
        /// The starting weights, bound to the training graph's parameters.
        var weights: [(ValueID, Checkpoint.Tensor)]
        /// num_batches_tracked of the starting checkpoint.
        var priorSteps: Int
    }
}
