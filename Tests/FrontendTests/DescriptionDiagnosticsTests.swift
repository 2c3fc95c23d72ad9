import Foundation
// Every error the description compiler promises: each malformed source is written inline and the test
// asserts the stable diagnostic id and that file:line:col (and the underline) point at the offending
// text, found by searching the source for a marker string.
import Frontend
import GraphIR
import Testing

/// Compiles `source`; returns the first diagnostic, or nil (recording an issue) if it compiled.
func firstDiagnostic(
    _ source: [UInt8], overrides: ModelOverrides = .init(),
    sourceLocation: Testing.SourceLocation = #_sourceLocation
) -> Diagnostic? {
    do {
        _ = try ModelDescription.compile(source: source, file: "test.model", overrides: overrides)
        Issue.record("expected a diagnostic, but the source compiled", sourceLocation: sourceLocation)
        return nil
    } catch {
        #expect(error.diagnostics.count >= 1, sourceLocation: sourceLocation)
        return error.diagnostics.first
    }
}

/// Expects diagnostic `id` located at the `occurrence`-th appearance of `marker` in `source`, with the
/// source line shown and `marker` underlined (unless `length` says otherwise).
@discardableResult
func expectDiagnostic(
    _ source: String, _ id: String, at marker: String, occurrence: Int = 1, length: Int? = nil,
    overrides: ModelOverrides = .init(), file: String = "test.model",
    sourceLocation: Testing.SourceLocation = #_sourceLocation
) -> Diagnostic? {
    guard let d = firstDiagnostic(Array(source.utf8), overrides: overrides, sourceLocation: sourceLocation) else {
        return nil
    }
    #expect(d.id == id, "\(d)", sourceLocation: sourceLocation)
    #expect(d.severity == .error, sourceLocation: sourceLocation)
    // Locate the marker: `«...»` inside it delimits the offending text within some context.
    var needle = marker
    var skip = 0
    var target = marker
    if let open = marker.firstIndex(of: "«"), let close = marker.firstIndex(of: "»") {
        skip = marker[..<open].count
        target = String(marker[marker.index(after: open)..<close])
        needle = marker.replacingOccurrences(of: "«", with: "").replacingOccurrences(of: "»", with: "")
    }
    var rest = Substring(source)
    var offset = source.startIndex
    for _ in 0..<(needle.isEmpty ? 0 : occurrence) {
        guard let r = rest.range(of: needle) else {
            Issue.record("marker '\(marker)' not found", sourceLocation: sourceLocation)
            return d
        }
        offset = source.index(r.lowerBound, offsetBy: skip)
        rest = source[r.upperBound...]
    }
    let before = source[..<offset]
    let line = before.filter { $0 == "\n" }.count + 1
    let lineStart = before.lastIndex(of: "\n").map { source.index(after: $0) } ?? source.startIndex
    let column = source[lineStart..<offset].count + 1
    let lineText = source[lineStart...].prefix { $0 != "\n" }
    #expect(d.location?.file == file, sourceLocation: sourceLocation)
    #expect(d.location?.line == line, "\(d)", sourceLocation: sourceLocation)
    #expect(d.location?.column == column, "\(d)", sourceLocation: sourceLocation)
    #expect(d.sourceLine == String(lineText), sourceLocation: sourceLocation)
    #expect(d.length == (length ?? max(1, target.count)), "\(d)", sourceLocation: sourceLocation)
    return d
}

@Suite struct DescriptionDiagnosticsTests {
    /// A 16-channel 8x8 input.
    static let head = "model m(input = 16x8x8, classes = 10) {\n"

    @Test func unknownOp() {
        let d = expectDiagnostic(Self.head + "    stem = conv3d(8, 3)\n}\n", "unknown-op", at: "conv3d")
        #expect(d?.node == "stem")
    }

    @Test func unknownOpThroughAVariable() {
        let src = """
            model m(input = 16x8x8) {
                layer1 = stage("basicc")
            }
            block stage(kind) {
                0 = kind
            }
            """
        let d = expectDiagnostic(src, "unknown-op", at: "0 = «kind»")
        #expect(d?.node == "layer1.0")
        #expect(d?.message.contains("basicc") == true)
    }

    @Test func addWithOneInput() {
        expectDiagnostic(Self.head + "    a = relu\n    s = add\n}\n", "arity", at: "add")
        expectDiagnostic(Self.head + "    a = relu\n    s = add <- a\n}\n", "arity", at: "<- a")
        expectDiagnostic(Self.head + "    a = relu <- input, input\n}\n", "arity", at: "<- input, input")
    }

    @Test func convInputChannelMismatch() {
        let d = expectDiagnostic(Self.head + "    c = conv2d(64, 3, in = 32)\n}\n", "channel-mismatch", at: "in = 32")
        #expect(d?.node == "c")
    }

    @Test func linearInputMismatch() {
        expectDiagnostic(
            Self.head + "    p = adaptive_avg_pool2d\n    f = flatten\n    fc = linear(10, in = 32)\n}\n",
            "channel-mismatch", at: "in = 32")
    }

    @Test func addOfDifferentChannels() {
        let src = Self.head + "    a = conv2d(32, 1)\n    s = add <- input, a\n}\n"
        expectDiagnostic(src, "channel-mismatch", at: "<- input, a")
    }

    @Test func addOfDifferentSpatialSizes() {
        let src = Self.head + "    a = max_pool2d(2)\n    s = mul <- input, a\n}\n"
        expectDiagnostic(src, "shape-mismatch", at: "<- input, a")
    }

    @Test func zeroAndNegativeSizes() {
        expectDiagnostic(Self.head + "    c = conv2d(0, 3)\n}\n", "bad-size", at: "conv2d(«0»")
        expectDiagnostic(Self.head + "    f = flatten\n    fc = linear(-1)\n}\n", "bad-size", at: "-1")
        expectDiagnostic(Self.head + "    c = conv2d(8, [3, 0])\n}\n", "bad-size", at: "[3, 0]")
        expectDiagnostic(Self.head + "    c = conv2d(8, 3, padding = -1)\n}\n", "bad-size", at: "padding = -1")
    }

    @Test func kernelLargerThanPaddedInput() {
        let d = expectDiagnostic(
            Self.head + "    c = conv2d(8, 11, padding = 1)\n}\n", "bad-size",
            at: "conv2d(8, 11, padding = 1)")
        #expect(d?.node == "c")
    }

    @Test func undefinedName() {
        expectDiagnostic(Self.head + "    a = relu <- nothere\n}\n", "undefined-name", at: "nothere")
        expectDiagnostic(Self.head + "    a = conv2d(missing, 3)\n}\n", "undefined-name", at: "missing")
    }

    @Test func duplicateName() {
        let d = expectDiagnostic(
            Self.head + "    a = relu\n    a = relu\n}\n", "duplicate-name", at: "a = relu", occurrence: 2, length: 1)
        #expect(d?.node == "a")
    }

    @Test func duplicateNameThroughABlockLoop() {
        let src = """
            model m(input = 16x8x8) {
                s = twice
            }
            block twice() {
                for i in 0..<2 {
                    x = relu
                }
            }
            """
        let d = expectDiagnostic(src, "duplicate-name", at: "«x» = relu")
        #expect(d?.node == "s.x")
    }

    @Test func referenceToALaterLayerIsACycle() {
        expectDiagnostic(Self.head + "    a = add <- input, b\n    b = relu\n}\n", "cycle", at: "input, «b»")
    }

    @Test func referenceToItselfIsACycle() {
        expectDiagnostic(Self.head + "    a = relu <- a\n}\n", "cycle", at: "<- «a»")
    }

    @Test func emptyFile() {
        expectDiagnostic("", "empty-file", at: "", length: 1)
        expectDiagnostic("# nothing but a comment\n\n   # another\n", "empty-file", at: "", length: 1)
    }

    @Test func truncatedFile() {
        let src = Self.head + "    a = conv2d(8,"
        // The error sits just after the last token.
        let d2 = firstDiagnostic(Array(src.utf8))
        #expect(d2?.id == "syntax")
        #expect(d2?.message.contains("unexpected end of file") == true)
        #expect(d2?.location?.line == 2)
        #expect(d2?.location?.column == 18)
        let d3 = firstDiagnostic(Array((Self.head + "    a = relu\n").utf8))
        #expect(d3?.message.contains("unexpected end of file") == true)
        #expect(d3?.location?.line == 2)
    }

    @Test func invalidUTF8() {
        var bytes = Array((Self.head + "    # caf").utf8)
        bytes += [0xC3, 0x28]  // a lead byte without its continuation
        bytes += Array(" \n    a = relu\n}\n".utf8)
        let d = firstDiagnostic(bytes)
        #expect(d?.id == "invalid-utf8")
        #expect(d?.location?.line == 2)
        #expect(d?.location?.column == 10)
        let overlong = firstDiagnostic(Array("model m(input = 1x8x8) {\n".utf8) + [0xC0, 0xAF])
        #expect(overlong?.id == "invalid-utf8")
        #expect(overlong?.location?.line == 2 && overlong?.location?.column == 1)
    }

    @Test func unknownKeywordArgument() {
        expectDiagnostic(Self.head + "    c = conv2d(8, 3, strid = 2)\n}\n", "unknown-argument", at: "strid")
        expectDiagnostic(
            Self.head + "    c = conv2d(8, 3, 1, 1, 1, 1, false, 16, 9)\n}\n", "unknown-argument", at: "16, «9»")
    }

    @Test func missingArgument() {
        expectDiagnostic(Self.head + "    c = conv2d(8)\n}\n", "missing-argument", at: "conv2d(8)")
        let src = """
            model m(input = 16x8x8) {
                b = block1
            }
            block block1(planes) {
                c = conv2d(planes, 1)
            }
            """
        expectDiagnostic(src, "missing-argument", at: "b = «block1»")
    }

    @Test func recursionOfBlocks() {
        let src = """
            model m(input = 16x8x8) {
                x = a
            }
            block a() {
                y = b
            }
            block b() {
                z = a
            }
            """
        let d = expectDiagnostic(src, "recursion", at: "z = «a»")
        #expect(d?.node == "x.y.z")
        expectDiagnostic(
            "model m(input = 16x8x8) {\n    x = s\n}\nblock s() {\n    y = s\n}\n", "recursion", at: "y = «s»")
    }

    @Test func setOfAnUnknownParameter() {
        let d = expectDiagnostic(
            Self.head + "    a = relu\n}\n", "unknown-argument", at: "model «m»",
            overrides: ModelOverrides(set: ["widht": "2"]))
        #expect(d?.message.contains("widht") == true)
    }

    @Test func classesOverrideWithoutAClassesParameter() {
        expectDiagnostic(
            "model m(input = 16x8x8) {\n    a = relu\n}\n", "unknown-argument", at: "model «m»",
            overrides: ModelOverrides(classes: 10))
    }

    @Test func overridesThatDoNotFit() {
        // A --set value is located in its own pseudo-file.
        let d = firstDiagnostic(
            Array((Self.head + "    a = relu\n}\n").utf8), overrides: ModelOverrides(set: ["input": "3"]))
        #expect(d?.id == "type")
        #expect(d?.location == GraphIR.SourceLocation(file: "--set input", line: 1, column: 1))
        let bad = firstDiagnostic(
            Array((Self.head + "    a = relu\n}\n").utf8),
            overrides: ModelOverrides(set: ["classes": "1 +"]))
        #expect(bad?.id == "syntax")
        #expect(bad?.location?.file == "--set classes")
        #expect(bad?.location?.column == 4)
        // --input is checked against the `input` parameter.
        expectDiagnostic(
            Self.head + "    a = relu\n}\n", "bad-size", at: "«input» =", overrides: ModelOverrides(input: [3, 0, 4]))
        expectDiagnostic(
            Self.head + "    a = relu\n}\n", "bad-size", at: "model «m»", overrides: ModelOverrides(batch: 0))
        expectDiagnostic(
            Self.head + "    a = relu\n}\n", "bad-rank", at: "«input» =",
            overrides: ModelOverrides(input: [1, 1, 1, 1, 1, 1, 1, 4]))
        expectDiagnostic(
            Self.head + "    a = relu\n}\n", "bad-size", at: "«classes» =", overrides: ModelOverrides(classes: -3))
    }

    @Test func missingModelParameterValue() {
        expectDiagnostic("model m(input = 16x8x8, width) {\n    a = relu\n}\n", "missing-argument", at: "«width»)")
    }

    @Test func divisionByZeroAndOverflow() {
        expectDiagnostic(Self.head + "    let x = 7 / (3 - 3)\n    a = relu\n}\n", "arithmetic", at: "7 / (3 - 3)")
        expectDiagnostic(
            Self.head + "    let x = 9223372036854775807 + 1\n    a = relu\n}\n", "arithmetic",
            at: "9223372036854775807 + 1")
        expectDiagnostic(Self.head + "    let x = 5 % 0\n    a = relu\n}\n", "arithmetic", at: "5 % 0")
        expectDiagnostic(Self.head + "    a = conv2d(int(1e300), 1)\n}\n", "arithmetic", at: "int(1e300)")
        expectDiagnostic(Self.head + "    let x = 99999999999999999999\n}\n", "syntax", at: "99999999999999999999")
    }

    @Test func absurdSizes() {
        expectDiagnostic("model m(input = 3x1000000x1000000) {\n    a = relu\n}\n", "bad-size", at: "3x1000000x1000000")
        expectDiagnostic(
            "model m(input = 1x4096x4096) {\n    c = conv2d(1000000, 1)\n}\n", "bad-size",
            at: "conv2d(1000000, 1)")
        expectDiagnostic(Self.head + "    c = conv2d(100000000, 1)\n}\n", "bad-size", at: "100000000")
    }

    @Test func hugeLoopCount() {
        expectDiagnostic(
            Self.head + "    for i in 0..<1000000000 {\n        {i} = relu\n    }\n}\n", "limit",
            at: "0..<1000000000")
    }

    @Test func tooManyLayers() {
        let src =
            "model m(input = 1x1x1) {\n    for i in 0..<400 {\n        for j in 0..<400 {\n"
            + "            {i}.{j} = relu\n        }\n    }\n}\n"
        expectDiagnostic(src, "limit", at: "= «relu»")
    }

    @Test func deepNesting() {
        let deep = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
        let d = firstDiagnostic(Array((Self.head + "    let x = \(deep)\n}\n").utf8))
        #expect(d?.id == "limit")
        #expect(d?.location?.line == 2)
        let chain = (0..<2000).map { _ in "1" }.joined(separator: " + ")
        #expect(firstDiagnostic(Array((Self.head + "    let x = \(chain)\n}\n").utf8))?.id == "limit")
        let ifs = String(repeating: "if true {\n", count: 500) + String(repeating: "}\n", count: 500)
        #expect(firstDiagnostic(Array((Self.head + ifs + "}\n").utf8))?.id == "limit")
    }

    @Test func typeErrors() {
        expectDiagnostic(Self.head + "    if 3 {\n        a = relu\n    }\n}\n", "type", at: "if «3»")
        expectDiagnostic(Self.head + "    c = conv2d(8, 3, bias = 1)\n}\n", "type", at: "bias = 1")
        expectDiagnostic(Self.head + "    c = conv2d(8.5, 3)\n}\n", "type", at: "8.5")
    }

    @Test func rankErrors() {
        expectDiagnostic(Self.head + "    f = flatten\n    p = max_pool2d(2)\n}\n", "rank", at: "max_pool2d(2)")
        expectDiagnostic(Self.head + "    let c = size(input, 7)\n}\n", "rank", at: "7")
    }

    @Test func declarationErrors() {
        expectDiagnostic("block b() {\n    a = relu\n}\n", "no-model", at: "block «b»")
        expectDiagnostic(
            Self.head + "    a = relu\n}\nblock relu() {\n    x = relu\n}\n", "duplicate-name", at: "block «relu»")
        expectDiagnostic(
            Self.head + "    a = relu\n}\nmodel n(input = 1x1x1) {\n    a = relu\n}\n", "duplicate-name",
            at: "model «n»")
        expectDiagnostic(Self.head + "    a = relu\n}\nblock b(x = 1, y) {\n    a = relu\n}\n", "syntax", at: "«y») {")
        expectDiagnostic(Self.head + "}\n", "no-model", at: "model «m»")
    }

    @Test func lexicalErrors() {
        expectDiagnostic(Self.head + "    a = relu @\n}\n", "syntax", at: "@")
        expectDiagnostic(Self.head + "    b = stage(\"basic\n}\n", "syntax", at: "\"basic", length: 6)
        expectDiagnostic(Self.head + "    a = relu relu\n}\n", "syntax", at: "relu", occurrence: 2)
    }

    @Test func diagnosticsPrintWithLocationAndCaret() throws {
        let d = try #require(firstDiagnostic(Array((Self.head + "    stem = conv3d(8, 3)\n}\n").utf8)))
        #expect(
            d.description == """
                test.model:2:12: error[unknown-op]: unknown op or block 'conv3d' (in 'stem')
                2 |     stem = conv3d(8, 3)
                               ^~~~~~
                """)
    }
}

@Suite struct DescriptionLimitsTests {
    /// Blocks chained `depth` deep, each wrapping its call in `ifs` nested `if`s and a deep expression.
    static func chain(depth: Int, ifs: Int) -> String {
        var src = "model m(input = 1x1x1) {\n    x = b0\n}\n"
        let expr = String(repeating: "(", count: 18) + "1" + String(repeating: ")", count: 18)
        for i in 0..<depth {
            let call = i + 1 < depth ? "y = b\(i + 1)" : "y = relu"
            src +=
                "block b\(i)() {\n" + String(repeating: "if true {\n", count: ifs) + "let v = \(expr)\n\(call)\n"
                + String(repeating: "}\n", count: ifs) + "}\n"
        }
        return src
    }

    /// The deepest description the limits allow runs without exhausting a test thread's stack.
    @Test func deepestAllowedNestingRuns() throws {
        let m = try ModelDescription.compile(Self.chain(depth: 64, ifs: 2))
        #expect(m.graph.nodes.map(\.name) == ["x" + String(repeating: ".y", count: 64)])
    }

    /// Deeper is a `limit` diagnostic, not a stack overflow (this shape crashed before the run-depth cap).
    @Test func deeperNestingIsALimitError() {
        #expect(firstDiagnostic(Array(Self.chain(depth: 64, ifs: 20).utf8))?.id == "limit")
        #expect(firstDiagnostic(Array(Self.chain(depth: 65, ifs: 0).utf8))?.id == "limit")
    }
}
