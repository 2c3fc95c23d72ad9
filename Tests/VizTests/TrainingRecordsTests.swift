// Training structure is data: the records autodiff, the optimizer and the adapter passes set, and that
// every consumer (optimizer, merge-adapters, liveness, the drawing's marks and labels) reads. Renaming
// every node and value must change none of what they find.
import Foundation
import Frontend
import GraphIR
import Testing

@testable import Passes
@testable import Viz

private func forward(_ model: String = "small_resnet") throws -> Graph {
    try Zoo.compile(model, overrides: ModelOverrides(input: [1, 28, 28], classes: 10, batch: 2)).graph
}

private func config(_ method: FineTuningMethod, releaseGrads: Bool = false) -> TrainingConfig {
    var c = TrainingConfig(method: method)
    c.optimizer = method == .galore ? .adamw : .adam
    c.rank = 4
    c.releaseGrads = releaseGrads
    return c
}

/// `graph` with "_x" appended to every node, value and scope name: nothing structural changes.
private func renamed(_ graph: Graph) -> Graph {
    var g = graph
    for i in g.values.indices { g.values[i].name += "_x" }
    for i in g.nodes.indices {
        g.nodes[i].name += "_x"
        if !g.nodes[i].scope.isEmpty { g.nodes[i].scope += "_x" }
    }
    return g
}

/// Everything but names: ops, operands, results, phases, value kinds and types, the records.
private struct Structure: Equatable {
    var nodes: [String]
    var values: [String]
    var interface: [[ValueID]]
    var records: TrainingRecords

    init(_ g: Graph) {
        nodes = g.nodes.map { "\($0.op) \($0.inputs) \($0.outputs) \($0.phase)" }
        values = g.values.map { "\($0.kind) \($0.type)" }
        interface = [g.inputs, g.parameters, g.outputs]
        records = g.records
    }
}

@Suite struct TrainingRecordsTests {
    static let methods: [FineTuningMethod] = [.fft, .bnh, .head, .lora, .dora, .galore]

    @Test(arguments: methods, [false, true]) func recordsAreSetForEveryMethod(
        _ method: FineTuningMethod,
        _ release: Bool
    ) throws {
        let g = try TrainingCompiler.compile(try forward(), config: config(method, releaseGrads: release))
        #expect(Verifier.verify(g).filter { $0.severity == .error }.isEmpty)
        let r = g.records
        // Every backward node knows what it differentiates.
        for (i, node) in g.nodes.enumerated() where node.phase == .backward {
            #expect(r.origin(ofNode: i) != nil, "\(node.name)")
        }
        var withGradient = 0
        for p in g.parameters {
            let v = g[p]
            guard let grad = r.gradient(of: p) else {
                #expect(!v.isTrainable, "\(v.name) is trainable but has no gradient")
                #expect(r.optimizer(of: p) == nil)
                continue
            }
            withGradient += 1
            #expect(v.isTrainable && g[grad].type == v.type, "\(v.name)")
            let step = try #require(r.optimizer(of: p), "\(v.name)")
            #expect(g.nodes[step.update].phase == .optimizer && g.nodes[step.update].inputs[0] == p)
            #expect(step.state.allSatisfy { g[$0].role?.isOptimizerState == true })
            let expected = method == .galore ? [2, 3] : [2]
            #expect(expected.contains(step.state.count), "\(v.name): \(step.state.count) state values")
            // The update is scheduled after the gradient is complete.
            #expect(g.producer(of: grad)! < step.update)
        }
        #expect(withGradient == g.parameters.filter { g[$0].isTrainable }.count)
        #expect(withGradient > 0)
        let adapterParameters = g.parameters.filter { g[$0].role?.isAdapter == true }
        #expect(adapterParameters.isEmpty == !(method == .lora || method == .dora))
        for p in adapterParameters {
            let a = try #require(r.adapter(ofParameter: p), "\(g[p].name)")
            #expect([OpCategory.conv, .linear].contains(g.nodes[a.layer].op.category), "\(g[p].name)")
            #expect(g[a.weight].role == .weight && !g[a.weight].isTrainable)
        }
        // Round trip through the text.
        let parsed = try IRParser.parse(IRPrinter.print(g), file: "step.gir")
        #expect(parsed == g.renumbered())
    }

    /// The test that failed while structure was read from names.
    @Test(arguments: methods) func renamingChangesNoStructure(_ method: FineTuningMethod) throws {
        var c = config(method, releaseGrads: method == .lora)
        var passes: [any Pass] = [Freeze(c)]
        if method == .lora { passes.append(LoRA(c)) }
        if method == .dora { passes.append(DoRA(c)) }
        let adapted = try PassPipeline(passes).run(try forward())
        let differentiated = try Autodiff().run(adapted)

        // The optimizer finds the same gradients and builds the same step.
        let step = try OptimizerPass(c).run(differentiated)
        let stepOfRenamed = try OptimizerPass(c).run(renamed(differentiated))
        #expect(Structure(step) == Structure(stepOfRenamed))
        #expect(!step.records.isEmpty)
        c.releaseGrads.toggle()
        #expect(
            Structure(try OptimizerPass(c).run(differentiated))
                == Structure(try OptimizerPass(c).run(renamed(differentiated))))

        // Liveness categories.
        #expect(Liveness(step).entries.map(\.category) == Liveness(renamed(step)).entries.map(\.category))
        #expect(Liveness(step).entries.contains { $0.category == .gradient })

        // Merge-adapters finds the same layers.
        if method == .lora || method == .dora {
            let merged = try MergeAdapters().run(adapted)
            let mergedRenamed = try MergeAdapters().run(renamed(adapted))
            #expect(Structure(merged) == Structure(mergedRenamed))
            #expect(merged.parameters.allSatisfy { merged[$0].role?.isAdapter != true })
            #expect(try MergeAdapters.merges(in: renamed(adapted)).count == MergeAdapters.merges(in: adapted).count)
            #expect(try !MergeAdapters.merges(in: adapted).isEmpty)
        }

        // The drawing's marks.
        let marks = TrainingMarks(step), marksRenamed = TrainingMarks(renamed(step))
        #expect(marks.adapter == marksRenamed.adapter)
        #expect(marks.frozen == marksRenamed.frozen)
        #expect(marks.noGradient == marksRenamed.noGradient)
        #expect(marks.updated == marksRenamed.updated)
        if method == .lora || method == .dora {
            #expect(step.nodes.indices.contains { marks.adapter[$0] && step.nodes[$0].phase == .backward })
        }
    }

    /// Records follow rewrites: dce drops those of dropped nodes and renumbers the rest.
    @Test func deadCodeEliminationRemapsRecords() throws {
        let differentiated = try PassPipeline([Freeze(config(.head)), Autodiff()]).run(try forward())
        // Without an optimizer nothing reads the gradients, so dce drops the backward pass and its records.
        let pruned = try DeadCodeElimination().run(differentiated)
        #expect(pruned.nodes.allSatisfy { $0.phase == .forward })
        #expect(pruned.records.isEmpty)
        #expect(Verifier.verify(pruned).filter { $0.severity == .error }.isEmpty)
    }
}
