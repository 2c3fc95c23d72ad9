import GraphIR

/// Rebuilds a graph node by node, the way every rewrite pass works: copy a node, drop it, or emit new
/// nodes in its place, while uses of old values are redirected to their replacements.
///
/// Inputs and parameters are copied first, in order; parameters added later come after them. Every
/// emitted node is shape-checked by `GraphBuilder`, so a rewrite cannot produce an ill-typed graph.
///
///     var r = GraphRewriter(graph)
///     for (i, node) in graph.nodes.enumerated() {
///         let out = try r.copy(i)
///         if wantAdapter(node) { r.replace(node.outputs[0], with: try emitAdapter(&r, out[0])) }
///     }
///     return r.finish()
public struct GraphRewriter: Sendable {
    public let source: Graph
    public private(set) var builder: GraphBuilder
    private var map: [ValueID?]

    public init(_ source: Graph) {
        self.source = source
        builder = GraphBuilder(name: source.name)
        map = Array(repeating: nil, count: source.values.count)
        // Rewrites mostly copy: start with room for the source graph and an eighth more.
        builder.reserveCapacity(values: source.values.count + source.values.count / 8,
                                nodes: source.nodes.count + source.nodes.count / 8)
        for id in source.inputs {
            map[id.raw] = builder.input(source[id].name, source[id].type)
        }
        for id in source.parameters {
            let v = source[id]
            map[id.raw] = builder.parameter(v.name, v.type.shape, role: v.role ?? .weight, trainable: v.isTrainable)
        }
    }

    /// The graph built so far.
    public var graph: Graph { builder.graph }

    /// The new value that stands for `old` (an id of the source graph).
    public func mapped(_ old: ValueID) -> ValueID {
        guard let id = map[old.raw] else {
            preconditionFailure("GraphRewriter: \(old) '\(source[old].name)' used before it was rewritten")
        }
        return id
    }

    /// From now on, uses of the source value `old` read `new` (a value of the new graph).
    public mutating func replace(_ old: ValueID, with new: ValueID) { map[old.raw] = new }

    /// Copies source node `index` with its operands mapped; returns its new results.
    @discardableResult
    public mutating func copy(_ index: Int) throws(ShapeError) -> [ValueID] {
        try copy(index, as: source.nodes[index].op)
    }

    /// Copies source node `index` with another op (same operands, name and scope).
    @discardableResult
    public mutating func copy(_ index: Int, as op: Op) throws(ShapeError) -> [ValueID] {
        // Fields are read from the source in place; copying the whole node would retain four references.
        let outputs = try builder.node(op, source.nodes[index].inputs.map(mapped), name: source.nodes[index].name,
                                       scope: source.nodes[index].scope, phase: source.nodes[index].phase)
        for (old, new) in zip(source.nodes[index].outputs, outputs) { map[old.raw] = new }
        return outputs
    }

    /// Emits a new node on values of the new graph.
    @discardableResult
    public mutating func emit(_ op: Op, _ inputs: [ValueID], name: String, scope: String = "",
                              phase: Phase = .forward) throws(ShapeError) -> [ValueID]
    {
        try builder.node(op, inputs, name: name, scope: scope, phase: phase)
    }

    /// Adds a parameter (or state) to the new graph.
    public mutating func addParameter(_ name: String, _ shape: Shape, role: ParamRole, trainable: Bool) -> ValueID {
        builder.parameter(name, shape, role: role, trainable: trainable)
    }

    /// Adds an input to the new graph (the labels of a training graph).
    public mutating func addInput(_ name: String, _ type: TensorType) -> ValueID { builder.input(name, type) }

    /// Marks a parameter of the new graph trainable or frozen (buffers stay frozen).
    public mutating func setTrainable(_ id: ValueID, _ trainable: Bool) { builder.setTrainable(id, trainable) }

    /// The finished graph, with the source outputs (mapped) unless `outputs` are given.
    public mutating func finish(outputs: [ValueID]? = nil) -> Graph {
        for id in outputs ?? source.outputs.map(mapped) { builder.output(id) }
        return builder.graph
    }
}
