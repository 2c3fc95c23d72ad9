import Foundation
// The zoo's ResNet descriptions against torchvision: exact parameter and MAC totals at several input
// sizes, class counts and batch sizes, and a layer-by-layer comparison with the torchvision counts
// fixture. Every compiled graph must also pass the verifier.
import Frontend
import GraphIR
import GraphTestSupport
import Testing

@Suite struct DescriptionZooTests {
    static func compile(_ file: String, input: [Int]? = nil, classes: Int? = nil, batch: Int = 1) throws
        -> CompiledModel
    {
        let model = try Models.compile(file, overrides: ModelOverrides(input: input, classes: classes, batch: batch))
        #expect(Verifier.verify(model.graph).allSatisfy { $0.severity != .error })
        return model
    }

    @Test func resnet18Defaults() throws {
        let m = try Self.compile("resnet18.model")
        #expect(m.name == "resnet18")
        #expect(m.input == [3, 224, 224])
        #expect(m.classes == 1000)
        #expect(m.batch == 1)
        #expect(m.graph.parameterCount == 11_689_512)
        #expect(m.graph.macs == 1_814_073_344)
        let input = m.graph[m.graph.inputs[0]]
        #expect(input.name == "input" && input.type == .f32([1, 3, 224, 224]))
        #expect(m.graph[m.graph.outputs[0]].type == .f32([1, 1000]))
    }

    @Test func resnet18TenClasses() throws {
        let m = try Self.compile("resnet18.model", classes: 10)
        #expect(m.graph.parameterCount == 11_181_642)
        #expect(m.graph.macs == 1_813_566_464)
    }

    @Test func resnet18At32() throws {
        let m = try Self.compile("resnet18.model", input: [3, 32, 32])
        #expect(m.graph.parameterCount == 11_689_512)
        #expect(m.graph.macs == 37_523_456)
    }

    @Test func resnet18Batch4ScalesMACs() throws {
        let m = try Self.compile("resnet18.model", batch: 4)
        #expect(m.graph.macs == 4 * 1_814_073_344)
        #expect(m.graph.parameterCount == 11_689_512)
        #expect(m.graph[m.graph.inputs[0]].type == .f32([4, 3, 224, 224]))
        #expect(m.graph[m.graph.outputs[0]].type == .f32([4, 1000]))
    }

    @Test func resnet34() throws {
        let m = try Self.compile("resnet34.model")
        #expect(m.graph.parameterCount == 21_797_672)
        #expect(m.graph.macs == 3_663_761_408)  // torchvision docs: 3.66 GFLOPS (MACs)
    }

    @Test func resnet50() throws {
        let m = try Self.compile("resnet50.model")
        #expect(m.graph.parameterCount == 25_557_032)
        #expect(m.graph.macs == 4_089_184_256)
        let names = Set(m.graph.parameters.map { m.graph[$0].name })
        for name in [
            "layer1.0.downsample.0.weight", "layer1.0.conv3.weight", "layer4.2.bn3.running_var",
            "layer2.0.downsample.1.running_mean", "fc.weight", "fc.bias",
        ] {
            #expect(names.contains(name), "missing parameter \(name)")
        }
        #expect(!names.contains("layer1.1.downsample.0.weight"))
        // Stride sits on the 3x3 conv2 (ResNet v1.5).
        let conv2 = try #require(m.graph.nodes.first { $0.name == "layer2.0.conv2" })
        #expect(m.graph[conv2.outputs[0]].type.shape == [1, 128, 28, 28])
    }

    @Test func smallResnet() throws {
        let m = try Self.compile("small_resnet.model")
        #expect(m.input == [1, 28, 28])
        #expect(m.classes == 10)
        #expect(m.graph.parameterCount == 77_754)
        #expect(m.graph.macs == 9_345_920)
        let names = m.graph.nodes.map(\.name)
        for name in [
            "conv1", "bn1", "relu", "layer1.0.conv1", "layer2.0.downsample.0", "layer3.0.bn2", "avgpool", "fc",
        ] {
            #expect(names.contains(name), "missing layer \(name)")
        }
        #expect(!names.contains("layer1.0.downsample.0"))
    }

    @Test func smallResnetBatch64() throws {
        let m = try Self.compile("small_resnet.model", batch: 64)
        #expect(m.graph.macs == 64 * 9_345_920)
    }

    @Test func namesAndScopes() throws {
        let m = try Self.compile("resnet18.model")
        let byName = Dictionary(uniqueKeysWithValues: m.graph.nodes.map { ($0.name, $0) })
        #expect(byName["conv1"]?.scope == "")
        #expect(byName["layer1.0.conv1"]?.scope == "layer1.0")
        #expect(byName["layer2.0.downsample.1"]?.scope == "layer2.0")
        #expect(byName["layer4.1.add"]?.scope == "layer4.1")
        #expect(byName["fc"]?.scope == "")
        #expect(m.graph.nodes.count == 3 + 1 + 8 * 7 + 3 * 2 + 3)
    }

    @Test(arguments: ["resnet18_224_nc10", "resnet18_224_nc1000", "resnet18_32_nc10", "resnet18_32_nc1000"])
    func resnet18MatchesTorchvisionLayers(key: String) throws {
        let url = try #require(
            Bundle.module.url(
                forResource: "torchvision_counts", withExtension: "json",
                subdirectory: "Fixtures"))
        let fixture = try TorchvisionFixture.load(url)
        #expect(try fixture.mismatches(file: "resnet18.model", key: key) == [])
    }

    /// The example at the top of docs/model-format.md is ResNet-18 too.
    @Test func specExampleCompiles() throws {
        let doc = try String(
            contentsOf: Models.packageRoot.appendingPathComponent("docs/model-format.md"), encoding: .utf8)
        let parts = doc.components(separatedBy: "```")
        try #require(parts.count >= 3)
        let m = try ModelDescription.compile(parts[1], file: "model-format.md")
        #expect(m.graph.parameterCount == 11_689_512)
        #expect(m.graph.macs == 1_814_073_344)
    }

    @Test func setOverridesParameters() throws {
        let m = try Models.compile(
            "resnet18.model", overrides: ModelOverrides(set: ["classes": "10", "input": "3x32x32"]))
        #expect(m.classes == 10)
        #expect(m.input == [3, 32, 32])
        #expect(m.graph.macs == 37_016_576)
    }
}
