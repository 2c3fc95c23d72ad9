// The PyTorch profiler fixture (small_resnet, two Adam steps at batch 64; its README's facts: 2,751
// complete op slices, 2,175 [memory] events, both peaks 37,164,208) and hand-made traces whose self
// times, phases and peaks are worked out by hand.
import Foundation
import GraphIR
import Testing
import Traces

enum Fixture {
    static func path(_ name: String) throws -> String {
        try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures")).path
    }

    static func trace(_ text: String, limits: TraceReaderLimits = TraceReaderLimits()) throws -> Trace {
        try Trace.read(bytes: Array(text.utf8), file: "t.json", limits: limits)
    }
}

@Suite struct PyTorchTraceTests {
    @Test func fixtureCountsAndPeaks() throws {
        let trace = try Trace.read(path: try Fixture.path("pytorch_trace_small_resnet_b64.json"))
        let s = try TraceSummary(trace)
        #expect(s.producer == .pytorch)
        #expect(s.events == 5072)
        #expect(s.opSlices == 2751)
        #expect(s.spans == 1)  // "PyTorch Profiler (0)", cat Trace
        #expect(s.memoryEvents == 2175)
        #expect(s.metadataEvents == 8)
        #expect(s.skipped.map(\.kind) == ["f", "i", "s"])
        #expect(s.skipped.map(\.count) == [68, 2, 68])
        #expect(s.peakDeltaBytes == 37_164_208)
        #expect(s.peakTotalAllocatedBytes == 37_164_208)
        #expect(s.steps == 2)  // two Optimizer.step#Adam.step ranges
        #expect(s.batch == 64)
        #expect(s.sampleShape == [1, 28, 28])
        // The top ops by self time, as PyTorch names them.
        #expect(
            s.ops.prefix(3).map(\.name) == [
                "aten::convolution_backward", "aten::mkldnn_convolution", "aten::native_batch_norm",
            ])
        let conv = try #require(s.ops.first { $0.name == "aten::conv2d" })
        #expect(conv.count == 18)
        #expect(abs(s.ops.reduce(0) { $0 + $1.share } - 1) < 1e-9)
        #expect(s.phases.map(\.phase) == [.forward, .backward, .optimizer])
        // The peak is in the first step's backward, inside a convolution's backward.
        #expect(s.peakOps.count == 1)
        #expect(s.peakOps[0].hasPrefix("autograd::engine::evaluate_function: ConvolutionBackward0 › "))
        // Live at the peak by allocation phase sums to the peak.
        #expect(s.peakCategories.reduce(0) { $0 + $1.bytes } == 37_164_208)
        #expect(s.peakCategories.map(\.name) == ["allocated in forward", "allocated in backward"])
    }

    @Test func fixtureTimeline() throws {
        let trace = try Trace.read(path: try Fixture.path("pytorch_trace_small_resnet_b64.json"))
        let t = try TraceTimeline(trace, columns: 200)
        #expect(t.columns.count == 200)
        #expect(t.peakBytes == 37_164_208)
        #expect(t.columns.map { $0.reduce(0, +) }.max() == 37_164_208)
        #expect(t.phases.map(\.name).prefix(3) == ["forward", "backward", "optimizer"])
    }

    /// Nesting, self time and phases on a trace small enough to check by hand; a bare array, string
    /// pids, an unknown kind.
    @Test func selfTimePhasesAndPeaks() throws {
        let trace = try Fixture.trace(
            """
            [{"ph":"X","cat":"cpu_op","name":"aten::conv2d","pid":1,"tid":1,"ts":0,"dur":10,
              "args":{"Input Dims":[[8,3,32,32],[4,3,3,3]]}},
             {"ph":"X","cat":"cpu_op","name":"aten::convolution","pid":1,"tid":1,"ts":1,"dur":8},
             {"ph":"i","s":"t","name":"[memory]","pid":1,"tid":1,"ts":2,"args":{"Bytes":100,"Total Allocated":100,"Addr":1}},
             {"ph":"X","cat":"cpu_op","name":"autograd::engine::evaluate_function: ConvolutionBackward0","pid":1,"tid":1,"ts":20,"dur":5},
             {"ph":"i","s":"t","name":"[memory]","pid":1,"tid":1,"ts":21,"args":{"Bytes":50,"Total Allocated":150,"Addr":2}},
             {"ph":"i","s":"t","name":"[memory]","pid":1,"tid":1,"ts":22,"args":{"Bytes":-100,"Total Allocated":50,"Addr":1}},
             {"ph":"X","cat":"user_annotation","name":"Optimizer.step#SGD.step","pid":1,"tid":1,"ts":30,"dur":2},
             {"ph":"X","cat":"Trace","name":"PyTorch Profiler (0)","pid":"Spans","tid":"PyTorch Profiler","ts":0,"dur":40},
             {"ph":"s","id":1,"pid":1,"tid":1,"ts":1,"cat":"fwdbwd","name":"fwdbwd"}]
            """)
        let s = try TraceSummary(trace)
        #expect(s.events == 9)
        #expect(s.opSlices == 5)
        #expect(s.spans == 1)
        #expect(s.skipped.map(\.kind) == ["s"])
        #expect(s.durationUs == 40)
        let conv = try #require(s.ops.first { $0.name == "aten::conv2d" })
        #expect(conv.totalUs == 10)
        #expect(conv.selfUs == 2)
        #expect(s.ops.first?.name == "aten::convolution")  // 8 µs self
        #expect(s.phases.map(\.phase) == [.forward, .backward, .optimizer])
        #expect(s.phases.map(\.us) == [10, 5, 2])
        #expect(s.peakDeltaBytes == 150)
        #expect(s.peakTotalAllocatedBytes == 150)
        #expect(s.peakUs == 21)
        #expect(s.peakOps == ["autograd::engine::evaluate_function: ConvolutionBackward0"])
        #expect(s.peakCategories.map(\.name) == ["allocated in forward", "allocated in backward"])
        #expect(s.peakCategories.map(\.bytes) == [100, 50])
        #expect(s.batch == 8)
        #expect(s.steps == 1)
    }

    /// The running sum is in time order even when the file is not, and starts at 0 (not at the first
    /// Total Allocated, which may count blocks from before).
    @Test func peakDeltaIsInTimeOrder() throws {
        let trace = try Fixture.trace(
            """
            {"traceEvents":[
             {"ph":"i","name":"[memory]","pid":1,"tid":1,"ts":5,"args":{"Bytes":-30,"Total Allocated":970}},
             {"ph":"i","name":"[memory]","pid":1,"tid":1,"ts":1,"args":{"Bytes":40,"Total Allocated":1040}},
             {"ph":"i","name":"[memory]","pid":1,"tid":1,"ts":3,"args":{"Bytes":20,"Total Allocated":1060}}]}
            """)
        let s = try TraceSummary(trace)
        #expect(s.peakDeltaBytes == 60)
        #expect(s.peakTotalAllocatedBytes == 1060)
        #expect(s.peakUs == 2)
    }

    @Test func zeroEventsIsAnEmptySummary() throws {
        for text in ["[]", "{\"traceEvents\":[]}", " {\"traceEvents\" : [ ] , \"x\": 1} "] {
            let s = try TraceSummary(try Fixture.trace(text))
            #expect(s.events == 0)
            #expect(s.opSlices == 0)
            #expect(s.peakDeltaBytes == nil)
            #expect(s.durationUs == 0)
        }
    }
}
