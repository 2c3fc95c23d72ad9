// `autodiff`: turns a forward graph into forward + loss + backward (reverse-mode differentiation).
//
// Preconditions: one graph output, the logits `f32[N, classes]`; no backward or optimizer nodes yet;
// trainable flags already set (`freeze`, the adapter passes).
//
// Algorithm:
// 1. Train mode: batch_norm → native_batch_norm (training = true; results y, batch mean, batch inverse
//    std), max_pool2d → max_pool2d_with_indices, dropout → native_dropout. Node names are kept.
// 2. Loss: input `labels : i64[N]`, node `loss = softmax_cross_entropy(logits, labels)`; the outputs
//    become `[loss]`.
// 3. Needs-gradient analysis: a value needs a gradient iff it depends on a trainable parameter (forward
//    sweep) and the loss depends on it (reverse sweep), both along differentiable edges only
//    (`Op.isDifferentiable(operand:)` in GraphIR: not labels, running statistics, channel_norm, ...).
// 4. Reverse sweep over the forward nodes: a node whose result has a gradient runs its VJP rule
//    (Op+VJP.swift), which emits backward nodes (phase backward, in the node's scope) for exactly the
//    operands that need a gradient. A second contribution to a value's gradient is added at once,
//    `add` named `VALUE.grad_sum` (then `VALUE.grad_sum.2`, ...), as autograd accumulates. Since every
//    consumer of a value comes after it, its gradient is complete when the sweep reaches its producer.
// The rules read exactly what PyTorch's autograd saves, so `savedValues` matches its saved tensors.
//
//     %2 = conv2d(%0, %1) : f32[1, 8, 4, 4] "conv"           (conv.weight trainable, input not)
//     %3 = relu(%2) : f32[1, 8, 4, 4] "relu"
//     ... logits %6
//   →
//     ... forward as before, then
//     %8 = softmax_cross_entropy(%6, %7) : f32[] "loss"
//     %9 = softmax_cross_entropy_grad(%6, %7) : f32[1, 10] "loss.grad" backward
//     ...
//     %12 = relu_grad(%11, %3) : f32[1, 8, 4, 4] "relu.grad" backward
//     %13 = conv2d_grad_weight(%12, %0) {...} : f32[8, 3, 3, 3] "conv.grad_weight" backward
//     output %8
import GraphIR

/// `autodiff`: train-mode conversion, the loss, and the backward graph.
public struct Autodiff: Pass {
    public let name = "autodiff"
    public let summary = "switch to train mode, add the loss and emit the backward pass"

    public init() {}

    public func run(_ graph: Graph) throws -> Graph {
        guard graph.outputs.count == 1 else {
            throw Diagnostic.error("autodiff-outputs", "autodiff expects one output (the logits), "
                                   + "'\(graph.name)' has \(graph.outputs.count)")
        }
        if let node = graph.nodes.first(where: { $0.phase != .forward }) {
            throw Diagnostic.error("already-differentiated", "'\(graph.name)' already has \(node.phase.rawValue) "
                                   + "nodes ('\(node.name)')", node: node.name)
        }
        let logitsType = graph[graph.outputs[0]].type
        guard logitsType.dtype == .f32, logitsType.rank == 2 else {
            let producer = graph.producer(of: graph.outputs[0]).map { graph.nodes[$0].name }
            throw Diagnostic.error("autodiff-logits", "the output '\(graph[graph.outputs[0]].name)' must be logits "
                                   + "f32[N, classes], got \(logitsType)", node: producer ?? graph[graph.outputs[0]].name)
        }
        if graph.inputs.contains(where: { graph[$0].name == "labels" }) || graph.nodes.contains(where: { $0.name == "loss" }) {
            let clash = graph.inputs.contains(where: { graph[$0].name == "labels" }) ? "labels" : "loss"
            throw Diagnostic.error("duplicate-name", "'\(graph.name)' already has an input 'labels' or a node 'loss'",
                                   node: clash)
        }

        // 1-2. Train mode and the loss.
        var r = GraphRewriter(graph)
        for (index, node) in graph.nodes.enumerated() {
            if let op = Self.trainMode(node.op) { try r.copy(index, as: op) } else { try r.copy(index) }
        }
        let labels = r.addInput("labels", .i64([logitsType.shape[0]]))
        let loss = try r.emit(.softmaxCrossEntropy, [r.mapped(graph.outputs[0]), labels], name: "loss")[0]

        // 3. Which values need a gradient.
        let forward = r.graph
        let needs = Self.needsGradient(forward, loss: loss)

        // 4. Reverse sweep.
        var e = GradientEmitter(rewriter: r, node: forward.nodes[0])
        // Per forward value, indexed by `ValueID.raw`: its gradient so far and how many sums built it.
        var grad = [ValueID?](repeating: nil, count: forward.values.count)
        var sums = [Int](repeating: 0, count: forward.values.count)
        for node in forward.nodes.reversed() {
            let dy = node.outputs.map { grad[$0.raw] }
            guard node.outputs == [loss] || dy.contains(where: { $0 != nil }) else { continue }
            let need = node.inputs.enumerated().map { i, v in
                needs[v.raw] && node.op.gradientSlot(operand: i) != .none
            }
            guard need.contains(true) else { continue }
            e.node = node
            let contributions = try node.op.vjp(&e, dy: dy, needs: need)
            for (i, c) in contributions.enumerated() {
                guard let c, need[i] else { continue }
                let v = node.inputs[i]
                guard e.type(c) == forward[v].type else {
                    throw NoGradientRule(op: node.op.name, node: node.name,
                                         reason: "its rule gave operand \(i) a gradient of type \(e.type(c)), "
                                         + "expected \(forward[v].type) (a graphc bug)")
                }
                guard let previous = grad[v.raw] else {
                    grad[v.raw] = c
                    continue
                }
                let k = sums[v.raw] + 1
                sums[v.raw] = k
                let name = forward[v].name + ".grad_sum" + (k == 1 ? "" : ".\(k)")
                grad[v.raw] = try e.rewriter.emit(.add, [previous, c], name: name, scope: node.scope, phase: .backward)[0]
            }
        }
        return e.rewriter.finish(outputs: [loss])
    }

    /// The training-mode form of an inference op, or nil when the op is the same in both modes.
    static func trainMode(_ op: Op) -> Op? {
        switch op {
        case var .batchNorm(a):
            a.training = true
            return .nativeBatchNorm(a)
        case let .maxPool2d(a): return .maxPool2dWithIndices(a)
        case let .dropout(p): return .nativeDropout(p: p)
        case .conv2d, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul, .avgPool2d,
             .adaptiveAvgPool2d, .flatten, .linear, .softmaxCrossEntropy, .nativeBatchNorm, .maxPool2dWithIndices,
             .nativeDropout, .scale, .div, .channelNorm, .matmul, .reshape, .conv2dGradInput, .conv2dGradWeight,
             .biasGrad, .batchNormGrad, .activationGrad, .maxPool2dGrad, .avgPool2dGrad, .adaptiveAvgPool2dGrad,
             .linearGradInput, .linearGradWeight, .dropoutGrad, .softmaxCrossEntropyGrad, .sumTo, .sgdUpdate,
             .momentumUpdate, .adamUpdate, .adamDirection, .applyUpdate, .svdProjector:
            return nil
        }
    }

    /// Per value: whether it depends on a trainable parameter and `loss` depends on it, along
    /// differentiable edges of the forward nodes.
    public static func needsGradient(_ graph: Graph, loss: ValueID) -> [Bool] {
        // One rule for autodiff and the training drawing, in GraphIR (Op+Gradient.swift).
        graph.needsGradient(losses: [loss])
    }

    /// The gradient of every trainable parameter of a graph `autodiff` produced (see `GradientMap`).
    public static func gradients(in training: Graph) -> GradientMap { GradientMap(training) }

    /// The distinct non-parameter values backward nodes read: forward results, graph inputs (the batch,
    /// the labels) and buffers (BN running statistics); learnable parameters excluded. These are the
    /// tensors autograd saves for backward; sorted by id. This is the raw structural set (views such as
    /// `flatten` appear beside their source, and the loss gradient's logits and labels are included);
    /// the figure graphc reports is `Liveness.savedActivationBytes`, which counts storages.
    public static func savedValues(_ training: Graph) -> [ValueID] {
        var saved = Set<ValueID>()
        for node in training.nodes where node.phase == .backward {
            for id in node.inputs {
                switch training[id].kind {
                case .input: saved.insert(id)
                case let .parameter(role, _): if !role.isLearnable { saved.insert(id) }
                case let .result(producer, _): if training.nodes[producer].phase == .forward { saved.insert(id) }
                }
            }
        }
        return saved.sorted()
    }
}

/// The gradient of each trainable parameter in a training graph, recovered from the graph itself: the
/// last `P.grad_sum` accumulation when P has several contributions, else the backward node its consumer's
/// rule names (`Op.gradientSlot`), following `add`'s pass-through. The optimizer reads these.
public struct GradientMap: Sendable, Hashable {
    /// Trainable parameter → its complete gradient (parameters without a gradient are absent).
    /// Built from `pairs` on each call; lookups go through the subscript.
    public var gradients: [ValueID: ValueID] { Dictionary(uniqueKeysWithValues: pairs) }
    /// The same, in parameter order.
    public private(set) var pairs: [(parameter: ValueID, gradient: ValueID)] = []
    /// Per value id: its gradient, for constant-time lookups without hashing.
    private var byID: [ValueID?] = []

    public static func == (a: GradientMap, b: GradientMap) -> Bool { a.gradients == b.gradients }
    public func hash(into hasher: inout Hasher) { hasher.combine(gradients) }

    /// Recovers the map from a graph `autodiff` produced.
    public init(_ graph: Graph) {
        // Nodes are read in place, not copied (a copy retains the node's names).
        var backward = BackwardNames(graph)
        // Forward readers of each value, in compressed rows (`users[start[v] ..< start[v + 1]]`): one
        // array for the graph rather than one per value.
        var start = [Int](repeating: 0, count: graph.values.count + 1)
        var users: [Int] = []
        graph.nodes.withUnsafeBufferPointer { nodes in
            for index in nodes.indices where nodes[index].phase == .forward {
                for id in nodes[index].inputs { start[id.raw + 1] += 1 }
            }
            for v in 0 ..< graph.values.count { start[v + 1] += start[v] }
            users = [Int](repeating: -1, count: start[graph.values.count])
            var fill = start
            for index in nodes.indices where nodes[index].phase == .forward {
                for id in nodes[index].inputs where fill[id.raw] == start[id.raw] || users[fill[id.raw] - 1] != index {
                    users[fill[id.raw]] = index
                    fill[id.raw] += 1
                }
            }
        }
        func gradient(of v: ValueID) -> ValueID? {
            if var last = backward[graph.values[v.raw].name, ".grad_sum"] {
                let sum = graph.values[v.raw].name + ".grad_sum"
                var k = 2
                while let next = backward[sum, ".\(k)"] {
                    last = next
                    k += 1
                }
                return graph.nodes[last].outputs[0]
            }
            for user in users[start[v.raw] ..< start[v.raw + 1]] where user >= 0 {
                let inputs = graph.nodes[user].inputs
                for i in inputs.indices where inputs[i] == v {
                    switch graph.nodes[user].op.gradientSlot(operand: i) {
                    case .none, .unsupported:
                        continue
                    case let .node(suffix, output):
                        if let n = backward[graph.nodes[user].name, suffix] { return graph.nodes[n].outputs[output] }
                    case let .passThrough(suffix):
                        if let n = backward[graph.nodes[user].name, suffix] { return graph.nodes[n].outputs[0] }
                        if let g = gradient(of: graph.nodes[user].outputs[0]) { return g }
                    }
                }
            }
            return nil
        }
        byID = Array(repeating: nil, count: graph.values.count)
        for id in graph.parameters where graph[id].isTrainable {
            if let g = gradient(of: id) {
                byID[id.raw] = g
                pairs.append((id, g))
            }
        }
    }

    /// The gradient of parameter `id`, if it has one.
    public subscript(_ id: ValueID) -> ValueID? { id.raw >= 0 && id.raw < byID.count ? byID[id.raw] : nil }

    /// Parameter name → gradient, for reports and tests.
    public func byName(in graph: Graph) -> [String: ValueID] {
        Dictionary(uniqueKeysWithValues: pairs.map { (graph[$0.parameter].name, $0.gradient) })
    }
}

/// Backward node name → index (the last node of that name), for `GradientMap`'s lookups. Hashing every
/// backward name into `[String: Int]` dominated it; this table hashes the UTF-8 bytes (FNV-1a) instead.
/// Byte equality is String equality only for ASCII (Swift compares canonical equivalence), so when a
/// backward name or a looked-up name is not ASCII, lookups go to a `[String: Int]` built on first need.
private struct BackwardNames {
    private let graph: Graph
    private var slots: [Int] = []
    private var hashes: [UInt64] = []
    private var mask = 0
    /// Set when some name is not ASCII: the exact map, built on first need.
    private var exact: [String: Int]?
    private var asciiOnly = true

    init(_ graph: Graph) {
        self.graph = graph
        let count = graph.nodes.count
        var capacity = 16
        while capacity < 2 * count { capacity <<= 1 }
        mask = capacity - 1
        slots = [Int](repeating: -1, count: capacity)
        hashes = [UInt64](repeating: 0, count: count)
        graph.nodes.withUnsafeBufferPointer { nodes in
            for index in nodes.indices where nodes[index].phase == .backward {
                var name = nodes[index].name
                guard let h = name.withUTF8({ ASCIIHash.fnv1a($0) }) else {
                    asciiOnly = false
                    return
                }
                hashes[index] = h
                var slot = Int(truncatingIfNeeded: h) & mask
                while slots[slot] >= 0 {
                    let j = slots[slot]
                    if hashes[j] == h, nodes[j].name == name { break }
                    slot = (slot + 1) & mask
                }
                slots[slot] = index  // a later node of the same name replaces the earlier one
            }
        }
    }

    /// The last backward node named `prefix + suffix` (looked up without building the name when ASCII).
    subscript(prefix: String, suffix: String) -> Int? {
        mutating get {
            var prefix = prefix, suffix = suffix
            if asciiOnly, let h = prefix.withUTF8({ p in suffix.withUTF8 { s in ASCIIHash.fnv1a(p, s) } }) {
                var slot = Int(truncatingIfNeeded: h) & mask
                while slots[slot] >= 0 {
                    let j = slots[slot]
                    if hashes[j] == h, Self.isConcatenation(graph.nodes[j].name, prefix, suffix) { return j }
                    slot = (slot + 1) & mask
                }
                return nil
            }
            if exact == nil {
                var map: [String: Int] = [:]
                for (index, node) in graph.nodes.enumerated() where node.phase == .backward { map[node.name] = index }
                exact = map
            }
            return exact![prefix + suffix]
        }
    }

    /// Whether ASCII `name` is `prefix` followed by `suffix` (bytewise: all three are ASCII here).
    private static func isConcatenation(_ name: String, _ prefix: String, _ suffix: String) -> Bool {
        let n = name.utf8, p = prefix.utf8, s = suffix.utf8
        return n.count == p.count + s.count && n.starts(with: p) && n.dropFirst(p.count).elementsEqual(s)
    }
}
