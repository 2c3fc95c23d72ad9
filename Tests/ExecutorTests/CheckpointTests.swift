// safetensors checkpoints: the byte layout, round trips through the reference runner, every malformed
// header the reader refuses, and the messages of a checkpoint that does not fit its graph.
import Executor
import Foundation
import Frontend
import GraphIR
import GraphTestSupport
import Testing

@Suite struct CheckpointTests {
    static func smallResnet(batch: Int = 2, classes: Int? = nil) throws -> Graph {
        var o = ModelOverrides()
        o.batch = batch
        o.classes = classes
        return try Models.compile("small_resnet.model", overrides: o).graph
    }

    func error(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    /// A safetensors file of `header` (padded) and `data`.
    static func file(_ header: String, _ data: [UInt8] = []) -> [UInt8] {
        let h = Array(header.utf8)
        var out: [UInt8] = []
        for k in 0..<8 { out.append(UInt8(UInt64(h.count) >> (8 * k) & 0xFF)) }
        return out + h + data
    }

    @Test func theLayoutIsSafetensors() throws {
        let c = Checkpoint(
            tensors: [
                Checkpoint.Tensor(name: "a", shape: [2], floats: [1, -2]),
                Checkpoint.Tensor(name: "b.num_batches_tracked", shape: [], integers: [7]),
            ],
            metadata: ["format": "pt"])
        let bytes = c.serialized()
        let n = Int(bytes[0]) | Int(bytes[1]) << 8
        #expect(bytes[2..<8].allSatisfy { $0 == 0 } && n % 8 == 0 && bytes.count == 8 + n + 16)
        let header = String(decoding: bytes[8..<8 + n], as: UTF8.self)
        #expect(
            header.trimmingCharacters(in: .whitespaces) == #"{"__metadata__":{"format":"pt"},"#
                + #""a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
                + #""b.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}"#)
        #expect(Array(bytes[(8 + n)...]) == [0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0, 7, 0, 0, 0, 0, 0, 0, 0])
        let back = try Checkpoint.parse(bytes, file: "c")
        #expect(back == c)
        #expect(back["a"]?.floats == [1, -2] && back["b.num_batches_tracked"]?.integers == [7])
        // Escapes and non-ASCII names survive; whitespace and key order are the writer's choice.
        let odd = Checkpoint(
            tensors: [Checkpoint.Tensor(name: "q\"\\\n\u{1}é", shape: [0], floats: [])],
            metadata: ["k": "v\t"])
        #expect(try Checkpoint.parse(odd.serialized(), file: "c") == odd)
        let spaced = Self.file(
            #"{ "x" : { "shape" : [ 1 ] , "data_offsets" : [ 0 , 4 ] , "dtype" : "F32" } }  "#,
            [0, 0, 0x80, 0x3F])
        #expect(try Checkpoint.parse(spaced, file: "c")["x"]?.floats == [1])
        #expect(
            try Checkpoint.parse(
                Self.file(
                    #"{"u":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"s":"#
                        + #"{"dtype":"F32","shape":[],"data_offsets":[4,8]}}"#,
                    [0, 0, 0, 0, 0, 0, 0x80, 0x3F]), file: "c")["s"]?.floats == [1])
        #expect(
            try Checkpoint.parse(
                Self.file(#"{"\u00e9\ud83d\ude00":{"dtype":"I64","shape":[0],"data_offsets":[0,0]}}"#),
                file: "c"
            ).tensors[0].name == "é😀")
    }

    @Test func saveLoadSaveGivesTheSameBytesAndLogits() throws {
        let graph = try Self.smallResnet()
        let initial = Checkpoint.pytorchDefault(graph, seed: 3)
        // BN: γ 1, β 0, statistics 0 and 1; conv weights within ±1/√fan_in; num_batches_tracked per BN layer.
        #expect(initial["bn1.weight"]?.floats == [Float](repeating: 1, count: 16))
        #expect(initial["layer2.0.downsample.1.running_var"]?.floats == [Float](repeating: 1, count: 32))
        let w = try #require(initial["layer1.0.conv1.weight"]?.floats)
        #expect(w.allSatisfy { abs($0) <= 1 / Float(144).squareRoot() } && Set(w).count > 2000)
        let bound = 1 / Float(64).squareRoot()
        #expect(try #require(initial["fc.bias"]?.floats).allSatisfy { abs($0) <= bound })
        #expect(Checkpoint.stepCounters(of: graph).map(\.key).first == "bn1.num_batches_tracked")
        #expect(Checkpoint.stepCounters(of: graph).count == 9)
        #expect(initial.tensors.filter { $0.name.hasSuffix(".num_batches_tracked") }.count == 9)
        #expect(
            Checkpoint.pytorchDefault(graph, seed: 3) == initial && Checkpoint.pytorchDefault(graph, seed: 4) != initial
        )

        let bytes = initial.serialized()
        var a = ReferenceRunner(graph), b = ReferenceRunner(graph)
        let loaded = try Checkpoint.parse(bytes, file: "init").load(into: graph, file: "init") {
            a.parameter(named: graph[$0].name)!.view
        }
        #expect(loaded.steps == 0)
        let saved = Checkpoint(graph: graph, steps: 0, metadata: ["init": "pytorch-default seed 3"]) {
            a.parameter(named: graph[$0].name)!.view
        }
        #expect(saved.serialized() == bytes)
        try Checkpoint.parse(saved.serialized(), file: "saved").load(into: graph, file: "saved") {
            b.parameter(named: graph[$0].name)!.view
        }
        var rng = SplitMix64(seed: 9)
        let x = Exec.random([2, 1, 28, 28], &rng)
        let la = try a.run([x]).outputs[0].floats, lb = try b.run([x]).outputs[0].floats
        #expect(la == lb && la.count == 20 && la.contains { $0 != 0 })
        // num_batches_tracked carries the steps it is given.
        let later = Checkpoint(graph: graph, steps: 1234) { a.parameter(named: graph[$0].name)!.view }
        #expect(
            try Checkpoint.parse(later.serialized(), file: "c").load(into: graph, file: "c") {
                b.parameter(named: graph[$0].name)!.view
            }.steps == 1234)
    }

    @Test func malformedHeadersAreRefusedWithTheReason() throws {
        let t = #"{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#, four: [UInt8] = [0, 0, 0, 0]
        let cases: [([UInt8], String)] = [
            ([1, 2, 3], "3 bytes, shorter than the 8-byte header length"),
            (Array(Self.file("{}").prefix(9)), "the header length 2 exceeds the 1 bytes after it"),
            ([255, 255, 255, 255, 0, 0, 0, 0] + Array(repeating: 0x20, count: 16), "is above 100000000 bytes"),
            (Self.file("[]"), "does not start with '{'"),
            (Self.file(#"{"a":\#(t),}"#, four), "bad JSON header at byte 62: expected a member name, found '}'"),
            (Self.file(#"{"a":\#(t),"a":\#(t)}"#, four + four), "duplicate key \"a\""),
            (Self.file(#"{"a":\#(t)} x"#, four), "unexpected 'x' after the value"),
            (
                Self.file(#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, four),
                "tensor 'a': dtype F16 is not supported (graphc reads F32 and I64)"
            ),
            (Self.file(#"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}"#, four), "unknown dtype \"Q4\""),
            (
                Self.file(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, four),
                "shape holds something other than non-negative integers"
            ),
            (Self.file(#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, four), "non-negative integers"),
            (
                Self.file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}"#, four + four),
                "data_offsets [0, 8] hold 8 bytes, but F32 [1] takes 4"
            ),
            (Self.file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, four), "hold"),
            (Self.file(#"{"a":{"dtype":"F32","shape":[1]}}"#, four), "tensor 'a': no data_offsets"),
            (Self.file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}"#, four), "unknown field \"x\""),
            (Self.file(#"{"a":\#(t),"b":\#(t)}"#, four), "tensors 'a' and 'b' overlap"),
            (
                Self.file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, four + four),
                "bytes 0..<4 of the data belong to no tensor"
            ),
            (
                Self.file(#"{"a":\#(t)}"#, [0, 0]),
                "truncated: tensor 'a' ends at byte 4 of the data, but the file holds 2"
            ),
            (Self.file(#"{"a":\#(t)}"#, four + [9]), "1 bytes after the last tensor's data"),
            (Self.file(#"{"__metadata__":{"k":1}}"#), "__metadata__ \"k\" is a number, not a string"),
            (Self.file(#"{"a":[1]}"#), "tensor 'a': its entry is an array, not an object"),
            (Self.file(#"{"a":"\#u{1}"}"#), "control character 0x1 in a string"),
            (Self.file(#"{"a\ud800":1}"#), "unpaired surrogate"),
            (
                Self.file("{\"a\":" + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}"),
                "nested deeper than 64 levels"
            ),
            (Self.file(#"{"a":01}"#), "a number cannot start with 0"),
            (Self.file(#"{"a":tru}"#), "unexpected 't'"),
        ]
        for (bytes, reason) in cases {
            let e = error { _ = try Checkpoint.parse(bytes, file: "bad.safetensors") }
            #expect(e.hasPrefix("'bad.safetensors' is not a valid safetensors checkpoint: "), "\(e)")
            #expect(e.contains(reason), "\(e)")
            #expect(!e.contains("\n"))
        }
        // Invalid UTF-8 in a name.
        var raw = Self.file(#"{"ab":1}"#)
        raw[10] = 0xFF
        #expect(error { _ = try Checkpoint.parse(raw, file: "f") }.contains("not UTF-8"))
    }

    @Test func truncationAtEveryPointIsAnError() throws {
        let graph = try Self.smallResnet()
        let bytes = Checkpoint.pytorchDefault(graph, seed: 1).serialized()
        let n = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16
        for cut in [0, 4, 8, 9, n / 2, n + 7, n + 8, n + 9, bytes.count / 2, bytes.count - 1] {
            let e = error { _ = try Checkpoint.parse(Array(bytes.prefix(cut)), file: "t") }
            #expect(e.contains("truncated"), "cut at \(cut): \(e)")
        }
        // Random corruption never crashes: the file parses or is refused.
        var rng = SplitMix64(seed: 5)
        for _ in 0..<300 {
            var b = Array(bytes.prefix(8 + n + 64))
            b[Int.random(in: 0..<(8 + n), using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            _ = try? Checkpoint.parse(b, file: "x")
        }
        // Through the file system: a missing file names it.
        #expect(
            error { _ = try Checkpoint.read("/nonexistent/c.safetensors") }
                == "cannot read '/nonexistent/c.safetensors': no such file or directory")
    }

    @Test func aCheckpointThatDoesNotFitNamesTheTensors() throws {
        let graph = try Self.smallResnet()
        let c = Checkpoint.pytorchDefault(graph, seed: 1)
        let five = try Self.smallResnet(classes: 5)
        let runner = ReferenceRunner(five)
        let shape = error { try c.load(into: five, file: "r.st") { runner.parameter(named: five[$0].name)!.view } }
        #expect(
            shape == "'r.st': tensor 'fc.weight' is F32 [10, 64] in the checkpoint but F32 [5, 64] in 'small_resnet'")
        // Nothing was copied.
        #expect(runner.parameter(named: "conv1.weight")!.floats.allSatisfy { $0 == 0 })

        var missing = c
        missing.tensors.removeAll { $0.name == "layer1.0.bn2.running_var" }
        missing.tensors.append(Checkpoint.Tensor(name: "extra", shape: [1], floats: [0]))
        let m = error { _ = try missing.bind(to: graph, file: "m.st") }
        #expect(
            m == "'m.st' does not fit 'small_resnet': 1 of its 47 parameters are missing "
                + "('layer1.0.bn2.running_var'), and 1 tensors are not parameters of it ('extra')")
        var badCount = c
        badCount.tensors[badCount.tensors.firstIndex { $0.name == "bn1.num_batches_tracked" }!] =
            Checkpoint.Tensor(name: "bn1.num_batches_tracked", shape: [1], integers: [0])
        #expect(
            error { _ = try badCount.bind(to: graph, file: "n") }.contains(
                "is I64 [1] in the checkpoint but num_batches_tracked is I64 []"))

        let mobilenet = try Models.compile("small_mobilenet.model").graph
        let other = error { _ = try c.bind(to: mobilenet, file: "o.st") }
        #expect(other.hasPrefix("'o.st' does not fit 'small_mobilenet': "), "\(other)")
        #expect(other.hasSuffix("the checkpoint was written for 'small_resnet'"), "\(other)")
        var anonymous = c
        anonymous.metadata = [:]
        #expect(
            error { _ = try anonymous.bind(to: mobilenet, file: "o.st") }.hasSuffix("is it another model's checkpoint?")
        )
    }
}
