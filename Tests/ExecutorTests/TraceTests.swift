// Traces of planned runs: small_resnet (FFT + Adam, batch 2) for 2 steps with a TraceRecorder. The
// JSON parses; one op slice per node per step on its phase's track; thread names; the live-bytes
// counters equal the plan's live bytes (and Liveness' timeline) at every node; the [memory] events'
// running sum peaks at the plan's lower bound; names are escaped; the step cap holds; a runner without
// an observer computes bit-identical results. Graph, plan and categories come from Passes, in the test.
import Executor
import Foundation
import Frontend
import GraphIR
import GraphTestSupport
import Passes
import Testing

enum Traced {
    static func runner(_ g: Graph, _ plan: MemoryPlan) throws -> PlannedRunner {
        let runner = try PlannedRunner(g, plan: plan, seed: 11)
        let initialize = Planned.initializer(seed: 3, g)
        for p in g.parameters { initialize(p, try #require(runner.storage(of: p))) }
        return runner
    }

    static func categories(_ g: Graph) -> [String?] { Liveness(g).entries.map { $0.category.rawValue } }

    static func parse(_ bytes: [UInt8]) throws -> (root: [String: Any], events: [[String: Any]]) {
        let root = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        return (root, try #require(root["traceEvents"] as? [[String: Any]]))
    }

    static func int(_ x: Any?) -> Int? { (x as? NSNumber)?.intValue }
    static func double(_ x: Any?) -> Double? { (x as? NSNumber)?.doubleValue }
}

@Suite struct TraceTests {
    @Test func smallResnetTwoStepsTrace() throws {
        let g = try Planned.training("small_resnet", .fft)
        let live = Liveness(g)
        let report = TrainingReport(g)
        let plan = Planned.plan(g)
        #expect(report.memory.lowerBoundBytes == plan.lowerBoundBytes)
        let runner = try Traced.runner(g, plan)
        let recorder = TraceRecorder(g, plan: plan, categories: Traced.categories(g))
        runner.observer = recorder
        let inputs = Planned.inputs(g, steps: 2, seed: 7)
        for s in 0..<2 { try runner.run(inputs[s]) }
        #expect(recorder.recordedSteps == 2)
        let (root, events) = try Traced.parse(recorder.json())
        #expect(root["displayTimeUnit"] as? String == "ms")
        #expect(events.count == recorder.eventCount)
        let n = g.nodes.count

        // Thread names of every track.
        var threadNames: [Int: String] = [:]
        for e in events where e["ph"] as? String == "M" && e["name"] as? String == "thread_name" {
            threadNames[try #require(Traced.int(e["tid"]))] = (e["args"] as? [String: Any])?["name"] as? String
        }
        #expect(threadNames == [1: "steps", 2: "forward", 3: "backward", 4: "optimizer", 5: "memory"])

        // One op slice per node per step, on its phase's track, named and categorised by the node.
        let tid: [Phase: Int] = [.forward: 2, .backward: 3, .optimizer: 4]
        var seen = Set<[Int]>()
        var stepSlices: [Int: (ts: Double, end: Double)] = [:]
        var opSlices: [(step: Int, ts: Double, end: Double)] = []
        for e in events where e["ph"] as? String == "X" {
            let ts = try #require(Traced.double(e["ts"])), dur = try #require(Traced.double(e["dur"]))
            #expect(dur >= 0)
            let args = try #require(e["args"] as? [String: Any])
            let step = try #require(Traced.int(args["step"]))
            if e["cat"] as? String == "step" {
                #expect(Traced.int(e["tid"]) == 1 && e["name"] as? String == "step \(step)")
                #expect(stepSlices[step] == nil)
                stepSlices[step] = (ts, ts + dur)
                continue
            }
            let t = try #require(Traced.int(args["node"]))
            let node = g.nodes[t]
            #expect(seen.insert([step, t]).inserted, "node \(t) twice in step \(step)")
            #expect(Traced.int(e["tid"]) == tid[node.phase], "\(node.name)")
            #expect(e["name"] as? String == node.name && e["cat"] as? String == node.op.name)
            #expect(args["op"] as? String == node.op.name && args["phase"] as? String == node.phase.rawValue)
            #expect(args["shapes"] as? [[Int]] == node.outputs.map { g[$0].type.shape.array })
            #expect(args["input_shapes"] as? [[Int]] == node.inputs.map { g[$0].type.shape.array })
            #expect(args["bytes"] as? [Int] == node.outputs.map { g[$0].type.byteCount })
            opSlices.append((step, ts, ts + dur))
        }
        #expect(seen.count == 2 * n && opSlices.count == 2 * n)
        #expect(Set(stepSlices.keys) == [1, 2])
        for s in opSlices {
            let step = try #require(stepSlices[s.step])
            #expect(step.ts <= s.ts + 0.001 && s.end <= step.end + 0.001, "an op outside its step's slice")
        }
        #expect(stepSlices[1]!.end <= stepSlices[2]!.ts + 0.001)

        // Counters, in file order: one per node's start, then one at the step's end, per step. Each equals
        // the plan's live bytes by category (placements live at the node, plus the unplaced storage over
        // the whole step), which here is Liveness' timeline.
        let counters = events.filter { $0["ph"] as? String == "C" }
        #expect(counters.count == 2 * (n + 1))
        let categories = Traced.categories(g)
        var fromPlan = [[MemoryCategory: Int]](repeating: [:], count: n)
        for p in plan.placements {
            let c = live[p.value].category
            for t in p.first...p.last { fromPlan[t][c, default: 0] += p.bytes }
        }
        for (k, e) in counters.enumerated() {
            #expect(e["name"] as? String == TraceRecorder.counterName)
            let args = try #require(e["args"] as? [String: Any])
            let t = k % (n + 1)
            for c in MemoryCategory.allCases where categories.contains(c.rawValue) {
                let value = try #require(Traced.int(args[c.rawValue]), "\(c)")
                if t == n {
                    #expect(value == (c.isPersistent ? live.timeline[0][c] : 0), "\(c) at the step's end")
                } else {
                    #expect(value == live.timeline[t][c], "\(c) at node \(t)")
                    if !c.isPersistent { #expect(value == fromPlan[t][c, default: 0], "\(c) at node \(t)") }
                }
            }
            #expect(recorder.liveBytes.count == n)
        }

        // [memory] events: Bytes ± the aligned size, Total Allocated their running sum, back to 0 after
        // every step, peaking at the plan's lower bound.
        let memory = events.filter { $0["ph"] as? String == "i" && $0["name"] as? String == "[memory]" }
        #expect(memory.count == 2 * 2 * plan.placements.filter { $0.bytes > 0 }.count)
        var total = 0, peak = 0, zeros = 0
        let offsets = Set(plan.placements.map(\.offset))
        for e in memory {
            let args = try #require(e["args"] as? [String: Any])
            total += try #require(Traced.int(args["Bytes"]))
            #expect(Traced.int(args["Total Allocated"]) == total)
            #expect(offsets.contains(try #require(Traced.int(args["Addr"]))))
            #expect(total >= 0)
            peak = max(peak, total)
            if total == 0 { zeros += 1 }
        }
        #expect(total == 0 && zeros == 2)
        #expect(peak == plan.lowerBoundBytes && peak == recorder.peakAllocatedBytes)
        #expect(peak == report.memory.lowerBoundBytes)
        print(
            "small_resnet fft batch 2 trace: \(events.count) events, \(recorder.json().count) bytes;"
                + " [memory] peak \(peak) = lower bound; Liveness transient peak \(report.memory.transientPeakBytes)")
    }

    /// Names with quotes, backslashes and control characters come back intact; `maxSteps` caps the steps.
    @Test func namesAreEscapedAndStepsCapped() throws {
        var g = try Planned.training("small_resnet", .head)
        let odd = "conv \"1\" \\ \u{0}\u{1}\u{7}\u{8}\u{c}\n\r\t\u{1b}[31m\u{1f}\u{7f}\u{85} é \u{2028} 🙂"
        g.nodes[0].name = odd
        let plan = Planned.plan(g)
        let runner = try Traced.runner(g, plan)
        var categories = Traced.categories(g)
        categories[0] = "odd \"category\"\n"
        let recorder = TraceRecorder(g, plan: plan, categories: categories, maxSteps: 1)
        runner.observer = recorder
        let inputs = Planned.inputs(g, steps: 2, seed: 7)
        try runner.run(inputs[0])
        let afterOne = recorder.eventCount
        try runner.run(inputs[1])
        #expect(recorder.recordedSteps == 1 && recorder.eventCount == afterOne)
        let (_, events) = try Traced.parse(recorder.json())
        let slices = events.filter { $0["ph"] as? String == "X" && $0["cat"] as? String != "step" }
        #expect(slices.count == g.nodes.count)
        #expect(slices.filter { $0["name"] as? String == odd }.count == 1)
        let counter = try #require(events.first { $0["ph"] as? String == "C" }?["args"] as? [String: Any])
        #expect(counter["odd \"category\"\n"] != nil)
        #expect(events.filter { $0["cat"] as? String == "step" }.count == 1)
    }

    /// Every C0 control, quotes and backslashes, DEL, C1, non-BMP: JSONSerialization reads back the input.
    @Test func quoteRoundTrips() throws {
        var text = "\"\\/"
        for v in 0..<0x20 { text.unicodeScalars.append(Unicode.Scalar(UInt8(v))) }
        text += "\u{7f}\u{80}\u{9f}\u{2028}\u{2029}\u{fffd}\u{10ffff}"
        let json = "[" + TraceJSON.quote(text) + "]"
        #expect(!json.utf8.contains { $0 < 0x20 })
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String])
        #expect(parsed == [text])
        #expect(TraceJSON.quote("a\u{1}") == "\"a\\u0001\"")
    }

    /// Runners start without an observer; with and without a recorder, two steps give bit-identical
    /// outputs and parameters; a detached recorder hears nothing more.
    @Test func noObserverNoTracingSameResults() throws {
        let g = try Planned.training("small_resnet", .fft)
        let plan = Planned.plan(g)
        let plain = try Traced.runner(g, plan), traced = try Traced.runner(g, plan)
        #expect(plain.observer == nil)
        let recorder = TraceRecorder(g, plan: plan, categories: Traced.categories(g))
        traced.observer = recorder
        let inputs = Planned.inputs(g, steps: 3, seed: 7)
        func bits(_ v: TensorView) -> [UInt8] {
            Array(UnsafeRawBufferPointer(start: v.base, count: v.count * v.dtype.size))
        }
        for s in 0..<2 {
            let a = try plain.run(inputs[s]).map(bits), b = try traced.run(inputs[s]).map(bits)
            #expect(a == b, "outputs differ at step \(s + 1)")
        }
        for p in g.parameters {
            #expect(
                bits(try #require(plain.storage(of: p))) == bits(try #require(traced.storage(of: p))), "\(g[p].name)")
        }
        traced.observer = nil
        let count = recorder.eventCount
        try traced.run(inputs[2])
        #expect(recorder.eventCount == count && recorder.recordedSteps == 2)
    }
}
