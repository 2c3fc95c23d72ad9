/// Op groups: named sets of ops that passes treat alike (tinygrad's `GroupOp`), so a pass asks for the
/// group instead of listing ops, and never falls back on a `default:` that would sweep a new op into
/// the wrong group. Each group is one exhaustive switch.

/// The layers low-rank adapters (LoRA, DoRA) know how to adapt: a weight matrix they can add `B·A` to.
public enum AdaptableLayer: Sendable, Hashable {
    /// `conv2d`, whose weight `[Co, C/groups, kh, kw]` is adapted as `Co × (C/groups·kh·kw)`.
    case conv(Conv2dAttrs)
    /// `linear`, whose weight `[out, in]` is adapted as it is.
    case linear
}

extension Op {
    /// How adapters treat the op's weight (operand 1), or nil for ops they do not adapt: only conv2d and
    /// linear, whose weight is a learnable matrix the forward pass multiplies by. DoRA's `matmul` reads
    /// weights too but composes adapters, and the gradient ops' weights are the forward layer's.
    public var adaptableLayer: AdaptableLayer? {
        switch self {
        case let .conv2d(a): .conv(a)
        case .linear: .linear
        case .batchNorm, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul, .maxPool2d,
            .avgPool2d, .adaptiveAvgPool2d, .flatten, .dropout, .softmaxCrossEntropy, .nativeBatchNorm,
            .maxPool2dWithIndices, .nativeDropout, .scale, .div, .channelNorm, .matmul, .reshape, .concat, .slice,
            .conv2dGradInput,
            .conv2dGradWeight, .biasGrad, .batchNormGrad, .activationGrad, .maxPool2dGrad, .avgPool2dGrad,
            .adaptiveAvgPool2dGrad, .linearGradInput, .linearGradWeight, .dropoutGrad, .softmaxCrossEntropyGrad,
            .sumTo, .sgdUpdate, .momentumUpdate, .adamUpdate, .adamDirection, .applyUpdate, .svdProjector,
            .activationMask,
            .reluMaskGrad, .batchNormFrozenGrad:
            nil
        }
    }
}
