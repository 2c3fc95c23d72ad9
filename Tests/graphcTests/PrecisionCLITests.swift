import Foundation
import Testing

/// --weights and --activations end to end: the JSON keys and headers name the precision, the bytes
/// change as the types say, and graphc train refuses what the executor cannot run.
@Suite struct PrecisionCLITests {
    @Test func analyzeReportsTheStorageAndItsBytes() throws {
        let base = ["analyze", "resnet18", "--method", "bnh", "--batch", "8", "--format", "json"]
        let f32 = try CLI.json(base)
        let low = try CLI.json(base + ["--weights", "int8", "--activations", "f16"])
        #expect(f32["weights_dtype"] as? String == "f32" && f32["activations_dtype"] as? String == "f32")
        #expect(low["weights_dtype"] as? String == "int8" && low["activations_dtype"] as? String == "f16")
        // The max pool's i64 indices (8·64·56·56·8 bytes) keep their size; the rest halves exactly.
        let indices = 8 * 64 * 56 * 56 * 8
        let a = try #require(f32["saved_activation_bytes"] as? Int),
            b = try #require(low["saved_activation_bytes"] as? Int)
        #expect(b - indices == (a - indices) / 2)
        func parameters(_ j: [String: Any]) -> Int? {
            ((j["memory"] as? [String: Any])?["at_peak"] as? [String: Int])?["parameters"]
        }
        // Frozen conv weights numel + 4·C_out, the trainable BN affine and head in f32.
        let full = try #require(parameters(f32)), quantized = try #require(parameters(low))
        let convWeights = 11_166_912, outputChannels = 4_800
        #expect(full - 4 * convWeights == quantized - convWeights - 4 * outputChannels)
    }

    @Test func headersNameAReducedPrecision() throws {
        let r = try CLI.run([
            "analyze", "small_resnet", "--method", "head", "--weights", "bf16", "--activations", "f16",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(
            lines.count > 1 && lines[1] == "saving pytorch · BN train · weights bf16 · activations f16", "\(r.stdout)")
        let plain = try CLI.run(["analyze", "small_resnet", "--method", "head"])
        #expect(plain.stdout.contains("saving pytorch · BN train · weights f32 · activations f32\n"))
        let compare = try CLI.run(["compare", "small_resnet", "--methods", "fft,head", "--activations", "bf16"])
        #expect(compare.status == 0, "\(compare.stderr)")
        #expect(compare.stdout.hasPrefix("Saving pytorch · BN train · weights f32 · activations bf16\n"))
        let json = try CLI.run([
            "compare", "small_resnet", "--methods", "head", "--weights", "int8", "--format", "json",
        ])
        #expect(
            json.stdout.contains("\"weights_dtype\": \"int8\"") || json.stdout.contains("\"weights_dtype\":\"int8\""))
        let timeline = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: timeline) }
        let dot = timeline.appendingPathComponent("t.dot").path
        let t = try CLI.run(["timeline", "small_resnet", "--method", "bnh", "--activations", "f16", "-o", dot])
        #expect(t.status == 0, "\(t.stderr)")
        #expect(try String(contentsOfFile: dot, encoding: .utf8).contains("weights f32 · activations f16"))
    }

    @Test func trainRefusesReducedPrecision() throws {
        // The executor's own refusal, before any data is loaded (no --data directory is looked at).
        let r = try CLI.run(["train", "small_resnet", "--method", "head", "--weights", "int8", "--data", "/nowhere"])
        #expect(r.status == 1)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(r.stderr)")
        #expect(
            r.stderr.hasPrefix("graphc: error: the executor runs f32 storage only, and '"), "\(r.stderr)")
        #expect(r.stderr.contains(" is qi8["), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test func runRefusesAReducedPrecisionGraph() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let gir = dir.appendingPathComponent("f16.gir").path, out = dir.appendingPathComponent("y.f32").path
        let opt = try CLI.run(["opt", "small_resnet", "--passes", "set-precision", "--activations", "f16", "-o", gir])
        #expect(opt.status == 0, "\(opt.stderr)")
        let input = dir.appendingPathComponent("x.f32")
        try Data(count: 28 * 28 * 4).write(to: input)
        let r = try CLI.run(["run", gir, "--input", input.path, "--seed", "1", "-o", out])
        #expect(r.status == 1)
        #expect(
            r.stderr.hasPrefix(
                "graphc: error: the executor runs f32 storage only, and 'input' in 'small_resnet' is "
                    + "f16[1, 1, 28, 28]"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func unknownPrecisionIsAnUsageError() throws {
        let r = try CLI.run(["analyze", "small_resnet", "--activations", "int8"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--activations"))
    }
}
