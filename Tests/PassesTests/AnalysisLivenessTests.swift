import GraphIR
import GraphTestSupport
import Passes
import Testing

/// Liveness on `Builders.tinyTrainingStep`, every number worked out by hand (bytes; f32 = 4, i64 = 8).
/// Steps: 0 conv1, 1 bn1, 2 relu, 3 avgpool, 4 flatten, 5 fc, 6 loss, 7 loss.grad, 8 fc.grad_weight,
/// 9 fc.grad_bias, 10 fc.grad_input, 11 flatten.grad, 12 avgpool.grad, 13 relu.grad, 14 bn1.grad,
/// 15 conv1.grad_weight, 16...20 Adam updates (conv1.weight, bn1.weight, bn1.bias, fc.weight, fc.bias).
@Suite struct AnalysisLivenessTests {
    let graph: Graph
    let live: Liveness

    init() throws {
        graph = try Builders.tinyTrainingStep()
        live = Liveness(graph)
    }

    func value(_ name: String) -> ValueID {
        ValueID(graph.values.firstIndex { $0.name == name }!)
    }

    func entry(_ name: String) -> Liveness.Entry { live[value(name)] }

    @Test func categoriesAndIntervals() {
        typealias E = (MemoryCategory, Int, Int, Int)
        let expected: [String: E] = [
            "input": (.input, 384, 0, 20), "labels": (.input, 16, 0, 20),
            "conv1.weight": (.parameterTrainable, 432, 0, 20), "bn1.weight": (.parameterTrainable, 16, 0, 20),
            "bn1.running_mean": (.buffer, 16, 0, 20), "fc.weight.exp_avg_sq": (.optimizerState, 48, 0, 20),
            "conv1": (.activation, 512, 0, 14), "bn1.0": (.temporary, 512, 1, 2),
            "bn1.1": (.activation, 16, 1, 14), "bn1.2": (.activation, 16, 1, 14),
            "relu": (.activation, 512, 2, 13), "avgpool": (.activation, 32, 3, 8),
            "fc": (.activation, 24, 5, 7), "loss": (.temporary, 4, 6, 20),
            "loss.grad": (.temporary, 24, 7, 10), "fc.grad_weight": (.gradient, 48, 8, 19),
            "fc.grad_bias": (.gradient, 12, 9, 20), "fc.grad_input": (.temporary, 32, 10, 12),
            "avgpool.grad": (.temporary, 512, 12, 13), "relu.grad": (.temporary, 512, 13, 14),
            "bn1.grad.0": (.temporary, 512, 14, 15), "bn1.grad.1": (.gradient, 16, 14, 17),
            "bn1.grad.2": (.gradient, 16, 14, 18), "conv1.grad_weight": (.gradient, 432, 15, 16),
        ]
        for (name, (category, bytes, first, last)) in expected {
            let e = entry(name)
            #expect(e.category == category, "\(name)")
            #expect(e.bytes == bytes, "\(name)")
            #expect(e.first == first && e.last == last, "\(name): [\(e.first), \(e.last)]")
            #expect(e.aliasOf == nil, "\(name)")
        }
    }

    @Test func updatesAndViewsAreAliases() {
        // flatten is a view of avgpool; flatten.grad (a reshape) a view of fc.grad_input.
        #expect(entry("flatten").aliasOf == value("avgpool"))
        #expect(entry("flatten").bytes == 0)
        #expect(entry("flatten.grad").aliasOf == value("fc.grad_input"))
        // Adam's results are its parameter and state, updated in place.
        for p in ["conv1.weight", "bn1.weight", "bn1.bias", "fc.weight", "fc.bias"] {
            #expect(entry("\(p).update.0").aliasOf == value(p))
            #expect(entry("\(p).update.1").aliasOf == value("\(p).exp_avg"))
            #expect(entry("\(p).update.2").aliasOf == value("\(p).exp_avg_sq"))
            #expect(entry("\(p).update.0").bytes == 0)
            #expect(entry("\(p).update.0").category == .parameterTrainable)
            #expect(entry("\(p).update.2").category == .optimizerState)
        }
    }

    @Test func peakAndBreakdown() {
        // Persistent: inputs 400, parameters 524, buffers 32, Adam state 2·524.
        #expect(live.timeline.count == 21)
        #expect(live.peakStep == 13)
        var expected = CategoryBytes()
        expected.input = 400
        expected.parameterTrainable = 524
        expected.buffer = 32
        expected.optimizerState = 1048
        expected.activation = 512 + 16 + 16 + 512  // conv1, batch mean, invstd, relu
        expected.gradient = 48 + 12  // fc.grad_weight, fc.grad_bias
        expected.temporary = 4 + 512 + 512  // loss, avgpool.grad, relu.grad
        #expect(live.atPeak == expected)
        #expect(live.peakBytes == 4148)
        let transient = live.timeline.map { $0.gradient + $0.activation + $0.temporary }
        #expect(
            transient == [
                512, 1056, 1568, 1088, 1088, 1112, 1116, 1140, 1164, 1144, 1176, 1152, 1664, 2144,
                1664, 1040, 528, 96, 80, 64, 16,
            ])
    }

    @Test func categoryMaxTotalExceedsPeak() {
        // activation peaks at steps 5-7 (1112), gradient at 15 (524), temporary at 13-14 (1028).
        #expect(live.categoryMax.activation == 1112)
        #expect(live.categoryMax.gradient == 524)
        #expect(live.categoryMax.temporary == 1028)
        #expect(live.categoryMaxTotal == 2004 + 1112 + 524 + 1028)
        #expect(live.categoryMaxTotal > live.peakBytes)
    }

    @Test func savedActivations() throws {
        // PyTorch's rules: conv1's input (the batch, 384) and weight; bn1's input (conv1, 512), gamma, running
        // statistics (buffers, left out) and batch statistics 32; relu's output 512 (also the avgpool's
        // input); fc's input (avgpool via the flatten view) 32; log_softmax's result (2x3 f32) 24 and
        // nll_loss's total weight 4, and the labels 16. Parameters and buffers are not counted.
        #expect(live.saving == .pytorch)
        #expect(live.savedActivationBytes == 512 + 32 + 512 + 32 + 24 + 4)
        #expect(live.savedInputBytes == 384 + 16)
        #expect(live.savedWeightDerivedBytes == 0)
        // Lean: what the backward nodes read: the same, but the logits (24) instead of log_softmax's copy
        // and no total weight.
        let lean = Liveness(graph, saving: .lean)
        #expect(lean.savedActivationBytes == 512 + 32 + 512 + 32 + 24)
        #expect(lean.savedInputBytes == 384 + 16)
    }

    @Test func largestAtPeak() {
        let top = live.largestLiveAtPeak(graph, limit: 4).map(\.name)
        #expect(top == ["conv1", "relu", "avgpool.grad", "relu.grad"])
    }

    @Test func releasingGradientsLowersGradientMemory() throws {
        let released = Liveness(try Builders.tinyTrainingStep(releaseGrads: true))
        #expect(released.categoryMax.gradient < live.categoryMax.gradient)
        #expect(released.peakBytes <= live.peakBytes)
        #expect(released.savedActivationBytes == live.savedActivationBytes)
    }

    @Test func galoreGradientIsTheReshapedValue() throws {
        let g = try Builders.tinyTrainingStep(galore: true)
        let l = Liveness(g)
        func id(_ name: String) -> ValueID { ValueID(g.values.firstIndex { $0.name == name }!) }
        func e(_ name: String) -> Liveness.Entry { l[id(name)] }
        #expect(e("fc.grad_weight").category == .gradient)
        #expect(e("fc.weight.galore.grad").aliasOf == id("fc.grad_weight"))
        // The projector overwrites its state; the projection, direction and back-projection are temporaries.
        #expect(e("fc.weight.galore.projector").aliasOf == id("fc.weight.galore_projector"))
        #expect(e("fc.weight.galore.projector").category == .optimizerState)
        #expect(e("fc.weight.galore.project").category == .temporary)
        #expect(e("fc.weight.galore.adam.0").category == .temporary)
        #expect(e("fc.weight.galore.adam.1").aliasOf == id("fc.weight.exp_avg"))
        #expect(e("fc.weight.galore.adam.2").category == .optimizerState)
        #expect(e("fc.weight.galore.reshape").aliasOf == id("fc.weight.galore.scale"))
        #expect(e("fc.weight.update").aliasOf == id("fc.weight"))
        // State: Adam for 119 elements, GaLore moments 2·2·4 and the 3x2 projector for fc.weight.
        #expect(l.atPeak.optimizerState == 4 * (2 * 119 + 16 + 6))
    }

    @Test func emptyGraph() {
        var b = GraphBuilder(name: "empty")
        _ = b.input("x", .f32([2, 2]))
        let l = Liveness(b.graph)
        #expect(l.steps == 1)
        #expect(l.peakBytes == 16)
        #expect(l.atPeak.input == 16)
    }
}
