// Golden-file tests of DotExport's training drawings (see DotGoldenTests for the recording rule).
import GraphIR
import Passes
import Testing
import Viz

@Suite struct DotTrainingGoldenTests {
    @Test func tinyLoRA() throws {
        try expectGolden(DotExport.dot(try DotTrainingBuilders.tinyLoRA()), "training_tiny")
    }

    @Test func tinyLoRACollapsed() throws {
        try expectGolden(
            DotExport.dot(try DotTrainingBuilders.tinyLoRA(), options: .init(collapseDepth: 0)),
            "training_tiny_collapsed")
    }
}

extension DotTrainingGoldenTests {
    /// small_resnet at 32x32 + LoRA r4 (head trained) + Adam, after dce.
    @Test func smallResNetLoRA() throws {
        let graph = try DotTrainingGraphs.step("small_resnet", .lora, rank: 4, size: 32)
        try expectGolden(DotExport.dot(graph), "training_small_resnet_lora")
    }
}
