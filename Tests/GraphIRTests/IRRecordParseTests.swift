// Training records in the .gir text: they round-trip, and malformed records are reported on their line
// (file:line:col) with a stable id.
import GraphIR
import GraphTestSupport
import Testing

/// A tiny graph with one backward node; record lines are appended before the outputs.
private func text(_ records: [String]) -> String {
    ([
        #"graph "g" {"#,
        #"  input %0 "x" : f32[1, 4]"#,
        #"  param %1 "w" : f32[2, 4] weight"#,
        #"  %2 = linear(%0, %1) : f32[1, 2] "fc""#,
        #"  %3 = linear_grad_weight(%2, %0) : f32[2, 4] "fc.grad_weight" backward"#,
    ]
        + records.map { "  " + $0 } + ["  output %2", "  output %3", "}"]).joined(separator: "\n") + "\n"
}

@Suite struct IRRecordParseTests {
    @Test func recordsParseAndRoundTrip() throws {
        let source = text(["backward %3 of %2", "grad %1 = %3"])
        let graph = try IRParser.parse(source, file: "r.gir")
        #expect(graph.records.gradient(of: ValueID(1)) == ValueID(3))
        #expect(graph.records.origin(ofNode: 1) == .node(0))
        #expect(IRPrinter.print(graph) == source)
    }

    @Test func trainingFixtureRoundTrips() throws {
        let graph = try Builders.trainingConvnet()
        let parsed = try IRParser.parse(IRPrinter.print(graph), file: "t.gir")
        #expect(parsed == graph.renumbered())
        #expect(!parsed.records.isEmpty)
        #expect(IRPrinter.print(parsed) == IRPrinter.print(graph))
    }

    /// (record line, diagnostic id, the text the column points at)
    static let cases: [(String, String, String)] = [
        ("grad %1 = %9", "undefined-value", "%9"),
        ("backward %3 of %7", "undefined-value", "%7"),
        ("grad %1 = %2", "bad-record", "grad"),  // wrong type: f32[1, 2] for f32[2, 4]
        ("grad %0 = %3", "bad-record", "grad"),  // an input is not a parameter
        ("grad %2 = %3", "bad-record", "grad"),  // nor is a node result
        ("grad %1 = %1", "bad-record", "grad"),  // a gradient is a node result
        ("backward %2 of %2", "bad-record", "backward"),  // fc is not a backward node
        ("backward %3 of %3", "bad-record", "backward"),  // nor does it differentiate one
        ("backward %3 of %0", "bad-record", "%0"),  // an input is not a node result
        ("step %1 update %3", "bad-record", "step"),  // not an optimizer node
        ("adapter %1 of %2 weight %1", "bad-record", "adapter"),  // w is not an adapter parameter
        ("grad %1 %3", "syntax", "%3"),
        ("backward %3 by %2", "syntax", "by"),
        ("step %1 state %3", "syntax", "state"),
    ]

    @Test(arguments: 0..<cases.count) func malformedRecordsAreLocated(_ k: Int) throws {
        let (line, id, marker) = Self.cases[k]
        let diagnostics = parseErrors(text([line]))
        let d = try #require(diagnostics.first, "\(line)")
        #expect(d.id == id, "\(line): \(d)")
        let location = try #require(d.location)
        #expect(location.file == "bad.gir")
        #expect(location.line == 6, "\(line): \(d)")
        let full = "  " + line
        let column = full.range(of: marker).map { full.distance(from: full.startIndex, to: $0.lowerBound) + 1 }
        #expect(location.column == column, "\(line): \(d)")
    }

    @Test func duplicateRecordIsAnError() {
        let diagnostics = parseErrors(text(["grad %1 = %3", "grad %1 = %3"]))
        #expect(diagnostics.map(\.id) == ["bad-record"])
        #expect(diagnostics.first?.location?.line == 7)
    }

    @Test func verifierChecksRecords() throws {
        var graph = try IRParser.parse(text(["grad %1 = %3"]), file: "r.gir")
        graph.records.setGradient(ValueID(2), of: ValueID(1))
        #expect(Verifier.verify(graph).map(\.id) == ["bad-record"])
        graph.records.setGradient(nil, of: ValueID(1))
        graph.records.setOrigin(.node(5), ofNode: 1)
        #expect(Verifier.verify(graph).map(\.id) == ["bad-record"])
    }
}
