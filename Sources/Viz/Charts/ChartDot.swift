// Charts drawn as Graphviz graphs with pinned nodes: every bar, label and tick is a node at a fixed
// position (points, origin bottom-left), laid out by the `nop` engine, which keeps positions as given.
// So a chart renders in-process through libgvc like every other graphc picture, to PNG or SVG.

import GraphIR

/// Accumulates pinned DOT nodes. Coordinates are points (1/72 inch), y grows upward.
struct PinnedCanvas {
    private var lines: [String] = []
    private var count = 0
    var width: Double
    var height: Double

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// A filled rectangle with its lower-left corner at (x, y).
    mutating func rect(
        x: Double, y: Double, width w: Double, height h: Double, fill: String,
        stroke: String? = nil, tooltip: String? = nil
    ) {
        guard w > 0.01, h > 0.01 else { return }
        var attrs = "shape=box, style=filled, fixedsize=true, label=\"\", fillcolor=\"\(fill)\", "
        attrs += stroke.map { "color=\"\($0)\", penwidth=0.5" } ?? "penwidth=0"
        if let tooltip { attrs += ", tooltip=\(DotExport.quoted(tooltip))" }
        add(attrs, x: x + w / 2, y: y + h / 2, w: w, h: h)
    }

    /// A filled circle of `diameter` centred on (x, y).
    mutating func circle(x: Double, y: Double, diameter d: Double, fill: String, stroke: String, tooltip: String? = nil)
    {
        var attrs = "shape=circle, style=filled, fixedsize=true, label=\"\", fillcolor=\"\(fill)\", "
        attrs += "color=\"\(stroke)\", penwidth=0.8"
        if let tooltip { attrs += ", tooltip=\(DotExport.quoted(tooltip))" }
        add(attrs, x: x, y: y, w: d, h: d)
    }

    /// Text anchored at (x, y): `anchor` is "l" (starts there), "r" (ends there) or "c". The node is
    /// wider than the text and its line is justified with DOT's `\l` / `\r`, so the anchor holds whatever
    /// the font's real widths are.
    mutating func text(
        _ s: String, x: Double, y: Double, size: Double = 10, anchor: Character = "l",
        bold: Bool = false, color: String = "#222222"
    ) {
        let w = max(1, Double(s.count) * size * 0.7), h = size * 1.4
        let cx = anchor == "l" ? x + w / 2 : anchor == "r" ? x - w / 2 : x
        var label = String(DotExport.quoted(s).dropLast())
        label += anchor == "l" ? "\\l\"" : anchor == "r" ? "\\r\"" : "\""
        add(
            "shape=plaintext, fixedsize=true, fontsize=\(fmt(size)), fontcolor=\"\(color)\", "
                + "fontname=\"\(bold ? "Helvetica-Bold" : "Helvetica")\", label=\(label)", x: cx, y: y, w: w, h: h)
    }

    private mutating func add(_ attrs: String, x: Double, y: Double, w: Double, h: Double) {
        lines.append(
            "  c\(count) [\(attrs), pos=\"\(fmt(x)),\(fmt(y))!\", width=\(fmt(w / 72)), height=\(fmt(h / 72))];")
        count += 1
    }

    /// The DOT text; render it with the `nop` layout.
    func dot(name: String) -> String {
        var out = "digraph \(DotExport.quoted(name)) {\n"
        out += "  graph [bb=\"0,0,\(fmt(width)),\(fmt(height))\", bgcolor=white, pad=0.1, fontname=Helvetica];\n"
        out += "  node [fontname=Helvetica, margin=0];\n"
        out += lines.joined(separator: "\n")
        return out + "\n}\n"
    }

    func fmt(_ x: Double) -> String { NumberFormat.trimmed(x) }
}

/// Round axis ticks: 1, 2 or 5 times a power of ten, about `count` of them up to `max`.
func niceTicks(max: Double, count: Int = 5) -> [Double] {
    guard max > 0 else { return [0] }
    let raw = max / Double(count)
    var step = 1.0
    while step * 10 <= raw { step *= 10 }
    while step > raw { step /= 10 }
    for m in [1.0, 2.0, 5.0, 10.0] where step * m >= raw {
        step *= m
        break
    }
    return stride(from: 0, through: max * 1.0001, by: step).map { $0 }
}

/// Ticks at round numbers of the unit the maximum is best read in (B, KiB, MiB or GiB).
func niceByteTicks(max: Double, count: Int = 5) -> [Double] {
    let unit = [1_073_741_824.0, 1_048_576.0, 1024.0].first { max >= $0 } ?? 1
    return niceTicks(max: max / unit, count: count).map { $0 * unit }
}
