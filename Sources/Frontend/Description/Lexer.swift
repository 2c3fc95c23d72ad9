// Lexing of `.model` text (docs/model-format.md).
//
// The lexer works on raw bytes, not `String`, for two reasons: the source arrives as bytes that may not
// be UTF-8 (we must locate the first bad byte, not replace it), and byte offsets make spans cheap.
// Line and column are computed only when a diagnostic is made; columns count characters, so they
// skip UTF-8 continuation bytes.
//
// Newline significance is decided here, not in the parser: a newline ends a statement unless it sits
// inside `(...)`/`[...]` or follows a token that cannot end one (a binary operator, `=`, `,`, `<-`).
// The parser then treats `.newline` exactly like `;`.
//
// After a `.` token a number is always lexed as an integer, so `features.3.conv.1.1` splits into
// segments instead of producing the float `1.1`.
import GraphIR

/// A half-open byte range of the source.
struct Span: Sendable, Hashable {
    var start: Int
    var end: Int

    init(_ start: Int, _ end: Int) {
        self.start = start
        self.end = max(start, end)
    }

    func through(_ other: Span) -> Span { Span(min(start, other.start), max(end, other.end)) }
}

enum TokenKind: Sendable, Equatable {
    case identifier(String)
    case keyword(String)
    case int(Int)
    case float(Double)
    /// `3x224x224`.
    case shape([Int])
    case string(String)
    case symbol(String)
    case newline
    case eof
}

struct Token: Sendable {
    var kind: TokenKind
    var span: Span

    func isSymbol(_ s: String) -> Bool { kind == .symbol(s) }
    func isKeyword(_ s: String) -> Bool { kind == .keyword(s) }
}

enum Lexer {
    static let keywords: Set<String> = ["model", "block", "let", "if", "else", "for", "in", "true", "false"]

    /// Tokens after which a newline does not end the statement.
    private static let continuing: Set<String> = [
        "=", ",", "<-", "||", "&&", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "?", ":", "!",
        "..<", "(", "[", ".",
    ]
    private static let threeChar: Set<String> = ["..<"]
    private static let twoChar: Set<String> = ["<-", "==", "!=", "<=", ">=", "&&", "||"]
    private static let oneChar: Set<UInt8> = Set("()[]{},;=.?:<>+-*/%!".utf8)

    static func tokenize(_ source: SourceText) throws(DiagnosticError) -> [Token] {
        if let bad = source.firstInvalidUTF8() {
            throw source.error(
                "invalid-utf8",
                "the file is not valid UTF-8 (byte 0x"
                    + String(source.bytes[bad], radix: 16, uppercase: true) + ")", Span(bad, bad + 1))
        }
        let bytes = source.bytes
        let n = bytes.count
        var tokens: [Token] = []
        var depth = 0
        var i = 0
        if n >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { i = 3 }

        func isDigit(_ at: Int) -> Bool { at < n && bytes[at] >= 0x30 && bytes[at] <= 0x39 }
        func isIdentStart(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F }
        func isIdent(_ b: UInt8) -> Bool { isIdentStart(b) || (b >= 0x30 && b <= 0x39) }

        while i < n {
            let b = bytes[i]
            let start = i
            switch b {
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                i += 1
            case UInt8(ascii: "\r") where i + 1 < n && bytes[i + 1] == UInt8(ascii: "\n"):
                i += 1  // CRLF: the LF ends the line.
            case UInt8(ascii: "#"):
                while i < n && bytes[i] != UInt8(ascii: "\n") && bytes[i] != UInt8(ascii: "\r") { i += 1 }
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                // LF, CRLF and a lone CR all end a line, as in SourceText's line table.
                i += 1
                guard depth == 0, let last = tokens.last else { continue }
                switch last.kind {
                case .newline: continue
                case let .symbol(s) where continuing.contains(s): continue
                default: tokens.append(Token(kind: .newline, span: Span(start, i)))
                }
            case _ where isIdentStart(b):
                while i < n && isIdent(bytes[i]) { i += 1 }
                let word = String(decoding: bytes[start..<i], as: UTF8.self)
                tokens.append(
                    Token(
                        kind: keywords.contains(word) ? .keyword(word) : .identifier(word),
                        span: Span(start, i)))
            case _ where isDigit(i):
                let afterDot = tokens.last?.isSymbol(".") ?? false
                tokens.append(try number(source, &i, integerOnly: afterDot))
            case UInt8(ascii: "\""):
                tokens.append(try string(source, &i))
            default:
                var sym: String? = nil
                if i + 3 <= n, case let s = String(decoding: bytes[i..<i + 3], as: UTF8.self), threeChar.contains(s) {
                    sym = s
                } else if i + 2 <= n, case let s = String(decoding: bytes[i..<i + 2], as: UTF8.self),
                    twoChar.contains(s)
                {
                    sym = s
                } else if oneChar.contains(b) {
                    sym = String(UnicodeScalar(b))
                }
                guard let sym else {
                    let scalarEnd = min(n, i + max(1, utf8Length(b)))
                    let text = String(decoding: bytes[i..<scalarEnd], as: UTF8.self)
                    throw source.error("syntax", "unexpected character '\(text)'", Span(i, scalarEnd))
                }
                i += sym.utf8.count
                if sym == "(" || sym == "[" { depth += 1 }
                if sym == ")" || sym == "]" { depth = max(0, depth - 1) }
                tokens.append(Token(kind: .symbol(sym), span: Span(start, i)))
            }
        }
        // End of file is reported just after the last real token, where the missing text belongs.
        let end = tokens.last { $0.kind != .newline }?.span.end ?? 0
        tokens.append(Token(kind: .eof, span: Span(end, end)))
        return tokens
    }

    private static func utf8Length(_ lead: UInt8) -> Int {
        switch lead {
        case 0xC0...0xDF: 2
        case 0xE0...0xEF: 3
        case 0xF0...0xF7: 4
        default: 1
        }
    }

    private static func number(_ source: SourceText, _ i: inout Int, integerOnly: Bool) throws(DiagnosticError)
        -> Token
    {
        let bytes = source.bytes
        let n = bytes.count
        let start = i
        func digit(_ at: Int) -> Bool { at < n && bytes[at] >= 0x30 && bytes[at] <= 0x39 }
        func readInt() throws(DiagnosticError) -> Int {
            let s = i
            var value = 0
            while digit(i) {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int(bytes[i] - 0x30))
                i += 1
                if o1 || o2 {
                    while digit(i) { i += 1 }
                    throw source.error("syntax", "integer literal is too large", Span(s, i))
                }
                value = a
            }
            return value
        }
        let first = try readInt()
        if integerOnly { return Token(kind: .int(first), span: Span(start, i)) }
        // Shape literal: 3x224x224.
        if i + 1 < n && bytes[i] == UInt8(ascii: "x") && digit(i + 1) {
            var dims = [first]
            while i + 1 < n && bytes[i] == UInt8(ascii: "x") && digit(i + 1) {
                i += 1
                dims.append(try readInt())
            }
            return Token(kind: .shape(dims), span: Span(start, i))
        }
        var isFloat = false
        if i + 1 < n && bytes[i] == UInt8(ascii: ".") && digit(i + 1) {
            isFloat = true
            i += 1
            while digit(i) { i += 1 }
        }
        if i < n && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            var j = i + 1
            if j < n && (bytes[j] == UInt8(ascii: "+") || bytes[j] == UInt8(ascii: "-")) { j += 1 }
            if digit(j) {
                isFloat = true
                i = j
                while digit(i) { i += 1 }
            }
        }
        guard isFloat else { return Token(kind: .int(first), span: Span(start, i)) }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw source.error("syntax", "float literal '\(text)' is out of range", Span(start, i))
        }
        return Token(kind: .float(value), span: Span(start, i))
    }

    private static func string(_ source: SourceText, _ i: inout Int) throws(DiagnosticError) -> Token {
        let bytes = source.bytes
        let start = i
        i += 1
        var out: [UInt8] = []
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                return Token(kind: .string(String(decoding: out, as: UTF8.self)), span: Span(start, i))
            }
            if b == UInt8(ascii: "\n") || b == UInt8(ascii: "\r") { break }
            if b == UInt8(ascii: "\\") {
                guard i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\"") || bytes[i + 1] == UInt8(ascii: "\\")
                else {
                    throw source.error(
                        "syntax", "unknown escape in string (only \\\" and \\\\ are allowed)",
                        Span(i, i + 2))
                }
                out.append(bytes[i + 1])
                i += 2
                continue
            }
            out.append(b)
            i += 1
        }
        throw source.error("syntax", "unterminated string", Span(start, i))
    }
}

/// The description compiler's spans.
extension SourceText {
    /// The diagnostic `id` at `span`, with the source line and an underline as long as the span's text.
    func diagnostic(_ id: String, _ message: String, _ span: Span, node: String? = nil) -> Diagnostic {
        diagnostic(id, message, start: span.start, end: span.end, node: node)
    }

    func error(_ id: String, _ message: String, _ span: Span, node: String? = nil) -> DiagnosticError {
        DiagnosticError([diagnostic(id, message, span, node: node)])
    }

    func text(_ span: Span) -> String {
        let s = min(max(0, span.start), bytes.count), e = min(max(s, span.end), bytes.count)
        return String(decoding: bytes[s..<e], as: UTF8.self)
    }
}
