import GraphIR

/// Turns a forward graph into the training step a `TrainingConfig` describes: the fine-tuning rewrite,
/// autodiff, the optimizer, dead-code elimination — each a named pass, verified after it runs.
///
///     freeze → [lora | dora] → autodiff → optimizer → dce
public enum TrainingCompiler {
    /// The pipeline's passes, in order; their names are what `--print-ir-after` accepts.
    public static func passes(for config: TrainingConfig) -> [any Pass] {
        var passes: [any Pass] = [Freeze(config)]
        switch config.method {
        case .lora: passes.append(LoRA(config))
        case .dora: passes.append(DoRA(config))
        case .fft, .bnh, .head, .galore: break
        }
        passes += [Autodiff(), OptimizerPass(config), DeadCodeElimination()]
        return passes
    }

    /// Every pass name any configuration may run, for validating `--print-ir-after`.
    public static var passNames: [String] { ["freeze", "lora", "dora", "autodiff", "optimizer", "dce"] }

    /// Compiles the training step; `observe` sees the graph after every pass.
    public static func compile(_ forward: Graph, config: TrainingConfig,
                               observe: (String, Graph) throws -> Void = { _, _ in }) throws(PassError) -> Graph
    {
        try PassPipeline(passes(for: config)).run(forward, after: observe)
    }
}
