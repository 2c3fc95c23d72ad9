/// Shape inference: the output types an op produces from its operand types, with PyTorch's rules.
/// Throws a `ShapeError` naming the operand at fault; callers attach the node and source location.
public struct ShapeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `arity`, `rank`, `channel-mismatch`, `shape-mismatch`, `dtype`, `bad-size` or `bad-attribute`.
    public var id: String
    public var message: String
    public init(_ id: String, _ message: String) {
        self.id = id
        self.message = message
    }
    public var description: String { message }
}

extension Op {
    /// The types of the op's outputs for operands of types `operands`. Sizes are bounded first
    /// (`TensorType.maxElements`, attributes below 2^31) so that no arithmetic here can overflow.
    public func inferTypes(_ operands: [TensorType]) throws(ShapeError) -> [TensorType] {
        for t in operands where t.checkedElementCount == nil {
            throw ShapeError("bad-size", "\(name) operand \(t) has a negative size or more than 2^40 elements")
        }
        try checkAttributeMagnitudes()
        // Results are computed in f32 whatever the operands' storage (a pass-through result such as
        // relu's would otherwise inherit an f16 operand's dtype).
        var results = try inferUncheckedTypes(operands)
        for i in results.indices where results[i].dtype != results[i].dtype.computeType {
            results[i].dtype = results[i].dtype.computeType
        }
        for t in results where t.checkedElementCount == nil || t.shape.contains(where: { $0 < 1 }) {
            throw ShapeError("bad-size", "\(name) would produce \(t), which is empty or larger than 2^40 elements")
        }
        return results
    }

    /// Attribute sizes stay below 2^31, so sums and products of two of them with a dimension fit in an Int.
    private func checkAttributeMagnitudes() throws(ShapeError) {
        let limit = 1 << 31
        // No array of sizes: this runs for every node a pass emits or the verifier checks.
        var bad: Int?
        func see(_ v: Int) { if bad == nil, v.magnitude >= limit { bad = v } }
        func see(_ p: Pair) { see(p.h); see(p.w) }
        switch self {
        case let .conv2d(a):
            see(a.stride); see(a.padding); see(a.dilation); see(a.groups)
        case let .maxPool2d(a), let .avgPool2d(a):
            see(a.kernel); see(a.stride); see(a.padding)
        case let .adaptiveAvgPool2d(out):
            see(out)
        case let .flatten(start):
            see(start)
        case let .maxPool2dWithIndices(a), let .maxPool2dGrad(a), let .avgPool2dGrad(a):
            see(a.kernel); see(a.stride); see(a.padding)
        case let .conv2dGradInput(a, p), let .conv2dGradWeight(a, p):
            see(a.stride); see(a.padding); see(a.dilation); see(a.groups); see(p)
        case let .reshape(shape), let .sumTo(shape):
            for d in shape { see(d) }
        case let .concat(axis):
            see(axis)
        case let .slice(axis, start, length):
            see(axis); see(start); see(length)
        case let .svdProjector(a):
            see(a.rank); see(a.gap)
        case .batchNorm, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul, .linear, .dropout,
            .softmaxCrossEntropy, .nativeBatchNorm, .nativeDropout, .scale, .div, .channelNorm, .matmul, .biasGrad,
            .batchNormGrad, .activationGrad, .adaptiveAvgPool2dGrad, .linearGradInput, .linearGradWeight,
            .dropoutGrad, .softmaxCrossEntropyGrad, .sgdUpdate, .momentumUpdate, .adamUpdate, .adamDirection,
            .applyUpdate, .activationMask, .reluMaskGrad, .batchNormFrozenGrad:
            break
        }
        if let bad {
            throw ShapeError("bad-size", "\(name) attribute value \(bad) is out of range")
        }
    }

    private func inferUncheckedTypes(_ operands: [TensorType]) throws(ShapeError) -> [TensorType] {
        guard arity.contains(operands.count) else {
            let expected =
                arity.lowerBound == arity.upperBound
                ? "\(arity.lowerBound)" : "\(arity.lowerBound) or \(arity.upperBound)"
            throw ShapeError("arity", "\(name) takes \(expected) operands, got \(operands.count)")
        }
        for i in operands.indices where operands[i].dtype.computeType != operandDType(i) {
            let t = operands[i]
            throw ShapeError(
                "dtype", "\(name) operand \(i) must be \(operandDType(i).rawValue), got \(t.dtype.rawValue)")
        }
        switch self {
        case let .conv2d(a):
            return [try Self.conv2d(a, operands)]
        case let .batchNorm(a):
            let x = operands[0]
            guard x.rank == 2 || x.rank == 4 else {
                throw ShapeError("rank", "batch_norm expects a 2-D or 4-D input, got \(x)")
            }
            guard a.eps > 0 else { throw ShapeError("bad-attribute", "batch_norm eps must be positive") }
            let c = x.shape[1]
            for i in 0..<4 where operands[i + 1].shape != [c] {
                let role = ["gamma", "beta", "running mean", "running variance"][i]
                throw ShapeError(
                    "channel-mismatch",
                    "batch_norm \(role) has shape \(Shape.format(operands[i + 1].shape)), "
                        + "expected [\(c)] for an input with \(c) channels")
            }
            return [x]
        case .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid:
            return [operands[0]]
        case let .dropout(p):
            guard p >= 0 && p < 1 else { throw ShapeError("bad-attribute", "dropout p must be in [0, 1), got \(p)") }
            return [operands[0]]
        case .add, .mul:
            return [.f32(try Self.broadcast(operands[0].shape, operands[1].shape, op: name))]
        case let .maxPool2d(a), let .avgPool2d(a):
            let x = try Self.image(operands[0], op: name)
            let h = try Self.poolExtent(x[2], a.kernel.h, a.stride.h, a.padding.h, a.ceilMode, op: name)
            let w = try Self.poolExtent(x[3], a.kernel.w, a.stride.w, a.padding.w, a.ceilMode, op: name)
            return [.f32([x[0], x[1], h, w])]
        case let .adaptiveAvgPool2d(out):
            let x = try Self.image(operands[0], op: name)
            guard out.h > 0, out.w > 0 else {
                throw ShapeError("bad-size", "adaptive_avg_pool2d output size must be positive, got \(out)")
            }
            return [.f32([x[0], x[1], out.h, out.w])]
        case let .flatten(start):
            let x = operands[0]
            guard start >= 0 && start < max(x.rank, 1) else {
                throw ShapeError("bad-attribute", "flatten start_dim \(start) is out of range for \(x)")
            }
            var flat = Shape(x.shape[..<start])
            flat.append(x.shape[start...].reduce(1, *))
            return [.f32(flat)]
        case .linear:
            let x = operands[0], w = operands[1]
            guard x.rank >= 1, w.rank == 2 else {
                throw ShapeError("rank", "linear expects an input of rank >= 1 and a 2-D weight, got \(x) and \(w)")
            }
            guard x.shape.last == w.shape[1] else {
                throw ShapeError(
                    "channel-mismatch",
                    "linear weight \(Shape.format(w.shape)) expects \(w.shape[1]) input features, "
                        + "got \(x.shape.last ?? 0)")
            }
            if operands.count == 3, operands[2].shape != [w.shape[0]] {
                throw ShapeError(
                    "channel-mismatch",
                    "linear bias has shape \(Shape.format(operands[2].shape)), expected [\(w.shape[0])]")
            }
            var y = Shape(x.shape.dropLast())
            y.append(w.shape[0])
            return [.f32(y)]
        case .softmaxCrossEntropy:
            let logits = operands[0], labels = operands[1]
            guard logits.rank == 2 else {
                throw ShapeError("rank", "softmax_cross_entropy expects 2-D logits, got \(logits)")
            }
            guard labels.dtype == .i64, labels.shape == [logits.shape[0]] else {
                throw ShapeError(
                    "shape-mismatch",
                    "softmax_cross_entropy labels must be i64[\(logits.shape[0])], got \(labels)")
            }
            return [.f32([])]
        case let .nativeBatchNorm(a):
            let y = try Op.batchNorm(a).inferUncheckedTypes(operands)[0]
            return [y, .f32([y.shape[1]]), .f32([y.shape[1]])]
        case let .maxPool2dWithIndices(a):
            let y = try Op.maxPool2d(a).inferUncheckedTypes(operands)[0]
            return [y, .i64(y.shape)]
        case let .nativeDropout(p):
            let y = try Op.dropout(p: p).inferUncheckedTypes(operands)[0]
            return [y, TensorType(.bool, y.shape)]
        case .scale:
            return [operands[0]]
        case .div:
            return [.f32(try Self.broadcast(operands[0].shape, operands[1].shape, op: name))]
        case .channelNorm:
            let w = operands[0]
            guard w.rank >= 1 else { throw ShapeError("rank", "channel_norm expects a tensor of rank >= 1, got \(w)") }
            var norms = Shape(repeatElement(1, count: w.rank))
            norms[0] = w.shape[0]
            return [.f32(norms)]
        case let .matmul(ta, tb):
            let a = operands[0], b = operands[1]
            guard a.rank == 2, b.rank == 2 else {
                throw ShapeError("rank", "matmul expects 2-D operands, got \(a) and \(b)")
            }
            let (m, k) = ta ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
            let (k2, n) = tb ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
            guard k == k2 else {
                throw ShapeError("shape-mismatch", "matmul inner dimensions differ: \(k) and \(k2)")
            }
            return [.f32([m, n])]
        case let .reshape(shape):
            guard shape.allSatisfy({ $0 >= 1 && $0 <= TensorType.maxElements }),
                let count = TensorType.f32(shape).checkedElementCount, count == operands[0].elementCount
            else {
                throw ShapeError("shape-mismatch", "reshape cannot turn \(operands[0]) into \(Shape.format(shape))")
            }
            return [.f32(shape)]
        case let .concat(axis):
            // Every operand of the first's rank, equal but along `axis` (ONNX and torch.cat: a negative axis
            // counts from the end in their files; graphc's is resolved).
            let first = operands[0]
            guard axis >= 0, axis < first.rank else {
                throw ShapeError("bad-attribute", "concat axis \(axis) is out of range for \(first)")
            }
            var out = first.shape
            for t in operands.dropFirst() {
                guard t.rank == first.rank,
                    (0..<first.rank).allSatisfy({ $0 == axis || t.shape[$0] == first.shape[$0] })
                else {
                    throw ShapeError(
                        "shape-mismatch", "concat along axis \(axis) needs equal other dimensions: \(first) and \(t)")
                }
                out[axis] += t.shape[axis]
            }
            return [.f32(out)]
        case let .slice(axis, start, length):
            let x = operands[0]
            guard axis >= 0, axis < x.rank, start >= 0, length >= 1, start + length <= x.shape[axis] else {
                throw ShapeError(
                    "bad-attribute", "slice of \(length) from \(start) along axis \(axis) does not fit \(x)")
            }
            var out = x.shape
            out[axis] = length
            return [.f32(out)]
        case let .conv2dGradInput(a, input):
            let dy = try Self.image(operands[0], op: name), w = operands[1]
            guard w.rank == 4 else { throw ShapeError("rank", "conv2d_grad_input weight must be 4-D, got \(w)") }
            let x = TensorType.f32([dy[0], w.shape[1] * a.groups, input.h, input.w])
            try Self.expect(Self.conv2d(a, [x, w]), operands[0], op: name)
            return [x]
        case let .conv2dGradWeight(a, kernel):
            let dy = try Self.image(operands[0], op: name), x = try Self.image(operands[1], op: name)
            guard a.groups >= 1, x[1] % a.groups == 0 else {
                throw ShapeError(
                    "channel-mismatch", "conv2d_grad_weight groups \(a.groups) must divide \(x[1]) channels")
            }
            let w = TensorType.f32([dy[1], x[1] / a.groups, kernel.h, kernel.w])
            try Self.expect(Self.conv2d(a, [operands[1], w]), operands[0], op: name)
            return [w]
        case .biasGrad:
            let dy = operands[0]
            guard dy.rank >= 2 else { throw ShapeError("rank", "bias_grad expects rank >= 2, got \(dy)") }
            return [.f32([dy.shape[1]])]
        case let .batchNormGrad(a):
            // dy, x, gamma, running mean, running var, batch mean, batch inverse std.
            // (batch_norm takes x, gamma, beta, running mean, running var: there is no beta here, so the
            // forward rule cannot be reused on operands 1...4.)
            try Self.expect(operands[1], operands[0], op: name)
            let x = operands[1]
            guard x.rank == 2 || x.rank == 4 else {
                throw ShapeError("rank", "batch_norm_grad expects a 2-D or 4-D input, got \(x)")
            }
            guard a.eps > 0 else { throw ShapeError("bad-attribute", "batch_norm_grad eps must be positive") }
            let c = x.shape[1]
            for (i, role) in [
                (2, "gamma"), (3, "running mean"), (4, "running variance"), (5, "batch mean"),
                (6, "batch inverse std"),
            ] where operands[i].shape != [c] {
                throw ShapeError(
                    "channel-mismatch",
                    "batch_norm_grad \(role) has shape \(Shape.format(operands[i].shape)), "
                        + "expected [\(c)] for an input with \(c) channels")
            }
            return [x, .f32([c]), .f32([c])]
        case .activationGrad:
            try Self.expect(operands[1].withDType(.f32), operands[0], op: name)
            return [operands[0]]
        case let .activationMask(a):
            guard a.hasMask else {
                throw ShapeError("bad-attribute", "\(a.rawValue) has no gradient mask (relu and relu6 do)")
            }
            return [operands[0].withDType(.mask)]
        case .reluMaskGrad:
            try Self.expect(operands[1].withDType(.f32), operands[0], op: name)
            return [operands[0]]
        case let .batchNormFrozenGrad(a):
            // dy, gamma, running mean, running var[, x].
            let dy = operands[0]
            guard dy.rank == 2 || dy.rank == 4 else {
                throw ShapeError("rank", "batch_norm_frozen_grad expects a 2-D or 4-D gradient, got \(dy)")
            }
            guard a.eps > 0 else { throw ShapeError("bad-attribute", "batch_norm_frozen_grad eps must be positive") }
            if operands.count == 5 { try Self.expect(operands[4], dy, op: name) }
            let c = dy.shape[1]
            for (i, role) in [(1, "gamma"), (2, "running mean"), (3, "running variance")] where operands[i].shape != [c]
            {
                throw ShapeError(
                    "channel-mismatch",
                    "batch_norm_frozen_grad \(role) has shape \(Shape.format(operands[i].shape)), "
                        + "expected [\(c)] for a gradient with \(c) channels")
            }
            return [dy, .f32([c]), .f32([c])]
        case let .dropoutGrad(p):
            // The same p as the forward native_dropout (the gradient scales by 1 / (1 - p)).
            guard p >= 0 && p < 1 else {
                throw ShapeError("bad-attribute", "dropout_grad p must be in [0, 1), got \(p)")
            }
            try Self.expect(operands[1].withDType(.f32), operands[0], op: name)
            return [operands[0]]
        case let .maxPool2dGrad(a):
            try Self.expect(Op.maxPool2d(a).inferUncheckedTypes([operands[1]])[0], operands[0], op: name)
            try Self.expect(operands[2].withDType(.f32), operands[0], op: name)
            return [operands[1]]
        case let .avgPool2dGrad(a):
            try Self.expect(Op.avgPool2d(a).inferUncheckedTypes([operands[1]])[0], operands[0], op: name)
            return [operands[1]]
        case .adaptiveAvgPool2dGrad:
            let x = try Self.image(operands[1], op: name), dy = try Self.image(operands[0], op: name)
            try Self.expect(.f32([x[0], x[1], dy[2], dy[3]]), operands[0], op: name)
            return [operands[1]]
        case .linearGradInput:
            let dy = operands[0], w = operands[1]
            guard w.rank == 2, dy.rank >= 1, dy.shape.last == w.shape[0] else {
                throw ShapeError("shape-mismatch", "linear_grad_input: \(dy) does not match weight \(w)")
            }
            var dx = Shape(dy.shape.dropLast())
            dx.append(w.shape[1])
            return [.f32(dx)]
        case .linearGradWeight:
            let dy = operands[0], x = operands[1]
            guard dy.rank == 2, x.rank == 2, dy.shape[0] == x.shape[0] else {
                throw ShapeError(
                    "shape-mismatch", "linear_grad_weight expects [N, out] and [N, in], got \(dy) and \(x)")
            }
            return [.f32([dy.shape[1], x.shape[1]])]
        case .softmaxCrossEntropyGrad:
            _ = try Op.softmaxCrossEntropy.inferUncheckedTypes(operands)
            return [operands[0]]
        case let .sumTo(shape):
            let x = operands[0]
            guard shape.allSatisfy({ $0 >= 1 }), (try? Self.broadcast(shape, x.shape)) == x.shape else {
                throw ShapeError("shape-mismatch", "sum_to cannot reduce \(x) to \(Shape.format(shape))")
            }
            return [.f32(shape)]
        case .sgdUpdate, .applyUpdate:
            try Self.expect(operands[1], operands[0], op: name)
            return [operands[0]]
        case .momentumUpdate, .adamUpdate:
            for t in operands.dropFirst() { try Self.expect(t, operands[0], op: name) }
            return Array(operands[0..<outputCount])
        case .adamDirection:
            for t in operands.dropFirst() { try Self.expect(t, operands[0], op: name) }
            return operands
        case let .svdProjector(a):
            let g = operands[0]
            guard g.rank == 2 else { throw ShapeError("rank", "svd_projector expects a matrix, got \(g)") }
            guard a.rank >= 1, a.rank <= min(g.shape[0], g.shape[1]) else {
                throw ShapeError(
                    "bad-size",
                    "GaLore rank \(a.rank) must lie in 1...\(min(g.shape[0], g.shape[1])) "
                        + "for a \(g.shape[0])x\(g.shape[1]) gradient")
            }
            guard a.gap >= 1 else { throw ShapeError("bad-attribute", "svd_projector gap must be positive") }
            let p = TensorType.f32(a.left ? [g.shape[0], a.rank] : [a.rank, g.shape[1]])
            try Self.expect(p, operands[1], op: name)
            return [p]
        }
    }

    /// The dtype operand `index` must have: f32 but for labels, pooling indices and dropout masks.
    public func operandDType(_ index: Int) -> DType {
        switch self {
        case .softmaxCrossEntropy, .softmaxCrossEntropyGrad: index == 1 ? .i64 : .f32
        case .maxPool2dGrad: index == 2 ? .i64 : .f32
        case .dropoutGrad: index == 1 ? .bool : .f32
        case .reluMaskGrad: index == 1 ? .mask : .f32
        case .conv2d, .batchNorm, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul, .maxPool2d,
            .avgPool2d, .adaptiveAvgPool2d, .flatten, .linear, .dropout, .nativeBatchNorm, .maxPool2dWithIndices,
            .nativeDropout, .scale, .div, .channelNorm, .matmul, .reshape, .conv2dGradInput, .conv2dGradWeight,
            .biasGrad, .batchNormGrad, .activationGrad, .avgPool2dGrad, .adaptiveAvgPool2dGrad, .linearGradInput,
            .linearGradWeight, .sumTo, .sgdUpdate, .momentumUpdate, .adamUpdate, .adamDirection, .applyUpdate,
            .svdProjector, .activationMask, .batchNormFrozenGrad, .concat, .slice:
            .f32
        }
    }

    /// Throws unless `actual` has the shape `expected` has (a gradient must match its forward value).
    private static func expect(_ expected: TensorType, _ actual: TensorType, op: String) throws(ShapeError) {
        guard expected.shape == actual.shape else {
            throw ShapeError(
                "shape-mismatch", "\(op): expected \(Shape.format(expected.shape)), got \(Shape.format(actual.shape))")
        }
    }

    private static func image(_ t: TensorType, op: String) throws(ShapeError) -> Shape {
        guard t.rank == 4 else { throw ShapeError("rank", "\(op) expects a 4-D NCHW input, got \(t)") }
        return t.shape
    }

    private static func conv2d(_ a: Conv2dAttrs, _ operands: [TensorType]) throws(ShapeError) -> TensorType {
        let x = try image(operands[0], op: "conv2d")
        let w = operands[1].shape
        guard w.count == 4 else {
            throw ShapeError("rank", "conv2d weight must be 4-D [out, in/groups, kh, kw], got \(operands[1])")
        }
        guard a.groups >= 1 else { throw ShapeError("bad-size", "conv2d groups must be positive, got \(a.groups)") }
        for (name, v) in [("stride", a.stride), ("dilation", a.dilation)] where v.h < 1 || v.w < 1 {
            throw ShapeError("bad-size", "conv2d \(name) must be positive, got \(v)")
        }
        guard a.padding.h >= 0, a.padding.w >= 0 else {
            throw ShapeError("bad-size", "conv2d padding must not be negative, got \(a.padding)")
        }
        guard x[1] % a.groups == 0, w[0] % a.groups == 0 else {
            throw ShapeError(
                "channel-mismatch",
                "conv2d groups \(a.groups) must divide input channels \(x[1]) and output channels \(w[0])")
        }
        guard w[1] == x[1] / a.groups else {
            throw ShapeError(
                "channel-mismatch",
                "conv2d weight \(Shape.format(w)) with groups \(a.groups) expects \(w[1]) x \(a.groups) "
                    + "input channels, got \(x[1])")
        }
        if operands.count == 3, operands[2].shape != [w[0]] {
            throw ShapeError(
                "channel-mismatch",
                "conv2d bias has shape \(Shape.format(operands[2].shape)), expected [\(w[0])]")
        }
        func extent(_ n: Int, _ k: Int, _ s: Int, _ p: Int, _ d: Int) throws(ShapeError) -> Int {
            let span = d * (k - 1) + 1
            guard n + 2 * p >= span else {
                throw ShapeError(
                    "bad-size", "conv2d kernel (extent \(span)) is larger than the padded input (\(n + 2 * p))")
            }
            return (n + 2 * p - span) / s + 1
        }
        let h = try extent(x[2], w[2], a.stride.h, a.padding.h, a.dilation.h)
        let wd = try extent(x[3], w[3], a.stride.w, a.padding.w, a.dilation.w)
        return .f32([x[0], w[0], h, wd])
    }

    /// PyTorch's pooling output size, including `ceil_mode`'s rule that the last window must start
    /// inside the input or its left padding.
    private static func poolExtent(_ n: Int, _ k: Int, _ s: Int, _ p: Int, _ ceil: Bool, op: String)
        throws(ShapeError) -> Int
    {
        guard k >= 1, s >= 1, p >= 0 else {
            throw ShapeError("bad-size", "\(op) kernel and stride must be positive and padding not negative")
        }
        guard p * 2 <= k else { throw ShapeError("bad-attribute", "\(op) padding \(p) exceeds half the kernel \(k)") }
        let span = n + 2 * p - k
        guard span >= 0 else {
            throw ShapeError("bad-size", "\(op) kernel \(k) is larger than the padded input \(n + 2 * p)")
        }
        var out = (ceil ? (span + s - 1) / s : span / s) + 1
        if ceil && (out - 1) * s >= n + p { out -= 1 }
        return out
    }

    /// NumPy broadcasting of two shapes.
    public static func broadcast(_ a: Shape, _ b: Shape, op: String = "broadcast") throws(ShapeError) -> Shape {
        let rank = max(a.count, b.count)
        var out = Shape()
        for i in 0..<rank {
            let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            guard x == y || x == 1 || y == 1 else {
                throw ShapeError("shape-mismatch", "\(op) cannot broadcast \(Shape.format(a)) with \(Shape.format(b))")
            }
            out.append(max(x, y))
        }
        return out
    }
}
