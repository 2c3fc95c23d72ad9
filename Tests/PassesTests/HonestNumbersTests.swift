// Counts that do not fit 64 bits are errors naming the node, never a saturated Int.max printed as a
// count; configurations with non-finite or out-of-range numbers are rejected by the library itself;
// pass errors name the node concerned (issue "Never clobber, never crash").
import Frontend
import GraphIR
import GraphTestSupport
import Passes
import Testing

@Suite struct HonestNumbersTests {
    /// A GaLore projector of a 2^20 x 2^20 gradient (2^40 elements, the most a tensor may have):
    /// 4·m·k² + 8·k³ = 2^62 + 2^63 alone overflows 64 bits.
    static func hugeProjector() throws -> Graph {
        var b = GraphBuilder(name: "huge")
        let g = b.input("w.grad", .f32([1 << 20, 1 << 20]))
        let stored = b.input("w.galore_projector", .f32([1 << 20, 2]))
        let p = try b.node(
            .svdProjector(ProjectorAttrs(rank: 2, left: true, gap: 1)), [g, stored],
            name: "w.galore.projector", phase: .optimizer)[0]
        b.output(p)
        return b.graph
    }

    @Test func svdOverflowNamesTheNode() throws {
        let report = FlopReport(try Self.hugeProjector())
        #expect(report.overflowingNode?.node == "w.galore.projector")
        #expect(report.overflowingNode?.alone == true)
        let e = try #require(throws: Diagnostic.self) { try report.checked() }
        #expect(e.id == "count-overflow")
        #expect(e.node == "w.galore.projector")
        #expect(!e.description.contains("9223372036854775807"))
        let training = TrainingReport(try Self.hugeProjector())
        #expect(throws: Diagnostic.self) { try training.checked() }
    }

    @Test func sumOverflowNamesTheNodeWhereItPasses() throws {
        // Linears of 2^20 x 2^20 by 2^20 x 2^20: 2^60 MACs, 2^61 FLOPs each, so the fourth passes 2^63.
        var b = GraphBuilder(name: "wide")
        var x = b.input("x", .f32([1 << 20, 1 << 20]))
        for i in 0..<5 {
            let w = b.parameter("l\(i).weight", [1 << 20, 1 << 20], role: .weight)
            x = try b.node(.linear, [x, w], name: "l\(i)")[0]
        }
        b.output(x)
        let report = FlopReport(b.graph)
        #expect(report.overflowingNode == CostOverflow(node: "l3", op: "linear", alone: false))
        #expect(throws: Diagnostic.self) { try report.checked() }
        let summary = ModelSummary(b.graph)
        #expect(summary.overflowingLayer?.node == "l3")
        #expect(throws: Diagnostic.self) { try summary.checked() }
    }

    @Test func countsThatFitAreNotFlagged() throws {
        let report = FlopReport(try Builders.tinyTrainingStep(galore: true))
        #expect(report.overflowingNode == nil)
        _ = try report.checked()
    }

    static let badConfigs: [(String, @Sendable (inout TrainingConfig) -> Void)] = [
        ("alpha", { $0.alpha = .infinity }), ("alpha", { $0.alpha = -1 }), ("alpha", { $0.alpha = .nan }),
        ("galoreScale", { $0.galoreScale = .nan }), ("galoreScale", { $0.galoreScale = -.infinity }),
        ("learningRate", { $0.learningRate = .infinity }), ("learningRate", { $0.learningRate = -1e-3 }),
        ("momentum", { $0.momentum = .nan }), ("weightDecay", { $0.weightDecay = -1 }),
        ("galoreGap", { $0.galoreGap = 0 }), ("rank", { $0.rank = -1 }),
    ]

    @Test(arguments: 0..<badConfigs.count)
    func configValidation(_ index: Int) throws {
        let (field, change) = Self.badConfigs[index]
        var c = TrainingConfig(method: .lora)
        change(&c)
        let e = try #require(throws: Diagnostic.self) { try c.validate() }
        #expect(e.message.hasPrefix(field + " ("), "\(e)")
        // The passes check it too, so a Swift caller cannot compile a step with it.
        let forward = try Builders.tinyConvnet()
        #expect(throws: PassError.self) { try TrainingCompiler.compile(forward, config: c) }
    }

    @Test func defaultConfigIsValid() throws {
        for method in FineTuningMethod.allCases { try TrainingConfig(method: method).validate() }
    }

    @Test func autodiffLogitsNamesTheNode() throws {
        var b = GraphBuilder(name: "convnet")
        let x = b.input("input", .f32([1, 3, 8, 8]))
        let y = try b.conv2d(x, out: 4, kernel: Pair(3), name: "conv1")
        b.output(y)
        let e = try #require(throws: Diagnostic.self) { try Autodiff().run(b.graph) }
        #expect(e.id == "autodiff-logits")
        #expect(e.node == "conv1")
    }

    @Test func rankTooLargeNamesTheWeight() throws {
        var c = TrainingConfig(method: .galore)
        c.rank = 100_000
        let e = try #require(throws: PassError.self) {
            try TrainingCompiler.compile(try Builders.tinyConvnet(), config: c)
        }
        let d = try #require(e.diagnostics.first)
        #expect(d.id == "rank-too-large")
        #expect(d.node != nil)
    }
}
