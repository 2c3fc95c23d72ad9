// optimizer: update nodes and state per optimizer, GaLore's projected state against the closed form,
// the release-grads schedule, errors, and every zoo model's training graph verifying and round-tripping
// through the IR text.
import Foundation
import Frontend
import GraphIR
import Passes
import Testing

@Suite struct OptimizerTests {
    func stateElements(_ g: Graph) -> Int {
        g.parameters.filter { g[$0].role?.isOptimizerState ?? false }.reduce(0) { $0 + g[$1].type.elementCount }
    }

    @Test(arguments: OptimizerKind.allCases)
    func updatesAndState(_ kind: OptimizerKind) throws {
        let forward = try Training.forward("resnet18")
        let g = try Training.step(forward, Training.config(.bnh, kind))
        let trainable = g.learnableParameters.filter { g[$0].isTrainable }
        let updates = g.nodes.filter { $0.phase == .optimizer }
        #expect(updates.count == trainable.count)
        #expect(Set(updates.map(\.name)) == Set(trainable.map { g[$0].name + ".update" }))
        let perParameter = [OptimizerKind.sgd: 0, .momentum: 1, .adam: 2, .adamw: 2][kind]!
        #expect(stateElements(g) == perParameter * 14_730)
        let suffixes = [
            OptimizerKind.sgd: [String](), .momentum: ["momentum_buffer"], .adam: ["exp_avg", "exp_avg_sq"],
            .adamw: ["exp_avg", "exp_avg_sq"],
        ][kind]!
        let stateNames = Set(g.parameters.filter { g[$0].role?.isOptimizerState ?? false }.map { g[$0].name })
        #expect(stateNames == Set(trainable.flatMap { p in suffixes.map { g[p].name + "." + $0 } }))
        // Outputs: the loss, then every updated parameter and state value.
        #expect(g.outputs.count == 1 + trainable.count * (1 + perParameter))
        #expect(g[g.outputs[0]].name == "loss")
        for node in updates {
            switch (kind, node.op) {
            case (.sgd, .sgdUpdate), (.momentum, .momentumUpdate): break
            case let (.adam, .adamUpdate(a)): #expect(!a.decoupled)
            case let (.adamw, .adamUpdate(a)): #expect(a.decoupled)
            default: Issue.record("\(kind): \(node.op.name)")
            }
        }
        // Default schedule: every update after the last backward node.
        let lastBackward = try #require(g.nodes.lastIndex { $0.phase == .backward })
        #expect(g.nodes.firstIndex { $0.phase == .optimizer }! == lastBackward + 1)
    }

    @Test func tinyConvnetUpdatesPyTorchsParameters() throws {
        let json = try #require(try Training.fixture("tiny_convnet_pytorch") as? [String: Any])
        let steps = try #require((json["float32"] as? [String: Any])?["opt_steps"] as? [String: Any])
        for (key, kind) in [("sgd", OptimizerKind.momentum), ("adam", .adam)] {
            let after = try #require((steps[key] as? [String: Any])?["params_after"] as? [String: Any])
            let g = try Training.step(AutodiffTests.tinyConvnet(), Training.config(.fft, kind))
            let updated = Set(
                g.nodes.filter { $0.phase == .optimizer }.map { String($0.name.dropLast(".update".count)) })
            #expect(updated == Set(after.keys.filter { !$0.contains("running") && !$0.contains("num_batches") }))
        }
    }

    /// Σ(min(m,n)·r + 2·max(m,n)·r) over projected weights + 2·numel for the rest, from the forward graph;
    /// depthwise kernels (weight [C, 1, kh, kw]) count as matrices only when `depthwise`.
    func galoreClosedForm(
        _ forward: Graph, rank r: Int, depthwise: Bool = false
    ) -> (elements: Int, projected: Set<String>) {
        var total = 0
        var projected = Set<String>()
        for id in forward.learnableParameters {
            let shape = forward[id].type.shape
            let node = forward.nodes.first { $0.inputs.contains(id) }!
            var matrix = false
            if case let .conv2d(a) = node.op, a.groups == 1 || shape[1] != 1 || depthwise, node.inputs[1] == id {
                matrix = true
            }
            if node.op == .linear, node.inputs[1] == id { matrix = true }
            let m = shape[0], n = shape.dropFirst().reduce(1, *)
            if matrix && min(m, n) > r {
                total += min(m, n) * r + 2 * max(m, n) * r
                projected.insert(forward[id].name)
            } else {
                total += 2 * forward[id].type.elementCount
            }
        }
        return (total, projected)
    }

    @Test(arguments: [("resnet18", 8), ("resnet18", 128), ("mobilenet_v2", 8), ("mobilenet_v2", 128)])
    func galoreState(model: String, rank: Int) throws {
        let forward = try Training.forward(model)
        let g = try Training.step(forward, Training.config(.galore, .adam, rank: rank))
        let (expected, projected) = galoreClosedForm(forward, rank: rank)
        #expect(stateElements(g) == expected)
        let svd = g.nodes.filter { if case .svdProjector = $0.op { true } else { false } }
        #expect(Set(svd.map { String($0.name.dropLast(".galore.projector".count)) }) == projected)
        #expect(svd.allSatisfy { $0.phase == .optimizer })
        #expect(g.nodes.filter { if case .applyUpdate = $0.op { true } else { false } }.count == projected.count)
        #expect(
            g.nodes.filter { if case .adamUpdate = $0.op { true } else { false } }.count
                == forward.learnableParameters.count - projected.count)
        // Depthwise kernels stay in plain Adam.
        if model == "mobilenet_v2" { #expect(!projected.contains("features.1.conv.0.0.weight")) }
    }

    /// With `adaptDepthwise` the 3x3 depthwise kernels, (C, 9), are projected too (right, C ≥ 9) at rank 8,
    /// as the PyTorch fixture's GaLore does; at rank 9 they are not (r < min(m, n) fails).
    @Test(arguments: [8, 9]) func galoreProjectsDepthwiseWhenAsked(rank: Int) throws {
        let forward = try Training.forward("mobilenet_v2")
        var config = Training.config(.galore, .adam, rank: rank)
        config.adaptDepthwise = true
        let g = try Training.step(forward, config)
        let (expected, projected) = galoreClosedForm(forward, rank: rank, depthwise: true)
        #expect(stateElements(g) == expected)
        #expect(projected.contains("features.1.conv.0.0.weight") == (rank < 9))
        let svd = g.nodes.filter { if case .svdProjector = $0.op { true } else { false } }
        #expect(Set(svd.map { String($0.name.dropLast(".galore.projector".count)) }) == projected)
        let state = Dictionary(uniqueKeysWithValues: g.parameters.map { (g[$0].name, g[$0].type.shape) })
        if rank == 8 { #expect(state["features.1.conv.0.0.weight.galore_projector"] == [8, 9]) }
    }

    @Test func galoreProjectsLeftOrRightByShape() throws {
        let g = try Training.step(Training.forward("resnet18"), Training.config(.galore, .adamw, rank: 8))
        func op(_ name: String) throws -> Op { try #require(g.nodes.first { $0.name == name }).op }
        // conv1: 64 x 147 (m < n): left projector 64x8, moments 8x147.
        #expect(try op("conv1.weight.galore.projector") == .svdProjector(ProjectorAttrs(rank: 8, left: true, gap: 200)))
        let state = Dictionary(uniqueKeysWithValues: g.parameters.map { (g[$0].name, g[$0].type.shape) })
        #expect(state["conv1.weight.exp_avg"] == [8, 147] && state["conv1.weight.galore_projector"] == [64, 8])
        // fc: 10 x 512 (m < n) too.
        #expect(state["fc.weight.exp_avg_sq"] == [8, 512])
        let scale = try op("layer4.1.conv2.weight.galore.scale")
        #expect(scale == .scale(0.25))
        if case let .applyUpdate(a) = try op("fc.weight.update") { #expect(a.decoupled) } else { Issue.record("fc") }
        // A tall weight (m ≥ n) takes the right projector.
        let tall = try Training.step(Training.forward("mobilenet_v2"), Training.config(.galore, .adam, rank: 8))
        // features.18.0: 1280 x 320 (m ≥ n): right projector 8x320, moments 1280x8.
        let ts = Dictionary(uniqueKeysWithValues: tall.parameters.map { (tall[$0].name, tall[$0].type.shape) })
        #expect(ts["features.18.0.weight.galore_projector"] == [8, 320])
        #expect(ts["features.18.0.weight.exp_avg"] == [1280, 8])
    }

    @Test func galoreErrors() throws {
        let forward = try Training.forward("resnet18")
        func id(_ config: TrainingConfig) -> (String, String)? {
            do {
                _ = try PassPipeline([Freeze(config), Autodiff(), OptimizerPass(config)]).run(forward)
                return nil
            } catch {
                return error.diagnostics.first.map { ($0.id, $0.message) }
            }
        }
        #expect(id(Training.config(.galore, .sgd))?.0 == "galore-needs-adam")
        #expect(id(Training.config(.galore, .momentum))?.0 == "galore-needs-adam")
        #expect(id(Training.config(.galore, .adam, rank: 0))?.0 == "bad-rank")
        let tooLarge = id(Training.config(.galore, .adam, rank: 512))
        #expect(tooLarge?.0 == "rank-too-large")
        #expect(tooLarge?.1.contains("512") ?? false)
        #expect(id(Training.config(.galore, .adam, rank: 511)) == nil)
    }

    @Test(arguments: ["resnet18", "mobilenet_v2"])
    func releaseGradsShortensEveryGradientsLife(_ model: String) throws {
        let forward = try Training.forward(model)
        for method in [FineTuningMethod.fft, .bnh, .galore] {
            let plain = try Training.step(forward, Training.config(method, .adam))
            let early = try Training.step(forward, Training.config(method, .adam, releaseGrads: true))
            #expect(Verifier.verify(early).filter { $0.severity == .error }.isEmpty)
            #expect(multiset(plain) == multiset(early))
            #expect(Set(plain.outputs.map { plain[$0].name }) == Set(early.outputs.map { early[$0].name }))
            let a = lifetimes(plain), b = lifetimes(early)
            #expect(a.keys == b.keys && !a.isEmpty)
            // The gradient completed by the very last backward node is used at once either way.
            let last = plain.nodes.last { $0.phase == .backward }!.name
            for (name, life) in b {
                #expect(life.span <= a[name]!.span, "\(model) \(method) \(name)")
                if life.producer != last { #expect(life.span < a[name]!.span, "\(model) \(method) \(name)") }
                // Nothing of the backward pass runs between a gradient and its last use.
                #expect(life.backwardBetween == 0, "\(model) \(method) \(name)")
            }
        }
    }

    func multiset(_ g: Graph) -> [String] {
        g.nodes.map { "\($0.name) \($0.op.name) \($0.phase)" }.sorted()
    }

    /// Per parameter: its gradient's producer, steps from definition to last use, backward nodes between.
    func lifetimes(_ g: Graph) -> [String: (producer: String, span: Int, backwardBetween: Int)] {
        let users = g.users()
        var out: [String: (String, Int, Int)] = [:]
        for (p, grad) in Autodiff.gradients(in: g).gradients {
            let def = g.producer(of: grad)!
            let lastUse = users[grad.raw].last!
            let between = g.nodes[(def + 1)..<lastUse].filter { $0.phase == .backward }.count
            out[g[p].name] = (g.nodes[def].name, lastUse - def, between)
        }
        return out
    }

    @Test(arguments: Zoo.names)
    func everyTrainingGraphVerifiesAndRoundTrips(_ model: String) throws {
        let forward = try Training.forward(model, batch: 2, size: 64)
        for method in [FineTuningMethod.fft, .bnh, .head, .galore] {
            for kind in OptimizerKind.allCases {
                let config = Training.config(method, kind, releaseGrads: kind == .momentum)
                if method == .galore && (kind == .sgd || kind == .momentum) {
                    #expect(throws: PassError.self) { try Training.step(forward, config) }
                    continue
                }
                let g = try Training.step(forward, config)
                #expect(Verifier.verify(g).filter { $0.severity == .error }.isEmpty, "\(model) \(method) \(kind)")
                let text = IRPrinter.print(g)
                let parsed = try IRParser.parse(text, file: "\(model).gir")
                #expect(IRPrinter.print(parsed) == text, "\(model) \(method) \(kind)")
                #expect(g.nodes.contains { $0.phase == .optimizer })
            }
        }
    }
}
