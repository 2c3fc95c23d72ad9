import GraphIR
import GraphTestSupport
import Passes
import Testing

/// The analyses are linear in graph size. Tests run in debug builds on shared cores, so the bounds here
/// are loose (the release targets are 20 ms for resnet50's training graph and 1 s for 100,000 nodes);
/// they catch quadratic behaviour, which would take minutes.
@Suite struct AnalysisPerformanceTests {
    @Test func chainOf100kNodes() throws {
        let graph = try Builders.chain(length: 100_000)
        let clock = ContinuousClock()
        var live: Liveness?
        var flops: FlopReport?
        let elapsed = clock.measure {
            flops = FlopReport(graph)
            live = Liveness(graph)
        }
        print("analysis of a 100,000-node chain: \(elapsed)")
        #expect(live?.steps == 100_000)
        #expect(live?.peakBytes == 64 * 4 * 3)  // the input, one node's operand and its result
        #expect(flops?.nodes.count == 100_000)
        #expect(elapsed < .seconds(10))
    }
}
