import ArgumentParser
import Foundation
import GraphIR
import Passes
import Traces

struct TraceCompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Set a trace beside graphc's prediction: peak, breakdown, op order, per-op time, with causes.",
        discussion: """
            The prediction is the training step of MODEL compiled with the usual options (--method, --rank, \
            --batch, --optimizer, ...), or a saved `graphc analyze --format json` file (--analysis; it has \
            no schedule, so op order and per-op time are left out). Each difference above --threshold \
            percent of the prediction is listed with its likely cause: a different batch size (the trace's \
            batch is its first image-shaped operand's), memory allocated before profiling (PyTorch's Total \
            Allocated does not see parameters and optimizer state made before), the saving policy (only \
            under --saving lean, which saves less than PyTorch's autograd; the default --saving pytorch \
            predicts autograd's own saved tensors), allocator caching, ops the model does not contain. For a graphc trace the measured peak is the \
            arena's high-water (mincore) plus the persistent storage.

            Examples:
              graphc trace compare prof.json small_resnet --method fft --batch 64
              graphc trace compare run.json small_resnet --method lora --rank 4 --batch 32
              graphc analyze small_resnet --batch 64 --format json -o plan.json
              graphc trace compare prof.json --analysis plan.json --format json
            """
    )

    @Argument(help: "The trace (Chrome trace JSON).")
    var file: String

    @Argument(help: ModelOptions.help)
    var model: String?

    @OptionGroup var instance: InstanceOptions
    @OptionGroup var training: TrainingOptions

    @Option(help: ArgumentHelp("A saved `graphc analyze --format json` file instead of MODEL.", valueName: "FILE.json"))
    var analysis: String?

    @Option(help: "Differences above this percent of the prediction are listed with a cause.")
    var threshold: Double = 2

    @Option(help: "Output format: table or json.")
    var format: Format = .table

    @Option(name: .shortAndLong, help: "Write to FILE instead of stdout.")
    var output: String?

    enum Format: String, ExpressibleByArgument { case table, json }

    func validate() throws {
        if (model == nil) == (analysis == nil) {
            throw ValidationError(
                "give either MODEL (with its training options) or --analysis FILE.json, not both or neither")
        }
        if !(threshold.isFinite && threshold >= 0) {
            throw ValidationError("--threshold must be a number ≥ 0, got \(threshold)")
        }
    }

    func run() throws {
        try reportingErrors {
            let trace = try readTrace(file)
            let summary = try traceFigures { try TraceSummary(trace) }
            let prediction: Prediction
            var inputs = [file]
            if let analysis {
                inputs.append(analysis)
                do {
                    let v = try Trace.readJSON(path: analysis)
                    prediction = try Prediction(analyzeJSON: v, file: analysis)
                } catch let error as TraceReadError {
                    throw CLIError(error.description)
                }
            } else {
                let session = try TrainingSession.compile(try instance.load(model!), config: training.config)
                // The policy the user chose (--saving), as `analyze` and `train` use it.
                let report = try TrainingReport(session.training, saving: session.config.saving).checked()
                prediction = Prediction(session, report)
                if let m = model, FileManager.default.fileExists(atPath: m) { inputs.append(m) }
            }
            let c = TraceComparison(summary, trace, prediction, thresholdPercent: threshold)
            let text =
                format == .json
                ? Self.json(c, prediction, summary).rendered() + "\n" : Self.table(c, prediction, summary)
            try OutputSet.write(text, to: output, inputs: inputs)
        }
    }

    static func json(_ c: TraceComparison, _ p: Prediction, _ s: TraceSummary) -> JSON {
        func opt(_ n: Int?) -> JSON { n.map(JSON.int) ?? .null }
        func row(_ r: TraceComparisonRow) -> JSON {
            .object([
                ("section", .string(r.section)), ("name", .string(r.name)), ("predicted", opt(r.predicted)),
                ("measured", opt(r.measured)), ("difference_percent", r.differencePercent.map(JSON.double) ?? .null),
                ("cause", r.cause.map(JSON.string) ?? .null), ("note", r.note.map(JSON.string) ?? .null),
            ])
        }
        return .object([
            ("trace", .string(s.file)), ("producer", .string(s.producer.rawValue)), ("model", .string(p.model)),
            ("method", .string(p.method)),
            ("saving", p.saving.map { .string($0.rawValue) } ?? .null),
            ("threshold_percent", .double(c.thresholdPercent)),
            ("rows", .array(c.rows.map(row))), ("differences", .array(c.differences.map(row))),
            ("op_order", .string(c.orderNote)),
            (
                "op_times",
                .array(
                    c.opTimes.map {
                        .object([
                            ("op", .string($0.name)), ("predicted_count", .int($0.count.predicted)),
                            ("measured_count", .int($0.count.measured)), ("predicted_flops", .int($0.flops)),
                            ("measured_us", .double($0.us)),
                        ])
                    })
            ),
        ])
    }

    static func table(_ c: TraceComparison, _ p: Prediction, _ s: TraceSummary) -> String {
        let g = NumberFormat.grouped
        var out =
            "\(s.file.escapingControlCharacters) (\(s.producer.rawValue)) against \(p.model.escapingControlCharacters) · \(p.method) · batch \(p.batch)"
            + " · saving \(p.saving?.rawValue ?? "not recorded")\n\n"
        var t = TextTable(headers: ["", "Quantity", "Predicted", "Measured", "Difference"], rightAligned: [2, 3, 4])
        for r in c.rows {
            t.rows.append([
                r.section, r.name, r.predicted.map(g) ?? "-", r.measured.map(g) ?? "-",
                r.differencePercent.map { ($0 >= 0 ? "+" : "") + NumberFormat.fixed($0, decimals: 2) + "%" } ?? "-",
            ])
        }
        out += t.render()
        out += "Op order: \(c.orderNote.escapingControlCharacters)\n"
        if !c.opTimes.isEmpty {
            let allUs = c.opTimes.reduce(0) { $0 + $1.us }, allFlops = c.opTimes.reduce(0) { $0 + $1.flops }
            var o = TextTable(
                headers: ["Op", "Count pred.", "Count meas.", "FLOPs", "FLOP %", "Time ms", "Time %"],
                rightAligned: [1, 2, 3, 4, 5, 6])
            for x in c.opTimes.prefix(12) {
                o.rows.append([
                    x.name.escapingControlCharacters, g(x.count.predicted), g(x.count.measured),
                    NumberFormat.short(x.flops),
                    percent(allFlops > 0 ? Double(x.flops) / Double(allFlops) : 0), milliseconds(x.us),
                    percent(allUs > 0 ? x.us / allUs : 0),
                ])
            }
            out += "\n" + o.render()
            out +=
                s.producer == .graphc
                ? "Per step, by graphc op.\n" : "The first forward pass's top-level ops, by PyTorch name.\n"
        }
        let d = c.differences
        out += "\n"
        if d.isEmpty {
            out += "No difference above \(NumberFormat.shortest(c.thresholdPercent))%.\n"
        } else {
            out += "Differences above \(NumberFormat.shortest(c.thresholdPercent))%:\n"
            for r in d { out += "- \(r.section) \(r.name): \(r.cause!.escapingControlCharacters)\n" }
        }
        return out
    }
}
