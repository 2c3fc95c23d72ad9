/// Gradient facts per op that need no gradient rule: which operands gradients flow to, which operand an
/// optimizer update reads as a gradient, and from those the one needs-gradient rule of a graph.
///
/// The rules themselves (`Op.vjp`, `Op.gradientSlot`) stay in Passes, which emits the backward graph;
/// these facts live here so that `autodiff`, the training drawing and an executor (which imports GraphIR
/// only) decide the same way. Exhaustive switches, no `default:`.
extension Op {
    /// Whether gradients flow to operand `index`, by PyTorch's convention: never to integer or boolean
    /// operands (labels, pooling indices, dropout masks), nor to batch norm's running statistics (buffers,
    /// read, never differentiated), nor through `channel_norm` (DoRA detaches the norm). Every other operand
    /// is differentiable, also of ops graphc has no gradient rule for (gradient and optimizer ops,
    /// max_pool2d without indices): differentiating through those is an error, not a no-op.
    public func isDifferentiable(operand index: Int) -> Bool {
        switch self {
        // x, gamma, beta, running mean, running var.
        case .batchNorm, .nativeBatchNorm: index < 3
        // dy, x, gamma, running mean, running var, batch mean, batch inverse std.
        case .batchNormGrad: index != 3 && index != 4
        // logits, labels (i64).
        case .softmaxCrossEntropy, .softmaxCrossEntropyGrad: index == 0
        // dy, x, indices (i64).
        case .maxPool2dGrad: index < 2
        // dy, mask (bool).
        case .dropoutGrad: index == 0
        case .channelNorm: false
        // dy, gamma, running mean, running var, x.
        case .batchNormFrozenGrad: index != 2 && index != 3
        // dy, mask; x → mask (bits have no gradient).
        case .reluMaskGrad: index == 0
        case .activationMask: false
        case .conv2d, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul, .maxPool2d, .avgPool2d,
            .adaptiveAvgPool2d, .flatten, .linear, .dropout, .maxPool2dWithIndices, .nativeDropout, .scale, .div,
            .matmul, .reshape, .concat, .slice, .conv2dGradInput, .conv2dGradWeight, .biasGrad, .activationGrad,
            .avgPool2dGrad,
            .adaptiveAvgPool2dGrad, .linearGradInput, .linearGradWeight, .sumTo, .sgdUpdate, .momentumUpdate,
            .adamUpdate, .adamDirection, .applyUpdate, .svdProjector:
            true
        }
    }

    /// The operand an optimizer op reads as a parameter's gradient, if any. GaLore's `svd_projector` reads
    /// it through a reshape (a view), so operand 0's storage is the gradient's.
    public var gradientOperand: Int? {
        switch self {
        case .sgdUpdate, .momentumUpdate, .adamUpdate: 1
        case .svdProjector: 0
        case .conv2d, .batchNorm, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul,
            .maxPool2d, .avgPool2d, .adaptiveAvgPool2d, .flatten, .linear, .dropout, .softmaxCrossEntropy,
            .nativeBatchNorm, .maxPool2dWithIndices, .nativeDropout, .scale, .div, .channelNorm, .matmul,
            .reshape, .concat, .slice, .conv2dGradInput, .conv2dGradWeight, .biasGrad, .batchNormGrad, .activationGrad,
            .maxPool2dGrad, .avgPool2dGrad, .adaptiveAvgPool2dGrad, .linearGradInput, .linearGradWeight,
            .dropoutGrad, .softmaxCrossEntropyGrad, .sumTo, .activationMask, .reluMaskGrad, .batchNormFrozenGrad,
            // GaLore's direction reads the projected gradient, which is not a parameter's own.
            .adamDirection, .applyUpdate:
            nil
        }
    }
}

extension Graph {
    /// Per value (indexed by `ValueID.raw`): whether it needs a gradient, i.e. it depends on a trainable
    /// parameter (forward sweep) and one of `losses` depends on it (reverse sweep), both along the
    /// differentiable edges (`Op.isDifferentiable(operand:)`) of the forward-phase nodes. Only f32 results
    /// carry a dependence (indices and masks never get a gradient). `autodiff` emits backward nodes for
    /// exactly these values, and the training drawing dashes the forward nodes with none.
    public func needsGradient(losses: [ValueID]) -> [Bool] {
        var depends = Array(repeating: false, count: values.count)
        for id in parameters where self[id].isTrainable { depends[id.raw] = true }
        // Nodes are read in place, not copied (a copy retains the node's names).
        return nodes.withUnsafeBufferPointer { nodes in
            let forward = nodes.indices.filter { nodes[$0].phase == .forward }
            for index in forward {
                let op = nodes[index].op
                let d = nodes[index].inputs.enumerated().contains { i, v in
                    depends[v.raw] && op.isDifferentiable(operand: i)
                }
                for id in nodes[index].outputs where values[id.raw].type.dtype.computeType == .f32 {
                    depends[id.raw] = d
                }
            }
            var reaches = Array(repeating: false, count: values.count)
            for id in losses { reaches[id.raw] = true }
            for index in forward.reversed() where nodes[index].outputs.contains(where: { reaches[$0.raw] }) {
                let op = nodes[index].op
                for (i, v) in nodes[index].inputs.enumerated() where op.isDifferentiable(operand: i) {
                    reaches[v.raw] = true
                }
            }
            return zip(depends, reaches).map { $0 && $1 }
        }
    }
}
