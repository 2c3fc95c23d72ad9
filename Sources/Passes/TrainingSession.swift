import GraphIR

/// A compiled training step and what it was compiled from: the forward graph, the configuration, the
/// training graph and, for LoRA and DoRA, the adapter plan (what `graphc` reports before training).
public struct TrainingSession: Sendable {
    public var forward: Graph
    public var training: Graph
    public var config: TrainingConfig
    /// The adapter plan, for LoRA and DoRA.
    public var adapters: AdapterPlan?

    public init(forward: Graph, training: Graph, config: TrainingConfig, adapters: AdapterPlan?) {
        self.forward = forward
        self.training = training
        self.config = config
        self.adapters = adapters
    }

    /// Plans the adapters (LoRA, DoRA) and compiles the training step; `observe` sees the graph after
    /// every pass.
    public static func compile(
        _ forward: Graph, config: TrainingConfig,
        observe: (String, Graph) -> Void = { _, _ in }
    ) throws -> TrainingSession {
        var adapters: AdapterPlan?
        switch config.method {
        case .lora: adapters = try LoRA.plan(forward, config: config)
        case .dora: adapters = try DoRA.plan(forward, config: config)
        case .fft, .bnh, .head, .galore: break
        }
        let training = try TrainingCompiler.compile(forward, config: config) { pass, graph in observe(pass, graph) }
        return TrainingSession(forward: forward, training: training, config: config, adapters: adapters)
    }
}

extension FineTuningMethod {
    /// LoRA, DoRA and GaLore take a rank; the others do not.
    public var takesRank: Bool {
        switch self {
        case .lora, .dora, .galore: true
        case .fft, .bnh, .head: false
        }
    }
}

extension TrainingConfig {
    /// `lora r8`, `fft`, `galore r4`: the method with its rank where it takes one.
    public var label: String { method.takesRank ? "\(method.rawValue) r\(rank)" : method.rawValue }

    /// `saving pytorch · BN train · weights f32 · activations f32`: the memory model the reports name in
    /// their headers: the saving policy, BN mode and storage precision (`SetPrecision`).
    public var memoryModelLabel: String {
        "saving \(saving.rawValue) · BN \(bn.rawValue) · weights \(weights.rawValue) · "
            + "activations \(activations.rawValue)"
    }

    /// The LoRA / DoRA alpha in effect: the given one, else the rank (a scale of 1).
    public var effectiveAlpha: Double { alpha ?? Double(rank) }
}
