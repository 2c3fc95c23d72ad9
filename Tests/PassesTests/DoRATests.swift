// DoRA: trainable counts against torchvision + peft (fixture), the weight-space structure (ΔW by
// matmul, channel_norm on V, magnitude, one conv per adapted layer), extra forward MACs, depthwise.
import Foundation
import GraphIR
import Testing

@testable import Passes

@Suite struct DoRATests {
    @Test(arguments: LoRATests.fixtureModels, [1, 4, 8, 16, 32])
    func fixtureCountsWithAdaptedHead(model: (String, String), rank: Int) throws {
        let expected = try #require(try Adapters.fixtureCounts(model.1)["dora_r\(rank)"])
        let g = try Adapters.adapt(try Adapters.zoo(model.0), Adapters.config(.dora, rank: rank, head: .lora))
        #expect(g.trainableParameterCount == expected)
    }

    @Test(arguments: [("resnet18", 297_314), ("mobilenet_v2", 171_426)])
    func countsWithTrainedHead(model: String, expected: Int) throws {
        let g = try Adapters.adapt(try Adapters.zoo(model), Adapters.config(.dora, rank: 8, head: .train))
        #expect(g.trainableParameterCount == expected)
    }

    @Test func sharesLoRAsPlan() throws {
        let base = try Adapters.zoo("mobilenet_v2")
        let config = Adapters.config(.dora, rank: 8, head: .lora)
        let dora = try DoRA.plan(base, config: config), lora = try LoRA.plan(base, config: config)
        #expect(dora.adapted.map(\.name) == lora.adapted.map(\.name))
        #expect(dora.excluded.map(\.name) == lora.excluded.map(\.name))
        // DoRA adds the magnitude: one entry per output channel.
        #expect(zip(dora.adapted, lora.adapted).allSatisfy { $0.adapterParameters == $1.adapterParameters + $0.rows })
        #expect(dora.method == .dora)
    }

    @Test func resnet18Structure() throws {
        let base = try Adapters.zoo("resnet18")
        let config = Adapters.config(.dora, rank: 8, head: .lora, alpha: 16)
        let g = try Adapters.adapt(base, config)
        let plan = try DoRA.plan(base, config: config)
        // Exactly one conv per base conv: DoRA never runs the base conv twice (peft does).
        #expect(Adapters.convs(g).count == Adapters.convs(base).count)
        #expect(g.nodes.filter { $0.op == .linear }.count == 1)
        for layer in plan.adapted {
            let name = layer.name
            let baseNode = try #require(Adapters.node(g, name))
            let wID = try #require(g.parameters.first { g[$0].name == "\(name).weight" })
            let w = g[wID]
            #expect(!w.isTrainable)
            func node(_ part: String) throws -> Node { try #require(Adapters.node(g, "\(name).dora_\(part)")) }
            let v = try node("V"), norm = try node("norm"), dir = try node("direction"), wp = try node("weight")
            let scale = try node("scale"), ba = try node("BA")
            for n in [v, norm, dir, wp, scale, ba] { #expect(n.scope == baseNode.scope) }
            #expect(ba.op == .matmul(transposeA: false, transposeB: false))
            #expect(scale.op == .scale(2))
            #expect(v.op == .add && v.inputs[0] == wID && v.inputs[1] == scale.outputs[0])
            #expect(norm.op == .channelNorm && norm.inputs == v.outputs)
            #expect(dir.op == .div && dir.inputs == [v.outputs[0], norm.outputs[0]])
            let m = try #require(g.parameters.first { g[$0].name == "\(name).lora_magnitude_vector" })
            #expect(g[m].role == .doraMagnitude && g[m].isTrainable)
            #expect(wp.op == .mul && wp.inputs == [dir.outputs[0], m])
            // The base layer reads W' (and its own bias).
            #expect(baseNode.inputs[1] == wp.outputs[0])
            #expect(g[wp.outputs[0]].type == w.type)
            if case .conv2d = baseNode.op {
                #expect(g[m].type.shape == [w.type.shape[0], 1, 1, 1])
                let delta = try node("delta")
                #expect(delta.op == .reshape(shape: w.type.shape) && scale.inputs == delta.outputs)
                #expect(try node("B").op == .reshape(shape: [layer.rows, 8]))
                #expect(try node("A").op == .reshape(shape: [8, layer.columns]))
            } else {
                #expect(g[m].type.shape == [10, 1])
                #expect(scale.inputs == ba.outputs && Adapters.node(g, "\(name).dora_delta") == nil)
                #expect(g[baseNode.inputs[2]].isTrainable == false)
            }
        }
    }

    /// ΔW = B·A costs C_out·r·n MACs per adapted layer, independent of the batch and the image size.
    @Test func extraForwardMACs() throws {
        let base = try Adapters.zoo("resnet18")
        let config = Adapters.config(.dora, rank: 8, head: .lora)
        let g = try Adapters.adapt(base, config)
        let plan = try DoRA.plan(base, config: config)
        let expected = plan.adapted.reduce(0) { $0 + $1.rows * 8 * $1.columns }
        #expect(g.macs - base.macs == expected)
        // = r · (adapted weights' elements) = 8 · (11,166,912 conv + 5,120 head weights), +4.9%.
        #expect(expected == 89_376_256)
    }

    @Test func dilatedConvAndBias() throws {
        let base = try Adapters.singleConv(stride: 2, padding: 2, dilation: 2, bias: true)
        let g = try Adapters.adapt(base, Adapters.config(.dora, rank: 4, head: .frozen))
        let conv = try #require(Adapters.node(g, "conv"))
        #expect(conv.op == .conv2d(Conv2dAttrs(stride: Pair(2), padding: Pair(2), dilation: Pair(2))))
        #expect(g[conv.inputs[2]].name == "conv.bias" && !g[conv.inputs[2]].isTrainable)
        #expect(g.trainableParameterCount == 4 * 72 + 8 * 4 + 8)
    }

    @Test func adaptDepthwise() throws {
        let base = try Adapters.singleConv(cin: 4, out: 4, padding: 1, dilation: 1, groups: 4, bias: false)
        let config = Adapters.config(.dora, rank: 8, head: .frozen, adaptDepthwise: true)
        let g = try Adapters.adapt(base, config)
        #expect(g.trainableParameterCount == 8 * 9 + 4 * 2 + 4)
        let ba = try #require(Adapters.node(g, "conv.dora_BA"))
        #expect(ba.op == .conv2d(Conv2dAttrs(groups: 4)))
        #expect(g[ba.inputs[0]].type.shape == [1, 8, 3, 3])
        #expect(try #require(Adapters.node(g, "conv.dora_delta")).op == .reshape(shape: [4, 1, 3, 3]))
        #expect(Adapters.convs(g).count == 2)
        let error = try #require(throws: DiagnosticError.self) {
            try DoRA.plan(base, config: Adapters.config(.dora, rank: 6, head: .frozen, adaptDepthwise: true))
        }
        #expect(error.diagnostics.map(\.id) == ["depthwise-rank"])
        // DoRA's count includes the magnitude: 6·9 + 6 + 4 at rank 6; 4·10 + 4 at rank 4.
        #expect(error.description.contains("its adapter would add 64 at rank 6, and 44 at the smallest valid rank 4"))
    }
}
