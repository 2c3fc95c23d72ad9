import ArgumentParser
import Executor
import Foundation
import Frontend
import GraphIR
import Passes

/// `graphc bench-step` (hidden): times training steps of a zoo model with the planned runner, for
/// scripts/bench-train, which runs PyTorch's version of the same step beside it (BENCHMARKS.md).
struct BenchStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-step",
        abstract: "Time planned training steps of a zoo model (median ms/step after warm-up).",
        discussion: """
            Compiles the training step (TrainingSession), plans it (Liveness + GreedyBySize, 64-byte \
            alignment), initialises the parameters at random and runs --warmup steps, then --steps timed \
            steps on random images and labels. Prints one `RESULT` line per method with the median, \
            the conv/linear MACs of a step and the GFLOP/s they give, and one `MEMORY` line with what \
            `graphc train` reports: the predicted peak (the analysis), the workspace, the arena's mincore \
            high-water and the peak RSS delta over the steps (VmHWM reset just before the runner is made, \
            minus VmRSS then), against predicted peak + workspace (run one method per process for it: an \
            earlier method's freed pages may stay with malloc and be reused uncounted). --profile adds the time per op kind \
            and the slowest nodes. Build in release mode (scripts/bench-train does).

            Examples:
              graphc bench-step small_resnet --batch 64 --methods fft,lora --steps 30
              graphc bench-step resnet18 --input 3x32x32 --classes 10 --batch 32 --methods fft --steps 5
            """,
        shouldDisplay: false
    )

    @Argument(help: "A zoo model name.")
    var model: String = "small_resnet"

    @Option(help: "Batch size.")
    var batch: Int = 64

    @Option(help: "Per-sample input shape, e.g. 3x32x32 (default: the model's own).")
    var input: String?

    @Option(help: "Classes of the head (default: the model's own).")
    var classes: Int?

    @Option(help: "Methods, comma separated (fft, bnh, head, lora, dora, galore).")
    var methods: String = "fft,lora"

    @Option(help: "LoRA / DoRA / GaLore rank.")
    var rank: Int = 8

    @Option(help: "Untimed steps before the timed ones.")
    var warmup: Int = 3

    @Option(help: "Timed steps (the median is reported).")
    var steps: Int = 20

    @Flag(help: "Time every node and print the time per op kind and the slowest nodes.")
    var profile = false

    func validate() throws {
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
        if steps < 1 { throw ValidationError("--steps must be at least 1") }
        if warmup < 0 { throw ValidationError("--warmup must not be negative") }
        if let input, Shape.parse(input) == nil {
            throw ValidationError("--input must look like 3x32x32 (positive integers joined by x), got '\(input)'")
        }
        if let classes, classes < 1 { throw ValidationError("--classes must be at least 1, got \(classes)") }
    }

    func run() throws {
        try reportingErrors {
            #if DEBUG
                printError("graphc bench-step: this is a debug build; build with -c release to measure.")
            #endif
            for name in methods.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) {
                guard let method = FineTuningMethod(rawValue: name) else {
                    throw ValidationError("unknown method '\(name)'")
                }
                try bench(method)
            }
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            printOut("peak RSS (getrusage, whole process): \(usage.ru_maxrss) KiB")
        }
    }

    private func bench(_ method: FineTuningMethod) throws {
        let overrides = ModelOverrides(input: input.flatMap(Shape.parse), classes: classes, batch: batch)
        let forward = try Zoo.compile(model, overrides: overrides).graph
        var config = TrainingConfig(method: method)
        config.rank = rank
        config.optimizer = .adam
        let graph = try TrainingSession.compile(forward, config: config).training
        // The plan and the prediction `graphc train` and `analyze` report.
        let live = Liveness(graph)
        let plan = MemoryPlanner.plan(live.transientIntervals(), strategy: GreedyBySize(), alignment: 64)
        let predicted = TrainingReport(graph, flops: FlopReport(graph, convention: .exact), liveness: live, plan: plan)
        var rng = SplitMix(seed: 42)
        // A few distinct batches, reused round robin; made before the baseline, as train's batch is.
        let batches = (0..<4).map { _ in Self.inputs(graph, &rng) }
        // MACs of the GEMM-like ops (conv, linear, matmul and their gradients) per step.
        let flops = FlopReport(graph)
        let macs = flops.total.macs

        let baseline = MemoryBaseline.now()
        let runner = try PlannedRunner(graph, plan: plan, seed: 1)
        Self.initialize(graph, runner, &rng)

        for i in 0..<warmup { try runner.run(batches[i % batches.count]) }
        var times: [Double] = [], cpu: [Double] = []
        if profile { runner.nodeSeconds = Array(repeating: 0, count: graph.nodes.count) }
        var lastLoss: Float = .nan
        for i in 0..<steps {
            let start = ContinuousClock.now, cpuStart = Self.processCPUSeconds()
            let out = try runner.run(batches[i % batches.count])
            let d = ContinuousClock.now - start
            cpu.append(Self.processCPUSeconds() - cpuStart)
            times.append(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
            if let loss = out.first, loss.dtype == .f32 { lastLoss = loss.f32[0] }
        }
        let sorted = times.sorted()
        let med = sorted[sorted.count / 2]
        let label = method.takesRank ? "\(method.rawValue)-r\(rank)" : method.rawValue
        printOut(
            "RESULT graphc \(label) batch=\(batch) steps=\(steps) median_ms=\(fmt(med * 1e3)) "
                + "min_ms=\(fmt(sorted[0] * 1e3)) max_ms=\(fmt(sorted[sorted.count - 1] * 1e3)) "
                + "cpu_ms=\(fmt(cpu.sorted()[cpu.count / 2] * 1e3)) "
                + "macs=\(macs) gemm_gflops=\(fmt(2 * Double(macs) / med / 1e9)) nodes=\(graph.nodes.count) "
                + "arena_bytes=\(plan.arenaBytes) workspace_bytes=\(runner.workspaceBytes) loss=\(lastLoss)")
        let memory = runner.measurement(steps: warmup + steps, since: baseline)
        let expected = predicted.memory.peakBytes + memory.workspaceBytes
        printOut(
            "MEMORY graphc \(label) batch=\(batch) predicted_peak_bytes=\(predicted.memory.peakBytes) "
                + "workspace_bytes=\(memory.workspaceBytes) predicted_plus_workspace_bytes=\(expected) "
                + "arena_bytes=\(plan.arenaBytes) measured_arena_bytes=\(memory.arenaHighWaterBytes) "
                + "measured_arena_pages=\(memory.arenaTouchedPages) owned_bytes=\(memory.ownedBytes) "
                + "measured_peak_rss_delta_bytes=\(memory.peakRSSDeltaBytes.map(String.init) ?? "n/a") "
                + "delta_over_predicted=\(memory.peakRSSDeltaBytes.map { fmt(Double($0) / Double(expected)) } ?? "n/a")"
        )
        if let seconds = runner.nodeSeconds { report(graph, seconds, flops, steps: steps, median: med) }
    }

    /// CPU time of the whole process (all threads), in seconds: on a shared machine it shows the work
    /// done, where the wall time also shows the waiting.
    static func processCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Time per op kind and the slowest nodes, per step.
    private func report(_ graph: Graph, _ seconds: [Double], _ flops: FlopReport, steps: Int, median: Double) {
        let per = seconds.map { $0 / Double(steps) }
        let total = per.reduce(0, +)
        var byOp: [String: (Double, Int, Int)] = [:]
        var macsOf = [Int](repeating: 0, count: graph.nodes.count)
        for n in flops.nodes { macsOf[n.node] = n.cost.macs }
        for (i, node) in graph.nodes.enumerated() {
            var e = byOp[node.op.name] ?? (0, 0, 0)
            e.0 += per[i]
            e.1 += 1
            e.2 += macsOf[i]
            byOp[node.op.name] = e
        }
        printOut(
            "  profile: nodes sum \(fmt(total * 1e3)) ms/step (step median \(fmt(median * 1e3)) ms, timed with the clock per node)"
        )
        for (op, e) in byOp.sorted(by: { $0.value.0 > $1.value.0 }) where e.0 > total * 0.002 {
            let gf = e.2 > 0 ? "  \(fmt(2 * Double(e.2) / e.0 / 1e9)) GFLOP/s" : ""
            printOut(
                "    \(op.padding(toLength: 28, withPad: " ", startingAt: 0)) \(fmt(e.0 * 1e3)) ms  "
                    + "\(fmt(100 * e.0 / total))%  x\(e.1)\(gf)")
        }
        printOut("  slowest nodes:")
        for i in per.indices.sorted(by: { per[$0] > per[$1] }).prefix(15) {
            let node = graph.nodes[i]
            let gf = macsOf[i] > 0 ? "  \(fmt(2 * Double(macsOf[i]) / per[i] / 1e9)) GFLOP/s" : ""
            let shape = graph[node.outputs[0]].type.shape
            printOut("    \(fmt(per[i] * 1e3)) ms  \(node.op.name) '\(node.name)' -> \(shape)\(gf)")
        }
    }

    /// Weights uniform in ±1/√fan-in (PyTorch's default scale), BN γ = 1, β = 0, running variance 1,
    /// LoRA B zero as peft, optimizer state zero.
    static func initialize(_ graph: Graph, _ runner: PlannedRunner, _ rng: inout SplitMix) {
        for id in graph.parameters {
            guard let t = runner.storage(of: id), t.dtype == .f32, let role = graph[id].role else { continue }
            let shape = t.shape
            let fanIn = shape.count > 1 ? t.count / shape[0] : max(shape.count == 1 ? shape[0] : 1, 1)
            let bound = Float(1 / Double(fanIn).squareRoot())
            for i in 0..<t.count {
                let v: Float
                switch role {
                case .weight, .bias, .loraA: v = Float.random(in: -bound..<bound, using: &rng)
                case .bnGamma, .runningVar, .doraMagnitude: v = 1
                default: v = 0
                }
                t.f32[i] = v
            }
        }
    }

    /// Images uniform in [0, 1), labels uniform over the classes (the logits' width).
    static func inputs(_ graph: Graph, _ rng: inout SplitMix) -> [HostTensor] {
        graph.inputs.map { id in
            let type = graph[id].type
            if type.dtype == .i64 {
                let n = type.shape.reduce(1, *)
                return HostTensor(type.shape, labels: (0..<n).map { _ in Int64.random(in: 0..<10, using: &rng) })
            }
            let n = type.shape.reduce(1, *)
            return HostTensor(type.shape, (0..<n).map { _ in Float.random(in: 0..<1, using: &rng) })
        }
    }

    private func fmt(_ x: Double) -> String { String(format: "%.3f", x) }
}

/// A small seeded generator (SplitMix64).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
