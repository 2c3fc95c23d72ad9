// No `default:` in a switch over an `Op` anywhere in Sources/: a default would let a new op slip into
// some branch unnoticed (DoRA once adapted every non-conv op as a linear layer). The compiler checks
// exhaustiveness only where there is no default, so this test checks there is none.
//
// Textual, not typed: comments and string literals are blanked, then each `switch SUBJECT {` counts as
// a switch over an Op when SUBJECT looks like one (`op`, `….op`, or `self` inside `extension Op` /
// `enum Op`) and one of its own case labels names an `Op` case (read from Op.swift), which rules out
// `switch op` over operator strings and `switch self` in other enums. A `default:` directly in its body
// (not in a nested switch or closure) fails.
import Foundation
import Testing

@Suite struct NoDefaultInOpSwitchTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func noOpSwitchHasADefault() throws {
        let opCases = try Self.opCaseNames()
        #expect(opCases.count >= 40, "Op's cases read from Op.swift: \(opCases.count)")
        var switches = 0
        var offenders: [String] = []
        for file in try Self.swiftFiles(under: Self.root.appendingPathComponent("Sources")) {
            let text = try String(contentsOf: file, encoding: .utf8)
            let found = OpSwitchScanner.scan(text, opCases: opCases)
            switches += found.switches
            let path = file.path.replacingOccurrences(of: Self.root.path + "/", with: "")
            offenders += found.defaults.map { "\(path):\($0)" }
        }
        #expect(offenders.isEmpty, "default: in a switch over Op at \(offenders)")
        // The scanner must see the rule files' switches (22 when written), or it checks nothing.
        #expect(switches >= 20, "only \(switches) switches over Op recognised")
    }

    @Test func scannerFindsDefaultsAndSkipsOtherSwitches() {
        let cases: Set = ["relu", "conv2d", "linear"]
        let flagged = """
            func f(_ node: Node) -> Int {
                switch node.op {
                case .relu: 1
                case .conv2d:
                    switch x { default: 0 }   // nested, not over Op
                default: 2
                }
            }
            """
        #expect(OpSwitchScanner.scan(flagged, opCases: cases).defaults == [6])
        let clean = """
            func g(_ op: String) -> Int {
                // switch op { case .relu: default: }
                switch op { case "+": 1 default: 0 }
                let s = "switch node.op { case .relu: 1 default: 2 }"
            }
            enum Activation { var x: Int { switch self { case .relu: 1 default: 0 } } }
            extension Op { var y: Int { switch self { case .relu: 1 case .linear: 2 } } }
            """
        let result = OpSwitchScanner.scan(clean, opCases: cases)
        #expect(result.defaults.isEmpty)
        #expect(result.switches == 1)
    }

    /// Op's case names, from `public enum Op`'s declaration.
    static func opCaseNames() throws -> Set<String> {
        let text = try String(contentsOf: root.appendingPathComponent("Sources/GraphIR/Op.swift"), encoding: .utf8)
        guard let start = text.range(of: "public enum Op: ") else { return [] }
        var names = Set<String>()
        for line in text[start.upperBound...].split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t == "}" { break }
            guard t.hasPrefix("case ") else { continue }
            let name = t.dropFirst(5).prefix { $0.isLetter || $0.isNumber }
            names.insert(String(name))
        }
        return names
    }

    static func swiftFiles(under dir: URL) throws -> [URL] {
        guard let e = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil) else { return [] }
        return e.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }.sorted { $0.path < $1.path }
    }
}

/// The textual scan (see the file comment).
enum OpSwitchScanner {
    /// The number of switches over Op recognised, and the 1-based lines of their `default:` labels.
    static func scan(_ source: String, opCases: Set<String>) -> (switches: Int, defaults: [Int]) {
        let code = Array(blankCommentsAndStrings(source).utf8)
        var lineOf = [Int](repeating: 1, count: code.count + 1)
        for i in code.indices { lineOf[i + 1] = lineOf[i] + (code[i] == UInt8(ascii: "\n") ? 1 : 0) }
        let opBodies = opDeclarationBodies(code)
        var switches = 0
        var defaults: [Int] = []
        var i = 0
        while let s = find(word: "switch", in: code, from: i) {
            i = s + 6
            guard let open = code[i...].firstIndex(of: UInt8(ascii: "{")) else { break }
            let subject = String(decoding: code[i..<open], as: UTF8.self).trimmingCharacters(
                in: .whitespacesAndNewlines)
            let inOp = opBodies.contains { $0.contains(s) }
            guard looksLikeOp(subject, insideOp: inOp), let close = matchingBrace(code, open) else { continue }
            // The switch's own labels: `case`/`default` at depth 1 of its body.
            var depth = 0, namesOpCase = false
            var ownDefaults: [Int] = []
            var j = open
            while j <= close {
                let c = code[j]
                if c == UInt8(ascii: "{") { depth += 1 } else if c == UInt8(ascii: "}") { depth -= 1 }
                if depth == 1, isWord(code, j, "default"), nextNonSpace(code, j + 7) == UInt8(ascii: ":") {
                    ownDefaults.append(lineOf[j])
                }
                if depth == 1, isWord(code, j, "case") {
                    let label = String(decoding: code[(j + 4)..<min(close, j + 200)], as: UTF8.self)
                    if labelNamesOpCase(label, opCases) { namesOpCase = true }
                }
                j += 1
            }
            guard namesOpCase else { continue }
            switches += 1
            defaults += ownDefaults
        }
        return (switches, defaults)
    }

    static func looksLikeOp(_ subject: String, insideOp: Bool) -> Bool {
        if subject == "self" { return insideOp }
        return subject == "op" || subject.hasSuffix(".op")
    }

    /// Whether the label (`.relu, .relu6:` or `let .conv2d(a):`) starts with a case of Op.
    static func labelNamesOpCase(_ label: String, _ opCases: Set<String>) -> Bool {
        var rest = Substring(label).drop { $0 == " " || $0 == "\n" }
        if rest.hasPrefix("let ") || rest.hasPrefix("var ") { rest = rest.dropFirst(4).drop { $0 == " " } }
        guard rest.first == "." else { return false }
        return opCases.contains(String(rest.dropFirst().prefix { $0.isLetter || $0.isNumber }))
    }

    /// Byte ranges of the bodies of `extension Op` and `enum Op` (where `self` is an Op).
    static func opDeclarationBodies(_ code: [UInt8]) -> [ClosedRange<Int>] {
        var bodies: [ClosedRange<Int>] = []
        for keyword in ["extension", "enum"] {
            var i = 0
            while let k = find(word: keyword, in: code, from: i) {
                i = k + keyword.utf8.count
                guard let open = code[i...].firstIndex(of: UInt8(ascii: "{")) else { break }
                let name = String(decoding: code[i..<open], as: UTF8.self).trimmingCharacters(
                    in: .whitespacesAndNewlines)
                guard name == "Op" || name.hasPrefix("Op:") || name.hasPrefix("Op ") else { continue }
                if let close = matchingBrace(code, open) { bodies.append(open...close) }
            }
        }
        return bodies
    }

    static func find(word: String, in code: [UInt8], from start: Int) -> Int? {
        var i = start
        while i < code.count {
            if isWord(code, i, word) { return i }
            i += 1
        }
        return nil
    }

    static func isWord(_ code: [UInt8], _ i: Int, _ word: String) -> Bool {
        let w = word.utf8
        guard i + w.count <= code.count, code[i] == w.first, w.elementsEqual(code[i..<i + w.count]) else {
            return false
        }
        func ident(_ c: UInt8) -> Bool {
            c == UInt8(ascii: "_") || (c >= 48 && c <= 57) || (c | 0x20 >= 97 && c | 0x20 <= 122)
        }
        if i > 0, ident(code[i - 1]) || code[i - 1] == UInt8(ascii: ".") { return false }
        if i + w.count < code.count, ident(code[i + w.count]) { return false }
        return true
    }

    static func nextNonSpace(_ code: [UInt8], _ i: Int) -> UInt8? {
        code[min(i, code.count)...].first { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") }
    }

    static func matchingBrace(_ code: [UInt8], _ open: Int) -> Int? {
        var depth = 0
        for j in open..<code.count {
            if code[j] == UInt8(ascii: "{") { depth += 1 }
            if code[j] == UInt8(ascii: "}") {
                depth -= 1
                if depth == 0 { return j }
            }
        }
        return nil
    }

    /// The source with comments and string literal contents replaced by spaces (newlines kept, so line
    /// numbers stay): braces and keywords in them must not count. Handles `//`, nested `/* */`, `"…"`,
    /// `"""…"""` and raw `#"…"#` strings; interpolations are blanked with their string.
    static func blankCommentsAndStrings(_ source: String) -> String {
        var s = Array(source.utf8)
        let quote = UInt8(ascii: "\""), slash = UInt8(ascii: "/"), star = UInt8(ascii: "*")
        let newline = UInt8(ascii: "\n"), hash = UInt8(ascii: "#"), backslash = UInt8(ascii: "\\")
        func blank(_ r: Range<Int>) { for k in r where s[k] != newline { s[k] = UInt8(ascii: " ") } }
        func starts(_ i: Int, _ p: [UInt8]) -> Bool { i + p.count <= s.count && Array(s[i..<i + p.count]) == p }
        var i = 0
        while i < s.count {
            if starts(i, [slash, slash]) {
                let end = s[i...].firstIndex(of: newline) ?? s.count
                blank(i..<end)
                i = end
            } else if starts(i, [slash, star]) {
                var depth = 0, j = i
                repeat {
                    if starts(j, [slash, star]) {
                        depth += 1; j += 2
                    } else if starts(j, [star, slash]) {
                        depth -= 1; j += 2
                    } else {
                        j += 1
                    }
                } while depth > 0 && j < s.count
                blank(i..<j)
                i = j
            } else if s[i] == quote || (s[i] == hash && starts(i + 1, [quote])) {
                let raw = s[i] == hash
                let open = raw ? i + 1 : i
                let triple = starts(open, [quote, quote, quote])
                let closer: [UInt8] = (triple ? [quote, quote, quote] : [quote]) + (raw ? [hash] : [])
                var j = open + (triple ? 3 : 1)
                while j < s.count, !starts(j, closer) {
                    if !raw && s[j] == backslash { j += 1 }
                    if !triple && s[j] == newline { break }
                    j += 1
                }
                let end = min(j + closer.count, s.count)
                blank(i..<end)
                i = end
            } else {
                i += 1
            }
        }
        return String(decoding: s, as: UTF8.self)
    }
}
