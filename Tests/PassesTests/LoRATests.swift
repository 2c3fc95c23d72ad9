// LoRA: trainable counts against torchvision + peft (fixture), graph structure and names, dilation,
// depthwise exclusion and --adapt-depthwise, head modes, rank errors, and the extra forward MACs.
import Foundation
import GraphIR
import Testing

@testable import Passes

@Suite struct LoRATests {
    static let fixtureModels = [("resnet18", "resnet18_224_nc10"), ("mobilenet_v2", "mobilenet_v2_224_nc10")]

    @Test(arguments: fixtureModels, [1, 4, 8, 16, 32])
    func fixtureCountsWithAdaptedHead(model: (String, String), rank: Int) throws {
        let expected = try #require(try Adapters.fixtureCounts(model.1)["lora_r\(rank)"])
        let g = try Adapters.adapt(try Adapters.zoo(model.0), Adapters.config(.lora, rank: rank, head: .lora))
        #expect(g.trainableParameterCount == expected)
    }

    @Test(arguments: [("resnet18", 292_514), ("mobilenet_v2", 161_506)])
    func countsWithTrainedHead(model: String, expected: Int) throws {
        let g = try Adapters.adapt(try Adapters.zoo(model), Adapters.config(.lora, rank: 8, head: .train))
        #expect(g.trainableParameterCount == expected)
    }

    @Test func resnet18Structure() throws {
        let base = try Adapters.zoo("resnet18")
        let g = try Adapters.adapt(base, Adapters.config(.lora, rank: 8, head: .lora))
        let plan = try LoRA.plan(base, config: Adapters.config(.lora, rank: 8, head: .lora))
        #expect(plan.adapted.count == 21)
        #expect(plan.adapted.filter(\.isHead).map(\.name) == ["fc"])
        #expect(plan.excluded.isEmpty)
        #expect(plan.adapterParameterCount == 291_560)
        let users = g.users()
        for layer in plan.adapted {
            let baseNode = try #require(Adapters.node(g, layer.name))
            let a = try #require(Adapters.node(g, "\(layer.name).lora_A"))
            let b = try #require(Adapters.node(g, "\(layer.name).lora_B"))
            let s = try #require(Adapters.node(g, "\(layer.name).lora_scale"))
            let add = try #require(Adapters.node(g, "\(layer.name).lora_add"))
            for n in [a, b, s, add] { #expect(n.scope == baseNode.scope) }
            #expect(a.inputs[0] == baseNode.inputs[0])
            #expect(
                b.inputs[0] == a.outputs[0] && s.inputs == b.outputs
                    && add.inputs == [baseNode.outputs[0], s.outputs[0]])
            #expect(s.op == .scale(1))
            // The base output's only reader is the add; the add's readers are the base's former ones.
            #expect(users[baseNode.outputs[0].raw].map { g.nodes[$0].name } == [add.name])
            let aw = try #require(Adapters.param(g, "\(layer.name).lora_A.weight"))
            let bw = try #require(Adapters.param(g, "\(layer.name).lora_B.weight"))
            #expect(aw.role == .loraA && aw.isTrainable && bw.role == .loraB && bw.isTrainable)
            #expect(g[baseNode.inputs[1]].isTrainable == false)
            if case let .conv2d(attrs) = baseNode.op {
                let w = g[baseNode.inputs[1]].type.shape
                #expect(aw.type.shape == [8, w[1], w[2], w[3]] && bw.type.shape == [w[0], 8, 1, 1])
                guard case let .conv2d(aAttrs) = a.op, case let .conv2d(bAttrs) = b.op else {
                    Issue.record("A and B of \(layer.name) must be convs"); continue
                }
                #expect(aAttrs == attrs)
                #expect(bAttrs == Conv2dAttrs())
            } else {
                #expect(a.op == .linear && b.op == .linear)
                #expect(aw.type.shape == [8, 512] && bw.type.shape == [10, 8])
                #expect(g[baseNode.inputs[2]].isTrainable == false)
            }
        }
        // The logits come from the head's add.
        #expect(g.nodes[try #require(g.producer(of: g.outputs[0]))].name == "fc.lora_add")
    }

    @Test func keepsDilationStrideAndPadding() throws {
        let base = try Adapters.singleConv(stride: 2, padding: 2, dilation: 2)
        let g = try Adapters.adapt(base, Adapters.config(.lora, rank: 4, head: .frozen, alpha: 8))
        let a = try #require(Adapters.node(g, "conv.lora_A"))
        #expect(a.op == .conv2d(Conv2dAttrs(stride: Pair(2), padding: Pair(2), dilation: Pair(2))))
        #expect(a.scope == "block")
        #expect(try #require(Adapters.node(g, "conv.lora_scale")).op == .scale(2))
        #expect(
            g[try #require(Adapters.node(g, "conv.lora_add")).outputs[0]].type
                == g[Adapters.node(g, "conv")!.outputs[0]].type)
        // Base weight and bias frozen, the adapter alone trainable.
        #expect(g.trainableParameterCount == 4 * 8 * 9 + 8 * 4)
        #expect(Adapters.node(g, "relu")!.inputs == Adapters.node(g, "conv.lora_add")!.outputs)
    }

    @Test func depthwiseExcludedAndReported() throws {
        let base = try Adapters.zoo("mobilenet_v2")
        let plan = try LoRA.plan(base, config: Adapters.config(.lora, rank: 8, head: .train))
        #expect(plan.adapted.count == 35)
        let depthwise = plan.excluded.filter { $0.kind == .depthwiseConv }
        #expect(depthwise.count == 17)
        #expect(depthwise.allSatisfy { $0.reason.group == .depthwiseByDefault })
        #expect(plan.excluded.contains { $0.name == "classifier.1" && $0.reason == .headTrained })
        let report = plan.description
        #expect(report.contains("excluded  features.1.conv.0.0"))
        #expect(report.contains("35 layers adapted, 148,696 adapter parameters"))
        let g = try Adapters.adapt(base, Adapters.config(.lora, rank: 8, head: .train))
        for layer in depthwise {
            #expect(Adapters.node(g, "\(layer.name).lora_A") == nil)
        }
    }

    @Test func adaptDepthwiseWithRankMultipleOfChannels() throws {
        // C = 4, 3x3: ranks 4 and 8 (multiples of C, at most max(C, 9)).
        let base = try Adapters.singleConv(cin: 4, out: 4, stride: 1, padding: 1, dilation: 1, groups: 4)
        for rank in [4, 8] {
            let config = Adapters.config(.lora, rank: rank, head: .frozen, adaptDepthwise: true)
            let plan = try LoRA.plan(base, config: config)
            #expect(plan.adapted.map(\.kind) == [.depthwiseConv])
            #expect(plan.adapted[0].adapterParameters == rank * 9 + rank)
            #expect(plan.adapted[0].lowRank == false)
            let g = try Adapters.adapt(base, config)
            let a = try #require(Adapters.node(g, "conv.lora_A")), b = try #require(Adapters.node(g, "conv.lora_B"))
            #expect(a.op == .conv2d(Conv2dAttrs(padding: Pair(1), groups: 4)))
            #expect(b.op == .conv2d(Conv2dAttrs(groups: 4)))
            #expect(g[a.inputs[1]].type.shape == [rank, 1, 3, 3])
            #expect(g[b.inputs[1]].type.shape == [4, rank / 4, 1, 1])
            #expect(g.trainableParameterCount == rank * 10)
        }
    }

    @Test func adaptDepthwiseRankErrorShowsParameterCounts() throws {
        let base = try Adapters.singleConv(cin: 32, out: 32, padding: 1, dilation: 1, groups: 32, bias: false)
        let config = Adapters.config(.lora, rank: 8, head: .frozen, adaptDepthwise: true)
        let error = try #require(throws: DiagnosticError.self) { try LoRA.plan(base, config: config) }
        #expect(error.diagnostics.map(\.id) == ["depthwise-rank"])
        let text = error.description
        #expect(text.contains("'conv'") && text.contains("multiple of 32, got 8"))
        // Layer 288; adapter at r = 8: 8·9 + 8 = 80; at r = 32: 320.
        #expect(
            text.contains(
                "the layer has 288 parameters; its adapter would add 80 at rank 8, and 320 at the "
                    + "smallest valid rank 32"))
        // On MobileNetV2 every depthwise conv whose channel count does not divide the rank is reported.
        let mobile = try Adapters.zoo("mobilenet_v2")
        let all = try #require(throws: DiagnosticError.self) { try LoRA.plan(mobile, config: config) }
        #expect(all.diagnostics.count == 17 && all.diagnostics.allSatisfy { $0.id == "depthwise-rank" })
    }

    @Test func headModes() throws {
        let base = try Adapters.zoo("resnet18")
        let train = try Adapters.adapt(base, Adapters.config(.lora, rank: 4, head: .train))
        #expect(Adapters.param(train, "fc.weight")?.isTrainable == true && Adapters.node(train, "fc.lora_A") == nil)
        // .frozen: the pass freezes the head even if freeze left it trainable.
        let frozen = try LoRA(Adapters.config(.lora, rank: 4, head: .frozen)).run(
            try Adapters.freeze(base, head: .train))
        #expect(Adapters.param(frozen, "fc.weight")?.isTrainable == false)
        #expect(Adapters.param(frozen, "fc.bias")?.isTrainable == false)
        #expect(frozen.trainableParameterCount == train.trainableParameterCount - 5_130)
        let lora = try LoRA(Adapters.config(.lora, rank: 4, head: .lora)).run(try Adapters.freeze(base, head: .train))
        #expect(Adapters.param(lora, "fc.weight")?.isTrainable == false)
        #expect(Adapters.param(lora, "fc.bias")?.isTrainable == false)
        #expect(Adapters.param(lora, "fc.lora_A.weight")?.type.shape == [4, 512])
    }

    @Test func rankErrors() throws {
        let base = try Adapters.zoo("resnet18")
        for rank in [0, -3] {
            let e = try #require(throws: DiagnosticError.self) {
                try LoRA.plan(base, config: Adapters.config(.lora, rank: rank))
            }
            #expect(e.diagnostics.map(\.id) == ["bad-rank"])
        }
        // conv1: 64 x 147; downsample 1x1 convs: 128 x 64, 256 x 128, 512 x 256; the head 10 x 512.
        let e = try #require(throws: DiagnosticError.self) {
            try LoRA.plan(base, config: Adapters.config(.lora, rank: 200, head: .lora))
        }
        #expect(e.diagnostics.allSatisfy { $0.id == "bad-rank" })
        #expect(e.diagnostics.compactMap(\.node) == ["conv1", "layer2.0.downsample.0"])
        #expect(e.diagnostics[0].message == "rank 200 exceeds max(m, n) = 147 of layer 'conv1' (64x147)")
        // Failing through the pipeline names the pass.
        #expect(throws: PassError.self) { try PassPipeline([LoRA(Adapters.config(.lora, rank: 0))]).run(base) }
        // r = max(m, n) adapts, reported as not low-rank.
        let small = try Adapters.singleConv(cin: 2, out: 4, kernel: 1, padding: 0, dilation: 1)
        let plan = try LoRA.plan(small, config: Adapters.config(.lora, rank: 4, head: .frozen))
        #expect(plan.adapted.map(\.lowRank) == [false])
        #expect(plan.description.contains("not low-rank (r 4 >= min(m, n) = 2)"))
        #expect(throws: DiagnosticError.self) { try LoRA.plan(small, config: Adapters.config(.lora, rank: 5)) }
    }

    @Test func refusesGraphsItCannotAdapt() throws {
        let g = try Adapters.adapt(
            try Adapters.zoo("small_resnet", input: [1, 28, 28]),
            Adapters.config(.lora, rank: 2))
        let e = try #require(throws: DiagnosticError.self) { try LoRA.plan(g, config: Adapters.config(.lora, rank: 2)) }
        #expect(e.diagnostics.map(\.id) == ["already-adapted"])
        var training = try Adapters.singleConv()
        training.nodes[0].phase = .backward
        let t = try #require(throws: DiagnosticError.self) {
            try LoRA.plan(training, config: Adapters.config(.lora, rank: 2, head: .frozen))
        }
        #expect(t.diagnostics.map(\.id) == ["adapt-training-graph"])
        let noHead = try #require(throws: DiagnosticError.self) {
            try DoRA.plan(try Adapters.singleConv(), config: Adapters.config(.dora, rank: 2, head: .lora))
        }
        #expect(noHead.diagnostics.map(\.id) == ["no-head"])
    }

    /// The A and B convs add N·H_out·W_out·r·(n + C_out) MACs per adapted conv (batch 1 here).
    @Test func extraForwardMACs() throws {
        let base = try Adapters.zoo("resnet18")
        let config = Adapters.config(.lora, rank: 8, head: .lora)
        let g = try Adapters.adapt(base, config)
        let plan = try LoRA.plan(base, config: config)
        var expected = 0
        for layer in plan.adapted {
            let out = base[base.nodes[layer.node].outputs[0]].type.shape
            let positions = out.count == 4 ? out[0] * out[2] * out[3] : out[0]
            expected += positions * 8 * (layer.columns + layer.rows)
        }
        #expect(g.macs - base.macs == expected)
        #expect(base.macs == 1_813_566_464)
        // Checked against the fixture's per-layer output shapes: +7.6% over the base's MACs.
        #expect(expected == 137_386_064)
    }
}
