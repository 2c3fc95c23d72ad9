// Parser diagnostics: for each error kind, the stable id and the line and column it points at, found
// from a marker substring of the offending line so the expectations read like the source.
import GraphIR
import Testing

/// All diagnostics of a text that must fail to parse (none, recorded as an issue, if it parses).
func parseErrors(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> [Diagnostic] {
    parseErrors(Array(text.utf8), sourceLocation: sourceLocation)
}

func parseErrors(_ bytes: [UInt8], sourceLocation: Testing.SourceLocation = #_sourceLocation) -> [Diagnostic] {
    do {
        _ = try IRParser.parse(bytes, file: "bad.gir")
        Issue.record("expected a parse error", sourceLocation: sourceLocation)
        return []
    } catch {
        return error.diagnostics.filter { $0.severity == .error }
    }
}

/// A valid graph; cases replace one of its lines.
private let valid = [
    #"graph "g" {"#,
    #"  input %0 "x" : f32[1, 4]"#,
    #"  param %1 "w" : f32[2, 4] weight"#,
    #"  %2 = linear(%0, %1) : f32[1, 2] "fc""#,
    #"  output %2"#,
    #"}"#,
]

struct ErrorCase: Sendable, CustomTestStringConvertible {
    var id: String
    /// Lines of the source; `valid` with edits.
    var lines: [String]
    var line: Int
    /// The diagnostic's column is where this text starts on `line`.
    var marker: String
    var testDescription: String { "\(id) at \(line):'\(marker)'" }

    init(_ id: String, _ edits: [Int: String], line: Int, at marker: String) {
        self.id = id
        var lines = valid
        for (i, text) in edits.sorted(by: { $0.key > $1.key }) {
            if i < lines.count { lines[i] = text } else { lines.append(text) }
        }
        self.lines = lines
        self.line = line
        self.marker = marker
    }

    var column: Int {
        let text = lines[line - 1]
        guard !marker.isEmpty else { return 1 }
        guard let r = text.firstRange(of: marker) else { return -1 }
        return text.unicodeScalars[..<r.lowerBound].count + 1
    }
}

let errorCases: [ErrorCase] = [
    ErrorCase("syntax", [3: #"  %2 = linear(%0 %1) : f32[1, 2] "fc""#], line: 4, at: "%1"),
    ErrorCase("syntax", [0: #"graph g {"#], line: 1, at: "g {"),
    ErrorCase("syntax", [3: #"  %2 = linear(%0, %1) : f32[1, 2] "fc"#], line: 4, at: #""fc"#),
    ErrorCase("syntax", [3: #"  %2 = linear(%0, %1) : f32[1, 2] "f\qc""#], line: 4, at: #"\q"#),
    ErrorCase("syntax", [3: #"  %2 = linear(%0, %1) : f32[1, 2] "fc" @"#], line: 4, at: "@"),
    ErrorCase("syntax", [3: #"  %2 = linear(%0, %1) : f32[1, 2] "fc" extra"#], line: 4, at: "extra"),
    ErrorCase("syntax", [3: #"  %2 = linear(%0, %1) : f32[1, 2], f32[1] "fc""#], line: 4, at: "f32[1, 2]"),
    ErrorCase("syntax", [1: #"  input % "x" : f32[1, 4]"#], line: 2, at: "%"),
    ErrorCase("syntax", [1: #"  inptu %0 "x" : f32[1, 4]"#], line: 2, at: "inptu"),
    ErrorCase("syntax", [6: "stray"], line: 7, at: "stray"),
    ErrorCase("syntax", [1: #"  input %0 "x" : f32[1.5, 4]"#], line: 2, at: "1.5"),
    ErrorCase("unknown-dtype", [1: #"  input %0 "ü" : f64[1, 4]"#], line: 2, at: "f64"),
    ErrorCase("unknown-role", [2: #"  param %1 "w" : f32[2, 4] kernel"#], line: 3, at: "kernel"),
    ErrorCase("bad-parameter", [2: #"  param %1 "w" : f32[2, 4] running_mean frozen"#], line: 3, at: "frozen"),
    ErrorCase("bad-size", [1: #"  input %0 "x" : f32[1099511627776, 4]"#], line: 2, at: "f32"),
    ErrorCase("bad-size", [1: #"  input %0 "x" : f32[1, 99999999999999999999]"#], line: 2, at: "9999"),
    ErrorCase("bad-size", [1: #"  input %0 "x" : f32[-1, 4]"#], line: 2, at: "-1"),
    ErrorCase(
        "bad-size", [3: #"  %2 = flatten(%0) {start_dim = 2147483648} : f32[1, 4] "f""#], line: 4, at: "2147483648"),
    ErrorCase(
        "duplicate-attribute", [3: #"  %2 = flatten(%0) {start_dim = 1, start_dim = 1} : f32[1, 4] "f""#],
        line: 4, at: "start_dim = 1}"),
    ErrorCase("unknown-op", [3: #"  %2 = linaer(%0, %1) : f32[1, 2] "fc""#], line: 4, at: "linaer"),
    ErrorCase("unknown-attribute", [3: #"  %2 = linear(%0, %1) {bias = true} : f32[1, 2] "fc""#], line: 4, at: "bias"),
    ErrorCase("missing-attribute", [3: #"  %2 = flatten(%0) : f32[1, 4] "f""#], line: 4, at: "flatten"),
    ErrorCase("attribute-type", [3: #"  %2 = flatten(%0) {start_dim = true} : f32[1, 4] "f""#], line: 4, at: "true"),
    ErrorCase("attribute-type", [3: #"  %2 = dropout(%0) {p = [1, 2]} : f32[1, 4] "f""#], line: 4, at: "[1, 2]"),
    ErrorCase("undefined-value", [3: #"  %2 = linear(%0, %9) : f32[1, 2] "fc""#], line: 4, at: "%9"),
    ErrorCase("undefined-value", [4: #"  output %5"#], line: 5, at: "%5"),
    ErrorCase(
        "duplicate-definition", [3: #"  %1 = linear(%0, %1) : f32[1, 2] "fc""#, 4: "  output %1"],
        line: 4, at: "%1 ="),
    ErrorCase("cycle", [3: #"  %2 = linear(%2, %1) : f32[1, 2] "fc""#], line: 4, at: "%2, %1"),
    ErrorCase("type-mismatch", [3: #"  %2 = linear(%0, %1) : f32[1, 3] "fc""#], line: 4, at: "f32[1, 3]"),
    ErrorCase("type-mismatch", [3: #"  %2 = linear(%0, %1) : i64[1, 2] "fc""#], line: 4, at: "i64"),
    ErrorCase("channel-mismatch", [2: #"  param %1 "w" : f32[2, 5] weight"#], line: 4, at: "linear"),
    ErrorCase("arity", [3: #"  %2 = linear(%0) : f32[1, 2] "fc""#], line: 4, at: "linear"),
    // More operands than any op takes (and than a node can hold).
    ErrorCase(
        "arity", [3: #"  %2 = linear(%0, %1, %1, %1, %1, %1, %1, %1, %1) : f32[1, 2] "fc""#], line: 4, at: "linear"),
    ErrorCase("dtype", [1: #"  input %0 "x" : i64[1, 4]"#], line: 4, at: "linear"),
    ErrorCase("dtype", [1: #"  input %0 "x" : bool[1, 4]"#], line: 4, at: "linear"),
    ErrorCase("type-mismatch", [3: #"  %2 = linear(%0, %1) : bool[1, 2] "fc""#], line: 4, at: "bool"),
    ErrorCase("unknown-role", [2: #"  param %1 "w" : f32[2, 4] exp_avgs"#], line: 3, at: "exp_avgs"),
    ErrorCase("bad-parameter", [2: #"  param %1 "w" : f32[2, 4] exp_avg frozen"#], line: 3, at: "frozen"),
    ErrorCase("syntax", [3: #"  %2 = linear(%0, %1) : f32[1, 2] "fc" backwards"#], line: 4, at: "backwards"),
    ErrorCase(
        "bad-size", [3: #"  %2 = reshape(%0) {shape = [2, 4294967296]} : f32[1, 4] "r""#], line: 4, at: "4294967296"),
    ErrorCase("attribute-type", [3: #"  %2 = reshape(%0) {shape = 4} : f32[4] "r""#], line: 4, at: "4}"),
    ErrorCase("bad-rank", [1: #"  input %0 "x" : f32[1, 1, 1, 1, 1, 1, 1, 1, 4]"#], line: 2, at: "f32"),
    ErrorCase(
        "bad-attribute", [3: #"  %2 = reshape(%0) {shape = [1, 1, 1, 1, 1, 1, 1, 1, 4]} : f32[4] "r""#], line: 4,
        at: "shape = [1, 1"),
    ErrorCase("shape-mismatch", [3: #"  %2 = reshape(%0) {shape = [3]} : f32[3] "r""#], line: 4, at: "reshape"),
    ErrorCase("arity", [3: #"  %2, %3 = linear(%0, %1) : f32[1, 2], f32[1, 2] "fc""#], line: 4, at: "%2, %3"),
    ErrorCase(
        "rank",
        [
            3:
                #"  %2 = max_pool2d(%0) {ceil_mode = false, kernel = [1, 1], padding = [0, 0], stride = [1, 1]} : f32[1, 4] "p""#
        ],
        line: 4, at: "max_pool2d"),
    ErrorCase("bad-attribute", [3: #"  %2 = dropout(%0) {p = 1.0} : f32[1, 4] "d""#], line: 4, at: "dropout"),
    ErrorCase(
        "duplicate-name",
        [
            3: #"  %2 = linear(%0, %1) : f32[1, 2] "r""#, 4: #"  %3 = relu(%2) : f32[1, 2] "r""#,
            5: "  output %3", 6: "}",
        ], line: 5, at: #""r""#),
    ErrorCase("duplicate-name", [2: #"  param %1 "x" : f32[2, 4] weight"#], line: 3, at: #""x""#),
    ErrorCase("no-output", [4: ""], line: 6, at: "}"),
    ErrorCase("syntax", [5: ""], line: 6, at: ""),
]

@Suite struct IRParserErrorTests {
    @Test func validBaseParses() {
        #expect(parseOK(valid.joined(separator: "\n")) != nil)
    }

    @Test(arguments: errorCases) func reportsIdAndLocation(_ c: ErrorCase) throws {
        let diagnostics = parseErrors(c.lines.joined(separator: "\n"))
        let first = try #require(diagnostics.first, "no diagnostics")
        #expect(diagnostics.map(\.id) == [c.id], "\(diagnostics)")
        #expect(first.location?.file == "bad.gir")
        #expect(first.location?.line == c.line, "\(first)")
        #expect(first.location?.column == c.column, "\(first)")
        #expect(first.sourceLine == c.lines[c.line - 1])
        #expect(first.length >= 1)
    }

    @Test func emptyFile() {
        #expect(parseErrors("").map(\.id) == ["empty-file"])
        let comments = parseErrors("# nothing here\n\n   \n")
        #expect(comments.map(\.id) == ["empty-file"])
        #expect(comments.first?.location?.line == 1)
    }

    @Test func invalidUTF8() {
        var bytes = Array(valid.joined(separator: "\n").utf8)
        let at = bytes.firstIndex(of: UInt8(ascii: "x"))!
        bytes[at] = 0xFF
        let d = parseErrors(bytes)
        #expect(d.map(\.id) == ["invalid-utf8"])
        #expect(d.first?.location?.line == 2)
        #expect(d.first?.location?.column == 13)
        // Truncated sequence, overlong encoding, surrogate.
        for bad: [UInt8] in [[0xC3], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF5, 0x80, 0x80, 0x80]] {
            #expect(parseErrors(Array("graph \"".utf8) + bad).map(\.id) == ["invalid-utf8"])
        }
    }

    @Test func columnsCountCharactersNotBytes() {
        let d = parseErrors(#"graph "ünïcödé" { @"#)
        #expect(d.first?.location?.column == 19)
        #expect(d.first?.description.contains("1 | graph \"ünïcödé\" { @\n") == true)
    }

    @Test func everySyntaxErrorIsReported() {
        var lines = valid
        lines[1] = #"  input %0 "x" : f32[1, 4] junk"#
        lines[2] = #"  param %1 "w" : f32[2, 4]"#
        let d = parseErrors(lines.joined(separator: "\n"))
        #expect(d.map(\.id) == ["syntax", "syntax"])
        #expect(d.map { $0.location?.line } == [2, 3])
    }

    @Test func independentSemanticErrorsAreAllReported() {
        let text = """
            graph "g" {
              input %0 "x" : f32[1, 4]
              %1 = relu(%0) : f32[1, 5] "r"
              %2 = sigmiod(%1) : f32[1, 4] "s"
              %3 = relu(%9) : f32[1, 4] "r"
              output %1
            }
            """
        let d = parseErrors(text)
        #expect(d.map(\.id) == ["type-mismatch", "unknown-op", "undefined-value"])
        #expect(d.map { $0.location?.line } == [3, 4, 5])
        #expect(d.map(\.node) == ["r", "s", "r"])
    }

    @Test func verifierChecksRunBesideTypeErrors() {
        // A type error and a duplicate node name: both reported.
        let text = """
            graph "g" {
              input %0 "x" : f32[1, 4]
              %1 = relu(%0) : f32[1, 5] "r"
              %2 = relu(%0) : f32[1, 4] "r"
              output %2
            }
            """
        #expect(parseErrors(text).map(\.id) == ["type-mismatch", "duplicate-name"])
    }

    @Test func diagnosticsRenderWithCaret() {
        let d = parseErrors(
            valid.enumerated().map { $0 == 3 ? #"  %2 = linaer(%0, %1) : f32[1, 2] "fc""# : $1 }
                .joined(separator: "\n"))
        let text = d.first?.description ?? ""
        #expect(text.hasPrefix("bad.gir:4:8: error[unknown-op]: unknown op 'linaer'"))
        let caret = String(repeating: " ", count: "4 | ".count + 7) + "^~~~~~"
        #expect(text.contains("\n4 |   %2 = linaer(%0, %1) : f32[1, 2] \"fc\"\n" + caret + "\n"))
        #expect(text.contains("note: known ops: conv2d,"))
    }

    @Test func tooManyErrorsStops() {
        let text = "graph \"g\" {\n" + String(repeating: "  junk\n", count: 500) + "}\n"
        #expect(parseErrors(text).count == IRParser.maxErrors)
    }
}

@Suite struct IRParserLimitTests {
    /// Attribute and dimension values at the limits must give diagnostics, not overflow traps, in
    /// shape inference.
    @Test(arguments: [
        #"  %2 = conv2d(%0, %1) {dilation = [1048576, 1048576], groups = 1048576, padding = [1048576, -1048576], stride = [1048576, 1]} : f32[1, 1, 1, 1] "c""#,
        #"  %2 = conv2d(%0, %1) {dilation = [1048576, 1048576], groups = 1, padding = [1048576, 1048576], stride = [1, 1]} : f32[1, 1, 1, 1] "c""#,
        #"  %2 = max_pool2d(%0) {ceil_mode = true, kernel = [1048576, 1048576], padding = [524288, 524288], stride = [1048576, 1]} : f32[1, 1, 1, 1] "p""#,
        #"  %2 = avg_pool2d(%0) {ceil_mode = true, count_include_pad = true, kernel = [1, 1], padding = [0, 0], stride = [-1048576, 1048576]} : f32[1, 1, 1, 1] "p""#,
        #"  %2 = flatten(%0) {start_dim = -1048576} : f32[1] "f""#,
        #"  %2 = adaptive_avg_pool2d(%0) {output = [1048576, 1048576]} : f32[2, 1, 1048576, 1048576] "a""#,
        #"  %2 = batch_norm(%0, %1, %1, %1, %1) {eps = -inf, momentum = nan, training = true} : f32[1] "b""#,
        #"  %2 = dropout(%0) {p = 1e999} : f32[1] "d""#,
    ])
    func extremeValuesAreDiagnosed(_ node: String) {
        let text = [
            #"graph "g" {"#, #"  input %0 "x" : f32[1, 1, 1, 1099511627776]"#,
            #"  param %1 "w" : f32[1, 1, 1099511627776, 1] weight"#, node, "  output %2", "}",
        ]
        .joined(separator: "\n")
        let diagnostics = parseErrors(text)
        #expect(!diagnostics.isEmpty)
        #expect(diagnostics.allSatisfy { $0.location != nil })
    }
}
