// Shared helpers of the adapter tests (LoRA, DoRA, merge-adapters): zoo graphs at the fixture's size,
// `freeze` as it runs before `lora`/`dora`, the fixture's trainable counts, and
// graph queries by node name.
import Foundation
import Frontend
import GraphIR
import Testing

@testable import Passes

enum Adapters {
    /// A zoo model at 3x224x224 with 10 classes, as the fixture's `*_224_nc10` entries.
    static func zoo(_ name: String, input: [Int] = [3, 224, 224]) throws -> Graph {
        try Zoo.compile(name, overrides: ModelOverrides(input: input, classes: 10)).graph
    }

    /// `freeze` for lora/dora with head mode `head`: everything frozen but a trained head.
    static func freeze(_ graph: Graph, head: HeadMode) throws -> Graph {
        var config = TrainingConfig(method: .lora)
        config.head = head
        return try Freeze(config).run(graph)
    }

    static func config(
        _ method: FineTuningMethod, rank: Int, head: HeadMode = .lora, alpha: Double? = nil,
        adaptDepthwise: Bool = false
    ) -> TrainingConfig {
        var c = TrainingConfig(method: method)
        c.rank = rank
        c.head = head
        c.alpha = alpha
        c.adaptDepthwise = adaptDepthwise
        return c
    }

    /// The adapter pass for `config.method`.
    static func pass(_ config: TrainingConfig) -> any Pass {
        config.method == .dora ? DoRA(config) as any Pass : LoRA(config)
    }

    /// freeze → the method's pass, verified after each.
    static func adapt(_ graph: Graph, _ config: TrainingConfig) throws -> Graph {
        try PassPipeline([Freeze(config), pass(config)]).run(graph)
    }

    /// `trainable_params_by_method` of fixture entry `key` (e.g. `resnet18_224_nc10`).
    static func fixtureCounts(_ key: String) throws -> [String: Int] {
        let url = try #require(
            Bundle.module.url(
                forResource: "torchvision_counts", withExtension: "json",
                subdirectory: "Fixtures"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
        let models = try #require(json?["models"] as? [String: Any])
        let model = try #require(models[key] as? [String: Any])
        return try #require(model["trainable_params_by_method"] as? [String: Int])
    }

    /// The node named `name`.
    static func node(_ graph: Graph, _ name: String) -> Node? { graph.nodes.first { $0.name == name } }

    /// The parameter named `name`.
    static func param(_ graph: Graph, _ name: String) -> Value? {
        graph.parameters.map { graph[$0] }.first { $0.name == name }
    }

    /// The graph with every parameter's trainable flag cleared and values numbered canonically.
    static func withoutFlags(_ graph: Graph) -> Graph {
        var g = graph.renumbered()
        for id in g.parameters {
            if case let .parameter(role, _) = g[id].kind { g[id].kind = .parameter(role: role, trainable: false) }
        }
        return g
    }

    /// Conv nodes of the forward phase.
    static func convs(_ graph: Graph) -> [Node] {
        graph.nodes.filter { if case .conv2d = $0.op { return true } else { return false } }
    }

    /// A one-conv graph (for dilation and depthwise cases): input [1, cin, 16, 16] → conv → output.
    static func singleConv(
        cin: Int = 8, out: Int = 8, kernel: Int = 3, stride: Int = 1, padding: Int = 2,
        dilation: Int = 2, groups: Int = 1, bias: Bool = true
    ) throws -> Graph {
        var b = GraphBuilder(name: "single_conv")
        let x = b.input("input", .f32([1, cin, 16, 16]))
        let y = try b.conv2d(
            x, out: out, kernel: Pair(kernel), stride: Pair(stride), padding: Pair(padding),
            dilation: Pair(dilation), groups: groups, bias: bias, name: "conv", scope: "block")
        let z = try b.apply(.relu, y, name: "relu", scope: "block")
        b.output(z)
        return b.graph
    }

    static let zooNames = Zoo.names
}
