import ArgumentParser
import Passes

extension FineTuningMethod: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension HeadMode: ExpressibleByArgument {}
extension WeightPrecision: ExpressibleByArgument {}
extension ActivationPrecision: ExpressibleByArgument {}
extension SavingPolicy: ExpressibleByArgument {}
extension BatchNormMode: ExpressibleByArgument {}

/// Everything about a training step but the method and rank: shared by the commands that compile one
/// method (analyze, timeline, dot --training, opt) and by compare, which sweeps methods and ranks.
struct StepOptions: ParsableArguments {
    // Numeric options parse their value unconditionally, so `--alpha -1` reaches validate() and is
    // rejected by name instead of being read as an unknown option `-1` ("Missing value").
    @Option(parsing: .unconditional, help: ArgumentHelp(PassOption.alpha.help))
    var alpha: Double?

    @Option(help: ArgumentHelp(PassOption.optimizer.help))
    var optimizer: OptimizerKind = TrainingConfig.defaults.optimizer

    @Option(help: ArgumentHelp(PassOption.head.help))
    var head: HeadMode = TrainingConfig.defaults.head

    @Flag(help: ArgumentHelp(PassOption.adaptDepthwise.help))
    var adaptDepthwise = false

    @Option(
        name: .customLong(PassOption.train.name), parsing: .singleValue,
        help: ArgumentHelp(PassOption.train.help, valueName: "GLOB"))
    var trainGlobs: [String] = []

    @Flag(help: ArgumentHelp(PassOption.releaseGrads.help))
    var releaseGrads = false

    @Option(parsing: .unconditional, help: ArgumentHelp(PassOption.galoreGap.help))
    var galoreGap: Int = TrainingConfig.defaults.galoreGap

    @Option(parsing: .unconditional, help: ArgumentHelp(PassOption.galoreScale.help))
    var galoreScale: Double = TrainingConfig.defaults.galoreScale

    @Option(help: ArgumentHelp(PassOption.bn.help))
    var bn: BatchNormMode = TrainingConfig.defaults.bn

    @Option(help: ArgumentHelp(PassOption.weights.help))
    var weights: WeightPrecision = TrainingConfig.defaults.weights

    @Option(help: ArgumentHelp(PassOption.activations.help))
    var activations: ActivationPrecision = TrainingConfig.defaults.activations

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
        c.weights = weights
        c.activations = activations
        c.bn = bn
        return c
    }
}

/// How to fine-tune: the method and its knobs, for the commands that compile one training step (and
/// `opt`, whose passes read them). Their help is the registry's (`PassOption`), which lists what each
/// pass reads.
struct TrainingOptions: ParsableArguments {
    @Option(help: ArgumentHelp(PassOption.method.help))
    var method: FineTuningMethod?

    @Option(parsing: .unconditional, help: ArgumentHelp(PassOption.rank.help))
    var rank: Int = TrainingConfig.defaults.rank

    @OptionGroup var step: StepOptions

    // Here rather than in StepOptions: compare takes a list of policies.
    @Option(help: ArgumentHelp(PassOption.saving.help))
    var saving: SavingPolicy = TrainingConfig.defaults.saving

    func validate() throws {
        if rank < 1 { throw ValidationError("--rank must be at least 1, got \(rank)") }
        if method == .galore && step.optimizer != .adam && step.optimizer != .adamw {
            throw ValidationError("GaLore projects Adam's state: use --optimizer adam or adamw")
        }
    }

    var config: TrainingConfig { config(defaultMethod: .fft) }

    /// The configuration, with `defaultMethod` when `--method` is not given.
    func config(defaultMethod: FineTuningMethod) -> TrainingConfig {
        var c = step.config(method ?? defaultMethod, rank: rank)
        c.saving = saving
        return c
    }
}
