// Line tables and diagnostics: LF, CRLF and lone-CR line endings are all line breaks; long source
// lines are shown cut around the caret (issue "Never clobber, never crash").
import GraphIR
import Testing

@Suite struct SourceTextTests {
    @Test(arguments: ["\n", "\r\n", "\r"])
    func lineEndings(_ eol: String) {
        let text = SourceText(file: "f", bytes: Array(["one", "two", "three"].joined(separator: eol).utf8))
        #expect(text.lineStarts.count == 3)
        let offset = Array(text.bytes).count - 5  // "three"
        let d = text.diagnostic("x", "m", start: offset, end: offset + 5)
        #expect(d.location?.line == 3)
        #expect(d.location?.column == 1)
        #expect(d.sourceLine == "three")
        let two = text.diagnostic("x", "m", start: text.lineStarts[1], end: text.lineStarts[1] + 3)
        #expect(two.sourceLine == "two")
    }

    @Test func longLinesAreCutAroundTheCaret() {
        let line = String(repeating: "a", count: 5_000_000) + "BAD" + String(repeating: "b", count: 5_000_000)
        let text = SourceText(file: "f", bytes: Array(("x\n" + line + "\n").utf8))
        let offset = 2 + 5_000_000
        let d = text.diagnostic("syntax", "bad", start: offset, end: offset + 3)
        #expect(d.location?.line == 2)
        #expect(d.location?.column == 5_000_001)
        #expect((d.sourceLine?.utf8.count ?? 0) <= 2 * SourceText.excerptRadius + 8)
        let lines = d.description.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == 3)
        #expect(lines[1].count <= Diagnostic.displayWidth + 10, "\(lines[1].count)")
        #expect(lines[1].contains("…aaa"))
        #expect(lines[1].hasSuffix("bbb…"))
        // The caret sits under BAD.
        let caret = lines[2].firstIndex(of: "^")!
        let column = lines[2].distance(from: lines[2].startIndex, to: caret)
        let bad = lines[1].range(of: "BAD")!.lowerBound
        #expect(lines[1].distance(from: lines[1].startIndex, to: bad) == column)
        #expect(lines[2].hasSuffix("^~~"))
    }

    @Test func shortLinesAreShownWhole() {
        let text = SourceText(file: "f", bytes: Array("let x = oops\n".utf8))
        let d = text.diagnostic("syntax", "bad", start: 8, end: 12)
        #expect(d.description == "f:1:9: error[syntax]: bad\n1 | let x = oops\n            ^~~~")
    }

    @Test func caretNearTheStartOfALongLine() {
        let line = "BAD" + String(repeating: "c", count: 1000)
        let d = SourceText(file: "f", bytes: Array(line.utf8)).diagnostic("x", "m", start: 0, end: 3)
        let lines = d.description.split(separator: "\n").map(String.init)
        #expect(lines[1].hasPrefix("1 | BADccc"))
        #expect(lines[1].hasSuffix("…"))
        #expect(lines[1].count <= Diagnostic.displayWidth + 4)
        #expect(lines[2] == "    ^~~")
    }

    @Test(arguments: ["\r\n", "\r"])
    func irFilesWithOtherLineEndings(_ eol: String) throws {
        let text = [
            "# comment", "graph \"g\" {", "  input %0 \"x\" : f32[1, 4]", "  %1 = relu(%0) : f32[1, 4] \"r\"",
            "  output %1", "}", "",
        ].joined(separator: eol)
        let g = try IRParser.parse(Array(text.utf8), file: "t.gir")
        #expect(g.nodes.count == 1)
        // An error is located on its own line.
        let bad = text.replacingOccurrences(of: "relu(%0)", with: "relu(%9)")
        let e = try #require(throws: DiagnosticError.self) { try IRParser.parse(Array(bad.utf8), file: "t.gir") }
        #expect(e.diagnostics.first?.location?.line == 4, "\(e)")
    }
}
