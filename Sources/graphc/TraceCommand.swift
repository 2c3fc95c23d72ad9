import ArgumentParser
import Foundation
import GraphIR
import Traces

/// `graphc trace`: read PyTorch profiler and graphc executor traces (Chrome trace JSON).
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Read a PyTorch profiler or graphc trace: summarise it, draw its memory, compare it with a plan.",
        discussion: """
            FILE is Chrome trace JSON: an object with "traceEvents" or a bare array of events, as PyTorch's \
            profiler (export_chrome_trace, profile_memory=True) and `graphc train --trace` write. The file \
            is streamed, one event at a time, into compact arrays, so traces of hundreds of megabytes read \
            in memory linear in the number of events, well below the file size. \
            docs/trace-analyzer.md defines op slices, self time, phases and the peaks.

            Examples:
              graphc trace summary prof.json --top 20
              graphc trace timeline prof.json -o prof-memory.png
              graphc trace compare prof.json small_resnet --method fft --batch 64
            """,
        subcommands: [TraceSummaryCommand.self, TraceTimelineCommand.self, TraceCompareCommand.self]
    )
}

/// Reads a trace, mapping read errors to the CLI's one-line errors; on a terminal, shows how much of a
/// large file (over 16 MiB) has been read, on stderr.
func readTrace(_ path: String) throws -> Trace {
    let terminal = isatty(2) == 1
    var shown = -1
    var drawn = false
    defer { if drawn { StandardStream.error.write("\r\u{1b}[2K") } }
    do {
        return try Trace.read(path: path) { done, total in
            guard terminal, total > 16 << 20 else { return }
            let percent = total > 0 ? done * 100 / total : 100
            guard percent != shown else { return }
            shown = percent
            drawn = true
            StandardStream.error.write(
                "\r\u{1b}[2Kreading \(path): \(percent)% (\(NumberFormat.bytes(done)) of \(NumberFormat.bytes(total)))")
        }
    } catch let error as TraceReadError {
        throw CLIError(error.description)
    }
}

/// Runs `body` (a summary or timeline of a read trace), reporting a byte sum that overflows as the
/// reader reports bad input: one line naming the file, byte and event.
func traceFigures<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as TraceReadError { throw CLIError(error.description) }
}

/// Microseconds as milliseconds with 3 decimals.
func milliseconds(_ us: Double) -> String { NumberFormat.fixed(us / 1000, decimals: 3) }

struct TraceSummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Per op count, total and self time; time per phase; the memory peak, when, and what runs then.",
        discussion: """
            Op slices are the complete events (ph "X"); spans (PyTorch's profiler span and ProfilerStep#, \
            graphc's step slices) are counted but left out of the op table. Phases come from PyTorch's \
            autograd and optimizer ranges or graphc's forward/backward/optimizer tracks. peak_delta_bytes \
            is the largest running sum of the [memory] events' Bytes from the first event; \
            peak_total_allocated_bytes the largest "Total Allocated". Unknown event kinds are skipped and \
            counted.

            Examples:
              graphc trace summary prof.json
              graphc trace summary prof.json --top 30 --format json
              graphc trace summary run.json -o summary.json --format json
            """
    )

    @Argument(help: "The trace (Chrome trace JSON).")
    var file: String

    @Option(help: "Ops to list, by self time.")
    var top: Int = 15

    @Option(help: "Output format: table or json.")
    var format: SummaryFormat = .table

    @Option(name: .shortAndLong, help: "Write to FILE instead of stdout.")
    var output: String?

    enum SummaryFormat: String, ExpressibleByArgument { case table, json }

    func validate() throws {
        if top < 0 { throw ValidationError("--top must be at least 0, got \(top)") }
    }

    func run() throws {
        try reportingErrors {
            let summary = try traceFigures { try TraceSummary(try readTrace(file)) }
            let text =
                format == .json
                ? Self.json(summary, top: top).rendered() + "\n" : Self.table(summary, top: top)
            try OutputSet.write(text, to: output, inputs: [file])
        }
    }

    static func json(_ s: TraceSummary, top: Int) -> JSON {
        func opt(_ n: Int?) -> JSON { n.map(JSON.int) ?? .null }
        func bytes(_ rows: [(name: String, bytes: Int)]) -> JSON { .object(rows.map { ($0.name, .int($0.bytes)) }) }
        var fields: [(String, JSON)] = [
            ("file", .string(s.file)),
            ("producer", .string(s.producer.rawValue)),
            ("events", .int(s.events)),
            ("op_slices", .int(s.opSlices)),
            ("spans", .int(s.spans)),
            ("memory_events", .int(s.memoryEvents)),
            ("counter_samples", .int(s.counterSamples)),
            ("metadata_events", .int(s.metadataEvents)),
            ("skipped", .object(s.skipped.map { ($0.kind, .int($0.count)) })),
            ("duration_us", .double(s.durationUs)),
            ("steps", .int(s.steps)),
            ("batch", opt(s.batch)),
            ("sample_shape", s.sampleShape.map { .array($0.map(JSON.int)) } ?? .null),
            ("phases_us", .object(s.phases.map { ($0.phase.rawValue, .double($0.us)) })),
            ("peak_delta_bytes", opt(s.peakDeltaBytes)),
            ("peak_total_allocated_bytes", opt(s.peakTotalAllocatedBytes)),
            ("peak_us", s.peakUs.map(JSON.double) ?? .null),
            ("peak_ops", .array(s.peakOps.map(JSON.string))),
            ("peak_categories", bytes(s.peakCategories)),
            ("category_source", s.categorySource.map(JSON.string) ?? .null),
        ]
        if s.plannedPeakBytes != nil {
            fields += [
                ("planned_peak_bytes", opt(s.plannedPeakBytes)),
                ("planned_peak_categories", bytes(s.plannedPeakCategories)),
                ("persistent_bytes", opt(s.persistentBytes)),
                ("persistent_categories", bytes(s.persistentCategories)),
                ("measured_arena_high_water_bytes", opt(s.measuredArenaHighWaterBytes)),
                ("measured_peak_bytes", opt(s.measuredPeakBytes)),
            ]
        }
        fields.append(
            (
                "top_ops",
                .array(
                    s.ops.prefix(top).map {
                        .object([
                            ("name", .string($0.name)), ("count", .int($0.count)), ("total_us", .double($0.totalUs)),
                            ("self_us", .double($0.selfUs)), ("share", .double($0.share)),
                        ])
                    })
            ))
        return .object(fields)
    }

    static func table(_ s: TraceSummary, top: Int) -> String {
        let g = NumberFormat.grouped
        let producer =
            switch s.producer {
            case .pytorch: "PyTorch profiler trace"
            case .graphc: "graphc executor trace"
            case .chrome: "Chrome trace"
            }
        var out = "\(s.file.escapingControlCharacters): \(producer), \(g(s.events)) events: "
        out +=
            "\(g(s.opSlices)) op slices (\(g(s.spans)) span\(s.spans == 1 ? "" : "s")), \(g(s.memoryEvents)) memory events, "
        out += "\(g(s.counterSamples)) counter samples, \(g(s.metadataEvents)) metadata"
        let skipped = s.skipped.reduce(0) { $0 + $1.count }
        if skipped > 0 {
            out +=
                "; skipped \(g(skipped)) (" + s.skipped.map { "\($0.kind) \(g($0.count))" }.joined(separator: ", ")
                + ")"
        }
        out += "\nDuration \(milliseconds(s.durationUs)) ms"
        if s.steps > 0 { out += " · \(s.steps) step\(s.steps == 1 ? "" : "s")" }
        if let b = s.batch { out += " · batch \(b)" + (s.sampleShape.map { " (\(Shape.compact($0)))" } ?? "") }
        out += "\n\n"
        if !s.phases.isEmpty {
            let all = s.phases.reduce(0) { $0 + $1.us }
            var t = TextTable(headers: ["Phase", "Time ms", "Share"], rightAligned: [1, 2])
            for p in s.phases {
                t.rows.append([p.phase.rawValue, milliseconds(p.us), percent(all > 0 ? p.us / all : 0)])
            }
            out +=
                t.render()
                + "Phase time: top-level op slices, by PyTorch's autograd/optimizer ranges or graphc's tracks.\n\n"
        }
        if top > 0, !s.ops.isEmpty {
            var t = TextTable(headers: ["Op", "Count", "Total ms", "Self ms", "Self %"], rightAligned: [1, 2, 3, 4])
            for r in s.ops.prefix(top) {
                t.rows.append([
                    r.name.escapingControlCharacters, g(r.count), milliseconds(r.totalUs), milliseconds(r.selfUs),
                    percent(r.share),
                ])
            }
            out += t.render()
            if s.ops.count > top { out += "(\(s.ops.count - top) more ops; --top N lists more)\n" }
            out += "\n"
        }
        if s.memoryEvents == 0 && s.plannedPeakBytes == nil {
            out += "Memory: the trace has no [memory] events (PyTorch: profile with profile_memory=True).\n"
            return out
        }
        var m = TextTable(headers: ["Memory", "Bytes", ""], rightAligned: [1, 2])
        func row(_ name: String, _ v: Int?) { if let v { m.rows.append([name, g(v), NumberFormat.bytes(v)]) } }
        row("peak_delta_bytes", s.peakDeltaBytes)
        row("peak_total_allocated_bytes", s.peakTotalAllocatedBytes)
        row("planned peak (live bytes counters)", s.plannedPeakBytes)
        row("persistent (counters at a step's end)", s.persistentBytes)
        row("measured arena high-water", s.measuredArenaHighWaterBytes)
        row("measured peak (arena + persistent)", s.measuredPeakBytes)
        out += m.render()
        if let t = s.peakUs {
            out += "Peak at \(milliseconds(t)) ms" + (s.peakOps.isEmpty ? " (outside every op)\n" : ", running:\n")
        }
        for op in s.peakOps { out += "  \(op.escapingControlCharacters)\n" }
        if let source = s.categorySource, !s.peakCategories.isEmpty {
            out += "Live at the peak by \(source):\n"
            for c in s.peakCategories { out += "  \(c.name): \(g(c.bytes)) (\(NumberFormat.bytes(c.bytes)))\n" }
        }
        if !s.plannedPeakCategories.isEmpty {
            out += "Planned peak by category (live bytes counters):\n"
            for c in s.plannedPeakCategories { out += "  \(c.name): \(g(c.bytes))\n" }
        }
        return out
    }
}

func percent(_ x: Double) -> String { NumberFormat.fixed(x * 100, decimals: 1) + "%" }
