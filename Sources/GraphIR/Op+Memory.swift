/// Storage per op: which results reuse an operand's memory instead of getting their own.
///
/// Memory analyses (liveness, the arena planner) and an executor must agree on these facts, so they live
/// here, in GraphIR, rather than in one of their users. One exhaustive switch (`storage(ofResult:)`), no
/// `default:`: a new op has to say whether it writes in place or is a view.
///
/// - Views: `reshape` and `flatten` reinterpret their operand's contiguous storage, as in PyTorch.
/// - In-place updates: the optimizer ops return their parameter and state updated, and at run time they
///   overwrite them (PyTorch's `optimizer.step()` mutates `p`, `exp_avg`, ...); GaLore's `svd_projector`
///   refreshes the projector state it reads.
/// Everything else returns new memory.

/// Where a result's storage comes from.
public enum ResultStorage: Sendable, Hashable {
    /// New memory of its own.
    case fresh
    /// The same bytes as operand `operand`, reinterpreted (a view: the operand is not modified).
    case view(of: Int)
    /// Operand `operand`'s storage, overwritten with the result (an in-place update).
    case inPlace(of: Int)

    /// The operand whose storage the result reuses, if any.
    public var operand: Int? {
        switch self {
        case .fresh: nil
        case let .view(j), let .inPlace(j): j
        }
    }
}

extension Op {
    /// Where result `k` is stored (see the file comment). Results past `outputCount` are `.fresh`.
    public func storage(ofResult k: Int) -> ResultStorage {
        switch self {
        // p, g → p.
        case .sgdUpdate: k == 0 ? .inPlace(of: 0) : .fresh
        // p, u → p.
        case .applyUpdate: k == 0 ? .inPlace(of: 0) : .fresh
        // p, g, buffer → p, buffer.
        case .momentumUpdate: k == 0 ? .inPlace(of: 0) : k == 1 ? .inPlace(of: 2) : .fresh
        // p, g, m, v → p, m, v.
        case .adamUpdate: k == 0 ? .inPlace(of: 0) : k <= 2 ? .inPlace(of: k + 1) : .fresh
        // g, m, v → direction (new: GaLore projects it back), m, v.
        case .adamDirection: k == 1 || k == 2 ? .inPlace(of: k) : .fresh
        // G, P → P refreshed: the stored projector is overwritten.
        case .svdProjector: k == 0 ? .inPlace(of: 1) : .fresh
        case .reshape, .flatten: k == 0 ? .view(of: 0) : .fresh
        case .conv2d, .batchNorm, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul,
            .maxPool2d, .avgPool2d, .adaptiveAvgPool2d, .linear, .dropout, .softmaxCrossEntropy,
            .nativeBatchNorm, .maxPool2dWithIndices, .nativeDropout, .scale, .div, .channelNorm, .matmul,
            .conv2dGradInput, .conv2dGradWeight, .biasGrad, .batchNormGrad, .activationGrad, .maxPool2dGrad,
            .avgPool2dGrad, .adaptiveAvgPool2dGrad, .linearGradInput, .linearGradWeight, .dropoutGrad,
            .softmaxCrossEntropyGrad, .sumTo, .activationMask, .reluMaskGrad, .batchNormFrozenGrad, .concat, .slice:
            .fresh
        }
    }

    /// The operand whose storage result `k` reuses (a view or an in-place update), or nil if the result is
    /// new memory.
    public func aliasedOperand(ofResult k: Int) -> Int? { storage(ofResult: k).operand }

    /// Whether the op's result is a view of its operand (no memory, no work).
    public var isView: Bool {
        if case .view = storage(ofResult: 0) { return true }
        return false
    }

    /// The operands the op overwrites, in operand order: the parameter and state an optimizer update
    /// writes back, the projector `svd_projector` refreshes. Empty for every other op.
    public var overwrittenOperands: [Int] {
        (0..<outputCount).compactMap { k in
            if case let .inPlace(j) = storage(ofResult: k) { return j }
            return nil
        }
    }
}
