// The planned runner on zoo models compiled for every fine-tuning method, with and without
// release-grads, at batch 2 with random parameters, inputs and labels: check-plan is bit-identical to
// the reference over 2 steps, the arena's touched pages stay within the plan, views and in-place
// results share their operand's bytes, and a broken plan is caught. The graphs and plans come from
// Passes (in the tests only: the Executor module reads the plan as GraphIR's plain data).
//
// Matrix: both models, every method, with and without release-grads (24 check-plan runs, about 12 s
// in a debug build on 2 cores).
import Executor
import Foundation
import Frontend
import GraphIR
import GraphTestSupport
import Passes
import Testing

enum Planned {
    /// A training graph of zoo model `model` at `batch`.
    static func training(
        _ model: String, _ method: FineTuningMethod, releaseGrads: Bool = false,
        batch: Int = 2
    ) throws -> Graph {
        let forward = try Zoo.compile(model, overrides: ModelOverrides(batch: batch)).graph
        var config = TrainingConfig(method: method)
        config.releaseGrads = releaseGrads
        return try TrainingSession.compile(forward, config: config).training
    }

    /// The planner's arena plan of the graph's transient tensors (64-byte alignment).
    static func plan(_ graph: Graph) -> MemoryPlan {
        MemoryPlanner.plan(Liveness(graph).transientIntervals(), strategy: GreedyBySize(), alignment: 64)
    }

    /// Random parameters: learnable ones uniform in ±0.3, running variances in [0.5, 1.5), other
    /// buffers and optimizer state left at zero.
    static func initializer(seed: UInt64, _ graph: Graph) -> (ValueID, TensorView) -> Void {
        var rng = SplitMix64(seed: seed)
        return { id, view in
            guard view.dtype == .f32, let role = graph[id].role else { return }
            let range: Range<Float>? = role.isLearnable ? -0.3..<0.3 : role == .runningVar ? 0.5..<1.5 : nil
            guard let range else { return }
            for i in 0..<view.count { view.f32[i] = Float.random(in: range, using: &rng) }
        }
    }

    /// Random inputs per step: images uniform in [0, 1), labels in 0 ..< classes.
    static func inputs(_ graph: Graph, steps: Int, seed: UInt64) -> [[HostTensor]] {
        var rng = SplitMix64(seed: seed)
        return (0..<steps).map { _ in
            graph.inputs.map { id in
                let type = graph[id].type
                if type.dtype == .i64 {
                    return HostTensor(
                        type.shape,
                        labels: (0..<type.shape.reduce(1, *)).map { _ in Int64.random(in: 0..<10, using: &rng) })
                }
                return Exec.random(type.shape, &rng, 0, 1)
            }
        }
    }

    static func check(_ graph: Graph, _ plan: MemoryPlan, steps: Int = 2, staticChecks: Bool = true) throws
        -> PlanCheckReport
    {
        let inputs = inputs(graph, steps: steps, seed: 7)
        return try PlannedRunner.checkPlan(
            graph, plan: plan, steps: steps, seed: 11, staticChecks: staticChecks,
            initialize: initializer(seed: 3, graph)
        ) { inputs[$0 - 1] }
    }
}

@Suite struct PlannedRunnerTests {
    static let cases: [(FineTuningMethod, Bool)] = FineTuningMethod.allCases.flatMap { [($0, false), ($0, true)] }

    func checkBitIdentical(_ model: String, _ method: FineTuningMethod, _ releaseGrads: Bool) throws {
        let g = try Planned.training(model, method, releaseGrads: releaseGrads)
        let plan = Planned.plan(g)
        let report = try Planned.check(g, plan)
        #expect(report.passed, "\(model) \(method) release-grads \(releaseGrads): \(report)")
        #expect(report.steps == 2)
        #expect(report.losses.count == 2 && report.losses.allSatisfy(\.isFinite), "\(report.losses)")
        #expect(report.losses[0] != report.losses[1], "the second step must see updated parameters")
        print(
            "\(model) \(method.rawValue)\(releaseGrads ? " release-grads" : ""): \(report) losses \(report.losses)"
                + " arena \(plan.arenaBytes) lower bound \(plan.lowerBoundBytes)")
    }

    @Test(arguments: cases) func smallResnetCheckPlanIsBitIdentical(_ method: FineTuningMethod, _ releaseGrads: Bool)
        throws
    {
        try checkBitIdentical("small_resnet", method, releaseGrads)
    }

    @Test(arguments: cases) func smallMobilenetCheckPlanIsBitIdentical(
        _ method: FineTuningMethod,
        _ releaseGrads: Bool
    ) throws {
        try checkBitIdentical("small_mobilenet", method, releaseGrads)
    }

    /// Placed values sit at the arena base + their offset; views and in-place results at their root's
    /// address; parameters outside the arena.
    @Test(arguments: ["small_resnet", "small_mobilenet"]) func viewsAndInPlaceResultsShareMemory(_ model: String) throws
    {
        let g = try Planned.training(model, .galore)
        let plan = Planned.plan(g)
        let runner = try PlannedRunner(g, plan: plan)
        let base = runner.arenaBase
        for p in plan.placements { #expect(runner.storage(of: p.value)?.base == base + p.offset, "\(g[p.value].name)") }
        var views = 0, inPlace = 0
        for node in g.nodes {
            for (k, id) in node.outputs.enumerated() {
                switch node.op.storage(ofResult: k) {
                case .fresh: continue
                case let .view(j): views += 1; _ = j
                case .inPlace: inPlace += 1
                }
                let j = try #require(node.op.aliasedOperand(ofResult: k))
                let operand = try #require(runner.storage(of: node.inputs[j]))
                #expect(runner.storage(of: id)?.base == operand.base, "\(node.name) result \(k)")
            }
        }
        #expect(views > 0 && inPlace > 0, "views \(views), in-place \(inPlace)")
        let arena = UInt(bitPattern: base)..<(UInt(bitPattern: base) + UInt(plan.arenaBytes))
        for p in g.parameters {
            let address = try #require(runner.storage(of: p)).base
            #expect(!arena.contains(UInt(bitPattern: address)), "\(g[p].name) in the arena")
        }
    }

    /// The arena's resident pages after two steps (mincore) stay within the planned arena, page-rounded;
    /// every placed byte is written, so they cover at least the lower bound's pages.
    @Test(arguments: [("small_resnet", FineTuningMethod.fft), ("small_resnet", .lora), ("small_mobilenet", .fft)])
    func measuredArenaStaysWithinThePlan(_ model: String, _ method: FineTuningMethod) throws {
        let g = try Planned.training(model, method)
        let plan = Planned.plan(g)
        let inputs = Planned.inputs(g, steps: 2, seed: 5)
        let m = try PlannedRunner.measure(g, plan: plan, steps: 2, initialize: Planned.initializer(seed: 1, g)) {
            inputs[$0 - 1]
        }
        let page = m.pageSize
        let plannedPages = (plan.arenaBytes + page - 1) / page
        #expect(m.arenaTouchedPages <= plannedPages)
        #expect(m.arenaHighWaterBytes <= plannedPages * page)
        #expect(m.arenaTouchedBytes >= plan.lowerBoundBytes / page * page)
        #expect(m.workspaceBytes > 0 && m.workspaceTouchedPages <= (m.workspaceBytes + page - 1) / page)
        print(
            "\(model) \(method.rawValue) batch 2: arena planned \(plan.arenaBytes) B (lower bound \(plan.lowerBoundBytes)),"
                + " touched \(m.arenaTouchedBytes) B (\(m.arenaTouchedPages) pages, high-water \(m.arenaHighWaterBytes));"
                + " workspace \(m.workspaceBytes) B, touched \(m.workspaceTouchedBytes); owned \(m.ownedBytes) B;"
                + " peak RSS delta \(m.peakRSSDeltaBytes.map(String.init) ?? "n/a (peak not reset)")")
    }

    /// Measured against planned at a realistic batch, on request (`GRAPHC_MEASURE_BATCH=64`): one step
    /// of small_resnet FFT + Adam; run it alone, so that no other test's allocations enter the RSS delta.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["GRAPHC_MEASURE_BATCH"] != nil))
    func measureAtBatch() throws {
        let batch = Int(ProcessInfo.processInfo.environment["GRAPHC_MEASURE_BATCH"] ?? "") ?? 64
        let g = try Planned.training("small_resnet", .fft, batch: batch)
        let live = Liveness(g)
        let plan = Planned.plan(g)
        let inputs = Planned.inputs(g, steps: 1, seed: 5)
        let m = try PlannedRunner.measure(g, plan: plan, steps: 1, initialize: Planned.initializer(seed: 1, g)) {
            inputs[$0 - 1]
        }
        #expect(m.arenaTouchedPages <= (plan.arenaBytes + m.pageSize - 1) / m.pageSize)
        print(
            "small_resnet fft batch \(batch), 1 step: predicted peak \(live.peakBytes) B = persistent \(live.persistentBytes)"
                + " + transient \(live.peakBytes - live.persistentBytes); plan: arena \(plan.arenaBytes) B, lower bound"
                + " \(plan.lowerBoundBytes) B\n  measured: arena touched \(m.arenaTouchedBytes) B (\(m.arenaTouchedPages) pages of"
                + " \(m.pageSize), high-water \(m.arenaHighWaterBytes) B, mapped \(m.arenaMappedBytes) B); workspace"
                + " \(m.workspaceBytes) B (touched \(m.workspaceTouchedBytes) B); owned (parameters, state) \(m.ownedBytes) B;"
                + " RSS before \(m.rssBeforeBytes) B, peak \(m.peakRSSBytes) B, delta"
                + " \(m.peakRSSDeltaBytes.map(String.init) ?? "n/a (peak not reset)") B")
    }

    /// The workspace is the largest node need, and a 3x3 conv's need is its column matrix (at batch 2
    /// each conv runs in one lane: too little work to split the batch).
    @Test func workspaceIsTheLargestColumnMatrix() throws {
        let g = try Planned.training("small_resnet", .fft)
        let runner = try PlannedRunner(g, plan: Planned.plan(g))
        // conv1: 1 input channel, 3x3 over 28x28: 9 rows of 784 columns; layer1's 16-channel 3x3 convs:
        // 144 rows of 784, the largest; their input gradient (a conv of dy) adds the flipped 16x144
        // weight.
        #expect(runner.workspaceBytes == 16 * 144 * 4 + 144 * 784 * 4)
        let gradInput = try #require(g.nodes.first { $0.name == "layer1.0.conv2.grad_input" })
        #expect(Kernels.workspaceBytes(gradInput, in: g) == 16 * 144 * 4 + 144 * 784 * 4)
        let conv = try #require(g.nodes.first { $0.name == "conv1" })
        #expect(Kernels.workspaceBytes(conv, in: g) == (9 * 784 * 4 + 63) / 64 * 64)
        let pointwise = try #require(g.nodes.first { $0.name == "layer2.0.downsample.0" })
        #expect(
            Kernels.workspaceBytes(pointwise, in: g) == (16 * 196 * 4 + 63) / 64 * 64,
            "a strided 1x1 conv still unrolls its input")
    }

    /// A plan whose tensor dies one step early: the static check names it; without static checks the
    /// poison reaches a later result, which differs from the reference.
    @Test func brokenPlanIsCaught() throws {
        let g = try Planned.training("small_resnet", .fft)
        var plan = Planned.plan(g)
        let liveness = Liveness(g)
        // The largest activation that lives past its definition.
        let i = try #require(
            plan.placements.indices.filter {
                plan.placements[$0].last > plan.placements[$0].first + 1
                    && liveness[plan.placements[$0].value].category == .activation
            }.max { plan.placements[$0].bytes < plan.placements[$1].bytes })
        plan.placements[i].last -= 1
        let victim = plan.placements[i].value
        let report = try Planned.check(g, plan)
        #expect(!report.passed)
        if case let .outsideInterval(v, _, _, _) = report.staticProblem {
            #expect(v == victim)
        } else {
            Issue.record("expected a use outside the interval: \(report)")
        }
        let dynamic = try Planned.check(g, plan, staticChecks: false)
        #expect(dynamic.difference?.step == 1, "\(dynamic)")
        print("broken plan: \(report)\n  without static checks: \(dynamic)")
    }

    /// Two live tensors put on the same bytes: the static check reports the overlap; the poisoned run
    /// sees the clobbered one differ.
    @Test func overlappingPlanIsCaught() throws {
        let g = try Planned.training("small_resnet", .fft)
        var plan = Planned.plan(g)
        let p = plan.placements
        // Two f32 tensors live together, with the same size, at different offsets: swap one onto the other.
        var pair: (Int, Int)?
        search: for a in p.indices where p[a].bytes > 0 && g[p[a].value].type.dtype == .f32 {
            for b in p.indices where b != a && p[b].bytes == p[a].bytes && p[b].offset != p[a].offset {
                if p[a].first < p[b].first, p[b].first <= p[a].last, g[p[b].value].type.dtype == .f32 {
                    pair = (a, b)
                    break search
                }
            }
        }
        let found = try #require(pair)
        plan.placements[found.1].offset = p[found.0].offset
        let report = try Planned.check(g, plan)
        guard case .overlap = report.staticProblem else {
            Issue.record("expected an overlap: \(report)")
            return
        }
        let dynamic = try Planned.check(g, plan, staticChecks: false)
        #expect(!dynamic.passed, "\(dynamic)")
        print("overlapping plan: \(report)\n  without static checks: \(dynamic)")
    }

    /// Plans that do not fit the graph are refused before anything runs.
    @Test func planMismatchesAreRefused() throws {
        let g = try Planned.training("small_resnet", .head)
        let plan = Planned.plan(g)
        var wrongSize = plan
        wrongSize.placements[0].bytes += 4
        #expect(throws: PlanError.self) { try PlannedRunner(g, plan: wrongSize) }
        var outside = plan
        outside.placements[0].offset = plan.arenaBytes
        #expect(throws: PlanError.self) { try PlannedRunner(g, plan: outside) }
        var parameter = plan
        parameter.placements[0].value = g.parameters[0]
        parameter.placements.sort { $0.value < $1.value }
        #expect(throws: PlanError.self) { try PlannedRunner(g, plan: parameter) }
    }
}
