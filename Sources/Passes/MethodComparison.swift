import GraphIR

/// One configuration of a method comparison: a model at a batch size under one method (and rank), with
/// full fine-tuning of the same model and batch as its baseline.
public struct ComparisonRow: Sendable {
    /// The forward graph's name.
    public var model: String
    public var batch: Int
    public var config: TrainingConfig
    public var report: TrainingReport
    /// Full fine-tuning of the same model and batch (for an `fft` row, the row itself).
    public var baseline: TrainingReport

    public init(model: String, batch: Int, config: TrainingConfig, report: TrainingReport, baseline: TrainingReport) {
        self.model = model
        self.batch = batch
        self.config = config
        self.report = report
        self.baseline = baseline
    }

    /// Trainable parameters against the baseline, in percent (`(x − fft) / fft · 100`).
    public var trainableChange: Double { NumberFormat.change(report.trainableParams, from: baseline.trainableParams) }
    /// Step FLOPs (forward + backward + optimizer + amortised SVD) against the baseline, in percent.
    public var flopsChange: Double { NumberFormat.change(report.flops.total.flops, from: baseline.flops.total.flops) }
    /// Peak memory against the baseline, in percent.
    public var peakChange: Double { NumberFormat.change(report.memory.peakBytes, from: baseline.memory.peakBytes) }
}

/// The sweep behind `graphc compare`: every model × batch × method × rank compiled and analysed, each
/// against full fine-tuning of the same model and batch (computed even when `fft` is not listed).
public enum MethodComparison {
    /// Progress after each model × batch: `done` of `total`.
    public struct Progress: Sendable {
        public var done: Int
        public var total: Int
        public var model: String
        public var batch: Int
    }

    /// The configuration a comparison compiles for `method`: `base` with the method and rank set; GaLore
    /// projects Adam's state, so with SGD or momentum its rows use Adam.
    public static func config(_ method: FineTuningMethod, rank: Int, base: TrainingConfig) -> TrainingConfig {
        var c = base
        c.method = method
        c.rank = rank
        if method == .galore && c.optimizer != .adamw { c.optimizer = .adam }
        return c
    }

    /// Rows in the order models, batches, saving policies, methods, ranks (ranks only for the methods
    /// that take one). `load(model, batch)` instantiates a model at a batch size; `base` carries every
    /// setting but the method, rank and (given `savings`) saving policy. The baseline is compiled once
    /// per model, batch and policy, with rank 1 (unused by fft).
    public static func run<Model>(
        models: [Model], methods: [FineTuningMethod], ranks: [Int], batches: [Int],
        savings: [SavingPolicy]? = nil, base: TrainingConfig, load: (Model, Int) throws -> Graph,
        progress: (Progress) -> Void = { _ in }
    ) throws -> [ComparisonRow] {
        var rows: [ComparisonRow] = []
        let total = models.count * batches.count
        var done = 0
        for model in models {
            for batch in batches {
                let forward = try load(model, batch)
                for saving in savings ?? [base.saving] {
                    var policyBase = base
                    policyBase.saving = saving
                    func analyse(_ method: FineTuningMethod, rank: Int) throws -> (TrainingConfig, TrainingReport) {
                        let c = config(method, rank: rank, base: policyBase)
                        let training = try TrainingSession.compile(forward, config: c).training
                        return (c, try TrainingReport(training, saving: c.saving).checked())
                    }
                    let (baselineConfig, baseline) = try analyse(.fft, rank: 1)
                    for method in methods {
                        for rank in method.takesRank ? ranks : [0] {
                            let (config, report) =
                                method == .fft ? (baselineConfig, baseline) : try analyse(method, rank: rank)
                            rows.append(
                                ComparisonRow(
                                    model: forward.name, batch: batch, config: config, report: report,
                                    baseline: baseline))
                        }
                    }
                }
                done += 1
                progress(Progress(done: done, total: total, model: forward.name, batch: batch))
            }
        }
        return rows
    }
}
