import GraphIR
import GraphTestSupport
import Passes
import Testing

@Suite struct AnalysisFlopsTests {
    @Test func groupsOfTheTinyStep() throws {
        let report = FlopReport(try Builders.tinyTrainingStep())
        // conv1: 2·4·4·4 outputs · 3·3·3 taps; fc: 2·3 outputs · 4 inputs.
        #expect(report.forward.macs == 3456 + 24)
        #expect(report.forward.flops == 2 * (3456 + 24))
        // fc.grad_weight 12·2, fc.grad_input 8·3, conv1.grad_weight 4·3·3·3 · 2·4·4; no conv grad-input.
        #expect(report.backward.macs == 24 + 24 + 3456)
        // Adam: 14 FLOPs per element of the 131 trainable elements; no MACs.
        #expect(report.optimizer == Cost(macs: 0, flops: 14 * 131, elementwise: 0))
        #expect(report.svd == Cost())
        #expect(report.total.macs == report.forward.macs + report.backward.macs)
        #expect(report.total.flops == 2 * report.total.macs + 14 * 131)
        #expect(report.forward.elementwise > 0)
        #expect(report.nodes.count == 21)
        #expect(report.nodes[15].name == "conv1.grad_weight" && report.nodes[15].group == .backward)
    }

    @Test func svdIsReportedApart() throws {
        let report = FlopReport(try Builders.tinyTrainingStep(galore: true))
        // Thin SVD of a 3x4 gradient: 4·4·3² + 8·3³ = 360, amortised over 200 steps (rounded up).
        #expect(report.svd == Cost(macs: 0, flops: 2, elementwise: 0))
        #expect(report.nodes.first { $0.op == "svd_projector" }?.group == .svd)
        // Projection 2·4·3 MACs... PᵀG: 2x4 outputs · 3; back-projection P·N: 3x4 · 2.
        #expect(report.optimizer.macs == 8 * 3 + 12 * 2)
        let compat = FlopReport(try Builders.tinyTrainingStep(galore: true), convention: .studyProfiler)
        #expect(compat.svd.flops == 0)
        #expect(compat.optimizer.flops == 2 * compat.optimizer.macs)
    }

    @Test func studyProfilerCountsDepthwiseWeightGradientGroupsTimes() throws {
        let graph = try Builders.depthwiseWeightGradient()
        let exact = FlopReport(graph)
        let compat = FlopReport(graph, convention: .studyProfiler)
        // 1·8·5·5 outputs · 1·3·3 taps.
        #expect(exact.forward.macs == 1800)
        #expect(exact.backward.macs == 1800)
        #expect(compat.forward.macs == 1800)
        #expect(compat.backward.macs == 8 * 1800)
        #expect(compat.backward.flops == 2 * 8 * 1800)
        // SGD: 2 FLOPs per element in graphc's count, nothing in the profiler's.
        #expect(exact.optimizer.flops == 2 * 72)
        #expect(compat.optimizer.flops == 0)
        #expect(compat.total.elementwise == 0)
        #expect(compat.convention == .studyProfiler)
    }
}
