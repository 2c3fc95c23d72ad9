import Foundation
import GraphTestSupport
import Testing

/// `.onnx` models through the binary: `run` reproduces PyTorch's logits for both small_resnet exports,
/// `analyze --method lora` on the training export equals the zoo model's report, bnh on the eval export
/// says why it cannot apply, `export-onnx` round-trips, onnx.checker accepts the export (when Debian's
/// python3-onnx is installed), and bad files are one-line errors with exit status 1.
@Suite struct ONNXCLITests {
    static func fixture(_ name: String) -> String {
        CLI.packageRoot.appendingPathComponent("Tests/FrontendTests/Fixtures/onnx/\(name)").path
    }

    static func floats(_ path: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// small_resnet (Conv, BatchNormalization, Relu, Add, GlobalAveragePool, Flatten, Gemm) and mixed_ops
    /// (Clip, MaxPool, depthwise Conv, HardSigmoid, Mul, Concat, ReduceMean, Pad, AveragePool, Sigmoid,
    /// Dropout; Tests/PyTorch/onnx_mixed_ops.py), each exported in training and eval mode.
    @Test(arguments: ["small_resnet_train", "small_resnet_eval", "mixed_ops_train", "mixed_ops_eval"])
    func runReproducesPyTorchsLogits(_ kind: String) throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("logits.f32").path
        let r = try CLI.run([
            "run", Self.fixture("\(kind).onnx"), "--input", Self.fixture("\(kind)_input.f32"),
            "-o", out,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let ours = try Self.floats(out)
        let torch = try Self.floats(Self.fixture("\(kind)_output.f32"))
        #expect(ours.count == torch.count && torch.count == (kind.hasPrefix("small") ? 40 : 30))
        let worst = zip(ours, torch).map { abs($0 - $1) / max(abs($1), 1e-6) }.max() ?? .infinity
        #expect(worst <= 1e-4, "largest relative difference \(worst)")
    }

    /// The same report as the zoo model's, but for the names (the export's are PyTorch's module paths).
    @Test func analyzeLoRAEqualsTheZooModel() throws {
        let onnx = try CLI.run([
            "analyze", Self.fixture("small_resnet_train.onnx"), "--method", "lora", "--format", "json",
        ])
        let zoo = try CLI.run(["analyze", "small_resnet", "--method", "lora", "--format", "json"])
        #expect(onnx.status == 0 && zoo.status == 0, "\(onnx.stderr)")
        // Every number and structure of the report; strings (layer and model names) blanked.
        func numbers(_ json: Any) -> Any {
            switch json {
            case let d as [String: Any]: d.mapValues(numbers)
            case let a as [Any]: a.map(numbers)
            case is String: ""
            default: json
            }
        }
        let a = numbers(try JSONSerialization.jsonObject(with: Data(onnx.stdout.utf8)))
        let b = numbers(try JSONSerialization.jsonObject(with: Data(zoo.stdout.utf8)))
        func text(_ json: Any) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self)
        }
        #expect(try text(a) == text(b))
        #expect(onnx.stdout.contains("93570"))  // LoRA r8's trainable parameters, as for the zoo model
    }

    @Test func bnhOnTheEvalExportSaysWhy() throws {
        let r = try CLI.run(["analyze", Self.fixture("small_resnet_eval.onnx"), "--method", "bnh"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("no batch_norm") && r.stderr.contains("eval-mode ONNX export"), "\(r.stderr)")
        let t = try CLI.run(["analyze", Self.fixture("small_resnet_train.onnx"), "--method", "bnh"])
        #expect(t.status == 0, "\(t.stderr)")
    }

    @Test func exportThenImportGivesTheSameGraph() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("small_resnet.onnx").path
        let e = try CLI.run(["export-onnx", "small_resnet", "-o", file])
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stderr.contains("PyTorch's default initialisation"))
        let back = try CLI.run(["ir", file])
        let zoo = try CLI.run(["ir", "small_resnet"])
        #expect(back.status == 0, "\(back.stderr)")
        // The IR text but for the graph's name line.
        #expect(back.stdout.split(separator: "\n").dropFirst() == zoo.stdout.split(separator: "\n").dropFirst())
        // Its weights are the ones it was written with: PyTorch's default init from seed 0.
        let x = Self.fixture("small_resnet_train_input.f32")
        let a = dir.appendingPathComponent("a.f32").path, b = dir.appendingPathComponent("b.f32").path
        #expect(try CLI.run(["run", file, "--input", x, "-o", a]).status == 0)
        #expect(try CLI.run(["run", "small_resnet", "--seed", "0", "--input", x, "-o", b]).status == 0)
        #expect(try Self.floats(a) == Self.floats(b))
    }

    @Test func exportPassesONNXChecker() throws {
        guard (try? CLI.shell("/usr/bin/python3 -c 'import onnx' 2>/dev/null"))?.status == 0 else {
            print("skipped: onnx is not installed for /usr/bin/python3 (apt-get install python3-onnx)")
            return
        }
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, extra) in [("plain", [String]()), ("lora", ["--method", "lora"]), ("mobile", [])] {
            let file = dir.appendingPathComponent("\(name).onnx").path
            let model = name == "mobile" ? "small_mobilenet" : "small_resnet"
            #expect(try CLI.run(["export-onnx", model, "-o", file] + extra).status == 0)
            let check = try CLI.shell(
                "/usr/bin/python3 -c 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' '\(file)'"
            )
            #expect(check.status == 0, "\(name): \(check.stderr)")
        }
    }

    @Test func badFilesAreOneLineErrors() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("text.onnx")
        try Data("not a model\n".utf8).write(to: text)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.fixture("small_resnet_train.onnx")))
        let cut = dir.appendingPathComponent("cut.onnx")
        try bytes.prefix(bytes.count / 3).write(to: cut)
        for file in [text.path, cut.path] {
            let r = try CLI.run(["inspect", file])
            #expect(r.status == 1)
            #expect(r.stderr.contains(file) && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        }
        let out = dir.appendingPathComponent("x.onnx").path
        let r = try CLI.run(["export-onnx", text.path, "-o", out])
        #expect(r.status == 1 && !FileManager.default.fileExists(atPath: out))
    }

    /// An unmerged DoRA export (Div, ReduceL2, Gemm of computed tensors) is written, says on stderr that
    /// graphc does not import it back, and importing it is a one-line error; merged, it imports back.
    @Test func unmergedDoRAExportSaysItDoesNotImportBack() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let dora = dir.appendingPathComponent("dora.onnx").path
        let r = try CLI.run(["export-onnx", "small_resnet", "--method", "dora", "-o", dora])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("which graphc does not import back"), "\(r.stderr)")
        let back = try CLI.run(["inspect", dora])
        #expect(back.status == 1 && back.stderr.split(separator: "\n").count == 1, "\(back.stderr)")
        #expect(back.stderr.contains("\(dora): node "), "\(back.stderr)")
        let merged = dir.appendingPathComponent("merged.onnx").path
        let m = try CLI.run(["export-onnx", "small_resnet", "--method", "dora", "--merge-adapters", "-o", merged])
        #expect(m.status == 0 && !m.stderr.contains("does not import back"), "\(m.stderr)")
        #expect(try CLI.run(["inspect", merged]).status == 0)
    }
}
