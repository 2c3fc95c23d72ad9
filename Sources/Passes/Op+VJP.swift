// Vector-Jacobian products: per op, the gradient ops that turn the gradients of a node's results into
// the gradients of its operands. One exhaustive switch over `Op` (no `default:`), so a new op cannot
// be differentiated by accident.
//
// Each rule reads the tensors PyTorch's autograd saves for that op (see docs/training.md): conv the input
// (for the weight gradient) and the weight (for the input gradient); native_batch_norm_backward x, gamma,
// the running statistics, the batch mean and inverse std; relu, relu6 and sigmoid their output, other
// activations their input; max pooling the input and the indices; average pooling the input; linear the
// input and the weight; dropout its mask; mul and div both operands; frozen-statistics batch_norm gamma
// and the running statistics (x only for gamma's gradient). A rule reads only what the gradients it
// emits need, so a frozen conv reads no input: what PyTorch would keep besides is counted by the
// `pytorch` saving policy (Analysis/SavedTensors.swift), not read by the graph.
//
// A rule emits ops only for the operands marked in `needs`; the gradient of operand i is named as
// `gradientSlot(operand: i)` says (`NAME.grad_input`, `NAME.grad_weight`, `NAME.grad_bias`, `NAME.grad`
// for one-node rules, `NAME.grad_other` for a second data operand). The names are labels: the emitter
// records each backward node's forward node in `Graph.records`, and consumers read that.
import GraphIR

/// Where the gradient of one operand of a forward node ends up in the training graph.
public enum GradientSlot: Sendable, Hashable {
    /// Not differentiated with respect to this operand (labels, running statistics, channel_norm).
    case none
    /// Output `output` of the backward node named `FORWARD_NAME + suffix`.
    case node(suffix: String, output: Int)
    /// The gradient of the node's result itself when no node named `FORWARD_NAME + suffix` exists
    /// (`add` passes its gradient through unless it has to undo broadcasting with `sum_to`).
    case passThrough(suffix: String)
    /// The op has no gradient rule (gradient and optimizer ops, inference-mode batch_norm and max_pool2d):
    /// differentiating through it is an error.
    case unsupported
}

/// Emits the gradient nodes of one forward node into a graph under construction.
struct GradientEmitter {
    var rewriter: GraphRewriter
    /// The forward node being differentiated (ids of the new graph).
    var node: Node
    /// Its index in the new graph: every node `emit` adds records it as its origin.
    var nodeIndex: Int

    func type(_ id: ValueID) -> TensorType { rewriter.type(of: id) }

    /// Emits `op` as the backward node `NAME + suffix`, in the forward node's scope.
    mutating func emit(_ op: Op, _ inputs: [ValueID], _ suffix: String) throws(ShapeError) -> ValueList {
        let out = try rewriter.emit(op, inputs, name: node.name + suffix, scope: node.scope, phase: .backward)
        rewriter.records.setOrigin(.node(nodeIndex), ofNode: rewriter.lastNode)
        return out
    }

    mutating func emit1(_ op: Op, _ inputs: [ValueID], _ suffix: String) throws(ShapeError) -> ValueID {
        try emit(op, inputs, suffix)[0]
    }

    /// `g` summed down to the shape of `operand` (undoing broadcasting), as node `suffix` when needed.
    mutating func reduce(_ g: ValueID, to operand: ValueID, _ suffix: String) throws(ShapeError) -> ValueID {
        let shape = type(operand).shape
        return type(g).shape == shape ? g : try emit1(.sumTo(shape: shape), [g], suffix)
    }
}

/// A forward op that has no gradient rule (a gradient or optimizer op, or an inference-mode op that the
/// train-mode conversion should have replaced).
public struct NoGradientRule: Error, Sendable, CustomStringConvertible {
    public var op: String
    public var node: String
    public var reason: String
    public var description: String { "cannot differentiate '\(node)' (\(op)): \(reason)" }
}

extension Op {
    /// Where the gradient with respect to operand `index` is found (see `GradientSlot`).
    public func gradientSlot(operand index: Int) -> GradientSlot {
        switch self {
        case .conv2d, .linear:
            return [
                .node(suffix: ".grad_input", output: 0), .node(suffix: ".grad_weight", output: 0),
                .node(suffix: ".grad_bias", output: 0),
            ][index]
        // Which operands get no gradient is GraphIR's fact (running statistics, labels, channel_norm).
        case .nativeBatchNorm:
            return isDifferentiable(operand: index) ? .node(suffix: ".grad", output: index) : .none
        // Frozen statistics (`--bn frozen`) differentiate; a batch_norm meaning batch statistics does not.
        case let .batchNorm(a):
            if a.training { return .unsupported }
            return isDifferentiable(operand: index) ? .node(suffix: ".grad", output: index) : .none
        case .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .maxPool2dWithIndices, .avgPool2d,
            .adaptiveAvgPool2d, .flatten, .nativeDropout, .scale, .reshape:
            return .node(suffix: ".grad", output: 0)
        case .softmaxCrossEntropy:
            return isDifferentiable(operand: index) ? .node(suffix: ".grad", output: 0) : .none
        case .add:
            return .passThrough(suffix: index == 0 ? ".grad_input" : ".grad_other")
        case .dropout:
            return .passThrough(suffix: ".grad")
        case .mul, .div, .matmul:
            return .node(suffix: index == 0 ? ".grad_input" : ".grad_other", output: 0)
        case .channelNorm:
            // `isDifferentiable(operand:)` is false for every operand: DoRA detaches the norm.
            return .none
        case .concat:
            return .node(suffix: ".grad_\(index)", output: 0)
        case .maxPool2d, .conv2dGradInput, .conv2dGradWeight, .biasGrad, .batchNormGrad, .activationGrad,
            .maxPool2dGrad, .avgPool2dGrad, .adaptiveAvgPool2dGrad, .linearGradInput, .linearGradWeight, .dropoutGrad,
            .softmaxCrossEntropyGrad, .sumTo, .sgdUpdate, .momentumUpdate, .adamUpdate, .adamDirection, .applyUpdate,
            .svdProjector, .activationMask, .reluMaskGrad, .batchNormFrozenGrad, .slice:
            return .unsupported
        }
    }

    /// Emits the gradients of the operands marked in `needs`, given the gradients `dy` of the results
    /// (nil for a result nothing differentiates; the loss gets none: it is the seed). Returns one
    /// gradient per operand, each of the operand's shape, nil where none was needed.
    func vjp(_ e: inout GradientEmitter, dy: [ValueID?], needs: [Bool]) throws -> [ValueID?] {
        let node = e.node
        let x = node.inputs
        var grads = [ValueID?](repeating: nil, count: x.count)
        func need(_ i: Int) -> Bool { i < needs.count && needs[i] }
        func noRule(_ reason: String) -> NoGradientRule {
            NoGradientRule(op: name, node: node.name, reason: reason)
        }
        // Every differentiable op but the loss has one differentiable result; its gradient must exist.
        func g0() throws -> ValueID {
            guard let g = dy[0] else { throw noRule("no gradient reaches its result") }
            return g
        }

        switch self {
        case let .conv2d(a):
            let g = try g0(), xt = e.type(x[0]), wt = e.type(x[1])
            if need(0) {
                grads[0] = try e.emit1(
                    .conv2dGradInput(a, input: Pair(xt.shape[2], xt.shape[3])), [g, x[1]],
                    ".grad_input")
            }
            if need(1) {
                grads[1] = try e.emit1(
                    .conv2dGradWeight(a, kernel: Pair(wt.shape[2], wt.shape[3])), [g, x[0]],
                    ".grad_weight")
            }
            if need(2) { grads[2] = try e.emit1(.biasGrad, [g], ".grad_bias") }

        case .linear:
            let g = try g0(), xt = e.type(x[0])
            if need(0) { grads[0] = try e.emit1(.linearGradInput, [g, x[1]], ".grad_input") }
            if need(1) || need(2) {
                // The weight gradient and bias_grad want [N, features]: fold leading dims (a view in PyTorch).
                var g2 = g, x2 = x[0]
                if xt.rank != 2 {
                    let rows = xt.shape.dropLast().reduce(1, *)
                    g2 = try e.emit1(.reshape(shape: [rows, e.type(g).shape.last ?? 1]), [g], ".grad_rows")
                    x2 = try e.emit1(.reshape(shape: [rows, xt.shape.last ?? 1]), [x[0]], ".input_rows")
                }
                if need(1) { grads[1] = try e.emit1(.linearGradWeight, [g2, x2], ".grad_weight") }
                if need(2) { grads[2] = try e.emit1(.biasGrad, [g2], ".grad_bias") }
            }

        case let .nativeBatchNorm(a):
            // dy, x, gamma, running mean, running var, batch mean, batch inverse std → dx, dgamma, dbeta.
            let out = try e.emit(
                .batchNormGrad(a),
                [
                    try g0(), x[0], x[1], x[3], x[4], node.outputs[1],
                    node.outputs[2],
                ], ".grad")
            for i in 0..<3 where need(i) { grads[i] = out[i] }

        case .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid:
            guard let act = Activation.allCases.first(where: { $0.op == self }) else {
                throw noRule("unknown activation")
            }
            if need(0) {
                let saved = act.gradientUsesOutput ? node.outputs[0] : x[0]
                grads[0] = try e.emit1(.activationGrad(act), [try g0(), saved], ".grad")
            }

        case .add:
            let g = try g0()
            if need(0) { grads[0] = try e.reduce(g, to: x[0], ".grad_input") }
            if need(1) { grads[1] = try e.reduce(g, to: x[1], ".grad_other") }

        case .mul:
            let g = try g0()
            for (i, suffix) in [(0, ".grad_input"), (1, ".grad_other")] where need(i) {
                let other = x[1 - i]
                let full = e.type(g).shape == e.type(x[i]).shape
                let product = try e.emit1(.mul, [g, other], full ? suffix : suffix + ".full")
                grads[i] = try e.reduce(product, to: x[i], suffix)
            }

        case .div:
            // d(a/b)/da = 1/b; d(a/b)/db = −a/b², as PyTorch's div backward computes them from a and b.
            let g = try g0()
            if need(0) {
                let full = e.type(g).shape == e.type(x[0]).shape
                let q = try e.emit1(.div, [g, x[1]], full ? ".grad_input" : ".grad_input.full")
                grads[0] = try e.reduce(q, to: x[0], ".grad_input")
            }
            if need(1) {
                let ga = try e.emit1(.mul, [g, x[0]], ".grad_other.mul")
                let q = try e.emit1(
                    .div, [try e.emit1(.div, [ga, x[1]], ".grad_other.div"), x[1]],
                    ".grad_other.div2")
                let full = e.type(q).shape == e.type(x[1]).shape
                let neg = try e.emit1(.scale(-1), [q], full ? ".grad_other" : ".grad_other.full")
                grads[1] = try e.reduce(neg, to: x[1], ".grad_other")
            }

        case let .matmul(ta, tb):
            // C = op(A)·op(B); each gradient is one matmul with the transposes arranged accordingly.
            let g = try g0()
            if need(0) {
                let op: Op =
                    ta ? .matmul(transposeA: tb, transposeB: true) : .matmul(transposeA: false, transposeB: !tb)
                let inputs = ta ? [x[1], g] : [g, x[1]]
                grads[0] = try e.emit1(op, inputs, ".grad_input")
            }
            if need(1) {
                let op: Op =
                    tb ? .matmul(transposeA: true, transposeB: ta) : .matmul(transposeA: !ta, transposeB: false)
                let inputs = tb ? [g, x[0]] : [x[0], g]
                grads[1] = try e.emit1(op, inputs, ".grad_other")
            }

        case let .maxPool2dWithIndices(a):
            if need(0) { grads[0] = try e.emit1(.maxPool2dGrad(a), [try g0(), x[0], node.outputs[1]], ".grad") }
        case let .avgPool2d(a):
            if need(0) { grads[0] = try e.emit1(.avgPool2dGrad(a), [try g0(), x[0]], ".grad") }
        case .adaptiveAvgPool2d:
            if need(0) { grads[0] = try e.emit1(.adaptiveAvgPool2dGrad, [try g0(), x[0]], ".grad") }
        case .flatten, .reshape:
            if need(0) { grads[0] = try e.emit1(.reshape(shape: e.type(x[0]).shape), [try g0()], ".grad") }
        case let .nativeDropout(p):
            if need(0) { grads[0] = try e.emit1(.dropoutGrad(p: p), [try g0(), node.outputs[1]], ".grad") }
        case .dropout:
            // Inference-mode dropout is the identity (train mode uses native_dropout).
            if need(0) { grads[0] = try g0() }
        case let .scale(c):
            if need(0) { grads[0] = try e.emit1(.scale(c), [try g0()], ".grad") }
        case let .concat(axis):
            // Each operand's gradient is its stretch of dy along the axis.
            var start = 0
            for i in x.indices {
                let length = e.type(x[i]).shape[axis]
                if need(i) {
                    grads[i] = try e.emit1(.slice(axis: axis, start: start, length: length), [try g0()], ".grad_\(i)")
                }
                start += length
            }

        case .softmaxCrossEntropy:
            // The seed: d(mean loss)/dlogits. A loss used further on would scale it by its own gradient.
            if need(0) {
                let d = try e.emit1(.softmaxCrossEntropyGrad, [x[0], x[1]], dy[0] == nil ? ".grad" : ".grad.seed")
                grads[0] = try dy[0].map { try e.emit1(.mul, [d, $0], ".grad") } ?? d
            }

        case .channelNorm:
            // DoRA's detached norm: treated as a constant, so it passes no gradient.
            break

        case let .batchNorm(a):
            // Running statistics (`--bn frozen`): y = (x − μ)·invstd·γ + β with μ, invstd constants, so
            // dx = dy·γ·invstd; x is read only for γ's gradient (a frozen affine keeps nothing).
            guard !a.training else {
                throw noRule(
                    "batch_norm with batch statistics has no gradient rule; autodiff converts it to native_batch_norm")
            }
            let g = try g0()
            let inputs = need(1) ? [g, x[1], x[3], x[4], x[0]] : [g, x[1], x[3], x[4]]
            let out = try e.emit(.batchNormFrozenGrad(a), inputs, ".grad")
            for i in 0..<3 where need(i) { grads[i] = out[i] }
        case .maxPool2d:
            throw noRule("max_pool2d has no gradient rule; autodiff converts it to max_pool2d_with_indices")
        case .conv2dGradInput, .conv2dGradWeight, .biasGrad, .batchNormGrad, .activationGrad, .maxPool2dGrad,
            .avgPool2dGrad, .adaptiveAvgPool2dGrad, .linearGradInput, .linearGradWeight, .dropoutGrad,
            .softmaxCrossEntropyGrad, .sumTo, .reluMaskGrad, .batchNormFrozenGrad, .slice:
            throw noRule("gradient ops are not differentiated (no higher-order gradients)")
        case .activationMask:
            throw noRule("an activation mask's bits have no gradient")
        case .sgdUpdate, .momentumUpdate, .adamUpdate, .adamDirection, .applyUpdate, .svdProjector:
            throw noRule("optimizer ops are not differentiated")
        }
        return grads
    }
}
