// graphc's own traces read back by the trace analyzer (Sources/Traces): small_resnet FFT + Adam at
// batch 2, two steps, the run's measurement written into the trace. The trace's measured peak is the
// executor's arena high-water plus the persistent storage as categorised; its planned peak and
// breakdown are the analysis'; compare against the same model and method finds no difference in peak.
import Executor
import Frontend
import GraphIR
import Passes
import Testing
import Traces

@Suite struct TraceReaderRoundTripTests {
    @Test func measuredPeakAndCompare() throws {
        let forward = try Zoo.compile("small_resnet", overrides: ModelOverrides(batch: 2)).graph
        let session = try TrainingSession.compile(forward, config: TrainingConfig(method: .fft))
        let g = session.training
        let report = TrainingReport(g)
        let plan = Planned.plan(g)
        let baseline = MemoryBaseline.now()
        let runner = try Traced.runner(g, plan)
        let recorder = TraceRecorder(g, plan: plan, categories: Traced.categories(g))
        runner.observer = recorder
        let inputs = Planned.inputs(g, steps: 2, seed: 7)
        for s in 0..<2 { try runner.run(inputs[s]) }
        let m = runner.measurement(steps: 2, since: baseline)
        let trace = try Trace.read(bytes: recorder.json(measurement: m), file: "run.json")
        let s = try TraceSummary(trace)

        #expect(s.producer == .graphc)
        #expect(s.events == recorder.eventCount)
        #expect(s.opSlices == 2 * g.nodes.count + 2)
        #expect(s.spans == 2)
        #expect(s.steps == 2)
        #expect(s.batch == 2)
        #expect(s.phases.map(\.phase) == [.forward, .backward, .optimizer])
        #expect(s.peakTotalAllocatedBytes == plan.lowerBoundBytes)
        #expect(s.peakDeltaBytes == plan.lowerBoundBytes)
        let persistent = recorder.liveBytesAtEnd.reduce(0, +)
        #expect(s.persistentBytes == persistent)
        #expect(persistent == report.memory.persistentBytes)
        #expect(s.measuredArenaHighWaterBytes == m.arenaHighWaterBytes)
        #expect(s.measuredPeakBytes == m.arenaHighWaterBytes + persistent)
        #expect(s.plannedPeakBytes == report.memory.peakBytes)
        #expect(s.firstStepOrder == g.nodes.map(\.name))
        // Ops are grouped by graphc op; every node ran twice.
        #expect(s.ops.reduce(0) { $0 + $1.count } == 2 * g.nodes.count)

        let c = TraceComparison(s, trace, Prediction(session, report))
        let peak = try #require(c.rows.first { $0.name == "peak" })
        #expect(peak.predicted == report.memory.peakBytes)
        #expect(peak.measured == m.arenaHighWaterBytes + persistent)
        #expect(peak.cause == nil)
        #expect(c.differences.filter { $0.section == "memory" || $0.section == "at the peak" }.isEmpty)
        #expect(c.orderNote.contains("in its order"))

        // The timeline stacks the counters: its peak is the plan's.
        let t = try TraceTimeline(trace)
        #expect(t.peakBytes == report.memory.peakBytes)
        #expect(t.categories.first == "parameter_trainable")

        // Against a different batch, the cause says so.
        let other = try TrainingSession.compile(
            try Zoo.compile("small_resnet", overrides: ModelOverrides(batch: 8)).graph,
            config: TrainingConfig(method: .fft))
        let d = TraceComparison(s, trace, Prediction(other, TrainingReport(other.training)))
        #expect(d.differences.contains { $0.name == "peak" && $0.cause!.contains("batch 2") })
    }
}
