/// Builds a graph node by node, inferring every result type as it goes, so a built graph is well typed.
public struct GraphBuilder: Sendable {
    public private(set) var graph: Graph
    /// Operand types of the node being added, kept to avoid an allocation per node.
    private var operandTypes: [TensorType] = []

    public init(name: String) { graph = Graph(name: name) }

    /// The training records of the graph being built (passes record the structure they create).
    public var records: TrainingRecords {
        get { graph.records }
        _modify { yield &graph.records }
    }

    /// Reserves room for `values` values and `nodes` nodes in all, so that building a large graph does
    /// not regrow (and copy) its arrays.
    public mutating func reserveCapacity(values: Int, nodes: Int) {
        graph.values.reserveCapacity(values)
        graph.nodes.reserveCapacity(nodes)
    }

    /// Adds a graph input.
    public mutating func input(_ name: String, _ type: TensorType) -> ValueID {
        let id = graph.appendValue(Value(name: name, type: type, kind: .input))
        graph.inputs.append(id)
        return id
    }

    /// Adds a parameter (or a buffer, for the running-statistics roles). Buffers are never trainable.
    public mutating func parameter(_ name: String, _ shape: Shape, role: ParamRole, trainable: Bool = true)
        -> ValueID
    {
        let kind = ValueKind.parameter(role: role, trainable: trainable && role.isLearnable)
        let id = graph.appendValue(Value(name: name, type: .f32(shape), kind: kind))
        graph.parameters.append(id)
        return id
    }

    /// Adds a parameter of `type`: a rewrite copying one keeps its storage dtype (`set-precision`'s f16,
    /// bf16 or qi8 frozen weights).
    public mutating func parameter(_ name: String, _ type: TensorType, role: ParamRole, trainable: Bool = true)
        -> ValueID
    {
        let id = parameter(name, type.shape, role: role, trainable: trainable)
        graph.values[id.raw].type = type
        return id
    }

    /// Appends a node after inferring its result types; its results are named after the node.
    @discardableResult
    public mutating func node(
        _ op: Op, _ inputs: [ValueID], name: String, scope: String = "",
        phase: Phase = .forward
    ) throws(ShapeError) -> ValueList {
        guard inputs.count <= ValueList.capacity else {
            throw ShapeError("arity", "\(op.name) takes \(op.arity.upperBound) operands at most, got \(inputs.count)")
        }
        return try node(op, ValueList(inputs), name: name, scope: scope, phase: phase)
    }

    /// Appends a node after inferring its result types; its results are named after the node.
    @discardableResult
    public mutating func node(
        _ op: Op, _ inputs: ValueList, name: String, scope: String = "",
        phase: Phase = .forward
    ) throws(ShapeError) -> ValueList {
        for id in inputs where id.raw < 0 || id.raw >= graph.values.count {
            throw ShapeError("undefined-value", "operand \(id) is not defined")
        }
        operandTypes.removeAll(keepingCapacity: true)
        for id in inputs { operandTypes.append(graph.values[id.raw].type) }
        let types = try op.inferTypes(operandTypes)
        let index = graph.nodes.count
        var outputs = ValueList()
        for i in types.indices {
            outputs.append(
                graph.appendValue(
                    Value(
                        name: types.count == 1 ? name : "\(name).\(i)", type: types[i],
                        kind: .result(node: index, index: i))))
        }
        graph.nodes.append(Node(op: op, inputs: inputs, outputs: outputs, name: name, scope: scope, phase: phase))
        return outputs
    }

    /// Appends a node whose result types and names are already known: a rewrite copying a node onto
    /// operands of unchanged types knows the results inference would give, and skips inference.
    /// The results take the names and types of `like`, values of `source`. Nothing is checked here; the
    /// pass pipeline verifies every graph a pass returns.
    @discardableResult
    public mutating func copiedNode(
        _ op: Op, _ inputs: ValueList, like results: ValueList, of source: Graph,
        name: String, scope: String, phase: Phase
    ) -> ValueList {
        let index = graph.nodes.count
        var outputs = ValueList()
        for i in results.indices {
            let id = results[i]
            outputs.append(
                graph.appendValue(
                    Value(
                        name: source.values[id.raw].name, type: source.values[id.raw].type,
                        kind: .result(node: index, index: i))))
        }
        graph.nodes.append(Node(op: op, inputs: inputs, outputs: outputs, name: name, scope: scope, phase: phase))
        return outputs
    }

    /// Single-output convenience.
    public mutating func apply(_ op: Op, _ inputs: ValueID..., name: String, scope: String = "")
        throws(ShapeError) -> ValueID
    {
        try node(op, inputs, name: name, scope: scope)[0]
    }

    public mutating func output(_ id: ValueID) { graph.outputs.append(id) }

    /// Marks parameter `id` trainable or frozen; state (buffers, optimizer state) is never trainable.
    public mutating func setTrainable(_ id: ValueID, _ trainable: Bool) {
        guard case let .parameter(role, _) = graph[id].kind else { return }
        graph[id].kind = .parameter(role: role, trainable: trainable && role.isLearnable)
    }

    public func type(of id: ValueID) -> TensorType { graph.values[id.raw].type }
}

/// Layers with parameters, named as PyTorch's `state_dict` names them (`conv1.weight`, `bn1.running_mean`).
extension GraphBuilder {
    public mutating func conv2d(
        _ x: ValueID, out: Int, kernel: Pair, stride: Pair = Pair(1),
        padding: Pair = Pair(0), dilation: Pair = Pair(1), groups: Int = 1,
        bias: Bool = false, name: String, scope: String = ""
    ) throws(ShapeError) -> ValueID {
        let inType = type(of: x)
        guard inType.rank == 4 else { throw ShapeError("rank", "conv2d expects a 4-D NCHW input, got \(inType)") }
        guard out > 0, kernel.h > 0, kernel.w > 0, groups > 0 else {
            throw ShapeError("bad-size", "conv2d out channels, kernel and groups must be positive")
        }
        guard inType.shape[1] % groups == 0, out % groups == 0 else {
            throw ShapeError(
                "channel-mismatch",
                "conv2d groups \(groups) must divide input channels \(inType.shape[1]) and output channels \(out)")
        }
        let w = parameter("\(name).weight", [out, inType.shape[1] / groups, kernel.h, kernel.w], role: .weight)
        var operands = [x, w]
        if bias { operands.append(parameter("\(name).bias", [out], role: .bias)) }
        let attrs = Conv2dAttrs(stride: stride, padding: padding, dilation: dilation, groups: groups)
        return try node(.conv2d(attrs), operands, name: name, scope: scope)[0]
    }

    public mutating func batchNorm(
        _ x: ValueID, eps: Double = 1e-5, momentum: Double = 0.1,
        training: Bool = false, name: String, scope: String = ""
    )
        throws(ShapeError) -> ValueID
    {
        let inType = type(of: x)
        guard inType.rank == 2 || inType.rank == 4 else {
            throw ShapeError("rank", "batch_norm expects a 2-D or 4-D input, got \(inType)")
        }
        let c = inType.shape[1]
        let operands = [
            x,
            parameter("\(name).weight", [c], role: .bnGamma),
            parameter("\(name).bias", [c], role: .bnBeta),
            parameter("\(name).running_mean", [c], role: .runningMean),
            parameter("\(name).running_var", [c], role: .runningVar),
        ]
        let attrs = BatchNormAttrs(eps: eps, momentum: momentum, training: training)
        return try node(.batchNorm(attrs), operands, name: name, scope: scope)[0]
    }

    public mutating func linear(_ x: ValueID, out: Int, bias: Bool = true, name: String, scope: String = "")
        throws(ShapeError) -> ValueID
    {
        let inType = type(of: x)
        guard let features = inType.shape.last else {
            throw ShapeError("rank", "linear expects an input of rank >= 1, got \(inType)")
        }
        guard out > 0 else { throw ShapeError("bad-size", "linear out features must be positive, got \(out)") }
        var operands = [x, parameter("\(name).weight", [out, features], role: .weight)]
        if bias { operands.append(parameter("\(name).bias", [out], role: .bias)) }
        return try node(.linear, operands, name: name, scope: scope)[0]
    }
}
