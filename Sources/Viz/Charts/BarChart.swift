/// Horizontal bar charts side by side, one panel per metric, one bar per configuration in the same
/// order in every panel, so a person compares methods at a glance: `graphc compare --plot`.
public struct BarChart: Sendable {
    public struct Bar: Sendable {
        public var value: Double
        /// Printed after the bar (`292.5 k (−97.4%)`).
        public var text: String
        public var color: String

        public init(value: Double, text: String, color: String) {
            self.value = value
            self.text = text
            self.color = color
        }
    }

    public struct Panel: Sendable {
        public var title: String
        public var bars: [Bar]

        public init(title: String, bars: [Bar]) {
            self.title = title
            self.bars = bars
        }
    }

    public var title: String
    /// One label per bar row (`resnet18 lora r8`).
    public var rows: [String]
    public var panels: [Panel]
    public var notes: [String] = []

    public init(title: String, rows: [String], panels: [Panel]) {
        self.title = title
        self.rows = rows
        self.panels = panels
    }

    /// DOT for the `nop` layout engine.
    public func dot() -> String {
        let rowH = 18.0, gap = 6.0, panelW = 250.0, textW = 110.0
        let labelW = 8.0 + 6.0 * Double(rows.map(\.count).max() ?? 10)
        let plotH = Double(rows.count) * (rowH + gap)
        let width = labelW + Double(panels.count) * (panelW + textW + 20) + 20
        let notesH = 14.0 * Double(notes.count)
        var canvas = PinnedCanvas(width: width, height: plotH + 70 + notesH)
        let top = plotH + 20
        canvas.text(title, x: 10, y: canvas.height - 14, size: 12, bold: true)
        for (i, note) in notes.enumerated() {
            canvas.text(note, x: 10, y: canvas.height - 32 - 14 * Double(i), size: 9, color: "#444444")
        }
        for (r, label) in rows.enumerated() {
            canvas.text(label, x: labelW, y: top - Double(r) * (rowH + gap) - rowH / 2, size: 10, anchor: "r")
        }
        for (p, panel) in panels.enumerated() {
            let x0 = labelW + 10 + Double(p) * (panelW + textW + 20)
            canvas.text(panel.title, x: x0, y: top + 14, size: 10, bold: true)
            let maxValue = panel.bars.map(\.value).max() ?? 1
            canvas.rect(x: x0 - 1, y: top - plotH, width: 1, height: plotH, fill: "#888888")
            for (r, bar) in panel.bars.enumerated() {
                let y = top - Double(r) * (rowH + gap) - rowH
                let w = maxValue > 0 ? max(0, bar.value / maxValue * panelW) : 0
                canvas.rect(x: x0, y: y, width: w, height: rowH, fill: bar.color, tooltip: bar.text)
                canvas.text(bar.text, x: x0 + w + 4, y: y + rowH / 2, size: 9)
            }
        }
        return canvas.dot(name: title)
    }
}
