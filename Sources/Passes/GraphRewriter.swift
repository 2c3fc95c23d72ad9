import GraphIR

/// Rebuilds a graph node by node, the way every rewrite pass works: copy a node, drop it, or emit new
/// nodes in its place, while uses of old values are redirected to their replacements.
///
/// Inputs and parameters are copied first, in order; parameters added later come after them. Every
/// emitted node is shape-checked by `GraphBuilder`, so a rewrite cannot produce an ill-typed graph.
///
/// Training records (`Graph.records`) follow the rewrite: `finish` carries every source record whose
/// values and nodes survive (through the value map, and the node map `copy` keeps), and drops the rest;
/// records the pass sets itself (`records`) win over carried ones.
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
    /// Per source node: the node that copies it, -1 when none does (kept only when the source has
    /// records to carry).
    private var nodeMap: [Int32]

    public init(_ source: Graph) {
        self.source = source
        builder = GraphBuilder(name: source.name)
        map = Array(repeating: nil, count: source.values.count)
        nodeMap = source.records.isEmpty ? [] : Array(repeating: -1, count: source.nodes.count)
        // Rewrites mostly copy: start with room for the source graph and an eighth more.
        builder.reserveCapacity(
            values: source.values.count + source.values.count / 8,
            nodes: source.nodes.count + source.nodes.count / 8)
        for id in source.inputs {
            map[id.raw] = builder.input(source[id].name, source[id].type)
        }
        for id in source.parameters {
            let v = source[id]
            map[id.raw] = builder.parameter(v.name, v.type, role: v.role ?? .weight, trainable: v.isTrainable)
        }
    }

    /// Reserves room for `values` and `nodes` more than the source has (a pass that adds many, such as
    /// the optimizer's state and updates, avoids regrowing and copying the arrays).
    public mutating func reserveAdditional(values: Int, nodes: Int) {
        builder.reserveCapacity(values: source.values.count + values, nodes: source.nodes.count + nodes)
    }

    /// The type of `id`, a value of the new graph.
    public func type(of id: ValueID) -> TensorType { builder.type(of: id) }

    /// The graph built so far.
    public var graph: Graph { builder.graph }

    /// The records of the new graph (ids and indices of the new graph).
    public var records: TrainingRecords {
        get { builder.records }
        _modify { yield &builder.records }
    }

    /// Index of the node emitted or copied last, in the new graph.
    public var lastNode: Int { builder.graph.nodes.count - 1 }

    /// From now on, records of source node `old` refer to new node `new` (a pass that re-emits a node
    /// instead of copying it).
    public mutating func mapNode(_ old: Int, to new: Int) {
        if !nodeMap.isEmpty { nodeMap[old] = Int32(new) }
    }

    /// The new value that stands for `old` (an id of the source graph).
    public func mapped(_ old: ValueID) -> ValueID {
        guard let id = map[old.raw] else {
            preconditionFailure("GraphRewriter: \(old) '\(source[old].name)' used before it was rewritten")
        }
        return id
    }

    /// From now on, uses of the source value `old` read `new` (a value of the new graph).
    public mutating func replace(_ old: ValueID, with new: ValueID) { map[old.raw] = new }

    /// Copies source node `index` with its operands mapped; returns its new results. When every mapped
    /// operand has its source operand's type, the results keep their source types and names (inference
    /// is a function of the op and the operand types, so it would give the same).
    @discardableResult
    public mutating func copy(_ index: Int) throws(ShapeError) -> ValueList {
        var inputs = source.nodes[index].inputs
        var sameTypes = true
        for k in inputs.indices {
            let old = inputs[k], new = mapped(old)
            inputs[k] = new
            if sameTypes, builder.type(of: new) != source.values[old.raw].type { sameTypes = false }
        }
        guard sameTypes else { return try copy(index, as: source.nodes[index].op) }
        let outputs = builder.copiedNode(
            source.nodes[index].op, inputs, like: source.nodes[index].outputs, of: source,
            name: source.nodes[index].name, scope: source.nodes[index].scope, phase: source.nodes[index].phase)
        mapResults(of: index, to: outputs)
        return outputs
    }

    /// Copies source node `index` with another op (same operands, name and scope).
    @discardableResult
    public mutating func copy(_ index: Int, as op: Op) throws(ShapeError) -> ValueList {
        // Fields are read from the source in place; copying the whole node would retain its two names.
        var inputs = source.nodes[index].inputs
        for k in inputs.indices { inputs[k] = mapped(inputs[k]) }
        let outputs = try builder.node(
            op, inputs, name: source.nodes[index].name,
            scope: source.nodes[index].scope, phase: source.nodes[index].phase)
        mapResults(of: index, to: outputs)
        return outputs
    }

    /// Points source node `index`'s results at `outputs`. A new op may have more results than the old
    /// one (batch_norm → native_batch_norm): the common ones are mapped.
    private mutating func mapResults(of index: Int, to outputs: ValueList) {
        mapNode(index, to: lastNode)
        for k in 0..<min(outputs.count, source.nodes[index].outputs.count) {
            map[source.nodes[index].outputs[k].raw] = outputs[k]
        }
    }

    /// Emits a new node on values of the new graph.
    @discardableResult
    public mutating func emit(
        _ op: Op, _ inputs: [ValueID], name: String, scope: String = "",
        phase: Phase = .forward
    ) throws(ShapeError) -> ValueList {
        try builder.node(op, inputs, name: name, scope: scope, phase: phase)
    }

    /// Emits a new node on values of the new graph (operands already in a `ValueList`).
    @discardableResult
    public mutating func emit(
        _ op: Op, _ inputs: ValueList, name: String, scope: String = "",
        phase: Phase = .forward
    ) throws(ShapeError) -> ValueList {
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
        if !nodeMap.isEmpty {
            let carried = source.records.remapped(
                values: { map[$0.raw] },
                nodes: { nodeMap[$0] >= 0 ? Int(nodeMap[$0]) : nil })
            builder.records.fill(from: carried)
        }
        return builder.graph
    }
}
