// Helpers shared by the freeze, autodiff and optimizer tests: zoo graphs, training pipelines, fixtures.
import Foundation
import Frontend
import GraphIR
import Passes

enum Training {
    /// A zoo model's forward graph at 3x`size`x`size`.
    static func forward(_ model: String, classes: Int = 10, batch: Int = 1, size: Int = 224) throws -> Graph {
        try Zoo.compile(model, overrides: ModelOverrides(input: [3, size, size], classes: classes, batch: batch)).graph
    }

    /// freeze → autodiff, verified after each pass (no dce: before the optimizer nothing reads the
    /// gradients, so dce would drop the backward pass).
    static func graph(_ forward: Graph, _ config: TrainingConfig) throws -> Graph {
        let passes: [any Pass] = [Freeze(config), Autodiff()]
        return try PassPipeline(passes).run(forward)
    }

    /// The whole training step as graphc compiles it (`TrainingCompiler`): freeze → [lora | dora] →
    /// autodiff → optimizer → dce.
    static func step(_ forward: Graph, _ config: TrainingConfig) throws -> Graph {
        try TrainingCompiler.compile(forward, config: config)
    }

    static func config(
        _ method: FineTuningMethod, _ optimizer: OptimizerKind = .adam, rank: Int = 8,
        train: [String] = [], releaseGrads: Bool = false
    ) -> TrainingConfig {
        var c = TrainingConfig(method: method)
        c.optimizer = optimizer
        c.rank = rank
        c.train = train
        c.releaseGrads = releaseGrads
        return c
    }

    /// Bytes of `ids`.
    static func bytes(_ graph: Graph, _ ids: [ValueID]) -> Int { ids.reduce(0) { $0 + graph[$1].type.byteCount } }

    /// A fixture file of Tests/PassesTests/Fixtures, decoded as JSON.
    static func fixture(_ name: String) throws -> Any {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures") else {
            throw FixtureMissing(name: name)
        }
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url))
    }

    struct FixtureMissing: Error { var name: String }
}
