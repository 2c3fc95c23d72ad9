// The attribute table: every op's attributes survive `attributes` → `Op(name:attributes:)`, and each
// kind of bad input is reported with its id.
import GraphIR
import Testing

/// One instance of every op, with non-default attributes where it has any.
let sampleOps: [Op] = [
    .conv2d(Conv2dAttrs(stride: Pair(2, 1), padding: Pair(1, 0), dilation: Pair(1, 2), groups: 4)),
    .batchNorm(BatchNormAttrs(eps: 1e-3, momentum: 0.01, training: true)),
    .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul,
    .maxPool2d(Pool2dAttrs(kernel: Pair(3), stride: Pair(2), padding: Pair(1), ceilMode: true)),
    .avgPool2d(Pool2dAttrs(kernel: Pair(2, 3), stride: Pair(1), ceilMode: false, countIncludePad: false)),
    .adaptiveAvgPool2d(output: Pair(7, 1)), .flatten(startDim: 1), .linear, .dropout(p: 0.25),
    .softmaxCrossEntropy,
]

@Suite struct IRAttributeTests {
    @Test func sampleOpsCoverEveryOpName() {
        #expect(Set(sampleOps.map(\.name)) == Set(Op.allNames))
        #expect(sampleOps.count == Op.allNames.count)
    }

    @Test(arguments: sampleOps) func attributesRoundTrip(_ op: Op) throws {
        let attributes = op.attributes
        #expect(attributes.map(\.key) == attributes.map(\.key).sorted())
        let rebuilt = try Op(name: op.name, attributes: Dictionary(uniqueKeysWithValues: attributes.map { ($0.key, $0.value) }))
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
        let attrs: [String: AttributeValue] = ["ceil_mode": .bool(false), "kernel": .pair(Pair(2)),
                                               "padding": .pair(Pair(0)), "stride": .pair(Pair(2))]
        #expect(problems("max_pool2d", attrs) == [])
        #expect(problems("max_pool2d", attrs.merging(["count_include_pad": .bool(true)]) { a, _ in a })
            == ["unknown-attribute"])
        #expect(problems("avg_pool2d", attrs) == ["missing-attribute"])
    }

    @Test func wrongTypes() {
        #expect(problems("flatten", ["start_dim": .float(1)]) == ["attribute-type"])
        #expect(problems("dropout", ["p": .bool(true)]) == ["attribute-type"])
        #expect(problems("adaptive_avg_pool2d", ["output": .int(1)]) == ["attribute-type"])
        #expect(problems("batch_norm", ["eps": .float(1e-5), "momentum": .float(0.1), "training": .int(0)])
            == ["attribute-type"])
    }

    @Test func integerAcceptedWhereFloatExpected() throws {
        #expect(try Op(name: "dropout", attributes: ["p": .int(0)]) == .dropout(p: 0))
    }

    @Test func problemsNameTheirKey() {
        do {
            _ = try Op(name: "conv2d", attributes: ["stride": .int(2)])
            Issue.record("expected an error")
        } catch {
            #expect(error.problems.map(\.id) == ["attribute-type", "missing-attribute", "missing-attribute",
                                                 "missing-attribute"])
            #expect(error.problems.map(\.key) == ["stride", "padding", "dilation", "groups"])
        }
    }
}
