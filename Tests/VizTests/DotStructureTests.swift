// Structural tests of DotExport: the drawing has each node once, every data edge, clusters nested
// as the scopes are, a legend listing exactly the roles drawn, and parameter nodes only on request.
// They read the DOT text back with a small line parser that knows DotExport's layout.
import Foundation
import GraphIR
import GraphTestSupport
import Testing

@testable import Passes
@testable import Viz

/// What a DotExport text declares, read back line by line.
struct ParsedDot {
    struct Cluster { var label = "", scope = "", parent: String?, members: [String] = [] }
    /// Declared node ids in order, and each one's attribute text.
    var nodeOrder: [String] = []
    var nodes: [String: String] = [:]
    var edges: [(from: String, to: String, label: String?)] = []
    var clusters: [String: Cluster] = [:]
    var legend: [String] = []

    init(_ text: String) {
        var stack: [String] = []
        for raw in text.split(separator: "\n") {
            let line = raw.drop { $0 == " " }
            if let m = line.wholeMatch(of: /subgraph (cluster_\d+) \{/) {
                clusters[String(m.1)] = Cluster(parent: stack.last)
                stack.append(String(m.1))
            } else if line == "}", !stack.isEmpty {
                stack.removeLast()
            } else if let id = stack.last, let m = line.firstMatch(of: /^label="([^"]*)"; tooltip="([^"]*)"/) {
                clusters[id]!.label = String(m.1)
                clusters[id]!.scope = String(m.2)
            } else if let id = stack.last, line.wholeMatch(of: /([a-z]\d+; ?)+/) != nil {
                clusters[id]!.members += line.split(separator: " ").map { String($0.dropLast()) }
            } else if let m = line.wholeMatch(of: /([a-z]\d+) -> ([a-z]\d+)( \[.*\])?;/) {
                let label = m.3.flatMap { $0.firstMatch(of: /label="([^"]*)"/) }.map { String($0.1) }
                edges.append((String(m.1), String(m.2), label))
            } else if let m = line.wholeMatch(of: /([a-z]\d+) \[(.*)\];/) {
                nodeOrder.append(String(m.1))
                nodes[String(m.1)] = String(m.2)
            } else if let m = line.firstMatch(of: /<td align="left">(.*)<\/td><\/tr>/) {
                legend.append(String(m.1).replacingOccurrences(of: "&amp;", with: "&"))
            }
        }
    }

    func fillColor(_ id: String) -> String? {
        nodes[id]?.firstMatch(of: /fillcolor="(#[0-9A-F]{6})"/).map { String($0.1) }
    }

    /// The cluster whose scope is `scope`.
    func cluster(scope: String) -> (id: String, cluster: Cluster)? {
        clusters.first { $0.value.scope == scope }.map { ($0.key, $0.value) }
    }

    /// The cluster that lists `id` directly.
    func home(of id: String) -> String? { clusters.first { $0.value.members.contains(id) }?.key }
}

let dotGraphs: [(String, @Sendable () throws -> Graph)] = [
    ("residual", DotBuilders.residualNet),
    ("separable", DotBuilders.separableNet),
    ("resnet50", { try DotBuilders.bottleneckResNet() }),
]

@Suite struct DotStructureTests {
    @Test(arguments: dotGraphs.map(\.0))
    func everyNodeAppearsOnceInOrder(name: String) throws {
        let graph = try dotGraphs.first { $0.0 == name }!.1()
        let dot = ParsedDot(DotExport.dot(graph))
        let expected =
            graph.inputs.indices.map { "i\($0)" } + graph.nodes.indices.map { "n\($0)" }
            + graph.outputs.indices.map { "o\($0)" }
        #expect(dot.nodeOrder == expected)
        for (i, node) in graph.nodes.enumerated() {
            #expect(dot.nodes["n\(i)"]?.contains("tooltip=\"\(node.name): \(node.op.name)\"") == true)
        }
    }

    @Test(arguments: dotGraphs.map(\.0))
    func everyDataEdgeIsPresentWithItsShape(name: String) throws {
        let graph = try dotGraphs.first { $0.0 == name }!.1()
        let dot = ParsedDot(DotExport.dot(graph))
        var expected: [String] = []
        func source(_ id: ValueID) -> String? {
            switch graph[id].kind {
            case .input: graph.inputs.firstIndex(of: id).map { "i\($0)" }
            case .parameter: nil
            case let .result(node, _): "n\(node)"
            }
        }
        for (i, node) in graph.nodes.enumerated() {
            var seen = Set<ValueID>()
            for id in node.inputs where seen.insert(id).inserted {
                if let from = source(id) { expected.append("\(from)->n\(i) \(Shape.compact(graph[id].type.shape))") }
            }
        }
        for (k, id) in graph.outputs.enumerated() {
            expected.append("\(source(id)!)->o\(k) \(Shape.compact(graph[id].type.shape))")
        }
        let actual = dot.edges.map { "\($0.from)->\($0.to) \($0.label ?? "-")" }
            .map { $0.replacingOccurrences(of: "i64 ", with: "") }
        #expect(actual.sorted() == expected.sorted())
    }

    @Test func edgeLabelsCanBeOff() throws {
        let dot = ParsedDot(DotExport.dot(try DotBuilders.residualNet(), options: .init(edgeLabels: false)))
        #expect(!dot.edges.isEmpty)
        #expect(dot.edges.allSatisfy { $0.label == nil })
    }

    @Test func clustersNestByLongestScopePrefix() throws {
        let graph = try DotBuilders.separableNet()
        let dot = ParsedDot(DotExport.dot(graph))
        let scopes = Set(graph.nodes.map(\.scope).filter { !$0.isEmpty })
        #expect(Set(dot.clusters.values.map(\.scope)) == scopes)
        let features1 = try #require(dot.cluster(scope: "features.1"))
        #expect(features1.cluster.parent == nil)
        for child in ["block.0", "block.1", "block.2"] {
            let c = try #require(dot.cluster(scope: "features.1.\(child)"))
            #expect(c.cluster.parent == features1.id)
            #expect(c.cluster.label == child)
        }
        #expect(dot.cluster(scope: "features.0")?.cluster.parent == nil)
        // Each node sits directly in the cluster of its own scope; top-level nodes in none.
        for (i, node) in graph.nodes.enumerated() {
            #expect(dot.home(of: "n\(i)") == (node.scope.isEmpty ? nil : dot.cluster(scope: node.scope)?.id))
        }
    }

    @Test func nestedScopeInResidualNet() throws {
        let dot = ParsedDot(DotExport.dot(try DotBuilders.residualNet()))
        let block = try #require(dot.cluster(scope: "layer2.0"))
        let downsample = try #require(dot.cluster(scope: "layer2.0.downsample"))
        #expect(downsample.cluster.parent == block.id)
        #expect(downsample.cluster.label == "downsample")
        #expect(dot.nodes["n16"]?.contains("<b>downsample.0</b>") == true)
    }

    @Test func clustersCanBeOff() throws {
        let dot = ParsedDot(DotExport.dot(try DotBuilders.separableNet(), options: .init(clusters: false)))
        #expect(dot.clusters.isEmpty)
    }

    @Test(arguments: [
        (
            "residual", DotOptions(),
            [
                DotRole.input, .conv, .norm, .activation, .pooling, .elementwise, .shape,
                .head, .output,
            ]
        ),
        (
            "residual", DotOptions(foldParameters: false),
            [.input, .conv, .norm, .activation, .pooling, .elementwise, .shape, .head, .parameter, .output]
        ),
        (
            "residual", DotOptions(collapseDepth: 0),
            [.input, .conv, .norm, .activation, .pooling, .shape, .head, .block, .output]
        ),
        (
            "separable", DotOptions(),
            [
                .input, .conv, .depthwise, .norm, .activation, .pooling, .elementwise, .shape,
                .linear, .head, .dropout, .loss, .output,
            ]
        ),
    ])
    func legendListsExactlyTheRolesDrawn(name: String, options: DotOptions, roles: [DotRole]) throws {
        let graph = try dotGraphs.first { $0.0 == name }!.1()
        let dot = ParsedDot(DotExport.dot(graph, options: options))
        #expect(DotExport.roles(graph, options: options) == roles)
        #expect(dot.legend == roles.map(\.title))
        // Colours are unique per role, so the colours drawn name the roles drawn.
        let drawn = Set(dot.nodeOrder.compactMap(dot.fillColor))
        #expect(drawn == Set(roles.map(\.fillColor)))
    }

    @Test func paletteColoursAreUniquePerRole() {
        #expect(Set(DotRole.allCases.map(\.fillColor)).count == DotRole.allCases.count)
    }

    @Test func legendCanBeOff() throws {
        let text = DotExport.dot(try DotBuilders.residualNet(), options: .init(legend: false))
        #expect(!text.contains("legend"))
    }

    @Test(arguments: dotGraphs.map(\.0))
    func parametersAreNodesOnlyWhenUnfolded(name: String) throws {
        let graph = try dotGraphs.first { $0.0 == name }!.1()
        let folded = ParsedDot(DotExport.dot(graph))
        #expect(!folded.nodeOrder.contains { $0.hasPrefix("p") })
        #expect(folded.nodes.values.contains { $0.contains("params ") })

        let unfolded = ParsedDot(DotExport.dot(graph, options: .init(foldParameters: false)))
        #expect(unfolded.nodeOrder.filter { $0.hasPrefix("p") } == graph.parameters.indices.map { "p\($0)" })
        #expect(!unfolded.nodes.values.contains { $0.contains("params ") })
        // One edge from each parameter to each node reading it.
        var expected: [String] = []
        for (i, node) in graph.nodes.enumerated() {
            for id in node.inputs { if let p = graph.parameters.firstIndex(of: id) { expected.append("p\(p)->n\(i)") } }
        }
        let actual = unfolded.edges.filter { $0.from.hasPrefix("p") }.map { "\($0.from)->\($0.to)" }
        #expect(actual.sorted() == expected.sorted())
        // A parameter sits in its consumer's cluster.
        for (from, to) in unfolded.edges.filter({ $0.from.hasPrefix("p") }).map({ ($0.from, $0.to) }) {
            #expect(unfolded.home(of: from) == unfolded.home(of: to))
        }
    }

    @Test func collapseDepthZeroGivesOneNodePerTopLevelBlock() throws {
        let graph = try DotBuilders.bottleneckResNet()
        let dot = ParsedDot(DotExport.dot(graph, options: .init(collapseDepth: 0)))
        let blocks = dot.nodeOrder.filter { $0.hasPrefix("b") }
        #expect(blocks.count == 16)
        #expect(dot.clusters.isEmpty)
        let topLevel = graph.nodes.indices.filter { graph.nodes[$0].scope.isEmpty }.map { "n\($0)" }
        #expect(dot.nodeOrder.filter { $0.hasPrefix("n") } == topLevel)
        // The blocks form a chain: maxpool → b0 → … → b15 → avgpool; no edge loops on a block.
        #expect(dot.edges.allSatisfy { $0.from != $0.to })
        let chain = dot.edges.filter { $0.from.hasPrefix("b") || $0.to.hasPrefix("b") }.map { "\($0.from)->\($0.to)" }
        #expect(chain.count == 17)
        #expect(dot.nodes["b0"]?.contains("12 ops: conv×4 bn×4 relu×3 add") == true)
        #expect(dot.nodes["b0"]?.contains("params 75,008") == true)
    }

    @Test func collapseDepthOneKeepsTopLevelClusters() throws {
        let graph = try DotBuilders.separableNet()
        let dot = ParsedDot(DotExport.dot(graph, options: .init(collapseDepth: 1)))
        let features1 = try #require(dot.cluster(scope: "features.1"))
        #expect(dot.clusters.count == 3)
        // block.0/1/2 are summaries inside features.1, beside its own add.
        let summaries = dot.nodeOrder.filter { $0.hasPrefix("b") }
        #expect(summaries.count == 3)
        for b in summaries { #expect(dot.home(of: b) == features1.id) }
        #expect(dot.nodes[summaries[1]]?.contains("<b>block.1</b>") == true)
        #expect(dot.nodes[summaries[1]]?.contains("6 ops: gap conv×2 relu hardsigmoid<br/>mul") == true)
    }

    @Test func labelsShowKeyAttributes() throws {
        let residual = try DotBuilders.residualNet(), separable = try DotBuilders.separableNet()
        func label(_ graph: Graph, _ name: String) -> String {
            DotExport.opText(graph.nodes.first { $0.name == name }!, in: graph)
        }
        #expect(label(residual, "layer2.0.conv1") == "conv2d 3x3 /2 16→32")
        #expect(label(residual, "layer2.0.downsample.0") == "conv2d 1x1 /2 16→32")
        #expect(label(residual, "maxpool") == "maxpool 3x3 /2")
        #expect(label(residual, "fc") == "linear 32→10")
        #expect(label(separable, "features.1.block.0.0") == "dw 3x3 16")
        #expect(label(separable, "features.2.0") == "conv2d 1x1 g4 16→32")
        #expect(label(separable, "features.1.block.1.mul") == "mul (broadcast)")
        #expect(label(separable, "features.1.add") == "add")
        #expect(label(separable, "classifier.2") == "dropout 0.2")
        let text = DotExport.dot(separable)
        #expect(text.contains("params 432 frozen"))
        #expect(text.contains("params 2,442 (1,042 trainable)"))
    }

    @Test func headIsTheLinearFeedingTheOutput() throws {
        let separable = try DotBuilders.separableNet()
        let index = { (name: String) in separable.nodes.firstIndex { $0.name == name }! }
        #expect(DotExport.role(ofNode: index("classifier.0"), in: separable) == .linear)
        #expect(DotExport.role(ofNode: index("classifier.3"), in: separable) == .head)
        #expect(DotExport.role(ofNode: index("features.1.block.0.0"), in: separable) == .depthwise)
        #expect(DotExport.role(ofNode: index("features.2.0"), in: separable) == .depthwise)
        let residual = try DotBuilders.residualNet()
        #expect(DotExport.role(ofNode: residual.nodes.count - 1, in: residual) == .head)
    }

    @Test func namesAreEscaped() throws {
        var b = GraphBuilder(name: "odd \"name\" \\ <&>")
        let x = b.input("x<&>\"", .f32([1, 4]))
        b.output(try b.apply(.relu, x, name: "r\"<b>", scope: "s\"1"))
        let text = DotExport.dot(b.graph)
        #expect(text.hasPrefix("digraph \"odd \\\"name\\\" \\\\ <&>\" {"))
        #expect(text.contains("<b>x&lt;&amp;&gt;&quot;</b>"))
        #expect(text.contains("<b>r&quot;&lt;b&gt;</b>"))
        #expect(text.contains("label=\"s\\\"1\""))
        #expect(ParsedDot(text).nodeOrder == ["i0", "n0", "o0"])
    }
}
