import ArgumentParser
import Foundation
import GraphIR
import Passes

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile a fine-tuning step and report its parameters, FLOPs per phase and peak memory.",
        discussion: """
            The method is a graph rewrite (freezing, LoRA/DoRA adapters, GaLore's projected optimizer); \
            autodiff derives the backward pass for exactly the trainable set, the optimizer pass appends the \
            updates, and the analyses read the result: MACs and FLOPs (2 x MACs, plus the optimizer's and \
            SVD's arithmetic) per phase; liveness over the schedule with the peak as the largest \
            simultaneous total and its breakdown; a static memory plan of the transient tensors with its \
            lower bound. The study profiler's view (per-category maxima; a depthwise conv's weight gradient \
            counted `groups` times; SVD and optimizer as 0) is shown apart, labelled as compatibility.

            Examples:
              graphc analyze resnet18 --method lora --rank 8 --classes 10
              graphc analyze mobilenet_v2 --method fft --batch 8 --format json
              graphc analyze resnet18 --method fft --release-grads
              graphc analyze small_resnet --method galore --rank 4 --print-ir-after optimizer
              graphc analyze mobilenet_v2 --method bnh --batch 8 --saving lean --bn frozen
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var training: TrainingOptions
    @OptionGroup var debug: PassDebugOptions

    @Option(help: "Output format: table or json.")
    var format: AnalyzeFormat = .table

    @Option(name: .shortAndLong, help: "Write to FILE instead of stdout.")
    var output: String?

    enum AnalyzeFormat: String, ExpressibleByArgument { case table, json }

    func run() throws {
        try reportingErrors {
            let session = try TrainingSession.compile(try model.load(), config: training.config, observe: debug.observe)
            let report = try TrainingReport(session.training, saving: session.config.saving).checked()
            let compat = try FlopReport(session.training, convention: .studyProfiler).checked()
            // The other saving policy's step, for the side-by-side figures.
            var otherConfig = session.config
            otherConfig.saving = session.config.saving == .pytorch ? .lean : .pytorch
            let otherStep = try TrainingCompiler.compile(session.forward, config: otherConfig)
            let other = try TrainingReport(otherStep, saving: otherConfig.saving).checked()
            let text =
                format == .json
                ? Self.json(session, report, compat, other: other).rendered() + "\n"
                : Self.table(session, report, compat, other: other)
            try OutputSet.write(text, to: output, inputs: model.inputFiles)
        }
    }

    /// Saved bytes and peak of a report, as the JSON's `saving_policies` entries give them.
    static func policyFigures(_ r: TrainingReport) -> JSON {
        .object([
            ("saved_activation_bytes", .int(r.savedActivationBytes)), ("saved_input_bytes", .int(r.savedInputBytes)),
            ("saved_weight_derived_bytes", .int(r.savedWeightDerivedBytes)), ("peak_bytes", .int(r.memory.peakBytes)),
            ("arena_bytes", .int(r.memory.arenaBytes)),
        ])
    }

    static func json(_ s: TrainingSession, _ r: TrainingReport, _ compat: FlopReport, other: TrainingReport) -> JSON {
        let sig = ModelSignature(s.forward)
        func costs(_ key: KeyPath<Cost, Int>, _ c: TrainingReport.Costs) -> JSON {
            .object([
                ("forward", .int(c.forward[keyPath: key])), ("backward", .int(c.backward[keyPath: key])),
                ("optimizer", .int(c.optimizer[keyPath: key])), ("svd", .int(c.svd[keyPath: key])),
                ("total", .int(c.total[keyPath: key])),
            ])
        }
        let m = r.memory, p = m.atPeak
        var fields: [(String, JSON)] = [
            ("model", .string(r.model)),
            ("method", .string(s.config.method.rawValue)),
            ("rank", s.config.method.takesRank ? .int(s.config.rank) : .null),
            ("batch", .int(sig.batch)),
            ("input", .array(sig.input.map(JSON.int))),
            ("classes", sig.classes.map(JSON.int) ?? .null),
            ("optimizer", .string(s.config.optimizer.rawValue)),
            ("release_grads", .bool(s.config.releaseGrads)),
            ("saving", .string(s.config.saving.rawValue)),
            ("bn", .string(s.config.bn.rawValue)),
            // Storage of frozen weights and activations (`set-precision`); every op computes in f32.
            ("weights_dtype", .string(s.config.weights.rawValue)),
            ("activations_dtype", .string(s.config.activations.rawValue)),
            ("params", .int(r.params)),
            ("trainable_params", .int(r.trainableParams)),
            ("flops", costs(\.flops, r.flops)),
            ("macs", costs(\.macs, r.flops)),
            ("elementwise_ops", costs(\.elementwise, r.flops)),
            ("saved_activation_bytes", .int(r.savedActivationBytes)),
            ("saved_input_bytes", .int(r.savedInputBytes)),
            ("saved_weight_derived_bytes", .int(r.savedWeightDerivedBytes)),
            // Both policies side by side (this step's and the other one's).
            (
                "saving_policies",
                .object(
                    [(r.saving.rawValue, policyFigures(r)), (other.saving.rawValue, policyFigures(other))]
                        .sorted { $0.0 == "pytorch" && $1.0 != "pytorch" })
            ),
            (
                "memory",
                .object([
                    ("peak_bytes", .int(m.peakBytes)),
                    ("lower_bound_bytes", .int(m.lowerBoundBytes)),
                    ("arena_bytes", .int(m.arenaBytes)),
                    ("persistent_bytes", .int(m.persistentBytes)),
                    ("category_max_total_bytes", .int(m.categoryMaxTotalBytes)),
                    (
                        "at_peak",
                        .object([
                            ("parameters", .int(p.parameters)), ("buffers", .int(p.buffers)),
                            ("gradients", .int(p.gradients)), ("optimizer_state", .int(p.optimizerState)),
                            ("activations", .int(p.activations)), ("temporaries", .int(p.temporaries)),
                            ("input", .int(p.input)),
                        ])
                    ),
                    ("peak_step", .int(r.peakStep)),
                    (
                        "peak_ops",
                        .array(
                            r.peakOps.map {
                                .object([
                                    ("step", .int($0.step)), ("name", .string($0.name)),
                                    ("op", .string($0.op)),
                                ])
                            })
                    ),
                ])
            ),
            (
                "study_profiler",
                .object([
                    ("note", .string("compatibility view: the study's profiler rules, not graphc's counts")),
                    ("category_max_total_bytes", .int(m.categoryMaxTotalBytes)),
                    ("flops", costs(\.flops, TrainingReport.Costs(compat))),
                ])
            ),
        ]
        if let plan = s.adapters {
            fields.append(
                (
                    "adapters",
                    .object([
                        ("adapted", .array(plan.adapted.map { .string($0.name) })),
                        (
                            "excluded",
                            .array(
                                plan.excluded.map {
                                    .object([
                                        ("name", .string($0.name)),
                                        ("reason", .string($0.reason.description)),
                                    ])
                                })
                        ),
                        ("adapter_params", .int(plan.adapterParameterCount)),
                    ])
                ))
        }
        return .object(fields)
    }

    static func table(_ s: TrainingSession, _ r: TrainingReport, _ compat: FlopReport, other: TrainingReport) -> String
    {
        let sig = ModelSignature(s.forward)
        let c = s.config
        var out = "\(r.model.escapingControlCharacters) · \(c.label)"
        if [.lora, .dora].contains(c.method) { out += " (alpha \(NumberFormat.shortest(c.effectiveAlpha)))" }
        out += " · \(c.optimizer.rawValue)" + (c.releaseGrads ? " · release-grads" : "")
        out += " · batch \(sig.batch) · input \(Shape.compact(sig.input))"
        if let classes = sig.classes { out += " · \(classes) classes" }
        out += "\n" + c.memoryModelLabel + "\n\n"
        out +=
            "Parameters  \(NumberFormat.grouped(r.params)), trainable \(NumberFormat.grouped(r.trainableParams)) "
            + "(\(NumberFormat.fixed(r.trainablePercent, decimals: 2))%)\n"
        if let plan = s.adapters {
            out +=
                "Adapters    \(plan.adapted.count) layers adapted, "
                + "\(NumberFormat.grouped(plan.adapterParameterCount)) adapter parameters"
            if !plan.excluded.isEmpty {
                out +=
                    "; excluded: "
                    + plan.exclusionCounts.map { "\($0.count) \($0.group.rawValue)" }
                    .joined(separator: ", ")
            }
            out += "\n"
        }
        out += "\n"
        var cost = TextTable(
            headers: ["Compute", "MACs", "FLOPs", "Study profiler FLOPs", "Elementwise ops"],
            rightAligned: [1, 2, 3, 4])
        for (name, x, y) in [
            ("forward", r.flops.forward, compat.forward),
            ("backward", r.flops.backward, compat.backward),
            ("optimizer", r.flops.optimizer, compat.optimizer),
            ("svd", r.flops.svd, compat.svd), ("total", r.flops.total, compat.total),
        ] {
            cost.rows.append([
                name, NumberFormat.grouped(x.macs), NumberFormat.grouped(x.flops),
                NumberFormat.grouped(y.flops), NumberFormat.grouped(x.elementwise),
            ])
        }
        out += cost.render()
        out += "FLOPs = 2 x MACs, plus the optimizer's and SVD's arithmetic; elementwise work is apart.\n\n"
        let m = r.memory, p = m.atPeak
        var mem = TextTable(headers: ["Memory at the peak", "Bytes", ""], rightAligned: [1, 2])
        for (name, v) in [
            ("parameters", p.parameters), ("buffers", p.buffers), ("gradients", p.gradients),
            ("optimizer state", p.optimizerState), ("activations", p.activations),
            ("temporaries", p.temporaries), ("input", p.input), ("total (peak)", m.peakBytes),
        ] {
            mem.rows.append([name, NumberFormat.grouped(v), NumberFormat.bytes(v)])
        }
        out += mem.render()
        out +=
            "Peak at step \(r.peakStep) of \(r.timeline.count): "
            + r.opsAtPeak.map { "\($0.name.escapingControlCharacters) (\($0.op))" }.joined(separator: ", ") + "\n"
        out +=
            "Saved activations: \(NumberFormat.grouped(r.savedActivationBytes)) bytes (\(NumberFormat.bytes(r.savedActivationBytes))) "
            + "under \(r.saving.rawValue); the batch and labels \(NumberFormat.bytes(r.savedInputBytes))"
            + (r.savedWeightDerivedBytes > 0
                ? ", weight-derived \(NumberFormat.bytes(r.savedWeightDerivedBytes))" : "") + "\n"
        out +=
            "Under \(other.saving.rawValue): saved activations \(NumberFormat.bytes(other.savedActivationBytes)) "
            + "(\(NumberFormat.signedPercent(NumberFormat.change(other.savedActivationBytes, from: r.savedActivationBytes)))), "
            + "peak \(NumberFormat.bytes(other.memory.peakBytes)) "
            + "(\(NumberFormat.signedPercent(NumberFormat.change(other.memory.peakBytes, from: m.peakBytes))))\n"
        out +=
            "Static plan: arena \(NumberFormat.bytes(m.arenaBytes)) for transient tensors, "
            + "lower bound \(NumberFormat.bytes(m.lowerBoundBytes)) (gap \(NumberFormat.fixed(m.gapPercent, decimals: 2))%), "
            + "persistent \(NumberFormat.bytes(m.persistentBytes))\n"
        out +=
            "Study profiler view (compatibility): sum of per-category maxima \(NumberFormat.bytes(m.categoryMaxTotalBytes)) "
            + "vs true peak \(NumberFormat.bytes(m.peakBytes)); "
            + "step FLOPs \(NumberFormat.short(compat.total.flops)) vs \(NumberFormat.short(r.flops.total.flops))\n"
        return out
    }
}
