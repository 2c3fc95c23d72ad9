// A parameter in the wrong operand slot type-checks (γ and β, weight-shaped tensors) but trains the
// wrong tensors: the verifier reports it as error[operand-role], naming the node and the operand.
import Foundation
import GraphIR
import GraphTestSupport
import Testing

@Suite struct VerifierOperandRoleTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tiny_convnet.gir")

    func diagnostics(_ replace: String, with replacement: String) throws -> [Diagnostic] {
        let text = try String(contentsOf: Self.fixture, encoding: .utf8)
        #expect(replace.isEmpty || text.contains(replace))
        let bad = text.replacingOccurrences(of: replace, with: replacement)
        do {
            let g = try IRParser.parse(Array(bad.utf8), file: "bad.gir")
            return Verifier.verify(g).filter { $0.severity == .error }
        } catch {
            return error.diagnostics
        }
    }

    @Test func fixtureHasNoRoleProblems() throws {
        #expect(try diagnostics("", with: "").isEmpty)
    }

    @Test func swappedGammaAndBeta() throws {
        let d = try diagnostics("batch_norm(%13, %2, %3, %4, %5)", with: "batch_norm(%13, %3, %2, %4, %5)")
        #expect(d.map(\.id) == ["operand-role", "operand-role"], "\(d)")
        #expect(d.allSatisfy { $0.node == "features.1" })
        #expect(d.first?.message.contains("'features.1.bias'") == true, "\(d)")
        #expect(d.first?.message.contains("bn_gamma") == true)
        #expect(d.first?.location?.file == "bad.gir", "\(d)")
    }

    @Test func runningMeanWhereTheWeightGoes() throws {
        let d = try diagnostics("batch_norm(%13, %2, %3, %4, %5)", with: "batch_norm(%13, %4, %3, %2, %5)")
        #expect(d.map(\.id) == ["operand-role", "operand-role"], "\(d)")
        #expect(d.contains { $0.message.contains("running_mean 'features.1.running_mean' as operand 1") }, "\(d)")
    }

    @Test func convAndLinearSlots() throws {
        // The classifier's weight and bias swapped (shapes differ: a type error too, but named by role).
        let d = try diagnostics("linear(%20, %11, %12)", with: "linear(%20, %12, %11)")
        #expect(d.contains { $0.id == "operand-role" && $0.node == "classifier" }, "\(d)")
        // A BN scale as a conv weight.
        var b = GraphBuilder(name: "g")
        let x = b.input("x", .f32([1, 1, 4, 4]))
        let gamma = b.parameter("bn.weight", [1, 1, 1, 1], role: .bnGamma)
        let y = try b.node(.conv2d(Conv2dAttrs()), [x, gamma], name: "conv")[0]
        b.output(y)
        let e = Verifier.verify(b.graph).filter { $0.severity == .error }
        #expect(e.map(\.id) == ["operand-role"])
        #expect(e.first?.node == "conv")
    }

    @Test func everyBuiltGraphPasses() throws {
        for (name, graph) in try Builders.all() {
            #expect(!Verifier.verify(graph).contains { $0.id == "operand-role" }, "\(name)")
        }
    }
}
