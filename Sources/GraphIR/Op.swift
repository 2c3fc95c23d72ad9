/// A pair of spatial sizes (height, width), as PyTorch's `_pair` arguments.
public struct Pair: Sendable, Hashable, CustomStringConvertible {
    public var h: Int
    public var w: Int

    public init(_ h: Int, _ w: Int) {
        self.h = h
        self.w = w
    }

    public init(_ both: Int) { self.init(both, both) }

    public var description: String { "[\(h), \(w)]" }
}

public struct Conv2dAttrs: Sendable, Hashable {
    public var stride: Pair
    public var padding: Pair
    public var dilation: Pair
    public var groups: Int

    public init(stride: Pair = Pair(1), padding: Pair = Pair(0), dilation: Pair = Pair(1), groups: Int = 1) {
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }
}

public struct BatchNormAttrs: Sendable, Hashable {
    public var eps: Double
    public var momentum: Double
    /// Training semantics normalise with batch statistics (and update the running ones);
    /// inference semantics use the running statistics.
    public var training: Bool

    public init(eps: Double = 1e-5, momentum: Double = 0.1, training: Bool = false) {
        self.eps = eps
        self.momentum = momentum
        self.training = training
    }
}

public struct Pool2dAttrs: Sendable, Hashable {
    public var kernel: Pair
    public var stride: Pair
    public var padding: Pair
    public var ceilMode: Bool
    /// Average pooling only: whether padded zeros count in the divisor (PyTorch's default, true).
    public var countIncludePad: Bool

    public init(kernel: Pair, stride: Pair? = nil, padding: Pair = Pair(0), ceilMode: Bool = false,
                countIncludePad: Bool = true) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }
}

/// The closed set of operations. Per-op knowledge lives in one exhaustive `switch` per concern
/// (`Op+Shape.swift`, `Op+Cost.swift`, `Op+Attributes.swift`); none has a `default:` case, so
/// adding an op makes the compiler list every place to update.
///
/// Operand conventions (inputs in order):
/// - `conv2d`: x `[N, C, H, W]`, weight `[Co, C/groups, kh, kw]`, optional bias `[Co]`.
/// - `batchNorm`: x `[N, C, ...]`, gamma, beta, running mean, running variance (each `[C]`).
/// - `linear`: x `[..., in]`, weight `[out, in]`, optional bias `[out]`.
/// - `add`, `mul`: two operands, NumPy broadcasting.
/// - `softmaxCrossEntropy`: logits `[N, classes]` (f32), labels `[N]` (i64); mean loss, a scalar.
public enum Op: Sendable, Hashable {
    case conv2d(Conv2dAttrs)
    case batchNorm(BatchNormAttrs)
    case relu
    case relu6
    case hardswish
    case hardsigmoid
    case silu
    case sigmoid
    case add
    case mul
    case maxPool2d(Pool2dAttrs)
    case avgPool2d(Pool2dAttrs)
    case adaptiveAvgPool2d(output: Pair)
    case flatten(startDim: Int)
    case linear
    case dropout(p: Double)
    case softmaxCrossEntropy

    /// Every op name, in the spelling of the IR text and the model description format.
    public static let allNames: [String] = [
        "conv2d", "batch_norm", "relu", "relu6", "hardswish", "hardsigmoid", "silu", "sigmoid",
        "add", "mul", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "flatten", "linear",
        "dropout", "softmax_cross_entropy",
    ]

    /// The op's name in the IR text (snake_case).
    public var name: String {
        switch self {
        case .conv2d: "conv2d"
        case .batchNorm: "batch_norm"
        case .relu: "relu"
        case .relu6: "relu6"
        case .hardswish: "hardswish"
        case .hardsigmoid: "hardsigmoid"
        case .silu: "silu"
        case .sigmoid: "sigmoid"
        case .add: "add"
        case .mul: "mul"
        case .maxPool2d: "max_pool2d"
        case .avgPool2d: "avg_pool2d"
        case .adaptiveAvgPool2d: "adaptive_avg_pool2d"
        case .flatten: "flatten"
        case .linear: "linear"
        case .dropout: "dropout"
        case .softmaxCrossEntropy: "softmax_cross_entropy"
        }
    }

    /// What the op is for, used to colour and group graphs.
    public var category: OpCategory {
        switch self {
        case .conv2d: .conv
        case .batchNorm: .norm
        case .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid: .activation
        case .add, .mul: .elementwise
        case .maxPool2d, .avgPool2d, .adaptiveAvgPool2d: .pooling
        case .flatten: .shape
        case .linear: .linear
        case .dropout: .regularization
        case .softmaxCrossEntropy: .loss
        }
    }

    /// Unary elementwise ops whose output has the input's shape.
    public var isElementwiseUnary: Bool { category == .activation || self.isDropout }

    public var isDropout: Bool {
        if case .dropout = self { return true }
        return false
    }

    /// Number of outputs the op produces.
    public var outputCount: Int {
        switch self {
        case .conv2d, .batchNorm, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul,
             .maxPool2d, .avgPool2d, .adaptiveAvgPool2d, .flatten, .linear, .dropout, .softmaxCrossEntropy:
            1
        }
    }

    /// Accepted operand counts. Optional trailing operands (a bias) make a range.
    public var arity: ClosedRange<Int> {
        switch self {
        case .conv2d, .linear: 2...3
        case .batchNorm: 5...5
        case .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .maxPool2d, .avgPool2d,
             .adaptiveAvgPool2d, .flatten, .dropout:
            1...1
        case .add, .mul, .softmaxCrossEntropy: 2...2
        }
    }
}

public enum OpCategory: String, Sendable, CaseIterable {
    case conv
    case norm
    case activation
    case elementwise
    case pooling
    case shape
    case linear
    case regularization
    case loss
}
