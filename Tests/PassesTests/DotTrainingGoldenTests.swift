// Golden-file tests of DotExport's training drawings (see DotGoldenTests for the recording rule).
import GraphIR
import Passes
import Testing

@Suite struct DotTrainingGoldenTests {
    @Test func tinyLoRA() throws {
        try expectGolden(DotExport.dot(try DotTrainingBuilders.tinyLoRA()), "training_tiny")
    }

    @Test func tinyLoRACollapsed() throws {
        try expectGolden(DotExport.dot(try DotTrainingBuilders.tinyLoRA(), options: .init(collapseDepth: 0)),
                         "training_tiny_collapsed")
    }
}
