// Full training steps with adapters: freeze → lora/dora → autodiff → optimizer (Adam) → dce, for every
// zoo model. The step verifies; frozen base weights get no weight gradient; every adapter parameter (and a
// trained head) gets a gradient and an update; DoRA's norm is never differentiated.
import Foundation
import GraphIR
import Testing

@testable import Passes

@Suite struct LoRATrainingTests {
    static func step(_ forward: Graph, _ config: TrainingConfig) throws -> Graph {
        try PassPipeline([
            Freeze(config), Adapters.pass(config), Autodiff(), OptimizerPass(config),
            DeadCodeElimination(),
        ]).run(forward)
    }

    static func isGradWeight(_ op: Op) -> Bool {
        switch op {
        case .conv2dGradWeight, .linearGradWeight: true
        default: false
        }
    }

    @Test(arguments: Adapters.zooNames, [FineTuningMethod.lora, .dora])
    func fullStep(model: String, method: FineTuningMethod) throws {
        let forward = try Adapters.zoo(model, input: model.hasPrefix("small_") ? [1, 28, 28] : [3, 224, 224])
        for head in [HeadMode.train, .lora] {
            var config = Adapters.config(method, rank: 8, head: head)
            config.optimizer = .adam
            let g = try Self.step(forward, config)
            let label = "\(model) \(method) head \(head)"
            let gradients = Autodiff.gradients(in: g)
            let names = Set(g.nodes.map(\.name))
            let trainable = g.parameters.filter { g[$0].isTrainable }
            // Trainable = exactly the adapters plus a trained head, each with a gradient and an update.
            let adapters = g.parameters.filter { g[$0].role?.isAdapter ?? false }
            let headParams =
                head == .train
                ? Freeze.headNodes(forward).flatMap {
                    forward.nodes[$0].inputs.filter { forward[$0].isParameter }.map { forward[$0].name }
                } : []
            #expect(!adapters.isEmpty, "\(label)")
            #expect(Set(trainable.map { g[$0].name }) == Set(adapters.map { g[$0].name } + headParams), "\(label)")
            for p in trainable {
                #expect(gradients[p] != nil, "\(label): \(g[p].name) has no gradient")
                #expect(names.contains(g[p].name + ".update"), "\(label): \(g[p].name) has no update")
            }
            // No weight gradient for a frozen parameter: every grad-weight node belongs to a layer whose
            // weight operand is trainable or is DoRA's composed W' (whose gradient flows to A, B and m).
            var forwardByName: [String: Node] = [:]
            for node in g.nodes where node.phase == .forward { forwardByName[node.name] = node }
            for node in g.nodes where node.phase == .backward && Self.isGradWeight(node.op) {
                guard node.name.hasSuffix(".grad_weight"),
                    let layer = forwardByName[String(node.name.dropLast(".grad_weight".count))]
                else {
                    Issue.record("\(label): unexpected grad-weight node '\(node.name)'")
                    continue
                }
                let w = g[layer.inputs[1]]
                #expect(
                    w.isParameter
                        ? w.isTrainable : layer.name + ".dora_weight" == g.nodes[g.producer(of: layer.inputs[1])!].name,
                    "\(label): '\(node.name)' differentiates frozen '\(w.name)'")
            }
            #expect(!g.nodes.contains { $0.phase == .backward && $0.name.contains(".dora_norm.") }, "\(label)")
        }
    }

    /// ResNet-18 (20 convs + fc): LoRA differentiates A and B of every adapted layer, DoRA each layer's W'.
    @Test func resnet18WeightGradientCounts() throws {
        let forward = try Adapters.zoo("resnet18")
        func count(_ g: Graph, _ match: (Op) -> Bool) -> Int {
            g.nodes.filter { $0.phase == .backward && match($0.op) }.count
        }
        func convGW(_ op: Op) -> Bool { if case .conv2dGradWeight = op { true } else { false } }
        func linearGW(_ op: Op) -> Bool { op == .linearGradWeight }
        let lora = try Self.step(forward, Adapters.config(.lora, rank: 8, head: .lora))
        #expect(count(lora, convGW) == 40 && count(lora, linearGW) == 2)
        #expect(!lora.nodes.contains { $0.name == "layer1.0.conv1.grad_weight" })
        #expect(lora.nodes.contains { $0.name == "layer1.0.conv1.lora_A.grad_weight" })
        #expect(lora.nodes.contains { $0.name == "layer1.0.conv1.lora_B.grad_weight" })
        let dora = try Self.step(forward, Adapters.config(.dora, rank: 8, head: .lora))
        #expect(count(dora, convGW) == 20 && count(dora, linearGW) == 1)
        let gradients = Autodiff.gradients(in: dora).byName(in: dora)
        for suffix in ["lora_A.weight", "lora_B.weight", "lora_magnitude_vector"] {
            #expect(gradients["layer1.0.conv1.\(suffix)"] != nil && gradients["fc.\(suffix)"] != nil)
        }
        #expect(gradients["layer1.0.conv1.weight"] == nil)
        // Adam state for exactly the trainable parameters: 2 × 296,370 elements.
        let state = dora.parameters.filter { dora[$0].role?.isOptimizerState ?? false }
        #expect(state.reduce(0) { $0 + dora[$1].type.elementCount } == 2 * 296_370)
    }
}
