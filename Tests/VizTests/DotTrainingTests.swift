// Structural tests of DotExport's training drawings: phase clusters hold their nodes, saved
// activations are the dashed edges, adapters are outlined, frozen nodes grey, nodes that need no
// gradient dashed and counted, and the legend lists what is drawn; on hand-built graphs and on real
// ones (lora / head → autodiff → optimizer → dce).
import Foundation
import Frontend
import GraphIR
import GraphTestSupport
import Testing

@testable import Passes
@testable import Viz

enum DotTrainingGraphs {
    /// A zoo model's training step: freeze (for LoRA / DoRA: everything but the head), the adapter pass
    /// if any, autodiff, the optimizer (Adam), dce.
    static func step(_ model: String, _ method: FineTuningMethod, rank: Int = 8, size: Int = 224) throws -> Graph {
        var config = TrainingConfig(method: method)
        config.rank = rank
        config.optimizer = .adam
        let forward = try Zoo.compile(model, overrides: ModelOverrides(input: [3, size, size], classes: 10)).graph
        let adapt: [any Pass] =
            switch method {
            case .lora: [Freeze(config), LoRA(config)]
            case .dora: [Freeze(config), DoRA(config)]
            case .fft, .bnh, .head, .galore: [Freeze(config)]
            }
        return try PassPipeline(adapt + [Autodiff(), OptimizerPass(config), DeadCodeElimination()]).run(forward)
    }

    static let cases: [(String, @Sendable () throws -> Graph)] = [
        ("tiny_lora", { try DotTrainingBuilders.tinyLoRA() }),
        ("tiny_head", { try DotTrainingBuilders.tinyLoRA(headOnly: true) }),
        ("small_resnet_lora", { try step("small_resnet", .lora, rank: 4, size: 32) }),
        ("small_resnet_head", { try step("small_resnet", .head, size: 32) }),
        ("small_resnet_dora", { try step("small_resnet", .dora, rank: 4, size: 32) }),
    ]

    static func graph(_ name: String) throws -> Graph { try cases.first { $0.0 == name }!.1() }
}

@Suite struct DotTrainingTests {
    @Test(arguments: DotTrainingGraphs.cases.map(\.0))
    func everyNodeSitsInItsPhaseCluster(name: String) throws {
        let graph = try DotTrainingGraphs.graph(name)
        for options in [DotOptions(), DotOptions(clusters: false)] {
            let dot = TrainingDot(DotExport.dot(graph, options: options))
            for (i, node) in graph.nodes.enumerated() {
                #expect(dot.outermost(of: "n\(i)") == "cluster_\(node.phase.rawValue)", "\(node.name)")
            }
            for k in graph.inputs.indices { #expect(dot.outermost(of: "i\(k)") == nil) }
        }
    }

    /// The backward and optimizer clusters are flat (their nodes lie level with the forward blocks
    /// instead); forward scope clusters nest inside the forward cluster.
    @Test(arguments: DotTrainingGraphs.cases.map(\.0))
    func backwardAndOptimizerClustersAreFlat(name: String) throws {
        let graph = try DotTrainingGraphs.graph(name)
        let dot = TrainingDot(DotExport.dot(graph))
        for (i, node) in graph.nodes.enumerated() where node.phase != .forward {
            #expect(dot.clusters["cluster_\(node.phase.rawValue)"]?.members.contains("n\(i)") == true)
        }
        let nested = dot.clusters.filter { $0.value.parent != nil }
        #expect(!nested.isEmpty)
        #expect(nested.allSatisfy { id, _ in dot.outermostCluster(id) == "cluster_forward" })
    }

    @Test(arguments: DotTrainingGraphs.cases.map(\.0))
    func collapsedBlocksKeepPhasesApart(name: String) throws {
        let graph = try DotTrainingGraphs.graph(name)
        let dot = TrainingDot(DotExport.dot(graph, options: .init(collapseDepth: 0)))
        for id in dot.nodeOrder where id.hasPrefix("b") { #expect(dot.outermost(of: id) == "cluster_forward") }
        for id in dot.nodeOrder where id.hasPrefix("g") { #expect(dot.outermost(of: id) == "cluster_backward") }
        for id in dot.nodeOrder where id.hasPrefix("u") { #expect(dot.outermost(of: id) == "cluster_optimizer") }
        let scoped = graph.nodes.indices.filter { !graph.nodes[$0].scope.isEmpty }
        for i in scoped { #expect(dot.nodes["n\(i)"] == nil) }
        #expect(dot.edges.allSatisfy { $0.from != $0.to })
        // Every collapsed node is counted once, in its phase's summaries.
        var counted = 0
        for id in dot.nodeOrder where ["b", "g", "u"].contains(id.first.map(String.init)) {
            counted += Int(dot.nodes[id]!.firstMatch(of: #/<br/>(\d+) ops: /#)!.1)!
        }
        #expect(counted == scoped.count)
    }

    /// Saved activations are exactly the forward values (and inputs) backward nodes read; each is a
    /// dashed edge, gradient edges are drawn reversed, and update outputs are not drawn.
    @Test(arguments: DotTrainingGraphs.cases.map(\.0))
    func savedActivationsAreTheDashedEdges(name: String) throws {
        let graph = try DotTrainingGraphs.graph(name)
        let dot = TrainingDot(DotExport.dot(graph))
        var expected = Set<String>()
        for (i, node) in graph.nodes.enumerated() where node.phase == .backward {
            for id in node.inputs {
                switch graph[id].kind {
                case .input: expected.insert("i\(graph.inputs.firstIndex(of: id)!)->n\(i)")
                case let .result(p, _) where graph.nodes[p].phase == .forward: expected.insert("n\(p)->n\(i)")
                case .result, .parameter: break
                }
            }
        }
        let saved = dot.edges.filter { $0.attributes.contains("style=dashed") }
        #expect(Set(saved.map { "\($0.from)->\($0.to)" }) == expected)
        #expect(saved.count == expected.count)
        #expect(saved.allSatisfy { $0.attributes.contains(DotMarker.savedColor) })
        let reversed = dot.edges.filter { $0.attributes.contains("dir=back") }
        #expect(!reversed.isEmpty)
        for edge in reversed {
            #expect(graph.nodes[Int(edge.from.dropFirst())!].phase == .backward)
            #expect(graph.nodes[Int(edge.to.dropFirst())!].phase == .backward)
        }
        #expect(dot.nodeOrder.filter { $0.hasPrefix("o") } == ["o0"])
    }

    @Test(arguments: DotTrainingGraphs.cases.map(\.0))
    func marksFollowTheStructure(name: String) throws {
        let graph = try DotTrainingGraphs.graph(name)
        let dot = TrainingDot(DotExport.dot(graph))
        let adapters = DotExport.adapterNodes(graph), pruned = DotExport.noGradientNodes(graph)
        for (i, node) in graph.nodes.enumerated() {
            let id = "n\(i)"
            #expect(dot.hasAdapterOutline(id) == adapters[i], "\(node.name)")
            #expect(dot.isDashed(id) == pruned[i], "\(node.name)")
            let learnable = node.inputs.filter { graph[$0].role?.isLearnable == true }
            let frozen =
                node.phase == .forward && !adapters[i] && !learnable.isEmpty
                && learnable.allSatisfy { !graph[$0].isTrainable }
            #expect((dot.fillColor(id) == DotMarker.frozenFill) == frozen, "\(node.name)")
            if node.phase != .forward { #expect(!pruned[i]) }
        }
        let count = pruned.count { $0 }
        #expect(
            dot.title.contains("\(count) forward op\(count == 1 ? "" : "s") need\(count == 1 ? "s" : "") no gradient")
                == (count > 0))
        for phase in Phase.allCases {
            #expect(dot.title.contains("\(phase.rawValue) \(graph.nodes.count { $0.phase == phase })"))
        }
    }

    /// A forward node is drawn as needing no gradient exactly when autodiff emitted no backward node
    /// for it: the two rules agree.
    @Test(arguments: ["small_resnet_lora", "small_resnet_head", "small_resnet_dora"])
    func noGradientMatchesAutodiff(name: String) throws {
        let graph = try DotTrainingGraphs.graph(name)
        let pruned = DotExport.noGradientNodes(graph)
        let loss = try #require(graph.nodes.first { $0.name == "loss" }?.outputs.first)
        let needs = Autodiff.needsGradient(graph, loss: loss)
        for (i, node) in graph.nodes.enumerated() where node.phase == .forward {
            #expect(pruned[i] == !node.outputs.contains { needs[$0.raw] }, "\(node.name)")
        }
    }

    @Test func loraMarksAdaptersAndFreezesBases() throws {
        let graph = try DotTrainingGraphs.graph("small_resnet_lora")
        let adapters = DotExport.adapterNodes(graph)
        let marks = TrainingMarks(graph)
        for (i, node) in graph.nodes.enumerated() where node.phase == .forward {
            let isAdapterNode = ["lora_A", "lora_B", "lora_scale", "lora_add"].contains {
                node.name.hasSuffix("." + $0)
            }
            #expect(adapters[i] == isAdapterNode, "\(node.name)")
            if case .conv2d = node.op, !isAdapterNode { #expect(marks.frozen[i], "\(node.name)") }
        }
        // Updates of adapter parameters and the backward ops of adapter nodes are outlined too.
        for (i, node) in graph.nodes.enumerated() where node.phase != .forward {
            #expect(adapters[i] == node.name.contains(".lora_"), "\(node.name)")
        }
        #expect(DotExport.markers(graph) == DotMarker.allCases)
    }

    @Test func doraMarksTheWeightSpacePath() throws {
        let graph = try DotTrainingGraphs.graph("small_resnet_dora")
        let adapters = DotExport.adapterNodes(graph)
        let adapted = graph.nodes.indices.filter { graph.nodes[$0].phase == .forward && adapters[$0] }
        #expect(!adapted.isEmpty)
        // Every adapter path ends in the conv that reads the composed weight, which is not propagated.
        for i in adapted where graph.nodes[i].op.category == .conv {
            #expect(graph.nodes[i].inputs.contains { graph[$0].role?.isAdapter != true && !graph[$0].isParameter })
        }
        for (i, node) in graph.nodes.enumerated() where node.phase == .forward && node.op == .channelNorm {
            #expect(adapters[i])
        }
        let relus = graph.nodes.indices.filter { graph.nodes[$0].op == .relu }
        #expect(relus.allSatisfy { !adapters[$0] })
    }

    @Test func headOnlyPrunesEveryConv() throws {
        for name in ["small_resnet_head", "tiny_head"] {
            let graph = try DotTrainingGraphs.graph(name)
            let pruned = DotExport.noGradientNodes(graph)
            let dot = TrainingDot(DotExport.dot(graph))
            let forward = graph.nodes.indices.filter { graph.nodes[$0].phase == .forward }
            for i in forward {
                let node = graph.nodes[i]
                let needed = node.op == .linear || node.op == .softmaxCrossEntropy
                #expect(pruned[i] == !needed, "\(name) \(node.name)")
            }
            let count = forward.count - 2
            #expect(dot.title.contains("\(count) forward ops need no gradient (dashed)"))
            // Collapsed: each block summary counts its members.
            let collapsed = TrainingDot(DotExport.dot(graph, options: .init(collapseDepth: 0)))
            for id in collapsed.nodeOrder where id.hasPrefix("b") {
                #expect(collapsed.isDashed(id))
                #expect(collapsed.nodes[id]!.contains(/\d+ ops: .*(\d+) needs? no gradient/))
            }
        }
    }

    @Test func collapsedSummaryCountsNoGradientMembers() throws {
        let graph = try DotTrainingGraphs.graph("small_resnet_head")
        let tree = ScopeTree(graph)
        let pruned = DotExport.noGradientNodes(graph)
        let dot = TrainingDot(DotExport.dot(graph, options: .init(collapseDepth: 0)))
        for id in dot.nodeOrder where id.hasPrefix("b") {
            let k = Int(id.dropFirst())!
            let members = graph.nodes.indices.filter {
                graph.nodes[$0].phase == .forward
                    && tree.index[graph.nodes[$0].scope].map { tree.ancestor($0, atDepth: 1) } == k
            }
            let n = members.count { pruned[$0] }
            #expect(dot.nodes[id]!.contains("\(n) need\(n == 1 ? "s" : "") no gradient"))
        }
    }

    @Test(arguments: DotTrainingGraphs.cases.map(\.0))
    func legendListsExactlyWhatIsDrawn(name: String) throws {
        let graph = try DotTrainingGraphs.graph(name)
        for options in [DotOptions(), DotOptions(collapseDepth: 0)] {
            let dot = TrainingDot(DotExport.dot(graph, options: options))
            let roles = DotExport.roles(graph, options: options), markers = DotExport.markers(graph, options: options)
            #expect(dot.legend == roles.map(\.title) + markers.map(\.title))
            let fills = Set(dot.nodeOrder.compactMap(dot.fillColor))
            #expect(fills.subtracting([DotMarker.frozenFill]).isSubset(of: Set(roles.map(\.fillColor))))
            #expect(markers.contains(.frozen) == fills.contains(DotMarker.frozenFill))
            #expect(markers.contains(.adapter) == dot.nodeOrder.contains { dot.hasAdapterOutline($0) })
            #expect(markers.contains(.noGradient) == dot.nodeOrder.contains { dot.isDashed($0) })
            #expect(markers.contains(.savedActivation) == dot.edges.contains { $0.attributes.contains("style=dashed") })
        }
    }

    @Test func updatesFoldTheirState() throws {
        let dot = TrainingDot(DotExport.dot(try DotTrainingBuilders.tinyLoRA()))
        let updates = dot.nodeOrder.filter { dot.nodes[$0]!.contains("adam_update") }
        #expect(updates.count == 4)
        #expect(
            dot.nodes[updates[0]]!.contains(
                "<b>block.conv.lora_A.weight</b><br/>adam<br/>"
                    + "<font point-size=\"8\">state 2 × 72</font>"))
        #expect(!dot.nodeOrder.contains { $0.hasPrefix("p") })
        #expect(dot.title.contains("optimizer state 190"))
    }

    @Test func gradientLabelsAreCompact() throws {
        let graph = try DotTrainingGraphs.graph("small_resnet_lora")
        let dot = DotExport.dot(graph)
        for text in ["∇in conv 3x3", "∇w conv 3x3", "∇w conv 1x1", "<b>∇relu</b>", "∇bn", "∇w linear", "∇loss"] {
            #expect(dot.contains(text), "\(text)")
        }
        #expect(!dot.contains("conv2d_grad_input<"))
    }

    @Test func gradientEdgeLabelsAreOptional() throws {
        let graph = try DotTrainingBuilders.tinyLoRA()
        let plain = TrainingDot(DotExport.dot(graph))
        let labelled = TrainingDot(DotExport.dot(graph, options: .init(gradientEdgeLabels: true)))
        let gradient = { (dot: TrainingDot) in dot.edges.filter { $0.attributes.contains("dir=back") } }
        #expect(gradient(plain).allSatisfy { !$0.attributes.contains("label=") })
        #expect(gradient(labelled).allSatisfy { $0.attributes.contains("label=") })
        // Forward edges keep their shapes either way.
        #expect(plain.edges.contains { $0.from == "n0" && $0.attributes == "label=\"1x4x8x8\"" })
    }

    @Test func trainingOptionDrawsAForwardGraphWithMarks() throws {
        var graph = try DotBuilders.residualNet()
        for id in graph.parameters where graph[id].role?.isLearnable == true {
            let fc = graph[id].name.hasPrefix("fc.")
            graph[id].kind = .parameter(role: graph[id].role!, trainable: fc)
        }
        #expect(DotExport.markers(graph).isEmpty)
        #expect(DotExport.dot(graph) == DotExport.dot(graph, options: .init(training: false)))
        let dot = TrainingDot(DotExport.dot(graph, options: .init(training: true)))
        #expect(dot.title.contains("backward 0"))
        let pruned = DotExport.noGradientNodes(graph)
        #expect(pruned.count { !$0 } == 1)
        for (i, node) in graph.nodes.enumerated() {
            #expect(dot.outermost(of: "n\(i)") == "cluster_forward")
            #expect(dot.isDashed("n\(i)") == (node.name != "fc"))
        }
        #expect(DotExport.markers(graph, options: .init(training: true)) == [.frozen, .noGradient])
    }

    /// resnet18 + LoRA r8 + Adam (~380 nodes): every node drawn once, in its phase; with
    /// GRAPHC_DOT_DIR=<dir> the DOT text is written there to render and look at.
    @Test func resnet18LoRA() throws {
        let graph = try DotTrainingGraphs.step("resnet18", .lora, rank: 8)
        #expect(graph.nodes.count > 350)
        let text = DotExport.dot(graph)
        let dot = TrainingDot(text)
        #expect(dot.nodeOrder.count { $0.hasPrefix("n") } == graph.nodes.count)
        for (i, node) in graph.nodes.enumerated() {
            #expect(dot.outermost(of: "n\(i)") == "cluster_\(node.phase.rawValue)")
        }
        if let dir = ProcessInfo.processInfo.environment["GRAPHC_DOT_DIR"] {
            try text.write(toFile: dir + "/resnet18_lora.dot", atomically: true, encoding: .utf8)
            try DotExport.dot(graph, options: .init(collapseDepth: 0))
                .write(toFile: dir + "/resnet18_lora_collapsed.dot", atomically: true, encoding: .utf8)
        }
    }
}
