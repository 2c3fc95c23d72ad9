import Executor
import Foundation
import Testing

/// `graphc study` through the binary, on a tiny ten-class IDX dataset the tests write (class k brightens
/// rows 2k+4 and 2k+5 of a noisy 28x28 image).
@Suite struct StudyCLITests {
    final class TenClasses {
        let dir: URL
        var path: String { dir.path }

        init(train: Int = 640, test: Int = 320) throws {
            dir = try CLI.temporaryDirectory()
            try write("train", count: train, seed: 3)
            try write("t10k", count: test, seed: 4)
        }

        private func write(_ stem: String, count: Int, seed: UInt64) throws {
            var state = seed &* 0x9E37_79B9_7F4A_7C15
            func next() -> UInt8 {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return UInt8(truncatingIfNeeded: state >> 58)  // 0 ..< 64
            }
            var pixels: [UInt8] = [], labels: [UInt8] = []
            for n in 0..<count {
                let label = n % 10
                labels.append(UInt8(label))
                for i in 0..<28 {
                    for _ in 0..<28 { pixels.append(i / 2 == label + 2 ? 180 + next() : next()) }
                }
            }
            try Data(IDXArray(dims: [count, 28, 28], bytes: pixels).encoded)
                .write(to: dir.appendingPathComponent("\(stem)-images-idx3-ubyte"))
            try Data(IDXArray(dims: [count], bytes: labels).encoded)
                .write(to: dir.appendingPathComponent("\(stem)-labels-idx1-ubyte"))
        }

        func file(_ name: String) -> String { dir.appendingPathComponent(name).path }

        deinit { try? FileManager.default.removeItem(at: dir) }
    }

    /// The quick recipe every test shares: 256 training and 128 test samples, batch 32, one epoch each.
    static let quick = ["--limit", "256", "--test-limit", "128", "--batch", "32", "--pretrain-epochs", "1"]

    static func object(_ r: CLIResult) throws -> [String: Any] {
        guard r.status == 0 else { throw CLIFailure(message: "graphc study failed (\(r.status)): \(r.stderr)") }
        guard let j = try JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any] else {
            throw CLIFailure(message: "not a JSON object: \(r.stdout)")
        }
        return j
    }

    /// One pretraining, three methods fine-tuned from it: the rows, their costs (analyze's), the same start.
    @Test func jsonRowsMatchAnalyzeAndEveryMethodStartsFromThePretrainedModel() throws {
        let data = try TenClasses()
        let plot = data.file("study.svg"), base = data.file("base.safetensors")
        let j = try Self.object(
            try CLI.run(
                [
                    "study", "small_resnet", "--data", data.path, "--methods", "fft,head,lora", "--format", "json",
                    "--plot", plot, "--save-base", base,
                ] + Self.quick))
        #expect(j["model"] as? String == "small_resnet")
        #expect(j["scenarios"] as? [String] == ["unseen-classes"])
        #expect(j["saving"] as? String == "pytorch" && j["bn"] as? String == "train")
        #expect(j["weights_dtype"] as? String == "f32" && j["activations_dtype"] as? String == "f32")
        let rows = try #require(j["rows"] as? [[String: Any]])
        #expect(rows.map { $0["kind"] as? String } == ["pretrain", "baseline", "fine-tune", "fine-tune", "fine-tune"])
        #expect(rows.map { $0["method"] as? String } == ["fft", "pretrained", "fft", "head", "lora"])
        #expect(rows[0]["classes"] as? String == "0-4")
        #expect(rows[2]["classes"] as? String == "5-9")
        #expect(rows[0]["steps"] as? Int == 256 / 32)
        let baseline = try #require(rows[1]["accuracy"] as? Double)
        #expect(rows[1]["test_samples"] as? Int == 128)
        for row in rows[2...] {
            let method = try #require(row["method"] as? String)
            // Every fine-tune classified the test split as the pretrained model does before its first step.
            #expect(row["start_accuracy"] as? Double == baseline, "\(method)")
            #expect(row["steps"] as? Int == 256 / 32)
            #expect(try #require(row["seconds_per_epoch"] as? Double) > 0)
            #expect(try #require(row["measured_arena_bytes"] as? Int) > 0)
            // The predicted figures are analyze's for the same model, method, rank and batch.
            let a = try CLI.json([
                "analyze", "small_resnet", "--method", method, "--rank", "8", "--batch", "32",
                "--format", "json",
            ])
            #expect(row["trainable_params"] as? Int == a["trainable_params"] as? Int, "\(method)")
            #expect(row["predicted_peak_bytes"] as? Int == (a["memory"] as? [String: Any])?["peak_bytes"] as? Int)
            #expect(row["step_flops"] as? Int == (a["flops"] as? [String: Any])?["total"] as? Int, "\(method)")
        }
        #expect(rows[3]["rank"] is NSNull)
        #expect(rows[4]["rank"] as? Int == 8)
        let svg = try String(contentsOfFile: plot, encoding: .utf8)
        #expect(svg.contains("<svg") && svg.contains("lora r8") && svg.contains("before fine"))
        // The saved base is what the baseline row evaluated: train --epochs 0 from it agrees.
        let evaluated = try TrainCLITests.json(
            try CLI.run([
                "train", "small_resnet", "--data", data.path, "--init", base, "--epochs", "0",
                "--classes", "5-9", "--test-limit", "128", "--batch", "32", "--format", "json",
            ]))
        #expect(evaluated["accuracy"] as? Double == baseline)
    }

    /// An ONNX file loads as train loads it: its own weights start the pretraining, so the pretrain row is
    /// what `graphc train` gives on the same file, classes, data and seed.
    @Test func onnxPretrainsFromTheFilesWeights() throws {
        let data = try TenClasses()
        let onnx = ONNXCLITests.fixture("small_resnet_train.onnx")
        let j = try Self.object(
            try CLI.run(
                ["study", onnx, "--data", data.path, "--methods", "head", "--lr", "0.001", "--format", "json"]
                    + Self.quick))
        let rows = try #require(j["rows"] as? [[String: Any]])
        #expect(rows.map { $0["kind"] as? String } == ["pretrain", "baseline", "fine-tune"])
        let trained = try TrainCLITests.json(
            try CLI.run([
                "train", onnx, "--data", data.path, "--classes", "0-4", "--epochs", "1", "--lr", "0.001",
                "--limit", "256", "--test-limit", "128", "--batch", "32", "--format", "json",
            ]))
        #expect(rows[0]["accuracy"] as? Double == trained["accuracy"] as? Double)
        let zoo = try Self.object(
            try CLI.run(
                [
                    "study", "small_resnet", "--data", data.path, "--methods", "head", "--lr", "0.001", "--format",
                    "json",
                ]
                    + Self.quick))
        let zooRows = try #require(zoo["rows"] as? [[String: Any]])
        #expect(zooRows[0]["loss"] as? Double != rows[0]["loss"] as? Double, "not PyTorch's default init")
        let bad = try CLI.run(["study", onnx, "--data", data.path, "--input", "1x28x28"] + Self.quick)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("--input and --set apply to model descriptions, not to the ONNX file"))
    }

    /// From a given base: no pretraining row; the table's columns; a PNG; a shift scenario on all classes.
    @Test func tableFromAGivenBaseAndAPNG() throws {
        let data = try TenClasses()
        let base = data.file("base.safetensors"), plot = data.file("study.png")
        let made = try CLI.run(["train", "small_resnet", "--data", data.path, "--epochs", "0", "--save", base])
        #expect(made.status == 0, "\(made.stderr)")
        let r = try CLI.run(
            [
                "study", "--data", data.path, "--init", base, "--methods", "head", "--scenario", "shift=invert",
                "--plot", plot, "--saving", "lean",
            ] + Self.quick)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines[0].contains("the base parameters given"), "\(lines[0])")
        #expect(lines[1] == "saving lean · BN train · weights f32 · activations f32", "\(lines[1])")
        // --saving reaches the plan: the head row's predicted peak is analyze's under lean saving.
        let lean = try CLI.json([
            "analyze", "small_resnet", "--method", "head", "--batch", "32", "--saving", "lean", "--format", "json",
        ])
        let peak = try #require((lean["memory"] as? [String: Any])?["peak_bytes"] as? Int)
        var grouped = String(peak)
        for i in stride(from: grouped.count - 3, to: 0, by: -3) {
            grouped.insert(",", at: grouped.index(grouped.startIndex, offsetBy: i))
        }
        #expect(lines[5].contains(" \(grouped) "), "\(lines[5]) lacks \(grouped)")
        for column in [
            "Scenario", "Method", "Rank", "Trainable", "Step FLOPs", "Predicted peak",
            "Measured RSS delta", "Arena high-water", "Accuracy", "s/epoch",
        ] {
            #expect(lines[2].contains(column), "\(column)")
        }
        #expect(lines[4].hasPrefix("shift=invert") && lines[4].contains("pretrained (no fine-tune)"))
        #expect(lines[5].hasPrefix("shift=invert") && lines[5].contains(" head "))
        #expect(!r.stdout.contains("pretrain 0-4"))
        #expect(!r.stderr.contains("\r"), "no progress bar on a pipe")
        let png = try Data(contentsOf: URL(fileURLWithPath: plot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
    }

    @Test func badArgumentsAreOneLineErrorsAndLeaveNothing() throws {
        let data = try TenClasses(train: 80, test: 20)
        let plot = data.file("study.png"), base = data.file("base.safetensors")
        func fails(_ args: [String], _ needle: String) throws {
            let r = try CLI.run(["study", "--data", data.path, "--plot", plot] + args)
            #expect(r.status == 1, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(needle), "\(args): \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(args): \(r.stdout)")
            #expect(!FileManager.default.fileExists(atPath: plot), "\(args) left \(plot)")
            #expect(!FileManager.default.fileExists(atPath: base), "\(args) left \(base)")
        }
        try fails(["--plot", data.file("study.txt")], "--plot takes a .png, .svg or .dot file")
        try fails(["--methods", "fft,nope"], "unknown method 'nope' in --methods")
        try fails(["--scenario", "shift=none"], "--scenario must be unseen-classes, shift=invert")
        try fails(["--pretrain-epochs", "0"], "--pretrain-epochs must be at least 1")
        try fails(["--pretrain-classes", "0-9"], "unseen-classes has none to fine-tune on")
        try fails(["--pretrain-classes", "3-12"], "--pretrain-classes has label 12")
        try fails(["--methods", "galore", "--optimizer", "sgd"], "GaLore projects Adam's state")
        try fails(["--data", data.file("nowhere")], "no such directory")
        // Reduced precision is the executor's refusal, before the pretraining (no base is written): as
        // graphc train says it, not as a missing image input.
        try fails(
            ["--batch", "16", "--activations", "f16", "--save-base", base],
            "the executor runs f32 storage only, and 'input'")
        try fails(
            ["--batch", "16", "--methods", "fft,head", "--weights", "int8", "--save-base", base],
            "the executor runs f32 storage only")
        // Each scenario's data is checked before any training: 40 samples of five classes are no batch of 64.
        try fails(["--batch", "64", "--save-base", base], "fewer than one batch of 64")
        // A diverging pretraining stops the study: no table, no plot, no base.
        try fails(
            ["--batch", "32", "--lr", "1e30", "--methods", "head", "--save-base", base],
            "the loss of pretraining is NaN at step 2 (epoch 2, batch 1): the study stopped")
    }
}
