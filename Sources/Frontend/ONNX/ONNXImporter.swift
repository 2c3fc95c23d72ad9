// ONNX → GraphIR. Nodes are translated one by one, in file order (ONNX requires a topological order),
// onto a GraphBuilder, so every result type is inferred and checked as it is built. Initializers
// become parameters named after the tensor that reaches the op (an initializer, or the output of the
// Identity node PyTorch's exporter routes a de-duplicated initializer through, so that each PyTorch
// parameter is one graphc parameter again), with their role taken from the operand they fill: Conv's
// W and B are weight and bias, BatchNormalization's scale/B/mean/var are gamma, beta and the running
// statistics, Gemm's B and C weight and bias. Constants (Constant nodes, initializers read as
// attributes) are folded into the ops that take them (Reshape's shape, Clip's bounds, axes).
import GraphIR
import SwiftProtobuf

/// An imported ONNX model: the forward graph and the values of its parameters.
public struct ONNXModel: Sendable {
    /// The verified forward graph (inference semantics).
    public var graph: Graph
    /// One tensor per graph parameter, in `graph.parameters` order, named and shaped as the parameter.
    public var weights: [ONNXTensor]
    /// The default-domain opset the file declares.
    public var opset: Int
    /// `producer_name producer_version`, e.g. `pytorch 1.13.0`.
    public var producer: String
    /// Whether the file looks like an eval-mode export: no BatchNormalization, convolutions with a bias
    /// the exporter computed (PyTorch names folded tensors `onnx::Conv_N`).
    public var batchNormFolded: Bool
    /// The batch size the file's input declares (nil when symbolic).
    public var fileBatch: Int?
}

public enum ONNXImporter {
    /// The default-domain opsets graphc imports.
    public static let opsets = 11...18

    /// The op types graphc imports.
    public static let supportedOps = [
        "Add", "AveragePool", "BatchNormalization", "Clip", "Concat", "Constant", "Conv", "Dropout", "Flatten",
        "Gemm", "GlobalAveragePool", "HardSigmoid", "HardSwish", "Identity", "MatMul", "MaxPool", "Mul", "Pad",
        "ReduceMean", "Relu", "Reshape", "Sigmoid", "Squeeze", "Unsqueeze",
    ]

    /// Parses and imports `bytes`, read from `file`. `batch` replaces the batch size of the file's input
    /// (its first dimension); `readExternal` reads an external-data file by its location relative to the
    /// model file.
    public static func importModel(
        _ bytes: [UInt8], file: String, batch: Int? = nil,
        readExternal: ((String) throws -> [UInt8])? = nil
    ) throws(ONNXError) -> ONNXModel {
        let model = try parse(bytes, file: file)
        var importer = try Importer(model: model, file: file, batch: batch, readExternal: readExternal)
        return try importer.run()
    }

    /// The file as a `ModelProto`, checked to be one: protobuf that decodes, an IR version, a graph.
    static func parse(_ bytes: [UInt8], file: String) throws(ONNXError) -> Onnx_ModelProto {
        let model: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            model = try Onnx_ModelProto(serializedBytes: bytes, options: options)
        } catch let e as BinaryDecodingError {
            let why: String
            switch e {
            case .truncated: why = "the file ends inside a field (truncated?)"
            case .invalidUTF8: why = "a string field is not UTF-8"
            case .messageDepthLimit: why = "messages nest too deeply"
            case .malformedProtobuf: why = "the bytes are not protobuf"
            case _: why = "\(e)"
            }
            throw ONNXError("\(file): not an ONNX model: \(why)")
        } catch {
            throw ONNXError("\(file): not an ONNX model: \(error)")
        }
        guard model.irVersion > 0, model.hasGraph else {
            throw ONNXError("\(file): not an ONNX model: no IR version or no graph (\(bytes.count) bytes)")
        }
        return model
    }
}

/// What an ONNX value name stands for while importing.
enum Ref {
    case value(ValueID)
    /// A constant: an initializer (which becomes a parameter where an op takes it as one) or a
    /// Constant node's value.
    case constant(ONNXTensor, isInitializer: Bool)
}

struct Importer {
    let model: Onnx_ModelProto
    let file: String
    let decoder: TensorDecoder
    var builder: GraphBuilder
    var refs: [String: Ref] = [:]
    /// Parameters made so far, by the ONNX name that reached the op (shared uses share one).
    var parameters: [String: ValueID] = [:]
    var weights: [ValueID: ONNXTensor] = [:]
    var usedNames: Set<String> = []
    var opset = 0
    var fileBatch: Int?
    var batch: Int?
    /// MatMul node indices whose single consumer, an Add of a 1-D initializer, becomes their bias;
    /// the Add's index maps to the MatMul output name.
    var fusedBias: [Int: String] = [:]
    var fusedAdds: [Int: String] = [:]
    /// HardSigmoid node indices whose single consumer multiplies by the same input (opset 13's Hardswish):
    /// the Mul's index; those Muls are skipped.
    var fusedHardswish: [Int: Int] = [:]
    var fusedMuls: Set<Int> = []

    init(
        model: Onnx_ModelProto, file: String, batch: Int?, readExternal: ((String) throws -> [UInt8])?
    ) throws(ONNXError) {
        self.model = model
        self.file = file
        self.batch = batch
        decoder = TensorDecoder(readExternal: readExternal, file: file)
        builder = GraphBuilder(name: Self.graphName(file))
    }

    static func graphName(_ file: String) -> String {
        var base = file.split(separator: "/").last.map(String.init) ?? file
        if base.hasSuffix(".onnx") { base.removeLast(5) }
        return base.isEmpty ? "onnx" : base
    }

    func fail(_ why: String) -> ONNXError { ONNXError("\(file): \(why)") }

    mutating func run() throws(ONNXError) -> ONNXModel {
        let versions = model.opsetImport.filter { $0.domain == "" || $0.domain == "ai.onnx" }
        guard let v = versions.first?.version else {
            throw fail("no default-domain opset_import (graphc imports opsets 11 to 18)")
        }
        guard ONNXImporter.opsets.contains(Int(clamping: v)) else {
            throw fail("opset \(v) is not supported (graphc imports opsets 11 to 18)")
        }
        opset = Int(v)
        let g = model.graph
        for t in g.initializer {
            guard !t.name.isEmpty else { throw fail("an initializer has no name") }
            refs[t.name] = .constant(try decoder.decode(t, context: "initializer '\(t.name)'"), isInitializer: true)
        }
        try makeInputs(g)
        planFusions(g)
        for (index, node) in g.node.enumerated() {
            try translate(node, index: index)
        }
        guard !g.output.isEmpty else { throw fail("the graph has no outputs") }
        for out in g.output {
            guard case let .value(id)? = refs[out.name] else {
                throw fail("graph output '\(out.name)' is not computed by any node")
            }
            try checkDeclared(out, id)
            builder.output(id)
        }
        let graph = builder.graph
        let errors = Verifier.verify(graph).filter { $0.severity == .error }
        if let first = errors.first { throw fail("the imported graph does not verify: \(first)") }
        let hasBN = g.node.contains { $0.opType == "BatchNormalization" }
        let folded =
            !hasBN
            && g.node.contains { n in
                n.opType == "Conv" && n.input.count > 2 && n.input[1].hasPrefix("onnx::")
            }
        let producer = [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        return ONNXModel(
            graph: graph, weights: graph.parameters.map { weights[$0]! }, opset: opset, producer: producer,
            batchNormFolded: folded, fileBatch: fileBatch)
    }

    /// The graph inputs that are not initializers (older exporters list initializers among the inputs).
    mutating func makeInputs(_ g: Onnx_GraphProto) throws(ONNXError) {
        for input in g.input where refs[input.name] == nil {
            guard case let .tensorType(t)? = input.type.value else {
                throw fail("input '\(input.name)' is not a tensor")
            }
            guard t.elemType == ONNXDataType.float else {
                throw fail("input '\(input.name)' is \(ONNXDataType.name(t.elemType)); graphc feeds FLOAT inputs")
            }
            var dims: [Int] = []
            for (i, d) in t.shape.dim.enumerated() {
                switch d.value {
                case let .dimValue(n)?:
                    guard n > 0, n < 1 << 31 else { throw fail("input '\(input.name)' has dimension \(n)") }
                    dims.append(Int(n))
                    if i == 0 { fileBatch = Int(n) }
                case .dimParam?, nil:
                    guard i == 0 else {
                        throw fail("input '\(input.name)' has a symbolic dimension \(i); only the batch may be")
                    }
                    dims.append(1)
                }
            }
            guard !dims.isEmpty, dims.count <= Shape.maxRank else {
                throw fail("input '\(input.name)' has rank \(dims.count)")
            }
            if let batch { dims[0] = batch }
            // Each dimension is below 2^31, but their product must also be a size graphc can compute with.
            guard TensorType.f32(dims).checkedElementCount != nil else {
                throw fail("input '\(input.name)' \(Shape.format(dims)) has more than 2^40 elements")
            }
            let id = builder.input(input.name, .f32(Shape(dims)))
            refs[input.name] = .value(id)
        }
        guard !builder.graph.inputs.isEmpty else { throw fail("the graph has no (non-initializer) input") }
    }

    /// MatMul by a 2-D initializer, then Add of a 1-D initializer: PyTorch's Linear on inputs of rank
    /// above 2. The pair becomes one linear with a bias.
    mutating func planFusions(_ g: Onnx_GraphProto) {
        var consumers: [String: [Int]] = [:]
        for (i, n) in g.node.enumerated() { for x in n.input { consumers[x, default: []].append(i) } }
        for out in g.output { consumers[out.name, default: []].append(-1) }
        let initializers = Set(g.initializer.map(\.name))
        for (i, n) in g.node.enumerated() where n.opType == "MatMul" && n.input.count == 2 && n.output.count == 1 {
            guard initializers.contains(n.input[1]), let users = consumers[n.output[0]], users.count == 1,
                users[0] > i
            else { continue }
            let add = g.node[users[0]]
            guard add.opType == "Add", add.input.count == 2, add.output.count == 1 else { continue }
            let other = add.input[0] == n.output[0] ? add.input[1] : add.input[0]
            guard other != n.output[0], initializers.contains(other),
                let t = g.initializer.first(where: { $0.name == other }), t.dims.count == 1
            else { continue }
            fusedBias[i] = other
            fusedAdds[users[0]] = n.output[0]
        }
        // x · HardSigmoid(x) with PyTorch's constants is Hardswish, as PyTorch writes it below opset 14.
        for (i, n) in g.node.enumerated() where n.opType == "HardSigmoid" && n.input.count == 1 && n.output.count == 1 {
            let alpha = n.attribute.first { $0.name == "alpha" }.map { Double($0.f) } ?? 0.2
            let beta = n.attribute.first { $0.name == "beta" }.map { Double($0.f) } ?? 0.5
            guard abs(alpha - 1.0 / 6) < 1e-6, abs(beta - 0.5) < 1e-6, let users = consumers[n.output[0]],
                users.count == 1, users[0] > i
            else { continue }
            let mul = g.node[users[0]]
            guard mul.opType == "Mul", mul.output.count == 1, Set(mul.input) == Set([n.input[0], n.output[0]]),
                n.input[0] != n.output[0]
            else { continue }
            fusedHardswish[i] = users[0]
            fusedMuls.insert(users[0])
        }
    }

    /// A declared output shape must be the inferred one (the batch aside, when it was replaced).
    func checkDeclared(_ info: Onnx_ValueInfoProto, _ id: ValueID) throws(ONNXError) {
        guard case let .tensorType(t)? = info.type.value, t.hasShape else { return }
        let inferred = builder.type(of: id).shape.array
        let dims = t.shape.dim
        guard dims.count == inferred.count else {
            throw fail(
                "output '\(info.name)' is declared with rank \(dims.count), but computes \(Shape.format(inferred))")
        }
        for (i, d) in dims.enumerated() {
            guard case let .dimValue(n)? = d.value else { continue }
            if i == 0 && (batch != nil || fileBatch == nil) { continue }
            guard n == inferred[i] else {
                throw fail(
                    "output '\(info.name)' is declared \(dims.map { $0.dimValue })"
                        + ", but the graph computes \(Shape.format(inferred))")
            }
        }
    }
}

// MARK: Names, operands, attributes

extension Importer {
    /// A graphc layer name and scope from PyTorch's node name: `/layer2/shortcut/shortcut.0/Conv` is
    /// `layer2.shortcut.0` in `layer2.shortcut` (a scope segment that extends the one before it replaces
    /// it), `/layer1/Add` is `layer1.add` in `layer1`. Other names are kept, with the scope graphc's
    /// exporter writes into the doc string (`scope: layer1.0`), else the name's parent path.
    mutating func layerName(_ node: Onnx_NodeProto, index: Int) -> (name: String, scope: String) {
        let opName = node.opType.lowercased()
        var name: String
        var scope: String
        func merged(_ segments: some Sequence<String>) -> [String] {
            var parts: [String] = []
            for s in segments {
                if let last = parts.last, s.hasPrefix(last + ".") {
                    parts[parts.count - 1] = s
                } else {
                    parts.append(s)
                }
            }
            return parts
        }
        if node.name.hasPrefix("/") {
            let modules = node.name.split(separator: "/").map(String.init).dropLast()  // drop the op's own segment
            // Module ops are named by their module; functional ones (`x + y`) inside it by their op.
            if Self.moduleOps.contains(node.opType) && !modules.isEmpty {
                name = merged(modules).joined(separator: ".")
                scope = merged(modules.dropLast()).joined(separator: ".")
            } else {
                scope = merged(modules).joined(separator: ".")
                name = scope.isEmpty ? opName : scope + "." + opName
            }
        } else {
            name = node.name.isEmpty ? "\(opName)_\(index)" : node.name
            if node.docString.hasPrefix("scope: ") {
                scope = String(node.docString.dropFirst(7))
            } else {
                scope = name.split(separator: ".").dropLast().joined(separator: ".")
            }
        }
        return (usedName(name), scope)
    }

    /// Op types PyTorch exports for one module each (`nn.Conv2d`, `nn.ReLU`), named after the module.
    static let moduleOps: Set<String> = [
        "Conv", "BatchNormalization", "Gemm", "Relu", "Clip", "HardSwish", "HardSigmoid", "Sigmoid", "MaxPool",
        "AveragePool", "Dropout", "Flatten", "GlobalAveragePool",
    ]

    func where_(_ node: Onnx_NodeProto) -> String {
        "node '\(node.name.isEmpty ? node.output.first ?? "?" : node.name)' (\(node.opType))"
    }

    func ref(_ name: String, _ node: Onnx_NodeProto) throws(ONNXError) -> Ref {
        guard let r = refs[name] else { throw fail("\(where_(node)): input '\(name)' is not defined before it") }
        return r
    }

    /// An activation operand.
    func value(_ node: Onnx_NodeProto, _ i: Int) throws(ONNXError) -> ValueID {
        guard i < node.input.count, !node.input[i].isEmpty else {
            throw fail("\(where_(node)): input \(i) is missing")
        }
        switch try ref(node.input[i], node) {
        case let .value(id): return id
        case .constant:
            throw fail(
                "\(where_(node)): input \(i) '\(node.input[i])' is a constant; graphc expects a computed tensor there")
        }
    }

    /// A constant operand, or nil when the optional input is absent.
    func constant(_ node: Onnx_NodeProto, _ i: Int) throws(ONNXError) -> ONNXTensor? {
        guard i < node.input.count, !node.input[i].isEmpty else { return nil }
        switch try ref(node.input[i], node) {
        case let .constant(t, _): return t
        case .value:
            throw fail("\(where_(node)): input \(i) '\(node.input[i])' must be a constant (an initializer or Constant)")
        }
    }

    /// A parameter operand: the initializer (or Identity of one) becomes a parameter of role `role`,
    /// named after the ONNX name; `transpose` turns an [in, out] matrix (MatMul's, Gemm's B) into [out, in].
    mutating func parameter(
        _ node: Onnx_NodeProto, _ i: Int, role: ParamRole, shape: [Int]? = nil, transpose: Bool = false
    ) throws(ONNXError) -> ValueID {
        guard i < node.input.count, !node.input[i].isEmpty else {
            throw fail("\(where_(node)): input \(i) is missing")
        }
        let name = node.input[i]
        guard case .constant(var t, _) = try ref(name, node) else {
            throw fail(
                "\(where_(node)): input \(i) '\(name)' must be an initializer (graphc takes weights as parameters)")
        }
        if let existing = parameters[name] { return existing }
        guard t.isFloating else {
            throw fail("\(where_(node)): initializer '\(name)' is \(ONNXDataType.name(t.dataType)), not a float tensor")
        }
        if transpose { t = Importer.transposed(t) }
        if let shape {
            guard shape.reduce(1, *) == t.elementCount else {
                throw fail(
                    "\(where_(node)): initializer '\(name)' has shape \(Shape.format(t.shape)), expected \(Shape.format(shape))"
                )
            }
            t.shape = shape
        }
        guard t.shape.count <= Shape.maxRank, t.elementCount > 0 else {
            throw fail("\(where_(node)): initializer '\(name)' has shape \(Shape.format(t.shape))")
        }
        t.name = name
        let id = builder.parameter(name, Shape(t.shape), role: role)
        parameters[name] = id
        weights[id] = t
        return id
    }

    func attribute(_ node: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? {
        node.attribute.first { $0.name == name }
    }

    func int(_ node: Onnx_NodeProto, _ name: String, _ fallback: Int) throws(ONNXError) -> Int {
        guard let a = attribute(node, name) else { return fallback }
        guard a.i.magnitude < 1 << 31 else { throw fail("\(where_(node)): attribute \(name) = \(a.i) is out of range") }
        return Int(a.i)
    }

    /// A float attribute, as the decimal it was written as (1e-05, not 9.99999974e-06): the file holds
    /// float32, graphc's attributes are Double.
    func float(_ node: Onnx_NodeProto, _ name: String, _ fallback: Double) -> Double {
        attribute(node, name).map { Double("\($0.f)") ?? Double($0.f) } ?? fallback
    }

    func ints(_ node: Onnx_NodeProto, _ name: String) throws(ONNXError) -> [Int]? {
        guard let a = attribute(node, name) else { return nil }
        guard a.ints.count <= 16, a.ints.allSatisfy({ $0.magnitude < 1 << 31 }) else {
            throw fail("\(where_(node)): attribute \(name) \(a.ints) is out of range")
        }
        return a.ints.map { Int($0) }
    }

    func string(_ node: Onnx_NodeProto, _ name: String) -> String? {
        attribute(node, name).map { String(decoding: $0.s, as: UTF8.self) }
    }

    /// Integer values from attribute `name` (older opsets) or constant input `i` (newer ones).
    func intList(_ node: Onnx_NodeProto, attribute name: String, input i: Int) throws(ONNXError) -> [Int]? {
        if let a = try ints(node, name) { return a }
        guard let t = try constant(node, i) else { return nil }
        guard t.elementCount <= 64, t.asIntegers.allSatisfy({ $0.magnitude < 1 << 31 }) else {
            throw fail("\(where_(node)): '\(node.input[i])' holds values out of range")
        }
        return t.asIntegers.map { Int($0) }
    }

    func type(_ id: ValueID) -> TensorType { builder.type(of: id) }
}
