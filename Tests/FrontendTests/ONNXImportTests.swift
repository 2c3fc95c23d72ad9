import Foundation
import GraphIR
import GraphTestSupport
import Testing

// ONNX import against the PyTorch 1.13 exports of small_resnet (Fixtures/onnx, copied from the shared
// fixtures): the training-mode export imports to the zoo's graph (structure, parameter count, MACs,
// roles), the eval-mode export is recognised as BN-folded, export then import is the identity, and
// the decoder's paths (raw and typed data, external data, Identity de-duplication) and its errors.
@testable import Frontend

enum ONNXFixtures {
    static func url(_ name: String) -> URL {
        Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/onnx")!
    }
    static func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: url(name))) }
    static func model(_ name: String, batch: Int? = 1) throws -> ONNXModel {
        try ONNXImporter.importModel(try bytes(name), file: name, batch: batch)
    }

    /// Line-by-line equality that reports the first differing lines, not two whole dumps.
    static func expectEqual(_ a: [String], _ b: [String], sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        #expect(a.count == b.count, sourceLocation: sourceLocation)
        for (i, (x, y)) in zip(a, b).enumerated() where x != y {
            Issue.record("line \(i): \(x)\n   vs: \(y)", sourceLocation: sourceLocation)
            return
        }
    }

    /// Graph equality, reported as the first differing value or node.
    static func expectEqual(_ a: Graph, _ b: Graph, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        func lines(_ g: Graph) -> [String] {
            ["\(g.name) in \(g.inputs) params \(g.parameters) out \(g.outputs)"]
                + g.values.map { "\($0)" } + g.nodes.map { "\($0)" }
        }
        expectEqual(lines(a), lines(b), sourceLocation: sourceLocation)
        #expect(a == b, "graphs differ (see above)", sourceLocation: sourceLocation)
    }

    /// A graph's structure without its names: per node the op, where each operand comes from (an
    /// input, a parameter by position and shape, or a node result) and the result types.
    static func structure(_ g: Graph) -> [String] {
        let params = Dictionary(uniqueKeysWithValues: g.parameters.enumerated().map { ($1, $0) })
        func source(_ id: ValueID) -> String {
            switch g[id].kind {
            case .input: "input \(g[id].type)"
            case let .parameter(role, _): "param \(params[id]!) \(role.rawValue) \(g[id].type)"
            case let .result(node, index): "node \(node).\(index)"
            }
        }
        return g.nodes.map { n in
            "\(n.op) (" + n.inputs.map(source).joined(separator: ", ") + ") -> "
                + n.outputs.map { g[$0].type.description }.joined(separator: ", ")
        } + ["outputs " + g.outputs.map(source).joined(separator: ", ")]
    }
}

@Suite struct ONNXImportTests {
    static func zoo(batch: Int = 1) throws -> Graph {
        try ModelDescription.compile(
            source: Array(Zoo.source(named: "small_resnet")!.utf8), file: "small_resnet.model",
            overrides: ModelOverrides(batch: batch)
        ).graph
    }

    static func macs(_ g: Graph) -> Int { g.nodes.reduce(0) { $0 + g.macs(of: $1) } }

    @Test func trainingExportIsTheZooGraph() throws {
        let m = try ONNXFixtures.model("small_resnet_train.onnx")
        let zoo = try Self.zoo()
        #expect(m.graph.parameterCount == 77_754)
        #expect(Self.macs(m.graph) == 9_345_920)
        #expect(m.graph.parameterCount == zoo.parameterCount)
        ONNXFixtures.expectEqual(ONNXFixtures.structure(m.graph), ONNXFixtures.structure(zoo))
        #expect(m.graph.parameters.count == 47)
        #expect(m.opset == 13 && m.producer == "pytorch 1.13.0" && m.fileBatch == 4 && !m.batchNormFolded)
        // Roles come from use: 9 convs' weights, 9 BNs' four tensors, the head's weight and bias.
        let roles = m.graph.parameters.map { m.graph[$0].role! }
        for (role, count) in [
            (ParamRole.weight, 10), (.bias, 1), (.bnGamma, 9), (.bnBeta, 9), (.runningMean, 9), (.runningVar, 9),
        ] {
            #expect(roles.filter { $0 == role }.count == count, "\(role)")
        }
        // Parameters keep the ONNX tensor names and their values.
        #expect(m.graph[m.graph.parameters[0]].name == "stem.0.weight")
        #expect(m.weights.map(\.name) == m.graph.parameters.map { m.graph[$0].name })
        #expect(zip(m.weights, m.graph.parameters).allSatisfy { $0.shape == m.graph[$1].type.shape.array })
        #expect(m.graph.nodes.map(\.name).prefix(4) == ["stem.0", "stem.1", "stem.2", "layer1.conv1"])
        #expect(m.graph.nodes.first { $0.name == "layer2.shortcut.0" }?.scope == "layer2.shortcut")
        #expect(m.graph.nodes.contains { $0.name == "layer1.add" })
    }

    @Test func batchFollowsTheRequest() throws {
        let own = try ONNXFixtures.model("small_resnet_train.onnx", batch: nil)
        #expect(own.graph[own.graph.inputs[0]].type == .f32([4, 1, 28, 28]))
        #expect(own.graph[own.graph.outputs[0]].type == .f32([4, 10]))
        let eight = try ONNXFixtures.model("small_resnet_train.onnx", batch: 8)
        #expect(Self.macs(eight.graph) == 8 * 9_345_920)
        ONNXFixtures.expectEqual(ONNXFixtures.structure(eight.graph), ONNXFixtures.structure(try Self.zoo(batch: 8)))
    }

    @Test func evalExportIsRecognisedAsFolded() throws {
        let m = try ONNXFixtures.model("small_resnet_eval.onnx")
        #expect(m.batchNormFolded)
        #expect(m.graph.parameters.count == 20)
        #expect(m.graph.parameterCount == 77_418)
        #expect(Self.macs(m.graph) == 9_345_920)
        #expect(!m.graph.nodes.contains { if case .batchNorm = $0.op { true } else { false } })
        #expect(m.graph.nodes.filter { if case .conv2d = $0.op { $0.inputs.count == 3 } else { false } }.count == 9)
    }

    /// PyTorch's own count (2,254 parameters, Tests/PyTorch/onnx_mixed_ops.py) and the same MACs for both
    /// exports; the op mix PyTorch writes for ReLU6, Hardswish, torch.cat, mean and AvgPool2d.
    @Test func mixedOpsExports() throws {
        let train = try ONNXFixtures.model("mixed_ops_train.onnx")
        let eval = try ONNXFixtures.model("mixed_ops_eval.onnx")
        #expect(train.graph.parameterCount == 2_254)
        #expect(eval.graph.parameterCount == 2_254 - 32)  // two BNs folded away
        #expect(Self.macs(train.graph) == 202_016 && Self.macs(eval.graph) == 202_016)
        #expect(eval.batchNormFolded && !train.batchNormFolded)
        let ops = train.graph.nodes.map(\.op.name)
        for op in [
            "relu6", "max_pool2d", "hardswish", "hardsigmoid", "concat", "adaptive_avg_pool2d", "avg_pool2d", "dropout",
        ] {
            #expect(ops.contains(op), "\(op)")
        }
        #expect(
            train.graph.nodes.first { $0.name == "dw.0" }.map { if case let .conv2d(a) = $0.op { a.groups } else { 0 } }
                == 16)
    }

    /// graphc → ONNX → graphc gives the same graph: names, scopes, ops, types, roles, values.
    @Test(arguments: ["small_resnet", "small_mobilenet"])
    func exportThenImportIsTheIdentity(_ name: String) throws {
        let g = try ModelDescription.compile(source: Array(Zoo.source(named: name)!.utf8), file: "\(name).model").graph
        var rng = SplitMix64(seed: 7)
        var weights: [String: [Float]] = [:]
        for id in g.parameters {
            weights[g[id].name] = (0..<g[id].type.elementCount).map { _ in Float.random(in: -1...1, using: &rng) }
        }
        let bytes = try ONNXExporter.export(g, weights: weights)
        let back = try ONNXImporter.importModel(bytes, file: "\(name).onnx")
        var expected = g
        expected.name = name
        ONNXFixtures.expectEqual(back.graph, expected)
        #expect(back.weights.allSatisfy { weights[$0.name] == $0.floats })
        #expect(back.opset == 13)
    }

    /// The other ops both ways: concat, pools, relu6 (Clip), hardswish (x · HardSigmoid(x)), hardsigmoid, sigmoid, mul, scale (Mul by a
    /// Constant), dropout, reshape (Reshape of a Constant shape), a bias-free linear.
    @Test func moreOpsRoundTrip() throws {
        var b = GraphBuilder(name: "ops")
        let x = b.input("input", .f32([2, 3, 8, 8]))
        let l = try b.conv2d(x, out: 4, kernel: Pair(3), padding: Pair(1), bias: true, name: "left")
        let r = try b.conv2d(x, out: 6, kernel: Pair(1), stride: Pair(1), groups: 3, name: "right")
        let c = try b.apply(.concat(axis: 1), l, r, name: "cat")
        let a = try b.apply(.relu6, c, name: "act")
        let m = try b.apply(.maxPool2d(Pool2dAttrs(kernel: Pair(2))), a, name: "pool")
        let v = try b.apply(.avgPool2d(Pool2dAttrs(kernel: Pair(3), stride: Pair(1), padding: Pair(1))), m, name: "avg")
        let w = try b.apply(.hardswish, v, name: "swish")
        let h = try b.apply(.hardsigmoid, w, name: "gate")
        let g = try b.apply(.mul, v, h, name: "gated")  // not x · HardSigmoid(x): stays a mul
        let s = try b.apply(.sigmoid, try b.apply(.scale(0.5), g, name: "half"), name: "sig")
        let d = try b.apply(.dropout(p: 0.25), s, name: "drop")
        let f = try b.apply(.reshape(shape: [2, 160]), d, name: "rows")
        b.output(try b.linear(f, out: 5, bias: false, name: "fc"))
        let graph = b.graph
        var rng = SplitMix64(seed: 3)
        var weights: [String: [Float]] = [:]
        for id in graph.parameters {
            weights[graph[id].name] = (0..<graph[id].type.elementCount).map { _ in Float.random(in: -1...1, using: &rng)
            }
        }
        let back = try ONNXImporter.importModel(try ONNXExporter.export(graph, weights: weights), file: "ops.onnx")
        ONNXFixtures.expectEqual(back.graph, graph)
        #expect(back.weights.allSatisfy { weights[$0.name] == $0.floats })
    }

    /// PyTorch's exporter routes a de-duplicated initializer through Identity nodes; each use is a
    /// parameter of its own again, named after the Identity's output, with the shared values.
    @Test func identityOfAnInitializerIsASeparateParameter() throws {
        var model = try ONNXImporter.parse(try ONNXFixtures.bytes("small_resnet_train.onnx"), file: "x")
        var g = model.graph
        // layer1.bn2's running_var becomes an Identity of layer1.bn1's (equal shapes, [16]).
        let i = g.initializer.firstIndex { $0.name == "layer1.bn2.running_var" }!
        g.initializer.remove(at: i)
        var identity = Onnx_NodeProto()
        identity.opType = "Identity"
        identity.name = "Identity_0"
        identity.input = ["layer1.bn1.running_var"]
        identity.output = ["layer1.bn2.running_var"]
        g.node.insert(identity, at: 0)
        model.graph = g
        let m = try ONNXImporter.importModel(try model.serializedBytes(), file: "x.onnx")
        #expect(m.graph.parameters.count == 47)
        let a = m.weights.first { $0.name == "layer1.bn1.running_var" }!
        let b = m.weights.first { $0.name == "layer1.bn2.running_var" }!
        #expect(a.floats == b.floats)
        #expect(m.graph.parameters.filter { m.graph[$0].role == .runningVar }.count == 9)
    }

    /// Typed data (float_data) and external data read the same values as raw_data.
    @Test func typedAndExternalDataDecodeAlike() throws {
        let original = try ONNXFixtures.model("small_resnet_train.onnx")
        var model = try ONNXImporter.parse(try ONNXFixtures.bytes("small_resnet_train.onnx"), file: "x")
        var external: [UInt8] = [0xAB, 0xCD]  // a header, so offsets are not zero
        for k in model.graph.initializer.indices {
            var t = model.graph.initializer[k]
            if k % 2 == 0 {
                t.floatData = TensorDecoder.floats([UInt8](t.rawData), type: ONNXDataType.float)
            } else {
                var e1 = Onnx_StringStringEntryProto(), e2 = e1, e3 = e1
                (e1.key, e1.value) = ("location", "weights.bin")
                (e2.key, e2.value) = ("offset", "\(external.count)")
                (e3.key, e3.value) = ("length", "\(t.rawData.count)")
                external += [UInt8](t.rawData)
                t.externalData = [e1, e2, e3]
                t.dataLocation = .external
            }
            t.clearRawData()
            model.graph.initializer[k] = t
        }
        let bytes: [UInt8] = try model.serializedBytes()
        let m = try ONNXImporter.importModel(
            bytes, file: "x.onnx", batch: 1,
            readExternal: { location in
                guard location == "weights.bin" else { throw ONNXError("no file \(location)") }
                return external
            })
        #expect(m.weights == original.weights)
        ONNXFixtures.expectEqual(
            m.graph,
            {
                var g = original.graph; g.name = "x"; return g
            }())
        // Without the file: a clear error naming the tensor and the location.
        #expect {
            _ = try ONNXImporter.importModel(
                bytes, file: "x.onnx",
                readExternal: { _ in throw ONNXError("x.onnx: external data file 'weights.bin' is missing") })
        } throws: { "\($0)".contains("weights.bin") && "\($0)".contains("missing") }
        // A file shorter than offset + length.
        #expect {
            _ = try ONNXImporter.importModel(bytes, file: "x.onnx", readExternal: { _ in Array(external.prefix(100)) })
        } throws: { "\($0)".contains("truncated") }
    }
}
