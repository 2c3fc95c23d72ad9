/// Which parameters may sit in which operand slot: the verifier's `operand-role` rule.
///
/// A parameter in the wrong slot type-checks when shapes agree (γ and β have one shape; a running mean
/// fits where γ goes), yet trains the wrong tensor. So each op says, per operand, the roles a parameter
/// there may have (`requiredRoles`), and where adapter parameters may appear outside those slots
/// (`adapterRoles`: LoRA's factors are reshaped and multiplied, DoRA's magnitude scales). One exhaustive
/// switch per fact, no `default:`.

/// A set of parameter roles, as bits.
public struct ParamRoles: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ role: ParamRole) { rawValue = 1 << role.bit }

    public static let weight = ParamRoles(.weight)
    public static let bias = ParamRoles(.bias)
    public static let bnGamma = ParamRoles(.bnGamma)
    public static let bnBeta = ParamRoles(.bnBeta)
    public static let runningMean = ParamRoles(.runningMean)
    public static let runningVar = ParamRoles(.runningVar)
    public static let loraA = ParamRoles(.loraA)
    public static let loraB = ParamRoles(.loraB)
    public static let doraMagnitude = ParamRoles(.doraMagnitude)
    public static let momentumBuffer = ParamRoles(.momentumBuffer)
    public static let expAvg = ParamRoles(.expAvg)
    public static let expAvgSq = ParamRoles(.expAvgSq)
    public static let galoreProjector = ParamRoles(.galoreProjector)

    /// A layer's weight, or a LoRA factor standing in for one (`conv2d(x, A)`).
    public static let weights: ParamRoles = [.weight, .loraA, .loraB]
    /// What `model.parameters()` yields: what an optimizer updates.
    public static let learnable: ParamRoles = [.weight, .bias, .bnGamma, .bnBeta, .loraA, .loraB, .doraMagnitude]

    public func contains(_ role: ParamRole) -> Bool { contains(ParamRoles(role)) }

    /// The roles' names, sorted: `bn_gamma`, `weight`, ...
    public var names: [String] { ParamRole.allCases.filter { contains($0) }.map(\.rawValue).sorted() }
}

extension ParamRole {
    /// The role's bit in `ParamRoles`.
    var bit: UInt16 {
        switch self {
        case .weight: 0
        case .bias: 1
        case .bnGamma: 2
        case .bnBeta: 3
        case .runningMean: 4
        case .runningVar: 5
        case .loraA: 6
        case .loraB: 7
        case .doraMagnitude: 8
        case .momentumBuffer: 9
        case .expAvg: 10
        case .expAvgSq: 11
        case .galoreProjector: 12
        }
    }
}

extension Op {
    /// The roles a parameter in operand `slot` must have, or nil where any parameter may stand (an
    /// adapter parameter only where `adapterRoles` allows it).
    public func requiredRoles(operand slot: Int) -> ParamRoles? {
        switch self {
        case .conv2d, .linear: slot == 1 ? .weights : slot == 2 ? .bias : nil
        case .conv2dGradInput, .linearGradInput: slot == 1 ? .weights : nil
        case .batchNorm, .nativeBatchNorm:
            switch slot {
            case 1: .bnGamma
            case 2: .bnBeta
            case 3: .runningMean
            case 4: .runningVar
            case _: nil
            }
        case .batchNormGrad:
            switch slot {
            case 2: .bnGamma
            case 3: .runningMean
            case 4: .runningVar
            case _: nil
            }
        case .batchNormFrozenGrad:
            switch slot {
            case 1: .bnGamma
            case 2: .runningMean
            case 3: .runningVar
            case _: nil
            }
        case .sgdUpdate, .applyUpdate: slot == 0 ? .learnable : nil
        case .momentumUpdate: slot == 0 ? .learnable : slot == 2 ? .momentumBuffer : nil
        case .adamUpdate: slot == 0 ? .learnable : slot == 2 ? .expAvg : slot == 3 ? .expAvgSq : nil
        case .adamDirection: slot == 1 ? .expAvg : slot == 2 ? .expAvgSq : nil
        case .svdProjector: slot == 1 ? .galoreProjector : nil
        case .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul, .maxPool2d, .avgPool2d,
            .adaptiveAvgPool2d, .flatten, .dropout, .softmaxCrossEntropy, .maxPool2dWithIndices, .nativeDropout,
            .scale, .div, .channelNorm, .matmul, .reshape, .conv2dGradWeight, .biasGrad, .activationGrad,
            .maxPool2dGrad, .avgPool2dGrad, .adaptiveAvgPool2dGrad, .linearGradWeight, .dropoutGrad,
            .softmaxCrossEntropyGrad, .sumTo, .activationMask, .reluMaskGrad, .concat, .slice:
            nil
        }
    }

    /// The adapter roles a parameter may have in operand `slot` where `requiredRoles` sets no rule: the
    /// places the LoRA and DoRA rewrites put them (DoRA reshapes and multiplies the factors into a weight
    /// update and scales by the magnitude).
    public func adapterRoles(operand slot: Int) -> ParamRoles {
        switch self {
        case .reshape: slot == 0 ? [.loraA, .loraB] : []
        case .matmul: [.loraA, .loraB]
        case .mul, .div: .doraMagnitude
        case .conv2d, .batchNorm, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .maxPool2d,
            .avgPool2d, .adaptiveAvgPool2d, .flatten, .linear, .dropout, .softmaxCrossEntropy, .nativeBatchNorm,
            .maxPool2dWithIndices, .nativeDropout, .scale, .channelNorm, .conv2dGradInput, .conv2dGradWeight,
            .biasGrad, .batchNormGrad, .activationGrad, .maxPool2dGrad, .avgPool2dGrad, .adaptiveAvgPool2dGrad,
            .linearGradInput, .linearGradWeight, .dropoutGrad, .softmaxCrossEntropyGrad, .sumTo, .sgdUpdate,
            .momentumUpdate, .adamUpdate, .adamDirection, .applyUpdate, .svdProjector, .activationMask, .reluMaskGrad,
            .batchNormFrozenGrad, .concat, .slice:
            []
        }
    }
}
