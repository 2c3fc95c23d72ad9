import ArgumentParser
import Executor
import Foundation
import Frontend
import GraphIR

/// The model argument and the options that instantiate it, shared by every subcommand that loads one.
struct ModelOptions: ParsableArguments {
    static let help = ArgumentHelp("A zoo model name, or a .model / .gir / .onnx file.")

    @Argument(help: help)
    var model: String

    @OptionGroup var instance: InstanceOptions

    func load() throws -> Graph { try instance.load(model) }
}

/// The options that instantiate a model description; `opt` takes them with an optional model argument
/// (`--list-passes` needs none).
struct InstanceOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Per-sample input shape, e.g. 3x224x224 (default: the model's own).",
            valueName: "CxHxW"))
    var input: String?

    // Parsed unconditionally so `--classes -1` is rejected by name, not read as an option `-1`.
    @Option(parsing: .unconditional, help: "Number of classes of the classifier head (default: the model's own).")
    var classes: Int?

    @Option(parsing: .unconditional, help: "Batch size.")
    var batch: Int = 1

    @Option(
        name: .customLong("set"), parsing: .singleValue,
        help: ArgumentHelp("Set a model parameter, e.g. --set dropout=0.1 (repeatable).", valueName: "name=value"))
    var settings: [String] = []

    func validate() throws {
        if let input, Shape.parse(input) == nil {
            throw ValidationError("--input must look like 3x224x224 (positive integers joined by x), got '\(input)'")
        }
        if let classes, classes < 1 { throw ValidationError("--classes must be at least 1, got \(classes)") }
        if batch < 1 { throw ValidationError("--batch must be at least 1, got \(batch)") }
        for s in settings where !s.contains("=") {
            throw ValidationError("--set takes name=value, got '\(s)'")
        }
    }

    var overrides: ModelOverrides {
        var o = ModelOverrides()
        o.input = input.flatMap(Shape.parse)
        o.classes = classes
        o.batch = batch
        for s in settings {
            let parts = s.split(separator: "=", maxSplits: 1)
            o.set[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return o
    }

    /// Compiles `model`, parses it when it is textual IR, or imports it when it is ONNX (where only
    /// `--batch` applies: it replaces the batch size the file was exported with).
    func load(_ model: String) throws -> Graph {
        let source = try ModelSource.resolve(model)
        ModelSource.current = source.file
        if source.isIR || source.isONNX {
            if input != nil || classes != nil || (source.isIR && batch != 1) || !settings.isEmpty {
                throw CLIError(
                    (source.isIR ? "--input, --classes, --batch and --set" : "--input, --classes and --set")
                        + " apply to model descriptions, not to the \(source.isIR ? "IR" : "ONNX") file '\(source.file)'"
                )
            }
        }
        return try source.graph(overrides)
    }
}

/// Where a model comes from: the zoo, or a file.
struct ModelSource {
    var bytes: [UInt8]
    var file: String
    var isIR: Bool

    /// An ONNX file (by its extension), imported through Frontend's ONNXImporter.
    var isONNX: Bool { file.hasSuffix(".onnx") }

    /// The file of the model loaded last, named in errors the library reports with a node but no location
    /// (a pass's `rank-too-large`, `autodiff-logits`). graphc loads models on the main thread only.
    nonisolated(unsafe) static var current: String?

    /// `d`, prefixed with the current model's file when it has no location of its own.
    static func located(_ d: Diagnostic) -> String {
        guard d.location == nil, let current else { return d.description }
        if d.id == "no-batch-norm" && foldedBatchNorm {
            return "\(current): \(d): it is an eval-mode ONNX export, whose BatchNormalization the exporter "
                + "folded into the convolutions; export with training=torch.onnx.TrainingMode.PRESERVE to keep it"
        }
        return "\(current): \(d)"
    }

    static func resolve(_ name: String) throws -> ModelSource {
        if let text = Zoo.source(named: name) {
            return ModelSource(bytes: Array(text.utf8), file: Zoo.fileName(of: name), isIR: false)
        }
        guard FileManager.default.fileExists(atPath: name) else {
            throw CLIError(
                "'\(name)' is neither a zoo model nor a file. Zoo models: "
                    + Zoo.names.joined(separator: ", "))
        }
        guard let data = FileManager.default.contents(atPath: name) else {
            throw CLIError("cannot read '\(name)'")
        }
        return ModelSource(bytes: Array(data), file: name, isIR: name.hasSuffix(".gir"))
    }

    /// The forward graph a training command (train, study) compiles at `overrides.batch`, and its source:
    /// a zoo model or .model description with `overrides`, or an ONNX file imported at that batch (whose
    /// weights are the run's start: `onnx(batch:)`). IR is refused: its batch is fixed.
    static func trainingForward(_ model: String, command: String, overrides: ModelOverrides) throws
        -> (source: ModelSource, forward: Graph)
    {
        let source = try resolve(model)
        current = source.file
        if source.isIR {
            throw CLIError(
                "\(command) compiles the model at --batch; give a zoo name, a .model or an .onnx file, not the IR "
                    + "file '\(source.file)'")
        }
        if source.isONNX && (overrides.input != nil || !overrides.set.isEmpty) {
            throw CLIError("--input and --set apply to model descriptions, not to the ONNX file '\(source.file)'")
        }
        return (source, try source.graph(overrides))
    }

    /// The forward graph: a description compiled with `overrides`, IR parsed, or ONNX imported at
    /// `overrides.batch`.
    func graph(_ overrides: ModelOverrides) throws -> Graph {
        if isIR { return try IRParser.parse(bytes, file: file) }
        if isONNX { return try onnx(batch: overrides.batch).graph }
        return try ModelDescription.compile(source: bytes, file: file, overrides: overrides).graph
    }

    /// The imported ONNX model at `batch` (nil: the file's own). External data is read beside the file.
    func onnx(batch: Int?) throws -> ONNXModel {
        let folder = file.contains("/") ? String(file[..<file.lastIndex(of: "/")!]) + "/" : ""
        do {
            let model = try ONNXImporter.importModel(
                bytes, file: file, batch: batch,
                readExternal: { location in
                    guard let data = FileManager.default.contents(atPath: folder + location) else {
                        throw ONNXError("\(file): external data file '\(folder + location)' is missing or unreadable")
                    }
                    return Array(data)
                })
            ModelSource.foldedBatchNorm = model.batchNormFolded
            return model
        } catch {
            throw CLIError(error.description)
        }
    }

    /// Whether the ONNX model loaded last was an eval-mode export (BN folded into its convolutions),
    /// to explain why a method that trains BatchNorm has nothing to train.
    nonisolated(unsafe) static var foldedBatchNorm = false
}

extension ONNXModel {
    /// The file's weights as a checkpoint of the graph's parameters.
    var checkpoint: Checkpoint {
        Checkpoint(tensors: weights.map { Checkpoint.Tensor(name: $0.name, shape: $0.shape, floats: $0.floats) })
    }
}
