// The per-op-type translation of ONNX nodes onto GraphIR, one case per supported op type.
import GraphIR

extension Importer {
    mutating func translate(_ node: Onnx_NodeProto, index: Int) throws(ONNXError) {
        guard node.domain.isEmpty || node.domain == "ai.onnx" else {
            throw fail("\(where_(node)): domain '\(node.domain)' is not supported (graphc imports the default domain)")
        }
        guard !node.output.isEmpty else { throw fail("\(where_(node)): the node has no output") }
        if fusedMuls.contains(index) { return }  // the Hardswish its HardSigmoid became computed it
        if let mul = fusedHardswish[index] {
            // Named after the module (PyTorch's paths) or after the Mul (graphc's own export).
            let m = model.graph.node[mul]
            let (name, scope) = layerName(
                node.name.hasPrefix("/") ? node : m, index: node.name.hasPrefix("/") ? index : mul)
            refs[m.output[0]] = .value(try emitNamed(.hardswish, [try value(node, 0)], name: name, scope: scope, node))
            return
        }
        let (name, scope) = layerName(node, index: index)
        func emit(_ op: Op, _ inputs: [ValueID]) throws(ONNXError) -> ValueID {
            do {
                return try builder.node(op, inputs, name: name, scope: scope)[0]
            } catch {
                throw fail("\(where_(node)): \(error.message)")
            }
        }
        func define(_ id: ValueID) { refs[node.output[0]] = .value(id) }
        func unsupported(_ why: String) -> ONNXError { fail("\(where_(node)): \(why)") }

        switch node.opType {
        case "Conv":
            let x = try value(node, 0)
            let xt = type(x)
            guard xt.rank == 4 else { throw unsupported("graphc imports 2-D convolutions (NCHW input), got \(xt)") }
            let w = try parameter(node, 1, role: .weight)
            let wt = type(w)
            guard wt.rank == 4 else {
                throw unsupported("weight '\(node.input[1])' is \(wt), not [Co, C/groups, kh, kw]")
            }
            var operands = [x, w]
            if node.input.count > 2, !node.input[2].isEmpty { operands.append(try parameter(node, 2, role: .bias)) }
            let kernel = try ints(node, "kernel_shape") ?? [wt.shape[2], wt.shape[3]]
            guard kernel == [wt.shape[2], wt.shape[3]] else {
                throw unsupported("kernel_shape \(kernel) disagrees with weight \(wt)")
            }
            let stride = try pair(node, "strides")
            let dilation = try pair(node, "dilations")
            let padding = try pads(
                node, input: xt, kernel: Pair(kernel[0], kernel[1]), stride: stride, dilation: dilation)
            let groups = try int(node, "group", 1)
            define(
                try emit(
                    .conv2d(Conv2dAttrs(stride: stride, padding: padding, dilation: dilation, groups: groups)), operands
                ))

        case "BatchNormalization":
            let x = try value(node, 0)
            let operands = [
                x, try parameter(node, 1, role: .bnGamma), try parameter(node, 2, role: .bnBeta),
                try parameter(node, 3, role: .runningMean), try parameter(node, 4, role: .runningVar),
            ]
            try onlyFirstOutputUsed(node)
            // ONNX's momentum weighs the running value (0.9); PyTorch's the batch value (0.1).
            let attrs = BatchNormAttrs(
                eps: float(node, "epsilon", 1e-5),
                momentum: ((1 - float(node, "momentum", 0.9)) * 1e12).rounded() / 1e12)
            define(try emit(.batchNorm(attrs), operands))

        case "Relu": define(try emit(.relu, [try value(node, 0)]))
        case "Sigmoid": define(try emit(.sigmoid, [try value(node, 0)]))
        case "HardSwish": define(try emit(.hardswish, [try value(node, 0)]))
        case "HardSigmoid":
            let alpha = float(node, "alpha", 0.2)
            let beta = float(node, "beta", 0.5)
            guard abs(alpha - 1.0 / 6) < 1e-6, abs(beta - 0.5) < 1e-6 else {
                throw unsupported(
                    "HardSigmoid with alpha \(alpha), beta \(beta): graphc has PyTorch's (alpha 1/6, beta 0.5)")
            }
            define(try emit(.hardsigmoid, [try value(node, 0)]))

        case "Clip":
            let x = try value(node, 0)
            var low: Double? = attribute(node, "min").map { Double($0.f) }
            var high: Double? = attribute(node, "max").map { Double($0.f) }
            if let t = try constant(node, 1) { low = try scalar(t, node) }
            if let t = try constant(node, 2) { high = try scalar(t, node) }
            if low == 0 && high == 6 {
                define(try emit(.relu6, [x]))
            } else if low == 0 && (high == nil || high == .infinity) {
                define(try emit(.relu, [x]))
            } else {
                throw unsupported(
                    "Clip to [\(low.map { "\($0)" } ?? "-inf"), \(high.map { "\($0)" } ?? "inf")]: graphc imports "
                        + "Clip as ReLU6 [0, 6] or ReLU [0, inf)")
            }

        case "Add", "Mul":
            if node.opType == "Add", let matmul = fusedAdds[index] {
                refs[node.output[0]] = refs[matmul]  // the MatMul's linear took this bias
                return
            }
            try binary(node, name: name, scope: scope)

        case "MaxPool", "AveragePool":
            let x = try value(node, 0)
            let xt = type(x)
            guard xt.rank == 4 else { throw unsupported("graphc imports 2-D pooling (NCHW input), got \(xt)") }
            guard let k = try ints(node, "kernel_shape"), k.count == 2 else {
                throw unsupported("kernel_shape must give 2 sizes")
            }
            let kernel = Pair(k[0], k[1])
            let stride = try pair(node, "strides")
            guard try pair(node, "dilations") == Pair(1) else { throw unsupported("dilated pooling is not supported") }
            guard try int(node, "storage_order", 0) == 0 else { throw unsupported("storage_order 1 is not supported") }
            try onlyFirstOutputUsed(node)
            let padding = try pads(node, input: xt, kernel: kernel, stride: stride, dilation: Pair(1))
            // MaxPool has no count_include_pad: PyTorch's default (true) keeps the attributes canonical.
            let includePad = node.opType == "MaxPool" ? true : try int(node, "count_include_pad", 0) != 0
            let attrs = Pool2dAttrs(
                kernel: kernel, stride: stride, padding: padding, ceilMode: try int(node, "ceil_mode", 0) != 0,
                countIncludePad: includePad)
            define(try emit(node.opType == "MaxPool" ? .maxPool2d(attrs) : .avgPool2d(attrs), [x]))

        case "GlobalAveragePool":
            let x = try value(node, 0)
            guard type(x).rank == 4 else {
                throw unsupported("graphc imports 2-D pooling (NCHW input), got \(type(x))")
            }
            define(try emit(.adaptiveAvgPool2d(output: Pair(1)), [x]))

        case "ReduceMean":
            let x = try value(node, 0)
            let xt = type(x)
            let axes = (try intList(node, attribute: "axes", input: 1) ?? []).map { $0 < 0 ? $0 + xt.rank : $0 }
                .sorted()
            guard xt.rank == 4, axes == [2, 3] else {
                throw unsupported(
                    "graphc imports ReduceMean over the spatial axes [2, 3] of an NCHW tensor (a global average pool), got axes \(axes) of \(xt)"
                )
            }
            let pooled = try emit(.adaptiveAvgPool2d(output: Pair(1)), [x])
            if try int(node, "keepdims", 1) != 0 {
                define(pooled)
            } else {
                define(
                    try emitNamed(
                        .flatten(startDim: 1), [pooled], name: usedName(name + ".squeeze"), scope: scope, node))
            }

        case "Flatten":
            let x = try value(node, 0)
            let xt = type(x)
            var axis = try int(node, "axis", 1)
            if axis < 0 { axis += xt.rank }
            guard axis >= 0, axis <= xt.rank else { throw unsupported("axis \(axis) is out of range for \(xt)") }
            if axis == 1 && xt.rank >= 2 {
                define(try emit(.flatten(startDim: 1), [x]))
            } else {
                let s = xt.shape.array
                guard let outer = TensorType.f32(Array(s[..<axis])).checkedElementCount,
                    let inner = TensorType.f32(Array(s[axis...])).checkedElementCount
                else { throw unsupported("\(xt) has more than 2^40 elements") }
                define(try emit(.reshape(shape: [outer, inner]), [x]))
            }

        case "Reshape":
            let x = try value(node, 0)
            guard let spec = try constant(node, 1) else { throw unsupported("the shape input is missing") }
            guard try int(node, "allowzero", 0) == 0 else { throw unsupported("allowzero 1 is not supported") }
            define(try emit(.reshape(shape: try reshapeTarget(spec.asIntegers, of: type(x), node)), [x]))

        case "Squeeze", "Unsqueeze":
            let x = try value(node, 0)
            let s = type(x).shape.array
            let axes = try intList(node, attribute: "axes", input: 1)
            var out: [Int]
            if node.opType == "Squeeze" {
                let drop = Set((axes ?? s.indices.filter { s[$0] == 1 }).map { $0 < 0 ? $0 + s.count : $0 })
                guard drop.allSatisfy({ $0 >= 0 && $0 < s.count && s[$0] == 1 }) else {
                    throw unsupported("axes \(axes ?? []) do not name size-1 dimensions of \(Shape.format(s))")
                }
                out = s.indices.filter { !drop.contains($0) }.map { s[$0] }
            } else {
                guard let axes, !axes.isEmpty else { throw unsupported("Unsqueeze needs axes") }
                let rank = s.count + axes.count
                let add = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
                guard add.count == axes.count, add.allSatisfy({ $0 >= 0 && $0 < rank }), rank <= Shape.maxRank else {
                    throw unsupported("axes \(axes) are out of range for \(Shape.format(s))")
                }
                var rest = s.makeIterator()
                out = (0..<rank).map { add.contains($0) ? 1 : rest.next()! }
            }
            define(try emit(.reshape(shape: Shape(out)), [x]))

        case "Gemm":
            let x = try value(node, 0)
            guard float(node, "alpha", 1) == 1, float(node, "beta", 1) == 1, try int(node, "transA", 0) == 0 else {
                throw unsupported("graphc imports Gemm as a linear layer: alpha 1, beta 1, transA 0")
            }
            let transB = try int(node, "transB", 0) != 0
            let w = try parameter(node, 1, role: .weight, transpose: !transB)
            guard type(w).rank == 2 else { throw unsupported("B '\(node.input[1])' is not a matrix") }
            var operands = [x, w]
            if node.input.count > 2, !node.input[2].isEmpty {
                operands.append(try parameter(node, 2, role: .bias, shape: [type(w).shape[0]]))
            }
            define(try emit(.linear, operands))

        case "MatMul":
            let a = try value(node, 0)
            if case .value? = refs[node.input.count > 1 ? node.input[1] : ""] {
                let b = try value(node, 1)
                guard type(a).rank == 2, type(b).rank == 2 else {
                    throw unsupported(
                        "graphc multiplies two computed tensors only as matrices, got \(type(a)) and \(type(b))")
                }
                define(try emit(.matmul(transposeA: false, transposeB: false), [a, b]))
            } else {
                // x·W with W [in, out] is a linear layer of weight Wᵀ.
                let w = try parameter(node, 1, role: .weight, transpose: true)
                guard type(w).rank == 2 else { throw unsupported("'\(node.input[1])' is not a matrix") }
                var operands = [a, w]
                if let bias = fusedBias[index] {
                    var add = Onnx_NodeProto()
                    add.name = node.name
                    add.opType = "Add"
                    add.input = [bias]
                    operands.append(try parameter(add, 0, role: .bias, shape: [type(w).shape[0]]))
                }
                define(try emit(.linear, operands))
            }

        case "Concat":
            guard (2...ValueList.capacity).contains(node.input.count) else {
                throw unsupported("graphc concatenates 2 to \(ValueList.capacity) tensors, got \(node.input.count)")
            }
            var operands: [ValueID] = []
            for i in node.input.indices { operands.append(try value(node, i)) }
            var axis = try int(node, "axis", 1)
            if axis < 0 { axis += type(operands[0]).rank }
            define(try emit(.concat(axis: axis), operands))

        case "Pad":
            // PyTorch writes a Pad of zeros before AveragePool: the identity. Real padding is a conv's
            // or pool's own attribute in graphc.
            let x = try value(node, 0)
            let pads = try intList(node, attribute: "pads", input: 1) ?? []
            let fill = try constant(node, 2).map { t throws(ONNXError) in try scalar(t, node) } ?? 0
            guard (string(node, "mode") ?? "constant") == "constant", pads.allSatisfy({ $0 == 0 }) || fill != 0 else {
                throw unsupported("graphc imports Pad of zero sizes only (padding \(pads)); pad in the Conv or pool")
            }
            guard pads.allSatisfy({ $0 == 0 }) else {
                throw unsupported("graphc imports Pad of zero sizes only (padding \(pads) with \(fill))")
            }
            refs[node.output[0]] = .value(x)

        case "Identity":
            refs[node.output[0]] = try ref(node.input.first ?? "", node)

        case "Dropout":
            let x = try value(node, 0)
            var ratio = float(node, "ratio", 0.5)
            if let t = try constant(node, 1) { ratio = try scalar(t, node) }
            guard ratio >= 0, ratio < 1 else { throw unsupported("ratio \(ratio) is not in [0, 1)") }
            try onlyFirstOutputUsed(node)
            define(try emit(.dropout(p: ratio), [x]))

        case "Constant":
            refs[node.output[0]] = .constant(try constantValue(node), isInitializer: false)

        case _:
            throw fail(
                "\(where_(node)): op type '\(node.opType)' is not supported; graphc imports "
                    + ONNXImporter.supportedOps.joined(separator: ", "))
        }
    }

    /// Add and Mul: of two computed tensors; Mul by a constant scalar is a scale; an initializer operand
    /// is a parameter (a learned bias or scale).
    mutating func binary(_ node: Onnx_NodeProto, name: String, scope: String) throws(ONNXError) {
        func emit(_ op: Op, _ inputs: [ValueID]) throws(ONNXError) -> ValueID {
            try emitNamed(op, inputs, name: name, scope: scope, node)
        }
        func define(_ id: ValueID) { refs[node.output[0]] = .value(id) }
        guard node.input.count == 2 else { throw fail("\(where_(node)): takes 2 inputs, got \(node.input.count)") }
        let a = try ref(node.input[0], node)
        let b = try ref(node.input[1], node)
        let op: Op = node.opType == "Add" ? .add : .mul
        switch (a, b) {
        case let (.value(x), .value(y)):
            define(try emit(op, [x, y]))
        case let (.value(x), .constant(t, isInit)), let (.constant(t, isInit), .value(x)):
            let side = { () -> Int in if case .constant = a { return 0 } else { return 1 } }()
            if !isInit, t.elementCount == 1, node.opType == "Mul" {
                define(try emit(.scale(Self.decimal(t.asFloats[0])), [x]))
            } else if isInit {
                let p = try parameter(node, side, role: node.opType == "Add" ? .bias : .weight)
                define(try emit(op, side == 0 ? [p, x] : [x, p]))
            } else {
                throw fail(
                    "\(where_(node)): \(node.opType) of the constant '\(node.input[side])' is not supported "
                        + "(graphc imports Mul by a constant scalar, and initializers as parameters)")
            }
        case (.constant, .constant):
            throw fail("\(where_(node)): both operands are constants; fold them when exporting (do_constant_folding)")
        }
    }

    mutating func usedName(_ base: String) -> String {
        var unique = base
        var k = 1
        while usedNames.contains(unique) {
            k += 1
            unique = "\(base)_\(k)"
        }
        usedNames.insert(unique)
        return unique
    }

    mutating func emitNamed(
        _ op: Op, _ inputs: [ValueID], name: String, scope: String, _ node: Onnx_NodeProto
    ) throws(ONNXError) -> ValueID {
        do {
            return try builder.node(op, inputs, name: name, scope: scope)[0]
        } catch {
            throw fail("\(where_(node)): \(error.message)")
        }
    }

    /// Extra outputs (BN's training statistics, MaxPool's indices, Dropout's mask) graphc does not compute.
    func onlyFirstOutputUsed(_ node: Onnx_NodeProto) throws(ONNXError) {
        let extra = Set(node.output.dropFirst().filter { !$0.isEmpty })
        guard !extra.isEmpty else { return }
        let g = model.graph
        let users = g.node.filter { n in n.input.contains { extra.contains($0) } }
        if !users.isEmpty || g.output.contains(where: { extra.contains($0.name) }) {
            throw fail(
                "\(where_(node)): only its first output is supported, but '\(extra.sorted().joined(separator: "', '"))' is used"
            )
        }
    }

    func pair(_ node: Onnx_NodeProto, _ name: String) throws(ONNXError) -> Pair {
        guard let v = try ints(node, name) else { return Pair(1) }
        guard v.count == 2, v.allSatisfy({ $0 >= 1 }) else {
            throw fail("\(where_(node)): \(name) \(v) must be two positive sizes")
        }
        return Pair(v[0], v[1])
    }

    /// Symmetric padding from `pads` or `auto_pad`; graphc's convolutions and pools pad each side alike.
    func pads(_ node: Onnx_NodeProto, input: TensorType, kernel: Pair, stride: Pair, dilation: Pair) throws(ONNXError)
        -> Pair
    {
        let auto = string(node, "auto_pad") ?? "NOTSET"
        var p: [Int]
        switch auto {
        case "NOTSET":
            p = try ints(node, "pads") ?? [0, 0, 0, 0]
            guard p.count == 4, p.allSatisfy({ $0 >= 0 }) else {
                throw fail("\(where_(node)): pads \(p) must be 4 non-negative sizes")
            }
        case "VALID":
            p = [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            var small: [Int] = []
            var large: [Int] = []
            for (size, k, s, d) in [
                (input.shape[2], kernel.h, stride.h, dilation.h), (input.shape[3], kernel.w, stride.w, dilation.w),
            ] {
                let out = (size + s - 1) / s
                let span = (k - 1) * d + 1
                let total = max((out - 1) * s + span - size, 0)
                small.append(total / 2)
                large.append(total - total / 2)
            }
            p = auto == "SAME_UPPER" ? small + large : large + small
        case _:
            throw fail("\(where_(node)): auto_pad '\(auto)' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
        }
        guard p[0] == p[2], p[1] == p[3] else {
            throw fail("\(where_(node)): asymmetric padding \(p) is not supported (graphc pads both sides alike)")
        }
        return Pair(p[0], p[1])
    }

    func scalar(_ t: ONNXTensor, _ node: Onnx_NodeProto) throws(ONNXError) -> Double {
        guard t.elementCount == 1 else { throw fail("\(where_(node)): '\(t.name)' is not a scalar") }
        return Self.decimal(t.asFloats[0])
    }

    /// Reshape's target with 0 (copy) and -1 (infer) resolved; a leading size equal to the file's batch
    /// follows a replaced batch.
    func reshapeTarget(_ spec: [Int64], of x: TensorType, _ node: Onnx_NodeProto) throws(ONNXError) -> Shape {
        guard spec.count <= Shape.maxRank, spec.allSatisfy({ $0 >= -1 && $0 < 1 << 31 }) else {
            throw fail("\(where_(node)): shape \(spec) is not supported")
        }
        var dims = spec.enumerated().map { i, d in d == 0 && i < x.rank ? x.shape[i] : Int(d) }
        if let fileBatch, let batch, !dims.isEmpty, spec[0] == Int64(fileBatch), x.rank > 0, x.shape[0] == batch {
            dims[0] = batch
        }
        // Up to 8 sizes below 2^31 each: their product is checked, as graphc bounds tensors to 2^40 elements.
        guard let known = TensorType.f32(dims.filter { $0 != -1 }).checkedElementCount,
            let count = x.checkedElementCount
        else { throw fail("\(where_(node)): shape \(spec) has more than 2^40 elements") }
        let holes = dims.filter { $0 == -1 }.count
        guard holes <= 1, known > 0 else { throw fail("\(where_(node)): shape \(spec) is not a valid target") }
        if holes == 1 {
            guard count % known == 0 else {
                throw fail("\(where_(node)): cannot reshape \(x) to \(spec)")
            }
            dims = dims.map { $0 == -1 ? count / known : $0 }
        }
        return Shape(dims)
    }

    /// A Constant node's value.
    func constantValue(_ node: Onnx_NodeProto) throws(ONNXError) -> ONNXTensor {
        let name = node.output[0]
        guard let a = node.attribute.first else { throw fail("\(where_(node)): has no value") }
        switch a.name {
        case "value": return try decoder.decode(a.t, context: where_(node))
        case "value_float": return ONNXTensor(name: name, shape: [], floats: [a.f])
        case "value_floats": return ONNXTensor(name: name, shape: [a.floats.count], floats: a.floats)
        case "value_int": return ONNXTensor(name: name, shape: [], integers: [a.i])
        case "value_ints": return ONNXTensor(name: name, shape: [a.ints.count], integers: a.ints)
        case _: throw fail("\(where_(node)): a Constant's \(a.name) is not supported")
        }
    }

    /// A float32 constant as the decimal it prints as (0.2, not 0.200000003).
    static func decimal(_ f: Float) -> Double { Double("\(f)") ?? Double(f) }

    /// A matrix tensor transposed (MatMul's and Gemm's [in, out] weights, as a linear's [out, in]).
    static func transposed(_ t: ONNXTensor) -> ONNXTensor {
        guard t.shape.count == 2 else { return t }
        let (r, c) = (t.shape[0], t.shape[1])
        var out = [Float](repeating: 0, count: r * c)
        for i in 0..<r { for j in 0..<c { out[j * r + i] = t.floats[i * c + j] } }
        return ONNXTensor(name: t.name, shape: [c, r], floats: out)
    }
}
