import ArgumentParser
import Executor
import Foundation
import Frontend
import GraphIR
import Passes
import Training
import Viz

/// `graphc study`: the study's scenarios in one command. Pretrains once, fine-tunes every method from
/// those same parameters per scenario, and prints one table (the analyses' predicted cost beside the
/// measured memory, accuracy and time), optionally drawn as accuracy against peak memory.
struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Pretrain once, fine-tune every method from it per scenario, and tabulate cost against accuracy.",
        discussion: """
            Pretraining: full fine-tuning for --pretrain-epochs on --pretrain-classes (PyTorch's default \
            initialisation from --seed), or the parameters of --init. Then, for each --scenario, every \
            method fine-tunes for --epochs from those same parameters (LoRA/DoRA adapters at PyTorch's \
            starting values, fresh optimizer state) and is tested on the scenario's test split: \
            unseen-classes trains and tests on the classes not pretrained on (5-9 by default); \
            shift=invert|rotate90|noise=SIGMA on transformed images of every class. Each scenario's \
            first row is the pretrained model on its test split before any fine-tuning (the baseline); \
            start_accuracy (JSON, CSV) is each run's accuracy before its first step, equal to it.

            Columns: trainable params, step FLOPs (exact: forward + backward + optimizer) and the \
            predicted peak are analyze's for the same model, method, rank and batch; the measured peak \
            RSS delta and arena high-water are the OS's over each run's first epoch (as in graphc train); \
            seconds per epoch exclude evaluation. Runs share one process: a later run's RSS delta counts \
            only pages no earlier run left resident.

            Examples:
              graphc study small_resnet --plot study.png
              graphc study --methods fft,head,lora --scenario shift=invert
              graphc study --init base.safetensors --scenario shift=noise=0.5 --format csv
              graphc study --limit 2048 --pretrain-epochs 1 --save-base base.safetensors
            """
    )

    @Argument(
        help: ArgumentHelp(
            "A zoo model name, a .model file, or an .onnx file (whose weights start the pretraining)."))
    var model: String = "small_resnet"

    @Option(
        help: ArgumentHelp(
            "Per-sample input shape to instantiate the model with (default: the model's own).", valueName: "CxHxW"))
    var input: String?

    @Option(help: ArgumentHelp("Methods, comma-separated: fft, bnh, head, lora, dora, galore.", valueName: "LIST"))
    var methods: String = "fft,bnh,head,lora,dora,galore"

    @Option(parsing: .unconditional, help: ArgumentHelp("Rank of lora, dora and galore."))
    var rank: Int = 8

    @OptionGroup var step: StepOptions

    @Option(help: ArgumentHelp(PassOption.saving.help))
    var saving: SavingPolicy = TrainingConfig.defaults.saving

    @Option(
        parsing: .singleValue,
        help: ArgumentHelp(
            "unseen-classes, or shift=invert, shift=rotate90, shift=noise=SIGMA (repeatable; default: "
                + "unseen-classes).", valueName: "SCENARIO"))
    var scenario: [String] = []

    @Option(name: .customLong("pretrain-epochs"), parsing: .unconditional, help: "Epochs of pretraining.")
    var pretrainEpochs: Int = 2

    @Option(
        name: .customLong("pretrain-classes"),
        help: ArgumentHelp("The labels pretrained on, e.g. 0-4 or 0,2,7-9.", valueName: "LIST"))
    var pretrainClasses: String = "0-4"

    @Option(parsing: .unconditional, help: "Epochs of each fine-tune.")
    var epochs: Int = 1

    @Option(parsing: .unconditional, help: "Samples per training step (and per evaluation run).")
    var batch: Int = 64

    @Option(parsing: .unconditional, help: "Learning rate of the pretraining and of every fine-tune.")
    var lr: Double = 1e-3

    @Option(
        parsing: .unconditional, help: "Use at most N training samples of each run (the first ones, after the classes)."
    )
    var limit: Int?

    @Option(
        name: .customLong("test-limit"), parsing: .unconditional,
        help: "Evaluate on at most N test samples (the first ones, after the classes).")
    var testLimit: Int?

    @Option(help: "Seed of the shuffles, the noise shift, dropout, the adapters and the initialisation.")
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: "Threads for the kernels and OpenBLAS (default: every core).")
    var threads: Int?

    @Option(
        help: ArgumentHelp(
            "A directory holding an MNIST-style IDX pair per split (default: Fashion-MNIST).", valueName: "DIR"))
    var data: String = ImageDataset.fashionMNISTDirectory

    @Option(
        name: .customLong("init"),
        help: ArgumentHelp("Skip pretraining: fine-tune from this safetensors checkpoint.", valueName: "CKPT"))
    var initCheckpoint: String?

    @Option(
        name: .customLong("save-base"),
        help: ArgumentHelp("Write the pretrained parameters here (safetensors).", valueName: "CKPT"))
    var saveBase: String?

    @Option(help: "Output format: table, csv or json.")
    var format: OutputFormat = .table

    @Option(help: "Also draw accuracy against predicted peak memory (PNG, SVG or DOT, by extension).")
    var plot: String?

    func validate() throws {
        if let input, Shape.parse(input) == nil {
            throw ValidationError("--input must look like 1x28x28 (positive integers joined by x), got '\(input)'")
        }
        let methods = try parsedMethods()
        if rank < 1 { throw ValidationError("--rank must be at least 1, got \(rank)") }
        if methods.contains(.galore) && step.optimizer != .adam && step.optimizer != .adamw {
            throw ValidationError("GaLore projects Adam's state: use --optimizer adam or adamw, or drop galore")
        }
        _ = try parsedScenarios()
        if pretrainEpochs < 1 { throw ValidationError("--pretrain-epochs must be at least 1, got \(pretrainEpochs)") }
        if parseClassList(pretrainClasses) == nil {
            throw ValidationError(
                "--pretrain-classes takes labels and ranges such as 0-4 or 0,2,7-9, got '\(pretrainClasses)'")
        }
        if epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        if batch < 1 { throw ValidationError("--batch must be at least 1, got \(batch)") }
        if !(lr.isFinite && lr > 0) { throw ValidationError("--lr must be a finite number above 0, got \(lr)") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit)") }
        if let testLimit, testLimit < 1 { throw ValidationError("--test-limit must be at least 1, got \(testLimit)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if let plot, Graphviz.Format(pathExtension: URL(fileURLWithPath: plot).pathExtension) == nil {
            throw ValidationError("--plot takes a .png, .svg or .dot file, got '\(plot)'")
        }
        if initCheckpoint != nil && saveBase != nil {
            throw ValidationError(
                "--init gives the base parameters and nothing is pretrained to save; drop --save-base")
        }
    }

    func parsedMethods() throws -> [FineTuningMethod] {
        let names = methods.split(separator: ",", omittingEmptySubsequences: false)
        let parsed = try names.map { name in
            guard let m = FineTuningMethod(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError(
                    "unknown method '\(name)' in --methods; methods: "
                        + FineTuningMethod.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return m
        }
        if Set(parsed).count < parsed.count { throw ValidationError("--methods lists a method twice: '\(methods)'") }
        return parsed
    }

    func parsedScenarios() throws -> [StudyScenario] {
        let parsed = try (scenario.isEmpty ? ["unseen-classes"] : scenario).map { text in
            guard let s = StudyScenario.parse(text) else {
                throw ValidationError(
                    "--scenario must be unseen-classes, shift=invert, shift=rotate90 or shift=noise=SIGMA "
                        + "(SIGMA ≥ 0), got '\(text)'")
            }
            return s
        }
        if Set(parsed).count < parsed.count { throw ValidationError("--scenario lists a scenario twice") }
        return parsed
    }

    func run() throws {
        try reportingErrors { try execute() }
    }

    private func execute() throws {
        if let threads { ExecutorThreads.setLimit(threads) }
        var overrides = ModelOverrides()
        overrides.input = input.flatMap(Shape.parse)
        overrides.batch = batch
        let (source, forward) = try ModelSource.trainingForward(model, command: "study", overrides: overrides)
        let outputs = try TrainingSetup.classifierOutputs(forward, command: "study")
        let pretrained = parseClassList(pretrainClasses)!
        if let big = pretrained.max(), big >= outputs {
            throw CLIError("--pretrain-classes has label \(big), but '\(forward.name)' has \(outputs) outputs")
        }
        let scenarios = try parsedScenarios()
        if scenarios.contains(.unseenClasses) && pretrained.count == outputs {
            throw CLIError(
                "--pretrain-classes covers all \(outputs) classes, so unseen-classes has none to fine-tune on")
        }

        let trainSet = try ImageDataset.load(directory: data, split: .train)
        let testSet = try ImageDataset.load(directory: data, split: .test)
        try TrainingSetup.checkImages(forward, train: trainSet, test: testSet)
        let base = try initCheckpoint.map { try Checkpoint.read($0) }
        // An ONNX file's pretraining starts from the file's own weights (initializers), as train does.
        let start = initCheckpoint == nil && source.isONNX ? try source.onnx(batch: batch).checkpoint : nil

        var pretrain = step.config(.fft, rank: rank)
        pretrain.learningRate = lr
        pretrain.saving = saving
        let configs = try parsedMethods().map { m in
            var c = step.config(m, rank: rank)
            c.learningRate = lr
            c.saving = saving
            return c
        }
        let recipe = StudyRecipe(
            forward: forward, trainSet: trainSet, testSet: testSet, pretrain: pretrain,
            pretrainEpochs: pretrainEpochs, pretrainClasses: pretrained, methods: configs, epochs: epochs,
            batch: batch, scenarios: scenarios, limit: limit, testLimit: testLimit, seed: seed,
            start: start.map { ($0, source.file) })

        let bar = ProgressBar()
        var current = (label: "", epochs: 0, steps: 0)
        let progress = StudyProgress(
            run: { index, total, label, epochs, steps in
                current = (label, epochs, steps)
                if bar.enabled { bar.line("study [\(index)/\(total)] \(label)") }
            },
            training: TrainingProgress(
                step: { epoch, done, loss, elapsed in
                    bar.update(
                        "  epoch \(epoch)/\(current.epochs)", done: done, total: current.steps, loss: loss,
                        elapsed: elapsed)
                },
                epoch: { r in
                    if bar.enabled {
                        bar.line(
                            "  epoch \(r.epoch)/\(current.epochs): loss \(String(format: "%.4f", r.loss)), "
                                + "test accuracy \(String(format: "%.4f", r.accuracy)), "
                                + String(format: "%.1f s", r.seconds))
                    }
                },
                stopped: { bar.clear() }))
        let result = try Study.run(recipe, base: base, progress: progress)
        bar.clear()

        let report = StudyReport(recipe: recipe, result: result, model: forward.name)
        let files = OutputSet(
            inputs: ModelSource.files([model]) + (initCheckpoint.map { [$0] } ?? [])
                + [trainSet.imagesFile, trainSet.labelsFile, testSet.imagesFile, testSet.labelsFile])
        if let saveBase { try files.stage(saveBase, result.base.serialized()) }
        if let plot {
            let format = Graphviz.Format(pathExtension: URL(fileURLWithPath: plot).pathExtension) ?? .png
            let dot = report.chart.dot()
            try files.stage(
                plot, format == .dot ? Array(dot.utf8) : try Graphviz.render(dot: dot, format: format, layout: "nop"))
        }
        try files.commit()
        switch format {
        case .table: printOut(report.table, terminator: "")
        case .json: printOut(report.json.rendered())
        case .csv: printOut(report.csvText, terminator: "")
        }
    }
}
