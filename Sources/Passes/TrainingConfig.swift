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

/// How BatchNorm normalises during training.
public enum BatchNormMode: String, Sendable, Hashable, CaseIterable {
    /// Batch statistics, running statistics updated (PyTorch's `module.train()`).
    case train
    /// Running statistics, not updated; the affine parameters train where the method says so (PyTorch's
    /// `module.eval()` on the BN layers; what on-device training at batch 1 does).
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
    /// Adapt depthwise convs too (LoRA / DoRA); GaLore: project their kernels too.
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
    /// What the step keeps for backward (`SavingPolicy`); `lean` adds the `lean-saving` pass.
    public var saving: SavingPolicy = .pytorch
    /// BatchNorm's statistics during training.
    public var bn: BatchNormMode = .train
    /// Storage of frozen weights and of activations (`SetPrecision`); f32 runs no `set-precision`.
    public var weights: WeightPrecision = .f32
    public var activations: ActivationPrecision = .f32

    public init(method: FineTuningMethod) { self.method = method }

    /// alpha / rank.
    public var loraScale: Double { (alpha ?? Double(rank)) / Double(rank) }

    /// Checks every number: a rank (for LoRA, DoRA and GaLore) and a GaLore gap of at least 1; a finite, positive alpha, learning
    /// rate and GaLore scale; a finite momentum in [0, 1) and a finite, non-negative weight decay. NaN and
    /// infinity would otherwise flow into the IR's attributes and every count derived from them. Every
    /// pass that reads a configuration (freeze, lora, dora, optimizer, and the adapter plans) calls it
    /// first, so Swift callers get the same protection as the command line. Throws `bad-option` naming
    /// the field (and its command-line spelling); a rank below 1 is `bad-rank`.
    public func validate() throws(Diagnostic) {
        func bad(_ field: String, _ option: String, _ rule: String, _ value: String, id: String = "bad-option")
            -> Diagnostic
        {
            .error(id, "\(field) (\(option)) must be \(rule), got \(value)")
        }
        // The rank means something to the low-rank methods only (compare passes 0 to the others).
        if rank < 1 && [.lora, .dora, .galore].contains(method) {
            throw bad("rank", "--rank", "at least 1", String(rank), id: "bad-rank")
        }
        if galoreGap < 1 { throw bad("galoreGap", "--galore-gap", "at least 1", String(galoreGap)) }
        if let alpha, !(alpha.isFinite && alpha > 0) {
            throw bad("alpha", "--alpha", "a finite number above 0", String(alpha))
        }
        if !(learningRate.isFinite && learningRate > 0) {
            throw bad("learningRate", "--learning-rate", "a finite number above 0", String(learningRate))
        }
        if !(momentum.isFinite && momentum >= 0 && momentum < 1) {
            throw bad("momentum", "--momentum", "a finite number in [0, 1)", String(momentum))
        }
        if !(weightDecay.isFinite && weightDecay >= 0) {
            throw bad("weightDecay", "--weight-decay", "a finite number of at least 0", String(weightDecay))
        }
        if !(galoreScale.isFinite && galoreScale > 0) {
            throw bad("galoreScale", "--galore-scale", "a finite number above 0", String(galoreScale))
        }
    }
}
