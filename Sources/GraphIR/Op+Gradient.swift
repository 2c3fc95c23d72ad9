/// Gradient facts per op that need no gradient rule, here rather than in Passes so that every analysis and
/// an executor (which imports GraphIR only) reads the same ones. Exhaustive switches, no `default:`.
extension Op {
    /// The operand an optimizer op reads as a parameter's gradient, if any. GaLore's `svd_projector` reads
    /// it through a reshape (a view), so operand 0's storage is the gradient's.
    public var gradientOperand: Int? {
        switch self {
        case .sgdUpdate, .momentumUpdate, .adamUpdate: 1
        case .svdProjector: 0
        case .conv2d, .batchNorm, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul,
             .maxPool2d, .avgPool2d, .adaptiveAvgPool2d, .flatten, .linear, .dropout, .softmaxCrossEntropy,
             .nativeBatchNorm, .maxPool2dWithIndices, .nativeDropout, .scale, .div, .channelNorm, .matmul,
             .reshape, .conv2dGradInput, .conv2dGradWeight, .biasGrad, .batchNormGrad, .activationGrad,
             .maxPool2dGrad, .avgPool2dGrad, .adaptiveAvgPool2dGrad, .linearGradInput, .linearGradWeight,
             .dropoutGrad, .softmaxCrossEntropyGrad, .sumTo,
             // GaLore's direction reads the projected gradient, which is not a parameter's own.
             .adamDirection, .applyUpdate:
            nil
        }
    }
}
