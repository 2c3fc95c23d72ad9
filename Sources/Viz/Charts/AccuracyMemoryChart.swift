import GraphIR

/// Accuracy against predicted peak memory, one point per method, one panel per scenario: `graphc study
/// --plot`. Up and to the left is better (more accurate for less memory); each panel's dashed line is
/// the accuracy before fine-tuning, what a method has to beat. Points carry their labels beside them
/// (no legend to look up), moved to the left or a line up or down when they would overlap a label or
/// a point.
public struct AccuracyMemoryChart: Sendable {
    public struct Point: Sendable {
        /// Beside the point (`lora r8`); the accuracy is appended.
        public var label: String
        public var peakBytes: Int
        /// A fraction, 0...1.
        public var accuracy: Double
        public var color: String

        public init(label: String, peakBytes: Int, accuracy: Double, color: String) {
            self.label = label
            self.peakBytes = peakBytes
            self.accuracy = accuracy
            self.color = color
        }
    }

    public struct Panel: Sendable {
        public var title: String
        public var points: [Point]
        /// The accuracy before fine-tuning (the dashed line), if known.
        public var baseline: Double?

        public init(title: String, points: [Point], baseline: Double? = nil) {
            self.title = title
            self.points = points
            self.baseline = baseline
        }
    }

    public var title: String
    public var panels: [Panel]
    public var notes: [String] = []

    public init(title: String, panels: [Panel]) {
        self.title = title
        self.panels = panels
    }

    /// The accuracy axis: from a round 10% below the lowest value shown (0% at least) to 100%.
    public var accuracyRange: (low: Double, high: Double) {
        let values = panels.flatMap { $0.points.map(\.accuracy) + ($0.baseline.map { [$0] } ?? []) }
        let low = ((values.min() ?? 0) - 0.02) * 10
        return (max(0, low.rounded(.down) / 10), 1)
    }

    /// DOT for the `nop` layout engine.
    public func dot() -> String {
        let plotW = 380.0, plotH = 280.0, left = 60.0, bottom = 56.0, labelW = 110.0, gap = 10.0
        let panelW = left + plotW + labelW + gap
        let notesH = 14.0 * Double(notes.count)
        var canvas = PinnedCanvas(
            width: Double(max(panels.count, 1)) * panelW + 10, height: bottom + plotH + 60 + notesH)
        canvas.text(title, x: 10, y: canvas.height - 14, size: 12, bold: true)
        for (i, note) in notes.enumerated() {
            canvas.text(note, x: 10, y: canvas.height - 32 - 14 * Double(i), size: 9, color: "#444444")
        }
        let (low, high) = accuracyRange
        let maxBytes = panels.flatMap { $0.points.map(\.peakBytes) }.max() ?? 1
        // The axis ends at the first tick at or beyond the largest peak.
        var xTicks = niceByteTicks(max: Double(max(maxBytes, 1)))
        if xTicks.count > 1, let last = xTicks.last, last < Double(maxBytes) { xTicks.append(last + xTicks[1]) }
        let xTop = max(xTicks.last ?? 1, Double(maxBytes))
        let yStep = high - low > 0.3 ? 0.1 : high - low > 0.12 ? 0.05 : 0.02
        let yTicks = stride(from: low, through: high + 1e-9, by: yStep).map { $0 }

        for (p, panel) in panels.enumerated() {
            let x0 = 10 + Double(p) * panelW + left
            func px(_ bytes: Double) -> Double { x0 + bytes / xTop * plotW }
            func py(_ a: Double) -> Double { bottom + (a - low) / (high - low) * plotH }
            canvas.text(panel.title, x: x0, y: bottom + plotH + 22, size: 10, bold: true)
            // Grid, ticks and axes.
            for t in yTicks {
                canvas.rect(x: x0, y: py(t), width: plotW, height: 0.6, fill: "#DDDDDD")
                canvas.text(percent(t, 0), x: x0 - 6, y: py(t), size: 9, anchor: "r", color: "#555555")
            }
            for t in xTicks {
                canvas.rect(x: px(t), y: bottom, width: 0.6, height: plotH, fill: "#EEEEEE")
                canvas.text(
                    NumberFormat.compactBytes(Int(t)), x: px(t), y: bottom - 12, size: 9, anchor: "c",
                    color: "#555555")
            }
            canvas.rect(x: x0 - 1, y: bottom, width: 1, height: plotH, fill: "#888888")
            canvas.rect(x: x0, y: bottom - 1, width: plotW, height: 1, fill: "#888888")
            canvas.text("predicted peak memory per step", x: x0 + plotW / 2, y: bottom - 34, size: 10, anchor: "c")
            canvas.text("test accuracy", x: x0 - 6, y: bottom + plotH + 8, size: 9, anchor: "r", color: "#555555")
            // The baseline, dashed.
            if let b = panel.baseline {
                var x = x0
                while x < x0 + plotW {
                    canvas.rect(x: x, y: py(b) - 0.6, width: min(6, x0 + plotW - x), height: 1.2, fill: "#777777")
                    x += 10
                }
                canvas.text(
                    "before fine-tuning \(percent(b, 1))", x: x0 + plotW - 4, y: py(b) + 8, size: 9, anchor: "r",
                    color: "#555555")
            }
            // Points, then their labels, top to bottom: each beside its point, right or left, at its height
            // or a line above or below, wherever it overlaps neither an earlier label nor any point.
            let points = panel.points.sorted { $0.accuracy > $1.accuracy }
            let centres = points.map { (x: px(Double($0.peakBytes)), y: py($0.accuracy)) }
            for (point, c) in zip(points, centres) {
                canvas.circle(
                    x: c.x, y: c.y, diameter: 9, fill: point.color, stroke: "#444444",
                    tooltip:
                        "\(point.label) \(percent(point.accuracy, 1)), \(NumberFormat.compactBytes(point.peakBytes))")
            }
            var taken: [(x0: Double, x1: Double, y0: Double, y1: Double)] = centres.map {
                ($0.x - 5, $0.x + 5, $0.y - 5, $0.y + 5)
            }
            for (point, c) in zip(points, centres) {
                let text = "\(point.label) \(percent(point.accuracy, 1))"
                let width = Double(text.count) * 5.2
                var chosen = (x: c.x + 8, y: c.y, right: true)
                search: for dy in [0.0, -12, 12, -24, 24, -36, 36] {
                    for right in [true, false] {
                        let x0 = right ? c.x + 8 : c.x - 8 - width
                        let box = (x0: x0, x1: x0 + width, y0: c.y + dy - 6, y1: c.y + dy + 6)
                        if !taken.contains(where: {
                            $0.x0 < box.x1 && box.x0 < $0.x1 && $0.y0 < box.y1 && box.y0 < $0.y1
                        }) {
                            chosen = (right ? c.x + 8 : c.x - 8, c.y + dy, right)
                            taken.append(box)
                            break search
                        }
                    }
                }
                canvas.text(text, x: chosen.x, y: chosen.y, size: 9, anchor: chosen.right ? "l" : "r")
            }
        }
        return canvas.dot(name: title)
    }

    private func percent(_ fraction: Double, _ decimals: Int) -> String {
        NumberFormat.fixed(fraction * 100, decimals: decimals) + "%"
    }
}
