// graphc trace summary, timeline and compare on both kinds of trace: the PyTorch fixture (the Traces
// tests' copy) and a graphc trace recorded here (small_resnet FFT + Adam, batch 2, two steps, with the
// run's measurement), as `graphc train --trace` writes it.
import Executor
import Foundation
import GraphIR
import Passes
import Testing

@Suite struct TraceCLITests {
    static let pytorch = CLI.packageRoot.appendingPathComponent(
        "Tests/TracesTests/Fixtures/pytorch_trace_small_resnet_b64.json"
    ).path

    /// A graphc trace of two steps of small_resnet at batch 2, written to `dir`.
    static func graphcTrace(in dir: URL) throws -> String {
        let forward = try IRParser.parse(
            Array(try CLI.run(["ir", "small_resnet", "--batch", "2"]).stdout.utf8), file: "small_resnet.gir")
        let session = try TrainingSession.compile(forward, config: TrainingConfig(method: .fft))
        let g = session.training
        let plan = MemoryPlanner.plan(Liveness(g).transientIntervals(), strategy: GreedyBySize(), alignment: 64)
        let baseline = MemoryBaseline.now()
        let runner = try PlannedRunner(g, plan: plan, seed: 1)
        let recorder = TraceRecorder(g, plan: plan, categories: Liveness(g).entries.map { $0.category.rawValue })
        runner.observer = recorder
        for _ in 0..<2 {
            try runner.run(g.inputs.map { HostTensor(g[$0].type) })  // zero images, label 0
        }
        let path = dir.appendingPathComponent("graphc-trace.json").path
        try Data(recorder.json(measurement: runner.measurement(steps: 2, since: baseline))).write(
            to: URL(fileURLWithPath: path))
        return path
    }

    @Test func summaryJSONOfThePyTorchFixture() throws {
        let r = try CLI.run(["trace", "summary", Self.pytorch, "--format", "json", "--top", "3"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(j["op_slices"] as? Int == 2751)
        #expect(j["memory_events"] as? Int == 2175)
        #expect(j["events"] as? Int == 5072)
        #expect(j["peak_delta_bytes"] as? Int == 37_164_208)
        #expect(j["peak_total_allocated_bytes"] as? Int == 37_164_208)
        let top = try #require(j["top_ops"] as? [[String: Any]])
        #expect(
            top.compactMap { $0["name"] as? String } == [
                "aten::convolution_backward", "aten::mkldnn_convolution", "aten::native_batch_norm",
            ])
        #expect(abs(try #require(j["duration_us"] as? Double) - 356_431.142) < 0.01)
    }

    @Test func timelinesOfBothKinds() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let graphc = try Self.graphcTrace(in: dir)
        for (trace, name) in [(Self.pytorch, "pytorch"), (graphc, "graphc")] {
            for ext in ["png", "svg", "dot"] {
                let out = dir.appendingPathComponent("\(name).\(ext)").path
                let r = try CLI.run(["trace", "timeline", trace, "-o", out])
                #expect(r.status == 0, "\(name).\(ext): \(r.stderr)")
                #expect(r.stdout.hasPrefix("\(out): peak "))
                let bytes = try Data(contentsOf: URL(fileURLWithPath: out))
                switch ext {
                case "png": #expect(bytes.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
                case "svg": #expect(String(decoding: bytes, as: UTF8.self).contains("<svg"))
                default: #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("digraph"))
                }
            }
        }
        let svg = try String(contentsOfFile: dir.appendingPathComponent("pytorch.svg").path, encoding: .utf8)
        #expect(svg.contains("peak 35.4 MiB at 128.377 ms"))
        let r = try CLI.run(["trace", "timeline", Self.pytorch, "-o", dir.appendingPathComponent("x.pdf").path])
        #expect(r.status == 1)
    }

    @Test func compareAGraphcTraceFindsNoPeakDifference() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = try Self.graphcTrace(in: dir)
        let r = try CLI.run([
            "trace", "compare", trace, "small_resnet", "--method", "fft", "--batch", "2", "--format", "json",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let rows = try #require(j["rows"] as? [[String: Any]])
        let peak = try #require(rows.first { $0["name"] as? String == "peak" })
        #expect(peak["cause"] is NSNull)
        let differences = try #require(j["differences"] as? [[String: Any]])
        #expect(!differences.contains { ["memory", "at the peak"].contains($0["section"] as? String ?? "") })
        #expect((j["op_order"] as? String)?.contains("in its order") == true)
        // At another batch the peak differs and the cause names the batch.
        let b = try CLI.run(["trace", "compare", trace, "small_resnet", "--method", "fft", "--batch", "4"])
        #expect(b.status == 0)
        #expect(b.stdout.contains("memory peak: a different batch size: the trace ran batch 2"))
    }

    @Test func overflowingByteSumsAreOneLineErrors() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("t.json").path
        let event = #"{"ph":"i","name":"[memory]","ts":1,"args":{"Bytes":9000000000000000000}}"#
        try ("[" + event + "," + event + "]").write(toFile: path, atomically: true, encoding: .utf8)
        for command in ["summary", "timeline"] {
            let out = dir.appendingPathComponent("out.svg").path
            let r = try CLI.run(["trace", command, path] + (command == "timeline" ? ["-o", out] : []))
            #expect(r.status == 1, "\(command): \(r.stdout)")
            #expect(
                r.stderr == "graphc: error: \(path): byte 74, event 1: the running sum of [memory] Bytes "
                    + "overflows a 64-bit integer\n", "\(command): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }

    @Test func compareThePyTorchTraceAgainstModelAndSavedAnalysis() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try CLI.run(["trace", "compare", Self.pytorch, "small_resnet", "--method", "fft", "--batch", "64"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("allocated while the profiler ran"))
        #expect(r.stdout.contains("ops not in the model: aten::add_ ×9, aten::ones_like ×1"))
        #expect(r.stdout.contains("the model's 32 forward ops appear in the trace's first forward pass in order"))
        // The header names the prediction's saving policy: the default, or the one --saving chose.
        #expect(r.stdout.contains("small_resnet · fft · batch 64 · saving pytorch\n"))
        let lean = try CLI.run([
            "trace", "compare", Self.pytorch, "small_resnet", "--method", "fft", "--batch", "64", "--saving", "lean",
            "--format", "json",
        ])
        #expect(lean.status == 0, "\(lean.stderr)")
        let lj = try #require(try JSONSerialization.jsonObject(with: Data(lean.stdout.utf8)) as? [String: Any])
        #expect(lj["saving"] as? String == "lean")
        let plan = dir.appendingPathComponent("plan.json").path
        #expect(try CLI.run(["analyze", "small_resnet", "--batch", "1", "--format", "json", "-o", plan]).status == 0)
        let a = try CLI.run(["trace", "compare", Self.pytorch, "--analysis", plan])
        #expect(a.status == 0, "\(a.stderr)")
        #expect(a.stdout.contains("the trace ran batch 64, the prediction is for batch 1 (pass --batch 64)"))
        #expect(a.stdout.contains("a saved analysis has no schedule"))
        // Not an analysis, neither or both of MODEL and --analysis: exit 1.
        #expect(try CLI.run(["trace", "compare", Self.pytorch, "--analysis", Self.pytorch]).status == 1)
        #expect(try CLI.run(["trace", "compare", Self.pytorch]).status == 1)
        #expect(try CLI.run(["trace", "compare", Self.pytorch, "small_resnet", "--analysis", plan]).status == 1)
    }
}
