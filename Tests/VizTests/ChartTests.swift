import Foundation
import GraphIR
import Passes
import Testing
import Viz

/// Charts are pinned-node DOT: deterministic, one node per bar segment, the peak found and marked.
@Suite struct ChartTests {
    static func timeline(steps: Int) -> TimelineChart {
        var chart = TimelineChart(
            title: "test timeline",
            series: [
                .init(name: "parameters", color: "#77AADD", values: Array(repeating: 1000, count: steps)),
                .init(
                    name: "activations", color: "#EE8866",
                    values: (0..<steps).map { $0 < steps / 2 ? $0 * 100 : (steps - $0) * 100 }),
            ])
        chart.phases = [("forward", 0), ("backward", steps / 2)]
        chart.peakNotes = ["layer4.conv2", "activations 50%"]
        return chart
    }

    @Test func peakIsTheLargestTotal() {
        let chart = Self.timeline(steps: 100)
        #expect(chart.peak.step == 50)
        #expect(chart.peak.bytes == 1000 + 5000)
    }

    @Test func longSchedulesAreBucketedWithoutLosingThePeak() {
        let chart = Self.timeline(steps: 10_001)
        let dot = chart.dot()
        // At most maxColumns columns, two series each, plus grid, labels and legend.
        let rects = dot.split(separator: "\n").filter { $0.contains("shape=box") }.count
        #expect(rects < 2 * chart.maxColumns + 40)
        #expect(dot.contains("peak \(NumberFormat.compactBytes(chart.peak.bytes)) at step \(chart.peak.step)"))
    }

    /// The DOT text byte for byte (positions, number formats, escaping), against golden files.
    @Test func timelineGolden() throws {
        try expectGolden(Self.timeline(steps: 500).dot(), "chart_timeline")
    }

    @Test func barChartGolden() throws {
        try expectGolden(Self.bars.dot(), "chart_bars")
    }

    static let bars = BarChart(
        title: "compare \"quoted\" & <b>", rows: ["fft", "lora r8", "dora r8"],
        panels: [
            .init(
                title: "trainable params",
                bars: [
                    .init(value: 11_689_512, text: NumberFormat.compactCount(11_689_512), color: "#77AADD"),
                    .init(value: 800_384, text: "800.38 k (−93.2%)", color: "#EE8866"),
                    .init(value: 805_184, text: "805.18 k (−93.1%)", color: "#EEDD88"),
                ]),
            .init(
                title: "peak memory",
                bars: [
                    .init(value: 205_000_000, text: NumberFormat.compactBytes(205_000_000), color: "#77AADD"),
                    .init(value: 80_020_332, text: "76.3 MiB (−61.0%)", color: "#EE8866"),
                    .init(value: 186_900_000, text: "178.2 MiB (−8.9%)", color: "#EEDD88"),
                ]),
        ])

    @Test func barChartHasOneBarPerRowAndPanel() {
        let chart = BarChart(
            title: "compare", rows: ["fft", "lora r8", "dora r8"],
            panels: [
                .init(
                    title: "trainable params",
                    bars: [
                        .init(value: 100, text: "100", color: "#77AADD"),
                        .init(value: 3, text: "3 (−97%)", color: "#EE8866"),
                        .init(value: 4, text: "4 (−96%)", color: "#EE8866"),
                    ]),
                .init(
                    title: "peak memory",
                    bars: [
                        .init(value: 50, text: "50", color: "#77AADD"),
                        .init(value: 20, text: "20 (−60%)", color: "#EE8866"),
                        .init(value: 30, text: "30 (−40%)", color: "#EE8866"),
                    ]),
            ])
        let dot = chart.dot()
        #expect(dot.components(separatedBy: "tooltip=").count - 1 == 6)
        for text in ["lora r8", "3 (−97%)", "30 (−40%)", "peak memory"] { #expect(dot.contains(text)) }
        if let dir = ProcessInfo.processInfo.environment["GRAPHC_RENDER_DIR"] {
            try? dot.write(toFile: dir + "/bars.dot", atomically: true, encoding: .utf8)
            try? Self.timeline(steps: 300).dot().write(toFile: dir + "/timeline.dot", atomically: true, encoding: .utf8)
        }
    }

    static let accuracyMemory: AccuracyMemoryChart = {
        var chart = AccuracyMemoryChart(
            title: "study \"quoted\" & <b>",
            panels: [
                .init(
                    title: "unseen-classes 5-9",
                    points: [
                        .init(label: "fft", peakBytes: 34_997_220, accuracy: 0.9556, color: "#77AADD"),
                        .init(label: "head", peakBytes: 10_500_000, accuracy: 0.9012, color: "#44BB99"),
                        .init(label: "lora r8", peakBytes: 43_180_484, accuracy: 0.9350, color: "#EE8866"),
                        // Beside lora's label: pushed below it.
                        .init(label: "dora r8", peakBytes: 44_000_000, accuracy: 0.9340, color: "#EEDD88"),
                    ], baseline: 0.1234),
                .init(
                    title: "shift=invert",
                    points: [.init(label: "fft", peakBytes: 34_997_220, accuracy: 0.8, color: "#77AADD")],
                    baseline: nil),
            ])
        chart.notes = ["pretrained 2 epochs on classes 0-4"]
        return chart
    }()

    @Test func accuracyMemoryChartGolden() throws {
        try expectGolden(Self.accuracyMemory.dot(), "chart_accuracy_memory")
    }

    /// One circle per point, each labelled with its accuracy; the axis covers the largest peak; labels
    /// that would overlap are moved apart.
    @Test func accuracyMemoryChartPlacesEveryPoint() throws {
        let dot = Self.accuracyMemory.dot()
        #expect(dot.components(separatedBy: "shape=circle").count - 1 == 5)
        for text in ["fft 95.6%", "head 90.1%", "lora r8 93.5%", "dora r8 93.4%", "before fine-tuning 12.3%", "50 MiB"]
        {
            #expect(dot.contains(text), "\(text)")
        }
        #expect(Self.accuracyMemory.accuracyRange.low == 0.1)
        // lora's and dora's labels, at nearly one point, are a line apart or on opposite sides.
        func label(_ text: String) throws -> (y: Double, right: Bool) {
            let line = try #require(dot.split(separator: "\n").first { $0.contains("label=\"\(text)") })
            let pos = try #require(line.firstMatch(of: #/pos="[0-9.]+,([0-9.]+)!"/#))
            return (try #require(Double(String(pos.1))), line.contains("\\r\""))
        }
        let lora = try label("lora r8 93.5%"), dora = try label("dora r8 93.4%")
        #expect(abs(lora.y - dora.y) >= 12 || lora.right != dora.right, "\(lora) \(dora)")
        if let dir = ProcessInfo.processInfo.environment["GRAPHC_RENDER_DIR"] {
            let png = try Graphviz.render(dot: dot, format: .png, layout: "nop")
            try Data(png).write(to: URL(fileURLWithPath: dir + "/accuracy_memory.png"))
        }
    }
}
