/// Attributes per op: the table the IR printer writes and the parser reads back.
///
/// `Op.attributes` lists an op's attributes sorted by key; `Op(name:attributes:)` is its inverse and
/// checks the op name, the keys and the value types (not the ranges: shape inference owns those, so one
/// rule decides e.g. whether a stride may be 0). Both are exhaustive switches over `Op` without
/// `default:`, so adding an op or an attribute makes the compiler point here.
///
/// Keys: conv2d `dilation, groups, padding, stride`; batch_norm `eps, momentum, training`;
/// max_pool2d `ceil_mode, kernel, padding, stride`; avg_pool2d adds `count_include_pad` (it means
/// nothing for max pooling, so max_pool2d neither prints nor accepts it); adaptive_avg_pool2d `output`;
/// flatten `start_dim`; dropout `p`. Other ops have none.

/// One attribute value as the IR text writes it.
public enum AttributeValue: Sendable, Hashable, CustomStringConvertible {
    case int(Int)
    case float(Double)
    case bool(Bool)
    case pair(Pair)
    case ints([Int])

    /// The IR spelling: `3`, `1e-05` (shortest round-trip form), `true`, `[1, 2]`.
    public var description: String {
        switch self {
        case let .int(v): String(v)
        case let .float(v): v.description
        case let .bool(v): v ? "true" : "false"
        case let .pair(v): v.description
        case let .ints(v): "[" + v.map(String.init).joined(separator: ", ") + "]"
        }
    }

    /// The kind of value, for messages: `integer`, `float`, `boolean` or `pair`.
    public var kindName: String {
        switch self {
        case .int: "integer"
        case .float: "float"
        case .bool: "boolean"
        case .pair: "pair"
        case .ints: "integer list"
        }
    }
}

/// Why `Op(name:attributes:)` refused: every problem found, each with a stable id
/// (`unknown-op`, `unknown-attribute`, `missing-attribute`, `attribute-type`) and the key concerned.
public struct AttributeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// One problem with an op name or one of its attributes.
    public struct Problem: Sendable, Hashable {
        public var id: String
        public var message: String
        /// The attribute key concerned (unknown, missing or mistyped); nil for an unknown op.
        public var key: String?

        public init(id: String, message: String, key: String? = nil) {
            self.id = id
            self.message = message
            self.key = key
        }
    }

    public var problems: [Problem]

    public init(_ problems: [Problem]) { self.problems = problems }

    public var description: String { problems.map(\.message).joined(separator: "\n") }
}

extension Op {
    /// The op's attributes, sorted by key (empty for ops without attributes).
    public var attributes: [(key: String, value: AttributeValue)] {
        switch self {
        case let .conv2d(a):
            Self.convAttributes(a)
        case let .conv2dGradInput(a, input):
            (Self.convAttributes(a) + [("input", .pair(input))]).sorted { $0.key < $1.key }
        case let .conv2dGradWeight(a, kernel):
            (Self.convAttributes(a) + [("kernel", .pair(kernel))]).sorted { $0.key < $1.key }
        case let .batchNorm(a), let .nativeBatchNorm(a), let .batchNormGrad(a), let .batchNormFrozenGrad(a):
            [("eps", .float(a.eps)), ("momentum", .float(a.momentum)), ("training", .bool(a.training))]
        case let .maxPool2d(a), let .maxPool2dWithIndices(a), let .maxPool2dGrad(a):
            [
                ("ceil_mode", .bool(a.ceilMode)), ("kernel", .pair(a.kernel)), ("padding", .pair(a.padding)),
                ("stride", .pair(a.stride)),
            ]
        case let .avgPool2d(a), let .avgPool2dGrad(a):
            [
                ("ceil_mode", .bool(a.ceilMode)), ("count_include_pad", .bool(a.countIncludePad)),
                ("kernel", .pair(a.kernel)), ("padding", .pair(a.padding)), ("stride", .pair(a.stride)),
            ]
        case let .adaptiveAvgPool2d(output):
            [("output", .pair(output))]
        case let .flatten(startDim):
            [("start_dim", .int(startDim))]
        case let .dropout(p), let .nativeDropout(p), let .dropoutGrad(p):
            [("p", .float(p))]
        case let .scale(factor):
            [("factor", .float(factor))]
        case let .matmul(ta, tb):
            [("transpose_a", .bool(ta)), ("transpose_b", .bool(tb))]
        case let .reshape(shape), let .sumTo(shape):
            [("shape", .ints(shape.array))]
        case let .concat(axis):
            [("axis", .int(axis))]
        case let .slice(axis, start, length):
            [("axis", .int(axis)), ("length", .int(length)), ("start", .int(start))]
        case let .sgdUpdate(a), let .momentumUpdate(a), let .adamUpdate(a), let .adamDirection(a),
            let .applyUpdate(a):
            [
                ("beta1", .float(a.beta1)), ("beta2", .float(a.beta2)), ("decoupled", .bool(a.decoupled)),
                ("eps", .float(a.eps)), ("lr", .float(a.lr)), ("momentum", .float(a.momentum)),
                ("weight_decay", .float(a.weightDecay)),
            ]
        case let .svdProjector(a):
            [("gap", .int(a.gap)), ("left", .bool(a.left)), ("rank", .int(a.rank))]
        case .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul, .linear, .softmaxCrossEntropy,
            .div, .channelNorm, .biasGrad, .activationGrad, .adaptiveAvgPool2dGrad, .linearGradInput,
            .linearGradWeight, .softmaxCrossEntropyGrad, .activationMask, .reluMaskGrad:
            []
        }
    }

    private static func convAttributes(_ a: Conv2dAttrs) -> [(key: String, value: AttributeValue)] {
        [
            ("dilation", .pair(a.dilation)), ("groups", .int(a.groups)), ("padding", .pair(a.padding)),
            ("stride", .pair(a.stride)),
        ]
    }

    /// Builds an op from its IR name and attributes; throws every unknown op, unknown or missing key
    /// and wrongly typed value. An integer is accepted where a float is expected (`p = 0`).
    public init(name: String, attributes: [String: AttributeValue]) throws(AttributeError) {
        var reader = AttributeReader(op: name, attributes: attributes)
        let op: Op
        switch name {
        case "conv2d": op = .conv2d(reader.conv())
        case "conv2d_grad_input": op = .conv2dGradInput(reader.conv(), input: reader.pair("input"))
        case "conv2d_grad_weight": op = .conv2dGradWeight(reader.conv(), kernel: reader.pair("kernel"))
        case "batch_norm": op = .batchNorm(reader.batchNorm())
        case "native_batch_norm": op = .nativeBatchNorm(reader.batchNorm())
        case "batch_norm_grad": op = .batchNormGrad(reader.batchNorm())
        case "batch_norm_frozen_grad": op = .batchNormFrozenGrad(reader.batchNorm())
        case "relu_mask": op = .activationMask(.relu)
        case "relu6_mask": op = .activationMask(.relu6)
        case "relu_mask_grad": op = .reluMaskGrad
        case "max_pool2d": op = .maxPool2d(reader.maxPool())
        case "max_pool2d_with_indices": op = .maxPool2dWithIndices(reader.maxPool())
        case "max_pool2d_grad": op = .maxPool2dGrad(reader.maxPool())
        case "avg_pool2d": op = .avgPool2d(reader.avgPool())
        case "avg_pool2d_grad": op = .avgPool2dGrad(reader.avgPool())
        case "adaptive_avg_pool2d": op = .adaptiveAvgPool2d(output: reader.pair("output"))
        case "flatten": op = .flatten(startDim: reader.int("start_dim"))
        case "dropout": op = .dropout(p: reader.float("p"))
        case "native_dropout": op = .nativeDropout(p: reader.float("p"))
        case "dropout_grad": op = .dropoutGrad(p: reader.float("p"))
        case "scale": op = .scale(reader.float("factor"))
        case "div": op = .div
        case "channel_norm": op = .channelNorm
        case "matmul": op = .matmul(transposeA: reader.bool("transpose_a"), transposeB: reader.bool("transpose_b"))
        case "reshape": op = .reshape(shape: reader.shape("shape"))
        case "concat": op = .concat(axis: reader.int("axis"))
        case "slice": op = .slice(axis: reader.int("axis"), start: reader.int("start"), length: reader.int("length"))
        case "sum_to": op = .sumTo(shape: reader.shape("shape"))
        case "bias_grad": op = .biasGrad
        case "adaptive_avg_pool2d_grad": op = .adaptiveAvgPool2dGrad
        case "linear_grad_input": op = .linearGradInput
        case "linear_grad_weight": op = .linearGradWeight
        case "softmax_cross_entropy_grad": op = .softmaxCrossEntropyGrad
        case "sgd_update": op = .sgdUpdate(reader.optimizer())
        case "momentum_update": op = .momentumUpdate(reader.optimizer())
        case "adam_update": op = .adamUpdate(reader.optimizer())
        case "adam_direction": op = .adamDirection(reader.optimizer())
        case "apply_update": op = .applyUpdate(reader.optimizer())
        case "svd_projector":
            op = .svdProjector(
                ProjectorAttrs(rank: reader.int("rank"), left: reader.bool("left"), gap: reader.int("gap")))
        case _ where name.hasSuffix("_grad") && Activation(rawValue: String(name.dropLast(5))) != nil:
            op = .activationGrad(Activation(rawValue: String(name.dropLast(5)))!)
        case "relu": op = .relu
        case "relu6": op = .relu6
        case "hardswish": op = .hardswish
        case "hardsigmoid": op = .hardsigmoid
        case "silu": op = .silu
        case "sigmoid": op = .sigmoid
        case "add": op = .add
        case "mul": op = .mul
        case "linear": op = .linear
        case "softmax_cross_entropy": op = .softmaxCrossEntropy
        default:
            // A string switch needs a default; the exhaustive direction is `attributes` and `Op.name`.
            throw AttributeError([.init(id: "unknown-op", message: "unknown op '\(name)'")])
        }
        for key in attributes.keys.sorted() where !reader.used.contains(key) {
            reader.problems.append(
                .init(
                    id: "unknown-attribute",
                    message: "\(name) has no attribute '\(key)'", key: key))
        }
        guard reader.problems.isEmpty else { throw AttributeError(reader.problems) }
        self = op
    }
}

/// Reads typed attributes, recording problems instead of stopping at the first, and returning a
/// placeholder for a bad value so that construction can continue.
private struct AttributeReader {
    let op: String
    let attributes: [String: AttributeValue]
    var used: Set<String> = []
    var problems: [AttributeError.Problem] = []

    init(op: String, attributes: [String: AttributeValue]) {
        self.op = op
        self.attributes = attributes
    }

    private mutating func value(_ key: String, _ expected: String) -> AttributeValue? {
        used.insert(key)
        guard let value = attributes[key] else {
            problems.append(
                .init(
                    id: "missing-attribute", message: "\(op) needs attribute '\(key)' (\(expected))",
                    key: key))
            return nil
        }
        return value
    }

    private mutating func mismatch(_ key: String, _ expected: String, _ value: AttributeValue) {
        problems.append(
            .init(
                id: "attribute-type",
                message: "\(op) attribute '\(key)' must be a \(expected), got \(value.kindName) \(value)",
                key: key))
    }

    mutating func int(_ key: String) -> Int {
        switch value(key, "integer") {
        case let .int(v)?: return v
        case let other?: mismatch(key, "integer", other); return 0
        case nil: return 0
        }
    }

    mutating func float(_ key: String) -> Double {
        switch value(key, "float") {
        case let .float(v)?: return v
        case let .int(v)?: return Double(v)
        case let other?: mismatch(key, "float", other); return 0
        case nil: return 0
        }
    }

    mutating func bool(_ key: String) -> Bool {
        switch value(key, "boolean") {
        case let .bool(v)?: return v
        case let other?: mismatch(key, "boolean", other); return false
        case nil: return false
        }
    }

    mutating func ints(_ key: String) -> [Int] {
        switch value(key, "integer list") {
        case let .ints(v)?: return v
        case let .pair(p)?: return [p.h, p.w]
        case let other?: mismatch(key, "integer list", other); return []
        case nil: return []
        }
    }

    /// A shape attribute: an integer list of at most `Shape.maxRank` entries.
    mutating func shape(_ key: String) -> Shape {
        let dims = ints(key)
        guard let shape = Shape(checking: dims) else {
            problems.append(
                .init(
                    id: "bad-attribute",
                    message: "\(op) attribute '\(key)' has \(dims.count) dimensions; "
                        + "graphc supports rank \(Shape.maxRank) at most", key: key))
            return Shape()
        }
        return shape
    }

    mutating func conv() -> Conv2dAttrs {
        Conv2dAttrs(stride: pair("stride"), padding: pair("padding"), dilation: pair("dilation"), groups: int("groups"))
    }

    mutating func batchNorm() -> BatchNormAttrs {
        BatchNormAttrs(eps: float("eps"), momentum: float("momentum"), training: bool("training"))
    }

    mutating func maxPool() -> Pool2dAttrs {
        Pool2dAttrs(
            kernel: pair("kernel"), stride: pair("stride"), padding: pair("padding"), ceilMode: bool("ceil_mode"))
    }

    mutating func avgPool() -> Pool2dAttrs {
        Pool2dAttrs(
            kernel: pair("kernel"), stride: pair("stride"), padding: pair("padding"),
            ceilMode: bool("ceil_mode"), countIncludePad: bool("count_include_pad"))
    }

    mutating func optimizer() -> OptimizerAttrs {
        OptimizerAttrs(
            lr: float("lr"), momentum: float("momentum"), beta1: float("beta1"), beta2: float("beta2"),
            eps: float("eps"), weightDecay: float("weight_decay"), decoupled: bool("decoupled"))
    }

    mutating func pair(_ key: String) -> Pair {
        switch value(key, "pair [h, w]") {
        case let .pair(v)?: return v
        case let other?: mismatch(key, "pair [h, w]", other); return Pair(0)
        case nil: return Pair(0)
        }
    }
}
