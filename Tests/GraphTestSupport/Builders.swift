// Small graphs for tests, built with GraphBuilder so their types are inferred, plus a seeded random
// graph generator for property tests. Names follow PyTorch's state_dict conventions.
import GraphIR

/// Hand-written graphs covering the shapes of real CNNs.
public enum Builders {
    /// conv3x3(3→8, pad 1, no bias) → BN → ReLU → depthwise conv3x3 → BN → ReLU → global avg pool →
    /// flatten → linear(8→4): the network of `/work/shared/fixtures/tiny_convnet_pytorch.json`.
    public static func tinyConvnet(batch: Int = 2) throws(ShapeError) -> Graph {
        var b = GraphBuilder(name: "tiny_convnet")
        var x = b.input("input", .f32([batch, 3, 8, 8]))
        x = try b.conv2d(x, out: 8, kernel: Pair(3), padding: Pair(1), name: "features.0")
        x = try b.batchNorm(x, name: "features.1")
        x = try b.apply(.relu, x, name: "features.2")
        x = try b.conv2d(x, out: 8, kernel: Pair(3), padding: Pair(1), groups: 8, name: "features.3")
        x = try b.batchNorm(x, name: "features.4")
        x = try b.apply(.relu, x, name: "features.5")
        x = try b.apply(.adaptiveAvgPool2d(output: Pair(1)), x, name: "avgpool")
        x = try b.apply(.flatten(startDim: 1), x, name: "flatten")
        x = try b.linear(x, out: 4, name: "classifier")
        b.output(x)
        return b.graph
    }

    /// torchvision's BasicBlock with a downsampling shortcut: two conv-BN pairs and an `add`.
    public static func residualBlock() throws(ShapeError) -> Graph {
        var b = GraphBuilder(name: "residual_block")
        let input = b.input("input", .f32([1, 8, 16, 16]))
        let scope = "layer2.0"
        var x = try b.conv2d(
            input, out: 16, kernel: Pair(3), stride: Pair(2), padding: Pair(1),
            name: "\(scope).conv1", scope: scope)
        x = try b.batchNorm(x, name: "\(scope).bn1", scope: scope)
        x = try b.apply(.relu, x, name: "\(scope).relu", scope: scope)
        x = try b.conv2d(x, out: 16, kernel: Pair(3), padding: Pair(1), name: "\(scope).conv2", scope: scope)
        x = try b.batchNorm(x, name: "\(scope).bn2", scope: scope)
        var s = try b.conv2d(
            input, out: 16, kernel: Pair(1), stride: Pair(2), name: "\(scope).downsample.0",
            scope: scope)
        s = try b.batchNorm(s, name: "\(scope).downsample.1", scope: scope)
        x = try b.apply(.add, x, s, name: "\(scope).add", scope: scope)
        x = try b.apply(.relu, x, name: "\(scope).relu2", scope: scope)
        b.output(x)
        return b.graph
    }

    /// MobileNetV3's squeeze-excitation: pool → fc1 (1x1 conv) → ReLU → fc2 → hardsigmoid → x · scale,
    /// a `mul` broadcasting [N, C, 1, 1] over [N, C, H, W].
    public static func squeezeExcitation() throws(ShapeError) -> Graph {
        var b = GraphBuilder(name: "squeeze_excitation")
        let x = b.input("input", .f32([2, 16, 7, 7]))
        let scope = "features.4.block.2"
        var s = try b.apply(.adaptiveAvgPool2d(output: Pair(1)), x, name: "\(scope).avgpool", scope: scope)
        s = try b.conv2d(s, out: 4, kernel: Pair(1), bias: true, name: "\(scope).fc1", scope: scope)
        s = try b.apply(.relu, s, name: "\(scope).relu", scope: scope)
        s = try b.conv2d(s, out: 16, kernel: Pair(1), bias: true, name: "\(scope).fc2", scope: scope)
        s = try b.apply(.hardsigmoid, s, name: "\(scope).scale_activation", scope: scope)
        let y = try b.apply(.mul, s, x, name: "\(scope).mul", scope: scope)
        b.output(y)
        return b.graph
    }

    /// A training graph that uses every op at least once, frozen parameters, a 2-D batch norm, two
    /// outputs and a loss over i64 labels.
    public static func everyOp() throws(ShapeError) -> Graph {
        var b = GraphBuilder(name: "every_op")
        let input = b.input("input", .f32([2, 3, 17, 17]))
        let labels = b.input("labels", .i64([2]))
        var x = try b.conv2d(
            input, out: 8, kernel: Pair(3), stride: Pair(1), padding: Pair(1), bias: true,
            name: "stem.conv")
        x = try b.batchNorm(x, eps: 1e-3, momentum: 0.01, training: true, name: "stem.bn")
        x = try b.apply(.relu6, x, name: "stem.relu6")
        x = try b.conv2d(
            x, out: 8, kernel: Pair(3, 1), padding: Pair(2, 1), dilation: Pair(2, 1), groups: 4,
            name: "block.conv", scope: "block")
        x = try b.apply(.hardswish, x, name: "block.hardswish", scope: "block")
        x = try b.apply(
            .maxPool2d(Pool2dAttrs(kernel: Pair(3), stride: Pair(2), padding: Pair(1), ceilMode: true)),
            x, name: "block.maxpool", scope: "block")
        x = try b.apply(
            .avgPool2d(Pool2dAttrs(kernel: Pair(2), stride: Pair(2), ceilMode: true, countIncludePad: false)),
            x, name: "block.avgpool", scope: "block")
        let gate = try b.apply(.sigmoid, x, name: "gate")
        let s = try b.apply(.silu, x, name: "silu")
        x = try b.apply(.mul, s, gate, name: "mul")
        x = try b.apply(.add, x, s, name: "add")
        x = try b.apply(.hardsigmoid, x, name: "hardsigmoid")
        x = try b.apply(.adaptiveAvgPool2d(output: Pair(2, 1)), x, name: "pool")
        x = try b.apply(.flatten(startDim: 1), x, name: "flatten")
        x = try b.apply(.dropout(p: 0.2), x, name: "dropout")
        x = try b.linear(x, out: 6, name: "fc1")
        x = try b.batchNorm(x, name: "fc1.bn")
        x = try b.apply(.relu, x, name: "fc1.relu")
        let w = b.parameter("head.weight", [5, 6], role: .weight, trainable: false)
        let bias = b.parameter("head.bias", [5], role: .bias, trainable: false)
        let logits = try b.apply(.linear, x, w, bias, name: "head")
        let loss = try b.apply(.softmaxCrossEntropy, logits, labels, name: "loss")
        b.output(loss)
        b.output(logits)
        return b.graph
    }

    /// A tiny convnet's training step, written out by hand: the forward pass in training mode
    /// (native_batch_norm, max_pool2d_with_indices, native_dropout: multi-output, i64 indices, bool
    /// mask), the loss, the backward ops PyTorch's autograd would run (phase backward; no gradient of
    /// the input batch and none for the frozen BN affine) and the updates (phase optimizer): AdamW for
    /// the conv, momentum for the classifier weight, SGD for its bias.
    public static func trainingConvnet() throws(ShapeError) -> Graph {
        var b = GraphBuilder(name: "training_convnet")
        let input = b.input("input", .f32([2, 3, 8, 8]))
        let labels = b.input("labels", .i64([2]))
        let w0 = b.parameter("features.0.weight", [4, 3, 3, 3], role: .weight)
        let gamma = b.parameter("features.1.weight", [4], role: .bnGamma, trainable: false)
        let beta = b.parameter("features.1.bias", [4], role: .bnBeta, trainable: false)
        let mean = b.parameter("features.1.running_mean", [4], role: .runningMean)
        let variance = b.parameter("features.1.running_var", [4], role: .runningVar)
        let fcW = b.parameter("classifier.weight", [3, 4], role: .weight)
        let fcB = b.parameter("classifier.bias", [3], role: .bias)
        let conv = Conv2dAttrs(padding: Pair(1))
        let bnAttrs = BatchNormAttrs(training: true)
        let pool = Pool2dAttrs(kernel: Pair(2))

        let c0 = try b.node(.conv2d(conv), [input, w0], name: "features.0", scope: "features")[0]
        let bn = try b.node(
            .nativeBatchNorm(bnAttrs), [c0, gamma, beta, mean, variance], name: "features.1",
            scope: "features")
        let r = try b.node(.relu, [bn[0]], name: "features.2", scope: "features")[0]
        let mp = try b.node(.maxPool2dWithIndices(pool), [r], name: "features.3", scope: "features")
        let gap = try b.node(.adaptiveAvgPool2d(output: Pair(1)), [mp[0]], name: "avgpool")[0]
        let flat = try b.node(.flatten(startDim: 1), [gap], name: "flatten")[0]
        let drop = try b.node(.nativeDropout(p: 0.25), [flat], name: "dropout")
        let logits = try b.node(.linear, [drop[0], fcW, fcB], name: "classifier")[0]
        let loss = try b.node(.softmaxCrossEntropy, [logits, labels], name: "loss")[0]

        func back(_ op: Op, _ inputs: [ValueID], _ name: String, _ scope: String = "") throws(ShapeError) -> ValueList {
            try b.node(op, inputs, name: name, scope: scope, phase: .backward)
        }
        let dLogits = try back(.softmaxCrossEntropyGrad, [logits, labels], "loss.grad_input")[0]
        let dFcW = try back(.linearGradWeight, [dLogits, drop[0]], "classifier.grad_weight")[0]
        let dFcB = try back(.biasGrad, [dLogits], "classifier.grad_bias")[0]
        let dDrop = try back(.linearGradInput, [dLogits, fcW], "classifier.grad_input")[0]
        let dFlat = try back(.dropoutGrad(p: 0.25), [dDrop, drop[1]], "dropout.grad_input")[0]
        let dGap = try back(.reshape(shape: [2, 4, 1, 1]), [dFlat], "flatten.grad_input")[0]
        let dPool = try back(.adaptiveAvgPool2dGrad, [dGap, mp[0]], "avgpool.grad_input")[0]
        let dRelu = try back(.maxPool2dGrad(pool), [dPool, r, mp[1]], "features.3.grad_input", "features")[0]
        let dBn = try back(.activationGrad(.relu), [dRelu, r], "features.2.grad_input", "features")[0]
        let bnGrads = try back(
            .batchNormGrad(bnAttrs), [dBn, c0, gamma, mean, variance, bn[1], bn[2]],
            "features.1.grad", "features")
        let dW0 = try back(
            .conv2dGradWeight(conv, kernel: Pair(3)), [bnGrads[0], input], "features.0.grad_weight",
            "features")[0]

        let expAvg = b.parameter("features.0.weight.exp_avg", [4, 3, 3, 3], role: .expAvg)
        let expAvgSq = b.parameter("features.0.weight.exp_avg_sq", [4, 3, 3, 3], role: .expAvgSq)
        let buffer = b.parameter("classifier.weight.momentum_buffer", [3, 4], role: .momentumBuffer)
        let adamW = OptimizerAttrs(lr: 1e-3, weightDecay: 0.01, decoupled: true)
        let sgd = OptimizerAttrs(lr: 0.1, momentum: 0.9)
        let u0 = try b.node(
            .adamUpdate(adamW), [w0, dW0, expAvg, expAvgSq], name: "features.0.weight.update",
            phase: .optimizer)
        let u1 = try b.node(
            .momentumUpdate(sgd), [fcW, dFcW, buffer], name: "classifier.weight.update",
            phase: .optimizer)
        let u2 = try b.node(.sgdUpdate(sgd), [fcB, dFcB], name: "classifier.bias.update", phase: .optimizer)
        // The records autodiff and the optimizer would leave: nodes 9 ... 19 are backward, in the order
        // above, differentiating loss (8), classifier (7) three times, then dropout (6) down to conv (0).
        for (k, forward) in [8, 7, 7, 7, 6, 5, 4, 3, 2, 1, 0].enumerated() {
            b.records.setOrigin(.node(forward), ofNode: 9 + k)
        }
        b.records.setGradient(dW0, of: w0)
        b.records.setGradient(dFcW, of: fcW)
        b.records.setGradient(dFcB, of: fcB)
        b.records.setOptimizer(OptimizerRecord(update: 20, state: [expAvg, expAvgSq]), of: w0)
        b.records.setOptimizer(OptimizerRecord(update: 21, state: [buffer]), of: fcW)
        b.records.setOptimizer(OptimizerRecord(update: 22, state: []), of: fcB)
        b.output(loss)
        for id in u0.array + u1.array + u2.array { b.output(id) }
        return b.graph
    }

    /// Every builder, named.
    public static func all() throws(ShapeError) -> [(name: String, graph: Graph)] {
        [
            ("tiny_convnet", try tinyConvnet()), ("residual_block", try residualBlock()),
            ("squeeze_excitation", try squeezeExcitation()), ("every_op", try everyOp()),
            ("training_convnet", try trainingConvnet()),
        ]
    }
}

/// Random valid graphs: a chain of ops with random valid attributes and shapes, branching now and
/// then (residual adds, SE-style muls), with awkward names to exercise string escapes.
///
/// Two of three seeds are training graphs: the forward chain uses the training-mode ops
/// (native_batch_norm, max_pool2d_with_indices, native_dropout), some layers take LoRA or DoRA
/// weight-space ops (matmul with random transposes, reshape, scale, channel_norm, div), then the
/// backward pass (phase backward) runs each layer's gradient ops in reverse from the loss's gradient (or
/// a `grad_output` input), and each trainable parameter gets an update (phase optimizer): SGD,
/// momentum, Adam/AdamW, or GaLore's projected Adam (svd_projector or a stored projector, matmul,
/// adam_direction, apply_update) with its state parameters.
public enum RandomGraphs {
    public static func make(seed: UInt64) -> Graph { makeReporting(seed: seed).graph }

    /// LoRA's weight-space ops over a frozen base weight, with DoRA's magnitude when `dora` is set.
    private struct Adapter {
        var a: ValueID, b: ValueID
        var transposeA: Bool, transposeB: Bool
        var factor: Double
        /// The weight's shape, and its 2-D view [out, fan-in].
        var shape: Shape, matrix: Shape
        /// DoRA: direction V / ‖V‖, the norm, the magnitude.
        var dora: (direction: ValueID, norm: ValueID, magnitude: ValueID)?
    }

    private struct Weight {
        var value: ValueID
        var adapter: Adapter?
    }

    /// What a forward step saved for its backward.
    private enum Step {
        case activation(Activation, x: ValueID, y: ValueID)
        case dropout(p: Double, mask: ValueID)
        case batchNorm(
            BatchNormAttrs, x: ValueID, gamma: ValueID, beta: ValueID, mean: ValueID, variance: ValueID,
            batchMean: ValueID, invstd: ValueID)
        case linear(x: ValueID, weight: Weight, bias: ValueID?)
        case conv(Conv2dAttrs, x: ValueID, weight: Weight, bias: ValueID?)
        case maxPool(Pool2dAttrs, x: ValueID, indices: ValueID)
        case avgPool(Pool2dAttrs, x: ValueID)
        case adaptive(x: ValueID)
        case flatten(x: ValueID)
        case merge(mul: Bool, other: ValueID)
        case squeeze(x: ValueID, scale: ValueID)
        case concat(axis: Int, length: Int)
    }

    /// The graph, and the generator's own failures: a backward or optimizer node that did not
    /// type-check (a bug in the generator or in shape inference). Tests expect none.
    public static func makeReporting(seed: UInt64) -> (graph: Graph, problems: [String]) {
        var rng = SplitMix64(seed: seed)
        var b = GraphBuilder(name: "random_\(seed)")
        var problems: [String] = []
        func pick<T>(_ xs: [T]) -> T { xs[Int.random(in: 0..<xs.count, using: &rng)] }
        func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &rng) }
        func bool() -> Bool { Bool.random(using: &rng) }
        func real(_ r: ClosedRange<Double>) -> Double { Double.random(in: r, using: &rng) }
        let oddNames = [
            "", "a \"quoted\" name", "back\\slash", "tab\tand\nnewline", "ünïcödé.层", "#not a comment",
            "ctrl\u{1}char", "in", "backward", "optimizer",
        ]
        var counter = 0
        func name(_ base: String) -> String {
            counter += 1
            return int(0...9) == 0 ? pick(oddNames) + "\(counter)" : "\(base).\(counter)"
        }
        func randomScope() -> String { bool() ? "" : pick(["block", "layer1.0", "features.3", "backward"]) }
        let training = int(0...2) > 0

        /// A layer weight of `shape`: a parameter, or in training graphs sometimes LoRA (and DoRA) over a
        /// frozen one. Nodes go into `g`, which the caller keeps only if the whole layer type-checks.
        func weight(_ g: inout GraphBuilder, _ shape: Shape, _ layer: String, _ scope: String) throws(ShapeError)
            -> Weight
        {
            let w = g.parameter("\(layer).weight", shape, role: .weight)
            guard training, int(0...2) == 0 else { return Weight(value: w, adapter: nil) }
            g.setTrainable(w, false)
            let out = shape[0], fanIn = shape.dropFirst().reduce(1, *), r = int(1...3)
            let ta = bool(), tb = bool()
            let bParam = g.parameter("\(layer).lora_B.weight", ta ? [r, out] : [out, r], role: .loraB)
            let aParam = g.parameter("\(layer).lora_A.weight", tb ? [fanIn, r] : [r, fanIn], role: .loraA)
            var delta = try g.node(
                .matmul(transposeA: ta, transposeB: tb), [bParam, aParam], name: name("lora.matmul"),
                scope: scope)[0]
            if shape.count != 2 {
                delta = try g.node(.reshape(shape: shape), [delta], name: name("lora.reshape"), scope: scope)[0]
            }
            let factor = Double(int(1...16)) / Double(r)
            delta = try g.node(.scale(factor), [delta], name: name("lora.scale"), scope: scope)[0]
            let v = try g.node(.add, [w, delta], name: name("lora.add"), scope: scope)[0]
            var adapter = Adapter(
                a: aParam, b: bParam, transposeA: ta, transposeB: tb, factor: factor, shape: shape,
                matrix: [out, fanIn])
            guard bool() else { return Weight(value: v, adapter: adapter) }
            let norm = try g.node(.channelNorm, [v], name: name("dora.norm"), scope: scope)[0]
            let m = g.parameter("\(layer).lora_magnitude_vector", g.type(of: norm).shape, role: .doraMagnitude)
            let direction = try g.node(.div, [v, norm], name: name("dora.div"), scope: scope)[0]
            let scaled = try g.node(.mul, [direction, m], name: name("dora.mul"), scope: scope)[0]
            adapter.dora = (direction, norm, m)
            return Weight(value: scaled, adapter: adapter)
        }

        // Forward.
        let batch = int(1...3)
        let input = b.input("input", .f32([batch, int(1...6), int(1...12), int(1...12)]))
        var x = input
        var history = [input]
        var steps: [Step] = []
        enum Kind { case activation, dropout, batchNorm, linear, merge, conv, pool, adaptive, squeeze, flatten, concat }
        for _ in 0..<int(1...14) {
            var trial = b
            let t = trial.type(of: x)
            let scope = randomScope()
            let same = history.last { $0 != x && trial.type(of: $0) == t }
            var kinds: [Kind] = [.activation, .dropout]
            if t.rank == 2 || t.rank == 4 { kinds.append(.batchNorm) }
            if t.rank >= 1 { kinds.append(.linear) }
            if same != nil { kinds.append(.merge) }
            if t.rank == 4 { kinds += [.conv, .pool, .adaptive, .squeeze] }
            if t.rank >= 2 { kinds.append(.flatten) }
            if t.rank >= 1 && t.elementCount <= 4096 { kinds.append(.concat) }
            // Inference graphs get no backward pass, so their steps save nothing (nil).
            var result: (y: ValueID, step: Step?)?
            switch pick(kinds) {
            case .activation:
                let a = pick(Activation.allCases)
                if let y = try? trial.apply(a.op, x, name: name("act"), scope: scope) {
                    result = (y, .activation(a, x: x, y: y))
                }
            case .dropout:
                let p = real(0...0.99)
                if training {
                    if let r = try? trial.node(.nativeDropout(p: p), [x], name: name("drop"), scope: scope) {
                        result = (r[0], .dropout(p: p, mask: r[1]))
                    }
                } else if let y = try? trial.apply(.dropout(p: p), x, name: name("drop"), scope: scope) {
                    result = (y, nil)
                }
            case .batchNorm:
                let attrs = BatchNormAttrs(eps: real(1e-8...1e-2), momentum: real(0...1), training: training || bool())
                if training {
                    let layer = name("bn"), c = t.shape[1]
                    let params = [
                        trial.parameter("\(layer).weight", [c], role: .bnGamma),
                        trial.parameter("\(layer).bias", [c], role: .bnBeta),
                        trial.parameter("\(layer).running_mean", [c], role: .runningMean),
                        trial.parameter("\(layer).running_var", [c], role: .runningVar),
                    ]
                    if let r = try? trial.node(.nativeBatchNorm(attrs), [x] + params, name: layer, scope: scope) {
                        result = (
                            r[0],
                            .batchNorm(
                                attrs, x: x, gamma: params[0], beta: params[1], mean: params[2],
                                variance: params[3], batchMean: r[1], invstd: r[2])
                        )
                    }
                } else if let y = try? trial.batchNorm(
                    x, eps: attrs.eps, momentum: attrs.momentum,
                    training: attrs.training, name: name("bn"), scope: scope)
                {
                    result = (y, nil)
                }
            case .linear:
                let layer = name("fc"), out = int(1...9)
                if let w = try? weight(&trial, [out, t.shape.last!], layer, scope) {
                    let bias = bool() ? trial.parameter("\(layer).bias", [out], role: .bias) : nil
                    if let y = try? trial.node(
                        .linear, [x, w.value] + (bias.map { [$0] } ?? []), name: layer,
                        scope: scope)[0]
                    {
                        result = (y, .linear(x: x, weight: w, bias: bias))
                    }
                }
            case .concat:
                // x joined to itself along a random axis; the gradient adds the two slices.
                let axis = int(0...t.rank - 1)
                if let y = try? trial.apply(.concat(axis: axis), x, x, name: name("cat"), scope: scope) {
                    result = (y, .concat(axis: axis, length: t.shape[axis]))
                }
            case .merge:
                let mul = bool()
                if let y = try? trial.apply(mul ? .mul : .add, x, same!, name: name("merge"), scope: scope) {
                    result = (y, .merge(mul: mul, other: same!))
                }
            case .conv:
                let c = t.shape[1]
                let groups = pick((1...c).filter { c % $0 == 0 })
                let k = Pair(int(1...3), int(1...3))
                let attrs = Conv2dAttrs(
                    stride: Pair(int(1...2), int(1...2)), padding: Pair(int(0...k.h), int(0...k.w)),
                    dilation: Pair(int(1...2), int(1...2)), groups: groups)
                let layer = name("conv"), out = groups * int(1...3)
                if let w = try? weight(&trial, [out, c / groups, k.h, k.w], layer, scope) {
                    let bias = bool() ? trial.parameter("\(layer).bias", [out], role: .bias) : nil
                    if let y = try? trial.node(
                        .conv2d(attrs), [x, w.value] + (bias.map { [$0] } ?? []), name: layer,
                        scope: scope)[0]
                    {
                        result = (y, .conv(attrs, x: x, weight: w, bias: bias))
                    }
                }
            case .pool:
                let k = Pair(int(1...3), int(1...3))
                let isMax = bool()
                // count_include_pad means nothing to max pooling and is not in its text form.
                let attrs = Pool2dAttrs(
                    kernel: k, stride: Pair(int(1...3), int(1...3)),
                    padding: Pair(int(0...k.h / 2), int(0...k.w / 2)), ceilMode: bool(),
                    countIncludePad: isMax || bool())
                if isMax && training {
                    if let r = try? trial.node(.maxPool2dWithIndices(attrs), [x], name: name("pool"), scope: scope) {
                        result = (r[0], .maxPool(attrs, x: x, indices: r[1]))
                    }
                } else if let y = try? trial.apply(
                    isMax ? .maxPool2d(attrs) : .avgPool2d(attrs), x, name: name("pool"),
                    scope: scope)
                {
                    result = (y, isMax ? nil : .avgPool(attrs, x: x))
                }
            case .adaptive:
                if let y = try? trial.apply(
                    .adaptiveAvgPool2d(output: Pair(int(1...3), int(1...3))), x, name: name("gap"),
                    scope: scope)
                {
                    result = (y, .adaptive(x: x))
                }
            case .squeeze:
                // Squeeze-excitation: [N, C, H, W] · [N, C, 1, 1].
                if let s = try? trial.apply(
                    .adaptiveAvgPool2d(output: Pair(1)), x, name: name("se.pool"), scope: scope),
                    let y = try? trial.apply(.mul, x, s, name: name("se.mul"), scope: scope)
                {
                    result = (y, .squeeze(x: x, scale: s))
                }
            case .flatten:
                if let y = try? trial.apply(
                    .flatten(startDim: int(0...t.rank - 1)), x, name: name("flatten"), scope: scope)
                {
                    result = (y, .flatten(x: x))
                }
            }
            if let result {
                b = trial
                x = result.y
                history.append(result.y)
                if let step = result.step { steps.append(step) }
            }
        }
        // Freeze some learnable parameters (adapters stay trainable; LoRA bases are already frozen).
        for id in b.graph.parameters where bool() {
            if let role = b.graph[id].role, role.isLearnable, !role.isAdapter { b.setTrainable(id, false) }
        }
        // Sometimes a loss over labels declared last, so the value order is not canonical.
        var outputs = [x]
        var labels: ValueID?
        let t = b.type(of: x)
        if t.rank == 2 && (training || bool()) && bool() {
            let l = b.input("labels", .i64([t.shape[0]]))
            if let loss = try? b.apply(.softmaxCrossEntropy, x, l, name: "loss") {
                labels = l
                outputs = [loss, x]
            }
        }
        guard training else {
            for id in outputs { b.output(id) }
            return (Self.reducedPrecision(b.graph, seed: seed), problems)
        }

        // Backward: each step's gradient ops in reverse, from dL/dlogits or a given output gradient.
        func emit(_ op: Op, _ inputs: [ValueID], _ base: String, _ phase: Phase = .backward) -> ValueList? {
            do {
                return try b.node(op, inputs, name: name(base), scope: randomScope(), phase: phase)
            } catch {
                problems.append("seed \(seed): \(op.name)\(inputs.map { b.type(of: $0) }): \(error)")
                return nil
            }
        }
        func emit1(_ op: Op, _ inputs: [ValueID], _ base: String, _ phase: Phase = .backward) -> ValueID? {
            emit(op, inputs, base, phase)?[0]
        }
        var gradients: [(param: ValueID, grad: ValueID)] = []
        func accumulate(_ param: ValueID, _ grad: ValueID?) {
            guard let grad, b.graph[param].isTrainable else { return }
            gradients.append((param, grad))
        }
        func needsGradient(_ w: Weight) -> Bool { w.adapter != nil || b.graph[w.value].isTrainable }
        func weightGradient(_ w: Weight, _ dW: ValueID?) {
            guard let dW else { return }
            guard let a = w.adapter else { return accumulate(w.value, dW) }
            var dV: ValueID? = dW
            if let dora = a.dora {
                let t = emit1(.mul, [dW, dora.direction], "dora.grad")
                accumulate(
                    dora.magnitude,
                    t.flatMap { emit1(.sumTo(shape: b.type(of: dora.magnitude).shape), [$0], "dora.grad_m") })
                dV = emit1(.mul, [dW, dora.magnitude], "dora.grad").flatMap {
                    emit1(.div, [$0, dora.norm], "dora.grad_v")
                }
            }
            guard var d = dV.flatMap({ emit1(.scale(a.factor), [$0], "lora.grad_scale") }) else { return }
            if a.shape.count != 2 {
                guard let r = emit1(.reshape(shape: a.matrix), [d], "lora.grad_reshape") else { return }
                d = r
            }
            let ta = a.transposeA, tb = a.transposeB
            accumulate(
                a.b,
                ta
                    ? emit1(.matmul(transposeA: tb, transposeB: true), [a.a, d], "lora_B.grad")
                    : emit1(.matmul(transposeA: false, transposeB: !tb), [d, a.a], "lora_B.grad"))
            accumulate(
                a.a,
                tb
                    ? emit1(.matmul(transposeA: true, transposeB: ta), [d, a.b], "lora_A.grad")
                    : emit1(.matmul(transposeA: !ta, transposeB: false), [a.b, d], "lora_A.grad"))
        }
        var dy: ValueID?
        if let labels {
            dy = emit1(.softmaxCrossEntropyGrad, [x, labels], "loss.grad")
        } else if !steps.isEmpty {
            dy = b.input("grad_output", t)
        }
        for (i, step) in steps.enumerated().reversed() {
            guard let g = dy else { break }
            let needInput = i > 0
            dy = nil
            switch step {
            case let .activation(a, x, y):
                if needInput {
                    // A ReLU's gradient sometimes from its packed mask (`--saving lean`).
                    if a.hasMask && bool(),
                        let m = emit1(.activationMask(a), [a.gradientUsesOutput ? y : x], "act.mask")
                    {
                        dy = emit1(.reluMaskGrad, [g, m], "act.grad")
                    } else {
                        dy = emit1(.activationGrad(a), [g, a.gradientUsesOutput ? y : x], "act.grad")
                    }
                }
            case let .dropout(p, mask):
                if needInput { dy = emit1(.dropoutGrad(p: p), [g, mask], "drop.grad") }
            case let .batchNorm(attrs, x, gamma, beta, mean, variance, batchMean, invstd):
                // Sometimes with frozen statistics (`--bn frozen`), with or without x (γ's gradient).
                var frozen = attrs
                frozen.training = false
                let r =
                    bool()
                    ? emit(.batchNormFrozenGrad(frozen), [g, gamma, mean, variance] + (bool() ? [x] : []), "bn.grad")
                    : emit(.batchNormGrad(attrs), [g, x, gamma, mean, variance, batchMean, invstd], "bn.grad")
                dy = needInput ? r?[0] : nil
                accumulate(gamma, r?[1])
                accumulate(beta, r?[2])
            case let .linear(x, w, bias):
                if needInput { dy = emit1(.linearGradInput, [g, w.value], "fc.grad_input") }
                let xt = b.type(of: x), gt = b.type(of: g)
                var g2: ValueID? = g, x2: ValueID? = x
                if xt.rank != 2 {
                    let rows = xt.shape.dropLast().reduce(1, *)
                    g2 = emit1(.reshape(shape: [rows, gt.shape.last!]), [g], "fc.grad_2d")
                    x2 = emit1(.reshape(shape: [rows, xt.shape.last!]), [x], "fc.x_2d")
                }
                if let g2, let x2 {
                    if needsGradient(w) { weightGradient(w, emit1(.linearGradWeight, [g2, x2], "fc.grad_weight")) }
                    if let bias, b.graph[bias].isTrainable { accumulate(bias, emit1(.biasGrad, [g2], "fc.grad_bias")) }
                }
            case let .conv(attrs, x, w, bias):
                let xs = b.type(of: x).shape, ws = b.type(of: w.value).shape
                if needInput {
                    dy = emit1(.conv2dGradInput(attrs, input: Pair(xs[2], xs[3])), [g, w.value], "conv.grad_input")
                }
                if needsGradient(w) {
                    weightGradient(
                        w, emit1(.conv2dGradWeight(attrs, kernel: Pair(ws[2], ws[3])), [g, x], "conv.grad_weight"))
                }
                if let bias, b.graph[bias].isTrainable { accumulate(bias, emit1(.biasGrad, [g], "conv.grad_bias")) }
            case let .maxPool(attrs, x, indices):
                if needInput { dy = emit1(.maxPool2dGrad(attrs), [g, x, indices], "pool.grad") }
            case let .avgPool(attrs, x):
                if needInput { dy = emit1(.avgPool2dGrad(attrs), [g, x], "pool.grad") }
            case let .adaptive(x):
                if needInput { dy = emit1(.adaptiveAvgPool2dGrad, [g, x], "gap.grad") }
            case let .flatten(x):
                if needInput { dy = emit1(.reshape(shape: b.type(of: x).shape), [g], "flatten.grad") }
            case let .concat(axis, length):
                if needInput,
                    let first = emit1(.slice(axis: axis, start: 0, length: length), [g], "cat.grad_0"),
                    let second = emit1(.slice(axis: axis, start: length, length: length), [g], "cat.grad_1")
                {
                    dy = emit1(.add, [first, second], "cat.grad")
                }
            case let .merge(mul, other):
                // The branch's own gradient is not followed (as if detached).
                if needInput { dy = mul ? emit1(.mul, [g, other], "merge.grad") : g }
            case let .squeeze(x, s):
                // y = x · s with s = pool(x): dx = dy · s + pool_grad(sum_to(dy · x, s's shape), x).
                if needInput,
                    let direct = emit1(.mul, [g, s], "se.grad"),
                    let t = emit1(.mul, [g, x], "se.grad"),
                    let ds = emit1(.sumTo(shape: b.type(of: s).shape), [t], "se.grad_scale"),
                    let through = emit1(.adaptiveAvgPool2dGrad, [ds, x], "se.grad_pool")
                {
                    dy = emit1(.add, [direct, through], "se.grad")
                }
            }
        }

        // Optimizer: one update per trainable parameter with a gradient, and its state.
        for (p, g) in gradients {
            let pt = b.type(of: p), pname = b.graph[p].name
            let attrs = OptimizerAttrs(
                lr: real(1e-4...0.1), momentum: pick([0, 0.9]), beta1: real(0.8...0.95),
                beta2: real(0.9...0.9999), eps: pick([1e-8, 1e-6]),
                weightDecay: pick([0, 1e-4, 0.01]), decoupled: bool())
            func state(_ suffix: String, _ role: ParamRole, _ shape: Shape) -> ValueID {
                b.parameter("\(pname).\(suffix)", shape, role: role)
            }
            let m = pt.shape.first ?? 1, n = pt.shape.dropFirst().reduce(1, *)
            var updated: ValueList?
            switch int(0...3) {
            case 0:
                updated = emit(.sgdUpdate(attrs), [p, g], "update", .optimizer)
            case 1:
                updated = emit(
                    .momentumUpdate(attrs), [p, g, state("momentum_buffer", .momentumBuffer, pt.shape)],
                    "update", .optimizer)
            case 2 where pt.rank >= 2 && min(m, n) > 1:
                // GaLore: project the gradient onto rank r, run Adam there, project back.
                let r = int(1...min(m, n) - 1), left = m < n
                guard let matrix = emit1(.reshape(shape: [m, n]), [g], "galore.reshape", .optimizer),
                    case let stored = state("galore_projector", .galoreProjector, left ? [m, r] : [r, n]),
                    let projector = bool()
                        ? emit1(
                            .svdProjector(ProjectorAttrs(rank: r, left: left, gap: int(1...500))),
                            [matrix, stored], "galore.svd", .optimizer)
                        : Optional(stored),
                    let low = left
                        ? emit1(
                            .matmul(transposeA: true, transposeB: false), [projector, matrix], "galore.project",
                            .optimizer)
                        : emit1(
                            .matmul(transposeA: false, transposeB: true), [matrix, projector], "galore.project",
                            .optimizer)
                else { continue }
                let lowShape = b.type(of: low).shape
                guard
                    let direction = emit(
                        .adamDirection(attrs),
                        [
                            low, state("exp_avg", .expAvg, lowShape),
                            state("exp_avg_sq", .expAvgSq, lowShape),
                        ],
                        "galore.adam", .optimizer),
                    let back = left
                        ? emit1(
                            .matmul(transposeA: false, transposeB: false), [projector, direction[0]],
                            "galore.back", .optimizer)
                        : emit1(
                            .matmul(transposeA: false, transposeB: false), [direction[0], projector],
                            "galore.back", .optimizer),
                    let scaled = emit1(.scale(real(0.1...1)), [back], "galore.scale", .optimizer),
                    let update = emit1(.reshape(shape: pt.shape), [scaled], "galore.unreshape", .optimizer),
                    let p2 = emit1(.applyUpdate(attrs), [p, update], "update", .optimizer)
                else { continue }
                updated = [p2, direction[1], direction[2]]
            default:
                updated = emit(
                    .adamUpdate(attrs),
                    [
                        p, g, state("exp_avg", .expAvg, pt.shape),
                        state("exp_avg_sq", .expAvgSq, pt.shape),
                    ], "update", .optimizer)
            }
            outputs += updated ?? []
        }
        for id in outputs { b.output(id) }
        return (Self.reducedPrecision(b.graph, seed: seed), problems)
    }

    /// For odd seeds, stores some values narrower, as `set-precision` may: frozen learnable parameters as
    /// f16, bf16 or qi8, and node results other than outputs and recorded gradients as f16 or bf16. A
    /// generator of its own, so the graph's structure is the same for every seed either way.
    static func reducedPrecision(_ graph: Graph, seed: UInt64) -> Graph {
        guard seed % 2 == 1 else { return graph }
        var rng = SplitMix64(seed: seed ^ 0x5eed_f16b)
        var g = graph
        for id in g.parameters {
            guard case let .parameter(role, trainable) = g[id].kind, role.isLearnable, !trainable else { continue }
            let choices: [DType] = g[id].type.rank >= 1 ? [.f32, .f16, .bf16, .qi8] : [.f32, .f16, .bf16]
            g[id].type.dtype = choices[Int.random(in: 0..<choices.count, using: &rng)]
        }
        var keep = Set(g.outputs)
        for p in g.parameters { if let grad = g.records.gradient(of: p) { keep.insert(grad) } }
        for node in g.nodes {
            for id in node.outputs where g[id].type.dtype == .f32 && !keep.contains(id) {
                g[id].type.dtype = [DType.f32, .f16, .bf16][Int.random(in: 0..<3, using: &rng)]
            }
        }
        return g
    }
}
