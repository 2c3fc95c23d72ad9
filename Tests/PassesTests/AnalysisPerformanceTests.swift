import GraphIR
import GraphTestSupport
import Passes
import Testing

/// The analyses are linear-ish in graph size. Tests run in debug builds on shared cores, so the bounds
/// here are loose; they catch quadratic behaviour, which would take minutes. Release timings come from
/// Benchmarks/Analysis/run.sh (targets: resnet50's training step well under 20 ms, 100,000 nodes under 1 s).
@Suite struct AnalysisPerformanceTests {
    static func timed(_ graph: Graph) -> (Duration, TrainingReport) {
        var report: TrainingReport?
        let elapsed = ContinuousClock().measure { report = TrainingReport(graph) }
        return (elapsed, report!)
    }

    @Test func chainOf100kNodes() throws {
        let (elapsed, report) = Self.timed(try Builders.chain(length: 100_000))
        print("analysis of a 100,000-node chain (debug): \(elapsed)")
        #expect(report.timeline.count == 100_000)
        #expect(report.memory.peakBytes == 64 * 4 * 3)  // the input, one node's operand and its result
        #expect(report.memory.arenaBytes == 512)
        #expect(elapsed < .seconds(20))
    }

    @Test func resnet50TrainingStep() throws {
        let graph = try Training.step(Training.forward("resnet50"), Training.config(.fft))
        let (elapsed, report) = Self.timed(graph)
        print("analysis of resnet50's training step, \(graph.nodes.count) nodes (debug): \(elapsed)")
        #expect(report.memory.arenaBytes >= report.memory.lowerBoundBytes)
        #expect(elapsed < .seconds(2))
    }
}
