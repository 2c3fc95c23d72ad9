// A trace's memory over time, resampled into columns for a chart: bytes per category at each moment,
// where "moment" is a sample: a `live bytes` counter event (graphc: the plan's bytes per category,
// persistent storage included) or, without counters, each [memory] event's running sums per category
// (MemoryClasses: graphc's Category, else the phase each block was allocated in). A column shows its
// sample with the largest total (so the peak is never averaged away); a column without samples
// repeats the state before it.

/// Bytes per category in time columns, with the phases and the peak.
public struct TraceTimeline: Sendable {
    /// Bottom to top.
    public var categories: [String]
    /// `columns[c][k]`: bytes of category k shown in column c.
    public var columns: [[Int]]
    public var startUs: Double
    public var durationUs: Double
    /// Phase runs of the top-level slices, with the column each starts in.
    public var phases: [(name: String, column: Int)]
    /// The largest total over all samples, when (µs from the start), and the ops running then.
    public var peakBytes: Int
    public var peakUs: Double
    public var peakOps: [String]
    public var source: String

    public var columnUs: Double { columns.isEmpty ? 0 : durationUs / Double(columns.count) }

    /// Throws (naming the event) when a byte sum overflows a 64-bit integer.
    public init(_ trace: Trace, columns count: Int = 480) throws {
        let nesting = TraceNesting(trace)
        var lo = Double.infinity, hi = -Double.infinity
        for s in trace.slices {
            lo = min(lo, s.ts)
            hi = max(hi, s.end)
        }
        var samples: [(ts: Double, values: [Int])] = []
        let live = trace.counters.filter { trace.name($0.name) == "live bytes" }
        if !live.isEmpty {
            categories = MemoryClasses.ordered(Array(Set(live.flatMap { $0.values.map { trace.name($0.0) } })))
            var index: [String: Int] = [:]
            for (i, c) in categories.enumerated() { index[c] = i }
            for c in live.sorted(by: { $0.ts < $1.ts }) {
                _ = try c.totalBytes(trace.file)  // so the sums below fit
                var v = [Int](repeating: 0, count: categories.count)
                // Wrapping adds are exact: the true sums fit (a repeated arg name adds up too).
                for (k, x) in c.values { v[index[trace.name(k)]!] &+= Int(x) }
                samples.append((c.ts, v))
            }
            source = "the live bytes counters (the plan's bytes per category)"
        } else {
            let memory = trace.memory.sorted { $0.ts != $1.ts ? $0.ts < $1.ts : $0.index < $1.index }
            if let classes = MemoryClasses(memory, trace, nesting) {
                categories = classes.labels
                source = "[memory] events by " + classes.source
                var v = [Int](repeating: 0, count: categories.count)
                var total = 0
                for (k, m) in memory.enumerated() {
                    let c = classes.of[k]
                    let what = "the [memory] Bytes of \(categories[c])"
                    v[c] = try v[c].adding(m.bytes, or: .overflow(trace.file, m.offset, m.event, what))
                    total = try total.adding(
                        m.bytes, or: .overflow(trace.file, m.offset, m.event, "the running sum of [memory] Bytes"))
                    samples.append((m.ts, v))
                }
            } else {
                categories = ["allocated"]
                source = "[memory] events' running sum of Bytes"
                var total = 0
                for m in memory {
                    total = try total.adding(
                        m.bytes, or: .overflow(trace.file, m.offset, m.event, "the running sum of [memory] Bytes"))
                    samples.append((m.ts, [total]))
                }
            }
        }
        for s in samples {
            lo = min(lo, s.ts)
            hi = max(hi, s.ts)
        }
        if lo > hi { (lo, hi) = (0, 0) }
        startUs = lo
        durationUs = hi - lo
        let n = max(1, count)
        let width = durationUs > 0 ? durationUs / Double(n) : 1
        // Clamped as a Double before converting: a subnormal duration can make `width` round to 0.
        func column(_ ts: Double) -> Int {
            let x = (ts - lo) / width
            return x.isNaN ? 0 : Int(min(Double(n - 1), max(0, x)))
        }

        // Samples are in time order, so each column's samples are consecutive.
        peakBytes = 0
        var peakTs = lo
        var last = [Int](repeating: 0, count: categories.count)
        var filled: [[Int]] = []
        var k = 0
        for c in 0..<n {
            var shown: [Int]? = nil, best = Int.min
            while k < samples.count && column(samples[k].ts) == c {
                // The sample's total was checked to fit above (the counter's total, or the running sum of
                // Bytes), so wrapping adds give it exactly whatever the partial sums do.
                let total = samples[k].values.reduce(0, &+)
                if total > best {
                    best = total
                    shown = samples[k].values
                }
                if total > peakBytes {
                    peakBytes = total
                    peakTs = samples[k].ts
                }
                last = samples[k].values
                k += 1
            }
            filled.append(shown ?? last)
        }
        columns = filled
        peakUs = peakTs - lo
        peakOps = samples.isEmpty ? [] : TraceSummary.running(at: peakTs, trace, nesting)

        var runs: [(String, Int)] = []
        let top = trace.slices.indices.filter { nesting.topLevel[$0] }.sorted {
            trace.slices[$0].ts < trace.slices[$1].ts
        }
        for i in top {
            let p = nesting.phase[i].rawValue
            let c = column(trace.slices[i].ts)
            if runs.last?.0 == p { continue }
            // A run that starts in the column of the one before hides it (a zero_grad before forward).
            if let prev = runs.last, prev.1 == c { runs.removeLast() }
            if runs.last?.0 != p { runs.append((p, c)) }
        }
        phases = runs
        // Categories never live in the trace are left out.
        let used = categories.indices.filter { k in filled.contains { $0[k] != 0 } }
        if used.count < categories.count && !used.isEmpty {
            categories = used.map { categories[$0] }
            columns = filled.map { row in used.map { row[$0] } }
        }
    }
}
