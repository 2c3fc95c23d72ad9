import GraphIR

/// `dce`: removes nodes none of whose results reach a graph output.
///
/// One reverse sweep marks live values (graph outputs, then the operands of every node with a live
/// result); nodes without live results are dropped and the graph is rebuilt. Inputs and parameters stay,
/// even when unused: they are the model's interface and state.
///
///     %3 = relu(%2) : f32[1, 8] "dead"      (no user)      →  (removed)
public struct DeadCodeElimination: Pass {
    public let name = "dce"
    public let summary = "remove nodes whose results reach no output"

    public init() {}

    public func run(_ graph: Graph) throws -> Graph {
        var live = Array(repeating: false, count: graph.values.count)
        for id in graph.outputs { live[id.raw] = true }
        var keep = Array(repeating: false, count: graph.nodes.count)
        for index in graph.nodes.indices.reversed() where graph.nodes[index].outputs.contains(where: { live[$0.raw] }) {
            keep[index] = true
            for id in graph.nodes[index].inputs { live[id.raw] = true }
        }
        if !keep.contains(false) { return graph }
        var rewriter = GraphRewriter(graph)
        for index in graph.nodes.indices where keep[index] { try rewriter.copy(index) }
        return rewriter.finish()
    }
}
