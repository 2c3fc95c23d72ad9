// A trace, read into compact arrays: its op slices, memory events and counter samples, with names
// interned. What counts as what (docs/trace-analyzer.md):
// - an op slice is every complete event (`ph:"X"`); PyTorch's profiler writes its ops (cat `cpu_op`),
//   its `record_function` ranges (cat `user_annotation`: `Optimizer.step#Adam.step`, `ProfilerStep#3`)
//   and one span over the whole profile (cat `Trace`) this way; graphc writes one per executed node and
//   one per training step (cat `step`). Spans (cat `Trace`, `ProfilerStep#…`, graphc's steps) are
//   counted but are not ops: they are left out of the per-op table and the phases.
// - a memory event is an instant event (`ph:"i"` or `"I"`) named `[memory]`, with an integer
//   `args.Bytes` (negative on free) and, where present, `args.Total Allocated`, `args.Addr`,
//   `args.Category` (graphc's).
// - a counter sample is a `ph:"C"` event: one number per arg (graphc's `live bytes` per category).
// - metadata (`ph:"M"`) names processes and threads; graphc's and others' `thread_name`s `forward`,
//   `backward` and `optimizer` give their slices' phase.
// Every other kind (flows `s`/`f`, other instants, `B`/`E`, async, objects…) is skipped and counted.

#if canImport(Glibc)
    import Glibc
#endif

/// The producer of a trace, from its header.
public enum TraceProducer: String, Sendable {
    case pytorch, graphc, chrome
}

/// A training phase, as a trace shows it.
public enum TracePhase: String, Sendable, CaseIterable {
    case forward, backward, optimizer
    /// Top-level work of a trace that marks no phase at all.
    case unattributed
}

public struct TraceSlice: Sendable {
    /// Display name (PyTorch: the op, `aten::conv2d`; graphc: the node, `layer1.0.conv1`).
    public var name: Int32
    /// What the per-op table groups by (PyTorch: the name; graphc: `args.op`, `conv2d`).
    public var op: Int32
    public var track: Int32
    public var ts: Double
    public var dur: Double
    /// graphc: the schedule index (`args.node`) and step; -1 elsewhere.
    public var node: Int32
    public var step: Int32
    public var isSpan: Bool
    /// The slice's own phase mark (PyTorch's ranges, graphc's tracks), nil when it has none.
    public var mark: TracePhase?
    public var end: Double { ts + dur }
}

public struct TraceMemoryEvent: Sendable {
    public var ts: Double
    public var bytes: Int
    /// `Total Allocated` after the call, nil when absent.
    public var total: Int?
    public var addr: Int?
    /// Interned `args.Category`, -1 when absent.
    public var category: Int32
    public var track: Int32
    /// Position among the memory events in the file.
    public var index: Int32
    /// Where the event is in the file (its byte offset and event number), for errors found later.
    public var offset: Int = 0
    public var event: Int = 0
}

public struct TraceCounterSample: Sendable {
    public var name: Int32
    public var ts: Double
    /// (interned arg name, value)
    public var values: [(Int32, Double)]
    /// Where the event is in the file (its byte offset and event number), for errors found later.
    public var offset: Int = 0
    public var event: Int = 0
}

/// A whole trace in compact form.
public struct Trace: Sendable {
    public var file: String
    public var producer: TraceProducer = .chrome
    /// Array elements of `traceEvents`.
    public var events = 0
    public var slices: [TraceSlice] = []
    public var memory: [TraceMemoryEvent] = []
    public var counters: [TraceCounterSample] = []
    public var metadataEvents = 0
    /// Skipped events by `ph` (instants other than `[memory]` count under `i`).
    public var skipped: [String: Int] = [:]
    public var names: [String] = []
    /// Thread names by track.
    public var trackNames: [Int32: String] = [:]
    public var trackCount = 0
    /// Header values (`otherData` and the rest), as read.
    public var header: [(String, JSONValue)] = []
    /// The batch and per-sample shape of the first op slice (by time) whose first operand is 4-D
    /// (PyTorch's `Input Dims`, graphc's `input_shapes`): the input batch of a CNN.
    public var firstImageInput: (ts: Double, op: String, shape: [Int])?

    public func name(_ id: Int32) -> String { id >= 0 && Int(id) < names.count ? names[Int(id)] : "" }

    /// `otherData` of a graphc trace.
    public var otherData: JSONValue? { header.first { $0.0 == "otherData" }?.1 }
}

extension Trace {
    /// Reads the trace at `path` (streaming; see JSONStream).
    /// `progress(bytesRead, fileBytes)` is called after each 1 MiB chunk.
    public static func read(
        path: String, limits: TraceReaderLimits = TraceReaderLimits(), progress: ((Int, Int) -> Void)? = nil
    ) throws -> Trace {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw TraceReadError(
                file: path, offset: 0, event: nil, message: "cannot open: " + String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            throw TraceReadError(file: path, offset: 0, event: nil, message: "is a directory, not a trace file")
        }
        let source = ByteSource(fd: fd, file: path)
        if let progress {
            let size = Int(st.st_size)
            source.progress = { progress($0, size) }
        }
        return try read(source, limits: limits)
    }

    /// Reads a trace from bytes in memory (`file` names it in errors).
    public static func read(bytes: [UInt8], file: String, limits: TraceReaderLimits = TraceReaderLimits()) throws
        -> Trace
    {
        try read(ByteSource(bytes: bytes, file: file), limits: limits)
    }

    static func read(_ source: ByteSource, limits: TraceReaderLimits) throws -> Trace {
        var builder = TraceBuilder(file: source.file)
        var stream = JSONStream(source: source, limits: limits)
        let header = try stream.read { event, index, offset in
            try builder.add(event, index: index, offset: offset)
        }
        return builder.finish(header: header)
    }
}

/// Turns events into the compact arrays, checking the fields each kind needs.
struct TraceBuilder {
    var trace: Trace
    private var ids: [String: Int32] = [:]
    private var tracks: [String: Int32] = [:]
    private var threadNames: [(track: Int32, name: String)] = []

    init(file: String) { trace = Trace(file: file) }

    mutating func intern(_ s: String) -> Int32 {
        if let id = ids[s] { return id }
        let id = Int32(trace.names.count)
        trace.names.append(s)
        ids[s] = id
        return id
    }

    /// pid and tid may be numbers or strings (PyTorch writes `"pid":"Spans"`).
    mutating func track(_ e: JSONValue) -> Int32 {
        func key(_ v: JSONValue?) -> String {
            switch v {
            case let .int(n)?: String(n)
            case let .double(x)?: String(x)
            case let .string(s)?: "\"" + s
            default: ""
            }
        }
        let k = key(e["pid"]) + "/" + key(e["tid"])
        if let t = tracks[k] { return t }
        let t = Int32(tracks.count)
        tracks[k] = t
        return t
    }

    private func fail(_ index: Int, _ offset: Int, _ message: String) -> TraceReadError {
        TraceReadError(file: trace.file, offset: offset, event: index, message: message)
    }

    /// The largest magnitude of a time (`ts`, `dur`, µs): about 3,000 years, so that the end of a slice
    /// and the span between any two times stay finite and exact to well under a microsecond's rounding.
    static let maxTimeUs = 1e17

    /// The largest magnitude of a counter value: what a 64-bit integer holds (the counters are bytes).
    static let maxCounter = 9.2e18

    /// A time field: a finite number within ±`maxTimeUs`.
    private func number(_ e: JSONValue, _ key: String, _ index: Int, _ offset: Int, what: String) throws -> Double {
        guard let v = e[key] else { throw fail(index, offset, "\(what) has no \"\(key)\"") }
        guard let x = v.number else {
            throw fail(index, offset, "\(what)'s \"\(key)\" is \(v.kindName), expected a number")
        }
        guard x.isFinite, abs(x) <= Self.maxTimeUs else {
            throw fail(index, offset, "\(what)'s \"\(key)\" (\(x)) is out of range (at most ±1e17 µs)")
        }
        return x
    }

    /// An integer arg of a [memory] event: within a 64-bit integer's range.
    private func integer(_ v: JSONValue, _ key: String, _ index: Int, _ offset: Int, what: String) throws -> Int {
        if let n = v.integer { return n }
        if let x = v.number, !x.isFinite || abs(x) >= 9.2e18 {
            throw fail(index, offset, "\(what)'s \"args.\(key)\" (\(x)) is out of range (a 64-bit integer)")
        }
        throw fail(index, offset, "\(what)'s \"args.\(key)\" is \(v.kindName), expected an integer")
    }

    mutating func add(_ e: JSONValue, index: Int, offset: Int) throws {
        trace.events += 1
        guard let phValue = e["ph"] else { throw fail(index, offset, "an event without \"ph\" (its kind)") }
        guard let ph = phValue.string else {
            throw fail(index, offset, "the event's \"ph\" is \(phValue.kindName), expected a string")
        }
        func text(_ key: String, _ what: String) throws -> String? {
            guard let v = e[key] else { return nil }
            guard let s = v.string else {
                throw fail(index, offset, "\(what)'s \"\(key)\" is \(v.kindName), expected a string")
            }
            return s
        }
        switch ph {
        case "X":
            let what = "a complete event (ph \"X\")"
            guard let name = try text("name", what) else { throw fail(index, offset, "\(what) has no \"name\"") }
            let cat = try text("cat", what) ?? ""
            let ts = try number(e, "ts", index, offset, what: what)
            let dur = try number(e, "dur", index, offset, what: what)
            guard dur >= 0 else { throw fail(index, offset, "\(what) has a negative \"dur\" (\(dur))") }
            let args = e["args"]
            let argOp = args?["op"]?.string
            let isSpan = cat == "Trace" || cat == "step" || name.hasPrefix("ProfilerStep#")
            var mark: TracePhase? = nil
            if name.hasPrefix("Optimizer.step") || name.hasPrefix("Optimizer.zero_grad") {
                mark = .optimizer
            } else if name.hasPrefix("autograd::engine::evaluate_function") {
                mark = .backward
            } else if let p = args?["phase"]?.string, let phase = TracePhase(rawValue: p) {
                mark = phase
            }
            let track = track(e)
            let slice = TraceSlice(
                name: intern(name), op: argOp.map { intern($0) } ?? intern(name), track: track, ts: ts, dur: dur,
                node: Int32(clamping: args?["node"]?.integer ?? -1),
                step: Int32(clamping: args?["step"]?.integer ?? -1),
                isSpan: isSpan, mark: mark)
            trace.slices.append(slice)
            if !isSpan, let dims = (args?["Input Dims"] ?? args?["input_shapes"])?.array?.first?.array,
                dims.count == 4, trace.firstImageInput.map({ ts < $0.ts }) ?? true
            {
                let shape = dims.compactMap(\.integer)
                if shape.count == 4 { trace.firstImageInput = (ts, argOp ?? name, shape) }
            }
        case "i", "I":
            guard e["name"]?.string == "[memory]" else {
                trace.skipped["i", default: 0] += 1
                return
            }
            let what = "a [memory] event"
            let ts = try number(e, "ts", index, offset, what: what)
            guard let args = e["args"] else { throw fail(index, offset, "\(what) has no \"args\"") }
            guard case .object = args else {
                throw fail(index, offset, "\(what)'s \"args\" is \(args.kindName), expected an object")
            }
            guard let b = args["Bytes"] else { throw fail(index, offset, "\(what) has no \"args.Bytes\"") }
            let bytes = try integer(b, "Bytes", index, offset, what: what)
            let total = try args["Total Allocated"].map {
                try integer($0, "Total Allocated", index, offset, what: what)
            }
            let category = args["Category"]?.string.map { intern($0) } ?? -1
            trace.memory.append(
                TraceMemoryEvent(
                    ts: ts, bytes: bytes, total: total, addr: args["Addr"]?.integer, category: category,
                    track: track(e), index: Int32(trace.memory.count), offset: offset, event: index))
        case "C":
            let what = "a counter event (ph \"C\")"
            let ts = try number(e, "ts", index, offset, what: what)
            let name = try text("name", what) ?? ""
            var values: [(Int32, Double)] = []
            if case let .object(fields)? = e["args"] {
                for (k, v) in fields {
                    guard let x = v.number else {
                        throw fail(index, offset, "\(what)'s \"args.\(k)\" is \(v.kindName), expected a number")
                    }
                    guard x.isFinite, abs(x) < Self.maxCounter else {
                        throw fail(
                            index, offset, "\(what)'s \"args.\(k)\" (\(x)) is out of range (a 64-bit integer)")
                    }
                    values.append((intern(k), x))
                }
            }
            trace.counters.append(
                TraceCounterSample(name: intern(name), ts: ts, values: values, offset: offset, event: index))
        case "M":
            trace.metadataEvents += 1
            if e["name"]?.string == "thread_name", let n = e["args"]?["name"]?.string {
                threadNames.append((track(e), n))
            }
        default:
            trace.skipped[ph, default: 0] += 1
        }
    }

    mutating func finish(header: [(String, JSONValue)]) -> Trace {
        trace.header = header
        trace.trackCount = tracks.count
        for (t, n) in threadNames { trace.trackNames[t] = n }
        if header.contains(where: { $0.0 == "otherData" }),
            header.first(where: { $0.0 == "otherData" })?.1["producer"]?.string == "graphc"
        {
            trace.producer = .graphc
        } else if header.contains(where: { $0.0 == "schemaVersion" || $0.0 == "deviceProperties" })
            || trace.slices.contains(where: { trace.name($0.name).hasPrefix("aten::") })
        {
            trace.producer = .pytorch
        }
        // Tracks named after a phase mark their slices (graphc's forward/backward/optimizer threads).
        for i in trace.slices.indices where trace.slices[i].mark == nil && !trace.slices[i].isSpan {
            if let n = trace.trackNames[trace.slices[i].track], let p = TracePhase(rawValue: n), p != .unattributed {
                trace.slices[i].mark = p
            }
        }
        return trace
    }
}

extension Trace {
    /// Reads any JSON document at `path` as one value (a small file: `graphc analyze --format json`).
    public static func readJSON(path: String, limits: TraceReaderLimits = TraceReaderLimits()) throws -> JSONValue {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw TraceReadError(
                file: path, offset: 0, event: nil, message: "cannot open: " + String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var stream = JSONStream(source: ByteSource(fd: fd, file: path), limits: limits)
        return try stream.document()
    }
}
