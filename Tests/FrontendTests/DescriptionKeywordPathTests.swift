import Frontend
import GraphIR
import Testing

/// Keywords are plain names inside a layer path, so torchvision's `features.1.0.block.0` can be written
/// as it is named.
@Suite struct DescriptionKeywordPathTests {
    @Test func keywordSegmentsNameLayers() throws {
        let source = """
            model m(input = 3x8x8, classes = 2) {
                block.0 = conv2d(4, 3, padding = 1)
                stem.in.0 = relu
                x = add <- block.0, stem.in.0
                head = flatten
                fc = linear(classes)
            }
            """
        let graph = try ModelDescription.compile(source: Array(source.utf8), file: "k.model").graph
        #expect(graph.nodes.map(\.name) == ["block.0", "stem.in.0", "x", "head", "fc"])
        #expect(graph.parameters.map { graph[$0].name }.contains("block.0.weight"))
    }

    @Test func aKeywordAloneIsStillNotAStatement() {
        let source = "model m(input = 3x8x8) {\n    block = relu\n}\n"
        #expect(throws: DiagnosticError.self) {
            try ModelDescription.compile(source: Array(source.utf8), file: "k.model")
        }
    }
}
