import GraphIR
import Testing

// Hand-built ONNX models whose nodes miss operands or whose sizes overflow: each must be a one-line
// ONNXError naming the file and node (these used to trap: an unchecked `node.input[i]`, and products
// of up to 8 sizes below 2^31 each).
@testable import Frontend

@Suite struct ONNXMalformedNodeTests {
    static func node(_ name: String, _ op: String, _ inputs: [String], _ attrs: [Onnx_AttributeProto] = [])
        -> Onnx_NodeProto
    {
        var n = Onnx_NodeProto()
        n.name = name
        n.opType = op
        n.input = inputs
        n.output = [name + ".out"]
        n.attribute = attrs
        return n
    }

    static func floats(_ name: String, _ dims: [Int64]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims
        t.dataType = ONNXDataType.float
        t.floatData = [Float](repeating: 0.5, count: Int(dims.reduce(1, *)))
        return t
    }

    /// A model of one FLOAT input `x` of `dims`, the nodes in order, the last node's output as the output.
    static func error(
        input dims: [Int64], _ nodes: [Onnx_NodeProto], initializers: [Onnx_TensorProto] = [], batch: Int? = nil
    ) throws -> String? {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 13
        m.opsetImport = [opset]
        var x = Onnx_ValueInfoProto()
        x.name = "x"
        x.type.tensorType.elemType = ONNXDataType.float
        x.type.tensorType.shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            dim.dimValue = d
            return dim
        }
        m.graph.input = [x]
        m.graph.node = nodes
        m.graph.initializer = initializers
        var y = Onnx_ValueInfoProto()
        y.name = nodes.last!.output[0]
        m.graph.output = [y]
        let bytes: [UInt8] = try m.serializedBytes()
        do {
            _ = try ONNXImporter.importModel(bytes, file: "m.onnx", batch: batch)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func convAndGemmWithOneInput() throws {
        #expect(
            try Self.error(input: [1, 3, 8, 8], [Self.node("c", "Conv", ["x"])])
                == "m.onnx: node 'c' (Conv): input 1 is missing")
        #expect(
            try Self.error(input: [1, 4], [Self.node("g", "Gemm", ["x"])])
                == "m.onnx: node 'g' (Gemm): input 1 is missing")
    }

    @Test func matMulWithOneInput() throws {
        #expect(
            try Self.error(input: [1, 4], [Self.node("mm", "MatMul", ["x"])])
                == "m.onnx: node 'mm' (MatMul): input 1 is missing")
    }

    @Test func batchNormWithFewerThanFiveInputs() throws {
        let e = try Self.error(
            input: [1, 3, 4, 4], [Self.node("bn", "BatchNormalization", ["x", "g", "b"])],
            initializers: [Self.floats("g", [3]), Self.floats("b", [3])])
        #expect(e == "m.onnx: node 'bn' (BatchNormalization): input 3 is missing")
    }

    @Test func reshapeTargetWhoseProductOverflows() throws {
        var shape = Onnx_TensorProto()
        shape.name = "s"
        shape.dims = [3]
        shape.dataType = ONNXDataType.int64
        shape.int64Data = [Int64(Int32.max), Int64(Int32.max), Int64(Int32.max)]
        let e = try Self.error(input: [1, 4], [Self.node("r", "Reshape", ["x", "s"])], initializers: [shape])
        #expect(
            e == "m.onnx: node 'r' (Reshape): shape [2147483647, 2147483647, 2147483647] has more than 2^40 elements")
    }

    /// Four sizes below 2^31 each (a product near 2^124): refused at the input, before Flatten's axis 3
    /// would multiply three of them.
    @Test func inputWhoseElementCountOverflows() throws {
        var axis = Onnx_AttributeProto()
        axis.name = "axis"
        axis.type = .int
        axis.i = 3
        let big = Int64(Int32.max)
        let e = try Self.error(input: [big, big, big, big], [Self.node("f", "Flatten", ["x"], [axis])])
        #expect(e?.hasPrefix("m.onnx: input 'x' ") == true, "\(e ?? "")")
        #expect(e?.hasSuffix(" has more than 2^40 elements") == true, "\(e ?? "")")
        // A replaced batch counts too: 2^10 × 2^20 × 2^20 is 2^50.
        let b = try Self.error(input: [1, 1 << 20, 1 << 20], [Self.node("r", "Relu", ["x"])], batch: 1 << 10)
        #expect(b?.hasSuffix(" has more than 2^40 elements") == true, "\(b ?? "")")
        // Flatten of a tensor within bounds still imports.
        #expect(try Self.error(input: [2, 3, 4, 5], [Self.node("f", "Flatten", ["x"], [axis])]) == nil)
    }

    /// Seeded structural mutations of the training fixture, aimed at what byte flips rarely reach:
    /// a node's inputs cut short, an op type swapped for another supported one, an input dimension or
    /// an integer attribute set to a large value. Each is an ONNXError or a graph that verifies.
    @Test func structuralMutationsNeverCrash() throws {
        let base = try ONNXImporter.parse(try ONNXFixtures.bytes("small_resnet_train.onnx"), file: "x")
        var rng = SplitMix64(seed: 0x0_0D15)
        let large: [Int64] = [0, -1, 1 << 20, Int64(Int32.max), Int64.max]
        var errors = 0, graphs = 0
        for _ in 0..<400 {
            var m = base
            for _ in 0..<Int.random(in: 1...2, using: &rng) {
                let k = Int.random(in: 0..<m.graph.node.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0:
                    let n = m.graph.node[k].input.count
                    m.graph.node[k].input = Array(m.graph.node[k].input.prefix(Int.random(in: 0...n, using: &rng)))
                case 1: m.graph.node[k].opType = ONNXImporter.supportedOps.randomElement(using: &rng)!
                case 2:
                    let d = m.graph.input[0].type.tensorType.shape.dim.count
                    m.graph.input[0].type.tensorType.shape.dim[Int.random(in: 0..<d, using: &rng)].dimValue =
                        large.randomElement(using: &rng)!
                case _:
                    let attrs = m.graph.node[k].attribute
                    guard !attrs.isEmpty else { continue }
                    let a = Int.random(in: 0..<attrs.count, using: &rng)
                    let v = large.randomElement(using: &rng)!
                    m.graph.node[k].attribute[a].i = v
                    m.graph.node[k].attribute[a].ints = m.graph.node[k].attribute[a].ints.map { _ in v }
                }
            }
            let bytes: [UInt8] = try m.serializedBytes()
            do {
                let g = try ONNXImporter.importModel(bytes, file: "fuzz.onnx")
                #expect(Verifier.verify(g.graph).allSatisfy { $0.severity != .error })
                graphs += 1
            } catch {
                #expect(error.description.hasPrefix("fuzz.onnx: ") && !error.description.contains("\n"))
                errors += 1
            }
        }
        #expect(errors > 0 && graphs > 0 && errors + graphs == 400)
    }
}
