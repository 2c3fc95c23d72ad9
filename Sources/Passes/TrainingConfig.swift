import GraphIR

/// A fine-tuning method, as the study names them.
public enum FineTuningMethod: String, Sendable, Hashable, CaseIterable {
    /// Full fine-tuning: every parameter trainable.
    case fft
    /// BatchNorm affine parameters and the classifier head.
    case bnh
    /// The classifier head only.
    case head
    case lora
    case dora
    /// Full-size gradients, low-rank Adam state (gradient projection).
    case galore
}

public enum OptimizerKind: String, Sendable, Hashable, CaseIterable {
    case sgd
    case momentum
    case adam
    case adamw
}

/// What happens to the classifier head under LoRA and DoRA.
public enum HeadMode: String, Sendable, Hashable, CaseIterable {
    /// Fully trainable (the default).
    case train
    /// Adapted like the other targets.
    case lora
    case frozen
}

/// Everything that turns a forward graph into a training step.
public struct TrainingConfig: Sendable, Hashable {
    public var method: FineTuningMethod
    /// LoRA / DoRA / GaLore rank.
    public var rank: Int = 8
    /// LoRA / DoRA alpha (default: the rank, so the scale alpha/r is 1).
    public var alpha: Double?
    public var head: HeadMode = .train
    /// Adapt depthwise convs too (LoRA / DoRA).
    public var adaptDepthwise = false
    /// Extra parameters to train, by name or layer glob (`layer4.*`); with `fft`/`bnh`/`head` they add to
    /// the method's set.
    public var train: [String] = []
    public var optimizer: OptimizerKind = .adam
    public var learningRate: Double = 1e-3
    public var momentum: Double = 0.9
    public var weightDecay: Double = 0
    /// Apply each update as soon as its gradient is complete.
    public var releaseGrads = false
    public var galoreGap = 200
    public var galoreScale = 0.25

    public init(method: FineTuningMethod) { self.method = method }

    /// alpha / rank.
    public var loraScale: Double { (alpha ?? Double(rank)) / Double(rank) }
}
