import GraphIR

// Traces of planned runs in the Chrome trace event format (JSON), which Perfetto (ui.perfetto.dev),
// chrome://tracing and PyTorch-profiler trace analyzers read. docs/trace-format.md is the format.
//
// A runner tells its `observer` (PlannedRunner.observer) before and after each node; a `TraceRecorder`
// reads CLOCK_MONOTONIC at both and, after the node, appends to one byte buffer:
// - the node's complete slice (`ph:"X"`) on its phase's track (forward, backward, optimizer);
// - a counter event (`ph:"C"`, "live bytes") with the bytes live per memory category at the node's start;
// - PyTorch-style `[memory]` instant events (`ph:"i"`) for the plan's allocations at the node's start
//   and the frees of tensors whose interval ended at the previous node;
// and, after a step's last node, the step's slice ("step N") on its own track, the frees of what was
// live to the end, and a counter event at the step's end.
//
// Everything that does not depend on time (names, args, live bytes per node, the memory events'
// running sums) is computed once, at init, from the graph, the plan and the caller's categories: per
// node the recorder writes precomputed bytes and a few numbers. Nothing runs during a node but the two
// clock readings. The caller caps the steps recorded (`maxSteps`); later steps cost one branch per node.
#if canImport(Glibc)
    import Glibc
#endif

/// Told by a runner around every node it executes.
public protocol NodeObserver: AnyObject {
    /// Node `index` of the schedule (`graph.nodes[index]`) is about to run in training step `step` (1-based).
    func willRun(node index: Int, step: Int)
    /// Node `index` has run.
    func didRun(node index: Int, step: Int)
}

/// The monotonic clock.
public enum TraceClock {
    /// CLOCK_MONOTONIC in nanoseconds.
    @inline(__always)
    public static func nanoseconds() -> Int64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
    }
}

/// Records a planned run as Chrome trace JSON (see the file comment and docs/trace-format.md).
public final class TraceRecorder: NodeObserver {
    /// Thread ids of the tracks (one process, pid 1).
    public enum Track: Int, CaseIterable, Sendable {
        case steps = 1
        case forward = 2
        case backward = 3
        case optimizer = 4
        case memory = 5

        public var name: String {
            switch self {
            case .steps: "steps"
            case .forward: "forward"
            case .backward: "backward"
            case .optimizer: "optimizer"
            case .memory: "memory"
            }
        }

        public init(_ phase: Phase) {
            switch phase {
            case .forward: self = .forward
            case .backward: self = .backward
            case .optimizer: self = .optimizer
            }
        }
    }

    /// The counter event's name; its args are the categories.
    public static let counterName = "live bytes"

    public let graph: Graph
    public let plan: MemoryPlan
    /// Steps to record (nil: all); later steps are not recorded.
    public let maxSteps: Int?
    /// The memory categories, in counter order: the distinct names the caller gave, sorted.
    public let categoryNames: [String]
    /// Bytes live per category (`categoryNames` order) at each node's start: placed values over their
    /// planned interval, storage the plan does not place (parameters, state, inputs, unplanned results)
    /// over the whole step. Values without a category are not counted; views and in-place results own no
    /// bytes.
    public let liveBytes: [[Int]]
    /// The same at a step's end: the unplaced storage only.
    public let liveBytesAtEnd: [Int]
    /// The largest "Total Allocated" of the memory events: the plan's lower bound.
    public let peakAllocatedBytes: Int
    /// Steps recorded so far (a step counts from its first node).
    public private(set) var recordedSteps = 0
    /// Events written so far, metadata included.
    public private(set) var eventCount = 0

    private var buffer: [UInt8] = []
    /// Clock reading that is ts 0.
    private let origin: Int64
    private var recording = false
    private var nodeStart: Int64 = 0
    private var stepStart: Int64 = 0
    private var stepNumber = 0
    private var lastEnd: Int64 = 0
    private var stepOpen = false
    // Precomputed, per node: the slice's bytes up to `"ts":`, its args up to `"step":`, the counter
    // event's bytes up to `"ts":`, the memory events' bytes up to `"ts":`.
    private let sliceHead: [[UInt8]]
    private let sliceArgs: [[UInt8]]
    private let counterHead: [[UInt8]]
    private let memoryHeads: [[[UInt8]]]
    private let endCounterHead: [UInt8]
    private let endMemoryHeads: [[UInt8]]

    /// A recorder of `graph` run with `plan`; `categories[v]` is value `v`'s memory category (Passes'
    /// `MemoryCategory.rawValue`, say), nil to leave it out of the counters. Starts the clock (ts 0).
    public init(_ graph: Graph, plan: MemoryPlan, categories: [String?], maxSteps: Int? = nil) {
        self.graph = graph
        self.plan = plan
        self.maxSteps = maxSteps
        let count = graph.values.count
        let n = graph.nodes.count

        // Storage roots, as the runner binds them.
        var root = Array(0..<count)
        for node in graph.nodes {
            for (k, id) in node.outputs.enumerated() {
                if let j = node.op.aliasedOperand(ofResult: k), j < node.inputs.count {
                    root[id.raw] = root[node.inputs[j].raw]
                }
            }
        }
        var names = Set<String>()
        for v in 0..<min(count, categories.count) { if let c = categories[v] { names.insert(c) } }
        let categoryNames = names.sorted()
        self.categoryNames = categoryNames
        var index: [String: Int] = [:]
        for (i, c) in categoryNames.enumerated() { index[c] = i }
        func category(_ v: Int) -> Int? { v < categories.count ? categories[v].flatMap { index[$0] } : nil }

        // Live bytes per node: a difference array over the schedule for placed values, a constant for
        // the unplaced roots.
        var placed = [Bool](repeating: false, count: count)
        var delta = [[Int]](repeating: [Int](repeating: 0, count: categoryNames.count), count: n + 1)
        for p in plan.placements where p.value.raw >= 0 && p.value.raw < count {
            placed[p.value.raw] = true
            guard let c = category(p.value.raw), p.first >= 0, p.first <= p.last, p.first < n else { continue }
            delta[p.first][c] += p.bytes
            delta[min(p.last + 1, n)][c] -= p.bytes
        }
        var constant = [Int](repeating: 0, count: categoryNames.count)
        for v in 0..<count where root[v] == v && !placed[v] {
            if let c = category(v) { constant[c] += graph.values[v].type.byteCount }
        }
        var live: [[Int]] = []
        live.reserveCapacity(n)
        var running = constant
        for t in 0..<n {
            for c in running.indices { running[c] += delta[t][c] }
            live.append(running)
        }
        liveBytes = live
        liveBytesAtEnd = constant

        // Memory events: at node t, the frees of placements whose last step was t − 1, then the
        // allocations of those whose first step is t; after the last node, the frees of the rest. Sizes
        // rounded to the plan's alignment, as the arena reserves them.
        var allocs = [[Int]](repeating: [], count: n), frees = [[Int]](repeating: [], count: n + 1)
        for (i, p) in plan.placements.enumerated() where p.bytes > 0 && p.first >= 0 && p.first <= p.last && p.first < n
        {
            allocs[p.first].append(i)
            frees[min(p.last + 1, n)].append(i)
        }
        let alignment = max(plan.alignment, 1)
        func rounded(_ b: Int) -> Int { (b + alignment - 1) / alignment * alignment }
        var total = 0, peak = 0
        func memoryHead(_ i: Int, free: Bool) -> [UInt8] {
            let p = plan.placements[i]
            let bytes = free ? -rounded(p.bytes) : rounded(p.bytes)
            total += bytes
            peak = max(peak, total)
            var s = "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":\(Track.memory.rawValue),\"name\":\"[memory]\""
            s += ",\"cat\":\"cpu_instant_event\",\"args\":{\"Bytes\":\(bytes),\"Total Allocated\":\(total)"
            s += ",\"Total Reserved\":\(plan.arenaBytes),\"Addr\":\(p.offset),\"Device Type\":0,\"Device Id\":-1"
            s += ",\"Value\":" + TraceJSON.quote(graph.values[p.value.raw].name)
            if let c = category(p.value.raw) { s += ",\"Category\":" + TraceJSON.quote(categoryNames[c]) }
            s += "},\"ts\":"
            return Array(s.utf8)
        }
        var memoryHeads: [[[UInt8]]] = []
        memoryHeads.reserveCapacity(n)
        for t in 0..<n {
            memoryHeads.append(
                frees[t].map { memoryHead($0, free: true) } + allocs[t].map { memoryHead($0, free: false) })
        }
        self.memoryHeads = memoryHeads
        endMemoryHeads = frees[n].map { memoryHead($0, free: true) }
        peakAllocatedBytes = peak

        func counter(_ bytes: [Int]) -> [UInt8] {
            var s = "{\"ph\":\"C\",\"pid\":1,\"name\":" + TraceJSON.quote(Self.counterName) + ",\"args\":{"
            for (c, name) in categoryNames.enumerated() {
                s += (c > 0 ? "," : "") + TraceJSON.quote(name) + ":\(bytes[c])"
            }
            return Array((s + "},\"ts\":").utf8)
        }
        counterHead = live.map(counter)
        endCounterHead = counter(constant)

        func shapes(_ ids: ValueList) -> String {
            "["
                + ids.map { "[" + graph[$0].type.shape.map(String.init).joined(separator: ",") + "]" }.joined(
                    separator: ",") + "]"
        }
        sliceHead = graph.nodes.map { node in
            Array(
                ("{\"ph\":\"X\",\"pid\":1,\"tid\":\(Track(node.phase).rawValue),\"name\":" + TraceJSON.quote(node.name)
                    + ",\"cat\":" + TraceJSON.quote(node.op.name) + ",\"ts\":").utf8)
        }
        sliceArgs = graph.nodes.enumerated().map { t, node in
            var s = ",\"args\":{\"op\":" + TraceJSON.quote(node.op.name) + ",\"shapes\":" + shapes(node.outputs)
            s +=
                ",\"dtypes\":["
                + node.outputs.map { "\"" + graph[$0].type.dtype.rawValue + "\"" }.joined(separator: ",") + "]"
            s += ",\"bytes\":[" + node.outputs.map { String(graph[$0].type.byteCount) }.joined(separator: ",") + "]"
            s +=
                ",\"input_shapes\":" + shapes(node.inputs)
                + ",\"node\":\(t),\"phase\":\"\(node.phase.rawValue)\",\"step\":"
            return Array(s.utf8)
        }

        origin = TraceClock.nanoseconds()
        buffer.reserveCapacity(1 << 16)
        metadata("process_name", tid: nil, name: "graphc " + graph.name)
        for track in Track.allCases {
            metadata("thread_name", tid: track.rawValue, name: track.name)
            event(
                "{\"ph\":\"M\",\"pid\":1,\"tid\":\(track.rawValue),\"name\":\"thread_sort_index\",\"args\":{\"sort_index\":\(track.rawValue)}}"
            )
        }
    }

    /// `categories[value]` per value; values missing from the dictionary are left out of the counters.
    public convenience init(_ graph: Graph, plan: MemoryPlan, categories: [ValueID: String], maxSteps: Int? = nil) {
        var list = [String?](repeating: nil, count: graph.values.count)
        for (id, c) in categories where id.raw >= 0 && id.raw < list.count { list[id.raw] = c }
        self.init(graph, plan: plan, categories: list, maxSteps: maxSteps)
    }

    public func willRun(node index: Int, step: Int) {
        if index == 0 {
            closeStep()
            recording = maxSteps.map { recordedSteps < $0 } ?? true
            guard recording else { return }
            recordedSteps += 1
            stepNumber = step
            stepOpen = true
            nodeStart = TraceClock.nanoseconds()
            stepStart = nodeStart
            return
        }
        guard recording else { return }
        nodeStart = TraceClock.nanoseconds()
    }

    public func didRun(node index: Int, step: Int) {
        guard recording else { return }
        let end = TraceClock.nanoseconds()
        lastEnd = end
        guard index >= 0, index < sliceHead.count else { return }
        let start = nodeStart
        beginEvent()
        buffer.append(contentsOf: counterHead[index])
        time(start)
        buffer.append(UInt8(ascii: "}"))
        for head in memoryHeads[index] {
            beginEvent()
            buffer.append(contentsOf: head)
            time(start)
            buffer.append(UInt8(ascii: "}"))
        }
        beginEvent()
        buffer.append(contentsOf: sliceHead[index])
        time(start)
        buffer.append(contentsOf: ",\"dur\":".utf8)
        duration(end - start)
        buffer.append(contentsOf: sliceArgs[index])
        buffer.append(contentsOf: String(step).utf8)
        buffer.append(contentsOf: "}}".utf8)
        if index == sliceHead.count - 1 { closeStep() }
    }

    /// The trace so far, a complete JSON document (a step still open ends at its last node's end).
    /// `measurement`, the run's measured memory (`PlannedRunner.measurement`), goes into
    /// `otherData.measured`, so a trace reader sees what the OS reported beside the plan.
    public func json(measurement: MemoryMeasurement? = nil) -> [UInt8] {
        var out = Array("{\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"graphc\",\"graph\":".utf8)
        out += TraceJSON.quote(graph.name).utf8
        out +=
            ",\"ts_unit\":\"us\",\"arena_bytes\":\(plan.arenaBytes),\"lower_bound_bytes\":\(plan.lowerBoundBytes)".utf8
        out += ",\"alignment\":\(plan.alignment),\"steps\":\(recordedSteps)".utf8
        if let m = measurement {
            out += ",\"measured\":{\"arena_high_water_bytes\":\(m.arenaHighWaterBytes)".utf8
            out += ",\"arena_touched_pages\":\(m.arenaTouchedPages),\"page_size\":\(m.pageSize)".utf8
            out += ",\"workspace_bytes\":\(m.workspaceBytes),\"owned_bytes\":\(m.ownedBytes)".utf8
            out += ",\"peak_rss_delta_bytes\":\(m.peakRSSDeltaBytes.map(String.init) ?? "null")".utf8
            out += ",\"steps\":\(m.steps)}".utf8
        }
        out += "},\"traceEvents\":[".utf8
        out += buffer
        if stepOpen { out += stepEvents(first: buffer.isEmpty) }
        out += "\n]}\n".utf8
        return out
    }

    // MARK: writing

    private func closeStep() {
        guard stepOpen else { return }
        buffer += stepEvents(first: buffer.isEmpty)
        eventCount += 2 + endMemoryHeads.count
        stepOpen = false
    }

    /// The end of the step: the frees of what was live to the end, the end counter, the step's slice.
    private func stepEvents(first: Bool) -> [UInt8] {
        var out: [UInt8] = []
        var first = first
        func begin() {
            out += (first ? "\n" : ",\n").utf8
            first = false
        }
        for head in endMemoryHeads {
            begin()
            out += head
            out += Self.microseconds(lastEnd - origin).utf8
            out.append(UInt8(ascii: "}"))
        }
        begin()
        out += endCounterHead
        out += Self.microseconds(lastEnd - origin).utf8
        out.append(UInt8(ascii: "}"))
        begin()
        out +=
            "{\"ph\":\"X\",\"pid\":1,\"tid\":\(Track.steps.rawValue),\"name\":\"step \(stepNumber)\",\"cat\":\"step\",\"ts\":"
            .utf8
        out += Self.microseconds(stepStart - origin).utf8
        out += ",\"dur\":".utf8
        out += Self.microseconds(lastEnd - stepStart).utf8
        out += ",\"args\":{\"step\":\(stepNumber)}}".utf8
        return out
    }

    private func metadata(_ kind: String, tid: Int?, name: String) {
        event(
            "{\"ph\":\"M\",\"pid\":1" + (tid.map { ",\"tid\":\($0)" } ?? "")
                + ",\"name\":\"\(kind)\",\"args\":{\"name\":"
                + TraceJSON.quote(name) + "}}")
    }

    private func event(_ text: String) {
        beginEvent()
        buffer.append(contentsOf: text.utf8)
    }

    @inline(__always)
    private func beginEvent() {
        if !buffer.isEmpty { buffer.append(UInt8(ascii: ",")) }
        buffer.append(UInt8(ascii: "\n"))
        eventCount += 1
    }

    private func time(_ t: Int64) { buffer.append(contentsOf: Self.microseconds(t - origin).utf8) }
    private func duration(_ d: Int64) { buffer.append(contentsOf: Self.microseconds(d).utf8) }

    /// Nanoseconds as microseconds with 3 decimals (`1234567` → `1234.567`); negatives clamp to 0.
    static func microseconds(_ ns: Int64) -> String {
        let ns = max(ns, 0)
        let frac = String(ns % 1000)
        return String(ns / 1000) + "." + String(repeating: "0", count: 3 - frac.count) + frac
    }
}

/// JSON text for traces.
public enum TraceJSON {
    /// `text` as a JSON string literal (GraphIR's one JSON escaper, `String.jsonQuoted`).
    public static func quote(_ text: String) -> String { text.jsonQuoted }
}
