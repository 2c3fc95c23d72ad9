/// Arithmetic cost per op.
///
/// MACs follow torchvision's (and thop's) convention: only conv, linear and matrix products count, one
/// multiply-add per kernel tap, groups-aware; their FLOPs are 2 · MACs. A conv's two gradients each cost
/// the forward MACs (grad-input: every output-gradient element meets (C_in/groups)·kh·kw weights;
/// grad-weight: every weight element meets N·H_out·W_out output gradients, so groups divide it too).
///
/// Everything else is elementwise work, reported separately and labelled (`elementwiseOps`), except in
/// the optimizer and the SVD, which are nothing but such arithmetic and whose FLOPs are counted
/// (`arithmeticFlops`): per element SGD 2, momentum 4, Adam 14, Adam's direction alone 12, a plain
/// update 2, and 2 more for weight decay; a thin SVD of an m×n matrix (m ≥ n) 4·m·n² + 8·n³, amortised
/// over the projector's update gap (rounded up).
extension Op {
    /// Multiply-accumulates for operands `operands` producing `results`.
    public func macs(_ operands: [TensorType], _ results: [TensorType]) -> Int {
        switch self {
        case .conv2d:
            // Each output element meets (C_in/groups)·kh·kw weights: weight dims 1...3.
            let w = operands[1].shape
            return saturatingProduct(results[0].elementCount, w[1], w[2], w[3])
        case .conv2dGradInput:
            // Each output-gradient element (operand 0) meets the same weights.
            let w = operands[1].shape
            return saturatingProduct(operands[0].elementCount, w[1], w[2], w[3])
        case .conv2dGradWeight:
            let dw = results[0].shape
            return saturatingProduct(operands[0].elementCount, dw[1], dw[2], dw[3])
        case .linear:
            return saturatingProduct(results[0].elementCount, operands[1].shape[1])
        case .linearGradInput:
            return saturatingProduct(results[0].elementCount, operands[1].shape[0])
        case .linearGradWeight:
            return saturatingProduct(results[0].elementCount, operands[0].shape[0])
        case let .matmul(ta, _):
            let k = ta ? operands[0].shape[0] : operands[0].shape[1]
            return saturatingProduct(results[0].elementCount, k)
        case .batchNorm, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul, .maxPool2d,
            .avgPool2d, .adaptiveAvgPool2d, .flatten, .dropout, .softmaxCrossEntropy, .nativeBatchNorm,
            .maxPool2dWithIndices, .nativeDropout, .scale, .div, .channelNorm, .reshape, .concat, .slice, .biasGrad,
            .batchNormGrad,
            .activationGrad, .maxPool2dGrad, .avgPool2dGrad, .adaptiveAvgPool2dGrad, .dropoutGrad,
            .softmaxCrossEntropyGrad, .sumTo, .sgdUpdate, .momentumUpdate, .adamUpdate, .adamDirection,
            .applyUpdate, .svdProjector, .activationMask, .reluMaskGrad, .batchNormFrozenGrad:
            return 0
        }
    }

    /// FLOPs that are not multiply-adds but are counted: the optimizer's and the SVD's arithmetic.
    public func arithmeticFlops(_ operands: [TensorType], _ results: [TensorType]) -> Int {
        let n = operands.first?.elementCount ?? 0
        func decay(_ a: OptimizerAttrs) -> Int { a.weightDecay != 0 ? 2 : 0 }
        switch self {
        case let .sgdUpdate(a): return saturatingProduct(n, 2 + decay(a))
        case let .momentumUpdate(a): return saturatingProduct(n, 4 + decay(a))
        case let .adamUpdate(a): return saturatingProduct(n, 14 + decay(a))
        case .adamDirection: return saturatingProduct(n, 12)
        case let .applyUpdate(a): return saturatingProduct(n, 2 + decay(a))
        case let .svdProjector(a):
            let g = operands[0].shape
            let m = max(g[0], g[1]), k = min(g[0], g[1])
            let total = saturatingProduct(4, m, k, k).addingReportingOverflow(saturatingProduct(8, k, k, k))
            if total.overflow { return Int.max }
            // Rounded up without forming total + gap - 1 (which can overflow); a gap below 1 (an
            // unverified graph) counts every step rather than dividing by zero.
            let gap = max(a.gap, 1)
            let (q, r) = total.partialValue.quotientAndRemainder(dividingBy: gap)
            return r == 0 ? q : q + 1
        case .conv2d, .batchNorm, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul, .maxPool2d,
            .avgPool2d, .adaptiveAvgPool2d, .flatten, .linear, .dropout, .softmaxCrossEntropy, .nativeBatchNorm,
            .maxPool2dWithIndices, .nativeDropout, .scale, .div, .channelNorm, .matmul, .reshape, .conv2dGradInput,
            .conv2dGradWeight, .biasGrad, .batchNormGrad, .activationGrad, .maxPool2dGrad, .avgPool2dGrad,
            .adaptiveAvgPool2dGrad, .linearGradInput, .linearGradWeight, .dropoutGrad, .softmaxCrossEntropyGrad,
            .sumTo, .activationMask, .reluMaskGrad, .batchNormFrozenGrad, .concat, .slice:
            return 0
        }
    }

    /// FLOPs: 2 · MACs plus the counted arithmetic of optimizer and SVD ops.
    public func flops(_ operands: [TensorType], _ results: [TensorType]) -> Int {
        flops(macs: macs(operands, results), operands, results)
    }

    /// FLOPs when the MACs are already counted (`macs(operands, results)`), so they are not counted twice.
    public func flops(macs: Int, _ operands: [TensorType], _ results: [TensorType]) -> Int {
        let (sum, overflow) = saturatingProduct(2, macs).addingReportingOverflow(arithmeticFlops(operands, results))
        return overflow ? Int.max : sum
    }

    /// Elementwise operations (not MACs, not in FLOPs): one per output element for activations,
    /// normalisation, binary ops and gradients of elementwise ops, one per window tap for pooling, one per
    /// input element for reductions and the loss; a bias adds one per output element. Shape ops and
    /// dropout at inference cost nothing.
    public func elementwiseOps(_ operands: [TensorType], _ results: [TensorType]) -> Int {
        let out = results.first?.elementCount ?? 0
        let input = operands.first?.elementCount ?? 0
        switch self {
        case .conv2d, .linear:
            return operands.count == 3 ? out : 0
        case .batchNorm, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul, .nativeBatchNorm,
            .nativeDropout, .scale, .div, .batchNormGrad, .activationGrad, .dropoutGrad, .softmaxCrossEntropyGrad,
            .activationMask, .reluMaskGrad:
            return out
        // dx, plus dgamma's product per element when x is given.
        case .batchNormFrozenGrad:
            return operands.count == 5 ? saturatingProduct(out, 2) : out
        case let .maxPool2d(a), let .avgPool2d(a), let .maxPool2dWithIndices(a):
            return saturatingProduct(out, a.kernel.h, a.kernel.w)
        case let .maxPool2dGrad(a), let .avgPool2dGrad(a):
            return saturatingProduct(input, a.kernel.h, a.kernel.w)
        case .adaptiveAvgPool2d, .softmaxCrossEntropy, .channelNorm, .biasGrad, .sumTo:
            return input
        case .adaptiveAvgPool2dGrad:
            return out
        // concat and slice copy; like the other shape ops they count no arithmetic.
        case .flatten, .dropout, .reshape, .concat, .slice, .matmul, .conv2dGradInput, .conv2dGradWeight,
            .linearGradInput,
            .linearGradWeight, .sgdUpdate, .momentumUpdate, .adamUpdate, .adamDirection, .applyUpdate,
            .svdProjector:
            return 0
        }
    }
}

/// A product that stops at `Int.max` instead of trapping: costs of absurd graphs must not crash. Public so
/// that every cost count (these rules, Passes' FLOP conventions) saturates the same way.
public func saturatingProduct(_ factors: Int...) -> Int {
    var p = 1
    for f in factors {
        let (r, overflow) = p.multipliedReportingOverflow(by: f)
        if overflow { return Int.max }
        p = r
    }
    return p
}

extension Graph {
    public func operandTypes(of node: Node) -> [TensorType] { node.inputs.map { self[$0].type } }
    public func resultTypes(of node: Node) -> [TensorType] { node.outputs.map { self[$0].type } }

    public func macs(of node: Node) -> Int { node.op.macs(operandTypes(of: node), resultTypes(of: node)) }

    /// Total MACs of all nodes.
    public var macs: Int {
        var total = 0
        for node in nodes {
            let (sum, overflow) = total.addingReportingOverflow(macs(of: node))
            total = overflow ? Int.max : sum
        }
        return total
    }

    /// Learnable parameters read by `node` (buffers and optimizer state excluded).
    public func parameterCount(of node: Node) -> Int {
        var seen = Set<ValueID>()
        return node.inputs.reduce(0) { sum, id in
            let v = self[id]
            guard let role = v.role, role.isLearnable, seen.insert(id).inserted else { return sum }
            return sum + v.type.elementCount
        }
    }
}
