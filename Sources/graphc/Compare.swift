import ArgumentParser
import Foundation
import GraphIR
import Viz
import Passes

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
            """
    )

    @Argument(help: "Zoo names or model files.")
    var models: [String]

    @Option(help: ArgumentHelp("Methods, comma-separated: fft, bnh, head, lora, dora, galore.", valueName: "LIST"))
    var methods: String = "fft,bnh,head,lora,dora,galore"

    @Option(parsing: .unconditional,
            help: ArgumentHelp("Ranks for lora, dora and galore, comma-separated.", valueName: "LIST"))
    var ranks: String = "8"

    @Option(parsing: .unconditional, help: ArgumentHelp("Batch sizes, comma-separated.", valueName: "LIST"))
    var batch: String = "1"

    @Option(help: ArgumentHelp("Per-sample input shape (default: each model's own).", valueName: "CxHxW"))
    var input: String?

    @Option(parsing: .unconditional, help: "Number of classes (default: each model's own).")
    var classes: Int?

    @OptionGroup var step: StepOptions

    @Option(help: "Output format: table, csv or json.")
    var format: OutputFormat = .table

    @Option(name: .shortAndLong, help: "Write the table to FILE instead of stdout.")
    var output: String?

    @Option(help: "Also draw the comparison (PNG, SVG or DOT, by extension).")
    var plot: String?

    struct Row {
        var model: String
        var batch: Int
        var config: TrainingConfig
        var report: TrainingReport
        var baseline: TrainingReport
    }

    func validate() throws {
        _ = try parsedMethods()
        _ = try Self.integers(ranks, "--ranks")
        _ = try Self.integers(batch, "--batch")
        if let input, Shape.parse(input) == nil { throw ValidationError("--input must look like 3x224x224") }
        if let classes, classes < 1 { throw ValidationError("--classes must be at least 1") }
        if let plot, Graphviz.Format(pathExtension: URL(fileURLWithPath: plot).pathExtension) == nil {
            throw ValidationError("--plot takes a .png, .svg or .dot file")
        }
    }

    func parsedMethods() throws -> [FineTuningMethod] {
        try methods.split(separator: ",").map { name in
            guard let m = FineTuningMethod(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("unknown method '\(name)'; methods: "
                                      + FineTuningMethod.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return m
        }
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
            let methods = try parsedMethods()
            let ranks = try Self.integers(ranks, "--ranks"), batches = try Self.integers(batch, "--batch")
            var rows: [Row] = []
            let total = models.count * batches.count
            var done = 0
            for model in models {
                for b in batches {
                    var options = try ModelOptions.parse([model] + (input.map { ["--input", $0] } ?? [])
                                                         + (classes.map { ["--classes", String($0)] } ?? [])
                                                         + ["--batch", String(b)])
                    options.batch = b
                    let forward = try options.load()
                    func analyse(_ method: FineTuningMethod, rank: Int) throws -> (TrainingConfig, TrainingReport) {
                        var c = step.config(method, rank: rank)
                        // GaLore projects Adam's state: with SGD or momentum its rows use Adam.
                        if method == .galore && c.optimizer != .adamw { c.optimizer = .adam }
                        return (c, try TrainingReport(try TrainingSession.compile(forward, config: c).training).checked())
                    }
                    let (baselineConfig, baseline) = try analyse(.fft, rank: 1)
                    for method in methods {
                        for rank in [.lora, .dora, .galore].contains(method) ? ranks : [0] {
                            let (config, report) = method == .fft ? (baselineConfig, baseline)
                                : try analyse(method, rank: rank)
                            rows.append(Row(model: forward.name, batch: b, config: config, report: report,
                                            baseline: baseline))
                        }
                    }
                    done += 1
                    if total > 1 { printError("compare: \(done)/\(total) \(forward.name) batch \(b) done") }
                }
            }
            try writeOutput(render(rows), to: output)
            if let plot { try drawPlot(rows, to: plot) }
        }
    }

    static func percent(_ x: Int, _ base: Int) -> Double { base == 0 ? 0 : (Double(x) - Double(base)) / Double(base) * 100 }

    static func signed(_ p: Double) -> String { (p > 0 ? "+" : p < 0 ? "−" : "±") + String(format: "%.1f%%", abs(p)) }

    func render(_ rows: [Row]) -> String {
        func values(_ r: Row) -> (params: Int, flops: Int, peak: Int, bp: Int, bf: Int, bm: Int) {
            (r.report.trainableParams, r.report.flops.total.flops, r.report.memory.peakBytes,
             r.baseline.trainableParams, r.baseline.flops.total.flops, r.baseline.memory.peakBytes)
        }
        switch format {
        case .table:
            var t = TextTable(headers: ["Model", "Batch", "Method", "Trainable", "vs FFT", "Step FLOPs", "vs FFT",
                                        "Peak memory", "vs FFT"], rightAligned: [1, 3, 4, 5, 6, 7, 8])
            for r in rows {
                let v = values(r)
                t.rows.append([r.model, String(r.batch), TrainingSession.label(r.config), grouped(v.params),
                               Self.signed(Self.percent(v.params, v.bp)), short(v.flops),
                               Self.signed(Self.percent(v.flops, v.bf)), bytes(v.peak),
                               Self.signed(Self.percent(v.peak, v.bm))])
            }
            return t.render() + "Step = forward + backward + optimizer (+ amortised SVD); peak = largest simultaneous total.\n"
        case .csv:
            return csv([["model", "batch", "method", "rank", "optimizer", "trainable_params", "trainable_vs_fft_pct",
                         "step_flops", "flops_vs_fft_pct", "peak_bytes", "peak_vs_fft_pct", "saved_activation_bytes"]]
                       + rows.map { r in
                           let v = values(r)
                           return [r.model, String(r.batch), r.config.method.rawValue,
                                   [.lora, .dora, .galore].contains(r.config.method) ? String(r.config.rank) : "",
                                   r.config.optimizer.rawValue, String(v.params),
                                   String(format: "%.2f", Self.percent(v.params, v.bp)), String(v.flops),
                                   String(format: "%.2f", Self.percent(v.flops, v.bf)), String(v.peak),
                                   String(format: "%.2f", Self.percent(v.peak, v.bm)),
                                   String(r.report.savedActivationBytes)]
                       })
        case .json:
            return JSON.array(rows.map { r in
                let v = values(r)
                return .object([
                    ("model", .string(r.model)), ("batch", .int(r.batch)), ("method", .string(r.config.method.rawValue)),
                    ("rank", [.lora, .dora, .galore].contains(r.config.method) ? .int(r.config.rank) : .null),
                    ("optimizer", .string(r.config.optimizer.rawValue)),
                    ("trainable_params", .int(v.params)), ("trainable_vs_fft_pct", .double(Self.percent(v.params, v.bp))),
                    ("step_flops", .int(v.flops)), ("flops_vs_fft_pct", .double(Self.percent(v.flops, v.bf))),
                    ("peak_bytes", .int(v.peak)), ("peak_vs_fft_pct", .double(Self.percent(v.peak, v.bm))),
                    ("saved_activation_bytes", .int(r.report.savedActivationBytes)),
                ])
            }).rendered() + "\n"
        }
    }

    func drawPlot(_ rows: [Row], to path: String) throws {
        let colors: [FineTuningMethod: String] = [.fft: "#77AADD", .bnh: "#BBCC33", .head: "#44BB99",
                                                  .lora: "#EE8866", .dora: "#EEDD88", .galore: "#AA4499"]
        let multi = Set(rows.map(\.model)).count > 1 || Set(rows.map(\.batch)).count > 1
        let labels = rows.map { r in
            (multi ? "\(r.model)\(r.batch > 1 ? " b\(r.batch)" : "") " : "") + TrainingSession.label(r.config)
        }
        func panel(_ title: String, _ value: (TrainingReport) -> Int, _ text: (Int) -> String) -> BarChart.Panel {
            BarChart.Panel(title: title, bars: rows.map { r in
                let v = value(r.report), base = value(r.baseline)
                let suffix = r.config.method == .fft ? "" : " (\(Self.signed(Self.percent(v, base))))"
                return BarChart.Bar(value: Double(v), text: text(v) + suffix, color: colors[r.config.method] ?? "#BBBBBB")
            })
        }
        var chart = BarChart(title: "Fine-tuning cost per step" + (multi ? "" : " · \(rows.first?.model ?? "")"),
                             rows: labels, panels: [
                                 panel("trainable parameters", { $0.trainableParams }, { formatCount(Double($0)) }),
                                 panel("step FLOPs", { $0.flops.total.flops }, { formatCount(Double($0)) }),
                                 panel("peak memory", { $0.memory.peakBytes }, formatBytes),
                             ])
        chart.notes = ["% against full fine-tuning (fft) of the same model and batch; optimizer \(step.optimizer.rawValue)",
                       "peak = largest simultaneous total of parameters, buffers, gradients, optimizer state, "
                       + "activations, temporaries and input"]
        let format = Graphviz.Format(pathExtension: URL(fileURLWithPath: path).pathExtension) ?? .png
        let dot = chart.dot()
        try writeOutput(format == .dot ? Array(dot.utf8) : try Graphviz.render(dot: dot, format: format, layout: "nop"),
                        to: path)
    }
}
