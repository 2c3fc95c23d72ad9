import ArgumentParser
import Foundation
import GraphIR
import Passes
import Viz

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare fine-tuning methods: trainable parameters, step FLOPs and peak memory, each against FFT.",
        discussion: """
            Every configuration (model x batch x method x rank) is compiled and analysed as `analyze` does; \
            full fine-tuning of the same model and batch is the baseline for the % columns (computed even \
            when fft is not listed). Ranks apply to lora, dora and galore.

            Examples:
              graphc compare resnet18 mobilenet_v2 --methods fft,bnh,lora,dora,galore --classes 10
              graphc compare resnet18 --methods fft,lora --ranks 1,4,8,16,32 --format csv
              graphc compare resnet18 mobilenet_v2 --methods fft,lora,dora --plot study.png
              graphc compare resnet18 mobilenet_v2 --methods bnh,lora --saving pytorch,lean
            """
    )

    @Argument(help: "Zoo names or model files.")
    var models: [String]

    @Option(help: ArgumentHelp("Methods, comma-separated: fft, bnh, head, lora, dora, galore.", valueName: "LIST"))
    var methods: String = "fft,bnh,head,lora,dora,galore"

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Ranks for lora, dora and galore, comma-separated.", valueName: "LIST"))
    var ranks: String = "8"

    @Option(parsing: .unconditional, help: ArgumentHelp("Batch sizes, comma-separated.", valueName: "LIST"))
    var batch: String = "1"

    @Option(help: ArgumentHelp("Per-sample input shape (default: each model's own).", valueName: "CxHxW"))
    var input: String?

    @Option(parsing: .unconditional, help: "Number of classes (default: each model's own).")
    var classes: Int?

    @OptionGroup var step: StepOptions

    @Option(
        help: ArgumentHelp(
            "Saving policies, comma-separated: pytorch (what PyTorch autograd keeps), lean (what graphc's "
                + "backward reads, ReLU masks packed to 1 bit). Each policy's rows compare with FFT under it.",
            valueName: "LIST"))
    var saving: String = TrainingConfig.defaults.saving.rawValue

    @Option(help: "Output format: table, csv or json.")
    var format: OutputFormat = .table

    @Option(name: .shortAndLong, help: "Write the table to FILE instead of stdout.")
    var output: String?

    @Option(help: "Also draw the comparison (PNG, SVG or DOT, by extension).")
    var plot: String?

    func validate() throws {
        _ = try parsedMethods()
        _ = try parsedSavings()
        _ = try Self.integers(ranks, "--ranks")
        _ = try Self.integers(batch, "--batch")
        if let input, Shape.parse(input) == nil { throw ValidationError("--input must look like 3x224x224") }
        if let classes, classes < 1 { throw ValidationError("--classes must be at least 1") }
        if let plot, Graphviz.Format(pathExtension: URL(fileURLWithPath: plot).pathExtension) == nil {
            throw ValidationError("--plot takes a .png, .svg or .dot file")
        }
    }

    func parsedMethods() throws -> [FineTuningMethod] {
        try Self.list(methods, "--methods", what: "method") { name in
            guard let m = FineTuningMethod(rawValue: name) else {
                throw ValidationError(
                    "unknown method '\(name)'; methods: "
                        + FineTuningMethod.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return m
        }
    }

    func parsedSavings() throws -> [SavingPolicy] {
        try Self.list(saving, "--saving", what: "saving policy") { name in
            guard let s = SavingPolicy(rawValue: name) else {
                throw ValidationError("unknown saving policy '\(name)'; policies: pytorch, lean")
            }
            return s
        }
    }

    /// A comma-separated list of `option`: empty lists (no rows) and repeated entries (duplicate rows)
    /// are one-line errors.
    static func list<T: Hashable>(_ text: String, _ option: String, what: String, _ parse: (String) throws -> T)
        throws -> [T]
    {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if names.allSatisfy(\.isEmpty) { throw ValidationError("\(option) needs at least one \(what), got '\(text)'") }
        let parsed = try names.filter { !$0.isEmpty }.map(parse)
        if Set(parsed).count < parsed.count { throw ValidationError("\(option) lists a \(what) twice: '\(text)'") }
        return parsed
    }

    static func integers(_ list: String, _ option: String) throws -> [Int] {
        try list.split(separator: ",").map {
            guard let n = Int($0.trimmingCharacters(in: .whitespaces)), n >= 1 else {
                throw ValidationError("\(option) takes positive integers separated by commas, got '\(list)'")
            }
            return n
        }
    }

    func run() throws {
        try reportingErrors {
            let rows = try MethodComparison.run(
                models: models, methods: try parsedMethods(), ranks: try Self.integers(ranks, "--ranks"),
                batches: try Self.integers(batch, "--batch"), savings: try parsedSavings(),
                base: step.config(.fft, rank: 1),
                load: { model, batch in
                    try ModelOptions.parse(
                        [model] + (input.map { ["--input", $0] } ?? [])
                            + (classes.map { ["--classes", String($0)] } ?? [])
                            + ["--batch", String(batch)]
                    ).load()
                },
                progress: { p in
                    if p.total > 1 { printError("compare: \(p.done)/\(p.total) \(p.model) batch \(p.batch) done") }
                })
            let outputs = OutputSet(inputs: ModelSource.files(models))
            try outputs.stage(output, render(rows))
            if let plot { try drawPlot(rows, to: plot, in: outputs) }
            try outputs.commit()
        }
    }

    func render(_ rows: [ComparisonRow]) -> String {
        switch format {
        case .table:
            var t = TextTable(
                headers: [
                    "Model", "Batch", "Saving", "Method", "Trainable", "vs FFT", "Step FLOPs", "vs FFT",
                    "Peak memory", "vs FFT", "Saved activations",
                ], rightAligned: [1, 4, 5, 6, 7, 8, 9, 10])
            for r in rows {
                t.rows.append([
                    r.model, String(r.batch), r.config.saving.rawValue, r.config.label,
                    NumberFormat.grouped(r.report.trainableParams), NumberFormat.signedPercent(r.trainableChange),
                    NumberFormat.short(r.report.flops.total.flops), NumberFormat.signedPercent(r.flopsChange),
                    NumberFormat.bytes(r.report.memory.peakBytes), NumberFormat.signedPercent(r.peakChange),
                    NumberFormat.bytes(r.report.savedActivationBytes),
                ])
            }
            return Self.header(rows) + "\n" + t.render()
                + "Step = forward + backward + optimizer (+ amortised SVD); peak = largest simultaneous total.\n"
        case .csv:
            return csv(
                [
                    [
                        "model", "batch", "method", "rank", "optimizer", "trainable_params", "trainable_vs_fft_pct",
                        "step_flops", "flops_vs_fft_pct", "peak_bytes", "peak_vs_fft_pct", "saved_activation_bytes",
                        "saving", "bn",
                    ]
                ]
                    + rows.map { r in
                        [
                            r.model, String(r.batch), r.config.method.rawValue,
                            r.config.method.takesRank ? String(r.config.rank) : "", r.config.optimizer.rawValue,
                            String(r.report.trainableParams), NumberFormat.fixed(r.trainableChange, decimals: 2),
                            String(r.report.flops.total.flops), NumberFormat.fixed(r.flopsChange, decimals: 2),
                            String(r.report.memory.peakBytes), NumberFormat.fixed(r.peakChange, decimals: 2),
                            String(r.report.savedActivationBytes), r.config.saving.rawValue, r.config.bn.rawValue,
                        ]
                    })
        case .json:
            return JSON.array(
                rows.map { r in
                    .object([
                        ("model", .string(r.model)), ("batch", .int(r.batch)),
                        ("method", .string(r.config.method.rawValue)),
                        ("rank", r.config.method.takesRank ? .int(r.config.rank) : .null),
                        ("optimizer", .string(r.config.optimizer.rawValue)),
                        ("trainable_params", .int(r.report.trainableParams)),
                        ("trainable_vs_fft_pct", .double(r.trainableChange)),
                        ("step_flops", .int(r.report.flops.total.flops)), ("flops_vs_fft_pct", .double(r.flopsChange)),
                        ("peak_bytes", .int(r.report.memory.peakBytes)), ("peak_vs_fft_pct", .double(r.peakChange)),
                        ("saved_activation_bytes", .int(r.report.savedActivationBytes)),
                        ("saving", .string(r.config.saving.rawValue)), ("bn", .string(r.config.bn.rawValue)),
                        ("weights_dtype", .string(r.config.weights.rawValue)),
                        ("activations_dtype", .string(r.config.activations.rawValue)),
                    ])
                }
            ).rendered() + "\n"
        }
    }

    /// The memory model of the rows: saving policies, BN mode, precision.
    static func header(_ rows: [ComparisonRow]) -> String {
        let savings = rows.map(\.config.saving.rawValue).reduce(into: [String]()) {
            if !$0.contains($1) { $0.append($1) }
        }
        let c = rows.first?.config ?? .defaults
        return "Saving \(savings.joined(separator: ", ")) · BN \(c.bn.rawValue) · "
            + "weights \(c.weights.rawValue) · activations \(c.activations.rawValue)\n"
    }

    func drawPlot(_ rows: [ComparisonRow], to path: String, in outputs: OutputSet) throws {
        let colors: [FineTuningMethod: String] = [
            .fft: "#77AADD", .bnh: "#BBCC33", .head: "#44BB99",
            .lora: "#EE8866", .dora: "#EEDD88", .galore: "#AA4499",
        ]
        let multi = Set(rows.map(\.model)).count > 1 || Set(rows.map(\.batch)).count > 1
        let labels = rows.map { r in
            (multi ? "\(r.model)\(r.batch > 1 ? " b\(r.batch)" : "") " : "") + r.config.label
        }
        func panel(
            _ title: String, _ value: (TrainingReport) -> Int, _ change: (ComparisonRow) -> Double,
            _ text: (Int) -> String
        ) -> BarChart.Panel {
            BarChart.Panel(
                title: title,
                bars: rows.map { r in
                    let v = value(r.report)
                    let suffix = r.config.method == .fft ? "" : " (\(NumberFormat.signedPercent(change(r))))"
                    return BarChart.Bar(
                        value: Double(v), text: text(v) + suffix, color: colors[r.config.method] ?? "#BBBBBB")
                })
        }
        var chart = BarChart(
            title: "Fine-tuning cost per step" + (multi ? "" : " · \(rows.first?.model ?? "")"),
            rows: labels,
            panels: [
                panel(
                    "trainable parameters", { $0.trainableParams }, \.trainableChange,
                    { NumberFormat.compactCount(Double($0)) }),
                panel("step FLOPs", { $0.flops.total.flops }, \.flopsChange, { NumberFormat.compactCount(Double($0)) }),
                panel("peak memory", { $0.memory.peakBytes }, \.peakChange, NumberFormat.compactBytes),
            ])
        chart.notes = [
            "% against full fine-tuning (fft) of the same model and batch; optimizer \(step.optimizer.rawValue)",
            "peak = largest simultaneous total of parameters, buffers, gradients, optimizer state, "
                + "activations, temporaries and input",
        ]
        let format = Graphviz.Format(pathExtension: URL(fileURLWithPath: path).pathExtension) ?? .png
        let dot = chart.dot()
        try outputs.stage(
            path, format == .dot ? Array(dot.utf8) : try Graphviz.render(dot: dot, format: format, layout: "nop"))
    }
}
