import Frontend
// The analyses on whole zoo training steps (TrainingCompiler, Adam, 3x224x224,
// 10 classes): planner properties on every model and method, and the memory relations METHODS.md states.
import GraphIR
import Passes
import Testing

@Suite struct AnalysisZooTests {
    static let models = [
        "efficientnet_b0", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "resnet18",
        "resnet34", "resnet50", "small_mobilenet", "small_resnet",
    ]
    static let methods: [FineTuningMethod] = [.fft, .bnh, .head, .lora, .dora, .galore]

    static func report(_ model: String, _ config: TrainingConfig, batch: Int = 1) throws -> (Graph, TrainingReport) {
        let graph = try Training.step(Training.forward(model, batch: batch), config)
        return (graph, TrainingReport(graph))
    }

    static func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }

    /// `--bn frozen` at batch 1 (where batch statistics are degenerate) on every model, both policies:
    /// every BN stays on running statistics with a frozen-statistics gradient, and lean keeps no more.
    @Test(arguments: models)
    func frozenBatchNormAtBatchOne(_ model: String) throws {
        for method in [FineTuningMethod.fft, .bnh, .lora] {
            var c = Training.config(method)
            c.bn = .frozen
            let pytorch = try Training.step(Training.forward(model, batch: 1), c)
            c.saving = .lean
            let lean = try Training.step(Training.forward(model, batch: 1), c)
            let label = "\(model) \(method)"
            #expect(!pytorch.nodes.contains { if case .nativeBatchNorm = $0.op { true } else { false } }, "\(label)")
            let bns = pytorch.nodes.count { if case .batchNorm = $0.op { true } else { false } }
            let grads = pytorch.nodes.count { if case .batchNormFrozenGrad = $0.op { true } else { false } }
            #expect(bns > 0 && grads > 0 && grads <= bns, "\(label)")
            let p = TrainingReport(pytorch, saving: .pytorch), l = TrainingReport(lean, saving: .lean)
            #expect(l.savedActivationBytes <= p.savedActivationBytes, "\(label)")
            #expect(MemoryPlanner.plan(Liveness(lean, saving: .lean).transientIntervals()).firstConflict() == nil)
        }
    }

    @Test(arguments: models)
    func planIsValidAndTight(_ model: String) throws {
        for method in Self.methods {
            let graph = try Training.step(Training.forward(model), Training.config(method))
            let live = Liveness(graph)
            let intervals = live.transientIntervals()
            let plan = MemoryPlanner.plan(intervals)
            let label = "\(model) \(method)"
            #expect(plan.firstConflict() == nil, "\(label)")
            #expect(plan.arenaBytes >= plan.lowerBoundBytes, "\(label)")
            #expect(
                Double(plan.arenaBytes) <= 1.02 * Double(plan.lowerBoundBytes),
                "\(label): arena \(plan.arenaBytes) vs bound \(plan.lowerBoundBytes)")
            #expect(live.categoryMaxTotal >= live.peakBytes, "\(label)")
            #expect(live.timeline.count == graph.nodes.count)
            // Every byte of the timeline's peak is either persistent or in an interval the planner saw.
            #expect(
                MemoryPlanner.lowerBound(intervals, alignment: 1) == live.peakBytes - live.persistentBytes,
                "\(label)")
        }
    }

    @Test func resnet18Figures() throws {
        let (_, fft) = try Self.report("resnet18", Training.config(.fft))
        let (_, released) = try Self.report("resnet18", Training.config(.fft, releaseGrads: true))
        let (_, bnh) = try Self.report("resnet18", Training.config(.bnh))
        let (_, head) = try Self.report("resnet18", Training.config(.head))
        let (_, galore) = try Self.report("resnet18", Training.config(.galore))
        for (name, r) in [
            ("fft", fft), ("fft release-grads", released), ("bnh", bnh), ("head", head),
            ("galore", galore),
        ] {
            let m = r.memory
            print(
                "resnet18 b1 \(name): peak \(Self.mib(m.peakBytes)) (params \(Self.mib(m.atPeak.parameters)), "
                    + "grads \(Self.mib(m.atPeak.gradients)), state \(Self.mib(m.atPeak.optimizerState)), "
                    + "act \(Self.mib(m.atPeak.activations)), tmp \(Self.mib(m.atPeak.temporaries))), "
                    + "category-max \(Self.mib(m.categoryMaxTotalBytes)), arena \(Self.mib(m.arenaBytes)) / bound "
                    + "\(Self.mib(m.lowerBoundBytes)), saved \(Self.mib(r.savedActivationBytes)), "
                    + "FLOPs fwd \(r.flops.forward.flops) bwd \(r.flops.backward.flops) opt \(r.flops.optimizer.flops) "
                    + "svd \(r.flops.svd.flops), peak at \(r.peakOps.first { $0.step == r.peakStep }?.name ?? "-")")
        }
        // The study profiler's category-max sum overstates the simultaneous peak.
        #expect(fft.memory.categoryMaxTotalBytes > fft.memory.peakBytes)
        // Releasing each gradient after its update lowers the FFT peak.
        #expect(released.memory.peakBytes < fft.memory.peakBytes)
        #expect(released.memory.atPeak.gradients < fft.memory.atPeak.gradients)
        // A frozen base needs no weight gradients, no Adam state for it and few saved activations.
        #expect(Double(head.memory.peakBytes) < 0.5 * Double(fft.memory.peakBytes))
        #expect(Double(bnh.memory.peakBytes) < 0.75 * Double(fft.memory.peakBytes))
        #expect(head.memory.atPeak.optimizerState == 2 * 4 * 5130)
        // GaLore keeps full-size gradients but low-rank state.
        #expect(galore.memory.atPeak.optimizerState < fft.memory.atPeak.optimizerState / 4)
        #expect(galore.flops.svd.flops > 0)
    }
}
