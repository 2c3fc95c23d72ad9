// The executor runs f32 storage only: a graph `set-precision` stored narrower is refused before
// anything is bound, naming the first such value, instead of reading f16 or int8 bytes as f32.
import Executor
import Frontend
import GraphIR
import Passes
import Testing

@Suite struct PrecisionRefusalTests {
    static func step(weights: WeightPrecision, activations: ActivationPrecision) throws -> Graph {
        let forward = try Zoo.compile("small_resnet", overrides: ModelOverrides(batch: 2)).graph
        var config = TrainingConfig(method: .bnh)
        config.weights = weights
        config.activations = activations
        return try TrainingSession.compile(forward, config: config).training
    }

    @Test(arguments: [(WeightPrecision.int8, ActivationPrecision.f32), (.f32, .f16), (.bf16, .bf16)])
    func plannedAndReferenceRunnersRefuse(_ w: WeightPrecision, _ a: ActivationPrecision) throws {
        let g = try Self.step(weights: w, activations: a)
        let first = try #require(g.values.first { $0.type.dtype.isReducedPrecision })
        do {
            _ = try PlannedRunner(g, plan: Planned.plan(g))
            Issue.record("PlannedRunner ran a \(w)/\(a) graph")
        } catch {
            #expect(error.description.hasPrefix("the executor runs f32 storage only, and '\(first.name)'"))
            #expect(error.description.contains(first.type.description))
            #expect(!error.description.contains("\n"))
        }
        var reference = ReferenceRunner(g)
        #expect(throws: ReferenceRunner.InputError.self) { _ = try reference.run([]) }
    }

    @Test func f32GraphsAreNotRefused() throws {
        #expect(ExecutorPrecision.refusal(try Self.step(weights: .f32, activations: .f32)) == nil)
    }
}
