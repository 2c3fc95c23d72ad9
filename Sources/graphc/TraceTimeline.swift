import ArgumentParser
import Foundation
import GraphIR
import Traces
import Viz

struct TraceTimelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "Draw a trace's memory over time, stacked by category, the peak marked with the ops running there.",
        discussion: """
            Time runs along x, bytes stack along y, in the visual language of `graphc timeline`. A graphc \
            trace stacks its live-bytes counters by category (persistent storage at the bottom); a PyTorch \
            trace stacks its [memory] events by the phase each block was allocated in (forward, backward, \
            optimizer), matched by address. Each column shows its moment with the largest total, so the \
            peak is never averaged away. The format follows the extension of -o: PNG or SVG rendered \
            in-process by Graphviz, or DOT.

            Examples:
              graphc trace timeline prof.json -o prof-memory.png
              graphc trace timeline run.json -o run-memory.svg --title "small_resnet fft b32"
              graphc trace timeline prof.json -o prof.dot --columns 240
            """
    )

    @Argument(help: "The trace (Chrome trace JSON).")
    var file: String

    @Option(name: .shortAndLong, help: "The picture: FILE.png, FILE.svg or FILE.dot.")
    var output: String

    @Option(help: "Time columns of the chart (the peak's column shows the peak exactly).")
    var columns: Int = 480

    @Option(help: "The chart's title (default: the trace's file name and producer).")
    var title: String?

    func validate() throws {
        if Graphviz.Format(pathExtension: URL(fileURLWithPath: output).pathExtension) == nil {
            throw ValidationError("-o takes a .png, .svg or .dot file, got '\(output)'")
        }
        if columns < 1 || columns > 4000 { throw ValidationError("--columns must be 1 to 4000, got \(columns)") }
    }

    /// Colours by category: graphc's as `graphc timeline` draws them, PyTorch's phases alike.
    static func color(_ category: String, _ k: Int) -> String {
        if let c = Timeline.categories.first(where: { $0.0.rawValue == category }) { return c.2 }
        let phases = [
            "allocated in forward": "#EE8866", "allocated in backward": "#44BB99", "allocated in optimizer": "#AA4499",
            "allocated in unattributed": "#77AADD", "allocated in outside ops": "#FFAABB",
            "allocated before the trace": "#BBBBBB",
        ]
        return phases[category] ?? ["#77AADD", "#EE8866", "#44BB99", "#EEDD88", "#FFAABB", "#99DDFF"][k % 6]
    }

    func run() throws {
        try reportingErrors {
            let trace = try readTrace(file)
            let t = try traceFigures { try TraceTimeline(trace, columns: columns) }
            guard t.peakBytes > 0 else {
                throw CLIError("\(file): the trace has no memory to draw (no [memory] events or live bytes counters)")
            }
            let producer =
                switch trace.producer {
                case .pytorch: "PyTorch profiler"
                case .graphc: "graphc"
                case .chrome: "Chrome trace"
                }
            let name = URL(fileURLWithPath: file).lastPathComponent
            var chart = TimelineChart(
                title: title ?? "\(name) · \(producer) · memory over \(milliseconds(t.durationUs)) ms",
                series: t.categories.enumerated().map { k, c in
                    .init(
                        name: c.replacingOccurrences(of: "_", with: " "), color: Self.color(c, k),
                        values: t.columns.map { $0[k] })
                })
            chart.maxColumns = t.columns.count
            chart.phases = t.phases.map { ($0.name, $0.column) }
            chart.minPhaseLabelGap = 48
            chart.notesPadding = t.categories.count <= 4 ? 16 : 0
            chart.xLabel = "time (ms, 0 – \(milliseconds(t.durationUs)); one column = \(milliseconds(t.columnUs)) ms)"
            chart.peakLabel = "peak \(NumberFormat.compactBytes(t.peakBytes)) at \(milliseconds(t.peakUs)) ms"
            chart.peakNotes = t.peakOps.prefix(2).map { "running: " + Self.shortened($0) }
            let format = Graphviz.Format(pathExtension: URL(fileURLWithPath: output).pathExtension) ?? .png
            let dot = chart.dot()
            let outputs = OutputSet(inputs: [file])
            try outputs.stage(
                output, format == .dot ? Array(dot.utf8) : try Graphviz.render(dot: dot, format: format, layout: "nop"))
            try outputs.commit()
            printOut("\(output): peak \(NumberFormat.bytes(t.peakBytes)) at \(milliseconds(t.peakUs)) ms (\(t.source))")
        }
    }

    /// A long op stack kept readable: its first and last two frames.
    static func shortened(_ chain: String) -> String {
        let parts = chain.components(separatedBy: " › ")
        guard parts.count > 4 else { return chain }
        return ([parts[0], "…"] + parts.suffix(2)).joined(separator: " › ")
    }
}
