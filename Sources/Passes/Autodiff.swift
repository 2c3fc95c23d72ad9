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
// 5. Records (`Graph.records`): each backward node's origin (the forward node whose rule emitted it, or
//    `sum(of: V)` for an accumulation) and each trainable parameter's complete gradient, so that the
//    optimizer, liveness and the drawings find the structure without reading names.
// The rules read what PyTorch's autograd saves for the gradients they emit (a frozen conv reads no
// input); `Liveness` under `--saving pytorch` adds what PyTorch keeps besides (Analysis/SavedTensors.swift).
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

    /// BatchNorm's statistics: batch ones (train mode, `native_batch_norm`) or the running ones
    /// (`frozen`: `batch_norm` stays an inference op, its VJP `batch_norm_frozen_grad`).
    public let bn: BatchNormMode

    public init(bn: BatchNormMode = .train) { self.bn = bn }

    public func run(_ graph: Graph) throws -> Graph {
        guard graph.outputs.count == 1 else {
            throw Diagnostic.error(
                "autodiff-outputs",
                "autodiff expects one output (the logits), "
                    + "'\(graph.name)' has \(graph.outputs.count)")
        }
        if let node = graph.nodes.first(where: { $0.phase != .forward }) {
            throw Diagnostic.error(
                "already-differentiated",
                "'\(graph.name)' already has \(node.phase.rawValue) "
                    + "nodes ('\(node.name)')", node: node.name)
        }
        let logitsType = graph[graph.outputs[0]].type
        guard logitsType.dtype == .f32, logitsType.rank == 2 else {
            let producer = graph.producer(of: graph.outputs[0]).map { graph.nodes[$0].name }
            throw Diagnostic.error(
                "autodiff-logits",
                "the output '\(graph[graph.outputs[0]].name)' must be logits "
                    + "f32[N, classes], got \(logitsType)", node: producer ?? graph[graph.outputs[0]].name)
        }
        if graph.inputs.contains(where: { graph[$0].name == "labels" })
            || graph.nodes.contains(where: { $0.name == "loss" })
        {
            let clash = graph.inputs.contains(where: { graph[$0].name == "labels" }) ? "labels" : "loss"
            throw Diagnostic.error(
                "duplicate-name", "'\(graph.name)' already has an input 'labels' or a node 'loss'",
                node: clash)
        }

        // 1-2. Train mode and the loss.
        var r = GraphRewriter(graph)
        for (index, node) in graph.nodes.enumerated() {
            if let op = Self.trainMode(node.op, bn: bn) { try r.copy(index, as: op) } else { try r.copy(index) }
        }
        let labels = r.addInput("labels", .i64([logitsType.shape[0]]))
        let loss = try r.emit(.softmaxCrossEntropy, [r.mapped(graph.outputs[0]), labels], name: "loss")[0]

        // 3. Which values need a gradient.
        let forward = r.graph
        let needs = Self.needsGradient(forward, loss: loss)

        // 4. Reverse sweep.
        var e = GradientEmitter(rewriter: r, node: forward.nodes[0], nodeIndex: 0)
        // Per forward value, indexed by `ValueID.raw`: its gradient so far and how many sums built it.
        var grad = [ValueID?](repeating: nil, count: forward.values.count)
        var sums = [Int](repeating: 0, count: forward.values.count)
        for (index, node) in forward.nodes.enumerated().reversed() {
            let dy = node.outputs.map { grad[$0.raw] }
            guard node.outputs == [loss] || dy.contains(where: { $0 != nil }) else { continue }
            let need = node.inputs.enumerated().map { i, v in
                needs[v.raw] && node.op.gradientSlot(operand: i) != .none
            }
            guard need.contains(true) else { continue }
            e.node = node
            e.nodeIndex = index
            let contributions = try node.op.vjp(&e, dy: dy, needs: need)
            for (i, c) in contributions.enumerated() {
                guard let c, need[i] else { continue }
                let v = node.inputs[i]
                guard e.type(c) == forward[v].type else {
                    throw NoGradientRule(
                        op: node.op.name, node: node.name,
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
                grad[v.raw] = try e.rewriter.emit(
                    .add, [previous, c], name: name, scope: node.scope, phase: .backward)[0]
                e.rewriter.records.setOrigin(.sum(of: v), ofNode: e.rewriter.lastNode)
            }
        }
        // 5. The gradients (the origins were recorded as the nodes were emitted).
        for p in forward.parameters where forward[p].isTrainable {
            if let g = grad[p.raw] { e.rewriter.records.setGradient(g, of: p) }
        }
        return e.rewriter.finish(outputs: [loss])
    }

    /// The training-mode form of an inference op, or nil when the op is the same in both modes.
    static func trainMode(_ op: Op, bn: BatchNormMode = .train) -> Op? {
        switch op {
        case var .batchNorm(a):
            switch bn {
            case .train:
                a.training = true
                return .nativeBatchNorm(a)
            case .frozen:
                a.training = false
                return .batchNorm(a)
            }
        case let .maxPool2d(a): return .maxPool2dWithIndices(a)
        case let .dropout(p): return .nativeDropout(p: p)
        case .conv2d, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul, .avgPool2d,
            .adaptiveAvgPool2d, .flatten, .linear, .softmaxCrossEntropy, .nativeBatchNorm, .maxPool2dWithIndices,
            .nativeDropout, .scale, .div, .channelNorm, .matmul, .reshape, .conv2dGradInput, .conv2dGradWeight,
            .biasGrad, .batchNormGrad, .activationGrad, .maxPool2dGrad, .avgPool2dGrad, .adaptiveAvgPool2dGrad,
            .linearGradInput, .linearGradWeight, .dropoutGrad, .softmaxCrossEntropyGrad, .sumTo, .sgdUpdate,
            .momentumUpdate, .adamUpdate, .adamDirection, .applyUpdate, .svdProjector, .activationMask, .reluMaskGrad,
            .batchNormFrozenGrad, .concat, .slice:
            return nil
        }
    }

    /// Per value: whether it depends on a trainable parameter and `loss` depends on it, along
    /// differentiable edges of the forward nodes.
    public static func needsGradient(_ graph: Graph, loss: ValueID) -> [Bool] {
        // One rule for autodiff and the training drawing, in GraphIR (Op+Gradient.swift).
        graph.needsGradient(losses: [loss])
    }

    /// The recorded gradient of every trainable parameter of a graph `autodiff` produced.
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

/// The gradient of each trainable parameter of a training graph, as `autodiff` recorded it
/// (`TrainingRecords.gradient(of:)`): a view for callers that want the pairs or a name-keyed map.
public struct GradientMap: Sendable, Hashable {
    /// Trainable parameter → its complete gradient (parameters without a gradient are absent).
    public var gradients: [ValueID: ValueID] { Dictionary(uniqueKeysWithValues: pairs) }
    /// The same, in parameter order.
    public private(set) var pairs: [(parameter: ValueID, gradient: ValueID)] = []
    private let records: TrainingRecords

    public static func == (a: GradientMap, b: GradientMap) -> Bool { a.gradients == b.gradients }
    public func hash(into hasher: inout Hasher) { hasher.combine(gradients) }

    /// The recorded gradients of `graph`'s parameters.
    public init(_ graph: Graph) {
        records = graph.records
        for id in graph.parameters {
            if let g = records.gradient(of: id) { pairs.append((id, g)) }
        }
    }

    /// The gradient of parameter `id`, if it has one.
    public subscript(_ id: ValueID) -> ValueID? { records.gradient(of: id) }

    /// Parameter name → gradient, for reports and tests.
    public func byName(in graph: Graph) -> [String: ValueID] {
        Dictionary(uniqueKeysWithValues: pairs.map { (graph[$0.parameter].name, $0.gradient) })
    }
}
