// Replays the fuzzers' saved inputs (Tests/FrontendTests/FuzzInputs: findings of scripts/fuzz once fixed,
// and corpus inputs that reach unusual paths) through the same checks the fuzz targets make: every
// input compiles to a graph that verifies and round-trips through the text format, or is rejected with
// diagnostics. A trap here is a regression of a fixed finding.
import Foundation
import Frontend
import GraphIR
import Testing

@Suite struct FuzzReplayTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("FuzzInputs")

    static func inputs(_ kind: String) -> [String] {
        let dir = folder.appendingPathComponent(kind)
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
            .map { "\(kind)/\($0)" }
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: folder.appendingPathComponent(name)))
    }

    @Test func thereAreInputsToReplay() {
        #expect(Self.inputs("model").count >= 5)
        #expect(Self.inputs("gir").count >= 5)
    }

    @Test(arguments: inputs("model"))
    func modelInput(_ name: String) throws {
        let source = try Self.bytes(name)
        do {
            let graph = try ModelDescription.compile(source: source, file: name).graph
            #expect(Verifier.verify(graph).allSatisfy { $0.severity != .error })
            let text = IRPrinter.print(graph)
            #expect(IRPrinter.print(try IRParser.parse(Array(text.utf8), file: "\(name).gir")) == text)
        } catch {
            #expect(!error.diagnostics.isEmpty)
            #expect(error.diagnostics.allSatisfy { $0.location != nil || !$0.message.isEmpty })
        }
    }

    @Test(arguments: inputs("gir"))
    func irInput(_ name: String) throws {
        let source = try Self.bytes(name)
        do {
            let text = IRPrinter.print(try IRParser.parse(source, file: name))
            #expect(IRPrinter.print(try IRParser.parse(Array(text.utf8), file: name)) == text)
        } catch {
            #expect(!error.diagnostics.isEmpty)
        }
    }
}
