// Graphviz runs in-process, so graphc must never hand it a graph it cannot survive: the largest graph
// allowed is laid out for real, one node more is refused before layout.
import Testing
import Viz

@Suite(.serialized) struct GraphvizLimitTests {
    /// A chain of `nodes` boxes, each with a shape label on its edge, as DotExport draws a long model.
    static func chain(_ nodes: Int) -> String {
        var text = "digraph chain {\n  node [shape=box];\n"
        for i in 0..<nodes - 1 { text += "  n\(i) -> n\(i + 1) [label=\"1x16x28x28\"];\n" }
        return text + "}\n"
    }

    @Test func drawsTheLargestAllowedGraph() throws {
        let svg = try Graphviz.render(dot: Self.chain(Graphviz.maxNodes), format: .svg)
        let text = String(decoding: svg, as: UTF8.self)
        #expect(text.contains("</svg>"))
        #expect(text.components(separatedBy: "class=\"node\"").count - 1 == Graphviz.maxNodes)
    }

    @Test func refusesOneNodeMoreBeforeLayout() throws {
        #expect(Graphviz.size(dot: Self.chain(Graphviz.maxNodes + 1))! == (Graphviz.maxNodes + 1, Graphviz.maxNodes))
        let error = #expect(throws: GraphvizError.self) {
            try Graphviz.render(dot: Self.chain(Graphviz.maxNodes + 1), format: .png)
        }
        #expect(error?.kind == .tooLarge)
        #expect(error?.message.contains("4,001 nodes") == true)
    }

    @Test func refusesTooManyEdges() throws {
        var text = "digraph dense {\n"
        for i in 0..<Graphviz.maxEdges + 1 { text += "  a\(i % 100) -> b\(i / 100);\n" }
        let error = #expect(throws: GraphvizError.self) { try Graphviz.render(dot: text + "}\n", format: .svg) }
        #expect(error?.kind == .tooLarge)
    }
}
