import GraphIR

/// A memory timeline: schedule steps along x, bytes stacked by category along y, the peak marked and
/// labelled with the ops running there. Long schedules are bucketed into at most `maxColumns` columns,
/// each showing the step of its bucket with the largest total, so the peak is never averaged away.
public struct TimelineChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var color: String
        /// Bytes per schedule step.
        public var values: [Int]

        public init(name: String, color: String, values: [Int]) {
            self.name = name
            self.color = color
            self.values = values
        }
    }

    public var title: String
    /// Stacked bottom to top.
    public var series: [Series]
    /// Phase labels and the step each starts at (`forward` 0, `backward` 130, ...).
    public var phases: [(name: String, start: Int)] = []
    /// Lines of text beside the peak marker (the ops live there, the breakdown).
    public var peakNotes: [String] = []
    public var maxColumns = 240
    /// The x axis' caption (default: the schedule steps) and the peak's label (default: its step);
    /// a trace's timeline runs over time instead.
    public var xLabel: String?
    public var peakLabel: String?
    /// Phase names closer than this (points) to the previous name drawn are left out (their line stays):
    /// a trace of many steps has a phase boundary every few columns.
    public var minPhaseLabelGap = 0.0
    /// Extra room (points) between the peak's label and the legend, for a legend of one row.
    public var notesPadding = 0.0

    public init(title: String, series: [Series]) {
        self.title = title
        self.series = series
    }

    /// The bytes of step `s` over all series, saturating at Int's bounds: a figure only drawn, so a
    /// hostile trace's 9e18-byte values clip the chart instead of trapping.
    func total(_ s: Int) -> Int {
        series.reduce(0) { sum, x in
            guard s < x.values.count else { return sum }
            let (r, overflow) = sum.addingReportingOverflow(x.values[s])
            return overflow ? (x.values[s] > 0 ? Int.max : Int.min) : r
        }
    }

    /// The step with the largest total and that total.
    public var peak: (step: Int, bytes: Int) {
        let steps = series.map(\.values.count).max() ?? 0
        var best = (step: 0, bytes: 0)
        for s in 0..<steps {
            let total = total(s)
            if total > best.bytes { best = (s, total) }
        }
        return best
    }

    /// DOT for the `nop` layout engine.
    public func dot() -> String {
        let steps = series.map(\.values.count).max() ?? 0
        let plotW = 860.0, plotH = 380.0, left = 80.0, bottom = 60.0
        let legendH = 24.0 * Double((series.count + 3) / 4)
        let notesH = 14.0 * Double(peakNotes.count) + 10 + notesPadding
        var canvas = PinnedCanvas(width: left + plotW + 30, height: bottom + plotH + 40 + legendH + notesH)

        // Columns: each shows the step of its bucket with the largest total.
        let columns = max(1, min(steps, maxColumns))
        var shown: [Int] = []
        for c in 0..<columns {
            let lo = c * steps / columns, hi = max(lo + 1, (c + 1) * steps / columns)
            shown.append((lo..<hi).max { total($0) < total($1) } ?? lo)
        }
        let (peakStep, peakBytes) = peak
        let ticks = niceByteTicks(max: Double(max(peakBytes, 1)))
        let top = max(ticks.last ?? 1, Double(peakBytes))
        let scale = plotH / top, colW = plotW / Double(columns)

        // Grid and y axis.
        for t in ticks {
            let y = bottom + t * scale
            canvas.rect(x: left, y: y, width: plotW, height: 0.6, fill: "#DDDDDD")
            canvas.text(NumberFormat.compactBytes(Int(t)), x: left - 6, y: y, size: 9, anchor: "r", color: "#555555")
        }
        // Stacks.
        for (c, step) in shown.enumerated() {
            var y = bottom
            for s in series {
                let v = step < s.values.count ? s.values[step] : 0
                let h = Double(v) * scale
                canvas.rect(
                    x: left + Double(c) * colW, y: y, width: colW + 0.3, height: h, fill: s.color,
                    tooltip: "step \(step): \(s.name) \(NumberFormat.compactBytes(v))")
                y += h
            }
        }
        // Phases along x.
        var lastLabel = -Double.infinity
        for (i, phase) in phases.enumerated() where steps > 0 {
            let x = left + plotW * Double(phase.start) / Double(steps)
            if i > 0 { canvas.rect(x: x - 0.5, y: bottom - 14, width: 1, height: plotH + 14, fill: "#888888") }
            if x - lastLabel >= minPhaseLabelGap {
                canvas.text(phase.name, x: x + 4, y: bottom - 12, size: 9, color: "#555555")
                lastLabel = x
            }
        }
        canvas.text(
            xLabel ?? "schedule step (0 – \(max(steps - 1, 0)))", x: left + plotW / 2, y: bottom - 34, size: 10,
            anchor: "c")
        // Peak marker.
        if steps > 0 {
            let column = shown.firstIndex(of: peakStep) ?? min(columns - 1, peakStep * columns / steps)
            let x = left + (Double(column) + 0.5) * colW
            canvas.rect(x: x - 0.75, y: bottom, width: 1.5, height: plotH + 8, fill: "#CC3311")
            let anchor: Character = x > left + plotW * 0.6 ? "r" : "l"
            var y = bottom + plotH + 22 + 14 * Double(peakNotes.count)
            canvas.text(
                peakLabel ?? "peak \(NumberFormat.compactBytes(peakBytes)) at step \(peakStep)", x: x, y: y, size: 10,
                anchor: anchor, bold: true, color: "#CC3311")
            for note in peakNotes {
                y -= 14
                canvas.text(note, x: x, y: y, size: 9, anchor: anchor, color: "#333333")
            }
        }
        // Title and legend.
        let legendTop = canvas.height - 18
        canvas.text(title, x: left, y: legendTop, size: 12, bold: true)
        for (i, s) in series.enumerated() {
            let x = left + Double(i % 4) * 215, y = legendTop - 22 - 20 * Double(i / 4)
            canvas.rect(x: x, y: y - 5, width: 12, height: 10, fill: s.color, stroke: "#666666")
            let peakPart = peakStep < s.values.count ? s.values[peakStep] : 0
            canvas.text("\(s.name) (\(NumberFormat.compactBytes(peakPart)) at peak)", x: x + 16, y: y, size: 9)
        }
        return canvas.dot(name: title)
    }
}
