// Reduced precision (`set-precision`, --weights, --activations): exact byte counts on resnet18 at batch
// 8, which values the pass retypes and which keep f32, and that its graphs verify and round-trip.
import GraphIR
import Passes
import Testing

@Suite struct PrecisionTests {
    static func step(
        _ method: FineTuningMethod, saving: SavingPolicy, activations: ActivationPrecision
    ) throws -> Graph {
        var c = TrainingConfig(method: method)
        c.saving = saving
        c.activations = activations
        return try TrainingCompiler.compile(Training.forward("resnet18", classes: 1000, batch: 8), config: c)
    }

    static func step(
        _ method: FineTuningMethod, weights: WeightPrecision = .f32, activations: ActivationPrecision = .f32
    )
        throws -> Graph
    {
        var c = TrainingConfig(method: method)
        c.weights = weights
        c.activations = activations
        return try TrainingCompiler.compile(Training.forward("resnet18", classes: 1000, batch: 8), config: c)
    }

    /// Bytes of the saved storages that are not real-valued: max-pool indices (i64), masks.
    static func indexBytes(_ g: Graph) -> Int {
        var total = 0
        for node in g.nodes where node.phase == .forward {
            if case .maxPool2dWithIndices = node.op { total += g[node.outputs[1]].type.byteCount }
        }
        return total
    }

    @Test(arguments: [FineTuningMethod.fft, .bnh, .lora], [ActivationPrecision.f16, .bf16])
    func halfPrecisionActivationsSaveExactlyHalf(_ method: FineTuningMethod, _ precision: ActivationPrecision) throws {
        let full = try Self.step(method), half = try Self.step(method, activations: precision)
        let a = Liveness(full).savedActivationBytes, b = Liveness(half).savedActivationBytes
        let indices = Self.indexBytes(full)
        // resnet18 has one max pool: its i64 indices of [8, 64, 56, 56] keep their bytes.
        #expect(indices == 8 * 64 * 56 * 56 * 8)
        #expect(Self.indexBytes(half) == indices)
        #expect((a - indices) % 2 == 0)
        #expect(b - indices == (a - indices) / 2, "\(method) \(precision): \(a) → \(b)")
        print("saved activations resnet18 b8 \(method) \(precision): \(a) → \(b) (indices \(indices))")
    }

    /// Under `--saving lean` the 1-bit ReLU masks keep their size too.
    @Test(arguments: [FineTuningMethod.bnh, .lora]) func halfUnderLeanSavingAsideMasks(_ method: FineTuningMethod)
        throws
    {
        let full = try Self.step(method, saving: .lean, activations: .f32)
        let half = try Self.step(method, saving: .lean, activations: .f16)
        var fixed = Self.indexBytes(full), masks = 0
        for node in full.nodes where node.phase == .forward {
            for id in node.outputs where full[id].type.dtype == .mask { masks += full[id].type.byteCount }
        }
        if method == .bnh { #expect(masks > 0) }
        fixed += masks
        let a = Liveness(full, saving: .lean).savedActivationBytes,
            b = Liveness(half, saving: .lean).savedActivationBytes
        #expect(b - fixed == (a - fixed) / 2, "\(method): \(a) → \(b), masks \(masks)")
        print("saved activations resnet18 b8 \(method) lean f16: \(a) → \(b) (indices and masks \(fixed))")
    }

    @Test func int8FrozenConvWeightsCountNumelPlusFourBytesPerOutputChannel() throws {
        let g = try Self.step(.bnh, weights: .int8)
        var expected = 0, convs = 0
        for node in g.nodes where node.phase == .forward {
            guard case .conv2d = node.op else { continue }
            let w = g[node.inputs[1]]
            #expect(w.type.dtype == .qi8, "\(w.name)")
            #expect(w.type.byteCount == w.type.elementCount + 4 * w.type.shape[0])
            expected += w.type.elementCount + 4 * w.type.shape[0]
            convs += 1
        }
        #expect(convs == 20)
        // bnh trains BN's affine and the head: the frozen parameters are exactly the conv weights.
        let live = Liveness(g)
        #expect(live.atPeak.parameterFrozen == expected)
        #expect(live.atPeak.parameterFrozen == 11_166_912 + 4 * 4_800)
        // The trainable head and BN affine keep f32; so do the buffers and Adam's state.
        for id in g.parameters where g[id].type.dtype != .qi8 { #expect(g[id].type.dtype == .f32, "\(g[id].name)") }
    }

    @Test func qi8TypeBytes() {
        #expect(TensorType(.qi8, [64, 3, 7, 7]).byteCount == 9_408 + 256)
        #expect(TensorType(.qi8, [1000, 512]).byteCount == 512_000 + 4_000)
        #expect(TensorType(.qi8, [64, 3, 7, 7]).scaleBytes == 256)
        #expect(TensorType(.f16, [64, 3, 7, 7]).byteCount == 2 * 9_408)
        #expect(TensorType(.bf16, [10]).byteCount == 20)
        #expect(TensorType(.f32, [10]).scaleBytes == 0)
    }

    @Test func halfWeightsHalveTheFrozenBytes() throws {
        let full = Liveness(try Self.step(.lora)).atPeak, half = Liveness(try Self.step(.lora, weights: .f16)).atPeak
        #expect(full.parameterFrozen == 2 * half.parameterFrozen)
        #expect(full.parameterTrainable == half.parameterTrainable)
        #expect(full.optimizerState == half.optimizerState)
    }

    @Test func gradientsOptimizerAndOutputsKeepF32() throws {
        let g = try Self.step(.fft, weights: .f16, activations: .f16)
        for id in g.parameters {
            #expect(g[id].type.dtype == .f32, "\(g[id].name): fft trains every weight, f32 masters")
            if let grad = g.records.gradient(of: id) { #expect(g[grad].type.dtype == .f32, "\(g[grad].name)") }
        }
        for id in g.outputs where g.producer(of: id).map({ g.nodes[$0].phase }) != .optimizer {
            #expect(g[id].type.dtype == .f32, "\(g[id].name)")
        }
        for node in g.nodes where node.phase == .optimizer {
            for id in node.outputs { #expect(g[id].type.dtype == .f32, "\(g[id].name)") }
        }
        #expect(g.values.contains { $0.type.dtype == .f16 })
        #expect(g.values.contains { $0.type.dtype == .i64 })
        #expect(Verifier.verify(g).filter { $0.severity == .error }.isEmpty)
    }

    @Test func f32RunsNoPassAndReducedRunsItLast() {
        var c = TrainingConfig(method: .bnh)
        #expect(!TrainingCompiler.passes(for: c).map(\.name).contains("set-precision"))
        c.activations = .bf16
        #expect(TrainingCompiler.passes(for: c).map(\.name).last == "set-precision")
        c.activations = .f32
        c.weights = .int8
        #expect(TrainingCompiler.passes(for: c).map(\.name).last == "set-precision")
    }

    @Test(arguments: WeightPrecision.allCases) func reducedGraphsRoundTripThroughText(_ w: WeightPrecision) throws {
        let g = try Self.step(.lora, weights: w, activations: w == .f32 ? .bf16 : .f16)
        let text = IRPrinter.print(g)
        let parsed = try IRParser.parse(text, file: "step.gir")
        #expect(IRPrinter.print(parsed) == text)
        #expect(parsed == g.renumbered())
        let dtypes = Set(parsed.values.map(\.type.dtype))
        #expect(dtypes.contains(w == .int8 ? .qi8 : w == .f32 ? .bf16 : w == .f16 ? .f16 : .bf16))
    }

    /// A rewrite that copies every node: what a pass after `set-precision` does to most of a graph.
    struct CopyAll: Pass {
        let name = "copy-all"
        let summary = "copy every node"
        func run(_ graph: Graph) throws -> Graph {
            var r = GraphRewriter(graph)
            for index in graph.nodes.indices { try r.copy(index) }
            return r.finish()
        }
    }

    @Test func rewritesKeepTheStorage() throws {
        let g = try Self.step(.bnh, weights: .int8, activations: .f16)
        let again = try PassPipeline([CopyAll()]).run(g)
        #expect(!again.sharesStorage(with: g))
        #expect(again.values.map(\.type) == g.values.map(\.type))
    }
}
