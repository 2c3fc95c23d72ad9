import Executor
import Foundation
import Frontend
import GraphIR
import GraphTestSupport
import Passes
import Testing

/// `graphc run` through the binary, against the reference runner in process: logits, checkpoints,
/// merged adapters, and the errors that leave no output behind.
@Suite struct RunCLITests {
    static func graph(batch: Int, method: FineTuningMethod? = nil, rank: Int = 2) throws -> Graph {
        var o = ModelOverrides()
        o.batch = batch
        let forward = try Models.compile("small_resnet.model", overrides: o).graph
        guard let method else { return forward }
        var config = TrainingConfig(method: method)
        config.rank = rank
        let adapter: any Pass = method == .lora ? LoRA(config) : DoRA(config)
        return try PassPipeline([Freeze(config), adapter]).run(forward)
    }

    /// PyTorch's default init with every tensor perturbed (BN statistics, LoRA B, DoRA magnitudes too),
    /// so that no part of the model is an identity.
    static func weights(_ graph: Graph, seed: UInt64) -> Checkpoint {
        var c = Checkpoint.pytorchDefault(graph, seed: seed)
        var rng = SplitMix64(seed: seed)
        for (i, t) in c.tensors.enumerated() where t.dtype == .f32 {
            let v = t.floats.map { (x: Float) -> Float in
                let noise = Float.random(in: -0.2..<0.2, using: &rng)
                return t.name.hasSuffix("running_var") || t.name.hasSuffix("magnitude_vector")
                    ? x + 0.5 + abs(noise) : x + noise
            }
            c.tensors[i] = Checkpoint.Tensor(name: t.name, shape: t.shape, floats: v)
        }
        return c
    }

    static func inputs(_ n: Int, seed: UInt64) -> NpyArray {
        var rng = SplitMix64(seed: seed)
        let c = Checkpoint.Tensor(
            name: "x", shape: [n, 1, 28, 28],
            floats: (0..<n * 784).map { _ in Float.random(in: -2..<2, using: &rng) })
        return NpyArray(shape: c.shape, data: c.data)
    }

    static func floats(_ data: Data) -> [Float] {
        Checkpoint.Tensor(name: "f", dtype: .f32, shape: [data.count / 4], data: [UInt8](data)).floats
    }

    static func logits(_ url: URL) throws -> [Float] {
        let bytes = [UInt8](try Data(contentsOf: url))
        let a = try NpyArray.parse(bytes, file: url.path)
        return floats(Data(a.data))
    }

    static func relative(_ a: [Float], _ b: [Float]) -> Double {
        let scale = Double(b.map { abs($0) }.max() ?? 1)
        return zip(a, b).map { Double(abs($0 - $1)) }.max()! / max(scale, 1e-12)
    }

    @Test func logitsMatchTheReferenceRunnerAndCheckpointsRoundTrip() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let n = 5
        let graph = try Self.graph(batch: n)
        let weights = Self.weights(graph, seed: 4)
        let ckpt = dir.appendingPathComponent("w.safetensors"), x = dir.appendingPathComponent("x.npy")
        try Data(weights.serialized()).write(to: ckpt)
        let input = Self.inputs(n, seed: 1)
        try Data(input.encoded).write(to: x)

        // In process: the reference runner on the whole batch.
        var runner = ReferenceRunner(graph)
        let r0 = runner
        try weights.load(into: graph, file: "w") { r0.parameter(named: graph[$0].name)!.view }
        let xt = HostTensor(.f32, [n, 1, 28, 28])
        input.data.withUnsafeBytes { xt.view.base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let expected = try runner.run([xt]).outputs[0].floats

        // Through the CLI, in chunks of 2 (the last one padded).
        let y = dir.appendingPathComponent("y.npy")
        let r = try CLI.run([
            "run", "small_resnet", "--input", x.path, "--init", ckpt.path, "-o", y.path, "--batch", "2",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.isEmpty && r.stderr.isEmpty)
        let got = try Self.logits(y)
        #expect(got.count == n * 10)
        #expect(Self.relative(got, expected) < 1e-5, "\(Self.relative(got, expected))")
        #expect(try NpyArray.parse([UInt8](Data(contentsOf: y)), file: "y").shape == [n, 10])

        // Save → load → save: the same bytes; the reloaded checkpoint gives the same logits, bit for bit.
        let again = Checkpoint(graph: graph, steps: 0, metadata: weights.metadata) {
            r0.parameter(named: graph[$0].name)!.view
        }
        #expect(again.serialized() == weights.serialized())
        let ckpt2 = dir.appendingPathComponent("w2.safetensors"), y2 = dir.appendingPathComponent("y2.f32")
        try Data(again.serialized()).write(to: ckpt2)
        let raw = dir.appendingPathComponent("x.f32")
        try Data(input.data).write(to: raw)
        let r2 = try CLI.run([
            "run", "small_resnet", "--input", raw.path, "--init", ckpt2.path, "-o", y2.path, "--batch", "2",
        ])
        #expect(r2.status == 0, "\(r2.stderr)")
        #expect(Self.floats(try Data(contentsOf: y2)) == got)
    }

    @Test func seedRunsPyTorchsDefaultInit() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let x = dir.appendingPathComponent("x.npy")
        try Data(Self.inputs(3, seed: 2).encoded).write(to: x)
        let ckpt = dir.appendingPathComponent("init.safetensors")
        try Data(Checkpoint.pytorchDefault(try Self.graph(batch: 3), seed: 7).serialized()).write(to: ckpt)
        let a = dir.appendingPathComponent("a.npy"), b = dir.appendingPathComponent("b.npy")
        #expect(try CLI.run(["run", "small_resnet", "--input", x.path, "--seed", "7", "-o", a.path]).status == 0)
        #expect(try CLI.run(["run", "small_resnet", "--input", x.path, "--init", ckpt.path, "-o", b.path]).status == 0)
        #expect(try Self.logits(a) == (try Self.logits(b)))
    }

    @Test(arguments: [FineTuningMethod.lora, .dora])
    func mergedAdaptersGiveTheUnmergedLogits(_ method: FineTuningMethod) throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let adapted = try Self.graph(batch: 4, method: method, rank: 4)
        let weights = Self.weights(adapted, seed: 11)
        let lora = try #require(weights["layer2.0.conv1.lora_B.weight"]?.floats)
        #expect(lora.allSatisfy { $0 != 0 })
        let ckpt = dir.appendingPathComponent("adapted.safetensors"), x = dir.appendingPathComponent("x.npy")
        try Data(weights.serialized()).write(to: ckpt)
        try Data(Self.inputs(4, seed: 3).encoded).write(to: x)
        let plain = dir.appendingPathComponent("plain.npy"), merged = dir.appendingPathComponent("merged.npy")
        let args = [
            "run", "small_resnet", "--method", method.rawValue, "--rank", "4", "--input", x.path, "--init", ckpt.path,
        ]
        let r1 = try CLI.run(args + ["-o", plain.path]),
            r2 = try CLI.run(args + ["--merge-adapters", "-o", merged.path])
        #expect(r1.status == 0 && r2.status == 0, "\(r1.stderr)\(r2.stderr)")
        let a = try Self.logits(plain), b = try Self.logits(merged)
        #expect(Self.relative(b, a) < 1e-5, "\(Self.relative(b, a))")
        // The adapters matter: without them the logits differ.
        let base = Checkpoint(
            tensors: weights.tensors.filter { !$0.name.contains("lora_") }, metadata: weights.metadata)
        let baseFile = dir.appendingPathComponent("base.safetensors"), y = dir.appendingPathComponent("base.npy")
        try Data(base.serialized()).write(to: baseFile)
        #expect(
            try CLI.run(["run", "small_resnet", "--input", x.path, "--init", baseFile.path, "-o", y.path]).status == 0)
        #expect(Self.relative(try Self.logits(y), a) > 1e-3)
    }

    @Test func badInputsAreOneLineErrorsAndLeaveNoOutput() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.npy")
        try Data("keep".utf8).write(to: out)
        let good = dir.appendingPathComponent("x.npy")
        try Data(Self.inputs(2, seed: 1).encoded).write(to: good)
        func file(_ name: String, _ bytes: [UInt8]) throws -> String {
            let u = dir.appendingPathComponent(name)
            try Data(bytes).write(to: u)
            return u.path
        }
        var nan = Self.inputs(2, seed: 1)
        nan.data.replaceSubrange(3136 * 1 + 8..<3136 * 1 + 12, with: [0, 0, 0xC0, 0x7F])
        let wrong = NpyArray(shape: [2, 3, 28, 28], data: [UInt8](repeating: 0, count: 2 * 3 * 784 * 4))
        let mobilenet = try Models.compile("small_mobilenet.model").graph
        var truncated = Checkpoint.pytorchDefault(try Self.graph(batch: 1), seed: 1).serialized()
        truncated.removeLast(100)
        let cases: [([String], String)] = [
            (["--input", good.path], "'small_resnet' has no weights: give --init CKPT"),
            (
                ["--input", try file("w.npy", wrong.encoded), "--seed", "1"],
                "holds [2, 3, 28, 28], but 'small_resnet' takes [N, 1, 28, 28]"
            ),
            (
                ["--input", try file("s.f32", [UInt8](repeating: 0, count: 3136 + 4)), "--seed", "1"],
                "holds 3140 bytes, not a whole number of samples of 'small_resnet' (1x28x28 float32 = 3136 bytes each)"
            ),
            (["--input", try file("e.f32", []), "--seed", "1"], "holds 0 bytes"),
            (
                ["--input", try file("n.npy", nan.encoded), "--seed", "1"],
                "holds nan at element 2 of sample 1; inputs must be finite"
            ),
            (
                ["--input", try file("t.npy", Array(Self.inputs(2, seed: 1).encoded.dropLast(4))), "--seed", "1"],
                "needs 6272 bytes of data, the file has 6268 (truncated file?)"
            ),
            (["--input", dir.appendingPathComponent("absent.npy").path, "--seed", "1"], "no such file or directory"),
            (
                [
                    "--input", good.path, "--init",
                    try file("m.st", Checkpoint.pytorchDefault(mobilenet, seed: 1).serialized()),
                ],
                "does not fit 'small_resnet'"
            ),
            (["--input", good.path, "--init", try file("tr.st", truncated)], "truncated"),
            (["--input", good.path, "--init", good.path], "is not a valid safetensors checkpoint"),
        ]
        for (args, message) in cases {
            let r = try CLI.run(["run", "small_resnet", "-o", out.path] + args)
            #expect(r.status == 1, "\(args)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            #expect(try Data(contentsOf: out) == Data("keep".utf8))
        }
        let usage = try CLI.run([
            "run", "small_resnet", "-o", out.path, "--input", good.path, "--seed", "1", "--method", "galore",
        ])
        #expect(
            usage.status == 1
                && usage.stderr.hasPrefix("Error: --method galore adds no adapters; run takes --method lora or dora"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.hasPrefix(".") })
        // The input is never the output.
        let same = try CLI.run(["run", "small_resnet", "--input", good.path, "--seed", "1", "-o", good.path])
        #expect(same.status == 1 && same.stderr.contains("an input of this command"), "\(same.stderr)")
    }
}
