import GraphIR

/// Every pass graphc has, in pipeline order, with the options it reads: the one list that the training
/// compiler builds its pipeline from, `--print-ir-after` validates against and `graphc opt` runs from.
///
///     freeze → lora → dora → autodiff → lean-saving → optimizer → dce → set-precision → merge-adapters
///
/// A pass's name and summary are its own (`Pass.name`, `Pass.summary`); the registry adds what it reads
/// of the `TrainingConfig` (as the command-line options that set it) and when the training compiler
/// runs it.
public enum PassRegistry {
    public static let passes: [RegisteredPass] = [
        RegisteredPass(options: [.method, .head, .train], training: .always) { Freeze($0) },
        RegisteredPass(options: [.rank, .alpha, .head, .adaptDepthwise], training: .methods([.lora])) { LoRA($0) },
        RegisteredPass(options: [.rank, .alpha, .head, .adaptDepthwise], training: .methods([.dora])) { DoRA($0) },
        RegisteredPass(options: [.bn], training: .always) { Autodiff(bn: $0.bn) },
        RegisteredPass(options: [.saving], training: .leanSaving) { _ in LeanSaving() },
        RegisteredPass(
            options: [.optimizer, .method, .rank, .adaptDepthwise, .releaseGrads, .galoreGap, .galoreScale],
            training: .always
        ) { OptimizerPass($0) },
        RegisteredPass(options: [], training: .always) { _ in DeadCodeElimination() },
        // Last: it only retypes, and the passes before it build f32 values.
        RegisteredPass(options: [.weights, .activations], training: .reducedPrecision) { SetPrecision($0) },
        // Inference only: it refuses training graphs, so no training step runs it.
        RegisteredPass(options: [], training: .never) { _ in MergeAdapters() },
    ]

    /// The registered names, in order.
    public static var names: [String] { passes.map(\.name) }

    public static func pass(named name: String) -> RegisteredPass? { passes.first { $0.name == name } }

    /// The training step's pipeline for `config`: the registered passes that run for it, in order.
    public static func trainingPipeline(for config: TrainingConfig) -> [any Pass] {
        passes.filter { $0.training.includes(config) }.map { $0.make(config) }
    }

    /// Parses a comma-separated pass list (`freeze,lora,autodiff`); blanks around names are ignored and
    /// the empty string is the empty list. Throws for an unknown or empty name.
    public static func parse(_ list: String) throws(PassListError) -> [RegisteredPass] {
        if list.allSatisfy(\.isWhitespace) { return [] }
        return try list.split(separator: ",", omittingEmptySubsequences: false).map { (item) throws(PassListError) in
            let name = item.trimmingWhitespace()
            if name.isEmpty { throw .emptyName(list: list) }
            guard let pass = pass(named: name) else { throw .unknown(name) }
            return pass
        }
    }

    /// The pipeline that runs the passes of `list` in that order, configured by `config`.
    public static func pipeline(_ list: String, config: TrainingConfig) throws(PassListError) -> PassPipeline {
        PassPipeline(try parse(list).map { $0.make(config) })
    }

    /// The fine-tuning method a pass list implies when none is given: that of its first pass that the
    /// training compiler runs for a single method only (`lora` → lora), else nil.
    public static func impliedMethod(of list: [RegisteredPass]) -> FineTuningMethod? {
        for pass in list {
            if case .methods(let methods) = pass.training, methods.count == 1 { return methods.first }
        }
        return nil
    }
}

/// One entry of the registry.
public struct RegisteredPass: Sendable {
    /// When the training compiler runs a pass.
    public enum TrainingUse: Sendable, Hashable, CustomStringConvertible {
        case always
        /// Only for these methods.
        case methods(Set<FineTuningMethod>)
        /// Never (`graphc opt` only).
        case never
        /// With `--saving lean`, whatever the method.
        case leanSaving
        /// With `--weights` or `--activations` below f32, whatever the method.
        case reducedPrecision

        /// Whether a pipeline for `method` runs the pass, whatever the other settings (`leanSaving`,
        /// `reducedPrecision`: no).
        public func includes(_ method: FineTuningMethod) -> Bool {
            switch self {
            case .always: true
            case .methods(let methods): methods.contains(method)
            case .never, .leanSaving, .reducedPrecision: false
            }
        }

        /// Whether the training pipeline for `config` runs the pass.
        public func includes(_ config: TrainingConfig) -> Bool {
            switch self {
            case .always, .methods, .never: includes(config.method)
            case .leanSaving: config.saving == .lean
            case .reducedPrecision: config.reducedPrecision
            }
        }

        /// `always`, `with --method lora`, `never (graphc opt only)`.
        public var description: String {
            switch self {
            case .always: "always"
            case .methods(let methods):
                "with --method "
                    + FineTuningMethod.allCases.filter(methods.contains).map(\.rawValue)
                    .joined(separator: " or ")
            case .never: "never (graphc opt only)"
            case .leanSaving: "with --saving lean"
            case .reducedPrecision: "with --weights or --activations other than f32"
            }
        }
    }

    /// kebab-case, as `--passes` and `--print-ir-after` spell it.
    public let name: String
    /// One line on what it does.
    public let summary: String
    /// What it reads of the configuration.
    public let options: [PassOption]
    public let training: TrainingUse
    private let build: @Sendable (TrainingConfig) -> any Pass

    /// Name and summary come from the pass itself (as built from the default configuration).
    init(options: [PassOption], training: TrainingUse, build: @escaping @Sendable (TrainingConfig) -> any Pass) {
        let sample = build(.defaults)
        name = sample.name
        summary = sample.summary
        self.options = options
        self.training = training
        self.build = build
    }

    /// The pass, configured by `config`.
    public func make(_ config: TrainingConfig) -> any Pass { build(config) }
}

/// A `TrainingConfig` setting as the command line spells it: what a registered pass reads.
public struct PassOption: Sendable, Hashable {
    /// The long option without its dashes: `rank`, `release-grads`.
    public let name: String
    public let help: String
    /// The default, as text: `8`, `adam`, `off`.
    public let defaultValue: String

    public static let method = PassOption(
        name: "method", help: "Fine-tuning method: fft, bnh, head, lora, dora or galore (default: fft).",
        defaultValue: TrainingConfig.defaults.method.rawValue)
    public static let rank = PassOption(
        name: "rank", help: "LoRA / DoRA / GaLore rank.", defaultValue: String(TrainingConfig.defaults.rank))
    public static let alpha = PassOption(
        name: "alpha", help: "LoRA / DoRA alpha (default: the rank, a scale of 1).", defaultValue: "the rank")
    public static let optimizer = PassOption(
        name: "optimizer", help: "Optimizer: sgd, momentum, adam or adamw.",
        defaultValue: TrainingConfig.defaults.optimizer.rawValue)
    public static let head = PassOption(
        name: "head", help: "LoRA / DoRA: the classifier head is trained fully (train), adapted (lora) or frozen.",
        defaultValue: TrainingConfig.defaults.head.rawValue)
    public static let adaptDepthwise = PassOption(
        name: "adapt-depthwise",
        help:
            "LoRA / DoRA: adapt depthwise convs too (rank must be a multiple of their channels); "
            + "GaLore: project their kernels too.",
        defaultValue: "off")
    public static let train = PassOption(
        name: "train", help: "Also train parameters matching GLOB, e.g. 'layer4.*' (repeatable).", defaultValue: "none")
    public static let releaseGrads = PassOption(
        name: "release-grads", help: "Apply each update as soon as its gradient is complete, so gradients die early.",
        defaultValue: "off")
    public static let galoreGap = PassOption(
        name: "galore-gap", help: "GaLore: steps between SVD projector updates.",
        defaultValue: String(TrainingConfig.defaults.galoreGap))
    public static let saving = PassOption(
        name: "saving",
        help:
            "What the step keeps for backward: pytorch (what PyTorch autograd saves) or lean (what graphc's backward reads, ReLU masks packed to 1 bit).",
        defaultValue: TrainingConfig.defaults.saving.rawValue)
    public static let bn = PassOption(
        name: "bn",
        help:
            "BatchNorm during training: train (batch statistics) or frozen (running statistics, not updated; PyTorch's eval() on BN layers).",
        defaultValue: TrainingConfig.defaults.bn.rawValue)
    public static let weights = PassOption(
        name: "weights",
        help:
            "Storage of frozen weights: f32, f16, bf16 or int8 (conv and linear weights, an f32 scale per output channel); trainable parameters keep f32.",
        defaultValue: TrainingConfig.defaults.weights.rawValue)
    public static let activations = PassOption(
        name: "activations",
        help: "Storage of activations and transients: f32, f16 or bf16 (ops compute in f32).",
        defaultValue: TrainingConfig.defaults.activations.rawValue)
    public static let galoreScale = PassOption(
        name: "galore-scale", help: "GaLore: scale of the projected update.",
        defaultValue: String(TrainingConfig.defaults.galoreScale))
}

/// A pass list names no registered pass.
public enum PassListError: Error, Sendable, Hashable, CustomStringConvertible {
    case unknown(String)
    case emptyName(list: String)

    public var description: String {
        switch self {
        case .unknown(let name):
            "no pass named '\(name)'; passes: " + PassRegistry.names.joined(separator: ", ")
        case .emptyName(let list):
            "empty pass name in '\(list)'; passes: " + PassRegistry.names.joined(separator: ", ")
        }
    }
}

extension TrainingConfig {
    /// Full fine-tuning with every other setting at its default: what the registry's defaults show.
    public static var defaults: TrainingConfig { TrainingConfig(method: .fft) }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
