import Executor
import Foundation
import Frontend
import Passes
import Testing
import Training

/// `Study.run` called as a library: what the CLI validates, the library refuses too (no crash on a
/// recipe of no epochs).
@Suite struct StudyLibraryTests {
    @Test func noEpochsIsAnErrorNotACrash() throws {
        let data = try StudyCLITests.TenClasses(train: 80, test: 20)
        let train = try ImageDataset.load(directory: data.path, split: .train)
        let test = try ImageDataset.load(directory: data.path, split: .test)
        var o = ModelOverrides()
        o.batch = 8
        let forward = try ModelDescription.compile(Zoo.source(named: "small_resnet")!, overrides: o).graph
        func recipe(pretrainEpochs: Int, epochs: Int) -> StudyRecipe {
            StudyRecipe(
                forward: forward, trainSet: train, testSet: test, pretrain: TrainingConfig(method: .fft),
                pretrainEpochs: pretrainEpochs, pretrainClasses: Set(0..<5), methods: [TrainingConfig(method: .head)],
                epochs: epochs, batch: 8, scenarios: [.unseenClasses], limit: nil, testLimit: nil, seed: 0)
        }
        #expect(throws: TrainingError("a study fine-tunes at least 1 epoch, got 0")) {
            _ = try Study.run(recipe(pretrainEpochs: 1, epochs: 0))
        }
        #expect(
            throws: TrainingError(
                "a study pretrains at least 1 epoch (or starts from given base parameters), got 0")
        ) {
            _ = try Study.run(recipe(pretrainEpochs: 0, epochs: 1))
        }
    }
}
