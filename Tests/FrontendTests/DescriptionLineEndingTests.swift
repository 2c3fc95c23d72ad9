// `.model` files with CRLF or classic-Mac (CR-only) line endings read as their LF form: a CR-only file
// used to be one long comment line, reported "empty" (issue "Never clobber, never crash").
import Frontend
import GraphIR
import Testing

@Suite struct DescriptionLineEndingTests {
    static let lines = [
        "# a small net", "model m(input = 3x8x8, classes = 4) {", "    a = conv2d(8, 3)  # stem", "    b = relu",
        "    f = flatten", "    fc = linear(classes)", "}", "",
    ]

    @Test(arguments: ["\r\n", "\r"])
    func compilesLikeLF(_ eol: String) throws {
        let lf = try ModelDescription.compile(Self.lines.joined(separator: "\n"))
        let other = try ModelDescription.compile(Self.lines.joined(separator: eol))
        #expect(IRPrinter.print(other.graph) == IRPrinter.print(lf.graph))
    }

    @Test(arguments: ["\r\n", "\r"])
    func errorsAreLocatedOnTheirLine(_ eol: String) {
        var lines = Self.lines
        lines[4] = "    f = flatten(nowhere = 1)"
        let d = firstDiagnostic(Array(lines.joined(separator: eol).utf8))
        #expect(d?.id == "unknown-argument")
        #expect(d?.location?.line == 5)
        #expect(d?.location?.column == 21 - 4)
        #expect(d?.sourceLine == "    f = flatten(nowhere = 1)")
    }

    @Test func unterminatedStringEndsAtCR() {
        let d = firstDiagnostic(Array("model m(input = 3x8x8) {\r    let s = \"abc\r    a = relu\r}\r".utf8))
        #expect(d?.id == "syntax")
        #expect(d?.location?.line == 2)
    }

    @Test func hugeLinesAreNotEchoedWhole() {
        let source = "model m(input = 3x8x8) {\n    a = relu " + String(repeating: "x", count: 2_000_000) + "\n}\n"
        let d = firstDiagnostic(Array(source.utf8))
        #expect(d?.id == "syntax")
        #expect((d?.description.utf8.count ?? .max) < 1000, "\(d?.description.utf8.count ?? 0)")
    }
}
