import ArgumentParser
import Executor
import Foundation
import Frontend
import GraphIR
import Passes

/// `graphc run`: the model's forward pass in eval semantics (BN on running statistics, dropout off) on
/// a batch from a file, through the Executor's reference runner; logits out through `OutputSet`.
///
/// The graph is compiled (or read) for a chunk of `--batch` samples and run once per chunk; a last,
/// smaller chunk is padded with zeros, whose logits are dropped (in eval mode samples are independent).
/// Weights come from `--init` (a safetensors checkpoint, strict: exactly the graph's parameters) or, with
/// `--seed`, from PyTorch's default initialisation (Checkpoint+Init.swift); graphc models have no weights
/// of their own, so one of the two is required. `--method lora|dora` adapts the model first (the
/// checkpoint then holds the adapters too); `--merge-adapters` folds them into the base weights,
/// numerically, and runs the merged graph that `merge-adapters` produces.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model's forward pass (inference) on inputs from a .npy or raw float32 file.",
        discussion: """
            MODEL is a zoo name, a .model, .gir or .onnx file. --input is a NumPy .npy file ('<f4', C order) of \
            shape [N, C, H, W] (the model's per-sample input with any batch N), or raw little-endian float32 \
            whose size is a multiple of one sample. The logits [N, classes] are written to -o as .npy when \
            its name ends in .npy, else as raw float32. Inputs must be finite (no NaN or infinity).

            Weights: --init CKPT loads a safetensors checkpoint whose tensor names are the model's \
            parameter names (PyTorch's state_dict keys); --seed N instead initialises the model as PyTorch \
            does by default (kaiming-uniform, BN gamma 1 beta 0), with graphc's own random numbers. An .onnx \
            model runs with its own weights (its initializers) unless --init or --seed is given.

            Examples:
              graphc run small_resnet --input batch.npy --init small_resnet.safetensors -o logits.npy
              graphc run small_resnet --input batch.f32 --seed 1 -o logits.f32
              graphc run small_resnet --method lora --rank 4 --init adapted.safetensors --merge-adapters \\
                --input batch.npy -o logits.npy
            """
    )

    @Argument(help: ModelOptions.help)
    var model: String

    @Option(
        name: .customLong("input"), help: ArgumentHelp("The inputs: a .npy file or raw float32.", valueName: "FILE"))
    var inputFile: String

    @Option(
        name: .shortAndLong, help: ArgumentHelp("Where to write the logits (.npy, or raw float32).", valueName: "FILE"))
    var output: String

    @Option(
        name: .customLong("init"),
        help: ArgumentHelp(
            "A safetensors checkpoint of the model's parameters.",
            valueName: "CKPT"))
    var checkpoint: String?

    @Option(help: "Without --init: initialise as PyTorch does by default, from this seed.")
    var seed: UInt64?

    @Flag(help: "Fold LoRA/DoRA adapters into their base weights and run the merged graph.")
    var mergeAdapters = false

    @OptionGroup var adapters: AdapterOptions

    @Option(
        name: .customLong("input-shape"),
        help: ArgumentHelp(
            "Per-sample input shape to instantiate the model with (default: the model's own).",
            valueName: "CxHxW"))
    var inputShape: String?

    @Option(help: "Number of classes of the classifier head (default: the model's own).")
    var classes: Int?

    @Option(
        name: .customLong("set"), parsing: .singleValue,
        help: ArgumentHelp("Set a model parameter, e.g. --set dropout=0.1 (repeatable).", valueName: "name=value"))
    var settings: [String] = []

    @Option(help: "Samples per forward run (a .gir file's own batch is used as it is).")
    var batch: Int = 16

    func validate() throws {
        if let inputShape, Shape.parse(inputShape) == nil {
            throw ValidationError(
                "--input-shape must look like 1x28x28 (positive integers joined by x), got '\(inputShape)'")
        }
        if let classes, classes < 1 { throw ValidationError("--classes must be at least 1, got \(classes)") }
        if batch < 1 { throw ValidationError("--batch must be at least 1, got \(batch)") }
        try adapters.check("run")
        if checkpoint != nil && seed != nil {
            throw ValidationError("--init and --seed are alternatives: the checkpoint holds the weights")
        }
        for s in settings where !s.contains("=") { throw ValidationError("--set takes name=value, got '\(s)'") }
    }

    func run() throws {
        try reportingErrors { try execute() }
    }

    private func execute() throws {
        let source = try ModelSource.resolve(model)
        guard checkpoint != nil || seed != nil || source.isONNX else {
            throw CLIError(
                "'\(model)' has no weights: give --init CKPT (a safetensors checkpoint of its "
                    + "parameters), or --seed N to use PyTorch's default initialisation")
        }
        if (source.isIR || source.isONNX) && (inputShape != nil || classes != nil || !settings.isEmpty) {
            throw CLIError(
                "--input-shape, --classes and --set apply to model descriptions, not to the "
                    + "\(source.isIR ? "IR" : "ONNX") file '\(source.file)'")
        }
        // The per-sample input shape, from a batch-1 instance (or the IR's own).
        let probe = try instantiate(source, batch: 1)
        guard probe.inputs.count == 1 else {
            throw CLIError("'\(probe.name)' takes \(probe.inputs.count) inputs; run feeds one")
        }
        if let refusal = ExecutorPrecision.refusal(probe) { throw CLIError(refusal) }
        let inputType = probe[probe.inputs[0]].type
        guard inputType.dtype == .f32, inputType.rank >= 1 else {
            throw CLIError("'\(probe.name)' takes \(inputType); run feeds float32 batches")
        }
        let sample = Array(inputType.shape.dropFirst())
        let inputs = try readInputs(sample: sample, model: probe.name)
        let n = inputs.count / max(sample.reduce(1, *), 1)
        let chunk = source.isIR ? inputType.shape[0] : min(batch, n)
        let forward = source.isIR ? probe : try instantiate(source, batch: chunk)
        var graph = try adapt(forward)

        var runner = ReferenceRunner(graph)
        let weights: Checkpoint
        let weightsFile: String
        if let checkpoint {
            weights = try Checkpoint.read(checkpoint)
            weightsFile = checkpoint
        } else if let seed {
            weights = Checkpoint.pytorchDefault(graph, seed: seed)
            weightsFile = "PyTorch's default initialisation"
        } else {
            // An ONNX file's own weights (initializers); adapters of --method start as PyTorch's do.
            weights = try source.onnx(batch: chunk).checkpoint.addingAdapters(of: graph, seed: 0)
            weightsFile = source.file
        }
        let r = runner
        try weights.load(into: graph, file: weightsFile) { r.parameter(named: graph[$0].name)!.view }
        if mergeAdapters { (graph, runner) = try Self.merge(graph, runner) }

        let logits = try forwardAll(&runner, graph: graph, inputs: inputs, count: n, chunk: chunk)
        let bytes = output.hasSuffix(".npy") ? NpyArray(shape: logits.shape, data: logits.data).encoded : logits.data
        try OutputSet.write(
            bytes, to: output,
            inputs: ModelSource.files([model]) + [inputFile] + (checkpoint.map { [$0] } ?? []))
    }

    /// The model at `batch` (a .gir file as it is).
    private func instantiate(_ source: ModelSource, batch: Int) throws -> Graph {
        if source.isIR { return try IRParser.parse(source.bytes, file: source.file) }
        if source.isONNX { return try source.onnx(batch: batch).graph }
        var o = ModelOverrides()
        o.input = inputShape.flatMap(Shape.parse)
        o.classes = classes
        o.batch = batch
        for s in settings {
            let parts = s.split(separator: "=", maxSplits: 1)
            o.set[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return try ModelDescription.compile(source: source.bytes, file: source.file, overrides: o).graph
    }

    /// The forward graph with `--method`'s adapters (freeze, then lora or dora), verified.
    private func adapt(_ forward: Graph) throws -> Graph {
        if let node = forward.nodes.first(where: { $0.phase != .forward }) {
            throw CLIError(
                "'\(forward.name)' is a training graph ('\(node.name)' is a \(node.phase.rawValue) node); "
                    + "run takes a forward graph")
        }
        return try adapters.adapted(forward)
    }

    /// The inputs as floats: a .npy file or raw little-endian float32, whole samples of `sample`, finite.
    private func readInputs(sample: [Int], model name: String) throws -> [Float] {
        guard let data = FileManager.default.contents(atPath: inputFile) else {
            throw CLIError(
                FileManager.default.fileExists(atPath: inputFile)
                    ? "cannot read '\(inputFile)'" : "cannot read '\(inputFile)': no such file or directory")
        }
        let bytes = [UInt8](data)
        let per = sample.reduce(1, *)
        let expected = "[N, " + sample.map(String.init).joined(separator: ", ") + "]"
        let raw: ArraySlice<UInt8>
        if NpyArray.isNpy(bytes) || inputFile.hasSuffix(".npy") {
            let array = try NpyArray.parse(bytes, file: inputFile)
            guard array.shape.count == sample.count + 1, Array(array.shape.dropFirst()) == sample,
                array.shape[0] >= 1
            else {
                throw CLIError("'\(inputFile)' holds \(Shape.format(array.shape)), but '\(name)' takes \(expected)")
            }
            raw = array.data[...]
        } else {
            guard !bytes.isEmpty, bytes.count % (4 * per) == 0 else {
                throw CLIError(
                    "'\(inputFile)' holds \(bytes.count) bytes, not a whole number of samples of '\(name)' "
                        + "(\(Shape.compact(sample)) float32 = \(4 * per) bytes each)")
            }
            raw = bytes[...]
        }
        var floats = [Float](repeating: 0, count: raw.count / 4)
        floats.withUnsafeMutableBytes { $0.copyBytes(from: raw) }
        #if _endian(big)
            floats = floats.map { Float(bitPattern: $0.bitPattern.byteSwapped) }
        #endif
        if let bad = floats.firstIndex(where: { !$0.isFinite }) {
            throw CLIError(
                "'\(inputFile)' holds \(floats[bad]) at element \(bad % per) of sample \(bad / per); "
                    + "inputs must be finite")
        }
        return floats
    }

    /// Runs every chunk of `chunk` samples (the last one zero-padded) and gathers the logits.
    private func forwardAll(
        _ runner: inout ReferenceRunner, graph: Graph, inputs: [Float], count n: Int,
        chunk: Int
    ) throws -> (shape: [Int], data: [UInt8]) {
        let inputType = graph[graph.inputs[0]].type
        let per = inputType.shape.dropFirst().reduce(1, *)
        guard graph.outputs.count == 1 else {
            throw CLIError("'\(graph.name)' has \(graph.outputs.count) outputs; run writes one")
        }
        let outType = graph[graph.outputs[0]].type
        guard outType.dtype == .f32, outType.rank >= 1, outType.shape[0] == chunk else {
            throw CLIError("'\(graph.name)' outputs \(outType), not a batch of \(chunk) float32 rows")
        }
        let outPer = outType.shape.dropFirst().reduce(1, *)
        var logits = [Float](repeating: 0, count: n * outPer)
        let x = HostTensor(inputType)
        var start = 0
        while start < n {
            let k = min(chunk, n - start)
            x.view.base.initializeMemory(as: UInt8.self, repeating: 0, count: x.view.byteCount)
            inputs.withUnsafeBufferPointer { x.view.f32.update(from: $0.baseAddress! + start * per, count: k * per) }
            let y: HostTensor
            do {
                y = try runner.run([x]).outputs[0]
            } catch {
                throw CLIError(error.description)
            }
            for i in 0..<k * outPer {
                let v = y.view.f32[i]
                guard v.isFinite else {
                    throw CLIError(
                        "the logits of sample \(start + i / outPer) are not finite (\(v)): "
                            + "the weights hold NaN or infinity, or overflow")
                }
                logits[start * outPer + i] = v
            }
            start += k
        }
        var data = [UInt8](repeating: 0, count: logits.count * 4)
        data.withUnsafeMutableBytes { dst in logits.withUnsafeBytes { dst.copyMemory(from: $0) } }
        return ([n] + Array(outType.shape.dropFirst()), data)
    }

    /// Folds every adapter of `graph` into its base weight (values in `runner`; the Executor's
    /// `AdapterMerge`) and returns the merged graph with a runner holding its parameters. Parameters pass
    /// from one graph to the other by name: the state_dict keys both graphs share.
    static func merge(_ graph: Graph, _ runner: ReferenceRunner) throws -> (Graph, ReferenceRunner) {
        let weights: [MergedWeight]
        do {
            weights = try AdapterMerge.mergedWeights(graph) { runner.parameter(named: graph[$0].name)?.view }
        } catch {
            throw CLIError("merge-adapters: \(error)")
        }
        let merged = try MergeAdapters().run(graph)
        let target = ReferenceRunner(merged)
        for id in merged.parameters {
            let name = merged[id].name
            guard let from = runner.parameter(named: name), let to = target.parameter(named: name) else {
                throw CLIError("merge-adapters: no value for '\(name)'")
            }
            to.copy(from: from.view)
        }
        for w in weights {
            guard let out = target.parameter(named: graph[w.weight].name) else {
                throw CLIError("merge-adapters: the merged graph has no '\(graph[w.weight].name)'")
            }
            out.set(w.values)
        }
        return (merged, target)
    }
}
