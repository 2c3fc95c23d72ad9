import Executor
import Foundation
import Testing

/// `graphc train` through the binary, on tiny IDX datasets the tests write (28x28, two learnable
/// classes), and once on the real Fashion-MNIST when it is installed.
@Suite struct TrainCLITests {
    /// A dataset directory: `train` and `test` samples of 28x28 images, label 0 with the left half
    /// bright, label 1 with the right half, plus seeded noise.
    final class Dataset {
        let dir: URL
        var path: String { dir.path }

        init(train: Int = 256, test: Int = 48) throws {
            dir = try CLI.temporaryDirectory()
            try write("train", count: train, seed: 1)
            try write("t10k", count: test, seed: 2)
        }

        private func write(_ stem: String, count: Int, seed: UInt64) throws {
            var state = seed &* 0x9E37_79B9_7F4A_7C15
            func next() -> UInt8 {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return UInt8(truncatingIfNeeded: state >> 59)  // 0 ..< 32
            }
            var pixels: [UInt8] = [], labels: [UInt8] = []
            for n in 0..<count {
                let label = n % 2
                labels.append(UInt8(label))
                for _ in 0..<28 {
                    for j in 0..<28 { pixels.append((j < 14) == (label == 0) ? 200 + next() : next()) }
                }
            }
            try Data(IDXArray(dims: [count, 28, 28], bytes: pixels).encoded)
                .write(to: dir.appendingPathComponent("\(stem)-images-idx3-ubyte"))
            try Data(DataFiles.gzip(IDXArray(dims: [count], bytes: labels).encoded))
                .write(to: dir.appendingPathComponent("\(stem)-labels-idx1-ubyte.gz"))
        }

        func file(_ name: String) -> String { dir.appendingPathComponent(name).path }

        deinit { try? FileManager.default.removeItem(at: dir) }
    }

    static func json(_ r: CLIResult) throws -> [String: Any] {
        guard r.status == 0 else { throw CLIFailure(message: "graphc train failed (\(r.status)): \(r.stderr)") }
        guard let j = try JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any] else {
            throw CLIFailure(message: "not a JSON object: \(r.stdout)")
        }
        return j
    }

    static func train(_ data: Dataset, _ args: [String]) throws -> CLIResult {
        try CLI.run(["train", "small_resnet", "--data", data.path] + args)
    }

    @Test func jsonKeysArePresentAndSane() throws {
        let data = try Dataset()
        let j = try Self.json(try Self.train(data, ["--limit", "256", "--batch", "32", "--format", "json"]))
        for key in [
            "accuracy", "loss", "epochs", "steps", "seconds_per_epoch", "samples_per_second",
            "predicted_peak_bytes", "arena_bytes", "measured_arena_bytes", "measured_peak_rss_delta_bytes",
            "workspace_bytes", "trainable_params",
        ] {
            #expect(j[key] != nil, "\(key)")
        }
        let accuracy = try #require(j["accuracy"] as? Double), loss = try #require(j["loss"] as? Double)
        #expect(accuracy >= 0 && accuracy <= 1)
        #expect(loss.isFinite && loss > 0)
        #expect(j["epochs"] as? Int == 1)
        #expect(j["steps"] as? Int == 1 * (256 / 32))
        #expect(j["saving"] as? String == "pytorch" && j["bn"] as? String == "train")
        #expect(j["weights_dtype"] as? String == "f32" && j["activations_dtype"] as? String == "f32")
        let arena = try #require(j["arena_bytes"] as? Int), measured = try #require(j["measured_arena_bytes"] as? Int)
        let page = try #require(j["page_size"] as? Int)
        #expect(measured > 0 && measured <= (arena + page - 1) / page * page)
        #expect(try #require(j["predicted_peak_bytes"] as? Int) >= arena)
        #expect(try #require(j["workspace_bytes"] as? Int) > 0)
        #expect(try #require(j["trainable_params"] as? Int) > 0)
        #expect(try #require(j["samples_per_second"] as? Double) > 0)
    }

    @Test func theTrailingPartialBatchIsDroppedAndTheTableExplainsTheMemory() throws {
        let data = try Dataset(train: 80)
        let r = try Self.train(data, ["--batch", "32", "--method", "head"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("2 steps over 80 training samples (the trailing partial batch of 16 dropped"))
        let lines = r.stdout.split(separator: "\n")
        #expect(lines[1] == "saving pytorch · BN train · weights f32 · activations f32", "\(r.stdout)")
        for key in ["accuracy", "predicted peak bytes", "measured arena bytes", "measured peak RSS delta", "note: "] {
            #expect(r.stdout.contains(key), "\(key)")
        }
        #expect(r.stderr.contains("epoch 1/1: loss "), "a line per epoch on a pipe: \(r.stderr)")
        #expect(!r.stderr.contains("\r"), "no progress bar on a pipe")
    }

    @Test func lossDecreasesOnALearnableDataset() throws {
        let data = try Dataset(train: 128)
        let j = try Self.json(
            try Self.train(data, ["--epochs", "3", "--batch", "32", "--lr", "0.003", "--format", "json"]))
        let history = try #require(j["history"] as? [[String: Any]])
        let losses = history.compactMap { $0["loss"] as? Double }
        #expect(losses.count == 3)
        #expect(losses[2] < losses[0], "\(losses)")
        #expect(try #require(j["accuracy"] as? Double) > 0.9, "two halves of an image are easy to tell apart")
    }

    /// A base model's checkpoint (FFT) starts a LoRA or DoRA fine-tune: the adapters start at PyTorch's
    /// values (B zero, DoRA's magnitude the base rows' norms), so before any step the adapted model
    /// classifies exactly as the base model does.
    @Test(arguments: ["lora", "dora"])
    func aBaseCheckpointStartsAnAdapterFineTune(_ method: String) throws {
        let data = try Dataset()
        let base = data.file("base.safetensors")
        let trained = try Self.json(
            try Self.train(data, ["--limit", "64", "--batch", "32", "--save", base, "--format", "json"]))
        let adapted = try Self.json(
            try Self.train(
                data, ["--method", method, "--batch", "32", "--epochs", "0", "--init", base, "--format", "json"]))
        #expect(adapted["accuracy"] as? Double == trained["accuracy"] as? Double)
        let tuned = try Self.json(
            try Self.train(
                data, ["--method", method, "--limit", "64", "--batch", "32", "--init", base, "--format", "json"]))
        #expect(tuned["steps"] as? Int == 2)
    }

    @Test func saveThenInitGivesTheSameModel() throws {
        let data = try Dataset()
        let ckpt = data.file("tuned.safetensors")
        let trained = try Self.json(
            try Self.train(
                data,
                [
                    "--method", "lora", "--rank", "2", "--limit", "64", "--batch", "32",
                    "--save", ckpt, "--format", "json",
                ]))
        let again = try Self.json(
            try Self.train(
                data,
                [
                    "--method", "lora", "--rank", "2", "--batch", "32", "--epochs", "0",
                    "--init", ckpt, "--format", "json",
                ]))
        #expect(again["steps"] as? Int == 0)
        #expect(again["accuracy"] as? Double == trained["accuracy"] as? Double)
        // The checkpoint is a model `graphc run` loads (strictly) too.
        let x = data.file("x.npy"), y = data.file("y.npy")
        let image = Checkpoint.Tensor(
            name: "x", shape: [2, 1, 28, 28], floats: [Float](repeating: 0.5, count: 2 * 784))
        try Data(NpyArray(shape: image.shape, data: image.data).encoded).write(to: URL(fileURLWithPath: x))
        let run = try CLI.run([
            "run", "small_resnet", "--method", "lora", "--rank", "2", "--init", ckpt, "--input", x,
            "-o", y,
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let c = try Checkpoint.read(ckpt)
        #expect(c["bn1.num_batches_tracked"]?.integers == [2], "two steps of 32 out of 64 samples")
    }

    @Test func traceHasOneSlicePerNodeOfTheRecordedSteps() throws {
        let data = try Dataset()
        let trace = data.file("step.json")
        let r = try Self.train(
            data,
            [
                "--limit", "96", "--batch", "32", "--method", "lora", "--trace", trace,
                "--trace-steps", "2", "--format", "json",
            ])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: trace)))
        let events = try #require((object as? [String: Any])?["traceEvents"] as? [[String: Any]])
        let slices = events.filter { $0["ph"] as? String == "X" && $0["tid"] as? Int != 1 }
        let steps = Set(slices.compactMap { ($0["args"] as? [String: Any])?["step"] as? Int })
        #expect(steps == [1, 2], "3 steps ran, 2 are recorded")
        // Every training node appears once per recorded step, on its phase's track.
        let perStep = slices.filter { ($0["args"] as? [String: Any])?["step"] as? Int == 1 }
        #expect(Set(perStep.compactMap { $0["name"] as? String }).count == perStep.count)
        #expect(
            Set(perStep.compactMap { ($0["args"] as? [String: Any])?["phase"] as? String })
                == ["forward", "backward", "optimizer"])
        #expect(events.contains { $0["ph"] as? String == "C" })
        #expect(events.contains { $0["name"] as? String == "[memory]" })
    }

    @Test func checkPlanPassesForLoRA() throws {
        let data = try Dataset(train: 64)
        let r = try Self.train(data, ["--method", "lora", "--batch", "32", "--check-plan"])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("2 steps bit-identical"), "\(r.stdout)")
    }

    @Test func checkPlanPassesUnderLeanWithFrozenStatistics() throws {
        let data = try Dataset(train: 64)
        let r = try Self.train(
            data, ["--method", "bnh", "--batch", "32", "--check-plan", "--saving", "lean", "--bn", "frozen"])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("2 steps bit-identical"), "\(r.stdout)")
    }

    @Test func aNonFiniteLossStopsWithTheStepAndKeepsTheLastGoodCheckpoint() throws {
        let data = try Dataset()
        let ckpt = data.file("last-good.safetensors")
        let r = try Self.train(
            data, ["--lr", "1e30", "--limit", "256", "--batch", "32", "--epochs", "2", "--save", ckpt])
        #expect(r.status == 1)
        #expect(r.stderr.contains("at step "), "\(r.stderr)")
        #expect(r.stderr.contains("training stopped"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        #expect(FileManager.default.fileExists(atPath: ckpt), "the last good parameters are written: \(r.stderr)")
        let c = try Checkpoint.read(ckpt)
        #expect(c.tensors.allSatisfy { $0.dtype != .f32 || $0.floats.allSatisfy(\.isFinite) })
        // They load and give finite logits.
        let back = try Self.train(data, ["--init", ckpt, "--epochs", "0", "--batch", "32"])
        #expect(back.status == 0, "\(back.stderr)")
    }

    @Test func badInputsAreClearErrorsAndLeaveNoFile() throws {
        let data = try Dataset(train: 64, test: 8)
        let out = data.file("out.safetensors")
        func fails(_ args: [String], model: String = "small_resnet", _ needle: String) throws {
            let r = try CLI.run(["train", model, "--data", data.path, "--batch", "32", "--save", out] + args)
            #expect(r.status == 1, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(needle), "\(args): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(args) left \(out)")
        }
        try fails([], model: "resnet18", "takes 3x224x224 inputs")
        try fails(["--data", data.file("nowhere")], "no such directory")
        // Another model's checkpoint, and a truncated one.
        let other = data.file("mobilenet.safetensors")
        let made = try CLI.run([
            "train", "small_mobilenet", "--data", data.path, "--batch", "32", "--epochs", "0",
            "--save", other,
        ])
        #expect(made.status == 0, "\(made.stderr)")
        try fails(["--init", other], "does not fit 'small_resnet'")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: other))
        let truncated = data.file("truncated.safetensors")
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        try fails(["--init", truncated], "truncated.safetensors")
        // A corrupt dataset.
        let corrupt = try Dataset(train: 64, test: 8)
        try Data([0x00, 0x00, 0x08, 0x03, 0x00]).write(to: corrupt.dir.appendingPathComponent("t10k-images-idx3-ubyte"))
        try fails(["--data", corrupt.path], "t10k-images-idx3-ubyte")
    }

    @Test func realFashionMNIST() throws {
        guard FileManager.default.fileExists(atPath: ImageDataset.fashionMNISTDirectory + "/train-images-idx3-ubyte.gz")
        else {
            print("skipped: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
            return
        }
        let j = try Self.json(
            try CLI.run([
                "train", "small_resnet", "--method", "lora", "--limit", "256", "--batch", "32",
                "--test-limit", "256", "--classes", "0-4", "--format", "json",
            ]))
        #expect(j["steps"] as? Int == 8)
        #expect(j["test_samples"] as? Int == 256)
        #expect((j["loss"] as? Double)?.isFinite == true)
    }
}
