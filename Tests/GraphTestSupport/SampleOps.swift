// One instance of every op, shared by the test targets that check a per-op rule over all ops (GraphIR's
// attribute table and op groups, Passes' gradient slots). IRAttributeTests checks it covers `Op.allNames`.
import GraphIR

/// One instance of every op, with non-default attributes where it has any.
public let sampleOps: [Op] = [
    .conv2d(Conv2dAttrs(stride: Pair(2, 1), padding: Pair(1, 0), dilation: Pair(1, 2), groups: 4)),
    .batchNorm(BatchNormAttrs(eps: 1e-3, momentum: 0.01, training: true)),
    .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul,
    .maxPool2d(Pool2dAttrs(kernel: Pair(3), stride: Pair(2), padding: Pair(1), ceilMode: true)),
    .avgPool2d(Pool2dAttrs(kernel: Pair(2, 3), stride: Pair(1), ceilMode: false, countIncludePad: false)),
    .adaptiveAvgPool2d(output: Pair(7, 1)), .flatten(startDim: 1), .linear, .dropout(p: 0.25),
    .softmaxCrossEntropy,
    // Training forward and weight-space ops.
    .nativeBatchNorm(BatchNormAttrs(eps: 1e-4, momentum: 0.2, training: true)),
    .maxPool2dWithIndices(Pool2dAttrs(kernel: Pair(3, 2), stride: Pair(2, 1), padding: Pair(1, 0), ceilMode: true)),
    .nativeDropout(p: 0.3), .scale(0.125), .div, .channelNorm,
    .matmul(transposeA: true, transposeB: false), .reshape(shape: [4, 1, 3, 3]),
    .concat(axis: 1), .slice(axis: 0, start: 2, length: 3),
    // Gradients.
    .conv2dGradInput(
        Conv2dAttrs(stride: Pair(2), padding: Pair(1), dilation: Pair(2, 1), groups: 2),
        input: Pair(9, 7)),
    .conv2dGradWeight(
        Conv2dAttrs(stride: Pair(1, 2), padding: Pair(0, 1), dilation: Pair(1), groups: 3),
        kernel: Pair(3, 1)),
    .biasGrad, .batchNormGrad(BatchNormAttrs(eps: 1e-3, momentum: 0.05, training: true)),
    .activationGrad(.relu), .activationGrad(.relu6), .activationGrad(.hardswish), .activationGrad(.hardsigmoid),
    .activationGrad(.silu), .activationGrad(.sigmoid), .activationMask(.relu), .activationMask(.relu6), .reluMaskGrad,
    .batchNormFrozenGrad(BatchNormAttrs(eps: 1e-3, momentum: 0.05, training: false)),
    .maxPool2dGrad(Pool2dAttrs(kernel: Pair(2), stride: Pair(1), padding: Pair(1), ceilMode: false)),
    .avgPool2dGrad(
        Pool2dAttrs(kernel: Pair(3), stride: Pair(2), padding: Pair(1), ceilMode: true, countIncludePad: false)),
    .adaptiveAvgPool2dGrad, .linearGradInput, .linearGradWeight, .dropoutGrad(p: 0.4), .softmaxCrossEntropyGrad,
    .sumTo(shape: [8, 1, 1]),
    // Optimizer steps.
    .sgdUpdate(OptimizerAttrs(lr: 0.05, weightDecay: 1e-4)),
    .momentumUpdate(OptimizerAttrs(lr: 0.01, momentum: 0.9)),
    .adamUpdate(OptimizerAttrs(lr: 3e-4, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.01, decoupled: true)),
    .adamDirection(OptimizerAttrs(lr: 1e-3, beta1: 0.85)),
    .applyUpdate(OptimizerAttrs(lr: 2e-3, weightDecay: 0.1, decoupled: true)),
    .svdProjector(ProjectorAttrs(rank: 4, left: true, gap: 200)),
]
