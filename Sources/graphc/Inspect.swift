import ArgumentParser
import GraphIR
import Passes

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's layers with output shapes, parameters and MACs, and the totals.",
        discussion: """
            MACs count the multiply-adds of conv (groups-aware) and linear layers, as torchvision's \
            counters do; FLOPs = 2 x MACs. Elementwise work (normalisation, activations, pooling, \
            additions) is reported apart and labelled. Parameters exclude BatchNorm running statistics.

            Examples:
              graphc inspect resnet18
              graphc inspect resnet18 --input 3x32x32 --classes 10 --batch 8
              graphc inspect mobilenet_v2 --format json > mobilenet_v2.json
              graphc inspect examples/models/small_resnet.model --format csv -o layers.csv
            """
    )

    @OptionGroup var model: ModelOptions

    @Option(help: "Output format: table, json or csv.")
    var format: OutputFormat = .table

    @Option(name: .shortAndLong, help: "Write to FILE instead of stdout.")
    var output: String?

    func run() throws {
        try reportingErrors {
            let graph = try model.load()
            let summary = try ModelSummary(graph).checked()
            let text: String
            switch format {
            case .table: text = Self.table(summary, graph: graph)
            case .json: text = Self.json(summary, graph: graph).rendered() + "\n"
            case .csv: text = Self.csv(summary)
            }
            try OutputSet.write(text, to: output, inputs: model.inputFiles)
        }
    }

    static func json(_ s: ModelSummary, graph: Graph) -> JSON {
        let sig = ModelSignature(graph)
        return .object([
            ("model", .string(s.model)),
            ("input", .array(sig.input.map(JSON.int))),
            ("classes", sig.classes.map(JSON.int) ?? .null),
            ("batch", .int(sig.batch)),
            ("params", .int(s.params)),
            ("trainable_params", .int(s.trainableParams)),
            ("buffer_elements", .int(s.bufferElements)),
            ("macs", .int(s.macs)),
            ("flops", .int(s.flops)),
            ("elementwise_ops", .int(s.elementwiseOps)),
            (
                "layers",
                .array(
                    s.layers.map { layer in
                        .object([
                            ("name", .string(layer.name)),
                            ("op", .string(layer.op)),
                            ("kind", .string(layer.kind)),
                            ("output_shape", .array(layer.outputShape.map(JSON.int))),
                            ("params", .int(layer.params)),
                            ("macs", .int(layer.macs)),
                        ])
                    })
            ),
        ])
    }

    static func csv(_ s: ModelSummary) -> String {
        graphc.csv(
            [["name", "op", "kind", "scope", "output_shape", "params", "macs"]]
                + s.layers.map {
                    [
                        $0.name, $0.op, $0.kind, $0.scope, Shape.compact($0.outputShape), String($0.params),
                        String($0.macs),
                    ]
                })
    }

    static func table(_ s: ModelSummary, graph: Graph) -> String {
        let sig = ModelSignature(graph)
        var table = TextTable(headers: ["Layer", "Op", "Output shape", "Params", "MACs"], rightAligned: [3, 4])
        for layer in s.layers {
            table.rows.append([
                layer.name, layer.kind == "depthwise" ? "conv2d (dw)" : layer.op,
                Shape.compact(layer.outputShape),
                layer.params == 0 ? "-" : NumberFormat.grouped(layer.params),
                layer.macs == 0 ? "-" : NumberFormat.grouped(layer.macs),
            ])
        }
        var text = "\(s.model.escapingControlCharacters): input \(Shape.compact([sig.batch] + sig.input))"
        if let classes = sig.classes { text += ", \(classes) classes" }
        text += "\n\n" + table.render() + "\n"
        text +=
            "Parameters:  \(NumberFormat.grouped(s.params)) (\(NumberFormat.short(s.params)), \(NumberFormat.bytes(4 * s.params)) as f32)"
        text += s.trainableParams == s.params ? "\n" : "; trainable \(NumberFormat.grouped(s.trainableParams))\n"
        if s.bufferElements > 0 {
            text += "Buffers:     \(NumberFormat.grouped(s.bufferElements)) elements (BatchNorm running statistics)\n"
        }
        text += "MACs:        \(NumberFormat.grouped(s.macs)) (\(NumberFormat.short(s.macs))), conv + linear\n"
        text += "FLOPs:       \(NumberFormat.grouped(s.flops)) (2 x MACs)\n"
        text +=
            "Elementwise: \(NumberFormat.grouped(s.elementwiseOps)) ops (norm, activations, pooling, adds; not in FLOPs)\n"
        return text
    }
}
