import Foundation
// The zoo's MobileNet / EfficientNet descriptions against torchvision (0.14-0.16): exact parameter and
// MAC totals (conv + linear, batch 1), mobilenet_v2 layer by layer against the torchvision counts
// fixture, torchvision's names and BatchNorm settings, and compilation at other input sizes. The
// expected numbers were also reproduced independently by scripts/zoo_counts.py.
import Frontend
import GraphIR
import GraphTestSupport
import Testing

@Suite struct ZooMobileTests {
    static func compile(_ file: String, input: [Int]? = nil, classes: Int? = nil, batch: Int = 1) throws
        -> CompiledModel
    {
        let model = try Models.compile(file, overrides: ModelOverrides(input: input, classes: classes, batch: batch))
        #expect(Verifier.verify(model.graph).allSatisfy { $0.severity != .error })
        return model
    }

    static func node(_ m: CompiledModel, _ name: String) -> Node? { m.graph.nodes.first { $0.name == name } }

    static func shape(_ m: CompiledModel, _ name: String) -> [Int]? {
        node(m, name).map { m.graph[$0.outputs[0]].type.shape.array }
    }

    /// (file, input, classes, parameters, MACs), as torchvision (and scripts/zoo_counts.py) count them.
    static let totals: [(String, [Int], Int, Int, Int)] = [
        ("mobilenet_v2.model", [3, 224, 224], 1000, 3_504_872, 300_774_272),
        ("mobilenet_v2.model", [3, 224, 224], 10, 2_236_682, 299_507_072),
        ("mobilenet_v2.model", [3, 32, 32], 1000, 3_504_872, 7_392_128),
        ("mobilenet_v2.model", [3, 32, 32], 10, 2_236_682, 6_124_928),
        ("mobilenet_v3_small.model", [3, 224, 224], 1000, 2_542_856, 56_510_400),
        ("mobilenet_v3_small.model", [3, 224, 224], 10, 1_528_106, 55_496_640),
        ("mobilenet_v3_large.model", [3, 224, 224], 1000, 5_483_032, 216_589_760),
        ("mobilenet_v3_large.model", [3, 224, 224], 10, 4_214_842, 215_322_560),
        ("efficientnet_b0.model", [3, 224, 224], 1000, 5_288_548, 385_814_752),
        ("efficientnet_b0.model", [3, 224, 224], 10, 4_020_358, 384_547_552),
        ("small_mobilenet.model", [1, 28, 28], 10, 61_834, 5_379_232),
    ]

    @Test(arguments: totals.indices)
    func exactTotals(index: Int) throws {
        let (file, input, classes, params, macs) = Self.totals[index]
        let m = try Self.compile(file, input: input, classes: classes)
        #expect(m.graph.parameterCount == params, "\(file) \(input) \(classes) classes")
        #expect(m.graph.macs == macs, "\(file) \(input) \(classes) classes")
        #expect(m.graph[m.graph.outputs[0]].type == .f32([1, classes]))
    }

    @Test(arguments: [
        "mobilenet_v2.model", "mobilenet_v3_small.model", "mobilenet_v3_large.model",
        "efficientnet_b0.model",
    ])
    func defaults(file: String) throws {
        let m = try Self.compile(file)
        #expect(m.name + ".model" == file)
        #expect(m.input == [3, 224, 224])
        #expect(m.classes == 1000)
        #expect(m.graph[m.graph.inputs[0]].type == .f32([1, 3, 224, 224]))
    }

    @Test func smallMobilenetDefaultsAndSize() throws {
        let m = try Self.compile("small_mobilenet.model")
        #expect(m.input == [1, 28, 28])
        #expect(m.classes == 10)
        #expect(m.graph.parameterCount == 61_834)
        #expect(m.graph.macs == 5_379_232)
        // "Similar size" to small_resnet, cheaper to run.
        let resnet = try Self.compile("small_resnet.model")
        #expect(m.graph.parameterCount < resnet.graph.parameterCount)
        #expect(m.graph.macs < resnet.graph.macs)
        #expect(Self.shape(m, "features.5.conv.3") == [1, 64, 7, 7])
        #expect(Self.node(m, "features.3.add") != nil && Self.node(m, "features.2.add") == nil)
    }

    @Test(arguments: [
        "mobilenet_v2_224_nc10", "mobilenet_v2_224_nc1000", "mobilenet_v2_32_nc10", "mobilenet_v2_32_nc1000",
    ])
    func mobilenetV2MatchesTorchvisionLayers(key: String) throws {
        let url = try #require(
            Bundle.module.url(
                forResource: "torchvision_counts", withExtension: "json",
                subdirectory: "Fixtures"))
        let fixture = try TorchvisionFixture.load(url)
        #expect(try fixture.mismatches(file: "mobilenet_v2.model", key: key) == [])
    }

    @Test func mobilenetV2Structure() throws {
        let m = try Self.compile("mobilenet_v2.model")
        let ops = m.graph.nodes.map(\.op)
        #expect(ops.filter { if case .conv2d = $0 { true } else { false } }.count == 52)
        #expect(ops.filter { $0 == .add }.count == 10)
        // No expansion in features.1: depthwise at conv.0, projection at conv.1 / conv.2.
        #expect(Self.shape(m, "features.1.conv.0.0") == [1, 32, 112, 112])
        #expect(Self.shape(m, "features.1.conv.2") == [1, 16, 112, 112])
        #expect(Self.node(m, "features.1.conv.3") == nil)
        #expect(Self.shape(m, "features.17.conv.3") == [1, 320, 7, 7])
        #expect(Self.node(m, "features.3.add") != nil && Self.node(m, "features.4.add") == nil)
        for name in ["avgpool", "flatten", "classifier.0", "classifier.1"] {
            #expect(Self.node(m, name) != nil, "missing \(name)")
        }
        if case let .dropout(p)? = Self.node(m, "classifier.0")?.op {
            #expect(p == 0.2)
        } else {
            Issue.record("classifier.0 is not dropout")
        }
    }

    /// Every batch_norm of `m` has (eps, momentum).
    static func expectBatchNorm(_ m: CompiledModel, eps: Double, momentum: Double) {
        var count = 0
        for node in m.graph.nodes {
            if case let .batchNorm(a) = node.op {
                count += 1
                #expect(a.eps == eps && a.momentum == momentum && !a.training, "\(node.name)")
            }
        }
        #expect(count > 0)
    }

    @Test func batchNormSettings() throws {
        Self.expectBatchNorm(try Self.compile("mobilenet_v2.model"), eps: 1e-5, momentum: 0.1)
        Self.expectBatchNorm(try Self.compile("mobilenet_v3_small.model"), eps: 1e-3, momentum: 0.01)
        Self.expectBatchNorm(try Self.compile("mobilenet_v3_large.model"), eps: 1e-3, momentum: 0.01)
        Self.expectBatchNorm(try Self.compile("efficientnet_b0.model"), eps: 1e-5, momentum: 0.1)
        Self.expectBatchNorm(try Self.compile("small_mobilenet.model"), eps: 1e-5, momentum: 0.1)
    }

    @Test func mobilenetV3LargeNames() throws {
        let m = try Self.compile("mobilenet_v3_large.model")
        let params = Set(m.graph.parameters.map { m.graph[$0].name })
        // features.1: no expansion, no SE; features.4: expansion, SE at block.2.
        for name in [
            "features.0.0.weight", "features.0.1.running_var", "features.1.block.0.0.weight",
            "features.1.block.1.1.bias", "features.4.block.2.fc1.weight", "features.4.block.2.fc1.bias",
            "features.4.block.2.fc2.weight", "features.4.block.3.1.running_mean",
            "features.16.0.weight", "classifier.0.weight", "classifier.3.bias",
        ] {
            #expect(params.contains(name), "missing parameter \(name)")
        }
        #expect(!params.contains("features.1.block.2.0.weight"))
        #expect(
            m.graph[m.graph.parameters.first { m.graph[$0].name == "features.4.block.2.fc1.weight" }!].type.shape == [
                24, 72, 1, 1,
            ])
        #expect(Self.shape(m, "features.13.block.1.0") == [1, 672, 7, 7])
        #expect(Self.node(m, "features.4.block.2.mul")?.op == .mul)
        #expect(Self.node(m, "features.4.block.2.scale_activation")?.op == .hardsigmoid)
        #expect(Self.node(m, "features.4.block.2.activation")?.op == .relu)
        #expect(Self.node(m, "features.7.block.0.2")?.op == .hardswish)
        #expect(Self.node(m, "features.4.block.3.2") == nil)  // projection has no activation
        #expect(Self.node(m, "classifier.1")?.op == .hardswish)
        #expect(m.graph.nodes.filter { $0.op == .add }.count == 10)
        #expect(m.graph.nodes.filter { $0.op == .mul }.count == 8)
    }

    @Test func mobilenetV3SmallNames() throws {
        let m = try Self.compile("mobilenet_v3_small.model")
        let params = Set(m.graph.parameters.map { m.graph[$0].name })
        // features.1: 16 -> 16 with SE and stride 2: depthwise block.0, SE block.1, projection block.2.
        for name in [
            "features.1.block.0.0.weight", "features.1.block.1.fc1.weight", "features.1.block.2.0.weight",
            "features.12.0.weight", "classifier.0.weight", "classifier.3.weight",
        ] {
            #expect(params.contains(name), "missing parameter \(name)")
        }
        #expect(Self.shape(m, "features.1.block.1.fc1") == [1, 8, 1, 1])
        #expect(Self.shape(m, "features.12.0") == [1, 576, 7, 7])
        #expect(Self.shape(m, "classifier.0") == [1, 1024])
        #expect(Self.node(m, "features.1.add") == nil && Self.node(m, "features.3.add") != nil)
        #expect(m.graph.nodes.filter { $0.op == .add }.count == 6)
        #expect(m.graph.nodes.filter { $0.op == .mul }.count == 9)
    }

    @Test func efficientnetB0Names() throws {
        let m = try Self.compile("efficientnet_b0.model")
        let params = Set(m.graph.parameters.map { m.graph[$0].name })
        for name in [
            "features.0.0.weight", "features.1.0.block.0.0.weight", "features.1.0.block.1.fc1.weight",
            "features.1.0.block.2.0.weight", "features.2.0.block.0.0.weight", "features.2.1.block.3.1.bias",
            "features.6.3.block.2.fc2.bias", "features.8.0.weight", "classifier.1.weight",
        ] {
            #expect(params.contains(name), "missing parameter \(name)")
        }
        // SE squeeze is max(1, in // 4) of the block's input, not of the expanded width.
        #expect(Self.shape(m, "features.2.0.block.2.fc1") == [1, 4, 1, 1])
        #expect(Self.shape(m, "features.2.1.block.2.fc1") == [1, 6, 1, 1])
        #expect(Self.shape(m, "features.8.0") == [1, 1280, 7, 7])
        #expect(Self.node(m, "features.2.1.block.2.activation")?.op == .silu)
        #expect(Self.node(m, "features.2.1.block.2.scale_activation")?.op == .sigmoid)
        #expect(Self.node(m, "features.2.0.add") == nil && Self.node(m, "features.2.1.add") != nil)
        #expect(m.graph.nodes.filter { $0.op == .add }.count == 9)
        #expect(m.graph.nodes.filter { $0.op == .mul }.count == 16)
    }

    /// (file, params at 7 classes, MACs at 3x96x96, MACs at 3x160x128), all 7 classes.
    static let otherSizes: [(String, Int, Int, Int)] = [
        ("mobilenet_v2.model", 2_232_839, 55_018_112, 122_251_520),
        ("mobilenet_v3_small.model", 1_525_031, 11_054_528, 23_275_264),
        ("mobilenet_v3_large.model", 4_210_999, 41_789_120, 89_509_760),
        ("efficientnet_b0.model", 4_016_515, 71_149_792, 157_333_120),
    ]

    @Test(arguments: otherSizes.indices)
    func otherInputSizes(index: Int) throws {
        let (file, params, macs96, macs160x128) = Self.otherSizes[index]
        let a = try Self.compile(file, input: [3, 96, 96], classes: 7)
        let b = try Self.compile(file, input: [3, 160, 128], classes: 7)
        let c = try Self.compile(file, input: [3, 224, 224], classes: 7)
        #expect(
            a.graph.parameterCount == params && b.graph.parameterCount == params && c.graph.parameterCount == params)
        #expect(a.graph.macs == macs96)
        #expect(b.graph.macs == macs160x128)
        #expect(a.graph[a.graph.outputs[0]].type == .f32([1, 7]))
        // Spatial scaling: all three sizes are multiples of 32, so the MACs of convs on feature maps
        // scale with the pixel count; the classifier's and the SE fc1/fc2's (at 1x1) are constant.
        let constant = { (m: CompiledModel) in
            m.graph.nodes.filter { node in
                if case .linear = node.op { return true }
                let shape = m.graph[node.outputs[0]].type.shape
                if case .conv2d = node.op { return shape[2] * shape[3] == 1 }
                return false
            }.reduce(0) { $0 + m.graph.macs(of: $1) }
        }
        #expect(constant(a) == constant(c) && constant(b) == constant(c))
        #expect((a.graph.macs - constant(a)) * 224 * 224 == (c.graph.macs - constant(c)) * 96 * 96)
        #expect((b.graph.macs - constant(b)) * 224 * 224 == (c.graph.macs - constant(c)) * 160 * 128)
        // Batch scales MACs, not parameters.
        let batched = try Self.compile(file, input: [3, 96, 96], classes: 7, batch: 3)
        #expect(batched.graph.macs == 3 * macs96 && batched.graph.parameterCount == params)
    }

    @Test(arguments: [
        [3, 32, 32], [3, 33, 47], [3, 64, 64], [3, 100, 75], [3, 224, 224], [3, 300, 257], [1, 64, 64],
    ])
    func mobilenetV3ParamsAtAnySize(input: [Int]) throws {
        // The stem conv's weight depends on the input channels: 3 -> 16 x 3 x 3 x 3.
        let stemDelta = 16 * (3 - input[0]) * 9
        let small = try Self.compile("mobilenet_v3_small.model", input: input)
        let large = try Self.compile("mobilenet_v3_large.model", input: input)
        #expect(small.graph.parameterCount + stemDelta == 2_542_856)
        #expect(large.graph.parameterCount + stemDelta == 5_483_032)
    }

    @Test func smallMobilenetOtherSizes() throws {
        let m = try Self.compile("small_mobilenet.model", input: [3, 32, 32], classes: 100)
        #expect(m.graph.parameterCount == 85_252)
        #expect(m.graph.macs == 7_343_104)
        let wide = try Models.compile("small_mobilenet.model", overrides: ModelOverrides(set: ["width": "128"]))
        #expect(wide.graph.parameterCount == 52_106)
        #expect(wide.graph.macs == 4_976_544)
    }
}
