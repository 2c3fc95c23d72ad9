// `--bn frozen` end to end on a small net: the training graph keeps `batch_norm` on running statistics,
// its gradients (batch_norm_frozen_grad through the frozen affine) match central finite differences of
// the loss, the running statistics are not updated, and a frozen affine makes the BN read no input.
import Executor
import Foundation
import GraphIR
import GraphTestSupport
import Passes
import Testing

@Suite struct FrozenBatchNormTests {
    /// conv → bn → silu → depthwise conv → bn → silu → pool → fc, batch 2, 3x6x6, 3 classes (smooth, so
    /// that central differences see no kink).
    static func net() throws -> Graph {
        var b = GraphBuilder(name: "frozen_bn_net")
        var x = b.input("input", .f32([2, 3, 6, 6]))
        x = try b.conv2d(x, out: 4, kernel: Pair(3), padding: Pair(1), name: "conv1")
        x = try b.batchNorm(x, name: "bn1")
        x = try b.apply(.silu, x, name: "act1")
        x = try b.conv2d(x, out: 4, kernel: Pair(3), padding: Pair(1), groups: 4, name: "conv2")
        x = try b.batchNorm(x, name: "bn2")
        x = try b.apply(.silu, x, name: "act2")
        x = try b.apply(.adaptiveAvgPool2d(output: Pair(1)), x, name: "pool")
        x = try b.apply(.flatten(startDim: 1), x, name: "flatten")
        x = try b.linear(x, out: 3, name: "fc")
        b.output(x)
        return b.graph
    }

    /// freeze → autodiff with frozen statistics, random parameters (positive running variances).
    static func runner(_ method: FineTuningMethod) throws -> (Graph, ReferenceRunner, [HostTensor]) {
        var config = TrainingConfig(method: method)
        config.bn = .frozen
        let g = try PassPipeline([Freeze(config), Autodiff(bn: .frozen)]).run(net())
        var rng = SplitMix64(seed: 11)
        let runner = ReferenceRunner(g)
        for id in g.parameters {
            let v = g[id]
            let n = v.type.elementCount
            let lo: Float = v.role == .runningVar ? 0.5 : -1, hi: Float = v.role == .runningVar ? 2 : 1
            try runner.setParameter(v.name, (0..<n).map { _ in Float.random(in: lo..<hi, using: &rng) })
        }
        let x = Exec.random([2, 3, 6, 6], &rng)
        return (g, runner, [x, HostTensor([2], labels: [0, 2])])
    }

    @Test func gradientsMatchFiniteDifferences() throws {
        let (g, runner, inputs) = try Self.runner(.fft)
        #expect(g.nodes.contains { if case let .batchNorm(a) = $0.op { !a.training } else { false } })
        #expect(!g.nodes.contains { if case .nativeBatchNorm = $0.op { true } else { false } })
        #expect(g.nodes.filter { if case .batchNormFrozenGrad = $0.op { true } else { false } }.count == 2)
        var r = runner
        let run = try r.run(inputs)
        let grads = Autodiff.gradients(in: g).byName(in: g)
        func loss() throws -> Double {
            var again = runner
            return Double(try #require(try again.run(inputs)["loss"]).floats[0])
        }
        for name in ["conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias", "fc.weight"] {
            let p = try #require(runner.parameter(named: name))
            let analytic = try #require(grads[name].flatMap { run[$0] })
            let err = try Exec.finiteDifferenceError(p, analytic, h: 1e-2, loss: loss)
            // A whole net through a float32 loss: looser than the single-kernel tests (2e-3).
            #expect(err < 5e-3, "\(name): \(err)")
        }
    }

    @Test func runningStatisticsAreNotUpdated() throws {
        let (g, runner, inputs) = try Self.runner(.bnh)
        let names = g.parameters.filter { g[$0].role == .runningMean || g[$0].role == .runningVar }.map { g[$0].name }
        #expect(names.count == 4)
        let before = try names.map { try #require(runner.parameter(named: $0)).floats }
        var r = runner
        _ = try r.run(inputs)
        _ = try r.run(inputs)
        #expect(try names.map { try #require(r.parameter(named: $0)).floats } == before)
    }

    @Test func aFrozenAffineReadsNoInput() throws {
        // head: every BN frozen; their gradients pass dy·γ·invstd back without x.
        var config = TrainingConfig(method: .head)
        config.bn = .frozen
        config.train = ["conv1.*"]
        let g = try PassPipeline([Freeze(config), Autodiff(bn: .frozen)]).run(Self.net())
        let grads = g.nodes.filter { if case .batchNormFrozenGrad = $0.op { true } else { false } }
        #expect(grads.count == 2)
        #expect(grads.allSatisfy { $0.inputs.count == 4 })
        // Under lean the BNs then keep nothing: bn1's input (conv1's output) is read by no backward node
        // (silu reads bn1's output). Under pytorch the BN keeps its input anyway.
        let bn1 = try #require(g.nodes.first { $0.name == "bn1" })
        let lean = Liveness(g, saving: .lean), pytorch = Liveness(g, saving: .pytorch)
        #expect(lean[bn1.inputs[0]].category == .temporary)
        #expect(pytorch[bn1.inputs[0]].category == .activation)
        #expect(pytorch.savedActivationBytes - lean.savedActivationBytes >= g[bn1.inputs[0]].type.byteCount)
    }
}
