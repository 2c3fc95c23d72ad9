// What a trace says about time and memory: per op the count, total and self time; time per phase;
// the memory peak, when it happens, the ops running then and, where the trace allows, its breakdown.
// Definitions (docs/trace-analyzer.md):
// - self time: a slice's duration minus its direct children's on the same track (pid, tid), where a
//   child starts at or after its parent and ends by its parent's end (1.5 ns of rounding allowed).
// - phase: a slice's own mark (PyTorch's `Optimizer.step#…`/`Optimizer.zero_grad#…` ranges →
//   optimizer, `autograd::engine::evaluate_function: …` → backward; graphc's forward/backward/optimizer
//   tracks), else its parent's; a top-level slice without one is forward when the trace marks any phase
//   (PyTorch's forward pass and loss run unmarked), unattributed otherwise. Phase time sums the
//   top-level (outside every other non-span slice) slices' durations.
// - peak_delta_bytes: the largest running sum of `Bytes` over the memory events in time order (file
//   order among equal times), starting from 0 at the trace's first event; peak_total_allocated_bytes:
//   the largest `Total Allocated`. The peak's time is the first event reaching the latter (the former
//   when the trace has no totals).

/// One row of the per-op table.
public struct TraceOpRow: Sendable, Equatable {
    public var name: String
    public var count: Int
    public var totalUs: Double
    public var selfUs: Double
    /// Self time over all ops' self time.
    public var share: Double
}

/// A trace's summary (see the file comment for the definitions).
public struct TraceSummary: Sendable {
    public var file: String
    public var producer: TraceProducer
    public var events = 0
    public var opSlices = 0
    public var spans = 0
    public var memoryEvents = 0
    public var counterSamples = 0
    public var metadataEvents = 0
    public var skipped: [(kind: String, count: Int)] = []
    /// The earliest timestamp of a slice, memory event or counter (µs), and the span to the latest end.
    public var startUs = 0.0
    public var durationUs = 0.0
    /// Every op, by self time (largest first), then name.
    public var ops: [TraceOpRow] = []
    /// Top-level time per phase (µs), in `TracePhase` order, phases with time only.
    public var phases: [(phase: TracePhase, us: Double)] = []
    /// Training steps: graphc's step slices or PyTorch's `ProfilerStep#`s, else `Optimizer.step#` ranges.
    public var steps = 0
    public var peakDeltaBytes: Int?
    public var peakTotalAllocatedBytes: Int?
    /// When the peak happens (µs from `startUs`) and the op stacks running then (outermost › innermost).
    public var peakUs: Double?
    public var peakOps: [String] = []
    /// Bytes live at the peak per category, and where the categories come from.
    public var peakCategories: [(name: String, bytes: Int)] = []
    public var categorySource: String?
    /// The input batch and per-sample shape, from the first image-shaped operand.
    public var batch: Int?
    public var sampleShape: [Int]?
    /// graphc traces: the `live bytes` counters' largest total (the plan's peak, persistent storage
    /// included) and their total at a step's end (the persistent storage), by category.
    public var plannedPeakBytes: Int?
    public var plannedPeakCategories: [(name: String, bytes: Int)] = []
    public var persistentBytes: Int?
    public var persistentCategories: [(name: String, bytes: Int)] = []
    /// graphc traces written with the run's measurement: the arena's measured high-water (mincore)
    /// plus the persistent storage: the measured peak of the step's tensors.
    public var measuredArenaHighWaterBytes: Int?
    public var measuredPeakBytes: Int? {
        guard let a = measuredArenaHighWaterBytes, let p = persistentBytes else { return nil }
        let (sum, overflow) = a.addingReportingOverflow(p)
        return overflow ? nil : sum  // `init` rejects a trace where it overflows
    }
    /// The per-schedule-step order of graphc's node slices in the first recorded step (names).
    public var firstStepOrder: [String] = []
}

/// Slices nested per track: parents, self times and phases.
struct TraceNesting {
    var parent: [Int32]
    var selfUs: [Double]
    var phase: [TracePhase]
    var topLevel: [Bool]

    static let slack = 0.0015

    init(_ trace: Trace) {
        let s = trace.slices
        let n = s.count
        parent = [Int32](repeating: -1, count: n)
        selfUs = s.map(\.dur)
        phase = [TracePhase](repeating: .unattributed, count: n)
        topLevel = [Bool](repeating: false, count: n)
        let anyMark = s.contains { $0.mark != nil }
        let order = (0..<n).sorted {
            let a = s[$0], b = s[$1]
            if a.track != b.track { return a.track < b.track }
            if a.ts != b.ts { return a.ts < b.ts }
            if a.dur != b.dur { return a.dur > b.dur }
            return $0 < $1
        }
        var stack: [Int] = []
        var track: Int32 = -1
        for i in order {
            if s[i].track != track {
                stack.removeAll(keepingCapacity: true)
                track = s[i].track
            }
            while let top = stack.last, !(s[i].ts >= s[top].ts && s[i].end <= s[top].end + Self.slack) {
                stack.removeLast()
            }
            if let top = stack.last {
                parent[i] = Int32(top)
                selfUs[top] -= s[i].dur
            }
            // The nearest non-span ancestor decides the phase and whether this slice is top-level.
            var up = parent[i]
            while up >= 0 && s[Int(up)].isSpan { up = parent[Int(up)] }
            if up >= 0 {
                phase[i] = s[i].mark ?? phase[Int(up)]
            } else {
                topLevel[i] = !s[i].isSpan
                phase[i] = s[i].mark ?? (anyMark ? .forward : .unattributed)
            }
            stack.append(i)
        }
        for i in 0..<n where selfUs[i] < 0 { selfUs[i] = 0 }
    }
}

extension TraceReadError {
    /// A sum over a trace's values that a 64-bit integer cannot hold, named at the event that overflows it.
    static func overflow(_ file: String, _ offset: Int, _ event: Int?, _ what: String) -> TraceReadError {
        TraceReadError(file: file, offset: offset, event: event, message: what + " overflows a 64-bit integer")
    }
}

extension Int {
    /// `self + b`, or `error` when the sum does not fit (byte counts of a hostile trace can reach 9.2e18).
    func adding(_ b: Int, or error: @autoclosure () -> TraceReadError) throws -> Int {
        let (sum, overflow) = addingReportingOverflow(b)
        if overflow { throw error() }
        return sum
    }
}

extension TraceCounterSample {
    /// The sum of the values as bytes; throws when it leaves a 64-bit integer's range (each value is
    /// within it: the reader checks).
    func totalBytes(_ file: String) throws -> Int {
        let t = values.reduce(0) { $0 + $1.1 }
        guard abs(t) < TraceBuilder.maxCounter else {
            throw TraceReadError.overflow(file, offset, event, "the counter's total (\(t))")
        }
        return Int(t)
    }
}

extension TraceSummary {
    /// Summarises `trace`; throws (naming the event) when a byte sum overflows a 64-bit integer.
    public init(_ trace: Trace) throws {
        file = trace.file
        producer = trace.producer
        events = trace.events
        spans = trace.slices.lazy.filter(\.isSpan).count
        opSlices = trace.slices.count
        memoryEvents = trace.memory.count
        counterSamples = trace.counters.count
        metadataEvents = trace.metadataEvents
        skipped = trace.skipped.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if let input = trace.firstImageInput {
            batch = input.shape[0]
            sampleShape = Array(input.shape.dropFirst())
        }

        // Extent.
        var lo = Double.infinity, hi = -Double.infinity
        for s in trace.slices {
            lo = min(lo, s.ts)
            hi = max(hi, s.end)
        }
        for m in trace.memory {
            lo = min(lo, m.ts)
            hi = max(hi, m.ts)
        }
        for c in trace.counters {
            lo = min(lo, c.ts)
            hi = max(hi, c.ts)
        }
        if lo <= hi {
            startUs = lo
            durationUs = hi - lo
        }

        // Ops and phases.
        let nesting = TraceNesting(trace)
        var rows: [Int32: (count: Int, total: Double, selfUs: Double)] = [:]
        var phaseUs = [TracePhase: Double]()
        var stepSpans = 0, optimizerSteps = 0
        for (i, s) in trace.slices.enumerated() {
            if s.isSpan {
                let name = trace.name(s.name)
                if name.hasPrefix("ProfilerStep#") || (producer == .graphc && name.hasPrefix("step ")) {
                    stepSpans += 1
                }
                continue
            }
            if trace.name(s.name).hasPrefix("Optimizer.step#") { optimizerSteps += 1 }
            rows[s.op, default: (0, 0, 0)].count += 1
            rows[s.op]!.total += s.dur
            rows[s.op]!.selfUs += nesting.selfUs[i]
            if nesting.topLevel[i] { phaseUs[nesting.phase[i], default: 0] += s.dur }
        }
        steps = stepSpans > 0 ? stepSpans : optimizerSteps
        let allSelf = rows.values.reduce(0) { $0 + $1.selfUs }
        ops = rows.map { id, r in
            TraceOpRow(
                name: trace.name(id), count: r.count, totalUs: r.total, selfUs: r.selfUs,
                share: allSelf > 0 ? r.selfUs / allSelf : 0)
        }.sorted { $0.selfUs != $1.selfUs ? $0.selfUs > $1.selfUs : $0.name < $1.name }
        phases = TracePhase.allCases.compactMap { p in phaseUs[p].map { (p, $0) } }

        // Memory.
        let memory = trace.memory.sorted { $0.ts != $1.ts ? $0.ts < $1.ts : $0.index < $1.index }
        var running = 0, peakDelta: Int?, peakDeltaAt = -1, peakTotal: Int?, peakTotalAt = -1
        for (k, m) in memory.enumerated() {
            running = try running.adding(
                m.bytes, or: .overflow(trace.file, m.offset, m.event, "the running sum of [memory] Bytes"))
            if peakDelta.map({ running > $0 }) ?? true {
                peakDelta = running
                peakDeltaAt = k
            }
            if let t = m.total, peakTotal.map({ t > $0 }) ?? true {
                peakTotal = t
                peakTotalAt = k
            }
        }
        peakDeltaBytes = peakDelta
        peakTotalAllocatedBytes = peakTotal
        let peakAt = peakTotalAt >= 0 ? peakTotalAt : peakDeltaAt
        if peakAt >= 0 {
            let t = memory[peakAt].ts
            peakUs = t - startUs
            peakOps = Self.running(at: t, trace, nesting)
            (peakCategories, categorySource) = try Self.categories(memory, upTo: peakAt, trace, nesting)
        }

        // graphc's counters: the plan's live bytes, persistent storage included.
        let live = trace.counters.filter { trace.name($0.name) == "live bytes" }
        let totals = try live.map { try $0.totalBytes(trace.file) }
        func named(_ c: TraceCounterSample) -> [(name: String, bytes: Int)] {
            c.values.map { (trace.name($0.0), Int($0.1)) }
        }
        if let hi = totals.indices.max(by: { totals[$0] < totals[$1] }),
            let lo = totals.indices.min(by: { totals[$0] < totals[$1] })
        {
            let top = live[hi], low = live[lo]
            plannedPeakBytes = totals[hi]
            plannedPeakCategories = named(top)
            persistentBytes = totals[lo]
            persistentCategories = named(low)
            if peakUs == nil {
                peakUs = top.ts - startUs
                peakOps = Self.running(at: top.ts, trace, nesting)
            }
        }
        if producer == .graphc {
            measuredArenaHighWaterBytes = trace.otherData?["measured"]?["arena_high_water_bytes"]?.integer
            if let a = measuredArenaHighWaterBytes, let p = persistentBytes {
                _ = try a.adding(
                    p,
                    or: .overflow(
                        trace.file, 0, nil, "otherData.measured.arena_high_water_bytes + the persistent bytes"))
            }
            let firstStep = trace.slices.filter { !$0.isSpan && $0.node >= 0 }.map(\.step).min()
            firstStepOrder = trace.slices.filter { !$0.isSpan && $0.node >= 0 && $0.step == firstStep }
                .sorted { $0.ts < $1.ts }.map { trace.name($0.name) }
        }
    }

    /// The op stacks running at time `t`: for each innermost non-span slice containing it, its chain of
    /// non-span ancestors, outermost first.
    static func running(at t: Double, _ trace: Trace, _ nesting: TraceNesting) -> [String] {
        let s = trace.slices
        var containing = Set<Int>()
        for (i, x) in s.enumerated() where !x.isSpan && x.ts <= t && t <= x.end { containing.insert(i) }
        var hasChild = Set<Int>()
        for i in containing where nesting.parent[i] >= 0 { hasChild.insert(Int(nesting.parent[i])) }
        return containing.subtracting(hasChild).sorted { s[$0].ts < s[$1].ts }.map { i in
            var chain: [String] = []
            var k = Int32(i)
            while k >= 0 {
                let x = s[Int(k)]
                if !x.isSpan { chain.append(trace.name(x.name) + (x.op != x.name ? " (\(trace.name(x.op)))" : "")) }
                k = nesting.parent[Int(k)]
            }
            return chain.reversed().joined(separator: " › ")
        }
    }

    /// Bytes live at memory event `upTo` (inclusive, time order) by category (see `MemoryClasses`).
    static func categories(_ memory: [TraceMemoryEvent], upTo end: Int, _ trace: Trace, _ nesting: TraceNesting)
        throws -> ([(name: String, bytes: Int)], String?)
    {
        guard let classes = MemoryClasses(memory, trace, nesting) else { return ([], nil) }
        var sums = [Int](repeating: 0, count: classes.labels.count)
        for k in 0...end {
            let m = memory[k], c = classes.of[k]
            sums[c] = try sums[c].adding(
                m.bytes, or: .overflow(trace.file, m.offset, m.event, "the [memory] Bytes of \(classes.labels[c])"))
        }
        let rows = classes.labels.indices.compactMap { c in
            sums[c] != 0 ? (name: classes.labels[c], bytes: sums[c]) : nil
        }
        return (rows, classes.source)
    }
}

/// A category for each memory event (in time order): graphc's `Category` args when the events carry
/// them, else the phase of the op each block was allocated in (its free matched by `Addr`; frees of
/// blocks allocated before the trace count against "allocated before the trace"). Nil when the events
/// have neither categories nor addresses.
struct MemoryClasses {
    var labels: [String]
    var of: [Int]
    var source: String

    /// graphc's categories, persistent storage first, as `graphc timeline` stacks them.
    static let graphcOrder = [
        "parameter_frozen", "parameter_trainable", "buffer", "optimizer_state", "input", "activation", "gradient",
        "temporary",
    ]

    static func ordered(_ names: [String]) -> [String] {
        names.sorted {
            let a = graphcOrder.firstIndex(of: $0) ?? graphcOrder.count
            let b = graphcOrder.firstIndex(of: $1) ?? graphcOrder.count
            return a != b ? a < b : $0 < $1
        }
    }

    init?(_ memory: [TraceMemoryEvent], _ trace: Trace, _ nesting: TraceNesting) {
        if memory.contains(where: { $0.category >= 0 }) {
            let names = Set(memory.map { $0.category >= 0 ? trace.name($0.category) : "uncategorised" })
            labels = Self.ordered(Array(names))
            var index: [String: Int] = [:]
            for (i, l) in labels.enumerated() { index[l] = i }
            of = memory.map { index[$0.category >= 0 ? trace.name($0.category) : "uncategorised"]! }
            source = "the [memory] events' Category"
            return
        }
        guard memory.contains(where: { $0.addr != nil }) else { return nil }
        labels =
            ["forward", "backward", "optimizer", "unattributed", "outside ops"].map { "allocated in " + $0 }
            + ["allocated before the trace"]
        source = "the phase each block was allocated in (matched by Addr)"
        // Top-level non-span slices per track, by start, to find the phase each allocation ran in.
        var byTrack: [Int32: [Int]] = [:]
        for (i, s) in trace.slices.enumerated() where nesting.topLevel[i] { byTrack[s.track, default: []].append(i) }
        for k in byTrack.keys { byTrack[k]!.sort { trace.slices[$0].ts < trace.slices[$1].ts } }
        func phase(_ m: TraceMemoryEvent) -> Int {
            guard let list = byTrack[m.track] else { return 4 }
            var lo = 0, hi = list.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if trace.slices[list[mid]].ts <= m.ts { lo = mid + 1 } else { hi = mid }
            }
            guard lo > 0, m.ts <= trace.slices[list[lo - 1]].end + TraceNesting.slack else { return 4 }
            return TracePhase.allCases.firstIndex(of: nesting.phase[list[lo - 1]])!
        }
        var live: [Int: Int] = [:]
        of = memory.map { m in
            if m.bytes >= 0 {
                let p = phase(m)
                if let a = m.addr { live[a] = p }
                return p
            }
            if let a = m.addr, let p = live.removeValue(forKey: a) { return p }
            return 5
        }
    }
}
