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
        var x = try b.conv2d(input, out: 16, kernel: Pair(3), stride: Pair(2), padding: Pair(1),
                             name: "\(scope).conv1", scope: scope)
        x = try b.batchNorm(x, name: "\(scope).bn1", scope: scope)
        x = try b.apply(.relu, x, name: "\(scope).relu", scope: scope)
        x = try b.conv2d(x, out: 16, kernel: Pair(3), padding: Pair(1), name: "\(scope).conv2", scope: scope)
        x = try b.batchNorm(x, name: "\(scope).bn2", scope: scope)
        var s = try b.conv2d(input, out: 16, kernel: Pair(1), stride: Pair(2), name: "\(scope).downsample.0",
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
        var x = try b.conv2d(input, out: 8, kernel: Pair(3), stride: Pair(1), padding: Pair(1), bias: true,
                             name: "stem.conv")
        x = try b.batchNorm(x, eps: 1e-3, momentum: 0.01, training: true, name: "stem.bn")
        x = try b.apply(.relu6, x, name: "stem.relu6")
        x = try b.conv2d(x, out: 8, kernel: Pair(3, 1), padding: Pair(2, 1), dilation: Pair(2, 1), groups: 4,
                         name: "block.conv", scope: "block")
        x = try b.apply(.hardswish, x, name: "block.hardswish", scope: "block")
        x = try b.apply(.maxPool2d(Pool2dAttrs(kernel: Pair(3), stride: Pair(2), padding: Pair(1), ceilMode: true)),
                        x, name: "block.maxpool", scope: "block")
        x = try b.apply(.avgPool2d(Pool2dAttrs(kernel: Pair(2), stride: Pair(2), ceilMode: true, countIncludePad: false)),
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

    /// Every builder, named.
    public static func all() throws(ShapeError) -> [(name: String, graph: Graph)] {
        [("tiny_convnet", try tinyConvnet()), ("residual_block", try residualBlock()),
         ("squeeze_excitation", try squeezeExcitation()), ("every_op", try everyOp())]
    }
}

/// Random valid graphs: a chain of ops with random valid attributes and shapes, branching now and
/// then (residual adds, SE-style muls), with awkward names to exercise string escapes.
public enum RandomGraphs {
    public static func make(seed: UInt64) -> Graph {
        var rng = SplitMix64(seed: seed)
        var b = GraphBuilder(name: "random_\(seed)")
        func pick<T>(_ xs: [T]) -> T { xs[Int.random(in: 0..<xs.count, using: &rng)] }
        func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &rng) }
        func bool() -> Bool { Bool.random(using: &rng) }
        let oddNames = ["", "a \"quoted\" name", "back\\slash", "tab\tand\nnewline", "ünïcödé.层", "#not a comment",
                        "ctrl\u{1}char", "in"]
        var counter = 0
        func name(_ base: String) -> String {
            counter += 1
            return int(0...9) == 0 ? pick(oddNames) + "\(counter)" : "\(base).\(counter)"
        }
        let batch = int(1...3)
        let input = b.input("input", .f32([batch, int(1...6), int(1...12), int(1...12)]))
        var x = input
        var history = [input]
        let steps = int(1...14)
        enum Step { case activation, dropout, batchNorm, linear, merge, conv, pool, adaptive, squeeze, flatten }
        for _ in 0..<steps {
            var trial = b
            let t = trial.type(of: x)
            let scope = bool() ? "" : pick(["block", "layer1.0", "features.3"])
            let same = history.last { $0 != x && trial.type(of: $0) == t }
            var steps: [Step] = [.activation, .dropout]
            if t.rank == 2 || t.rank == 4 { steps.append(.batchNorm) }
            if t.rank >= 1 { steps.append(.linear) }
            if same != nil { steps.append(.merge) }
            if t.rank == 4 { steps += [.conv, .pool, .adaptive, .squeeze] }
            if t.rank >= 2 { steps.append(.flatten) }
            let y: ValueID?
            switch pick(steps) {
            case .activation:
                let op: Op = pick([.relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid])
                y = try? trial.apply(op, x, name: name("act"), scope: scope)
            case .dropout:
                y = try? trial.apply(.dropout(p: Double.random(in: 0..<1, using: &rng)), x, name: name("drop"),
                                     scope: scope)
            case .batchNorm:
                y = try? trial.batchNorm(x, eps: Double.random(in: 1e-8...1e-2, using: &rng),
                                         momentum: Double.random(in: 0...1, using: &rng), training: bool(),
                                         name: name("bn"), scope: scope)
            case .linear:
                y = try? trial.linear(x, out: int(1...9), bias: bool(), name: name("fc"), scope: scope)
            case .merge:
                y = try? trial.apply(bool() ? .add : .mul, x, same!, name: name("merge"), scope: scope)
            case .conv:
                let c = t.shape[1]
                let groups = pick((1...c).filter { c % $0 == 0 })
                let k = Pair(int(1...3), int(1...3))
                y = try? trial.conv2d(x, out: groups * int(1...3), kernel: k, stride: Pair(int(1...2), int(1...2)),
                                      padding: Pair(int(0...k.h), int(0...k.w)), dilation: Pair(int(1...2), int(1...2)),
                                      groups: groups, bias: bool(), name: name("conv"), scope: scope)
            case .pool:
                let k = Pair(int(1...3), int(1...3))
                let isMax = bool()
                // count_include_pad means nothing to max pooling and is not in its text form.
                let attrs = Pool2dAttrs(kernel: k, stride: Pair(int(1...3), int(1...3)),
                                        padding: Pair(int(0...k.h / 2), int(0...k.w / 2)), ceilMode: bool(),
                                        countIncludePad: isMax || bool())
                y = try? trial.apply(isMax ? .maxPool2d(attrs) : .avgPool2d(attrs), x, name: name("pool"), scope: scope)
            case .adaptive:
                y = try? trial.apply(.adaptiveAvgPool2d(output: Pair(int(1...3), int(1...3))), x, name: name("gap"),
                                     scope: scope)
            case .squeeze:
                // Squeeze-excitation: [N, C, 1, 1] · [N, C, H, W].
                let s = try? trial.apply(.adaptiveAvgPool2d(output: Pair(1)), x, name: name("se.pool"), scope: scope)
                y = s.flatMap { try? trial.apply(.mul, x, $0, name: name("se.mul"), scope: scope) }
            case .flatten:
                y = try? trial.apply(.flatten(startDim: int(0...t.rank - 1)), x, name: name("flatten"), scope: scope)
            }
            if let y {
                b = trial
                x = y
                history.append(y)
            }
        }
        // Freeze some parameters.
        var graph = b.graph
        for id in graph.parameters where bool() {
            if case let .parameter(role, _) = graph[id].kind, !role.isBuffer {
                graph[id].kind = .parameter(role: role, trainable: false)
            }
        }
        // Sometimes a loss over labels declared last, so the value order is not canonical.
        graph.outputs = [x]
        let t = graph[x].type
        if t.rank == 2 && bool() {
            let labels = graph.appendValue(Value(name: "labels", type: .i64([t.shape[0]]), kind: .input))
            graph.inputs.append(labels)
            let loss = graph.appendValue(Value(name: "loss", type: .f32([]),
                                               kind: .result(node: graph.nodes.count, index: 0)))
            graph.nodes.append(Node(op: .softmaxCrossEntropy, inputs: [x, labels], outputs: [loss], name: "loss"))
            graph.outputs = [loss, x]
        }
        return graph
    }
}
