import ArgumentParser
import Executor
import Foundation
import Frontend
import GraphIR
import Passes

/// `graphc export-onnx`: a model's forward graph as ONNX (opset 13), with weights, through `OutputSet`.
///
/// Weights: `--init` (a safetensors checkpoint), else an .onnx model's own initializers, else PyTorch's
/// default initialisation from `--seed` (graphc models carry no weights). `--method lora|dora` adds the
/// adapters first (a base checkpoint's missing adapters start as PyTorch's do); `--merge-adapters` folds
/// them into the base weights, numerically, and writes the merged graph (the original architecture).
struct ExportONNX: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-onnx",
        abstract: "Write a model's forward graph as ONNX (opset 13) with its weights.",
        discussion: """
            MODEL is a zoo name, a .model, .gir or .onnx file. The forward graph (inference semantics) is \
            written to -o at opset 13, every parameter an initializer named as graphc names it (PyTorch's \
            state_dict keys), so Netron and onnxruntime open it. graphc imports plain, LoRA and merged \
            (--merge-adapters) exports back unchanged; an unmerged DoRA export (Div, ReduceL2, Gemm of \
            computed tensors) is written for other tools and not imported back, which the summary says.

            Weights, in order of preference: --init CKPT (a safetensors checkpoint of the parameters); an \
            .onnx model's own initializers; otherwise PyTorch's default initialisation (kaiming-uniform, BN \
            gamma 1 beta 0, running statistics 0 and 1) from --seed (default 0), which the summary line says.

            --method lora|dora adds the adapters (with --rank, --alpha, --head, --adapt-depthwise); \
            --merge-adapters folds them into the base weights and writes the plain architecture.

            Examples:
              graphc export-onnx small_resnet -o small_resnet.onnx
              graphc export-onnx small_resnet --init trained.safetensors -o trained.onnx
              graphc export-onnx small_resnet --method lora --rank 4 --init adapted.safetensors \\
                --merge-adapters -o merged.onnx
            """
    )

    @OptionGroup var model: ModelOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the .onnx file.", valueName: "FILE"))
    var output: String

    @Option(
        name: .customLong("init"),
        help: ArgumentHelp("A safetensors checkpoint of the model's parameters.", valueName: "CKPT"))
    var checkpoint: String?

    @Option(help: "Without --init (and for a model with no weights): PyTorch's default initialisation seed.")
    var seed: UInt64 = 0

    @OptionGroup var adapters: AdapterOptions

    @Flag(help: "Fold LoRA/DoRA adapters into their base weights and write the merged graph.")
    var mergeAdapters = false

    func validate() throws {
        try adapters.check("export-onnx")
        if mergeAdapters && adapters.method == nil {
            throw ValidationError("--merge-adapters needs --method lora or dora")
        }
    }

    func run() throws {
        try reportingErrors { try execute() }
    }

    private func execute() throws {
        let source = try ModelSource.resolve(model.model)
        let forward = try model.load()
        var graph = try adapters.adapted(forward)
        let weights: Checkpoint, origin: String
        if let checkpoint {
            weights = try Checkpoint.read(checkpoint).addingAdapters(of: graph, seed: seed)
            origin = checkpoint
        } else if source.isONNX {
            weights = try source.onnx(batch: model.instance.batch).checkpoint.addingAdapters(of: graph, seed: seed)
            origin = "the initializers of \(source.file)"
        } else {
            weights = Checkpoint.pytorchDefault(graph, seed: seed)
            origin = "PyTorch's default initialisation (seed \(seed))"
        }
        var runner = ReferenceRunner(graph)
        let r = runner
        try weights.load(into: graph, file: checkpoint ?? source.file) { r.parameter(named: graph[$0].name)!.view }
        if mergeAdapters { (graph, runner) = try Run.merge(graph, runner) }
        var values: [String: [Float]] = [:]
        for id in graph.parameters {
            let name = graph[id].name
            guard let t = runner.parameter(named: name) else { throw CLIError("no value for '\(name)'") }
            values[name] = Checkpoint.Tensor(name: name, view: t.view).floats
        }
        let bytes = try ONNXExporter.export(graph, weights: values)
        try OutputSet.write(bytes, to: output, inputs: model.inputFiles + (checkpoint.map { [$0] } ?? []))
        // div, channel_norm and matmul of computed tensors (unmerged DoRA) have no importer case.
        let oneWay = graph.nodes.filter { n in
            switch n.op {
            case .div, .channelNorm, .matmul: true
            case _: false
            }
        }.count
        if oneWay > 0 {
            printError(
                "export-onnx: note: \(oneWay) nodes (div, channel_norm, matmul) are written as Div, ReduceL2 and "
                    + "Gemm of computed tensors, which graphc does not import back; --merge-adapters writes a file it does"
            )
        }
        printError(
            "export-onnx: \(output): opset \(ONNXExporter.opset), \(graph.nodes.count) nodes, "
                + "\(NumberFormat.grouped(graph.parameterCount)) parameters; weights from \(origin)")
    }
}
