// merge-adapters: merging what lora/dora inserted gives back the original forward graph (== modulo
// trainable flags), for every zoo model, head mode and depthwise adapters; unknown adapter uses and
// training graphs are refused.
import Foundation
import GraphIR
import Testing

@testable import Passes

@Suite struct MergeAdaptersTests {
    @Test(arguments: Adapters.zooNames, [FineTuningMethod.lora, .dora])
    func mergedGraphIsTheOriginal(model: String, method: FineTuningMethod) throws {
        let base = try Adapters.zoo(model, input: model.hasPrefix("small_") ? [1, 28, 28] : [3, 224, 224])
        for head in HeadMode.allCases {
            let config = Adapters.config(method, rank: 4, head: head)
            let adapted = try Adapters.adapt(base, config)
            let merged = try PassPipeline([MergeAdapters()]).run(adapted)
            #expect(Adapters.withoutFlags(merged) == Adapters.withoutFlags(base), "\(model) \(method) head \(head)")
            #expect(merged.parameters.allSatisfy { !(merged[$0].role?.isAdapter ?? false) })
            let merges = try MergeAdapters.merges(in: adapted)
            let plan = try method == .dora ? DoRA.plan(base, config: config) : LoRA.plan(base, config: config)
            #expect(merges.map(\.layer) == plan.adapted.map(\.name))
            #expect(merges.allSatisfy { $0.method == method && $0.weight == "\($0.layer).weight" })
            // Trainable flags carry over: the adapted bases stay frozen.
            #expect(
                merged.trainableParameterCount
                    == (head == .train
                        ? adapted.trainableParameterCount
                            - plan.adapterParameterCount : 0))
        }
    }

    @Test(arguments: [FineTuningMethod.lora, .dora])
    func mergesDepthwiseAdapters(method: FineTuningMethod) throws {
        let base = try Adapters.singleConv(cin: 4, out: 4, padding: 1, dilation: 1, groups: 4)
        let adapted = try Adapters.adapt(base, Adapters.config(method, rank: 4, head: .frozen, adaptDepthwise: true))
        #expect(Adapters.withoutFlags(try MergeAdapters().run(adapted)) == Adapters.withoutFlags(base))
    }

    @Test func graphWithoutAdaptersIsUnchanged() throws {
        let base = try Adapters.zoo("small_mobilenet", input: [1, 28, 28])
        #expect(try MergeAdapters().run(base) == base)
        #expect(try MergeAdapters.merges(in: base).isEmpty)
    }

    @Test func refusesUnrecognisedAdapterUses() throws {
        // An adapter parameter read by a node merge-adapters does not know.
        var b = GraphBuilder(name: "odd")
        let x = b.input("input", .f32([1, 4]))
        let a = b.parameter("fc.lora_A.weight", [2, 4], role: .loraA)
        let y = try b.apply(.linear, x, a, name: "side")
        b.output(y)
        let e = try #require(throws: Diagnostic.self) { try MergeAdapters().run(b.graph) }
        #expect(e.id == "merge-unrecognised" && e.message.contains("'side'"))
        // A LoRA layer whose scale node is also read elsewhere.
        let adapted = try Adapters.adapt(try Adapters.singleConv(), Adapters.config(.lora, rank: 2, head: .frozen))
        var g = adapted
        let scale = try #require(Adapters.node(g, "conv.lora_scale"))
        g.outputs.append(scale.outputs[0])
        let e2 = try #require(throws: Diagnostic.self) { try MergeAdapters().run(g) }
        #expect(e2.id == "merge-unrecognised")
    }

    @Test func refusesTrainingGraphs() throws {
        var g = try Adapters.adapt(try Adapters.singleConv(), Adapters.config(.lora, rank: 2, head: .frozen))
        g.nodes[g.nodes.count - 1].phase = .backward
        let e = try #require(throws: Diagnostic.self) { try MergeAdapters().run(g) }
        #expect(e.id == "merge-training-graph")
    }
}
