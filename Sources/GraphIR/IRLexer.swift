/// Tokens of the `.gir` text, and the byte-offset → line/column map the parser's diagnostics use.
///
/// Approach: one pass over the UTF-8 bytes (validated first, so every later slice decodes), producing
/// tokens that keep byte spans; positions become `file:line:col` only when a diagnostic needs one.
/// Newlines are tokens because statements end at the end of a line. A lexical error is recorded and
/// the offending bytes skipped, so one pass reports every bad character.

/// A half-open byte range in the source.
struct IRSpan: Hashable {
    var start: Int
    var end: Int
}

struct IRToken {
    enum Kind: Equatable {
        case identifier  // letters, digits, `_`
        case value  // `%12`; text is the digits
        case string  // text is the decoded contents
        case number  // `12`, `1.5`, `1e-05`; text is the literal
        case punct  // one of `{ } ( ) [ ] = , : -`
        case newline
        case end
    }

    var kind: Kind
    var text: String
    var span: IRSpan

    func isPunct(_ c: String) -> Bool { kind == .punct && text == c }
    func isWord(_ w: String) -> Bool { kind == .identifier && text == w }
}

/// The IR parser reads its source through `SourceText`.
typealias IRSourceMap = SourceText

extension SourceText {
    init(bytes: [UInt8], file: String) { self.init(file: file, bytes: bytes) }

    func diagnostic(
        _ id: String, _ message: String, at span: IRSpan, node: String? = nil,
        severity: Diagnostic.Severity = .error, notes: [String] = []
    ) -> Diagnostic {
        diagnostic(id, message, start: span.start, end: span.end, node: node, severity: severity, notes: notes)
    }
}

struct IRTokenizer {
    let map: IRSourceMap
    var diagnostics: [Diagnostic] = []

    init(map: IRSourceMap) { self.map = map }

    private static func isIdentStart(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "_")
    }
    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    private static func isIdent(_ b: UInt8) -> Bool { isIdentStart(b) || isDigit(b) }

    /// Tokens up to and including `.end`; lexical errors go to `diagnostics`.
    mutating func tokenize() -> [IRToken] {
        let b = map.bytes, n = b.count
        var tokens: [IRToken] = []
        var i = 0
        func text(_ from: Int, _ to: Int) -> String { String(decoding: b[from..<to], as: UTF8.self) }
        while i < n {
            let c = b[i]
            let start = i
            switch c {
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                i += 1
            case UInt8(ascii: "\r") where i + 1 < n && b[i + 1] == UInt8(ascii: "\n"):
                i += 1  // CRLF: the LF ends the line.
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                // LF, CRLF and a lone CR (classic Mac) all end a line, as in SourceText's line table.
                tokens.append(IRToken(kind: .newline, text: "\n", span: IRSpan(start: i, end: i + 1)))
                i += 1
            case UInt8(ascii: "#"):
                while i < n && b[i] != UInt8(ascii: "\n") && b[i] != UInt8(ascii: "\r") { i += 1 }
            case UInt8(ascii: "%"):
                i += 1
                while i < n && Self.isDigit(b[i]) { i += 1 }
                if i == start + 1 {
                    diagnostics.append(
                        map.diagnostic(
                            "syntax", "expected a value number after '%'",
                            at: IRSpan(start: start, end: i)))
                } else {
                    tokens.append(IRToken(kind: .value, text: text(start + 1, i), span: IRSpan(start: start, end: i)))
                }
            case UInt8(ascii: "\""):
                tokens.append(lexString(&i))
            case _ where Self.isDigit(c):
                while i < n && Self.isDigit(b[i]) { i += 1 }
                if i + 1 < n && b[i] == UInt8(ascii: ".") && Self.isDigit(b[i + 1]) {
                    i += 1
                    while i < n && Self.isDigit(b[i]) { i += 1 }
                }
                if i < n && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
                    var j = i + 1
                    if j < n && (b[j] == UInt8(ascii: "+") || b[j] == UInt8(ascii: "-")) { j += 1 }
                    if j < n && Self.isDigit(b[j]) {
                        i = j
                        while i < n && Self.isDigit(b[i]) { i += 1 }
                    }
                }
                tokens.append(IRToken(kind: .number, text: text(start, i), span: IRSpan(start: start, end: i)))
            case _ where Self.isIdentStart(c):
                while i < n && Self.isIdent(b[i]) { i += 1 }
                tokens.append(IRToken(kind: .identifier, text: text(start, i), span: IRSpan(start: start, end: i)))
            case UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "["),
                UInt8(ascii: "]"), UInt8(ascii: "="), UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: "-"):
                i += 1
                tokens.append(IRToken(kind: .punct, text: text(start, i), span: IRSpan(start: start, end: i)))
            default:
                // One whole scalar (the input is valid UTF-8, so its leading byte gives its length).
                i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4
                i = min(i, n)
                let shown = c < 0x20 || c == 0x7F ? "byte 0x" + String(c, radix: 16) : "'\(text(start, i))'"
                diagnostics.append(
                    map.diagnostic("syntax", "unexpected character \(shown)", at: IRSpan(start: start, end: i)))
            }
        }
        tokens.append(IRToken(kind: .end, text: "", span: IRSpan(start: n, end: n)))
        return tokens
    }

    /// A string literal starting at `i` (a quote). Ends at the closing quote; a newline or the end of
    /// the file first is an error, and the token keeps what was read.
    private mutating func lexString(_ i: inout Int) -> IRToken {
        let b = map.bytes, n = b.count, start = i
        var scalars = String.UnicodeScalarView()
        var contentStart = i + 1
        i += 1
        func flush(_ to: Int) {
            scalars.append(contentsOf: String(decoding: b[contentStart..<to], as: UTF8.self).unicodeScalars)
        }
        while true {
            guard i < n, b[i] != UInt8(ascii: "\n"), b[i] != UInt8(ascii: "\r") else {
                flush(i)
                diagnostics.append(map.diagnostic("syntax", "unterminated string", at: IRSpan(start: start, end: i)))
                return IRToken(kind: .string, text: String(scalars), span: IRSpan(start: start, end: i))
            }
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                flush(i)
                i += 1
                return IRToken(kind: .string, text: String(scalars), span: IRSpan(start: start, end: i))
            }
            guard c == UInt8(ascii: "\\") else { i += 1; continue }
            flush(i)
            let escape = i
            i += 1
            guard i < n else {
                contentStart = i
                continue
            }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                // \u{1F} with 1 to 8 hex digits.
                var j = i, value: UInt32 = 0, digits = 0
                var ok = j < n && b[j] == UInt8(ascii: "{")
                if ok {
                    j += 1
                    while j < n, digits <= 8, let d = Self.hexValue(b[j]) {
                        value = value &* 16 &+ d
                        digits += 1
                        j += 1
                    }
                    ok = digits >= 1 && digits <= 8 && j < n && b[j] == UInt8(ascii: "}")
                }
                if ok, let scalar = Unicode.Scalar(value) {
                    scalars.append(scalar)
                    i = j + 1
                } else {
                    diagnostics.append(
                        map.diagnostic(
                            "syntax", "bad \\u{...} escape in string",
                            at: IRSpan(start: escape, end: min(i, n))))
                }
            default:
                if e == UInt8(ascii: "\n") { i -= 1 }
                diagnostics.append(
                    map.diagnostic(
                        "syntax", "unknown escape in string (use \\\" \\\\ \\n \\r \\t \\u{...})",
                        at: IRSpan(start: escape, end: max(i, escape + 1))))
            }
            // Skip a whole scalar after an unknown escape's backslash so `i` stays on a boundary.
            while i < n && b[i] & 0xC0 == 0x80 { i += 1 }
            contentStart = i
        }
    }

    private static func hexValue(_ b: UInt8) -> UInt32? {
        switch b {
        case 0x30...0x39: UInt32(b - 0x30)
        case 0x41...0x46: UInt32(b - 0x41 + 10)
        case 0x61...0x66: UInt32(b - 0x61 + 10)
        default: nil
        }
    }
}
