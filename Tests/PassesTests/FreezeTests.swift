import Frontend
// freeze: trainable counts per method against the study's and torchvision's numbers, the head, the
// `--train` selectors and their errors.
import GraphIR
import Passes
import Testing

@Suite struct FreezeTests {
    func frozen(_ model: String, _ config: TrainingConfig) throws -> Graph {
        try Freeze(config).run(Training.forward(model))
    }

    @Test(arguments: [
        ("resnet18", FineTuningMethod.bnh, 14_730), ("mobilenet_v2", .bnh, 46_922),
        ("resnet18", .head, 5_130), ("mobilenet_v2", .head, 12_810),
        ("resnet18", .fft, 11_181_642), ("mobilenet_v2", .fft, 2_236_682),
        ("resnet18", .galore, 11_181_642), ("resnet18", .lora, 5_130),
    ])
    func trainableCounts(model: String, method: FineTuningMethod, expected: Int) throws {
        let g = try frozen(model, TrainingConfig(method: method))
        #expect(g.trainableParameterCount == expected)
        #expect(g.parameterCount == (model == "resnet18" ? 11_181_642 : 2_236_682))
    }

    @Test func everyZooModelFFTTrainsAllParameters() throws {
        for model in Zoo.names {
            let g = try frozen(model, TrainingConfig(method: .fft))
            #expect(g.trainableParameterCount == g.parameterCount, "\(model)")
        }
    }

    @Test func headIsTheFinalLinear() throws {
        for (model, head) in [
            ("resnet18", "fc"), ("mobilenet_v2", "classifier.1"),
            ("mobilenet_v3_small", "classifier.3"),
        ] {
            let g = try Training.forward(model)
            #expect(Freeze.headNodes(g).map { g.nodes[$0].name } == [head], "\(model)")
        }
    }

    @Test func buffersAndStateNeverTrainable() throws {
        let g = try frozen("resnet18", Training.config(.fft, train: ["*"]))
        for id in g.parameters where !(g[id].role?.isLearnable ?? false) { #expect(!g[id].isTrainable) }
    }

    @Test func loraFreezesAllButTheHead() throws {
        var config = TrainingConfig(method: .dora)
        #expect(try frozen("mobilenet_v2", config).trainableParameterCount == 12_810)
        config.head = .frozen
        #expect(try frozen("mobilenet_v2", config).trainableParameterCount == 0)
    }

    @Test func selectorsAddToTheMethod() throws {
        let base = try Training.forward("resnet18")
        func trainable(_ config: TrainingConfig) throws -> Set<String> {
            let g = try Freeze(config).run(base)
            return Set(g.learnableParameters.filter { g[$0].isTrainable }.map { g[$0].name })
        }
        let head = try trainable(Training.config(.head))
        #expect(head == ["fc.weight", "fc.bias"])
        // A glob over parameter names: `*` crosses dots.
        let layer4 = try trainable(Training.config(.head, train: ["layer4.*"]))
        #expect(layer4.subtracting(head).allSatisfy { $0.hasPrefix("layer4.") })
        #expect(layer4.count == 2 + 9 + 6)  // head, layer4.0 (with downsample), layer4.1
        // A layer name selects that layer's learnable parameters (not its running statistics).
        let bn = try trainable(Training.config(.head, train: ["layer1.0.bn1"]))
        #expect(bn == head.union(["layer1.0.bn1.weight", "layer1.0.bn1.bias"]))
        let convs = try trainable(Training.config(.head, train: ["*conv1.weight", "conv1"]))
        #expect(convs.subtracting(head).count == 9)
    }

    @Test func unmatchedSelectorIsAnError() throws {
        let g = try Training.forward("resnet18")
        for glob in ["layer9.*", "layer1.0.bn1.running_mean", "layer1.0.relu"] {
            do {
                _ = try Freeze(Training.config(.bnh, train: ["fc", glob])).run(g)
                Issue.record("'\(glob)' accepted")
            } catch let d as Diagnostic {
                #expect(d.id == "selector-matches-nothing")
                #expect(d.message.contains("'\(glob)'"))
            }
        }
    }

    @Test func globs() {
        #expect(Freeze.globMatches("layer4.*", "layer4.0.conv1.weight"))
        #expect(Freeze.globMatches("*.bias", "layer4.0.bn1.bias"))
        #expect(Freeze.globMatches("*bn*weight", "layer4.0.bn1.weight"))
        #expect(Freeze.globMatches("*", ""))
        #expect(Freeze.globMatches("fc", "fc"))
        #expect(!Freeze.globMatches("fc", "fc.weight"))
        #expect(!Freeze.globMatches("layer4.*", "layer40"))
        #expect(!Freeze.globMatches("*.weight", "fc.bias"))
        #expect(Freeze.globMatches("a*b*c", "aXbYbZc"))
        #expect(!Freeze.globMatches("a*b*c", "aXbYbZ"))
    }
}
