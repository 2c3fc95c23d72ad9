// FLOPs of a training step, per node and per phase.
//
// One pass over the nodes in schedule order: each node's MACs, FLOPs and elementwise operations come from
// `Op.macs` / `Op.arithmeticFlops` / `Op.elementwiseOps` (GraphIR/Op+Cost.swift) and are added to the
// node's group: its phase, except that `svd_projector` nodes (optimizer phase) form a group of their own.
// O(nodes + operands). Sums saturate at `Int.max` instead of trapping, and `Int.max` means "does not
// fit": the report records the first node whose cost, or whose addition to the running total, reached
// it (`overflowingNode`), and `checked()` turns that into an error naming the node, so a saturated
// value is never printed as if it were a count.
//
// Conventions: `.exact` is graphc's (groups-aware conv gradients; optimizer and SVD arithmetic counted;
// elementwise work apart). `.studyProfiler` reproduces the study's dispatch-mode profiler for
// comparison only: conv/linear/matmul MACs alone (FLOPs = 2 · MACs), a grouped conv's weight gradient
// counted `groups` times (its formula ignores groups), optimizer, SVD and elementwise work counted as 0.
import GraphIR

/// How costs are counted.
public enum FlopConvention: String, Sendable, Hashable, CaseIterable {
    /// graphc's own count.
    case exact
    /// Compatibility with the study's profiler, biases included (see METHODS.md); not a true cost.
    case studyProfiler = "study_profiler"
}

/// The part of the step a node's cost is reported in.
public enum CostGroup: String, Sendable, Hashable, CaseIterable {
    case forward
    case backward
    /// Optimizer updates without the SVD.
    case optimizer
    /// GaLore's `svd_projector` nodes (optimizer phase, reported apart), amortised over the gap.
    case svd

    /// The group of `node`.
    public init(_ node: Node) { self.init(node.op, node.phase) }

    /// The group of a node running `op` in `phase`.
    init(_ op: Op, _ phase: Phase) {
        if case .svdProjector = op {
            self = .svd
            return
        }
        switch phase {
        case .forward: self = .forward
        case .backward: self = .backward
        case .optimizer: self = .optimizer
        }
    }
}

/// MACs, FLOPs and elementwise operations of a node or a group; FLOPs = 2 · MACs + counted arithmetic.
public struct Cost: Sendable, Hashable {
    /// Multiply-accumulates (conv, linear, matmul and their gradients).
    public var macs = 0
    /// FLOPs: 2 · MACs plus the optimizer's and the SVD's arithmetic (exact convention).
    public var flops = 0
    /// Elementwise operations, not included in `flops`.
    public var elementwise = 0

    public init(macs: Int = 0, flops: Int = 0, elementwise: Int = 0) {
        self.macs = macs
        self.flops = flops
        self.elementwise = elementwise
    }

    static func + (a: Cost, b: Cost) -> Cost {
        Cost(
            macs: saturatingSum(a.macs, b.macs), flops: saturatingSum(a.flops, b.flops),
            elementwise: saturatingSum(a.elementwise, b.elementwise))
    }
}

/// Costs of every node of a graph, grouped.
public struct FlopReport: Sendable, Hashable {
    /// One node's cost.
    public struct NodeCost: Sendable, Hashable {
        public var node: Int
        public var name: String
        public var op: String
        public var group: CostGroup
        public var cost: Cost
    }

    /// How the costs were counted.
    public var convention: FlopConvention
    /// One entry per node, in schedule order.
    public var nodes: [NodeCost]
    /// Per-group sums (see `CostGroup`).
    public var forward = Cost()
    public var backward = Cost()
    public var optimizer = Cost()
    public var svd = Cost()
    /// The first node (in schedule order) whose own cost, or whose addition to the step's running total,
    /// does not fit a 64-bit count (it reached `Int.max`): then the sums are not counts. Nil otherwise.
    public var overflowingNode: CostOverflow?

    /// The sum of the four groups.
    public var total: Cost { forward + backward + optimizer + svd }

    /// The cost of `group`.
    public subscript(group: CostGroup) -> Cost {
        get {
            switch group {
            case .forward: forward
            case .backward: backward
            case .optimizer: optimizer
            case .svd: svd
            }
        }
        set {
            switch group {
            case .forward: forward = newValue
            case .backward: backward = newValue
            case .optimizer: optimizer = newValue
            case .svd: svd = newValue
            }
        }
    }

    /// Counts every node of `graph` under `convention`.
    public init(_ graph: Graph, convention: FlopConvention = .exact) {
        self.init(graph, convention: convention, listingNodes: true)
    }

    /// Counts every node of `graph` under `convention`. Without `listingNodes`, `nodes` stays empty: the
    /// group sums are all a `TrainingReport` keeps, and each entry holds the node's name.
    init(_ graph: Graph, convention: FlopConvention, listingNodes: Bool) {
        self.convention = convention
        nodes = []
        if listingNodes { nodes.reserveCapacity(graph.nodes.count) }
        var operands: [TensorType] = [], results: [TensorType] = []
        var running = Cost()
        // Nodes and values are read in place (a copy of either retains its names).
        graph.values.withUnsafeBufferPointer { values in
            graph.nodes.withUnsafeBufferPointer { graphNodes in
                for index in graphNodes.indices {
                    operands.removeAll(keepingCapacity: true)
                    results.removeAll(keepingCapacity: true)
                    for id in graphNodes[index].inputs { operands.append(values[id.raw].type) }
                    for id in graphNodes[index].outputs { results.append(values[id.raw].type) }
                    let op = graphNodes[index].op
                    let cost = Self.cost(op, operands, results, convention)
                    let group = CostGroup(op, graphNodes[index].phase)
                    self[group] = self[group] + cost
                    running = running + cost
                    if overflowingNode == nil && (running.saturated || cost.saturated) {
                        overflowingNode = CostOverflow(
                            node: graphNodes[index].name, op: op.name,
                            alone: cost.saturated)
                    }
                    if listingNodes {
                        nodes.append(
                            NodeCost(
                                node: index, name: graphNodes[index].name, op: op.name, group: group,
                                cost: cost))
                    }
                }
            }
        }
    }

    /// The cost of one op under `convention`.
    public static func cost(
        _ op: Op, _ operands: [TensorType], _ results: [TensorType],
        _ convention: FlopConvention
    ) -> Cost {
        let macs = op.macs(operands, results)
        switch convention {
        case .exact:
            return Cost(
                macs: macs, flops: op.flops(macs: macs, operands, results),
                elementwise: op.elementwiseOps(operands, results))
        case .studyProfiler:
            var counted = macs
            if case let .conv2dGradWeight(attrs, _) = op { counted = saturatingProduct(macs, attrs.groups) }
            return Cost(macs: counted, flops: saturatingProduct(2, counted), elementwise: 0)
        }
    }
}

/// Where a FLOP count stops being a count: the node, and whether its own cost already does not fit.
public struct CostOverflow: Sendable, Hashable {
    public var node: String
    public var op: String
    /// The node's own cost does not fit 64 bits (else only the running total from the first node does).
    public var alone: Bool

    public init(node: String, op: String, alone: Bool) {
        self.node = node
        self.op = op
        self.alone = alone
    }

    /// `error[count-overflow]`, naming the node.
    public var diagnostic: Diagnostic {
        .error(
            "count-overflow",
            alone
                ? "the cost of node '\(node)' (\(op)) does not fit a 64-bit count (more than 2^63 - 1 operations)"
                : "the total operation count passes 2^63 - 1 at node '\(node)' (\(op)); it does not fit a 64-bit count",
            node: node)
    }
}

extension Cost {
    /// Some field reached `Int.max`, where the saturating arithmetic stops: not a count.
    public var saturated: Bool { macs == .max || flops == .max || elementwise == .max }
}

extension FlopReport {
    /// The report, or `count-overflow` naming the node where a count stopped fitting 64 bits.
    public func checked() throws(Diagnostic) -> FlopReport {
        if let overflowingNode { throw overflowingNode.diagnostic }
        return self
    }
}

/// `a + b`, stopping at `Int.max`.
func saturatingSum(_ a: Int, _ b: Int) -> Int {
    let (s, overflow) = a.addingReportingOverflow(b)
    return overflow ? Int.max : s
}
