// The compare sweep as library data: order, the FFT baseline (computed even when fft is not listed), the
// relative changes, GaLore's optimizer rule; and the adapter plan's exclusion counts.
import Frontend
import GraphIR
import Passes
import Testing

@Suite struct MethodComparisonTests {
    static func load(_ name: String, _ batch: Int) throws -> Graph {
        try Zoo.compile(name, overrides: ModelOverrides(input: [3, 32, 32], classes: 10, batch: batch)).graph
    }

    @Test func rowsBaselineAndChanges() throws {
        var base = TrainingConfig(method: .fft)
        base.optimizer = .sgd
        var progress: [MethodComparison.Progress] = []
        let rows = try MethodComparison.run(
            models: ["small_resnet"], methods: [.head, .lora, .galore], ranks: [2, 4],
            batches: [1, 2], base: base, load: Self.load,
            progress: { progress.append($0) })
        #expect(
            rows.map { "\($0.batch) \($0.config.label)" }
                == [
                    "1 head", "1 lora r2", "1 lora r4", "1 galore r2", "1 galore r4",
                    "2 head", "2 lora r2", "2 lora r4", "2 galore r2", "2 galore r4",
                ])
        #expect(progress.map(\.done) == [1, 2] && progress.allSatisfy { $0.total == 2 })
        for batch in [1, 2] {
            let fft = TrainingReport(
                try TrainingSession.compile(
                    try Self.load("small_resnet", batch),
                    config: MethodComparison.config(.fft, rank: 1, base: base)
                ).training)
            for row in rows where row.batch == batch {
                #expect(row.model == "small_resnet")
                #expect(row.baseline == fft)
                #expect(
                    row.trainableChange == NumberFormat.change(row.report.trainableParams, from: fft.trainableParams))
                #expect(row.peakChange == NumberFormat.change(row.report.memory.peakBytes, from: fft.memory.peakBytes))
                #expect(
                    row.flopsChange == NumberFormat.change(row.report.flops.total.flops, from: fft.flops.total.flops))
            }
        }
        #expect(rows.filter { $0.config.method == .galore }.allSatisfy { $0.config.optimizer == .adam })
        #expect(rows.filter { $0.config.method != .galore }.allSatisfy { $0.config.optimizer == .sgd })
        #expect(rows.filter { $0.config.method != .galore }.allSatisfy { $0.trainableChange < 0 })
        #expect(rows.filter { $0.config.method == .galore }.allSatisfy { $0.trainableChange == 0 })
    }

    @Test func fftRowIsItsOwnBaseline() throws {
        let rows = try MethodComparison.run(
            models: ["small_resnet"], methods: [.fft], ranks: [8], batches: [1],
            base: TrainingConfig(method: .fft), load: Self.load)
        #expect(rows.count == 1 && rows[0].report == rows[0].baseline)
        #expect(rows[0].trainableChange == 0 && rows[0].flopsChange == 0 && rows[0].peakChange == 0)
    }

    @Test func exclusionCountsGroupReasons() throws {
        var config = TrainingConfig(method: .lora)
        config.rank = 4
        let plan = try LoRA.plan(try Zoo.compile("small_mobilenet").graph, config: config)
        let counts = plan.exclusionCounts
        #expect(counts.reduce(0) { $0 + $1.count } == plan.excluded.count)
        #expect(counts.map(\.group) == Array(distinctInOrder(plan.excluded.map(\.reason.group))))
        #expect(counts.contains { $0.group == .depthwiseByDefault && $0.count > 1 })
        #expect(counts.last?.group == .headTrained && counts.last?.count == 1)
        #expect(AdapterPlan.Reason.headTrained.description == "head, trained fully (--head train)")
        #expect(AdapterPlan.Reason.groupedConv(groups: 4).description == "grouped conv (groups 4) is not adapted")
    }

    /// Distinct elements in order of first appearance.
    func distinctInOrder(_ groups: [AdapterPlan.ReasonGroup]) -> [AdapterPlan.ReasonGroup] {
        var seen: [AdapterPlan.ReasonGroup] = []
        for g in groups where !seen.contains(g) { seen.append(g) }
        return seen
    }
}
