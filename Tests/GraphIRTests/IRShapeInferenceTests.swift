// Shape inference against PyTorch's formulas:
//   conv:  out = floor((n + 2p - d(k-1) - 1) / s) + 1
//   pool:  out = floor or ceil((n + 2p - k) / s) + 1, and with ceil_mode the last window must start
//          inside the input or its left padding ((out-1)·s < n + p), else out - 1.
// Expected values were worked out from those formulas and match torch.nn on CPU.
import GraphIR
import Testing

struct ShapeCase: Sendable, CustomTestStringConvertible {
    var op: Op
    var operands: [TensorType]
    /// Every result type, in order (multi-output training ops have several, of several dtypes).
    var results: [TensorType]
    var testDescription: String { "\(op.name) \(operands) → \(results)" }

    init(op: Op, operands: [TensorType], expected: [Int]) {
        self.init(op: op, operands: operands, results: [.f32(expected)])
    }

    init(op: Op, operands: [TensorType], results: [TensorType]) {
        self.op = op
        self.operands = operands
        self.results = results
    }
}

struct ShapeErrorCase: Sendable, CustomTestStringConvertible {
    var op: Op
    var operands: [TensorType]
    var id: String
    var testDescription: String { "\(op.name) \(operands) → \(id)" }
}

private func conv(_ s: Int = 1, _ p: Int = 0, _ d: Int = 1, _ g: Int = 1) -> Op {
    .conv2d(Conv2dAttrs(stride: Pair(s), padding: Pair(p), dilation: Pair(d), groups: g))
}

private func maxPool(_ k: Int, _ s: Int, _ p: Int = 0, ceil: Bool = false) -> Op {
    .maxPool2d(Pool2dAttrs(kernel: Pair(k), stride: Pair(s), padding: Pair(p), ceilMode: ceil))
}

private func avgPool(_ k: Int, _ s: Int, _ p: Int = 0, ceil: Bool = false) -> Op {
    .avgPool2d(Pool2dAttrs(kernel: Pair(k), stride: Pair(s), padding: Pair(p), ceilMode: ceil))
}

private func f(_ s: Int...) -> TensorType { .f32(s) }
private func i64(_ s: Int...) -> TensorType { .i64(s) }
private func mask(_ s: Int...) -> TensorType { TensorType(.bool, s) }
private func bits(_ s: Int...) -> TensorType { TensorType(.mask, s) }

private func convAttrs(_ s: Pair = Pair(1), _ p: Pair = Pair(0), _ d: Pair = Pair(1), _ g: Int = 1) -> Conv2dAttrs {
    Conv2dAttrs(stride: s, padding: p, dilation: d, groups: g)
}

private func pool(_ k: Int, _ s: Int, _ p: Int = 0, ceil: Bool = false) -> Pool2dAttrs {
    Pool2dAttrs(kernel: Pair(k), stride: Pair(s), padding: Pair(p), ceilMode: ceil)
}

private let bn = BatchNormAttrs(eps: 1e-5, momentum: 0.1, training: true)
private let opt = OptimizerAttrs(lr: 0.1, momentum: 0.9, weightDecay: 1e-4)

private func svd(_ rank: Int, left: Bool, gap: Int = 200) -> Op {
    .svdProjector(ProjectorAttrs(rank: rank, left: left, gap: gap))
}

private func matmul(_ ta: Bool, _ tb: Bool) -> Op { .matmul(transposeA: ta, transposeB: tb) }

/// The conv configurations the gradient cases reuse: (attrs, x, weight, forward output). Each forward
/// output is checked by `convGradientsInvertTheForwardConv` against the conv2d rule.
let convConfigs: [(attrs: Conv2dAttrs, x: [Int], w: [Int], y: [Int])] = [
    // ResNet's stem: 7x7 stride 2 pad 3.
    (convAttrs(Pair(2), Pair(3)), [1, 3, 224, 224], [64, 3, 7, 7], [1, 64, 112, 112]),
    // MobileNet's depthwise 3x3 stride 2.
    (convAttrs(Pair(2), Pair(1), Pair(1), 32), [1, 32, 112, 112], [32, 1, 3, 3], [1, 32, 56, 56]),
    // Grouped and dilated.
    (convAttrs(Pair(1), Pair(2), Pair(2), 2), [2, 4, 10, 10], [6, 2, 3, 3], [2, 6, 10, 10]),
    // Asymmetric stride, padding, dilation and kernel.
    (convAttrs(Pair(2, 1), Pair(1, 0), Pair(1, 2)), [1, 4, 5, 6], [2, 4, 3, 1], [1, 2, 3, 6]),
    // Strided 1x1 (a downsampling shortcut) with an input size stride does not divide.
    (convAttrs(Pair(2)), [3, 8, 9, 9], [16, 8, 1, 1], [3, 16, 5, 5]),
]

let shapeCases: [ShapeCase] = [
    // conv2d
    ShapeCase(op: conv(2, 3), operands: [f(1, 3, 224, 224), f(64, 3, 7, 7)], expected: [1, 64, 112, 112]),
    ShapeCase(op: conv(1, 1), operands: [f(2, 3, 8, 8), f(8, 3, 3, 3)], expected: [2, 8, 8, 8]),
    ShapeCase(op: conv(2, 1, 1, 32), operands: [f(1, 32, 112, 112), f(32, 1, 3, 3)], expected: [1, 32, 56, 56]),
    ShapeCase(op: conv(1, 2, 2), operands: [f(1, 4, 10, 10), f(4, 4, 3, 3)], expected: [1, 4, 10, 10]),
    ShapeCase(op: conv(2), operands: [f(1, 4, 8, 8), f(4, 4, 3, 3)], expected: [1, 4, 3, 3]),
    ShapeCase(op: conv(3, 0, 2), operands: [f(1, 1, 11, 11), f(2, 1, 3, 3)], expected: [1, 2, 3, 3]),
    ShapeCase(op: conv(1, 0, 1, 2), operands: [f(1, 4, 5, 5), f(8, 2, 1, 1), f(8)], expected: [1, 8, 5, 5]),
    ShapeCase(
        op: .conv2d(Conv2dAttrs(stride: Pair(2, 1), padding: Pair(1, 0))),
        operands: [f(1, 4, 5, 6), f(2, 4, 3, 1)], expected: [1, 2, 3, 6]),
    ShapeCase(op: conv(2, 0), operands: [f(1, 1, 7, 7), f(1, 1, 7, 7)], expected: [1, 1, 1, 1]),
    // max and avg pooling, floor and ceil
    // ResNet's stem pool (floor); with ceil_mode the 57th window starts at 112 < n + p = 113, so it
    // stays; GoogLeNet's unpadded ceil-mode pool gives 56.
    ShapeCase(op: maxPool(3, 2, 1), operands: [f(1, 64, 112, 112)], expected: [1, 64, 56, 56]),
    ShapeCase(op: maxPool(3, 2, 1, ceil: true), operands: [f(1, 64, 112, 112)], expected: [1, 64, 57, 57]),
    ShapeCase(op: maxPool(3, 2, ceil: true), operands: [f(1, 64, 112, 112)], expected: [1, 64, 56, 56]),
    ShapeCase(op: maxPool(2, 2, ceil: true), operands: [f(1, 1, 7, 7)], expected: [1, 1, 4, 4]),
    ShapeCase(op: maxPool(2, 2), operands: [f(1, 1, 7, 7)], expected: [1, 1, 3, 3]),
    ShapeCase(op: maxPool(3, 2, ceil: true), operands: [f(1, 1, 6, 6)], expected: [1, 1, 3, 3]),
    // ceil would give 4, but the 4th window would start at 6 = n + p: PyTorch drops it.
    ShapeCase(op: maxPool(2, 2, 1, ceil: true), operands: [f(1, 1, 5, 5)], expected: [1, 1, 3, 3]),
    ShapeCase(op: avgPool(2, 2, 1, ceil: true), operands: [f(1, 1, 5, 5)], expected: [1, 1, 3, 3]),
    ShapeCase(op: avgPool(3, 3, ceil: true), operands: [f(1, 2, 10, 10)], expected: [1, 2, 4, 4]),
    ShapeCase(op: avgPool(3, 3), operands: [f(1, 2, 10, 10)], expected: [1, 2, 3, 3]),
    ShapeCase(op: avgPool(2, 1), operands: [f(1, 2, 2, 2)], expected: [1, 2, 1, 1]),
    // adaptive pooling, flatten, linear
    ShapeCase(op: .adaptiveAvgPool2d(output: Pair(1)), operands: [f(2, 512, 7, 7)], expected: [2, 512, 1, 1]),
    ShapeCase(op: .adaptiveAvgPool2d(output: Pair(7, 3)), operands: [f(1, 8, 5, 5)], expected: [1, 8, 7, 3]),
    ShapeCase(op: .flatten(startDim: 1), operands: [f(2, 3, 4, 5)], expected: [2, 60]),
    ShapeCase(op: .flatten(startDim: 0), operands: [f(2, 3, 4, 5)], expected: [120]),
    ShapeCase(op: .flatten(startDim: 3), operands: [f(2, 3, 4, 5)], expected: [2, 3, 4, 5]),
    ShapeCase(op: .linear, operands: [f(2, 8), f(4, 8), f(4)], expected: [2, 4]),
    ShapeCase(op: .linear, operands: [f(2, 5, 8), f(4, 8)], expected: [2, 5, 4]),
    // broadcasting
    ShapeCase(op: .mul, operands: [f(2, 16, 1, 1), f(2, 16, 7, 7)], expected: [2, 16, 7, 7]),
    ShapeCase(op: .mul, operands: [f(2, 16, 7, 7), f(16, 1, 1)], expected: [2, 16, 7, 7]),
    ShapeCase(op: .add, operands: [f(3), f(2, 3)], expected: [2, 3]),
    ShapeCase(op: .add, operands: [f(2, 1), f(1, 3)], expected: [2, 3]),
    ShapeCase(op: .add, operands: [f(), f(2, 3)], expected: [2, 3]),
    // elementwise, batch norm, dropout, loss
    ShapeCase(op: .hardswish, operands: [f(1, 2, 3)], expected: [1, 2, 3]),
    ShapeCase(
        op: .batchNorm(BatchNormAttrs()), operands: [f(2, 8, 4, 4), f(8), f(8), f(8), f(8)],
        expected: [2, 8, 4, 4]),
    ShapeCase(op: .batchNorm(BatchNormAttrs()), operands: [f(2, 8), f(8), f(8), f(8), f(8)], expected: [2, 8]),
    ShapeCase(op: .dropout(p: 0.5), operands: [f(4, 4)], expected: [4, 4]),
    ShapeCase(op: .softmaxCrossEntropy, operands: [f(4, 10), .i64([4])], expected: []),

    // Training-mode forward ops: several results, with PyTorch's dtypes (indices i64, masks bool).
    ShapeCase(
        op: .nativeBatchNorm(bn), operands: [f(2, 8, 4, 4), f(8), f(8), f(8), f(8)],
        results: [f(2, 8, 4, 4), f(8), f(8)]),
    ShapeCase(op: .nativeBatchNorm(bn), operands: [f(3, 5), f(5), f(5), f(5), f(5)], results: [f(3, 5), f(5), f(5)]),
    ShapeCase(
        op: .maxPool2dWithIndices(pool(3, 2, 1)), operands: [f(1, 64, 112, 112)],
        results: [f(1, 64, 56, 56), i64(1, 64, 56, 56)]),
    ShapeCase(
        op: .maxPool2dWithIndices(pool(3, 2, 1, ceil: true)), operands: [f(1, 64, 112, 112)],
        results: [f(1, 64, 57, 57), i64(1, 64, 57, 57)]),
    ShapeCase(op: .nativeDropout(p: 0.5), operands: [f(4, 4)], results: [f(4, 4), mask(4, 4)]),
    ShapeCase(op: .nativeDropout(p: 0), operands: [f(2, 3, 1)], results: [f(2, 3, 1), mask(2, 3, 1)]),
    ShapeCase(op: .scale(0.5), operands: [f(2, 3)], expected: [2, 3]),
    ShapeCase(op: .scale(-2), operands: [f()], expected: []),
    // DoRA's V / ‖V‖ per output channel.
    ShapeCase(op: .div, operands: [f(8, 3, 3, 3), f(8, 1, 1, 1)], expected: [8, 3, 3, 3]),
    ShapeCase(op: .div, operands: [f(3), f(2, 3)], expected: [2, 3]),
    ShapeCase(op: .channelNorm, operands: [f(8, 3, 3, 3)], expected: [8, 1, 1, 1]),
    ShapeCase(op: .channelNorm, operands: [f(10, 4)], expected: [10, 1]),
    ShapeCase(op: .channelNorm, operands: [f(5)], expected: [5]),
    // matmul: op(A) is m×k, op(B) k×n, whatever the stored layouts.
    ShapeCase(op: matmul(false, false), operands: [f(4, 3), f(3, 5)], expected: [4, 5]),
    ShapeCase(op: matmul(true, false), operands: [f(3, 4), f(3, 5)], expected: [4, 5]),
    ShapeCase(op: matmul(false, true), operands: [f(4, 3), f(5, 3)], expected: [4, 5]),
    ShapeCase(op: matmul(true, true), operands: [f(3, 4), f(5, 3)], expected: [4, 5]),
    ShapeCase(op: matmul(false, false), operands: [f(1, 7), f(7, 1)], expected: [1, 1]),
    // reshape keeps the element count; a scalar is a 1-element tensor.
    ShapeCase(op: .reshape(shape: [8, 3, 3, 3]), operands: [f(8, 27)], expected: [8, 3, 3, 3]),
    ShapeCase(op: .reshape(shape: [24]), operands: [f(2, 3, 4)], expected: [24]),
    ShapeCase(op: .reshape(shape: [2, 12]), operands: [f(2, 3, 4)], expected: [2, 12]),
    ShapeCase(op: .reshape(shape: []), operands: [f(1, 1)], expected: []),
    // concat joins along its axis; slice (concat's gradient) takes a stretch of one.
    ShapeCase(op: .concat(axis: 1), operands: [f(2, 3, 4, 4), f(2, 5, 4, 4), f(2, 1, 4, 4)], expected: [2, 9, 4, 4]),
    ShapeCase(op: .concat(axis: 0), operands: [f(2, 3), f(4, 3)], expected: [6, 3]),
    ShapeCase(op: .slice(axis: 1, start: 3, length: 5), operands: [f(2, 9, 4, 4)], expected: [2, 5, 4, 4]),

    // Gradients. Conv gradients invert the forward conv: the input (or kernel) size is an attribute
    // because stride > 1 maps several input sizes to one output size (PyTorch's output_padding).
    ShapeCase(
        op: .conv2dGradInput(convConfigs[0].attrs, input: Pair(224)), operands: [f(1, 64, 112, 112), f(64, 3, 7, 7)],
        expected: [1, 3, 224, 224]),
    // (223 + 6 - 7) / 2 + 1 = 112 as well.
    ShapeCase(
        op: .conv2dGradInput(convConfigs[0].attrs, input: Pair(223)), operands: [f(1, 64, 112, 112), f(64, 3, 7, 7)],
        expected: [1, 3, 223, 223]),
    ShapeCase(
        op: .conv2dGradInput(convConfigs[1].attrs, input: Pair(112)), operands: [f(1, 32, 56, 56), f(32, 1, 3, 3)],
        expected: [1, 32, 112, 112]),
    ShapeCase(
        op: .conv2dGradInput(convConfigs[2].attrs, input: Pair(10)), operands: [f(2, 6, 10, 10), f(6, 2, 3, 3)],
        expected: [2, 4, 10, 10]),
    ShapeCase(
        op: .conv2dGradInput(convConfigs[3].attrs, input: Pair(5, 6)), operands: [f(1, 2, 3, 6), f(2, 4, 3, 1)],
        expected: [1, 4, 5, 6]),
    ShapeCase(
        op: .conv2dGradWeight(convConfigs[0].attrs, kernel: Pair(7)),
        operands: [f(1, 64, 112, 112), f(1, 3, 224, 224)],
        expected: [64, 3, 7, 7]),
    ShapeCase(
        op: .conv2dGradWeight(convConfigs[1].attrs, kernel: Pair(3)), operands: [f(1, 32, 56, 56), f(1, 32, 112, 112)],
        expected: [32, 1, 3, 3]),
    ShapeCase(
        op: .conv2dGradWeight(convConfigs[2].attrs, kernel: Pair(3)), operands: [f(2, 6, 10, 10), f(2, 4, 10, 10)],
        expected: [6, 2, 3, 3]),
    ShapeCase(
        op: .conv2dGradWeight(convConfigs[3].attrs, kernel: Pair(3, 1)), operands: [f(1, 2, 3, 6), f(1, 4, 5, 6)],
        expected: [2, 4, 3, 1]),
    ShapeCase(op: .biasGrad, operands: [f(2, 8, 4, 4)], expected: [8]),
    ShapeCase(op: .biasGrad, operands: [f(2, 10)], expected: [10]),
    // dy, x, gamma, running mean, running var, batch mean, batch invstd → dx, dgamma, dbeta.
    ShapeCase(
        op: .batchNormGrad(bn), operands: [f(2, 8, 4, 4), f(2, 8, 4, 4), f(8), f(8), f(8), f(8), f(8)],
        results: [f(2, 8, 4, 4), f(8), f(8)]),
    ShapeCase(
        op: .batchNormGrad(bn), operands: [f(3, 5), f(3, 5), f(5), f(5), f(5), f(5), f(5)],
        results: [f(3, 5), f(5), f(5)]),
    ShapeCase(op: .activationGrad(.relu), operands: [f(2, 3), f(2, 3)], expected: [2, 3]),
    ShapeCase(op: .activationGrad(.relu6), operands: [f(2, 8, 4, 4), f(2, 8, 4, 4)], expected: [2, 8, 4, 4]),
    ShapeCase(op: .activationGrad(.hardswish), operands: [f(5), f(5)], expected: [5]),
    ShapeCase(op: .activationGrad(.hardsigmoid), operands: [f(2, 16, 1, 1), f(2, 16, 1, 1)], expected: [2, 16, 1, 1]),
    ShapeCase(op: .activationGrad(.silu), operands: [f(1, 4), f(1, 4)], expected: [1, 4]),
    ShapeCase(op: .activationGrad(.sigmoid), operands: [f(), f()], expected: []),
    // dy, x, indices (i64, dy's shape) → dx in x's shape.
    ShapeCase(
        op: .maxPool2dGrad(pool(3, 2, 1)), operands: [f(1, 64, 56, 56), f(1, 64, 112, 112), i64(1, 64, 56, 56)],
        expected: [1, 64, 112, 112]),
    ShapeCase(
        op: .maxPool2dGrad(pool(3, 2, 1, ceil: true)),
        operands: [f(1, 64, 57, 57), f(1, 64, 112, 112), i64(1, 64, 57, 57)], expected: [1, 64, 112, 112]),
    ShapeCase(
        op: .avgPool2dGrad(pool(3, 3, ceil: true)), operands: [f(1, 2, 4, 4), f(1, 2, 10, 10)],
        expected: [1, 2, 10, 10]),
    ShapeCase(op: .avgPool2dGrad(pool(2, 2)), operands: [f(1, 1, 3, 3), f(1, 1, 7, 7)], expected: [1, 1, 7, 7]),
    ShapeCase(op: .adaptiveAvgPool2dGrad, operands: [f(2, 512, 1, 1), f(2, 512, 7, 7)], expected: [2, 512, 7, 7]),
    ShapeCase(op: .adaptiveAvgPool2dGrad, operands: [f(1, 8, 7, 3), f(1, 8, 5, 5)], expected: [1, 8, 5, 5]),
    ShapeCase(op: .linearGradInput, operands: [f(2, 4), f(4, 8)], expected: [2, 8]),
    ShapeCase(op: .linearGradInput, operands: [f(2, 5, 4), f(4, 8)], expected: [2, 5, 8]),
    ShapeCase(op: .linearGradWeight, operands: [f(2, 4), f(2, 8)], expected: [4, 8]),
    ShapeCase(op: .dropoutGrad(p: 0.5), operands: [f(4, 4), mask(4, 4)], expected: [4, 4]),
    // relu_mask packs x > 0 into a 1-bit mask of x's shape; relu_mask_grad reads dy and it.
    ShapeCase(op: .activationMask(.relu), operands: [f(2, 3, 5)], results: [bits(2, 3, 5)]),
    ShapeCase(op: .activationMask(.relu6), operands: [f(7)], results: [bits(7)]),
    ShapeCase(op: .reluMaskGrad, operands: [f(2, 3, 5), bits(2, 3, 5)], expected: [2, 3, 5]),
    // Frozen statistics: dy, gamma, running mean, running var[, x] → dx, dgamma, dbeta.
    ShapeCase(
        op: .batchNormFrozenGrad(BatchNormAttrs()), operands: [f(2, 8, 4, 4), f(8), f(8), f(8), f(2, 8, 4, 4)],
        results: [f(2, 8, 4, 4), f(8), f(8)]),
    ShapeCase(
        op: .batchNormFrozenGrad(BatchNormAttrs()), operands: [f(3, 5), f(5), f(5), f(5)],
        results: [f(3, 5), f(5), f(5)]),
    ShapeCase(op: .softmaxCrossEntropyGrad, operands: [f(4, 10), i64(4)], expected: [4, 10]),
    // sum_to reverses broadcasting: the target shape must broadcast to the operand's.
    ShapeCase(op: .sumTo(shape: [16, 1, 1]), operands: [f(2, 16, 7, 7)], expected: [16, 1, 1]),
    ShapeCase(op: .sumTo(shape: [1, 16, 1, 1]), operands: [f(2, 16, 7, 7)], expected: [1, 16, 1, 1]),
    ShapeCase(op: .sumTo(shape: [3]), operands: [f(2, 3)], expected: [3]),
    ShapeCase(op: .sumTo(shape: [2, 3]), operands: [f(2, 3)], expected: [2, 3]),
    ShapeCase(op: .sumTo(shape: []), operands: [f(2, 3)], expected: []),

    // Optimizer steps return the new parameter and state, each in the parameter's shape.
    ShapeCase(op: .sgdUpdate(opt), operands: [f(8, 3), f(8, 3)], expected: [8, 3]),
    ShapeCase(op: .momentumUpdate(opt), operands: [f(8, 3), f(8, 3), f(8, 3)], results: [f(8, 3), f(8, 3)]),
    ShapeCase(
        op: .adamUpdate(opt), operands: [f(4, 2, 3, 3), f(4, 2, 3, 3), f(4, 2, 3, 3), f(4, 2, 3, 3)],
        results: [f(4, 2, 3, 3), f(4, 2, 3, 3), f(4, 2, 3, 3)]),
    ShapeCase(
        op: .adamDirection(opt), operands: [f(4, 16), f(4, 16), f(4, 16)], results: [f(4, 16), f(4, 16), f(4, 16)]),
    ShapeCase(op: .applyUpdate(opt), operands: [f(16, 64), f(16, 64)], expected: [16, 64]),
    // GaLore: left P = U[:, :r] (m×r) for m < n, right P = Vᵀ[:r] (r×n) for m ≥ n; 1 ≤ r ≤ min(m, n).
    ShapeCase(op: svd(4, left: true), operands: [f(16, 64), f(16, 4)], expected: [16, 4]),
    ShapeCase(op: svd(4, left: false), operands: [f(64, 16), f(4, 16)], expected: [4, 16]),
    ShapeCase(op: svd(16, left: true, gap: 1), operands: [f(16, 64), f(16, 16)], expected: [16, 16]),
    ShapeCase(op: svd(1, left: false), operands: [f(3, 3), f(1, 3)], expected: [1, 3]),
]

/// Each activation's gradient needs dy and the saved tensor in one shape (no broadcasting).
private let activationGradErrorCases = Activation.allCases.map {
    ShapeErrorCase(op: .activationGrad($0), operands: [f(2, 3), f(3)], id: "shape-mismatch")
}

let shapeErrorCases: [ShapeErrorCase] =
    activationGradErrorCases + [
        ShapeErrorCase(op: conv(), operands: [f(1, 3, 2, 2), f(8, 3, 3, 3)], id: "bad-size"),
        ShapeErrorCase(op: conv(0), operands: [f(1, 3, 8, 8), f(8, 3, 3, 3)], id: "bad-size"),
        ShapeErrorCase(op: conv(1, -1), operands: [f(1, 3, 8, 8), f(8, 3, 3, 3)], id: "bad-size"),
        ShapeErrorCase(op: conv(1, 0, 1, 0), operands: [f(1, 4, 8, 8), f(8, 4, 3, 3)], id: "bad-size"),
        ShapeErrorCase(op: conv(1, 0, 1, 3), operands: [f(1, 4, 8, 8), f(6, 1, 3, 3)], id: "channel-mismatch"),
        ShapeErrorCase(op: conv(), operands: [f(1, 4, 8, 8), f(8, 3, 3, 3)], id: "channel-mismatch"),
        ShapeErrorCase(op: conv(), operands: [f(1, 4, 8, 8), f(8, 4, 3, 3), f(4)], id: "channel-mismatch"),
        ShapeErrorCase(op: conv(), operands: [f(4, 8, 8), f(8, 4, 3, 3)], id: "rank"),
        ShapeErrorCase(op: conv(), operands: [f(1, 4, 8, 8), f(8, 4, 3)], id: "rank"),
        ShapeErrorCase(op: conv(), operands: [f(1, 4, 8, 8)], id: "arity"),
        ShapeErrorCase(op: maxPool(3, 1, 2), operands: [f(1, 1, 8, 8)], id: "bad-attribute"),
        ShapeErrorCase(op: maxPool(3, 0), operands: [f(1, 1, 8, 8)], id: "bad-size"),
        ShapeErrorCase(op: avgPool(5, 1), operands: [f(1, 1, 4, 4)], id: "bad-size"),
        ShapeErrorCase(op: avgPool(2, 2), operands: [f(1, 4, 4)], id: "rank"),
        ShapeErrorCase(op: .adaptiveAvgPool2d(output: Pair(0, 1)), operands: [f(1, 1, 4, 4)], id: "bad-size"),
        ShapeErrorCase(op: .flatten(startDim: 4), operands: [f(2, 3, 4, 5)], id: "bad-attribute"),
        ShapeErrorCase(op: .flatten(startDim: -1), operands: [f(2, 3)], id: "bad-attribute"),
        ShapeErrorCase(op: .linear, operands: [f(2, 7), f(4, 8)], id: "channel-mismatch"),
        ShapeErrorCase(op: .linear, operands: [f(2, 8), f(4, 8), f(3)], id: "channel-mismatch"),
        ShapeErrorCase(op: .linear, operands: [f(2, 8), f(4, 8, 1)], id: "rank"),
        ShapeErrorCase(op: .add, operands: [f(2, 3), f(2, 4)], id: "shape-mismatch"),
        ShapeErrorCase(op: .mul, operands: [f(2, 16, 7, 7), f(2, 8, 1, 1)], id: "shape-mismatch"),
        ShapeErrorCase(op: .add, operands: [f(2, 3)], id: "arity"),
        ShapeErrorCase(op: .relu, operands: [.i64([2])], id: "dtype"),
        ShapeErrorCase(op: .batchNorm(BatchNormAttrs()), operands: [f(2, 8, 4), f(8), f(8), f(8), f(8)], id: "rank"),
        ShapeErrorCase(
            op: .batchNorm(BatchNormAttrs()), operands: [f(2, 8), f(8), f(4), f(8), f(8)],
            id: "channel-mismatch"),
        ShapeErrorCase(
            op: .batchNorm(BatchNormAttrs(eps: 0)), operands: [f(2, 8), f(8), f(8), f(8), f(8)],
            id: "bad-attribute"),
        ShapeErrorCase(op: .dropout(p: 1), operands: [f(2)], id: "bad-attribute"),
        ShapeErrorCase(op: .dropout(p: -0.1), operands: [f(2)], id: "bad-attribute"),
        // f32 labels fail the generic dtype check before the loss's own shape check.
        ShapeErrorCase(op: .softmaxCrossEntropy, operands: [f(4, 10), f(4)], id: "dtype"),
        ShapeErrorCase(op: .softmaxCrossEntropy, operands: [f(4, 10), .i64([3])], id: "shape-mismatch"),
        ShapeErrorCase(op: .softmaxCrossEntropy, operands: [f(4, 10, 1), .i64([4])], id: "rank"),
        ShapeErrorCase(op: .softmaxCrossEntropy, operands: [.i64([4, 10]), .i64([4])], id: "dtype"),

        // Training-mode forward ops.
        ShapeErrorCase(
            op: .nativeBatchNorm(bn), operands: [f(2, 8, 4, 4), f(4), f(8), f(8), f(8)], id: "channel-mismatch"),
        ShapeErrorCase(op: .nativeBatchNorm(bn), operands: [f(2, 8, 4), f(8), f(8), f(8), f(8)], id: "rank"),
        ShapeErrorCase(op: .maxPool2dWithIndices(pool(2, 2)), operands: [f(1, 4, 4)], id: "rank"),
        ShapeErrorCase(op: .maxPool2dWithIndices(pool(3, 1, 2)), operands: [f(1, 1, 8, 8)], id: "bad-attribute"),
        ShapeErrorCase(op: .nativeDropout(p: 1), operands: [f(2)], id: "bad-attribute"),
        ShapeErrorCase(op: .scale(2), operands: [i64(2)], id: "dtype"),
        ShapeErrorCase(op: .div, operands: [f(8, 3, 3, 3), f(4, 1, 1, 1)], id: "shape-mismatch"),
        ShapeErrorCase(op: .channelNorm, operands: [f()], id: "rank"),
        ShapeErrorCase(op: matmul(false, false), operands: [f(4, 3), f(4, 5)], id: "shape-mismatch"),
        ShapeErrorCase(op: matmul(true, false), operands: [f(4, 3), f(3, 5)], id: "shape-mismatch"),
        ShapeErrorCase(op: matmul(false, true), operands: [f(4, 3), f(3, 5)], id: "shape-mismatch"),
        ShapeErrorCase(op: matmul(false, false), operands: [f(2, 4, 3), f(3, 5)], id: "rank"),
        ShapeErrorCase(op: .reshape(shape: [8, 3, 3, 4]), operands: [f(8, 27)], id: "shape-mismatch"),
        ShapeErrorCase(op: .concat(axis: 1), operands: [f(2, 3, 4, 4), f(2, 5, 4, 5)], id: "shape-mismatch"),
        ShapeErrorCase(op: .concat(axis: 1), operands: [f(2, 3, 4, 4), f(2, 5, 4)], id: "shape-mismatch"),
        ShapeErrorCase(op: .concat(axis: 2), operands: [f(2, 3), f(2, 3)], id: "bad-attribute"),
        ShapeErrorCase(op: .concat(axis: 0), operands: [f(2, 3)], id: "arity"),
        ShapeErrorCase(op: .slice(axis: 1, start: 5, length: 5), operands: [f(2, 9)], id: "bad-attribute"),
        ShapeErrorCase(op: .slice(axis: 2, start: 0, length: 1), operands: [f(2, 9)], id: "bad-attribute"),
        ShapeErrorCase(op: .reshape(shape: [-1, 27]), operands: [f(8, 27)], id: "shape-mismatch"),
        ShapeErrorCase(op: .reshape(shape: [0, 5]), operands: [f(8, 27)], id: "shape-mismatch"),
        ShapeErrorCase(op: .reshape(shape: [1 << 31, 1]), operands: [f(8, 27)], id: "bad-size"),

        // Gradients.
        // (224 + 6 - 7) / 2 + 1 = 112, but 226 gives 113: the stated input does not produce dy.
        ShapeErrorCase(
            op: .conv2dGradInput(convConfigs[0].attrs, input: Pair(226)),
            operands: [f(1, 64, 112, 112), f(64, 3, 7, 7)],
            id: "shape-mismatch"),
        ShapeErrorCase(
            op: .conv2dGradInput(convConfigs[0].attrs, input: Pair(224)),
            operands: [f(1, 64, 113, 112), f(64, 3, 7, 7)],
            id: "shape-mismatch"),
        ShapeErrorCase(
            op: .conv2dGradInput(convConfigs[0].attrs, input: Pair(224)),
            operands: [f(1, 32, 112, 112), f(64, 3, 7, 7)],
            id: "shape-mismatch"),
        // groups 4 does not divide the weight's 6 output channels.
        ShapeErrorCase(
            op: .conv2dGradInput(convAttrs(Pair(1), Pair(2), Pair(2), 4), input: Pair(10)),
            operands: [f(2, 6, 10, 10), f(6, 2, 3, 3)], id: "channel-mismatch"),
        ShapeErrorCase(
            op: .conv2dGradInput(convAttrs(Pair(0)), input: Pair(10)), operands: [f(1, 4, 8, 8), f(4, 4, 3, 3)],
            id: "bad-size"),
        ShapeErrorCase(
            op: .conv2dGradInput(convAttrs(), input: Pair(10)), operands: [f(1, 4, 8, 8), f(4, 4, 3)], id: "rank"),
        ShapeErrorCase(
            op: .conv2dGradInput(convAttrs(), input: Pair(10)), operands: [f(4, 8, 8), f(4, 4, 3, 3)], id: "rank"),
        ShapeErrorCase(
            op: .conv2dGradWeight(convConfigs[0].attrs, kernel: Pair(5)),
            operands: [f(1, 64, 112, 112), f(1, 3, 224, 224)],
            id: "shape-mismatch"),
        ShapeErrorCase(
            op: .conv2dGradWeight(convConfigs[0].attrs, kernel: Pair(7)),
            operands: [f(2, 64, 112, 112), f(1, 3, 224, 224)],
            id: "shape-mismatch"),
        ShapeErrorCase(
            op: .conv2dGradWeight(convAttrs(Pair(1), Pair(0), Pair(1), 3), kernel: Pair(3)),
            operands: [f(1, 6, 8, 8), f(1, 4, 10, 10)], id: "channel-mismatch"),
        ShapeErrorCase(
            op: .conv2dGradWeight(convAttrs(Pair(1), Pair(0), Pair(1), 2), kernel: Pair(3)),
            operands: [f(1, 3, 8, 8), f(1, 4, 10, 10)], id: "channel-mismatch"),
        ShapeErrorCase(
            op: .conv2dGradWeight(convAttrs(), kernel: Pair(3)), operands: [f(1, 6, 8), f(1, 4, 10, 10)], id: "rank"),
        ShapeErrorCase(
            op: .conv2dGradWeight(convAttrs(), kernel: Pair(1 << 31)), operands: [f(1, 6, 8, 8), f(1, 4, 8, 8)],
            id: "bad-size"),
        ShapeErrorCase(op: .biasGrad, operands: [f(10)], id: "rank"),
        ShapeErrorCase(
            op: .batchNormGrad(bn), operands: [f(2, 8, 4, 4), f(2, 8, 4, 5), f(8), f(8), f(8), f(8), f(8)],
            id: "shape-mismatch"),
        ShapeErrorCase(
            op: .batchNormGrad(bn), operands: [f(2, 8, 4, 4), f(2, 8, 4, 4), f(4), f(8), f(8), f(8), f(8)],
            id: "channel-mismatch"),
        ShapeErrorCase(
            op: .batchNormGrad(bn), operands: [f(2, 8, 4, 4), f(2, 8, 4, 4), f(8), f(8), f(8), f(8), f(4)],
            id: "channel-mismatch"),
        ShapeErrorCase(
            op: .batchNormGrad(bn), operands: [f(2, 8, 4), f(2, 8, 4), f(8), f(8), f(8), f(8), f(8)], id: "rank"),
        ShapeErrorCase(op: .batchNormGrad(bn), operands: [f(2, 8), f(2, 8), f(8), f(8), f(8), f(8)], id: "arity"),
        ShapeErrorCase(
            op: .batchNormGrad(BatchNormAttrs(eps: 0)), operands: [f(2, 8), f(2, 8), f(8), f(8), f(8), f(8), f(8)],
            id: "bad-attribute"),
        ShapeErrorCase(op: .activationGrad(.relu), operands: [f(2, 3)], id: "arity"),
        ShapeErrorCase(op: .activationGrad(.silu), operands: [f(2, 3), i64(2, 3)], id: "dtype"),
        ShapeErrorCase(
            op: .maxPool2dGrad(pool(3, 2, 1)), operands: [f(1, 64, 56, 56), f(1, 64, 112, 112), f(1, 64, 56, 56)],
            id: "dtype"),
        ShapeErrorCase(
            op: .maxPool2dGrad(pool(3, 2, 1)), operands: [f(1, 64, 56, 56), f(1, 64, 112, 112), i64(1, 64, 57, 57)],
            id: "shape-mismatch"),
        ShapeErrorCase(
            op: .maxPool2dGrad(pool(3, 2, 1)), operands: [f(1, 64, 57, 57), f(1, 64, 112, 112), i64(1, 64, 57, 57)],
            id: "shape-mismatch"),
        ShapeErrorCase(
            op: .maxPool2dGrad(pool(3, 2, 1)), operands: [f(1, 64, 56, 56), f(1, 64, 112, 112)], id: "arity"),
        ShapeErrorCase(
            op: .avgPool2dGrad(pool(3, 3, ceil: true)), operands: [f(1, 2, 3, 3), f(1, 2, 10, 10)],
            id: "shape-mismatch"),
        ShapeErrorCase(op: .adaptiveAvgPool2dGrad, operands: [f(2, 256, 1, 1), f(2, 512, 7, 7)], id: "shape-mismatch"),
        ShapeErrorCase(op: .adaptiveAvgPool2dGrad, operands: [f(2, 512), f(2, 512, 7, 7)], id: "rank"),
        ShapeErrorCase(op: .linearGradInput, operands: [f(2, 3), f(4, 8)], id: "shape-mismatch"),
        ShapeErrorCase(op: .linearGradWeight, operands: [f(2, 4), f(3, 8)], id: "shape-mismatch"),
        ShapeErrorCase(op: .linearGradWeight, operands: [f(2, 5, 4), f(2, 5, 8)], id: "shape-mismatch"),
        ShapeErrorCase(op: .dropoutGrad(p: 0.5), operands: [f(4, 4), f(4, 4)], id: "dtype"),
        ShapeErrorCase(op: .activationMask(.relu), operands: [i64(4)], id: "dtype"),
        ShapeErrorCase(op: .activationMask(.relu6), operands: [i64(4)], id: "dtype"),
        ShapeErrorCase(op: .activationMask(.silu), operands: [f(4)], id: "bad-attribute"),
        ShapeErrorCase(op: .reluMaskGrad, operands: [f(4, 4), mask(4, 4)], id: "dtype"),
        ShapeErrorCase(op: .reluMaskGrad, operands: [f(4, 4), bits(4, 5)], id: "shape-mismatch"),
        ShapeErrorCase(
            op: .batchNormFrozenGrad(BatchNormAttrs()), operands: [f(2, 8, 4, 4), f(4), f(8), f(8)],
            id: "channel-mismatch"),
        ShapeErrorCase(
            op: .batchNormFrozenGrad(BatchNormAttrs()), operands: [f(2, 8, 4, 4), f(8), f(8), f(8), f(2, 8, 4, 5)],
            id: "shape-mismatch"),
        ShapeErrorCase(op: .dropoutGrad(p: 0.5), operands: [f(4, 4), mask(4, 5)], id: "shape-mismatch"),
        ShapeErrorCase(op: .dropoutGrad(p: 1), operands: [f(4, 4), mask(4, 4)], id: "bad-attribute"),
        ShapeErrorCase(op: .softmaxCrossEntropyGrad, operands: [f(4, 10), f(4)], id: "dtype"),
        ShapeErrorCase(op: .softmaxCrossEntropyGrad, operands: [f(4, 10), i64(3)], id: "shape-mismatch"),
        ShapeErrorCase(op: .sumTo(shape: [8, 1, 1]), operands: [f(2, 16, 7, 7)], id: "shape-mismatch"),
        ShapeErrorCase(op: .sumTo(shape: [1, 2, 3]), operands: [f(2, 3)], id: "shape-mismatch"),
        ShapeErrorCase(op: .sumTo(shape: [0]), operands: [f(2, 3)], id: "shape-mismatch"),
        ShapeErrorCase(op: .sumTo(shape: [2, 1]), operands: [f(2, 3), f(2, 3)], id: "arity"),

        // Optimizer steps.
        ShapeErrorCase(op: .sgdUpdate(opt), operands: [f(8, 3), f(3, 8)], id: "shape-mismatch"),
        ShapeErrorCase(op: .momentumUpdate(opt), operands: [f(8, 3), f(8, 3), f(8)], id: "shape-mismatch"),
        ShapeErrorCase(op: .adamUpdate(opt), operands: [f(8, 3), f(8, 3), f(8, 3), f(8, 4)], id: "shape-mismatch"),
        ShapeErrorCase(op: .adamUpdate(opt), operands: [f(8, 3), f(8, 3), f(8, 3)], id: "arity"),
        ShapeErrorCase(op: .adamDirection(opt), operands: [f(4, 16), f(16, 4), f(4, 16)], id: "shape-mismatch"),
        ShapeErrorCase(op: .applyUpdate(opt), operands: [f(16, 64), i64(16, 64)], id: "dtype"),
        ShapeErrorCase(op: svd(17, left: true), operands: [f(16, 64), f(16, 17)], id: "bad-size"),
        ShapeErrorCase(op: svd(0, left: false), operands: [f(64, 16), f(1, 16)], id: "bad-size"),
        ShapeErrorCase(op: svd(4, left: false, gap: 0), operands: [f(64, 16), f(4, 16)], id: "bad-attribute"),
        ShapeErrorCase(op: svd(4, left: false), operands: [f(2, 64, 16), f(4, 16)], id: "rank"),
        ShapeErrorCase(op: svd(4, left: false), operands: [f(64, 16), f(16, 4)], id: "shape-mismatch"),
        ShapeErrorCase(op: svd(4, left: false), operands: [f(64, 16)], id: "arity"),
    ]

@Suite struct IRShapeInferenceTests {
    @Test(arguments: shapeCases) func infers(_ c: ShapeCase) throws {
        #expect(try c.op.inferTypes(c.operands) == c.results)
        #expect(c.results.count == c.op.outputCount)
    }

    @Test(arguments: shapeErrorCases) func rejects(_ c: ShapeErrorCase) {
        #expect(throws: ShapeError.self) { _ = try c.op.inferTypes(c.operands) }
        do {
            _ = try c.op.inferTypes(c.operands)
        } catch {
            #expect(error.id == c.id, "\(error.message)")
        }
    }

    @Test func everyOpHasAShapeCase() {
        #expect(
            Set(shapeCases.map(\.op.name)).union(["relu", "relu6", "hardsigmoid", "silu", "sigmoid"])
                == Set(Op.allNames))
    }

    /// Every op but the forward activations (which accept any f32 tensor) has a rejection case.
    @Test func everyOpHasARejectionCase() {
        let anyShape: Set = ["relu6", "hardswish", "hardsigmoid", "silu", "sigmoid"]
        let missing = Set(Op.allNames).subtracting(anyShape).subtracting(shapeErrorCases.map(\.op.name))
        #expect(missing.isEmpty, "\(missing.sorted())")
    }

    /// The conv gradients' shapes are those of the forward conv's operands: for each configuration,
    /// grad-input gives x's type and grad-weight the weight's, from dy of the forward output's shape.
    @Test func convGradientsInvertTheForwardConv() throws {
        for c in convConfigs {
            #expect(try Op.conv2d(c.attrs).inferTypes([.f32(c.x), .f32(c.w)]) == [.f32(c.y)])
            let input = Pair(c.x[2], c.x[3]), kernel = Pair(c.w[2], c.w[3])
            #expect(try Op.conv2dGradInput(c.attrs, input: input).inferTypes([.f32(c.y), .f32(c.w)]) == [.f32(c.x)])
            #expect(try Op.conv2dGradWeight(c.attrs, kernel: kernel).inferTypes([.f32(c.y), .f32(c.x)]) == [.f32(c.w)])
        }
    }

    /// Exhaustively over small sizes: whenever conv2d(x, w) = y, grad-input(y, w) gives x and
    /// grad-weight(y, x) gives w, for every stride, padding, dilation and groups (depthwise included).
    @Test func convGradientsAgreeWithTheForwardConvEverywhere() throws {
        var checked = 0
        for n in 1...7 {
            for k in 1...3 {
                for s in 1...3 {
                    for p in 0...2 {
                        for d in 1...2 {
                            for (c, g) in [(1, 1), (4, 1), (4, 2), (4, 4)] {
                                let a = convAttrs(Pair(s, 1), Pair(p, 0), Pair(d, 1), g)
                                let x = TensorType.f32([2, c, n, 3]), w = TensorType.f32([2 * g, c / g, k, 1])
                                guard let y = try? Op.conv2d(a).inferTypes([x, w])[0] else { continue }
                                #expect(try Op.conv2dGradInput(a, input: Pair(n, 3)).inferTypes([y, w]) == [x])
                                #expect(try Op.conv2dGradWeight(a, kernel: Pair(k, 1)).inferTypes([y, x]) == [w])
                                checked += 1
                            }
                        }
                    }
                }
            }
        }
        #expect(checked > 500)
    }

    /// Every pooling configuration over small sizes against a direct transcription of PyTorch's
    /// `pooling_output_shape` (aten/src/ATen/native/Pool.h).
    @Test func poolingMatchesPyTorchEverywhere() throws {
        func torch(_ n: Int, _ k: Int, _ s: Int, _ p: Int, _ ceil: Bool) -> Int {
            let numerator = n + 2 * p - (k - 1) - 1 + (ceil ? s - 1 : 0)
            var out = numerator / s + 1  // numerator >= 0 here
            if ceil && (out - 1) * s >= n + p { out -= 1 }
            return out
        }
        for n in 1...12 {
            for k in 1...4 where k <= n {
                for s in 1...4 {
                    for p in 0...k / 2 {
                        for ceil in [false, true] {
                            let op = maxPool(k, s, p, ceil: ceil)
                            let h = try op.inferTypes([f(1, 1, n, n)])[0].shape[2]
                            #expect(h == torch(n, k, s, p, ceil), "n \(n) k \(k) s \(s) p \(p) ceil \(ceil)")
                        }
                    }
                }
            }
        }
    }
}
