import ArgumentParser
import Passes

extension FineTuningMethod: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension HeadMode: ExpressibleByArgument {}

/// Everything about a training step but the method and rank: shared by the commands that compile one
/// method (analyze, timeline, dot --training) and by compare, which sweeps methods and ranks.
struct StepOptions: ParsableArguments {
    // Numeric options parse their value unconditionally, so `--alpha -1` reaches validate() and is
    // rejected by name instead of being read as an unknown option `-1` ("Missing value").
    @Option(parsing: .unconditional, help: "LoRA / DoRA alpha (default: the rank, a scale of 1).")
    var alpha: Double?

    @Option(help: "Optimizer: sgd, momentum, adam or adamw.")
    var optimizer: OptimizerKind = .adam

    @Option(help: "LoRA / DoRA: the classifier head is trained fully (train), adapted (lora) or frozen.")
    var head: HeadMode = .train

    @Flag(help: "LoRA / DoRA: adapt depthwise convs too (rank must be a multiple of their channels).")
    var adaptDepthwise = false

    @Option(name: .customLong("train"), parsing: .singleValue,
            help: ArgumentHelp("Also train parameters matching GLOB, e.g. 'layer4.*' (repeatable).", valueName: "GLOB"))
    var trainGlobs: [String] = []

    @Flag(help: "Apply each update as soon as its gradient is complete, so gradients die early.")
    var releaseGrads = false

    @Option(parsing: .unconditional, help: "GaLore: steps between SVD projector updates.")
    var galoreGap: Int = 200

    @Option(parsing: .unconditional, help: "GaLore: scale of the projected update.")
    var galoreScale: Double = 0.25

    func validate() throws {
        if let alpha, !(alpha.isFinite && alpha > 0) {
            throw ValidationError("--alpha must be a finite number above 0, got \(alpha)")
        }
        if galoreGap < 1 { throw ValidationError("--galore-gap must be at least 1, got \(galoreGap)") }
        if !(galoreScale.isFinite && galoreScale > 0) {
            throw ValidationError("--galore-scale must be a finite number above 0, got \(galoreScale)")
        }
    }

    /// The configuration of `method` at `rank` with these options.
    func config(_ method: FineTuningMethod, rank: Int) -> TrainingConfig {
        var c = TrainingConfig(method: method)
        c.rank = rank
        c.alpha = alpha
        c.optimizer = optimizer
        c.head = head
        c.adaptDepthwise = adaptDepthwise
        c.train = trainGlobs
        c.releaseGrads = releaseGrads
        c.galoreGap = galoreGap
        c.galoreScale = galoreScale
        return c
    }
}

/// How to fine-tune: the method and its knobs, for the commands that compile one training step.
struct TrainingOptions: ParsableArguments {
    @Option(help: "Fine-tuning method: fft, bnh, head, lora, dora or galore (default: fft).")
    var method: FineTuningMethod?

    @Option(parsing: .unconditional, help: "LoRA / DoRA / GaLore rank.")
    var rank: Int = 8

    @OptionGroup var step: StepOptions

    func validate() throws {
        if rank < 1 { throw ValidationError("--rank must be at least 1, got \(rank)") }
        if method == .galore && step.optimizer != .adam && step.optimizer != .adamw {
            throw ValidationError("GaLore projects Adam's state: use --optimizer adam or adamw")
        }
    }

    var config: TrainingConfig { step.config(method ?? .fft, rank: rank) }
}
