import GraphIR
import GraphTestSupport
import Passes
import Testing

/// The memory plan and the combined report on `Builders.tinyTrainingStep` (numbers in AnalysisLivenessTests).
@Suite struct AnalysisMemoryReportTests {
    @Test func transientIntervalsAreTheArenaContents() throws {
        let graph = try Builders.tinyTrainingStep()
        let live = Liveness(graph)
        let intervals = live.transientIntervals()
        // Forward: conv1, bn1 ×3, relu, avgpool, fc, loss; backward: loss.grad, fc ×3, avgpool.grad,
        // relu.grad, bn1.grad ×3, conv1.grad_weight. flatten, flatten.grad and the updates are aliases.
        #expect(intervals.allSatisfy { !live[$0.value].category.isPersistent && live[$0.value].aliasOf == nil })
        #expect(intervals.count == 8 + 10)
        // With alignment 1 the lower bound is the transient peak of the timeline.
        #expect(MemoryPlanner.lowerBound(intervals, alignment: 1) == 2144)
        #expect(live.persistentBytes == 2004)
    }

    @Test func reportOfTheTinyStep() throws {
        let graph = try Builders.tinyTrainingStep()
        let report = TrainingReport(graph, alignment: 1)
        #expect(report.params == 131 && report.trainableParams == 131)
        // AnalysisLivenessTests.savedActivations: PyTorch's rules, the batch and labels apart.
        #expect(report.savedActivationBytes == 1116)
        #expect(report.savedInputBytes == 400)
        #expect(report.memory.peakBytes == 4148)
        #expect(report.memory.persistentBytes == 2004)
        #expect(report.memory.transientPeakBytes == 2144)
        #expect(report.memory.lowerBoundBytes == 2144)
        #expect(report.memory.arenaBytes >= report.memory.lowerBoundBytes)
        #expect(report.memory.categoryMaxTotalBytes == 4668)
        #expect(report.memory.atPeak.total == report.memory.peakBytes)
        #expect(report.memory.atPeak.parameters == 524 && report.memory.atPeak.optimizerState == 1048)
        #expect(report.memory.atPeak.activations == 1056 && report.memory.atPeak.gradients == 60)
        #expect(report.memory.atPeak.temporaries == 1028 && report.memory.atPeak.input == 400)
        #expect(report.peakStep == 13)
        #expect(
            report.peakOps.map(\.name) == [
                "flatten.grad", "avgpool.grad", "relu.grad", "bn1.grad",
                "conv1.grad_weight",
            ])
        #expect(report.flops.total.macs == 3480 + 3504)
        #expect(report.timeline.count == graph.nodes.count)
        #expect(report.phaseStarts.map(\.step) == [0, 7, 16])
        #expect(report.phaseStarts.map(\.phase) == [.forward, .backward, .optimizer])
        #expect(report.series(.activation)[13] == 1056)
    }

    @Test func planHasNoOverlapAndMeetsTheBound() throws {
        for graph in [
            try Builders.tinyTrainingStep(), try Builders.tinyTrainingStep(releaseGrads: true),
            try Builders.tinyTrainingStep(galore: true),
        ] {
            let intervals = Liveness(graph).transientIntervals()
            for alignment in [1, 64] {
                let plan = MemoryPlanner.plan(intervals, alignment: alignment)
                #expect(plan.firstConflict() == nil)
                #expect(plan.arenaBytes >= plan.lowerBoundBytes)
                #expect(plan.lowerBoundBytes == MemoryPlanner.lowerBound(intervals, alignment: alignment))
            }
        }
    }
}
