// Golden-file tests of every registered pass, .gir text in and .gir text out, as `graphc opt` runs
// them: each case parses its input, runs its pass list through PassRegistry.pipeline and compares the
// printed result byte for byte with Tests/PassesTests/PassGolden/<case>.gir.
//
// Inputs are the hand-written forward graphs in PassGolden/input/, or the output of an earlier case
// computed in the same test (the optimizer's input is what the autodiff case produces), so that training
// IR is never written by hand and a change to an earlier pass re-records cleanly.
//
// GRAPHC_RECORD=1 rewrites the golden files and fails on purpose, so that nobody records by accident;
// review the diff, then run again without it:
//
//     GRAPHC_RECORD=1 swift test --disable-xctest --filter PassGoldenTests
import Foundation
import GraphIR
import GraphTestSupport
import Passes
import Testing

@Suite struct PassGoldenTests {
    struct Case: Sendable {
        enum Input: Sendable {
            /// PassGolden/input/NAME.gir.
            case file(String)
            /// The output of the case NAME.
            case after(String)
        }
        var name: String
        var input: Input
        var passes: String
        var config: TrainingConfig
    }

    static func config(_ method: FineTuningMethod, rank: Int = 2) -> TrainingConfig {
        var c = TrainingConfig(method: method)
        c.rank = rank
        return c
    }

    static func precision(_ method: FineTuningMethod, _ w: WeightPrecision, _ a: ActivationPrecision) -> TrainingConfig
    {
        var c = config(method)
        c.weights = w
        c.activations = a
        return c
    }

    static let cases: [Case] = [
        Case(name: "freeze", input: .file("tiny_convnet"), passes: "freeze", config: config(.bnh)),
        Case(name: "lora", input: .file("tiny_convnet"), passes: "lora", config: config(.lora)),
        Case(name: "dora", input: .file("tiny_convnet"), passes: "dora", config: config(.dora)),
        Case(name: "autodiff", input: .after("freeze"), passes: "autodiff", config: config(.bnh)),
        Case(name: "optimizer", input: .after("autodiff"), passes: "optimizer", config: config(.bnh)),
        // bnh: conv2 is frozen, so relu's output is kept by relu's gradient only: it becomes a mask.
        Case(name: "lean-saving", input: .after("autodiff"), passes: "lean-saving", config: config(.bnh)),
        Case(name: "dce", input: .file("dead_branch"), passes: "dce", config: config(.fft)),
        Case(
            name: "set-precision", input: .after("optimizer"), passes: "set-precision",
            config: precision(.bnh, .int8, .f16)),
        Case(
            name: "set-precision-lora", input: .after("lora"), passes: "set-precision",
            config: precision(.lora, .bf16, .bf16)),
        Case(name: "merge-adapters", input: .after("lora"), passes: "merge-adapters", config: config(.lora)),
        Case(name: "merge-adapters-dora", input: .after("dora"), passes: "merge-adapters", config: config(.dora)),
    ]

    static func golden(_ name: String) -> Case { cases.first { $0.name == name }! }

    /// The input text of `c`.
    static func input(_ c: Case) throws -> String {
        switch c.input {
        case .file(let name):
            let url = try #require(
                Bundle.module.url(
                    forResource: name, withExtension: "gir",
                    subdirectory: "PassGolden/input"))
            return try String(contentsOf: url, encoding: .utf8)
        case .after(let name):
            return try output(golden(name))
        }
    }

    /// Parses the input of `c`, runs its passes and prints the result.
    static func output(_ c: Case) throws -> String {
        let text = try input(c)
        let graph = try IRParser.parse(Array(text.utf8), file: "\(c.name).input.gir")
        return IRPrinter.print(try PassRegistry.pipeline(c.passes, config: c.config).run(graph))
    }

    @Test(arguments: cases.map(\.name))
    func passOutputMatchesGolden(_ name: String) throws {
        try expectGIRGolden(try Self.output(Self.golden(name)), name)
    }

    @Test func everyRegisteredPassHasAGoldenCase() throws {
        let covered = Set(try Self.cases.flatMap { try PassRegistry.parse($0.passes).map(\.name) })
        #expect(Set(PassRegistry.names).subtracting(covered).isEmpty)
    }

    @Test func inputsRoundTrip() throws {
        for c in Self.cases {
            guard case .file = c.input else { continue }
            let text = try Self.input(c)
            #expect(IRPrinter.print(try IRParser.parse(Array(text.utf8), file: c.name)) == text, "\(c.name)")
        }
    }
}

/// Compares `actual` with PassGolden/`name`.gir, or records it when GRAPHC_RECORD=1.
func expectGIRGolden(
    _ actual: String, _ name: String, filePath: String = #filePath,
    sourceLocation: Testing.SourceLocation = #_sourceLocation
) throws {
    try Golden.expect(
        actual, name, ext: "gir", folder: "PassGolden", bundle: .module, filePath: filePath,
        sourceLocation: sourceLocation)
}
