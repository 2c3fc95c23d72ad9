import GraphIR

/// `merge-adapters`: folds LoRA and DoRA adapters into their base weights, for inference.
///
/// Numerically the merge is W ← W + (alpha/r)·B·A (LoRA) and W ← m·V/‖V‖ with V = W + (alpha/r)·B·A
/// (DoRA). Graphs carry no weight values, so the merge is structural: the base conv/linear reads its own
/// weight again, which from then on stands for the merged weight (same name `NAME.weight`, same shape),
/// and the adapter parameters and nodes are gone. The result is the original forward architecture:
/// merging the output of `lora`/`dora` gives back the graph they started from, except for trainable
/// flags, which carry over (inference ignores them).
///
/// An adapted layer is found from the records `lora` and `dora` leave (`AdapterRecord`: each adapter node
/// and parameter names its base node and base weight W), never from names. All adapter nodes are
/// dropped. When the base node's weight operand is an adapter result (DoRA's W'), it reads W again;
/// otherwise (LoRA) the adapter node that reads the base output (the `add` of y and s·B·A·x) stands
/// for the base node's output again. Anything else that still reads an adapter
/// value is an error (`merge-unrecognised`); a graph with backward or optimizer nodes is refused
/// (`merge-training-graph`): merge the forward graph.
///
/// Before:
///
///     %5 = conv2d(%0, %1) : f32[1, 64, 56, 56] "layer1.0.conv1" in "layer1.0"
///     %6 = conv2d(%0, %40) : f32[1, 8, 56, 56] "layer1.0.conv1.lora_A" in "layer1.0"
///     %7 = conv2d(%6, %41) : f32[1, 64, 56, 56] "layer1.0.conv1.lora_B" in "layer1.0"
///     %8 = scale(%7) {factor = 1.0} : f32[1, 64, 56, 56] "layer1.0.conv1.lora_scale" in "layer1.0"
///     %9 = add(%5, %8) : f32[1, 64, 56, 56] "layer1.0.conv1.lora_add" in "layer1.0"
///     %10 = batch_norm(%9, ...) ...
///
/// After (%1 now holds W + B·A):
///
///     %5 = conv2d(%0, %1) : f32[1, 64, 56, 56] "layer1.0.conv1" in "layer1.0"
///     %6 = batch_norm(%5, ...) ...
public struct MergeAdapters: Pass {
    public let name = "merge-adapters"
    public let summary = "fold LoRA/DoRA adapters into their base weights (the original forward graph)"

    public init() {}

    /// One merged layer: the base node, the method, and the weight that now holds the merged values.
    public struct Merge: Sendable, Hashable {
        public var layer: String
        public var method: FineTuningMethod
        public var weight: String
    }

    /// The adapted layers of `graph` that `run` merges.
    public static func merges(in graph: Graph) throws -> [Merge] {
        try analyse(graph).merges
    }

    public func run(_ graph: Graph) throws -> Graph {
        let found = try Self.analyse(graph)
        if found.merges.isEmpty && graph.parameters.allSatisfy({ !(graph[$0].role?.isAdapter ?? false) }) {
            return graph
        }
        var source = graph
        source.parameters.removeAll { graph[$0].role?.isAdapter ?? false }
        var r = GraphRewriter(source)
        for (index, node) in graph.nodes.enumerated() {
            if found.dropped.contains(index) { continue }
            if let weight = found.weightOf[index] { r.replace(node.inputs[1], with: r.mapped(weight)) }
            try r.copy(index)
            for sum in found.sumOf[index] ?? [] { r.replace(sum, with: r.mapped(node.outputs[0])) }
        }
        return r.finish()
    }

    private struct Analysis {
        var merges: [Merge] = []
        /// Node indices to drop.
        var dropped: Set<Int> = []
        /// DoRA base nodes: the base weight parameter their W' operand stands for.
        var weightOf: [Int: ValueID] = [:]
        /// LoRA base nodes: the adapter results (the lora_add) that their output stands for again.
        var sumOf: [Int: [ValueID]] = [:]
    }

    private static func analyse(_ graph: Graph) throws -> Analysis {
        if let node = graph.nodes.first(where: { $0.phase != .forward }) {
            throw Diagnostic.error(
                "merge-training-graph",
                "merge-adapters takes a forward graph; '\(node.name)' is a "
                    + "\(node.phase.rawValue) node", node: node.name)
        }
        var result = Analysis()
        // Per node: the base layer of the adapter it belongs to (-1: none); the layers in node order.
        var layerOf = [Int](repeating: -1, count: graph.nodes.count)
        var weights: [Int: ValueID] = [:]
        for i in graph.nodes.indices {
            guard let record = graph.records.adapter(ofNode: i), graph.nodes.indices.contains(record.layer),
                graph.values.indices.contains(record.weight.raw)
            else {
                continue
            }
            layerOf[i] = record.layer
            weights[record.layer] = record.weight
            result.dropped.insert(i)
        }
        for layer in weights.keys.sorted() {
            let base = graph.nodes[layer], w = weights[layer]!
            guard !result.dropped.contains(layer), base.inputs.count > 1 else {
                throw Diagnostic.error(
                    "merge-unrecognised",
                    "adapter of '\(base.name)': its base layer is itself "
                        + "recorded as an adapter node", node: base.name)
            }
            if let producer = graph.producer(of: base.inputs[1]), layerOf[producer] == layer {
                // DoRA: the base node reads W' = m·V/‖V‖; merged, it reads W (which holds the merged values).
                guard graph[w].isParameter, graph[w].type == graph[base.inputs[1]].type else {
                    throw Diagnostic.error(
                        "merge-unrecognised",
                        "DoRA layer '\(base.name)': its recorded base weight "
                            + "'\(graph[w].name)' is not a parameter of the weight's type",
                        node: base.name)
                }
                result.weightOf[layer] = w
                result.merges.append(Merge(layer: base.name, method: .dora, weight: graph[w].name))
            } else {
                // LoRA: the adapter node that joins the base output (y + s·B·A·x) stands for it again.
                for i in graph.nodes.indices
                where layerOf[i] == layer && graph.nodes[i].inputs.contains(base.outputs[0]) {
                    for id in graph.nodes[i].outputs where graph[id].type == graph[base.outputs[0]].type {
                        result.sumOf[layer, default: []].append(id)
                    }
                }
                result.merges.append(Merge(layer: base.name, method: .lora, weight: graph[w].name))
            }
        }
        // Whatever is kept must not read a dropped node's result or an adapter parameter.
        var gone = Set<ValueID>(graph.parameters.filter { graph[$0].role?.isAdapter ?? false })
        for i in result.dropped { gone.formUnion(graph.nodes[i].outputs) }
        let replaced = Set(result.sumOf.values.joined())
        for (i, node) in graph.nodes.enumerated() where !result.dropped.contains(i) {
            for (k, operand) in node.inputs.enumerated() where gone.contains(operand) {
                if k == 1 && result.weightOf[i] != nil { continue }
                if replaced.contains(operand) { continue }
                throw Diagnostic.error(
                    "merge-unrecognised",
                    "'\(node.name)' reads '\(graph[operand].name)', "
                        + "which belongs to an adapter merge-adapters does not recognise",
                    node: node.name)
            }
        }
        for id in graph.outputs where gone.contains(id) && !replaced.contains(id) {
            throw Diagnostic.error(
                "merge-unrecognised", "graph output '\(graph[id].name)' is an adapter value",
                node: graph[id].name)
        }
        return result
    }
}
