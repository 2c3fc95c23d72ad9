// What each node of a graph is, as a layer: a convolution (plain or grouped), a norm, an activation, the
// classifier head, ... The model summary reports it per layer, `freeze` finds the head with it, and Viz
// colours nodes by it.
//
// The head is structural: a `linear` node from which a graph output (the logits, or the loss of a
// training graph) is reachable through parameter-free ops only.
import GraphIR

/// The kind of layer a node is.
public enum LayerKind: String, Sendable, Hashable, CaseIterable {
    case conv
    /// A grouped convolution; depthwise when groups equal the input channels.
    case depthwise
    case norm
    case activation
    case pooling
    case elementwise
    case shape
    case linear
    /// A linear layer that feeds the graph's output (or its loss) through parameter-free ops only.
    case head
    case dropout
    case loss
    /// Ops on weights rather than activations: adapter composition (DoRA), GaLore's projections.
    case weightSpace = "weight_space"
    /// A backward (gradient) op.
    case gradient
    /// An optimizer update.
    case optimizer
    /// GaLore's SVD projector.
    case svd

    /// The kind of every node, in node order (one pass over the graph).
    public static func of(_ graph: Graph) -> [LayerKind] {
        let feeds = outputFeeders(graph)
        return graph.nodes.indices.map { kind(of: graph.nodes[$0], feedsOutput: feeds[$0]) }
    }

    /// The kind of `node`; `feedsOutput` is `outputFeeders(graph)[index]` for its index.
    public static func kind(of node: Node, feedsOutput: Bool) -> LayerKind {
        switch node.op.category {
        case .conv:
            if case let .conv2d(a) = node.op, a.groups > 1 { return .depthwise }
            return .conv
        case .norm: return .norm
        case .activation: return .activation
        case .elementwise: return .elementwise
        case .pooling: return .pooling
        case .shape: return .shape
        case .linear: return feedsOutput ? .head : .linear
        case .regularization: return .dropout
        case .loss: return .loss
        case .weightSpace: return .weightSpace
        case .gradient: return .gradient
        case .optimizer: return .optimizer
        case .svd: return .svd
        }
    }

    /// For each node, whether a graph output is reachable from it through parameter-free ops only
    /// (so the last linear before the logits, or before the loss, is the head).
    public static func outputFeeders(_ graph: Graph) -> [Bool] {
        let outputs = Set(graph.outputs)
        let users = graph.users()
        var feeds = Array(repeating: false, count: graph.nodes.count)
        for index in graph.nodes.indices.reversed() {
            feeds[index] = graph.nodes[index].outputs.contains { value in
                outputs.contains(value)
                    || users[value.raw].contains { user in feeds[user] && !graph.nodes[user].op.category.hasParameters }
            }
        }
        return feeds
    }

    /// The head: indices of the `linear` nodes that feed a graph output through parameter-free ops.
    public static func headNodes(_ graph: Graph) -> [Int] {
        let feeds = outputFeeders(graph)
        return graph.nodes.indices.filter { graph.nodes[$0].op == .linear && feeds[$0] }
    }
}
