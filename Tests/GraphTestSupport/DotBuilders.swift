// Small graphs with block scopes, built with GraphBuilder, for the DOT export tests and goldens.
// They use PyTorch-style names and scopes (torchvision's ResNet and MobileNetV3) so the drawings
// look like the zoo's, at a size that keeps golden files reviewable.
import GraphIR

/// Builders of graphs that exercise every role, nested scopes and broadcasting.
public enum DotBuilders {
    /// A tiny ResNet: a stem, a basic block, a downsampling block whose `downsample` branch is a
    /// nested scope, global pooling and the `fc` head. Input 1x3x32x32, 10 classes.
    public static func residualNet() throws -> Graph {
        var b = GraphBuilder(name: "resnet_tiny")
        var x = b.input("x", .f32([1, 3, 32, 32]))
        x = try b.conv2d(x, out: 16, kernel: Pair(3), padding: Pair(1), name: "conv1")
        x = try b.batchNorm(x, name: "bn1")
        x = try b.apply(.relu, x, name: "relu")
        x = try b.apply(.maxPool2d(Pool2dAttrs(kernel: Pair(3), stride: Pair(2), padding: Pair(1))), x, name: "maxpool")
        x = try basicBlock(&b, x, out: 16, stride: 1, scope: "layer1.0")
        x = try basicBlock(&b, x, out: 32, stride: 2, scope: "layer2.0")
        x = try b.apply(.adaptiveAvgPool2d(output: Pair(1)), x, name: "avgpool")
        x = try b.apply(.flatten(startDim: 1), x, name: "flatten")
        x = try b.linear(x, out: 10, name: "fc")
        b.output(x)
        return b.graph
    }

    /// torchvision's BasicBlock; with a stride or a channel change, a `downsample` branch in scope
    /// `<scope>.downsample`.
    public static func basicBlock(
        _ b: inout GraphBuilder, _ input: ValueID, out: Int, stride: Int,
        scope: String
    ) throws -> ValueID {
        var x = try b.conv2d(
            input, out: out, kernel: Pair(3), stride: Pair(stride), padding: Pair(1),
            name: "\(scope).conv1", scope: scope)
        x = try b.batchNorm(x, name: "\(scope).bn1", scope: scope)
        x = try b.apply(.relu, x, name: "\(scope).relu1", scope: scope)
        x = try b.conv2d(x, out: out, kernel: Pair(3), padding: Pair(1), name: "\(scope).conv2", scope: scope)
        x = try b.batchNorm(x, name: "\(scope).bn2", scope: scope)
        var identity = input
        if stride != 1 || b.type(of: input).shape[1] != out {
            let ds = "\(scope).downsample"
            identity = try b.conv2d(input, out: out, kernel: Pair(1), stride: Pair(stride), name: "\(ds).0", scope: ds)
            identity = try b.batchNorm(identity, name: "\(ds).1", scope: ds)
        }
        x = try b.apply(.add, x, identity, name: "\(scope).add", scope: scope)
        return try b.apply(.relu, x, name: "\(scope).relu2", scope: scope)
    }

    /// A ResNet of bottleneck blocks (`[3, 4, 6, 3]` gives ResNet-50's 175 nodes at 224x224), for
    /// checking that large drawings stay readable. Not a golden: too big to review.
    public static func bottleneckResNet(blocks: [Int] = [3, 4, 6, 3], classes: Int = 1000) throws -> Graph {
        var b = GraphBuilder(name: "resnet50_like")
        var x = b.input("x", .f32([1, 3, 224, 224]))
        x = try b.conv2d(x, out: 64, kernel: Pair(7), stride: Pair(2), padding: Pair(3), name: "conv1")
        x = try b.batchNorm(x, name: "bn1")
        x = try b.apply(.relu, x, name: "relu")
        x = try b.apply(.maxPool2d(Pool2dAttrs(kernel: Pair(3), stride: Pair(2), padding: Pair(1))), x, name: "maxpool")
        for (stage, count) in blocks.enumerated() {
            let width = 64 << stage
            for i in 0..<count {
                let scope = "layer\(stage + 1).\(i)"
                let stride = stage > 0 && i == 0 ? 2 : 1
                var y = try b.conv2d(x, out: width, kernel: Pair(1), name: "\(scope).conv1", scope: scope)
                y = try b.batchNorm(y, name: "\(scope).bn1", scope: scope)
                y = try b.apply(.relu, y, name: "\(scope).relu1", scope: scope)
                y = try b.conv2d(
                    y, out: width, kernel: Pair(3), stride: Pair(stride), padding: Pair(1),
                    name: "\(scope).conv2", scope: scope)
                y = try b.batchNorm(y, name: "\(scope).bn2", scope: scope)
                y = try b.apply(.relu, y, name: "\(scope).relu2", scope: scope)
                y = try b.conv2d(y, out: width * 4, kernel: Pair(1), name: "\(scope).conv3", scope: scope)
                y = try b.batchNorm(y, name: "\(scope).bn3", scope: scope)
                var identity = x
                if i == 0 {
                    identity = try b.conv2d(
                        x, out: width * 4, kernel: Pair(1), stride: Pair(stride),
                        name: "\(scope).downsample.0", scope: scope)
                    identity = try b.batchNorm(identity, name: "\(scope).downsample.1", scope: scope)
                }
                y = try b.apply(.add, y, identity, name: "\(scope).add", scope: scope)
                x = try b.apply(.relu, y, name: "\(scope).relu3", scope: scope)
            }
        }
        x = try b.apply(.adaptiveAvgPool2d(output: Pair(1)), x, name: "avgpool")
        x = try b.apply(.flatten(startDim: 1), x, name: "flatten")
        x = try b.linear(x, out: classes, name: "fc")
        b.output(x)
        return b.graph
    }

    /// A MobileNetV3-like training graph: a stem, one inverted-residual block (depthwise conv,
    /// squeeze-excitation whose `mul` broadcasts [N,C,1,1] over [N,C,H,W], projection, residual add)
    /// with each part a nested scope, a grouped conv, and a classifier (linear, hardswish, dropout,
    /// head) with a cross-entropy loss. The features are frozen, the classifier trainable.
    public static func separableNet() throws -> Graph {
        var b = GraphBuilder(name: "separable_se")
        var x = b.input("x", .f32([2, 3, 32, 32]))
        let labels = b.input("labels", .i64([2]))

        func conv(
            _ x: ValueID, out: Int, kernel: Int, stride: Int = 1, groups: Int = 1, bias: Bool = false,
            name: String, scope: String
        ) throws -> ValueID {
            try b.conv2d(
                x, out: out, kernel: Pair(kernel), stride: Pair(stride), padding: Pair(kernel / 2),
                groups: groups, bias: bias, name: name, scope: scope)
        }

        x = try conv(x, out: 16, kernel: 3, stride: 2, name: "features.0.0", scope: "features.0")
        x = try b.batchNorm(x, name: "features.0.1", scope: "features.0")
        x = try b.apply(.hardswish, x, name: "features.0.2", scope: "features.0")

        // Inverted residual, 16 → 16 channels, stride 1: depthwise, SE, project, add.
        let blockInput = x
        let dw = "features.1.block.0", se = "features.1.block.1", proj = "features.1.block.2"
        x = try conv(x, out: 16, kernel: 3, groups: 16, name: "\(dw).0", scope: dw)
        x = try b.batchNorm(x, name: "\(dw).1", scope: dw)
        x = try b.apply(.relu, x, name: "\(dw).2", scope: dw)
        var s = try b.apply(.adaptiveAvgPool2d(output: Pair(1)), x, name: "\(se).avgpool", scope: se)
        s = try conv(s, out: 8, kernel: 1, bias: true, name: "\(se).fc1", scope: se)
        s = try b.apply(.relu, s, name: "\(se).relu", scope: se)
        s = try conv(s, out: 16, kernel: 1, bias: true, name: "\(se).fc2", scope: se)
        s = try b.apply(.hardsigmoid, s, name: "\(se).scale", scope: se)
        x = try b.apply(.mul, s, x, name: "\(se).mul", scope: se)
        x = try conv(x, out: 16, kernel: 1, name: "\(proj).0", scope: proj)
        x = try b.batchNorm(x, name: "\(proj).1", scope: proj)
        x = try b.apply(.add, x, blockInput, name: "features.1.add", scope: "features.1")

        // A grouped (not depthwise) 1x1 expansion.
        x = try conv(x, out: 32, kernel: 1, groups: 4, name: "features.2.0", scope: "features.2")
        x = try b.batchNorm(x, name: "features.2.1", scope: "features.2")
        x = try b.apply(.hardswish, x, name: "features.2.2", scope: "features.2")

        x = try b.apply(.adaptiveAvgPool2d(output: Pair(1)), x, name: "avgpool")
        x = try b.apply(.flatten(startDim: 1), x, name: "flatten")
        x = try b.linear(x, out: 24, name: "classifier.0")
        x = try b.apply(.hardswish, x, name: "classifier.1")
        x = try b.apply(.dropout(p: 0.2), x, name: "classifier.2")
        x = try b.linear(x, out: 10, name: "classifier.3")
        let loss = try b.apply(.softmaxCrossEntropy, x, labels, name: "loss")
        b.output(loss)

        var graph = b.graph
        for id in graph.parameters where graph[id].name.hasPrefix("features.") {
            if case let .parameter(role, _) = graph[id].kind {
                graph[id].kind = .parameter(role: role, trainable: false)
            }
        }
        return graph
    }
}
