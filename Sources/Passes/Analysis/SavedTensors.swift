// What each forward op keeps for backward, under the two saving policies.
//
// `pytorch` (the default) is PyTorch autograd's rule, op by op, as tools/autograd/derivatives.yaml
// writes it (PyTorch 1.13, CPU): a node with a grad_fn (some differentiable operand requires a gradient)
// saves the tensors its backward formula names, whether or not the gradient that reads them is computed.
// The rule that matters is convolution's: `convolution_backward` saves input and weight whenever any of
// input, weight or bias requires a gradient, so a frozen conv whose input needs a gradient still keeps
// its input. `lean` is what graphc's own backward nodes read (the training graph's edges), after the
// `lean-saving` pass has replaced ReLU and ReLU6 values by 1-bit masks where nothing else keeps them.
//
// One exhaustive switch over `Op` (no `default:`): a new op must say what PyTorch saves for it.
import GraphIR

/// Which tensors a training step keeps from forward to backward.
public enum SavingPolicy: String, Sendable, Hashable, CaseIterable {
    /// Exactly what PyTorch autograd saves: predicts a PyTorch run.
    case pytorch
    /// Only what graphc's backward reads, with ReLU masks packed to one bit per element.
    case lean
}

/// One tensor a forward node keeps for backward under the PyTorch policy.
public enum SavedTensor: Sendable, Hashable {
    /// Operand `i` of the node.
    case operand(Int)
    /// Result `k` of the node.
    case result(Int)
    /// A tensor PyTorch makes that the graph has no value for (log_softmax's result, CPU dropout's f32
    /// noise, nll_loss's total weight), of `bytes` bytes.
    case extra(bytes: Int)
}

extension Op {
    /// The tensors PyTorch's autograd node for this op saves, given which operands require a gradient
    /// (`requiresGrad[i]`), the operand types and the node has a grad_fn at all (some differentiable
    /// operand requires a gradient; otherwise it saves nothing). Learnable parameters and buffers are
    /// listed where PyTorch saves them; the byte count leaves them out.
    public func savedByPyTorch(requiresGrad: [Bool], operands: [TensorType]) -> [SavedTensor] {
        func rg(_ i: Int) -> Bool { i < requiresGrad.count && requiresGrad[i] }
        guard requiresGrad.indices.contains(where: { rg($0) && isDifferentiable(operand: $0) }) else { return [] }
        switch self {
        // convolution_backward: input and weight, whatever needs a gradient.
        case .conv2d: return [.operand(0), .operand(1)]
        // addmm / mm: mat1 (the input) for the weight gradient, mat2 (the weight) for the input gradient.
        case .linear, .matmul:
            return (rg(1) ? [.operand(0)] : []) + (rg(0) ? [.operand(1)] : [])
        // native_batch_norm_backward: input, weight, running mean and var, save_mean, save_invstd.
        case .nativeBatchNorm: return [.operand(0), .operand(1), .operand(3), .operand(4), .result(1), .result(2)]
        // Running statistics (eval mode): save_mean and save_invstd are empty.
        case .batchNorm: return [.operand(0), .operand(1), .operand(3), .operand(4)]
        // threshold_backward and sigmoid_backward read the result; hardtanh (relu6), hardswish,
        // hardsigmoid and silu their input.
        case .relu, .sigmoid: return [.result(0)]
        case .relu6, .hardswish, .hardsigmoid, .silu: return [.operand(0)]
        // cat_backward narrows the gradient by the operands' sizes: no tensor.
        case .add, .scale, .flatten, .reshape, .dropout, .concat: return []
        // mul: each operand for the other's gradient; div: the divisor always, the dividend for the
        // divisor's gradient.
        case .mul: return (rg(0) ? [.operand(1)] : []) + (rg(1) ? [.operand(0)] : [])
        case .div: return [.operand(1)] + (rg(1) ? [.operand(0)] : [])
        case .maxPool2dWithIndices: return [.operand(0), .result(1)]
        case .maxPool2d: return [.operand(0)]
        case .avgPool2d: return [.operand(0)]
        // _adaptive_avg_pool2d_backward reads the input (the by-method fixture counts mobilenet_v2's
        // last relu6 output, which only the pool keeps, also at a 1x1 output).
        case .adaptiveAvgPool2d: return [.operand(0)]
        // CPU dropout is `input * noise` with a noise tensor of the input's dtype (native_dropout's mask
        // is CUDA only).
        case .nativeDropout:
            return [.extra(bytes: operands.first?.byteCount ?? 0)]
        // log_softmax keeps its result, nll_loss the target and a scalar total weight, both of the
        // logits' dtype (f32, or the storage `--activations` gives them).
        case .softmaxCrossEntropy:
            let logits = operands.first ?? .f32([])
            return [
                .extra(bytes: logits.byteCount), .operand(1), .extra(bytes: TensorType(logits.dtype, []).byteCount),
            ]
        // Detached (DoRA's norm): no gradient, nothing saved; the lean pass's mask is not PyTorch's.
        case .channelNorm, .activationMask: return []
        // Not forward ops: they are never differentiated.
        case .conv2dGradInput, .conv2dGradWeight, .biasGrad, .batchNormGrad, .activationGrad, .maxPool2dGrad,
            .avgPool2dGrad, .adaptiveAvgPool2dGrad, .linearGradInput, .linearGradWeight, .dropoutGrad,
            .softmaxCrossEntropyGrad, .sumTo, .sgdUpdate, .momentumUpdate, .adamUpdate, .adamDirection,
            .applyUpdate, .svdProjector, .reluMaskGrad, .batchNormFrozenGrad, .slice:
            return []
        }
    }
}
