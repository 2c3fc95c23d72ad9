import Executor
import GraphIR
import Passes
import Training
import Viz

/// `graphc study`'s renderings of one result: the table, JSON, CSV and the chart.
struct StudyReport {
    var recipe: StudyRecipe
    var result: StudyResult
    var model: String

    /// The scenario column: `pretrain 0-4`, `unseen-classes 5-9`, `shift=invert`.
    static func scenario(_ r: StudyRow) -> String {
        switch r.kind {
        case .pretrain: return r.classes.map { "pretrain " + StudyRow.classList($0) } ?? "pretrain"
        case .baseline, .fineTune:
            return r.scenario
                + (r.scenario == "unseen-classes" ? r.classes.map { " " + StudyRow.classList($0) } ?? "" : "")
        }
    }

    static func method(_ r: StudyRow) -> String { r.config?.method.rawValue ?? "pretrained" }

    var table: String {
        var t = TextTable(
            headers: [
                "Scenario", "Method", "Rank", "Trainable", "Step FLOPs", "Predicted peak", "Measured RSS delta",
                "Arena high-water", "Accuracy", "s/epoch",
            ], rightAligned: [2, 3, 4, 5, 6, 7, 8, 9])
        for r in result.rows {
            let c = r.config, p = r.report, o = r.outcome
            t.rows.append([
                Self.scenario(r), Self.method(r) + (r.kind == .baseline ? " (no fine-tune)" : ""),
                c.map { $0.method.takesRank ? String($0.rank) : "-" } ?? "-",
                p.map { NumberFormat.grouped($0.trainableParams) } ?? "-",
                p.map { NumberFormat.short($0.flops.total.flops) } ?? "-",
                p.map { NumberFormat.grouped($0.memory.peakBytes) } ?? "-",
                o.map { $0.measurement.peakRSSDeltaBytes.map(NumberFormat.grouped) ?? "n/a" } ?? "-",
                o.map { NumberFormat.grouped($0.measurement.arenaHighWaterBytes) } ?? "-",
                NumberFormat.fixed(r.accuracy * 100, decimals: 2) + "%",
                o.map { NumberFormat.fixed($0.secondsPerEpoch, decimals: 1) } ?? "-",
            ])
        }
        let r = recipe
        var out =
            "\(model), \(r.pretrain.optimizer.rawValue) lr \(NumberFormat.trimmed(r.pretrain.learningRate)), batch "
            + "\(r.batch): "
            + (result.rows.first?.kind == .pretrain
                ? "pretrained \(r.pretrainEpochs) epoch\(r.pretrainEpochs == 1 ? "" : "s") on classes "
                    + StudyRow.classList(r.pretrainClasses)
                : "the base parameters given")
            + ", every method fine-tuned \(r.epochs) epoch\(r.epochs == 1 ? "" : "s") from them\n"
        out += r.pretrain.memoryModelLabel + "\n"
        out += t.render()
        out +=
            "Accuracy on the scenario's test split (\(testCounts)); the baseline row is the pretrained model before "
            + "fine-tuning.\nStep FLOPs, predicted peak: the analyses (exact FLOPs: forward + backward + optimizer); "
            + "measured: the OS over the first epoch's steps.\n"
        return out
    }

    /// `5,000 test images` or per scenario when they differ.
    private var testCounts: String {
        var seen: [(String, Int)] = []
        for row in result.rows where !seen.contains(where: { $0.0 == Self.scenario(row) }) {
            seen.append((Self.scenario(row), row.tested))
        }
        if Set(seen.map(\.1)).count == 1 { return "\(NumberFormat.grouped(seen[0].1)) images" }
        return seen.map { "\($0.0): \(NumberFormat.grouped($0.1))" }.joined(separator: ", ")
    }

    /// The flat fields of a row, in column order (JSON and CSV).
    private func fields(_ r: StudyRow) -> [(String, JSON)] {
        let c = r.config, p = r.report, o = r.outcome, m = o?.measurement
        func whole(_ v: Int?) -> JSON {
            guard let v else { return .null }
            return .int(v)
        }
        func real(_ v: Double?) -> JSON {
            guard let v else { return .null }
            return .double(v)
        }
        return [
            ("kind", .string(r.kind.rawValue)), ("scenario", .string(r.scenario)),
            ("classes", r.classes.map { .string(StudyRow.classList($0)) } ?? .null),
            ("shift", .string(r.shift.description)), ("method", .string(Self.method(r))),
            ("rank", whole(c.flatMap { $0.method.takesRank ? $0.rank : nil })),
            ("trainable_params", whole(p?.trainableParams)), ("params", whole(p?.params)),
            ("step_flops", whole(p?.flops.total.flops)), ("predicted_peak_bytes", whole(p?.memory.peakBytes)),
            ("arena_bytes", whole(p?.memory.arenaBytes)),
            ("measured_peak_rss_delta_bytes", whole(m?.peakRSSDeltaBytes)),
            ("measured_arena_bytes", whole(m?.arenaHighWaterBytes)), ("workspace_bytes", whole(m?.workspaceBytes)),
            ("accuracy", .double(r.accuracy)), ("correct", .int(r.correct)), ("test_samples", .int(r.tested)),
            ("start_accuracy", real(r.startAccuracy)), ("train_samples", .int(r.trainSamples)),
            ("epochs", whole(o?.epochs.count)), ("steps", whole(o?.steps)), ("loss", real(o?.loss)),
            ("seconds_per_epoch", real(o.map(\.secondsPerEpoch))),
        ]
    }

    var json: JSON {
        let r = recipe
        return .object(
            [
                ("model", .string(model)), ("optimizer", .string(r.pretrain.optimizer.rawValue)),
                ("lr", .double(r.pretrain.learningRate)), ("batch", .int(r.batch)),
                ("pretrain_epochs", result.rows.first?.kind == .pretrain ? .int(r.pretrainEpochs) : .null),
                ("pretrain_classes", .string(StudyRow.classList(r.pretrainClasses))), ("epochs", .int(r.epochs)),
                ("seed", .int(Int(truncatingIfNeeded: r.seed))),
            ] + r.pretrain.memoryModelFields + [
                ("scenarios", .array(r.scenarios.map { .string($0.description) })),
                ("rows", .array(result.rows.map { .object(fields($0)) })),
            ])
    }

    var csvText: String {
        var lines: [[String]] = []
        for (i, r) in result.rows.enumerated() {
            let row = fields(r)
            if i == 0 { lines.append(row.map { key, _ in key }) }
            lines.append(row.map { _, value in Self.cell(value) })
        }
        return csv(lines)
    }

    /// A CSV cell: strings bare, null empty, numbers as JSON writes them.
    private static func cell(_ v: JSON) -> String {
        if case .null = v { return "" }
        if case .string(let s) = v { return s }
        return v.rendered()
    }

    static let colors: [FineTuningMethod: String] = [
        .fft: "#77AADD", .bnh: "#BBCC33", .head: "#44BB99", .lora: "#EE8866", .dora: "#EEDD88", .galore: "#AA4499",
    ]

    /// Accuracy against predicted peak memory, a panel per scenario.
    var chart: AccuracyMemoryChart {
        var panels: [AccuracyMemoryChart.Panel] = []
        for row in result.rows where row.kind == .baseline {
            let runs = result.rows.filter { $0.kind == .fineTune && $0.scenario == row.scenario }
            panels.append(
                AccuracyMemoryChart.Panel(
                    title: Self.scenario(row),
                    points: runs.map { r in
                        AccuracyMemoryChart.Point(
                            label: r.config!.label, peakBytes: r.report!.memory.peakBytes, accuracy: r.accuracy,
                            color: Self.colors[r.config!.method] ?? "#BBBBBB")
                    }, baseline: row.accuracy))
        }
        let r = recipe
        var chart = AccuracyMemoryChart(
            title: "Fine-tuning: accuracy against memory · \(model), batch \(r.batch)", panels: panels)
        let pre = result.rows.first { $0.kind == .pretrain }
        chart.notes = [
            (pre.map {
                "pretrained \(r.pretrainEpochs) epoch\(r.pretrainEpochs == 1 ? "" : "s") on classes "
                    + StudyRow.classList(r.pretrainClasses)
                    + " (\(NumberFormat.fixed($0.accuracy * 100, decimals: 1))%), "
            } ?? "from the given base parameters, ")
                + "then each method \(r.epochs) epoch\(r.epochs == 1 ? "" : "s"), "
                + "\(r.pretrain.optimizer.rawValue) lr \(NumberFormat.trimmed(r.pretrain.learningRate))",
            "x: the planner's predicted peak of one training step; y: accuracy on the scenario's test split",
        ]
        return chart
    }
}
