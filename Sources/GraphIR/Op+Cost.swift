/// Arithmetic cost per op. MACs follow torchvision's (and thop's) convention: only conv and linear
/// layers count, one multiply-add per kernel tap, groups-aware; FLOPs = 2 · MACs. Everything else is
/// elementwise work, reported separately and labelled as such.
extension Op {
    /// Multiply-accumulates for operands `operands` producing `results`.
    public func macs(_ operands: [TensorType], _ results: [TensorType]) -> Int {
        switch self {
        case .conv2d:
            // Each output element reads (C_in/groups)·kh·kw inputs: weight dims 1...3.
            let w = operands[1].shape
            return saturatingProduct([results[0].elementCount, w[1], w[2], w[3]])
        case .linear:
            return saturatingProduct([results[0].elementCount, operands[1].shape[1]])
        case .batchNorm, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul, .maxPool2d,
             .avgPool2d, .adaptiveAvgPool2d, .flatten, .dropout, .softmaxCrossEntropy:
            return 0
        }
    }

    /// Elementwise operations (not MACs): one per output element for activations, normalisation and
    /// binary ops, one per window tap for pooling, one per input element for global pooling and the loss;
    /// a bias adds one per output element. Shape ops and dropout (identity at inference) cost nothing.
    public func elementwiseOps(_ operands: [TensorType], _ results: [TensorType]) -> Int {
        let out = results.first?.elementCount ?? 0
        switch self {
        case .conv2d, .linear:
            return operands.count == 3 ? out : 0
        case .batchNorm, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul:
            return out
        case let .maxPool2d(a), let .avgPool2d(a):
            return out * a.kernel.h * a.kernel.w
        case .adaptiveAvgPool2d, .softmaxCrossEntropy:
            return operands[0].elementCount
        case .flatten, .dropout:
            return 0
        }
    }
}

/// A product that stops at `Int.max` instead of trapping: costs of absurd graphs must not crash.
func saturatingProduct(_ factors: [Int]) -> Int {
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

    /// Learnable parameters read by `node` (buffers excluded).
    public func parameterCount(of node: Node) -> Int {
        var seen = Set<ValueID>()
        return node.inputs.reduce(0) { sum, id in
            let v = self[id]
            guard let role = v.role, !role.isBuffer, seen.insert(id).inserted else { return sum }
            return sum + v.type.elementCount
        }
    }
}
