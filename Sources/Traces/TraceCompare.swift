import GraphIR
import Passes

// Predicted against measured: a compiled training step (or a saved `graphc analyze --format json`)
// beside a trace's summary. Each quantity is a row with both figures; a difference beyond the
// threshold (percent of the prediction) is listed with its likely cause, inferred from what the trace
// shows: a different batch size (the trace's first image-shaped operand), memory the trace cannot see
// (PyTorch's Total Allocated counts only blocks allocated while profiling: parameters, buffers and
// optimizer state made before are not in it), the saving policy (more forward-allocated bytes alive at
// the peak than the activations graphc saves: under `--saving lean` graphc saves less than PyTorch's
// autograd, so that is the cause; under the default `--saving pytorch` graphc predicts PyTorch's own
// saved tensors, so the cause is elsewhere: tensors freed later, allocator caching), allocator rounding
// and caching, ops the model does not contain, and page rounding for graphc's measured arena.
// Differences are taken in Double: byte figures of a hostile trace can be near Int's bounds.

/// What graphc predicts for a training step.
public struct Prediction: Sendable {
    public var model: String
    public var method: String
    public var batch: Int
    public var sampleShape: [Int]
    public var peakBytes: Int
    public var persistentBytes: Int
    public var arenaBytes: Int?
    /// The saving policy the prediction's saved tensors follow (nil: a saved analysis that names none).
    public var saving: SavingPolicy?
    /// Bytes at the peak by `graphc analyze`'s categories (parameters, buffers, gradients, …).
    public var atPeak: [(name: String, bytes: Int)]
    /// The schedule, when compiled here (a saved analysis has none).
    public var nodes: [(name: String, op: String, forwardName: String?, phase: String, flops: Int)] = []

    /// From a compiled session and its report.
    public init(_ session: TrainingSession, _ report: TrainingReport) {
        let sig = ModelSignature(session.forward)
        model = report.model
        method = session.config.label
        batch = sig.batch
        sampleShape = sig.input
        let m = report.memory, p = m.atPeak
        peakBytes = m.peakBytes
        persistentBytes = m.persistentBytes
        arenaBytes = m.arenaBytes
        saving = report.saving
        atPeak = [
            ("parameters", p.parameters), ("buffers", p.buffers), ("gradients", p.gradients),
            ("optimizer_state", p.optimizerState), ("activations", p.activations), ("temporaries", p.temporaries),
            ("input", p.input),
        ]
        let g = session.training
        nodes = g.nodes.map { n in
            (
                n.name, n.op.name, n.op.pytorchForwardName, n.phase.rawValue,
                n.op.flops(g.operandTypes(of: n), g.resultTypes(of: n))
            )
        }
    }

    /// From `graphc analyze --format json` output (read with the trace reader's JSON parser).
    public init(analyzeJSON v: JSONValue, file: String) throws {
        func need(_ value: JSONValue?, _ key: String) throws -> Int {
            guard let n = value?.integer else {
                throw TraceReadError(
                    file: file, offset: 0, event: nil,
                    message:
                        "not a graphc analyze JSON file: no integer \"\(key)\" (write one with graphc analyze --format json)"
                )
            }
            // Byte counts and the batch are ≥ 0 and below 2^62, so the comparison's sums and
            // differences of two figures (peak − persistent, activations + input) cannot overflow.
            guard n >= 0 && n < 1 << 62 else {
                throw TraceReadError(
                    file: file, offset: 0, event: nil, message: "\"\(key)\" (\(n)) is out of range (0 to 2^62)")
            }
            return n
        }
        model = v["model"]?.string ?? "?"
        method = v["method"]?.string ?? "?"
        batch = try need(v["batch"], "batch")
        sampleShape = v["input"]?.array?.compactMap(\.integer) ?? []
        let memory = v["memory"]
        peakBytes = try need(memory?["peak_bytes"], "memory.peak_bytes")
        persistentBytes = try need(memory?["persistent_bytes"], "memory.persistent_bytes")
        arenaBytes = memory?["arena_bytes"]?.integer
        saving = v["saving"]?.string.flatMap(SavingPolicy.init(rawValue:))
        var rows: [(String, Int)] = []
        if case let .object(fields)? = memory?["at_peak"] {
            for (k, x) in fields { rows.append((k, try need(x, "memory.at_peak.\(k)"))) }
        }
        atPeak = rows
    }

    public func atPeak(_ name: String) -> Int { atPeak.first { $0.name == name }?.bytes ?? 0 }
}

extension Op {
    /// The op PyTorch's profiler shows at the top level of the forward pass for this op (`aten::conv2d`),
    /// nil for ops only graphc's training graph has (gradients, updates) or that PyTorch runs inside
    /// another (a native variant, a view).
    public var pytorchForwardName: String? {
        switch self {
        case .conv2d: "aten::conv2d"
        case .batchNorm, .nativeBatchNorm: "aten::batch_norm"
        case .relu: "aten::relu"
        case .relu6: "aten::hardtanh"
        case .hardswish: "aten::hardswish"
        case .hardsigmoid: "aten::hardsigmoid"
        case .silu: "aten::silu"
        case .sigmoid: "aten::sigmoid"
        case .add: "aten::add"
        case .mul: "aten::mul"
        case .maxPool2d, .maxPool2dWithIndices: "aten::max_pool2d"
        case .avgPool2d: "aten::avg_pool2d"
        case .adaptiveAvgPool2d: "aten::adaptive_avg_pool2d"
        case .flatten: "aten::flatten"
        case .linear: "aten::linear"
        case .dropout, .nativeDropout: "aten::dropout"
        case .softmaxCrossEntropy: "aten::cross_entropy_loss"
        case .concat: "aten::cat"
        case .scale, .div, .channelNorm, .matmul, .reshape, .activationMask: nil
        case .conv2dGradInput, .conv2dGradWeight, .biasGrad, .batchNormGrad, .activationGrad, .maxPool2dGrad,
            .avgPool2dGrad, .adaptiveAvgPool2dGrad, .linearGradInput, .linearGradWeight, .dropoutGrad,
            .softmaxCrossEntropyGrad, .sumTo, .reluMaskGrad, .batchNormFrozenGrad, .slice:
            nil
        case .sgdUpdate, .momentumUpdate, .adamUpdate, .adamDirection, .applyUpdate, .svdProjector: nil
        }
    }
}

extension Int {
    /// Adds, clipping at Int's bounds: for a measured figure folded from a hostile trace's values.
    mutating func addSaturating(_ b: Int) {
        let (r, overflow) = addingReportingOverflow(b)
        self = overflow ? (b > 0 ? .max : .min) : r
    }
}

/// One compared quantity.
public struct TraceComparisonRow: Sendable {
    public var section: String
    public var name: String
    public var predicted: Int?
    public var measured: Int?
    /// (measured − predicted) / predicted × 100, when both are there and the prediction is not 0.
    public var differencePercent: Double? {
        guard let p = predicted, let m = measured, p != 0 else { return nil }
        return (Double(m) - Double(p)) / Double(p) * 100
    }
    /// Beyond the threshold, with its likely cause; nil when within or not comparable.
    public var cause: String?
    public var note: String?
}

/// A trace set beside a prediction.
public struct TraceComparison: Sendable {
    public var thresholdPercent: Double
    public var rows: [TraceComparisonRow] = []
    /// Per op: the prediction's FLOPs and the trace's time (µs), by graphc op (graphc traces) or by
    /// PyTorch's top-level forward op.
    public var opTimes: [(name: String, count: (predicted: Int, measured: Int), flops: Int, us: Double)] = []
    public var orderNote: String = ""

    /// The differences beyond the threshold.
    public var differences: [TraceComparisonRow] { rows.filter { $0.cause != nil } }

    public init(_ s: TraceSummary, _ trace: Trace, _ p: Prediction, thresholdPercent: Double = 2) {
        self.thresholdPercent = thresholdPercent
        let beyond: (Int, Int) -> Bool = { pred, meas in
            pred == 0 ? meas != 0 : abs(Double(meas) - Double(pred)) / Double(pred) * 100 > thresholdPercent
        }
        let batchNote: String? = s.batch.flatMap { b in
            b != p.batch
                ? "a different batch size: the trace ran batch \(b), the prediction is for batch \(p.batch) (pass --batch \(b))"
                : nil
        }
        rows.append(
            TraceComparisonRow(
                section: "input", name: "batch", predicted: p.batch, measured: s.batch,
                cause: s.batch.map { $0 != p.batch } ?? false ? batchNote : nil,
                note: s.batch == nil ? "the trace shows no image-shaped operand" : nil))

        // Peak.
        switch s.producer {
        case .graphc:
            let measured = s.measuredPeakBytes ?? s.plannedPeakBytes
            var cause: String? = nil
            if let m = measured, beyond(p.peakBytes, m) {
                if let b = batchNote {
                    cause = b
                } else if let arena = trace.otherData?["arena_bytes"]?.integer, let pa = p.arenaBytes, arena != pa {
                    cause =
                        "a different plan: the trace's arena is \(arena) bytes, the prediction's \(pa) (another model, method or options)"
                } else {
                    cause =
                        "the measured arena high-water differs from the plan (arena pages untouched or a plan not followed)"
                }
            }
            rows.append(
                TraceComparisonRow(
                    section: "memory", name: "peak", predicted: p.peakBytes, measured: measured, cause: cause,
                    note: s.measuredPeakBytes != nil
                        ? "measured: arena high-water (mincore, page-granular) + persistent storage by category"
                        : "the trace has no measurement (older graphc): its live-bytes counters' peak, the plan's"))
            if let planned = s.plannedPeakBytes {
                rows.append(
                    TraceComparisonRow(
                        section: "memory", name: "planned peak in the trace", predicted: p.peakBytes, measured: planned,
                        cause: beyond(p.peakBytes, planned)
                            ? (batchNote ?? "a different model, method or options") : nil,
                        note: "the live-bytes counters' largest total"))
            }
            if let persistent = s.persistentBytes {
                rows.append(
                    TraceComparisonRow(
                        section: "memory", name: "persistent", predicted: p.persistentBytes, measured: persistent,
                        cause: beyond(p.persistentBytes, persistent)
                            ? (batchNote ?? "a different model or method") : nil))
            }
            // Categories: the counters' names folded into analyze's.
            let fold: [String: String] = [
                "parameter_frozen": "parameters", "parameter_trainable": "parameters", "buffer": "buffers",
                "optimizer_state": "optimizer_state", "input": "input", "activation": "activations",
                "gradient": "gradients", "temporary": "temporaries",
            ]
            var measuredCats: [String: Int] = [:]
            for c in s.plannedPeakCategories {
                measuredCats[fold[c.name] ?? c.name, default: 0].addSaturating(c.bytes)
            }
            for c in p.atPeak where !measuredCats.isEmpty {
                let m = measuredCats[c.name] ?? 0
                rows.append(
                    TraceComparisonRow(
                        section: "at the peak", name: c.name, predicted: c.bytes, measured: m,
                        cause: beyond(c.bytes, m) ? (batchNote ?? "a different schedule or categorisation") : nil))
            }
        case .pytorch, .chrome:
            let measured = s.peakTotalAllocatedBytes ?? s.peakDeltaBytes
            let transient = p.peakBytes - p.persistentBytes
            rows.append(
                TraceComparisonRow(
                    section: "memory", name: "peak", predicted: p.peakBytes, measured: measured,
                    cause: measured.map { beyond(p.peakBytes, $0) } ?? false
                        ? "the trace cannot see memory allocated before profiling: PyTorch's Total Allocated counts "
                            + "blocks allocated while the profiler ran; the parameters, buffers and optimizer state "
                            + "(\(p.persistentBytes) bytes predicted, persistent) usually predate it" : nil,
                    note: "measured: the largest Total Allocated (else the running sum of Bytes)"))
            var cause: String? = nil
            if let m = measured, beyond(transient, m) {
                if let b = batchNote {
                    cause = b
                } else if m > transient {
                    let fwd = s.peakCategories.first { $0.name == "allocated in forward" }?.bytes ?? 0
                    let saved = p.atPeak("activations") + p.atPeak("input")
                    cause =
                        fwd > saved
                        ? "\(fwd) bytes allocated in forward are alive at the peak against \(saved) saved by "
                            + "graphc's analysis: " + Self.moreSavedCause(p.saving)
                        : "allocator rounding and caching, or ops the model does not contain allocating at the peak"
                } else {
                    cause = "PyTorch frees earlier or computes in place where graphc's schedule keeps tensors live"
                }
            }
            rows.append(
                TraceComparisonRow(
                    section: "memory", name: "peak of the step's tensors", predicted: transient, measured: measured,
                    cause: cause, note: "predicted: peak − persistent (what a profile started after setup sees)"))
            // By phase of allocation against analyze's categories.
            let fwd = s.peakCategories.first { $0.name == "allocated in forward" }?.bytes
            let bwd = s.peakCategories.first { $0.name == "allocated in backward" }?.bytes
            if let fwd {
                let pred = p.atPeak("activations") + p.atPeak("input")
                rows.append(
                    TraceComparisonRow(
                        section: "at the peak", name: "activations + input (allocated in forward)", predicted: pred,
                        measured: fwd,
                        cause: beyond(pred, fwd)
                            ? (batchNote
                                ?? (fwd > pred
                                    ? Self.moreSavedCause(p.saving)
                                    : "PyTorch frees forward tensors earlier"))
                            : nil))
            }
            if let bwd {
                let pred = p.atPeak("gradients") + p.atPeak("temporaries")
                rows.append(
                    TraceComparisonRow(
                        section: "at the peak", name: "gradients + temporaries (allocated in backward)",
                        predicted: pred,
                        measured: bwd,
                        cause: beyond(pred, bwd)
                            ? (batchNote
                                ?? (bwd > pred
                                    ? "allocator caching or temporaries the model does not have (contiguous copies, workspaces)"
                                    : "gradients accumulated in place or freed earlier"))
                            : nil))
            }
        }

        // Op order and time.
        guard !p.nodes.isEmpty else {
            orderNote = "a saved analysis has no schedule: op order and per-op time need the model"
            return
        }
        let nesting = TraceNesting(trace)
        if s.producer == .graphc {
            let schedule = p.nodes.map(\.name)
            let ran = s.firstStepOrder
            let same = zip(schedule, ran).prefix { $0 == $1 }.count
            let missing = Set(schedule).subtracting(ran), extra = Set(ran).subtracting(schedule)
            if schedule == ran {
                orderNote = "the trace's first step ran the schedule's \(schedule.count) nodes in its order"
            } else {
                orderNote =
                    "the trace's first step ran \(ran.count) nodes, the schedule has \(schedule.count); they agree on "
                    + "the first \(same)"
                    + (extra.isEmpty
                        ? "" : "; ops not in the model: " + extra.sorted().prefix(5).joined(separator: ", "))
                    + (missing.isEmpty
                        ? "" : "; not in the trace: " + missing.sorted().prefix(5).joined(separator: ", "))
            }
            rows.append(
                TraceComparisonRow(
                    section: "ops", name: "nodes per step", predicted: schedule.count, measured: ran.count,
                    cause: schedule == ran
                        ? nil
                        : (extra.isEmpty ? "nodes the model has but the run did not record" : "ops not in the model")))
            let steps = max(s.steps, 1)
            var byOp: [String: (Int, Int, Int, Double)] = [:]
            for n in p.nodes { byOp[n.op, default: (0, 0, 0, 0)].0 += 1; byOp[n.op]!.2 += n.flops }
            for r in s.ops {
                byOp[r.name, default: (0, 0, 0, 0)].1 = r.count / steps; byOp[r.name]!.3 = r.totalUs / Double(steps)
            }
            opTimes = byOp.map { ($0.key, ($0.value.0, $0.value.1), $0.value.2, $0.value.3) }.sorted { $0.us > $1.us }
        } else {
            // PyTorch: the top-level forward ops before the first backward range, against the model's forward.
            let order = trace.slices.indices.filter { nesting.topLevel[$0] }.sorted {
                trace.slices[$0].ts < trace.slices[$1].ts
            }
            var firstForward: [Int] = []
            var seenForward = false
            for i in order {
                let ph = nesting.phase[i]
                if ph == .forward {
                    seenForward = true; firstForward.append(i)
                } else if seenForward && ph == .backward {
                    break
                }
            }
            let ran = firstForward.map { trace.name(trace.slices[$0].name) }
            let expected = p.nodes.filter { $0.phase == "forward" }.compactMap(\.forwardName)
            var k = 0
            for name in ran where k < expected.count && name == expected[k] { k += 1 }
            let extra = Dictionary(grouping: ran.filter { !expected.contains($0) }, by: { $0 }).mapValues(\.count)
            orderNote =
                (k == expected.count
                    ? "the model's \(expected.count) forward ops appear in the trace's first forward pass in order"
                    : "the trace's first forward pass matches the model's forward ops up to op \(k) of \(expected.count) (\(k < expected.count ? expected[k] : ""))")
                + (extra.isEmpty
                    ? ""
                    : "; ops not in the model: "
                        + extra.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))
            rows.append(
                TraceComparisonRow(
                    section: "ops", name: "forward ops (top level, first step)", predicted: expected.count,
                    measured: ran.count,
                    cause: ran.count == expected.count
                        ? nil
                        : "ops not in the model (PyTorch runs them at the top level: "
                            + extra.keys.sorted().prefix(4).joined(separator: ", ") + ")"))
            var byOp: [String: (Int, Int, Int, Double)] = [:]
            for n in p.nodes where n.phase == "forward" {
                guard let f = n.forwardName else { continue }
                byOp[f, default: (0, 0, 0, 0)].0 += 1
                byOp[f]!.2 += n.flops
            }
            for i in firstForward {
                let x = trace.slices[i]
                byOp[trace.name(x.name), default: (0, 0, 0, 0)].1 += 1
                byOp[trace.name(x.name)]!.3 += x.dur
            }
            opTimes = byOp.map { ($0.key, ($0.value.0, $0.value.1), $0.value.2, $0.value.3) }.sorted { $0.us > $1.us }
        }
        // Per-op time: an op whose share of time is far above its share of FLOPs.
        let allUs = opTimes.reduce(0) { $0 + $1.us }, allFlops = opTimes.reduce(0) { $0 + $1.flops }
        for o in opTimes where allUs > 0 && allFlops > 0 {
            let timeShare = o.us / allUs * 100, flopShare = Double(o.flops) / Double(allFlops) * 100
            if o.count.predicted == 0 && o.count.measured > 0 {
                rows.append(
                    TraceComparisonRow(
                        section: "op time", name: o.name + " (count per step)", predicted: 0,
                        measured: o.count.measured,
                        cause: "an op the model does not contain (\(Self.fixed(timeShare))% of the time)",
                        note: "counts per step"))
            } else if timeShare - flopShare > max(thresholdPercent, 10) {
                rows.append(
                    TraceComparisonRow(
                        section: "op time", name: o.name + " (FLOP % vs time %)", predicted: Int(flopShare.rounded()),
                        measured: Int(timeShare.rounded()),
                        cause: o.flops == 0
                            ? "elementwise or memory-bound work: no FLOPs predicted, \(Self.fixed(timeShare))% of the time"
                            : "slower per FLOP than the rest: \(Self.fixed(flopShare))% of the FLOPs, \(Self.fixed(timeShare))% of the time",
                        note: "shares in percent"))
            }
        }
    }

    static func fixed(_ x: Double) -> String { NumberFormat.fixed(x, decimals: 1) }

    /// Why a PyTorch trace keeps more forward-allocated bytes at the peak than the prediction saves, by
    /// the prediction's saving policy: only `lean` saves less than autograd does; `pytorch` (the default)
    /// predicts autograd's own saved tensors, so the extra bytes are kept for another reason.
    static func moreSavedCause(_ saving: SavingPolicy?) -> String {
        switch saving {
        case .lean?:
            "the saving policy: the prediction is for --saving lean (only what graphc's backward reads, ReLU "
                + "masks packed to bits); PyTorch's autograd saves more (compare with --saving pytorch)"
        case .pytorch?:
            "not the saving policy (the prediction saves what PyTorch's autograd saves): PyTorch frees forward "
                + "tensors later than graphc's schedule, or its allocator caches and rounds blocks"
        case nil:
            "the saving policy (the saved analysis names none: PyTorch's autograd may save more), or tensors "
                + "PyTorch frees later"
        }
    }
}
