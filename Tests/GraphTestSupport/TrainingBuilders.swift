// Small training graphs built by hand with the training ops (forward → loss → backward → updates), for
// analyses whose expected numbers are worked out on paper.
import GraphIR

extension Builders {
    /// conv3x3(3→4, pad 1) → native_batch_norm → relu → global avg pool → flatten → linear(4→3) →
    /// softmax cross-entropy, its backward (no input gradient for the conv: the batch needs none) and Adam
    /// updates, at batch 2 on 4x4 images. With `releaseGrads` each update follows its gradient; with
    /// `galore` the linear weight takes GaLore's projected Adam (rank 2, left projector), named as
    /// `OptimizerPass` names it (the gradient reshaped to its own shape, to exercise the view).
    /// Nodes in order: conv1, bn1, relu, avgpool, flatten, fc, loss, loss.grad, fc.grad_weight,
    /// fc.grad_bias, fc.grad_input, flatten.grad, avgpool.grad, relu.grad, bn1.grad, conv1.grad_weight,
    /// then the updates (conv1.weight, bn1.weight, bn1.bias, fc.weight, fc.bias by default).
    public static func tinyTrainingStep(releaseGrads: Bool = false, galore: Bool = false) throws(ShapeError) -> Graph {
        var b = GraphBuilder(name: "tiny_training")
        let x = b.input("input", .f32([2, 3, 4, 4]))
        let labels = b.input("labels", .i64([2]))
        let convW = b.parameter("conv1.weight", [4, 3, 3, 3], role: .weight)
        let gamma = b.parameter("bn1.weight", [4], role: .bnGamma)
        let beta = b.parameter("bn1.bias", [4], role: .bnBeta)
        let mean = b.parameter("bn1.running_mean", [4], role: .runningMean)
        let variance = b.parameter("bn1.running_var", [4], role: .runningVar)
        let fcW = b.parameter("fc.weight", [3, 4], role: .weight)
        let fcB = b.parameter("fc.bias", [3], role: .bias)
        let adam = Op.adamUpdate(OptimizerAttrs(lr: 1e-3))
        var outputs: [ValueID] = []

        func update(_ b: inout GraphBuilder, _ p: ValueID, _ g: ValueID, _ name: String) throws(ShapeError) {
            let shape = b.type(of: p).shape
            let m = b.parameter("\(name).exp_avg", shape, role: .expAvg)
            let v = b.parameter("\(name).exp_avg_sq", shape, role: .expAvgSq)
            outputs += try b.node(adam, [p, g, m, v], name: "\(name).update", phase: .optimizer)
            // The records autodiff and the optimizer leave (liveness reads the gradients from them).
            b.records.setGradient(g, of: p)
            b.records.setOptimizer(OptimizerRecord(update: b.graph.nodes.count - 1, state: [m, v]), of: p)
        }
        func galoreUpdate(_ b: inout GraphBuilder, _ p: ValueID, _ g: ValueID, _ name: String) throws(ShapeError) {
            let m = b.parameter("\(name).exp_avg", [2, 4], role: .expAvg)
            let v = b.parameter("\(name).exp_avg_sq", [2, 4], role: .expAvgSq)
            let stored = b.parameter("\(name).galore_projector", [3, 2], role: .galoreProjector)
            let o = Phase.optimizer
            let gm = try b.node(.reshape(shape: [3, 4]), [g], name: "\(name).galore.grad", phase: o)[0]
            let proj = try b.node(
                .svdProjector(ProjectorAttrs(rank: 2, left: true, gap: 200)), [gm, stored],
                name: "\(name).galore.projector", phase: o)[0]
            let r = try b.node(
                .matmul(transposeA: true, transposeB: false), [proj, gm], name: "\(name).galore.project",
                phase: o)[0]
            let dir = try b.node(
                .adamDirection(OptimizerAttrs(lr: 1e-3)), [r, m, v], name: "\(name).galore.adam",
                phase: o)
            let back = try b.node(
                .matmul(transposeA: false, transposeB: false), [proj, dir[0]],
                name: "\(name).galore.back", phase: o)[0]
            let scaled = try b.node(.scale(0.25), [back], name: "\(name).galore.scale", phase: o)[0]
            let u = try b.node(.reshape(shape: [3, 4]), [scaled], name: "\(name).galore.reshape", phase: o)[0]
            outputs += try b.node(.applyUpdate(OptimizerAttrs(lr: 1e-3)), [p, u], name: "\(name).update", phase: o)
            outputs += [dir[1], dir[2], proj]
            b.records.setGradient(g, of: p)
            b.records.setOptimizer(OptimizerRecord(update: b.graph.nodes.count - 1, state: [m, v, stored]), of: p)
        }

        let conv = try b.node(.conv2d(Conv2dAttrs(padding: Pair(1))), [x, convW], name: "conv1")[0]
        let bn = try b.node(
            .nativeBatchNorm(BatchNormAttrs(training: true)), [conv, gamma, beta, mean, variance],
            name: "bn1")
        let relu = try b.node(.relu, [bn[0]], name: "relu")[0]
        let pool = try b.node(.adaptiveAvgPool2d(output: Pair(1)), [relu], name: "avgpool")[0]
        let flat = try b.node(.flatten(startDim: 1), [pool], name: "flatten")[0]
        let logits = try b.node(.linear, [flat, fcW, fcB], name: "fc")[0]
        let loss = try b.node(.softmaxCrossEntropy, [logits, labels], name: "loss")[0]
        outputs.append(loss)

        let back = Phase.backward
        let dLogits = try b.node(.softmaxCrossEntropyGrad, [logits, labels], name: "loss.grad", phase: back)[0]
        let dFcW = try b.node(.linearGradWeight, [dLogits, flat], name: "fc.grad_weight", phase: back)[0]
        if releaseGrads { try update(&b, fcW, dFcW, "fc.weight") }
        let dFcB = try b.node(.biasGrad, [dLogits], name: "fc.grad_bias", phase: back)[0]
        if releaseGrads { try update(&b, fcB, dFcB, "fc.bias") }
        let dFlat = try b.node(.linearGradInput, [dLogits, fcW], name: "fc.grad_input", phase: back)[0]
        let dPool = try b.node(.reshape(shape: [2, 4, 1, 1]), [dFlat], name: "flatten.grad", phase: back)[0]
        let dRelu = try b.node(.adaptiveAvgPool2dGrad, [dPool, relu], name: "avgpool.grad", phase: back)[0]
        let dBn = try b.node(.activationGrad(.relu), [dRelu, relu], name: "relu.grad", phase: back)[0]
        let dConv = try b.node(
            .batchNormGrad(BatchNormAttrs(training: true)),
            [dBn, conv, gamma, mean, variance, bn[1], bn[2]], name: "bn1.grad", phase: back)
        if releaseGrads {
            try update(&b, gamma, dConv[1], "bn1.weight")
            try update(&b, beta, dConv[2], "bn1.bias")
        }
        let dConvW = try b.node(
            .conv2dGradWeight(Conv2dAttrs(padding: Pair(1)), kernel: Pair(3)), [dConv[0], x],
            name: "conv1.grad_weight", phase: back)[0]
        if releaseGrads {
            try update(&b, convW, dConvW, "conv1.weight")
        } else {
            try update(&b, convW, dConvW, "conv1.weight")
            try update(&b, gamma, dConv[1], "bn1.weight")
            try update(&b, beta, dConv[2], "bn1.bias")
            if galore { try galoreUpdate(&b, fcW, dFcW, "fc.weight") } else { try update(&b, fcW, dFcW, "fc.weight") }
            try update(&b, fcB, dFcB, "fc.bias")
        }
        for o in outputs { b.output(o) }
        return b.graph
    }

    /// A depthwise conv3x3 (8 channels, pad 1) on a 1x8x5x5 batch, its weight gradient (backward) and an
    /// SGD update: the case where the study's profiler over-counts the weight gradient `groups` times.
    public static func depthwiseWeightGradient() throws(ShapeError) -> Graph {
        var b = GraphBuilder(name: "depthwise_grad")
        let x = b.input("input", .f32([1, 8, 5, 5]))
        let w = b.parameter("dw.weight", [8, 1, 3, 3], role: .weight)
        let attrs = Conv2dAttrs(padding: Pair(1), groups: 8)
        let y = try b.node(.conv2d(attrs), [x, w], name: "dw")[0]
        let dw = try b.node(
            .conv2dGradWeight(attrs, kernel: Pair(3)), [y, x], name: "dw.grad_weight",
            phase: .backward)[0]
        let updated = try b.node(
            .sgdUpdate(OptimizerAttrs(lr: 0.1)), [w, dw], name: "dw.weight.update",
            phase: .optimizer)[0]
        b.output(updated)
        return b.graph
    }

    /// A chain of `length` nodes alternating relu and scale on a 1x64 tensor: large graphs for timing.
    public static func chain(length: Int) throws(ShapeError) -> Graph {
        var b = GraphBuilder(name: "chain")
        var x = b.input("input", .f32([1, 64]))
        for i in 0..<length {
            x = try b.node(i % 2 == 0 ? .relu : .scale(0.5), [x], name: "n\(i)")[0]
        }
        b.output(x)
        return b.graph
    }
}
