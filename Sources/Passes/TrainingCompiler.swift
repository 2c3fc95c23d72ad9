import GraphIR

/// Turns a forward graph into the training step a `TrainingConfig` describes: the fine-tuning rewrite,
/// autodiff, the optimizer, dead-code elimination — each a named pass, verified after it runs.
///
///     freeze → [lora | dora] → autodiff → optimizer → dce
public enum TrainingCompiler {
    /// The pipeline's passes, in order: the registered passes (`PassRegistry`) that run for the config's
    /// method; their names are what `--print-ir-after` shows.
    public static func passes(for config: TrainingConfig) -> [any Pass] {
        PassRegistry.trainingPipeline(for: config)
    }

    /// Compiles the training step; `observe` sees the graph after every pass.
    public static func compile(
        _ forward: Graph, config: TrainingConfig,
        observe: (String, Graph) throws -> Void = { _, _ in }
    ) throws(PassError) -> Graph {
        try PassPipeline(passes(for: config)).run(forward, after: observe)
    }
}
