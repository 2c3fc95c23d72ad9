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
/// An adapted layer is recognised by its names (docs/training.md): LoRA by the node NAME.lora_add adding
/// to NAME's output, DoRA by NAME's weight operand coming from NAME.dora_weight (the base weight is the
/// first operand of NAME.dora_V). Their NAME.lora_* / NAME.dora_* nodes are dropped. Anything else that
/// still reads an adapter value is an error (`merge-unrecognised`); a graph with backward or optimizer
/// nodes is refused (`merge-training-graph`): merge the forward graph.
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
            if let sum = found.sumOf[index] { r.replace(sum, with: r.mapped(node.outputs[0])) }
        }
        return r.finish()
    }

    private struct Analysis {
        var merges: [Merge] = []
        /// Node indices to drop.
        var dropped: Set<Int> = []
        /// DoRA base nodes: the base weight parameter their W' operand stands for.
        var weightOf: [Int: ValueID] = [:]
        /// LoRA base nodes: the lora_add result that their output stands for again.
        var sumOf: [Int: ValueID] = [:]
    }

    private static func analyse(_ graph: Graph) throws -> Analysis {
        if let node = graph.nodes.first(where: { $0.phase != .forward }) {
            throw Diagnostic.error("merge-training-graph", "merge-adapters takes a forward graph; '\(node.name)' is a "
                                   + "\(node.phase.rawValue) node", node: node.name)
        }
        var index: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() { index[node.name] = i }
        var result = Analysis()
        var prefixes: [String] = []
        for (i, node) in graph.nodes.enumerated() {
            guard node.op.adaptableLayer != nil else { continue }
            let name = node.name
            if let add = index[AdapterNames.loraAdd(name)], graph.nodes[add].inputs.first == node.outputs[0] {
                result.sumOf[i] = graph.nodes[add].outputs[0]
                result.merges.append(Merge(layer: name, method: .lora, weight: graph[node.inputs[1]].name))
                prefixes.append(name + ".lora_")
            } else if let producer = graph.producer(of: node.inputs[1]),
                      graph.nodes[producer].name == AdapterNames.doraWeight(name)
            {
                guard let v = index[AdapterNames.doraV(name)], let w = graph.nodes[v].inputs.first,
                      graph[w].isParameter, graph[w].type == graph[node.inputs[1]].type else {
                    throw Diagnostic.error("merge-unrecognised", "DoRA layer '\(name)': no base weight found "
                                           + "(expected '\(AdapterNames.doraV(name))' = add(W, ...))", node: name)
                }
                result.weightOf[i] = w
                result.merges.append(Merge(layer: name, method: .dora, weight: graph[w].name))
                prefixes.append(name + ".dora_")
            }
        }
        for (i, node) in graph.nodes.enumerated() where prefixes.contains(where: { node.name.hasPrefix($0) }) {
            result.dropped.insert(i)
        }
        // Whatever is kept must not read a dropped node's result or an adapter parameter.
        var gone = Set<ValueID>(graph.parameters.filter { graph[$0].role?.isAdapter ?? false })
        for i in result.dropped { gone.formUnion(graph.nodes[i].outputs) }
        let replaced = Set(result.sumOf.values)
        for (i, node) in graph.nodes.enumerated() where !result.dropped.contains(i) {
            for (k, operand) in node.inputs.enumerated() where gone.contains(operand) {
                if k == 1 && result.weightOf[i] != nil { continue }
                if replaced.contains(operand) { continue }
                throw Diagnostic.error("merge-unrecognised", "'\(node.name)' reads '\(graph[operand].name)', "
                                       + "which belongs to an adapter merge-adapters does not recognise",
                                       node: node.name)
            }
        }
        for id in graph.outputs where gone.contains(id) && !replaced.contains(id) {
            throw Diagnostic.error("merge-unrecognised", "graph output '\(graph[id].name)' is an adapter value",
                                   node: graph[id].name)
        }
        return result
    }
}
