import Foundation
import GraphIR
import GraphTestSupport
import Testing

// ONNX import errors: each a one-line ONNXError naming the file and, where one is at fault, the node:
// unsupported op types (with the supported set), unsupported opsets, bytes that are not ONNX, truncated
// files, shape inconsistencies; and a seeded fuzz run over mutations of the fixtures (never a crash).
@testable import Frontend

@Suite struct ONNXErrorTests {
    static func mutated(_ change: (inout Onnx_ModelProto) -> Void) throws -> [UInt8] {
        var model = try ONNXImporter.parse(try ONNXFixtures.bytes("small_resnet_train.onnx"), file: "x")
        change(&model)
        return try model.serializedBytes()
    }

    static func error(_ bytes: [UInt8]) -> String? {
        do {
            _ = try ONNXImporter.importModel(bytes, file: "m.onnx")
            return nil
        } catch {
            return error.description
        }
    }

    @Test func unsupportedOpNamesTypeNodeAndTheSupportedSet() throws {
        let e = Self.error(try Self.mutated { $0.graph.node[2].opType = "LeakyRelu" })
        #expect(
            e?.hasPrefix("m.onnx: node '/stem/stem.2/Relu' (LeakyRelu): op type 'LeakyRelu' is not supported") == true)
        #expect(e?.contains(ONNXImporter.supportedOps.joined(separator: ", ")) == true)
    }

    @Test func unsupportedOpset() throws {
        #expect(
            Self.error(try Self.mutated { $0.opsetImport[0].version = 9 })
                == "m.onnx: opset 9 is not supported (graphc imports opsets 11 to 18)")
        #expect(Self.error(try Self.mutated { $0.opsetImport[0].version = 19 })?.contains("opset 19") == true)
        #expect(
            Self.error(try Self.mutated { $0.opsetImport = [] })?.contains("no default-domain opset_import") == true)
    }

    @Test func notONNXAndTruncated() throws {
        let text = Array("model small_resnet { conv1 = conv2d(16) }\n".utf8)
        #expect(Self.error(text)?.hasPrefix("m.onnx: not an ONNX model") == true)
        #expect(Self.error([])?.hasPrefix("m.onnx: not an ONNX model") == true)
        let bytes = try ONNXFixtures.bytes("small_resnet_train.onnx")
        for cut in [10, 1000, bytes.count / 2, bytes.count - 3] {
            let e = Self.error(Array(bytes.prefix(cut)))
            #expect(e != nil, "cut at \(cut)")
            #expect(e?.hasPrefix("m.onnx: ") == true)
        }
    }

    @Test func shapeInconsistenciesNameTheNode() throws {
        // layer1.conv2's weight given layer2.conv1's ([32, 16, 3, 3]): bn2 then sees 32 channels.
        let e = Self.error(
            try Self.mutated { m in
                let k = m.graph.node.firstIndex { $0.name == "/layer1/conv2/Conv" }!
                m.graph.node[k].input[1] = "layer2.conv1.weight"
            })
        #expect(e?.contains("node '/layer1/bn2/BatchNormalization' (BatchNormalization)") == true, "\(e ?? "")")
        // The declared output shape disagrees with the graph.
        let d = Self.error(try Self.mutated { $0.graph.output[0].type.tensorType.shape.dim[1].dimValue = 11 })
        #expect(d?.contains("output 'logits' is declared") == true)
        // An asymmetric pad.
        let p = Self.error(
            try Self.mutated { m in
                let a = m.graph.node[0].attribute.firstIndex { $0.name == "pads" }!
                m.graph.node[0].attribute[a].ints = [1, 1, 0, 0]
            })
        #expect(p?.contains("node '/stem/stem.0/Conv' (Conv): asymmetric padding") == true)
        // An input no node defines.
        let u = Self.error(try Self.mutated { $0.graph.node[3].input[0] = "nowhere" })
        #expect(u?.contains("input 'nowhere' is not defined") == true)
    }

    /// Seeded mutations of both fixtures (byte flips, truncations, inserted and deleted runs, varint
    /// overwrites): every one is an ONNXError or a graph that verifies. 1,200 cases a run.
    @Test func fuzzedFixturesNeverCrash() throws {
        let files = [
            try ONNXFixtures.bytes("small_resnet_train.onnx"), try ONNXFixtures.bytes("small_resnet_eval.onnx"),
        ]
        var rng = SplitMix64(seed: 0x0_77AD)
        var errors = 0, graphs = 0
        for case_ in 0..<1200 {
            var b = files[case_ % 2]
            // Most of a file is weight bytes; aim most mutations at the structure around them.
            let structure = Int.random(in: 0..<4, using: &rng) == 0 ? b.count : min(b.count, 4096)
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = Int.random(in: 0..<min(structure, b.count), using: &rng)
                switch Int.random(in: 0..<5, using: &rng) {
                case 0: b[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: b[at] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                case 2: b.removeSubrange(at..<min(b.count, at + Int.random(in: 1...16, using: &rng)))
                case 3:
                    b.insert(
                        contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in
                            UInt8.random(in: 0...255, using: &rng)
                        }, at: at)
                case _: b = Array(b.prefix(at))
                }
                if b.isEmpty { break }
            }
            do {
                let m = try ONNXImporter.importModel(b, file: "fuzz.onnx")
                #expect(Verifier.verify(m.graph).allSatisfy { $0.severity != .error })
                #expect(m.weights.count == m.graph.parameters.count)
                graphs += 1
            } catch {
                #expect(error.description.hasPrefix("fuzz.onnx: "))
                #expect(!error.description.contains("\n"))
                errors += 1
            }
        }
        #expect(errors + graphs == 1200)
        #expect(errors > 0 && graphs > 0)
    }
}
