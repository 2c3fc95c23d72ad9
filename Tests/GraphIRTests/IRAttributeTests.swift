// The attribute table: every op's attributes survive `attributes` → `Op(name:attributes:)`, and each
// kind of bad input is reported with its id.
import GraphIR
import GraphTestSupport
import Testing

@Suite struct IRAttributeTests {
    @Test func sampleOpsCoverEveryOpName() {
        #expect(Set(sampleOps.map(\.name)) == Set(Op.allNames))
        #expect(sampleOps.count == Op.allNames.count)
    }

    @Test(arguments: sampleOps) func attributesRoundTrip(_ op: Op) throws {
        let attributes = op.attributes
        #expect(attributes.map(\.key) == attributes.map(\.key).sorted())
        let rebuilt = try Op(
            name: op.name, attributes: Dictionary(uniqueKeysWithValues: attributes.map { ($0.key, $0.value) }))
        #expect(rebuilt == op)
    }

    @Test func keysPerOp() {
        func keys(_ op: Op) -> [String] { op.attributes.map(\.key) }
        #expect(keys(sampleOps[0]) == ["dilation", "groups", "padding", "stride"])
        #expect(keys(sampleOps[1]) == ["eps", "momentum", "training"])
        #expect(keys(sampleOps[10]) == ["ceil_mode", "kernel", "padding", "stride"])
        #expect(keys(sampleOps[11]) == ["ceil_mode", "count_include_pad", "kernel", "padding", "stride"])
        #expect(keys(.adaptiveAvgPool2d(output: Pair(1))) == ["output"])
        #expect(keys(.flatten(startDim: 1)) == ["start_dim"])
        #expect(keys(.dropout(p: 0.5)) == ["p"])
        #expect(keys(.relu).isEmpty)
        let conv = Conv2dAttrs()
        #expect(keys(.conv2dGradInput(conv, input: Pair(4))) == ["dilation", "groups", "input", "padding", "stride"])
        #expect(
            keys(.conv2dGradWeight(conv, kernel: Pair(3))) == ["dilation", "groups", "kernel", "padding", "stride"])
        #expect(keys(.nativeBatchNorm(BatchNormAttrs())) == ["eps", "momentum", "training"])
        #expect(keys(.batchNormGrad(BatchNormAttrs())) == ["eps", "momentum", "training"])
        #expect(
            keys(.maxPool2dWithIndices(Pool2dAttrs(kernel: Pair(2)))) == ["ceil_mode", "kernel", "padding", "stride"])
        #expect(keys(.maxPool2dGrad(Pool2dAttrs(kernel: Pair(2)))) == ["ceil_mode", "kernel", "padding", "stride"])
        #expect(
            keys(.avgPool2dGrad(Pool2dAttrs(kernel: Pair(2))))
                == ["ceil_mode", "count_include_pad", "kernel", "padding", "stride"])
        #expect(keys(.nativeDropout(p: 0.5)) == ["p"])
        #expect(keys(.dropoutGrad(p: 0.5)) == ["p"])
        #expect(keys(.scale(2)) == ["factor"])
        #expect(keys(.matmul(transposeA: false, transposeB: true)) == ["transpose_a", "transpose_b"])
        #expect(keys(.reshape(shape: [1])) == ["shape"])
        #expect(keys(.sumTo(shape: [])) == ["shape"])
        #expect(keys(.svdProjector(ProjectorAttrs(rank: 1, left: false, gap: 1))) == ["gap", "left", "rank"])
        let optimizerKeys = ["beta1", "beta2", "decoupled", "eps", "lr", "momentum", "weight_decay"]
        for op: Op in [
            .sgdUpdate(OptimizerAttrs(lr: 1)), .momentumUpdate(OptimizerAttrs(lr: 1)),
            .adamUpdate(OptimizerAttrs(lr: 1)), .adamDirection(OptimizerAttrs(lr: 1)),
            .applyUpdate(OptimizerAttrs(lr: 1)),
        ] {
            #expect(keys(op) == optimizerKeys, "\(op.name)")
        }
        for op: Op in [
            .div, .channelNorm, .biasGrad, .activationGrad(.silu), .adaptiveAvgPool2dGrad,
            .linearGradInput, .linearGradWeight, .softmaxCrossEntropyGrad,
        ] {
            #expect(keys(op).isEmpty, "\(op.name)")
        }
    }

    /// Integer lists print as `[a, b, ...]`; the parser reads a two-element list as a pair, and list
    /// readers accept a pair, so shapes of every length (0, 1, 2, 4) read back.
    @Test(arguments: [[], [7], [3, 5], [2, 1, 4], [4, 1, 3, 3]])
    func integerListsOfAnyLength(_ shape: [Int]) throws {
        #expect(AttributeValue.ints(shape).description == "[" + shape.map(String.init).joined(separator: ", ") + "]")
        #expect(try Op(name: "reshape", attributes: ["shape": .ints(shape)]) == .reshape(shape: Shape(shape)))
        #expect(try Op(name: "sum_to", attributes: ["shape": .ints(shape)]) == .sumTo(shape: Shape(shape)))
        if shape.count == 2 {
            #expect(
                try Op(name: "reshape", attributes: ["shape": .pair(Pair(shape[0], shape[1]))])
                    == .reshape(shape: Shape(shape)))
        }
    }

    @Test func activationGradientNames() throws {
        for a in Activation.allCases {
            #expect(Op.activationGrad(a).name == a.rawValue + "_grad")
            #expect(try Op(name: a.rawValue + "_grad", attributes: [:]) == .activationGrad(a))
        }
        #expect(problems("tanh_grad", [:]) == ["unknown-op"])
        #expect(problems("_grad", [:]) == ["unknown-op"])
    }

    @Test func attributeTextForms() {
        #expect(AttributeValue.float(1e-5).description == "1e-05")
        #expect(AttributeValue.float(0.1).description == "0.1")
        #expect(AttributeValue.float(1).description == "1.0")
        #expect(AttributeValue.int(-3).description == "-3")
        #expect(AttributeValue.bool(true).description == "true")
        #expect(AttributeValue.pair(Pair(2, 3)).description == "[2, 3]")
    }

    private func problems(_ name: String, _ attributes: [String: AttributeValue]) -> [String] {
        do {
            _ = try Op(name: name, attributes: attributes)
            return []
        } catch {
            return error.problems.map(\.id)
        }
    }

    @Test func unknownOp() {
        #expect(problems("conv3d", [:]) == ["unknown-op"])
    }

    @Test func unknownAndMissingAreBothReported() {
        #expect(problems("flatten", ["start": .int(1)]) == ["missing-attribute", "unknown-attribute"])
        #expect(problems("relu", ["inplace": .bool(true)]) == ["unknown-attribute"])
    }

    @Test func maxPoolHasNoCountIncludePad() {
        let attrs: [String: AttributeValue] = [
            "ceil_mode": .bool(false), "kernel": .pair(Pair(2)),
            "padding": .pair(Pair(0)), "stride": .pair(Pair(2)),
        ]
        #expect(problems("max_pool2d", attrs) == [])
        #expect(
            problems("max_pool2d", attrs.merging(["count_include_pad": .bool(true)]) { a, _ in a })
                == ["unknown-attribute"])
        #expect(problems("avg_pool2d", attrs) == ["missing-attribute"])
    }

    @Test func wrongTypes() {
        #expect(problems("flatten", ["start_dim": .float(1)]) == ["attribute-type"])
        #expect(problems("dropout", ["p": .bool(true)]) == ["attribute-type"])
        #expect(problems("adaptive_avg_pool2d", ["output": .int(1)]) == ["attribute-type"])
        #expect(
            problems("batch_norm", ["eps": .float(1e-5), "momentum": .float(0.1), "training": .int(0)])
                == ["attribute-type"])
        #expect(problems("reshape", ["shape": .int(4)]) == ["attribute-type"])
        #expect(problems("sum_to", ["shape": .bool(true)]) == ["attribute-type"])
        #expect(problems("matmul", ["transpose_a": .int(1), "transpose_b": .bool(false)]) == ["attribute-type"])
        #expect(
            problems(
                "conv2d_grad_input",
                [
                    "dilation": .pair(Pair(1)), "groups": .int(1), "input": .ints([4, 4, 4]),
                    "padding": .pair(Pair(0)), "stride": .pair(Pair(1)),
                ])
                == ["attribute-type"])
        #expect(
            problems("svd_projector", ["gap": .float(10), "left": .bool(true), "rank": .int(2)]) == ["attribute-type"])
    }

    @Test func optimizerAttributesAreAllRequired() {
        #expect(
            problems("adam_update", ["lr": .float(1e-3)])
                == Array(repeating: "missing-attribute", count: 6))
        #expect(
            problems(
                "sgd_update",
                [
                    "beta1": .float(0.9), "beta2": .float(0.999), "decoupled": .bool(false),
                    "eps": .float(1e-8), "lr": .int(1), "momentum": .int(0),
                    "weight_decay": .int(0), "nesterov": .bool(true),
                ])
                == ["unknown-attribute"])
    }

    @Test func integerAcceptedWhereFloatExpected() throws {
        #expect(try Op(name: "dropout", attributes: ["p": .int(0)]) == .dropout(p: 0))
    }

    @Test func problemsNameTheirKey() {
        do {
            _ = try Op(name: "conv2d", attributes: ["stride": .int(2)])
            Issue.record("expected an error")
        } catch {
            #expect(
                error.problems.map(\.id) == [
                    "attribute-type", "missing-attribute", "missing-attribute",
                    "missing-attribute",
                ])
            #expect(error.problems.map(\.key) == ["stride", "padding", "dilation", "groups"])
        }
    }
}
