// GraphIR → ONNX at opset 13: a forward graph (with LoRA/DoRA adapters, or merged) as a ModelProto that
// Netron and onnxruntime open. Every parameter is an initializer named as the parameter (float_data,
// so no Foundation Data is needed here); each node keeps its graphc name, so importing the file again
// gives the same layer and parameter names. Ops opset 13 lacks are spelled with the ones it has
// (hardswish = x·HardSigmoid(x), silu = x·Sigmoid(x), relu6 = Clip(0, 6)).
import GraphIR
import SwiftProtobuf

public enum ONNXExporter {
    public static let opset: Int64 = 13

    /// `graph` as ONNX bytes, with `weights` (by parameter name) as the initializers' values; a
    /// parameter missing from `weights` is an error.
    public static func export(_ graph: Graph, weights: [String: [Float]]) throws(ONNXError) -> [UInt8] {
        var e = Exporter(graph: graph)
        let model = try e.run(weights: weights)
        do {
            return try model.serializedBytes()
        } catch {
            throw ONNXError("\(graph.name): cannot serialise the ONNX model: \(error)")
        }
    }
}

private struct Exporter {
    let graph: Graph
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    /// The ONNX name of each value, unique in the file.
    var names: [String] = []
    var used: Set<String> = []
    /// The scope of the node being written, kept in each ONNX node's doc string for the importer.
    var scope = ""

    init(graph: Graph) { self.graph = graph }

    mutating func unique(_ base: String) -> String {
        var n = base.isEmpty ? "v" : base
        var k = 1
        while used.contains(n) {
            k += 1
            n = "\(base)_\(k)"
        }
        used.insert(n)
        return n
    }

    mutating func run(weights: [String: [Float]]) throws(ONNXError) -> Onnx_ModelProto {
        if let node = graph.nodes.first(where: { $0.phase != .forward }) {
            throw ONNXError(
                "\(graph.name): '\(node.name)' is a \(node.phase.rawValue) node; export-onnx writes forward graphs")
        }
        // Parameters and inputs first keep their own names (the state_dict keys).
        names = Array(repeating: "", count: graph.values.count)
        for id in graph.inputs + graph.parameters { names[id.raw] = unique(graph[id].name) }
        for (i, v) in graph.values.enumerated() where names[i].isEmpty { names[i] = unique(v.name) }

        var g = Onnx_GraphProto()
        g.name = graph.name
        for id in graph.inputs { g.input.append(valueInfo(id)) }
        for id in graph.parameters {
            let v = graph[id]
            guard let values = weights[v.name] else {
                throw ONNXError("\(graph.name): no value for parameter '\(v.name)'")
            }
            guard values.count == v.type.elementCount else {
                throw ONNXError(
                    "\(graph.name): parameter '\(v.name)' is \(v.type), but its value has \(values.count) elements")
            }
            initializers.append(tensor(names[id.raw], v.type.shape.array, values))
        }
        for node in graph.nodes {
            scope = node.scope
            try emit(node)
        }
        g.node = nodes
        g.initializer = initializers
        for id in graph.outputs { g.output.append(valueInfo(id)) }

        var m = Onnx_ModelProto()
        m.irVersion = 7
        m.producerName = "graphc"
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = ONNXExporter.opset
        m.opsetImport = [opset]
        m.graph = g
        return m
    }

    func valueInfo(_ id: ValueID) -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = names[id.raw]
        var t = Onnx_TypeProto.Tensor()
        t.elemType = graph[id].type.dtype == .i64 ? ONNXDataType.int64 : ONNXDataType.float
        var shape = Onnx_TensorShapeProto()
        shape.dim = graph[id].type.shape.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            dim.dimValue = Int64(d)
            return dim
        }
        t.shape = shape
        info.type.tensorType = t
        return info
    }

    func tensor(_ name: String, _ shape: [Int], _ values: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = shape.map { Int64($0) }
        t.dataType = ONNXDataType.float
        t.floatData = values
        return t
    }

    /// A constant (Clip's bounds, Reshape's shape, a scale factor), named after its node.
    mutating func constant(_ base: String, ints: [Int64]? = nil, floats: [Float]? = nil, scalar: Bool = false)
        -> String
    {
        var t = Onnx_TensorProto()
        t.name = unique(base)
        if let ints {
            t.dataType = ONNXDataType.int64
            t.int64Data = ints
            t.dims = scalar ? [] : [Int64(ints.count)]
        } else if let floats {
            t.dataType = ONNXDataType.float
            t.floatData = floats
            t.dims = scalar ? [] : [Int64(floats.count)]
        }
        // A Constant node, as PyTorch's exporter writes them: importers fold it, and it is no parameter.
        var value = Onnx_AttributeProto()
        value.name = "value"
        value.type = .tensor
        value.t = t
        add("Constant", [], [t.name], name: t.name, [value])
        return t.name
    }

    mutating func add(
        _ op: String, _ inputs: [String], _ outputs: [String], name: String, _ attributes: [Onnx_AttributeProto] = []
    ) {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = name
        n.input = inputs
        n.output = outputs
        n.attribute = attributes
        n.docString = "scope: \(scope)"
        nodes.append(n)
    }

    static func ints(_ name: String, _ v: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = v.map { Int64($0) }
        return a
    }

    static func int(_ name: String, _ v: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(v)
        return a
    }

    static func float(_ name: String, _ v: Double) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = Float(v)
        return a
    }

    mutating func emit(_ node: Node) throws(ONNXError) {
        let ins = node.inputs.map { names[$0.raw] }
        let out = names[node.outputs[0].raw]
        let name = node.name
        func unsupported(_ why: String) -> ONNXError {
            ONNXError("\(graph.name): node '\(name)' (\(node.op.name)): \(why)")
        }
        switch node.op {
        case let .conv2d(a):
            let w = graph[node.inputs[1]].type.shape
            add(
                "Conv", ins, [out], name: name,
                [
                    Self.ints("dilations", [a.dilation.h, a.dilation.w]), Self.int("group", a.groups),
                    Self.ints("kernel_shape", [w[2], w[3]]),
                    Self.ints("pads", [a.padding.h, a.padding.w, a.padding.h, a.padding.w]),
                    Self.ints("strides", [a.stride.h, a.stride.w]),
                ])
        case let .batchNorm(a):
            add(
                "BatchNormalization", ins, [out], name: name,
                [Self.float("epsilon", a.eps), Self.float("momentum", 1 - a.momentum)])
        case .relu: add("Relu", ins, [out], name: name)
        case .sigmoid: add("Sigmoid", ins, [out], name: name)
        case .relu6:
            let low = constant(name + ".min", floats: [0], scalar: true)
            let high = constant(name + ".max", floats: [6], scalar: true)
            add("Clip", [ins[0], low, high], [out], name: name)
        case .hardsigmoid:
            add("HardSigmoid", ins, [out], name: name, [Self.float("alpha", 1.0 / 6), Self.float("beta", 0.5)])
        case .hardswish:
            let gate = unique(name + ".hardsigmoid")
            add("HardSigmoid", ins, [gate], name: gate, [Self.float("alpha", 1.0 / 6), Self.float("beta", 0.5)])
            add("Mul", [ins[0], gate], [out], name: name)
        case .silu:
            let gate = unique(name + ".sigmoid")
            add("Sigmoid", ins, [gate], name: gate)
            add("Mul", [ins[0], gate], [out], name: name)
        case .add: add("Add", ins, [out], name: name)
        case .mul: add("Mul", ins, [out], name: name)
        case .div: add("Div", ins, [out], name: name)
        case let .scale(c):
            add("Mul", [ins[0], constant(name + ".factor", floats: [Float(c)], scalar: true)], [out], name: name)
        case let .maxPool2d(a), let .avgPool2d(a):
            var attrs = [
                Self.int("ceil_mode", a.ceilMode ? 1 : 0), Self.ints("kernel_shape", [a.kernel.h, a.kernel.w]),
                Self.ints("pads", [a.padding.h, a.padding.w, a.padding.h, a.padding.w]),
                Self.ints("strides", [a.stride.h, a.stride.w]),
            ]
            if case .avgPool2d = node.op { attrs.append(Self.int("count_include_pad", a.countIncludePad ? 1 : 0)) }
            add(node.op.name == "max_pool2d" ? "MaxPool" : "AveragePool", ins, [out], name: name, attrs)
        case let .adaptiveAvgPool2d(size):
            guard size == Pair(1) else {
                throw unsupported("only a global average pool (output 1x1) has an ONNX op")
            }
            add("GlobalAveragePool", ins, [out], name: name)
        case let .flatten(start):
            let x = graph[node.inputs[0]].type
            if start == 1 && x.rank >= 2 {
                add("Flatten", ins, [out], name: name, [Self.int("axis", 1)])
            } else {
                let shape = graph[node.outputs[0]].type.shape.map { Int64($0) }
                add("Reshape", [ins[0], constant(name + ".shape", ints: shape)], [out], name: name)
            }
        case let .reshape(shape):
            add("Reshape", [ins[0], constant(name + ".shape", ints: shape.map { Int64($0) })], [out], name: name)
        case .linear:
            guard graph[node.inputs[0]].type.rank == 2 else {
                throw unsupported("a linear layer on a rank-\(graph[node.inputs[0]].type.rank) input")
            }
            add(
                "Gemm", ins, [out], name: name,
                [Self.float("alpha", 1), Self.float("beta", 1), Self.int("transB", 1)])
        case let .matmul(ta, tb):
            add("Gemm", ins, [out], name: name, [Self.int("transA", ta ? 1 : 0), Self.int("transB", tb ? 1 : 0)])
        case let .concat(axis):
            add("Concat", ins, [out], name: name, [Self.int("axis", axis)])
        case let .dropout(p):
            add("Dropout", [ins[0], constant(name + ".ratio", floats: [Float(p)], scalar: true)], [out], name: name)
        case .channelNorm:
            let w = graph[node.inputs[0]].type
            add(
                "ReduceL2", ins, [out], name: name, [Self.ints("axes", Array(1..<w.rank)), Self.int("keepdims", 1)])
        case .softmaxCrossEntropy, .nativeBatchNorm, .maxPool2dWithIndices, .nativeDropout, .conv2dGradInput,
            .conv2dGradWeight, .biasGrad, .batchNormGrad, .activationGrad, .maxPool2dGrad, .avgPool2dGrad,
            .adaptiveAvgPool2dGrad, .linearGradInput, .linearGradWeight, .dropoutGrad, .softmaxCrossEntropyGrad,
            .sumTo, .sgdUpdate, .momentumUpdate, .adamUpdate, .adamDirection, .applyUpdate, .svdProjector, .slice,
            .activationMask, .reluMaskGrad, .batchNormFrozenGrad:
            throw unsupported("a training op; export-onnx writes forward graphs")
        }
    }
}
