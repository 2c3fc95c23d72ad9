// The registry: one entry per pass, named as the pass names itself; the training pipeline it builds is
// freeze → [lora | dora] → autodiff → optimizer → dce for every method; pass lists parse strictly.
import GraphIR
import GraphTestSupport
import Passes
import Testing

@Suite struct PassRegistryTests {
    @Test func namesAreUniqueKebabCaseAndThePassesOwn() {
        let names = PassRegistry.names
        #expect(
            names == [
                "freeze", "lora", "dora", "autodiff", "lean-saving", "optimizer", "dce", "set-precision",
                "merge-adapters",
            ])
        #expect(Set(names).count == names.count)
        for pass in PassRegistry.passes {
            #expect(pass.name.allSatisfy { $0.isLowercase || $0 == "-" }, "\(pass.name)")
            #expect(!pass.summary.isEmpty && !pass.summary.contains("\n"))
            for method in FineTuningMethod.allCases {
                let made = pass.make(TrainingConfig(method: method))
                #expect(made.name == pass.name && made.summary == pass.summary)
            }
        }
    }

    @Test(arguments: FineTuningMethod.allCases)
    func trainingPipelineIsFreezeAdapterAutodiffOptimizerDCE(_ method: FineTuningMethod) {
        let adapter: [String] =
            switch method {
            case .lora: ["lora"]
            case .dora: ["dora"]
            case .fft, .bnh, .head, .galore: []
            }
        let names = TrainingCompiler.passes(for: TrainingConfig(method: method)).map(\.name)
        #expect(names == ["freeze"] + adapter + ["autodiff", "optimizer", "dce"])
    }

    @Test func mergeAdaptersIsRegisteredButNotInTraining() throws {
        let merge = try #require(PassRegistry.pass(named: "merge-adapters"))
        #expect(merge.training == .never)
        #expect(merge.make(.defaults) is MergeAdapters)
    }

    @Test func parsesPassLists() throws {
        #expect(try PassRegistry.parse("").isEmpty)
        #expect(try PassRegistry.parse("freeze, lora ,autodiff").map(\.name) == ["freeze", "lora", "autodiff"])
        #expect(try PassRegistry.parse("dce,dce").map(\.name) == ["dce", "dce"])
        #expect(throws: PassListError.unknown("lorax")) { try PassRegistry.parse("freeze,lorax") }
        #expect(throws: PassListError.emptyName(list: "freeze,,lora")) { try PassRegistry.parse("freeze,,lora") }
        #expect(throws: PassListError.emptyName(list: "freeze,")) { try PassRegistry.parse("freeze,") }
        let message = PassListError.unknown("lorax").description
        #expect(message.contains("'lorax'") && PassRegistry.names.allSatisfy(message.contains))
    }

    @Test func impliedMethod() throws {
        #expect(PassRegistry.impliedMethod(of: try PassRegistry.parse("freeze,lora,autodiff")) == .lora)
        #expect(PassRegistry.impliedMethod(of: try PassRegistry.parse("dora,merge-adapters")) == .dora)
        #expect(PassRegistry.impliedMethod(of: try PassRegistry.parse("freeze,autodiff,optimizer")) == nil)
    }

    @Test func optionsReadArePassOptionsWithDefaults() throws {
        #expect(
            try #require(PassRegistry.pass(named: "lora")).options.map(\.name)
                == ["rank", "alpha", "head", "adapt-depthwise"])
        #expect(try #require(PassRegistry.pass(named: "autodiff")).options.map(\.name) == ["bn"])
        #expect(PassOption.rank.defaultValue == "8" && PassOption.optimizer.defaultValue == "adam")
        for option in PassRegistry.passes.flatMap(\.options) {
            #expect(!option.help.isEmpty && !option.defaultValue.isEmpty, "\(option.name)")
        }
    }

    /// A list runs through PassPipeline: each pass verified, errors naming the pass and its predecessors.
    @Test func pipelineNamesTheFailingPass() throws {
        let forward = try Builders.tinyConvnet()
        let error = #expect(throws: PassError.self) {
            try PassRegistry.pipeline("freeze,autodiff,merge-adapters", config: .defaults).run(forward)
        }
        #expect(error?.pass == "merge-adapters")
        #expect(error?.previous == ["freeze", "autodiff"])
        #expect(error?.diagnostics.map(\.id) == ["merge-training-graph"])
    }

    @Test func fullListEqualsTheTrainingCompiler() throws {
        let forward = try Builders.tinyConvnet()
        var config = TrainingConfig(method: .lora)
        config.rank = 2
        let listed = try PassRegistry.pipeline("freeze,lora,autodiff,optimizer,dce", config: config).run(forward)
        #expect(listed == (try TrainingCompiler.compile(forward, config: config)))
    }
}
