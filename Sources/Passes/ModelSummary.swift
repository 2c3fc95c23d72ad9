import GraphIR

/// Per-layer parameter and MAC counts of a graph, as torchinfo prints them.
///
/// One row per node, in schedule order. A row's parameters are the learnable parameters the node reads
/// (buffers excluded), so the rows sum to the graph's parameter count; MACs count conv and linear layers
/// only (groups-aware), so the rows sum to the graph's MACs. Elementwise work is kept apart and labelled.
public struct ModelSummary: Sendable, Hashable {
    public struct Layer: Sendable, Hashable {
        public var name: String
        public var op: String
        /// `conv`, `depthwise`, `norm`, `head`, ... (`LayerKind`), as Viz colours them.
        public var kind: String
        public var scope: String
        public var outputShape: [Int]
        public var params: Int
        public var macs: Int
        public var elementwiseOps: Int
    }

    public var model: String
    public var params: Int
    public var trainableParams: Int
    /// Buffer elements (BatchNorm running statistics): state, not parameters.
    public var bufferElements: Int
    public var macs: Int
    /// 2 · MACs; `Int.max` when that does not fit (then `overflowingLayer` is set).
    public var flops: Int {
        let (f, overflow) = macs.multipliedReportingOverflow(by: 2)
        return overflow ? .max : f
    }
    /// The first layer whose MACs or elementwise operations, alone or added to those before it, do not
    /// fit a 64-bit count (twice the MACs, for FLOPs); nil when every number is a count.
    public var overflowingLayer: CostOverflow?
    public var elementwiseOps: Int
    public var layers: [Layer]

    public init(_ graph: Graph) {
        model = graph.name
        params = graph.parameterCount
        trainableParams = graph.trainableParameterCount
        bufferElements = graph.parameters.filter { graph[$0].role?.isBuffer ?? false }
            .reduce(0) { $0 + graph[$1].type.elementCount }
        let roles = LayerKind.of(graph)
        layers = zip(graph.nodes, roles).map { node, role in
            let operands = graph.operandTypes(of: node), results = graph.resultTypes(of: node)
            return Layer(
                name: node.name, op: node.op.name, kind: role.rawValue,
                scope: node.scope, outputShape: results.first?.shape.array ?? [],
                params: graph.parameterCount(of: node), macs: node.op.macs(operands, results),
                elementwiseOps: node.op.elementwiseOps(operands, results))
        }
        var total = Cost()
        var overflow: CostOverflow?
        for layer in layers {
            let own = Cost(
                macs: layer.macs, flops: layer.macs > Int.max / 2 ? .max : 2 * layer.macs,
                elementwise: layer.elementwiseOps)
            total = total + own
            if overflow == nil && (total.saturated || own.saturated) {
                overflow = CostOverflow(node: layer.name, op: layer.op, alone: own.saturated)
            }
        }
        macs = total.macs
        elementwiseOps = total.elementwise
        overflowingLayer = overflow
    }

    /// The summary, or `count-overflow` naming the layer where a count stopped fitting 64 bits.
    public func checked() throws(Diagnostic) -> ModelSummary {
        if let overflowingLayer { throw overflowingLayer.diagnostic }
        return self
    }
}

/// Batch, per-sample input shape and class count of a model, read off its first input and output.
public struct ModelSignature: Sendable, Hashable {
    public var batch: Int
    /// The input shape without the batch dimension (`[3, 224, 224]`).
    public var input: [Int]
    /// The last dimension of the first output, when there is one.
    public var classes: Int?

    public init(_ graph: Graph) {
        let input = graph.inputs.first.map { graph[$0].type.shape } ?? []
        batch = input.first ?? 1
        self.input = Array(input.dropFirst())
        classes = graph.outputs.first.flatMap { graph[$0].type.shape.last }
    }
}
