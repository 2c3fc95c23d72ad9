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

    public init(
        kernel: Pair, stride: Pair? = nil, padding: Pair = Pair(0), ceilMode: Bool = false,
        countIncludePad: Bool = true
    ) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }
}

/// The elementwise activations, for the ops that act on one of them (their gradients).
public enum Activation: String, Sendable, Hashable, CaseIterable {
    case relu, relu6, hardswish, hardsigmoid, silu, sigmoid

    /// The forward op.
    public var op: Op {
        switch self {
        case .relu: .relu
        case .relu6: .relu6
        case .hardswish: .hardswish
        case .hardsigmoid: .hardsigmoid
        case .silu: .silu
        case .sigmoid: .sigmoid
        }
    }

    /// Whether the gradient is the incoming one or 0 per element, so that one bit per element can stand
    /// for the value it reads (`activation_mask`, `--saving lean`).
    public var hasMask: Bool {
        switch self {
        case .relu, .relu6: true
        case .hardswish, .hardsigmoid, .silu, .sigmoid: false
        }
    }

    /// Whether the gradient reads the forward output (as PyTorch saves it for relu and sigmoid) rather
    /// than the forward input.
    public var gradientUsesOutput: Bool {
        switch self {
        case .relu, .sigmoid: true
        case .relu6, .hardswish, .hardsigmoid, .silu: false
        }
    }
}

/// Hyper-parameters of the first-order optimizers. `decoupled` weight decay is AdamW's.
public struct OptimizerAttrs: Sendable, Hashable {
    public var lr: Double
    public var momentum: Double
    public var beta1: Double
    public var beta2: Double
    public var eps: Double
    public var weightDecay: Double
    public var decoupled: Bool

    public init(
        lr: Double, momentum: Double = 0, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8,
        weightDecay: Double = 0, decoupled: Bool = false
    ) {
        self.lr = lr
        self.momentum = momentum
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.decoupled = decoupled
    }
}

/// GaLore's projector: the top `rank` singular vectors of an m×n gradient, left (`P = U[:, :r]`, m×r,
/// used when m < n) or right (`P = Vᵀ[:r]`, r×n, when m ≥ n), recomputed every `gap` steps.
public struct ProjectorAttrs: Sendable, Hashable {
    public var rank: Int
    public var left: Bool
    public var gap: Int

    public init(rank: Int, left: Bool, gap: Int) {
        self.rank = rank
        self.left = left
        self.gap = gap
    }
}

/// The closed set of operations. Per-op knowledge lives in one exhaustive `switch` per concern
/// (`Op+Shape.swift`, `Op+Cost.swift`, `Op+Attributes.swift`, `Op+Memory.swift`, `Op+Gradient.swift`,
/// `Op+Groups.swift`); none has a `default:` case (NoDefaultInOpSwitchTests checks all of Sources/), so
/// adding an op makes the compiler list every place to update.
///
/// Operand conventions (inputs in order):
/// - `conv2d`: x `[N, C, H, W]`, weight `[Co, C/groups, kh, kw]`, optional bias `[Co]`.
/// - `batchNorm`: x `[N, C, ...]`, gamma, beta, running mean, running variance (each `[C]`).
/// - `linear`: x `[..., in]`, weight `[out, in]`, optional bias `[out]`.
/// - `add`, `mul`: two operands, NumPy broadcasting.
/// - `softmaxCrossEntropy`: logits `[N, classes]` (f32), labels `[N]` (i64); mean loss, a scalar.
///
/// Training graphs add PyTorch's training-mode forward ops (`native_batch_norm` returns the batch mean and
/// inverse standard deviation, `max_pool2d_with_indices` the argmax indices, `native_dropout` the mask),
/// one gradient op per forward rule (operands as PyTorch's backward functions take them, so what a
/// training graph keeps alive matches what autograd saves), and optimizer updates that return the new
/// parameter and state values (applied in place at run time).
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

    // Training-mode forward and weight-space ops.
    /// x, gamma, beta, running mean, running var → y, batch mean, batch inverse std (running stats updated).
    case nativeBatchNorm(BatchNormAttrs)
    /// x → y, indices (i64).
    case maxPool2dWithIndices(Pool2dAttrs)
    /// x → y, mask (bool).
    case nativeDropout(p: Double)
    /// x → c·x.
    case scale(Double)
    /// a / b with broadcasting.
    case div
    /// W `[C, ...]` → per-output-channel L2 norm `[C, 1, ...]`; its result is never differentiated (DoRA).
    case channelNorm
    /// 2-D matrix product with optional transposes.
    case matmul(transposeA: Bool, transposeB: Bool)
    /// s → mask: bit i says where the activation's gradient passes, from the value its gradient reads
    /// (relu: s[i] > 0, s the output; relu6: 0 < s[i] < 6, s the input), packed eight to a byte
    /// (`--saving lean` keeps it instead of that value). Only relu and relu6 have one.
    case activationMask(Activation)
    case reshape(shape: Shape)
    /// Operands joined along `axis` (2 to `ValueList.capacity` of them; the other dimensions equal).
    case concat(axis: Int)
    /// `length` entries of `axis` from `start`: the gradient of concat with respect to one operand.
    case slice(axis: Int, start: Int, length: Int)

    // Gradients.
    /// dy, weight → dx, for an input of spatial size `input`.
    case conv2dGradInput(Conv2dAttrs, input: Pair)
    /// dy, x → dweight, for a kernel of size `kernel`.
    case conv2dGradWeight(Conv2dAttrs, kernel: Pair)
    /// dy → sum over every dimension but 1 (bias gradient of conv and linear).
    case biasGrad
    /// dy, x, gamma, running mean, running var, batch mean, batch inverse std → dx, dgamma, dbeta.
    case batchNormGrad(BatchNormAttrs)
    /// dy, saved (the forward output for relu and sigmoid, else the input) → dx.
    case activationGrad(Activation)
    /// dy, mask (from `relu_mask` or `relu6_mask`) → dx = dy where the bit is set, else 0 (ReLU's and
    /// ReLU6's gradient under lean).
    case reluMaskGrad
    /// Batch norm with frozen (running) statistics: dy, gamma, running mean, running var, and x when the
    /// gamma gradient is wanted → dx = dy·gamma·invstd, dgamma = Σ dy·(x − mean)·invstd (0 without x),
    /// dbeta = Σ dy, with invstd = 1/√(running var + eps).
    case batchNormFrozenGrad(BatchNormAttrs)
    /// dy, x, indices → dx.
    case maxPool2dGrad(Pool2dAttrs)
    /// dy, x → dx.
    case avgPool2dGrad(Pool2dAttrs)
    /// dy, x → dx.
    case adaptiveAvgPool2dGrad
    /// dy, weight → dx.
    case linearGradInput
    /// dy, x → dweight.
    case linearGradWeight
    /// dy, mask → dx.
    case dropoutGrad(p: Double)
    /// logits, labels → dlogits of the mean loss.
    case softmaxCrossEntropyGrad
    /// x → x summed down to `shape` (the reverse of broadcasting).
    case sumTo(shape: Shape)

    // Optimizer steps: each returns the updated parameter and state.
    /// p, g → p.
    case sgdUpdate(OptimizerAttrs)
    /// p, g, momentum buffer → p, buffer.
    case momentumUpdate(OptimizerAttrs)
    /// p, g, m, v → p, m, v (AdamW when `decoupled`).
    case adamUpdate(OptimizerAttrs)
    /// g, m, v → GaLore's Adam direction (√(1−β₂ᵗ)/(1−β₁ᵗ))·m/(√v+ε), m, v (galore_torch's ε placement).
    case adamDirection(OptimizerAttrs)
    /// p, u → p − lr·(u + wd·p); decoupled: (p − lr·u)·(1 − lr·wd).
    case applyUpdate(OptimizerAttrs)
    /// G (m×n), P (the stored projector) → the refreshed projector, by a thin SVD every `gap` steps
    /// (amortised); it overwrites P in place.
    case svdProjector(ProjectorAttrs)

    /// Every op name, in the spelling of the IR text and the model description format.
    public static let allNames: [String] = [
        "conv2d", "batch_norm", "relu", "relu6", "hardswish", "hardsigmoid", "silu", "sigmoid",
        "add", "mul", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "flatten", "linear",
        "dropout", "softmax_cross_entropy",
        "native_batch_norm", "max_pool2d_with_indices", "native_dropout", "scale", "div", "channel_norm",
        "matmul", "reshape", "concat", "slice", "conv2d_grad_input", "conv2d_grad_weight", "bias_grad",
        "batch_norm_grad",
        "relu_grad", "relu6_grad", "hardswish_grad", "hardsigmoid_grad", "silu_grad", "sigmoid_grad",
        "max_pool2d_grad", "avg_pool2d_grad", "adaptive_avg_pool2d_grad", "linear_grad_input",
        "linear_grad_weight", "dropout_grad", "softmax_cross_entropy_grad", "sum_to", "sgd_update",
        "momentum_update", "adam_update", "adam_direction", "apply_update", "svd_projector", "relu_mask",
        "relu6_mask", "relu_mask_grad", "batch_norm_frozen_grad",
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
        case .nativeBatchNorm: "native_batch_norm"
        case .maxPool2dWithIndices: "max_pool2d_with_indices"
        case .nativeDropout: "native_dropout"
        case .scale: "scale"
        case .div: "div"
        case .channelNorm: "channel_norm"
        case .matmul: "matmul"
        case let .activationMask(a): "\(a.rawValue)_mask"
        case .reluMaskGrad: "relu_mask_grad"
        case .batchNormFrozenGrad: "batch_norm_frozen_grad"
        case .reshape: "reshape"
        case .concat: "concat"
        case .slice: "slice"
        case .conv2dGradInput: "conv2d_grad_input"
        case .conv2dGradWeight: "conv2d_grad_weight"
        case .biasGrad: "bias_grad"
        case .batchNormGrad: "batch_norm_grad"
        case let .activationGrad(a): "\(a.rawValue)_grad"
        case .maxPool2dGrad: "max_pool2d_grad"
        case .avgPool2dGrad: "avg_pool2d_grad"
        case .adaptiveAvgPool2dGrad: "adaptive_avg_pool2d_grad"
        case .linearGradInput: "linear_grad_input"
        case .linearGradWeight: "linear_grad_weight"
        case .dropoutGrad: "dropout_grad"
        case .softmaxCrossEntropyGrad: "softmax_cross_entropy_grad"
        case .sumTo: "sum_to"
        case .sgdUpdate: "sgd_update"
        case .momentumUpdate: "momentum_update"
        case .adamUpdate: "adam_update"
        case .adamDirection: "adam_direction"
        case .applyUpdate: "apply_update"
        case .svdProjector: "svd_projector"
        }
    }

    /// What the op is for, used to colour and group graphs.
    public var category: OpCategory {
        switch self {
        case .conv2d: .conv
        case .batchNorm: .norm
        case .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .activationMask: .activation
        case .add, .mul: .elementwise
        case .maxPool2d, .avgPool2d, .adaptiveAvgPool2d: .pooling
        case .flatten: .shape
        case .linear: .linear
        case .dropout, .nativeDropout: .regularization
        case .softmaxCrossEntropy: .loss
        case .nativeBatchNorm: .norm
        case .maxPool2dWithIndices: .pooling
        case .scale, .div: .elementwise
        case .channelNorm, .matmul: .weightSpace
        case .reshape, .concat, .slice: .shape
        case .conv2dGradInput, .conv2dGradWeight, .biasGrad, .batchNormGrad, .activationGrad, .maxPool2dGrad,
            .avgPool2dGrad, .adaptiveAvgPool2dGrad, .linearGradInput, .linearGradWeight, .dropoutGrad,
            .softmaxCrossEntropyGrad, .sumTo, .reluMaskGrad, .batchNormFrozenGrad:
            .gradient
        case .sgdUpdate, .momentumUpdate, .adamUpdate, .adamDirection, .applyUpdate: .optimizer
        case .svdProjector: .svd
        }
    }

    /// Number of outputs the op produces.
    public var outputCount: Int {
        switch self {
        case .conv2d, .batchNorm, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul,
            .maxPool2d, .avgPool2d, .adaptiveAvgPool2d, .flatten, .linear, .dropout, .softmaxCrossEntropy,
            .scale, .div, .channelNorm, .matmul, .reshape, .concat, .slice, .conv2dGradInput, .conv2dGradWeight,
            .biasGrad,
            .activationGrad, .maxPool2dGrad, .avgPool2dGrad, .adaptiveAvgPool2dGrad, .linearGradInput,
            .linearGradWeight, .dropoutGrad, .softmaxCrossEntropyGrad, .sumTo, .sgdUpdate, .applyUpdate,
            .svdProjector, .activationMask, .reluMaskGrad:
            1
        case .maxPool2dWithIndices, .nativeDropout, .momentumUpdate: 2
        case .nativeBatchNorm, .batchNormGrad, .adamUpdate, .adamDirection, .batchNormFrozenGrad: 3
        }
    }

    /// Accepted operand counts. Optional trailing operands (a bias) make a range.
    public var arity: ClosedRange<Int> {
        switch self {
        case .conv2d, .linear: 2...3
        case .batchNorm, .nativeBatchNorm: 5...5
        case .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .maxPool2d, .avgPool2d,
            .adaptiveAvgPool2d, .flatten, .dropout, .maxPool2dWithIndices, .nativeDropout, .scale, .channelNorm,
            .reshape, .biasGrad, .sumTo, .activationMask, .slice:
            1...1
        case .concat: 2...ValueList.capacity
        case .add, .mul, .softmaxCrossEntropy, .div, .matmul, .conv2dGradInput, .conv2dGradWeight, .activationGrad,
            .avgPool2dGrad, .adaptiveAvgPool2dGrad, .linearGradInput, .linearGradWeight, .dropoutGrad,
            .softmaxCrossEntropyGrad, .sgdUpdate, .applyUpdate, .svdProjector, .reluMaskGrad:
            2...2
        case .maxPool2dGrad, .momentumUpdate, .adamDirection: 3...3
        case .adamUpdate: 4...4
        case .batchNormGrad: 7...7
        case .batchNormFrozenGrad: 4...5
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
    /// Ops on weights rather than activations (adapter composition).
    case weightSpace = "weight_space"
    case gradient
    case optimizer
    case svd

    /// Whether ops of this category read parameters (weights, norm affines, optimizer state): the
    /// categories a head search does not look through.
    public var hasParameters: Bool {
        switch self {
        case .conv, .linear, .norm, .weightSpace, .optimizer: true
        case .activation, .elementwise, .pooling, .shape, .regularization, .loss, .gradient, .svd: false
        }
    }
}
