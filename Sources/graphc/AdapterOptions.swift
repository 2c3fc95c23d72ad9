import ArgumentParser
import GraphIR
import Passes

/// `--method lora|dora` and its adapter options, for the commands that adapt a forward graph before they
/// use it (`run`, `export-onnx`).
struct AdapterOptions: ParsableArguments {
    @Option(help: "Adapt the model first: lora or dora (a checkpoint given then holds the adapters).")
    var method: FineTuningMethod?

    @Option(help: ArgumentHelp(PassOption.rank.help))
    var rank: Int = TrainingConfig.defaults.rank

    @Option(help: ArgumentHelp(PassOption.alpha.help))
    var alpha: Double?

    @Option(help: ArgumentHelp(PassOption.head.help))
    var head: HeadMode = TrainingConfig.defaults.head

    @Flag(help: ArgumentHelp(PassOption.adaptDepthwise.help))
    var adaptDepthwise = false

    /// Rejects a rank, alpha or method `command` cannot use.
    func check(_ command: String) throws {
        if rank < 1 { throw ValidationError("--rank must be at least 1, got \(rank)") }
        if let alpha, !(alpha > 0) { throw ValidationError("--alpha must be positive") }
        if let method, method != .lora && method != .dora {
            throw ValidationError(
                "--method \(method.rawValue) adds no adapters; \(command) takes --method lora or dora")
        }
    }

    /// `forward` with the method's adapters (freeze, then lora or dora), verified; `forward` itself
    /// without --method.
    func adapted(_ forward: Graph) throws -> Graph {
        guard let method else { return forward }
        var config = TrainingConfig(method: method)
        config.rank = rank
        config.alpha = alpha
        config.head = head
        config.adaptDepthwise = adaptDepthwise
        let adapter: any Pass = method == .lora ? LoRA(config) : DoRA(config)
        return try PassPipeline([Freeze(config), adapter]).run(forward)
    }
}
