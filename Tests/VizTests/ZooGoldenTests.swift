import Foundation
import Frontend
import GraphIR
import Passes
import Testing
import Viz

/// The zoo through the whole front end: golden DOT for two models, and the canonical IR of every model
/// reads back to the same graph and the same text.
@Suite struct ZooGoldenTests {
    @Test(arguments: ["small_resnet", "small_mobilenet"])
    func goldenDOT(_ model: String) throws {
        try expectGolden(DotExport.dot(try Zoo.compile(model).graph), "zoo_\(model)")
    }

    @Test func goldenDOTCollapsedResNet50() throws {
        var options = DotOptions()
        options.collapseDepth = 0
        try expectGolden(DotExport.dot(try Zoo.compile("resnet50").graph, options: options), "zoo_resnet50_collapsed")
    }

    @Test(arguments: Zoo.names)
    func printParsePrintIsIdentity(_ model: String) throws {
        for overrides in [ModelOverrides(), ModelOverrides(input: [3, 64, 48], classes: 7, batch: 2)] {
            if model.hasPrefix("small_") && overrides.input != nil { continue }
            let graph = try Zoo.compile(model, overrides: overrides).graph
            let text = IRPrinter.print(graph)
            let parsed = try IRParser.parse(Array(text.utf8), file: "\(model).gir")
            #expect(IRPrinter.print(parsed) == text)
            #expect(parsed == graph.renumbered())
        }
    }

    @Test func zooEmbeddingMatchesExamples() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let dir = root.appendingPathComponent("examples/models")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".model") }
        #expect(
            Set(files.map { String($0.dropLast(6)) }) == Set(Zoo.names),
            "run scripts/embed-zoo after adding or removing a zoo file")
        for file in files {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            #expect(
                Zoo.source(named: String(file.dropLast(6)))?.trimmingCharacters(in: .newlines)
                    == text.trimmingCharacters(in: .newlines), "\(file): run scripts/embed-zoo")
        }
    }
}
