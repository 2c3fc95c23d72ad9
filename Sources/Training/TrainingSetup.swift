// A training run's compiled pieces: the step compiled at a fixed batch, the eval graph, the plan `analyze`
// reports and its report, the data. `graphc train` makes one; `graphc study` one per method and scenario.
//
// This module is the orchestration between the analyses (Passes: compile, plan, report) and the runner
// (Executor): Executor never sees Passes, so what needs both lives here. Progress and rendering are the
// caller's (the CLI's); every failure is a `TrainingError` with the one line a user reads.
import Executor
import GraphIR
import Passes

/// A training failure with the line a user reads.
public struct TrainingError: Error, Sendable, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Everything a run needs, compiled and checked.
public struct TrainingSetup: @unchecked Sendable {
    public var forward: Graph
    public var step: Graph
    public var eval: Graph
    public var config: TrainingConfig
    public var batch: Int
    public var plan: MemoryPlan
    public var report: TrainingReport
    public var train: DataLoader
    public var test: DataLoader
    /// floor(training samples / batch): the trailing partial batch is dropped (the plan is for a fixed batch).
    public var stepsPerEpoch: Int

    /// Compiles `config` on `forward` (which is at `batch`), plans the step as `analyze` does (Liveness →
    /// GreedyBySize, 64-byte alignment) and reports it with the exact FLOP convention. Throws the
    /// executor's refusal when the step stores a value in reduced precision (`--weights`, `--activations`).
    public init(forward: Graph, config: TrainingConfig, batch: Int, train: DataLoader, test: DataLoader) throws {
        let step = try Self.runnableStep(forward, config)
        let live = Liveness(step, saving: config.saving)
        let plan = MemoryPlanner.plan(live.transientIntervals(), strategy: GreedyBySize(), alignment: 64)
        self.forward = forward
        self.step = step
        self.eval = try Self.evalGraph(forward, config)
        self.config = config
        self.batch = batch
        self.plan = plan
        self.report = TrainingReport(step, flops: FlopReport(step, convention: .exact), liveness: live, plan: plan)
        self.train = train
        self.test = test
        self.stepsPerEpoch = train.batchCount(size: batch, dropLast: true)
    }

    /// The training step of `config` on `forward`, or the executor's refusal (`ExecutorPrecision`) when
    /// it stores a value in reduced precision: the kernels read f32 storage only. A caller that runs
    /// several configurations (the study) checks them all with this before its first minute of training.
    public static func runnableStep(_ forward: Graph, _ config: TrainingConfig) throws -> Graph {
        let step = try TrainingSession.compile(forward, config: config).training
        if let refusal = ExecutorPrecision.refusal(step) { throw TrainingError(refusal) }
        return step
    }

    /// Training samples of an epoch that no step sees (the trailing partial batch).
    public var droppedPerEpoch: Int { train.count - stepsPerEpoch * batch }

    /// The eval graph: the forward graph with the method's adapters (what the training graph's forward
    /// computes, in inference semantics), verified.
    public static func evalGraph(_ forward: Graph, _ config: TrainingConfig) throws -> Graph {
        switch config.method {
        case .lora: return try PassPipeline([Freeze(config), LoRA(config)]).run(forward)
        case .dora: return try PassPipeline([Freeze(config), DoRA(config)]).run(forward)
        case .fft, .bnh, .head, .galore: return forward
        }
    }

    /// The number of classes of `forward`, a one-image-input, one-logits-output classifier; throws otherwise.
    public static func classifierOutputs(_ forward: Graph, command: String) throws(TrainingError) -> Int {
        guard forward.inputs.count == 1, forward.outputs.count == 1 else {
            throw TrainingError(
                "'\(forward.name)' takes \(forward.inputs.count) inputs and gives \(forward.outputs.count) "
                    + "outputs; \(command) needs one image input and one logits output")
        }
        let logits = forward[forward.outputs[0]].type
        guard logits.rank == 2, logits.dtype == .f32 else {
            throw TrainingError("'\(forward.name)' outputs \(logits), not logits [N, classes]")
        }
        return logits.shape[1]
    }

    /// Checks that `forward` takes the datasets' images and that both splits agree.
    public static func checkImages(_ forward: Graph, train: ImageDataset, test: ImageDataset) throws(TrainingError) {
        let sample = Array(forward[forward.inputs[0]].type.shape.array.dropFirst())
        let imageShape = [1, train.height, train.width]
        guard sample == imageShape else {
            throw TrainingError(
                "'\(forward.name)' takes \(Shape.compact(sample)) inputs, but '\(train.imagesFile)' holds "
                    + "\(Shape.compact(imageShape)) images: train a model with a \(Shape.compact(imageShape)) "
                    + "input (small_resnet, small_mobilenet) or pass --input \(Shape.compact(imageShape))")
        }
        guard test.height == train.height, test.width == train.width else {
            throw TrainingError(
                "'\(test.imagesFile)' holds \(test.height)x\(test.width) images but the training "
                    + "split \(train.height)x\(train.width)")
        }
    }

    /// Checks that every label `loaders` serve is one of the model's `outputs` classes.
    public static func checkLabels(_ loaders: [DataLoader], outputs: Int, model: String) throws(TrainingError) {
        for loader in loaders {
            if let big = loader.samples.lazy.map({ Int(loader.dataset.labels[$0]) }).first(where: { $0 >= outputs }) {
                throw TrainingError(
                    "'\(loader.dataset.imagesFile)' has label \(big), but '\(model)' has \(outputs) outputs")
            }
        }
    }

    /// The training graph's image and label inputs (by dtype: the image is f32, the labels i64), and the
    /// graph's input list in order.
    public func feeds() throws(TrainingError) -> (x: HostTensor, y: HostTensor, all: [HostTensor]) {
        let g = step
        guard g.inputs.count == 2, let xi = g.inputs.first(where: { g[$0].type.dtype == .f32 }),
            let yi = g.inputs.first(where: { g[$0].type.dtype == .i64 })
        else {
            throw TrainingError("the training step of '\(g.name)' does not take one image and one label input")
        }
        let x = HostTensor(g[xi].type), y = HostTensor(g[yi].type)
        return (x, y, g.inputs.map { $0 == xi ? x : y })
    }

    /// The batch of training step `index` (0-based over the whole run) into `x`, `y`.
    public func fillStep(_ index: Int, order: [Int], x: HostTensor, y: HostTensor) {
        let indices = train.batch(index % stepsPerEpoch, of: order, size: batch)
        train.fill(indices, images: x.view, labels: y.view)
    }
}
