// autodiff: train mode and loss, which gradients exist (needs-gradient analysis), backward MACs against
// the forward's, the tiny convnet's gradients against PyTorch's keys and shapes, weight-space rules
// (DoRA-like), broadcasting, naming and errors.
import Foundation
import Frontend
import GraphIR
import GraphTestSupport
import Passes
import Testing

@Suite struct AutodiffTests {
    func backwardMACs(_ g: Graph) -> Int {
        g.nodes.filter { $0.phase == .backward }.reduce(0) { $0 + g.macs(of: $1) }
    }

    func nodes(_ g: Graph, _ op: (Op) -> Bool, phase: Phase = .backward) -> [Node] {
        g.nodes.filter { $0.phase == phase && op($0.op) }
    }

    @Test func trainModeAndLoss() throws {
        let g = try Training.graph(Training.forward("mobilenet_v2", batch: 4), Training.config(.fft))
        #expect(!g.nodes.contains { if case .batchNorm = $0.op { true } else { false } })
        #expect(!g.nodes.contains { $0.op == .dropout(p: 0.2) })
        #expect(g.nodes.contains { $0.op == .nativeDropout(p: 0.2) })
        let labels = try #require(g.inputs.last)
        #expect(g[labels].name == "labels" && g[labels].type == .i64([4]))
        let loss = try #require(g.nodes.first { $0.name == "loss" })
        #expect(loss.op == .softmaxCrossEntropy && loss.phase == .forward)
        #expect(g.outputs == loss.outputs.array)
        #expect(Verifier.verify(g).filter { $0.severity == .error }.isEmpty)
        let r18 = try Training.graph(Training.forward("resnet18"), Training.config(.head))
        #expect(r18.nodes.contains { if case .maxPool2dWithIndices = $0.op { true } else { false } })
        #expect(r18.nodes.allSatisfy { if case .batchNorm = $0.op { false } else { true } })
    }

    @Test func resnet18FFTBackwardIsTwiceForwardLessTheStemInputGradient() throws {
        let forward = try Training.forward("resnet18")
        let g = try Training.graph(forward, Training.config(.fft))
        let stem = try #require(forward.nodes.first { $0.name == "conv1" })
        #expect(backwardMACs(g) == 2 * forward.macs - forward.macs(of: stem))
        #expect(!g.nodes.contains { $0.name == "conv1.grad_input" })
        #expect(nodes(g, { if case .conv2dGradWeight = $0 { true } else { false } }).count == 20)
        #expect(nodes(g, { if case .conv2dGradInput = $0 { true } else { false } }).count == 19)
    }

    @Test func mobilenetV2FFTBackwardHasNoDepthwiseOvercount() throws {
        let forward = try Training.forward("mobilenet_v2")
        let g = try Training.graph(forward, Training.config(.fft))
        let stem = try #require(forward.nodes.first { if case .conv2d = $0.op { true } else { false } })
        #expect(backwardMACs(g) == 2 * forward.macs - forward.macs(of: stem))
    }

    @Test func headOnlyBackwardIsTheHeadWeightGradient() throws {
        for model in ["resnet18", "mobilenet_v2"] {
            let forward = try Training.forward(model, batch: 8)
            let g = try Training.graph(forward, Training.config(.head))
            let head = forward.nodes[try #require(Freeze.headNodes(forward).first)]
            #expect(backwardMACs(g) == forward.macs(of: head))
            let names = Set(g.nodes.filter { $0.phase == .backward }.map(\.name))
            #expect(names == ["loss.grad", "\(head.name).grad_weight", "\(head.name).grad_bias"], "\(model)")
        }
    }

    @Test func bnhHasNoConvWeightGradients() throws {
        let g = try Training.graph(Training.forward("resnet18"), Training.config(.bnh))
        #expect(nodes(g, { if case .conv2dGradWeight = $0 { true } else { false } }).isEmpty)
        // bn1 is the lowest trainable layer: nothing below it needs a gradient.
        #expect(!g.nodes.contains { $0.name == "conv1.grad_input" || $0.name == "conv1.grad_weight" })
        #expect(g.nodes.contains { $0.name == "bn1.grad" })
        let grads = Autodiff.gradients(in: g)
        #expect(grads.gradients.count == g.learnableParameters.filter { g[$0].isTrainable }.count)
    }

    /// Gradients are recorded, not looked up by name: renaming every node and value, with non-ASCII
    /// names (decomposed and precomposed), finds the same gradients.
    @Test func gradientsFoundWithNonASCIINames() throws {
        let g = try Training.graph(Training.forward("resnet18"), Training.config(.fft))
        let ascii = Autodiff.gradients(in: g).gradients
        #expect(!ascii.isEmpty)
        // Every name gets a decomposed "é" in front.
        var renamed = g
        for i in renamed.nodes.indices { renamed.nodes[i].name = "e\u{301}" + renamed.nodes[i].name }
        for i in renamed.values.indices { renamed.values[i].name = "e\u{301}" + renamed.values[i].name }
        #expect(Autodiff.gradients(in: renamed).gradients == ascii)
        // Only the backward names non-ASCII (precomposed), the rest ASCII: still found.
        var mixed = g
        for i in mixed.nodes.indices where mixed.nodes[i].phase == .backward {
            mixed.nodes[i].name = "\u{E9}" + mixed.nodes[i].name
        }
        for i in mixed.nodes.indices where mixed.nodes[i].phase != .backward {
            mixed.nodes[i].name = "e\u{301}" + mixed.nodes[i].name
        }
        for i in mixed.values.indices { mixed.values[i].name = "e\u{301}" + mixed.values[i].name }
        #expect(Autodiff.gradients(in: mixed).gradients == ascii)
    }

    @Test func selectorsStartTheBackwardAtTheLowestTrainableLayer() throws {
        let g = try Training.graph(Training.forward("resnet18"), Training.config(.head, train: ["layer4.1.*"]))
        let backward = g.nodes.filter { $0.phase == .backward }
        #expect(
            backward.allSatisfy {
                $0.name.hasPrefix("layer4.1.") || $0.name.hasPrefix("fc.")
                    || $0.name.hasPrefix("avgpool") || $0.name.hasPrefix("flatten") || $0.name == "loss.grad"
            })
        #expect(!g.nodes.contains { $0.name == "layer4.1.conv1.grad_input" })
        #expect(g.nodes.contains { $0.name == "layer4.1.conv1.grad_weight" })
    }

    @Test func accumulationAtResidualJoins() throws {
        let g = try Training.graph(Training.forward("resnet18"), Training.config(.fft))
        // layer1.0's input (the max pool output) feeds conv1 and the identity add.
        let sum = try #require(g.nodes.first { $0.name == "maxpool.0.grad_sum" })
        #expect(sum.op == .add && sum.phase == .backward && sum.scope == "layer1.0")
        for node in g.nodes where node.phase == .backward {
            #expect(node.name.contains(".grad"), "\(node.name)")
        }
    }

    /// The tiny convnet of Fixtures/tiny_convnet_pytorch.json, named as its state dict.
    static func tinyConvnet() throws -> Graph {
        var b = GraphBuilder(name: "tiny_convnet")
        var x = b.input("input", .f32([2, 3, 8, 8]))
        x = try b.conv2d(x, out: 8, kernel: Pair(3), padding: Pair(1), name: "conv1")
        x = try b.batchNorm(x, name: "bn1")
        x = try b.apply(.relu, x, name: "relu1")
        x = try b.conv2d(x, out: 8, kernel: Pair(3), padding: Pair(1), groups: 8, name: "conv2")
        x = try b.batchNorm(x, name: "bn2")
        x = try b.apply(.relu, x, name: "relu2")
        x = try b.apply(.adaptiveAvgPool2d(output: Pair(1)), x, name: "pool")
        x = try b.apply(.flatten(startDim: 1), x, name: "flatten")
        x = try b.linear(x, out: 4, name: "fc")
        b.output(x)
        return b.graph
    }

    @Test func tinyConvnetGradientsAreExactlyPyTorchs() throws {
        let json = try #require(try Training.fixture("tiny_convnet_pytorch") as? [String: Any])
        let f32 = try #require(json["float32"] as? [String: Any])
        let fft = try #require(f32["fft"] as? [String: Any])
        let expected = try #require(fft["grads"] as? [String: [String: Any]])
        let g = try Training.graph(Self.tinyConvnet(), Training.config(.fft))
        let grads = Autodiff.gradients(in: g).byName(in: g)
        #expect(Set(grads.keys) == Set(expected.keys))
        for (name, grad) in grads {
            #expect(g[grad].type.shape.array == expected[name]?["shape"] as? [Int], "\(name)")
            #expect(g.nodes[try #require(g.producer(of: grad))].phase == .backward)
        }
        let bnh = try Training.graph(Self.tinyConvnet(), Training.config(.bnh))
        #expect(
            Set(Autodiff.gradients(in: bnh).byName(in: bnh).keys)
                == Set(try #require(f32["bnh_trainable"] as? [String])))
    }

    @Test func broadcastMulReducesWithSumTo() throws {
        var g = try Builders.squeezeExcitation()
        let labels = try Autodiff().run(Freeze(TrainingConfig(method: .fft)).run(flattened(g)))
        g = labels
        let scope = "features.4.block.2"
        let sum = try #require(g.nodes.first { $0.name == "\(scope).mul.grad_input" })
        #expect(sum.op == .sumTo(shape: [2, 16, 1, 1]))
        #expect(g.nodes.contains { $0.name == "\(scope).mul.grad_input.full" && $0.op == .mul })
        #expect(
            Set(Autodiff.gradients(in: g).byName(in: g).keys)
                == [
                    "\(scope).fc1.weight", "\(scope).fc1.bias", "\(scope).fc2.weight", "\(scope).fc2.bias",
                    "head.fc.weight", "head.fc.bias",
                ])
    }

    /// Appends a classifier so a feature-map graph ends in logits.
    func flattened(_ graph: Graph) throws -> Graph {
        var r = GraphRewriter(graph)
        for i in graph.nodes.indices { try r.copy(i) }
        var b = r.builder
        let pooled = try b.apply(.adaptiveAvgPool2d(output: Pair(1)), r.mapped(graph.outputs[0]), name: "head.pool")
        let flat = try b.apply(.flatten(startDim: 1), pooled, name: "head.flatten")
        b.output(try b.linear(flat, out: 3, name: "head.fc"))
        return b.graph
    }

    /// DoRA's weight-space composition on one conv: only A, B and the magnitude get gradients, and the
    /// norm is not differentiated.
    @Test func weightSpaceRules() throws {
        var b = GraphBuilder(name: "dora")
        let x = b.input("input", .f32([2, 4, 6, 6]))
        let w = b.parameter("conv.weight", [8, 4, 3, 3], role: .weight, trainable: false)
        let a = b.parameter("conv.lora_A.weight", [2, 4, 3, 3], role: .loraA)
        let bb = b.parameter("conv.lora_B.weight", [8, 2, 1, 1], role: .loraB)
        let m = b.parameter("conv.lora_magnitude_vector", [8, 1, 1, 1], role: .doraMagnitude)
        let b2 = try b.apply(.reshape(shape: [8, 2]), bb, name: "conv.dora.b")
        let a2 = try b.apply(.reshape(shape: [2, 36]), a, name: "conv.dora.a")
        let delta = try b.apply(
            .reshape(shape: [8, 4, 3, 3]),
            b.apply(
                .matmul(transposeA: false, transposeB: false), b2, a2,
                name: "conv.dora.ba"), name: "conv.dora.delta")
        let v = try b.apply(.add, w, b.apply(.scale(0.5), delta, name: "conv.dora.scale"), name: "conv.dora.v")
        let n = try b.apply(.channelNorm, v, name: "conv.dora.norm")
        let wPrime = try b.apply(.mul, b.apply(.div, v, n, name: "conv.dora.dir"), m, name: "conv.dora.w")
        var y = try b.apply(.conv2d(Conv2dAttrs(padding: Pair(1))), x, wPrime, name: "conv")
        y = try b.apply(.adaptiveAvgPool2d(output: Pair(1)), y, name: "pool")
        y = try b.apply(.flatten(startDim: 1), y, name: "flatten")
        let w2 = b.parameter("fc.weight", [3, 8], role: .weight, trainable: false)
        b.output(try b.apply(.matmul(transposeA: false, transposeB: true), y, w2, name: "fc"))
        let g = try PassPipeline([Autodiff()]).run(b.graph)
        let grads = Autodiff.gradients(in: g).byName(in: g)
        #expect(Set(grads.keys) == ["conv.lora_A.weight", "conv.lora_B.weight", "conv.lora_magnitude_vector"])
        for (name, grad) in grads {
            #expect(g[grad].type == g[try #require(g.parameters.first { g[$0].name == name })].type, "\(name)")
        }
        #expect(!g.nodes.contains { $0.name.hasPrefix("conv.dora.norm.grad") })
        #expect(!g.nodes.contains { $0.name == "conv.dora.dir.grad_other" })
        #expect(!g.nodes.contains { $0.name == "conv.grad_input" || $0.name == "fc.grad_other" })
        #expect(g.nodes.contains { $0.name == "conv.dora.w.grad_other" && $0.op == .sumTo(shape: [8, 1, 1, 1]) })
        // The frozen base weight gets no gradient; the add passes the gradient through to the scale.
        #expect(!g.nodes.contains { $0.name.hasPrefix("conv.dora.v.grad") })
        #expect(g.nodes.contains { $0.name == "conv.dora.scale.grad" })
    }

    @Test func matmulAndDivGradientsForEveryTransposeCombination() throws {
        for ta in [false, true] {
            for tb in [false, true] {
                var b = GraphBuilder(name: "mm")
                let x = b.input("input", .f32([3, 5]))
                let aShape: Shape = ta ? [5, 3] : [3, 5]
                let p = b.parameter("p", aShape, role: .weight)
                let q = b.parameter("q", tb ? [4, 5] : [5, 4], role: .weight)
                let d = b.parameter("d", [1, 4], role: .weight)
                let lhs = try b.apply(.add, ta ? b.apply(.reshape(shape: [5, 3]), x, name: "t") : x, p, name: "lhs")
                let mm = try b.apply(.matmul(transposeA: ta, transposeB: tb), lhs, q, name: "mm")
                b.output(try b.apply(.div, mm, d, name: "logits"))
                let g = try PassPipeline([Autodiff()]).run(b.graph)
                let grads = Autodiff.gradients(in: g).byName(in: g)
                #expect(Set(grads.keys) == ["p", "q", "d"])
                for (name, grad) in grads {
                    #expect(g[grad].type == g[try #require(g.parameters.first { g[$0].name == name })].type)
                }
            }
        }
    }

    @Test func errors() throws {
        var g = try Training.forward("small_resnet", size: 32)
        g.outputs.append(g.outputs[0])
        #expect(throws: Diagnostic.self) { try Autodiff().run(g) }
        let trained = try Training.graph(Training.forward("small_resnet", size: 32), Training.config(.fft))
        do {
            _ = try Autodiff().run(trained)
            Issue.record("differentiated twice")
        } catch let d as Diagnostic {
            #expect(d.id == "already-differentiated")
        }
        // Gradient ops have no VJP: a clear error, not a crash.
        var b = GraphBuilder(name: "bad")
        let x = b.input("input", .f32([2, 4]))
        let w = b.parameter("w", [4], role: .weight)
        let y = try b.apply(.add, x, w, name: "y")
        b.output(try b.apply(.activationGrad(.relu), y, y, name: "odd"))
        do {
            _ = try Autodiff().run(b.graph)
            Issue.record("no error")
        } catch let e as NoGradientRule {
            #expect(e.description.contains("'odd'"))
        }
    }
}
