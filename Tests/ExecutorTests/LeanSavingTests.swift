// `--saving lean`: each rule on a small graph (a frozen conv's input is not kept; a ReLU output only its
// gradient reads becomes a 1-bit mask of ceil(n/8) bytes; a ReLU output a trainable conv reads stays),
// the mask kernels against relu_grad, and the lean graph's gradients against the pytorch policy's.
import Executor
import Foundation
import GraphIR
import GraphTestSupport
import Passes
import Testing

@Suite struct LeanSavingTests {
    /// conv1 → bn1 → relu1 → conv2 → bn2 → relu2 → pool → fc, batch 2, 3x5x5 (50 elements per relu
    /// channel plane pair: 2·4·5·5 = 200 bits, 25 bytes per mask; conv2's output 2·6·5·5).
    static func net() throws -> Graph {
        var b = GraphBuilder(name: "lean_net")
        var x = b.input("input", .f32([2, 3, 5, 5]))
        x = try b.conv2d(x, out: 4, kernel: Pair(3), padding: Pair(1), name: "conv1")
        x = try b.batchNorm(x, name: "bn1")
        x = try b.apply(.relu, x, name: "relu1")
        x = try b.conv2d(x, out: 6, kernel: Pair(3), padding: Pair(1), name: "conv2")
        x = try b.batchNorm(x, name: "bn2")
        x = try b.apply(.relu, x, name: "relu2")
        x = try b.apply(.adaptiveAvgPool2d(output: Pair(1)), x, name: "pool")
        x = try b.apply(.flatten(startDim: 1), x, name: "flatten")
        x = try b.linear(x, out: 3, name: "fc")
        b.output(x)
        return b.graph
    }

    static func step(_ method: FineTuningMethod, _ saving: SavingPolicy, bn: BatchNormMode = .train) throws -> Graph {
        var c = TrainingConfig(method: method)
        c.saving = saving
        c.bn = bn
        c.optimizer = .sgd
        return try TrainingCompiler.compile(net(), config: c)
    }

    func node(_ g: Graph, _ name: String) throws -> Node { try #require(g.nodes.first { $0.name == name }) }

    @Test func theLeanPassRunsOnlyUnderLean() {
        var c = TrainingConfig(method: .bnh)
        #expect(!TrainingCompiler.passes(for: c).map(\.name).contains("lean-saving"))
        c.saving = .lean
        #expect(
            TrainingCompiler.passes(for: c).map(\.name) == ["freeze", "autodiff", "lean-saving", "optimizer", "dce"])
    }

    @Test func aFrozenConvKeepsNoInputAndAReluKeepsAMask() throws {
        let pytorch = try Self.step(.bnh, .pytorch), lean = try Self.step(.bnh, .lean)
        // bnh: conv2 is frozen, its input relu1 needs a gradient. PyTorch keeps relu1's output (conv2
        // saves its input, threshold_backward its result); lean keeps a mask of it.
        let relu1 = try node(lean, "relu1"), mask = try node(lean, "relu1.mask")
        #expect(mask.op == .reluMask && mask.inputs == relu1.outputs)
        #expect(lean[mask.outputs[0]].type == TensorType(.mask, [2, 4, 5, 5]))
        #expect(lean[mask.outputs[0]].type.byteCount == 25)
        #expect(try node(lean, "relu1.grad").op == .reluMaskGrad)
        let live = Liveness(lean, saving: .lean), ref = Liveness(pytorch, saving: .pytorch)
        #expect(live[relu1.outputs[0]].category == .temporary)
        #expect(live[mask.outputs[0]].category == .activation)
        #expect(ref[try node(pytorch, "relu1").outputs[0]].category == .activation)
        // relu2 feeds the pool, whose gradient reads its input (for the shape): it keeps its output.
        #expect(lean.nodes.first { $0.name == "relu2.mask" } == nil)
        #expect(try node(lean, "relu2.grad").op == .activationGrad(.relu))
        // Saved bytes: relu1's output (800) becomes 25 bytes; nothing else changes but the loss's entries
        // (log_softmax's copy and total weight under pytorch, the logits under lean: 24 + 4 vs 24).
        #expect(ref.savedActivationBytes - live.savedActivationBytes == 800 - 25 + 4)
    }

    @Test func aTrainableConvKeepsTheReluOutput() throws {
        // fft: conv2's weight gradient reads relu1's output, so a mask would only add bytes.
        let lean = try Self.step(.fft, .lean)
        #expect(lean.nodes.first { $0.op == .reluMask } == nil)
        #expect(try node(lean, "relu1.grad").op == .activationGrad(.relu))
    }

    @Test func aFrozenAffineWithFrozenStatisticsKeepsNothing() throws {
        // head with frozen statistics: no BN reads its input, no conv its input, relu1 keeps a mask.
        var c = TrainingConfig(method: .head)
        c.saving = .lean
        c.bn = .frozen
        c.train = ["conv1.*"]
        let g = try TrainingCompiler.compile(Self.net(), config: c)
        let live = Liveness(g, saving: .lean)
        for name in ["bn1", "bn2"] {
            #expect(live[try node(g, name).inputs[0]].category == .temporary, "\(name)")
        }
        #expect(g.nodes.contains { $0.name == "relu1.mask" })
    }

    @Test(arguments: [7, 8, 61]) func maskKernelsMatchReluGrad(_ n: Int) throws {
        var rng = SplitMix64(seed: UInt64(n))
        let x = Exec.random([n], &rng), dy = Exec.random([n], &rng)
        x.view.f32[0] = 0
        let y = try Exec.apply1(.relu, x)
        let mask = try Exec.apply1(.reluMask, y)
        #expect(mask.view.byteCount == (n + 7) / 8)
        for i in 0..<n { #expect((mask.view.mask[i / 8] >> UInt8(i % 8)) & 1 == (y.floats[i] > 0 ? 1 : 0)) }
        let expected = try Exec.apply1(.activationGrad(.relu), dy, y)
        let actual = try Exec.apply1(.reluMaskGrad, dy, mask)
        #expect(actual.floats.map(\.bitPattern) == expected.floats.map(\.bitPattern))
    }

    @Test(arguments: [BatchNormMode.train, .frozen]) func gradientsEqualThePyTorchPolicys(_ bn: BatchNormMode) throws {
        func gradients(_ saving: SavingPolicy) throws -> [String: [Float]] {
            var c = TrainingConfig(method: .bnh)
            c.saving = saving
            c.bn = bn
            let passes = TrainingCompiler.passes(for: c).filter { $0.name != "optimizer" && $0.name != "dce" }
            let g = try PassPipeline(passes).run(Self.net())
            var rng = SplitMix64(seed: 5)
            var runner = ReferenceRunner(g)
            for id in g.parameters {
                let v = g[id]
                let lo: Float = v.role == .runningVar ? 0.5 : -1, hi: Float = v.role == .runningVar ? 2 : 1
                try runner.setParameter(
                    v.name, (0..<v.type.elementCount).map { _ in Float.random(in: lo..<hi, using: &rng) })
            }
            let run = try runner.run([Exec.random([2, 3, 5, 5], &rng), HostTensor([2], labels: [1, 2])])
            return try Autodiff.gradients(in: g).byName(in: g).mapValues { try #require(run[$0]).floats }
        }
        let pytorch = try gradients(.pytorch), lean = try gradients(.lean)
        #expect(Set(pytorch.keys) == Set(lean.keys) && pytorch.count == 6)
        for (name, p) in pytorch {
            let l = try #require(lean[name])
            #expect(Exec.relativeError(l, p.map(Double.init)) <= 1e-6, "\(name)")
        }
    }
}
