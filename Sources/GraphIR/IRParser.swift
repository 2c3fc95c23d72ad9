/// Reads the canonical `.gir` text back into a `Graph` (docs/ir-format.md).
///
/// Approach, in phases, each reporting every problem it finds before the next runs:
/// 1. bytes: empty file, invalid UTF-8 (`empty-file`, `invalid-utf8`);
/// 2. syntax: a hand-written recursive-descent parser over `IRLexer` tokens builds statements; a bad
///    statement is reported and skipped to the end of its line (`syntax`, `unknown-dtype`,
///    `unknown-role`, `bad-size`, `duplicate-attribute`, `bad-parameter`). Any error here stops parsing;
///    later phases would only report its echoes;
/// 3. references: `%N` labels are definitions; a duplicate is `duplicate-definition`, an unknown one
///    `undefined-value`, one used before (or on) its defining line `cycle`;
/// 4. types: each node's op and attributes are checked (`unknown-op`, `unknown-attribute`,
///    `missing-attribute`, `attribute-type`), then shape inference runs on the declared operand types
///    and must give the declared result types (`type-mismatch`, `arity`, or shape inference's own id);
/// 5. the verifier runs on the built graph; its diagnostics are placed on the line they concern.
/// Errors throw with warnings included; warnings alone do not throw.
///
/// Robustness: every index is bounds-checked, integers go through `Int(String)` (nil on overflow), a
/// type may have at most 2^40 elements and no dimension above that, and integer attributes must lie in
/// ±(2^31 − 1), the bound shape inference puts on attributes, so that no later arithmetic can overflow.

/// Parses `.gir` text.
public enum IRParser {
    /// Largest element count (and dimension) a declared type may have.
    public static let maxElements = 1 << 40
    /// Largest magnitude of an integer attribute.
    public static let maxAttributeMagnitude = (1 << 31) - 1
    /// Parsing stops after this many errors.
    public static let maxErrors = 100

    /// Parses `source` (UTF-8) and returns the verified graph; throws every error found.
    public static func parse(_ source: [UInt8], file: String) throws(DiagnosticError) -> Graph {
        try parseReportingWarnings(source, file: file).graph
    }

    /// Parses `source` and returns the verified graph; throws every error found.
    public static func parse(_ source: String, file: String) throws(DiagnosticError) -> Graph {
        try parse(Array(source.utf8), file: file)
    }

    /// As `parse`, also returning the verifier's warnings (unused inputs and parameters).
    public static func parseReportingWarnings(_ source: [UInt8], file: String)
        throws(DiagnosticError) -> (graph: Graph, warnings: [Diagnostic])
    {
        let map = IRSourceMap(bytes: source, file: file)
        if let bad = SourceText.firstInvalidUTF8(source) {
            throw DiagnosticError([
                map.diagnostic(
                    "invalid-utf8",
                    "the file is not valid UTF-8 (byte 0x"
                        + String(source[bad], radix: 16) + ")",
                    at: IRSpan(start: bad, end: bad + 1))
            ])
        }
        var lexer = IRTokenizer(map: map)
        let tokens = lexer.tokenize()
        if lexer.diagnostics.isEmpty && tokens.allSatisfy({ $0.kind == .newline || $0.kind == .end }) {
            throw DiagnosticError([
                map.diagnostic(
                    "empty-file", "the file holds no graph",
                    at: IRSpan(start: 0, end: 0))
            ])
        }
        var syntax = SyntaxParser(tokens: tokens, map: map)
        syntax.diagnostics = lexer.diagnostics
        let file = syntax.parseFile()
        if !syntax.diagnostics.isEmpty { throw DiagnosticError(sorted(syntax.diagnostics)) }
        guard let file else {
            throw DiagnosticError([map.diagnostic("syntax", "expected a graph", at: IRSpan(start: 0, end: 0))])
        }

        var checker = GraphChecker(file: file, map: map)
        let graph = checker.run()
        let diagnostics = sorted(checker.diagnostics)
        if let graph, !diagnostics.contains(where: { $0.severity == .error }) {
            return (graph, diagnostics)
        }
        throw DiagnosticError(diagnostics)
    }

    /// Source order; diagnostics without a location last, ties in report order.
    static func sorted(_ diagnostics: [Diagnostic]) -> [Diagnostic] {
        diagnostics.enumerated().sorted { a, b in
            let la = a.element.location.map { ($0.line, $0.column) } ?? (Int.max, Int.max)
            let lb = b.element.location.map { ($0.line, $0.column) } ?? (Int.max, Int.max)
            return la != lb ? la < lb : a.offset < b.offset
        }.map(\.element)
    }
}

// MARK: - Syntax tree

struct IRLocated<T> {
    var value: T
    var span: IRSpan
}

struct NodeSyntax {
    var results: [IRLocated<String>]
    var op: IRLocated<String>
    var operands: [IRLocated<String>]
    var attributes: [(key: IRLocated<String>, value: IRLocated<AttributeValue>)]
    var types: [IRLocated<TensorType>]
    var name: IRLocated<String>
    var scope: IRLocated<String>?
    var phase: Phase = .forward
}

enum IRStatement {
    case input(label: IRLocated<String>, name: IRLocated<String>, type: IRLocated<TensorType>)
    case param(
        label: IRLocated<String>, name: IRLocated<String>, type: IRLocated<TensorType>, role: ParamRole,
        trainable: Bool)
    case node(NodeSyntax)
    case output(label: IRLocated<String>)
    case record(RecordSyntax)
}

/// A training-record line (`grad`, `backward`, `step`, `adapter`); its labels, in the order written.
struct RecordSyntax {
    enum Kind {
        /// `grad %P = %G`
        case grad
        /// `backward %R of %F`
        case backwardOf
        /// `backward %R sums %V`
        case backwardSums
        /// `step %P update %U [state %S, ...]`
        case step
        /// `adapter %X of %L weight %W`
        case adapter
    }

    var kind: Kind
    var labels: [IRLocated<String>]
    /// The whole line, where a problem with the record is reported.
    var span: IRSpan
}

struct FileSyntax {
    var name: String
    var statements: [IRStatement]
    /// The closing brace, where graph-level diagnostics point.
    var close: IRSpan
}

// MARK: - Phase 2: syntax

/// Thrown inside a statement to abandon it; the diagnostic is already recorded.
private struct StatementError: Error {}

struct SyntaxParser {
    let tokens: [IRToken]
    let map: IRSourceMap
    var position = 0
    var diagnostics: [Diagnostic] = []

    init(tokens: [IRToken], map: IRSourceMap) {
        self.tokens = tokens
        self.map = map
    }

    private var current: IRToken { tokens[min(position, tokens.count - 1)] }
    private mutating func advance() -> IRToken {
        let token = current
        if position < tokens.count - 1 { position += 1 }
        return token
    }

    private func describe(_ t: IRToken) -> String {
        switch t.kind {
        case .newline: "end of line"
        case .end: "end of file"
        case .string: "a string"
        case .value: "'%\(t.text)'"
        case .identifier, .number, .punct: "'\(t.text)'"
        }
    }

    private mutating func fail(_ expected: String) -> StatementError {
        report("syntax", "expected \(expected), found \(describe(current))", current.span)
        return StatementError()
    }

    /// Records an error unless the line already has one: a second error on a line is nearly always
    /// an echo of the first (a bad character, then the token missing where it stood).
    private mutating func report(_ id: String, _ message: String, _ span: IRSpan) {
        let d = map.diagnostic(id, message, at: span)
        guard diagnostics.count < IRParser.maxErrors,
            !diagnostics.contains(where: { $0.location?.line == d.location?.line })
        else { return }
        diagnostics.append(d)
    }

    private mutating func expectPunct(_ p: String) throws(StatementError) -> IRSpan {
        guard current.isPunct(p) else { throw fail("'\(p)'") }
        return advance().span
    }

    private mutating func expect(_ kind: IRToken.Kind, _ what: String) throws(StatementError) -> IRLocated<String> {
        guard current.kind == kind else { throw fail(what) }
        let t = advance()
        return IRLocated(value: t.text, span: t.span)
    }

    private mutating func skipNewlines() { while current.kind == .newline { _ = advance() } }

    private mutating func skipLine() {
        while current.kind != .newline && current.kind != .end { _ = advance() }
    }

    mutating func parseFile() -> FileSyntax? {
        skipNewlines()
        var name = ""
        do throws(StatementError) {
            guard current.isWord("graph") else { throw fail("'graph'") }
            _ = advance()
            name = try expect(.string, "the graph's name (a string)").value
            _ = try expectPunct("{")
            guard current.kind == .newline else { throw fail("end of line after '{'") }
        } catch {
            return nil
        }
        var statements: [IRStatement] = []
        while true {
            skipNewlines()
            if diagnostics.count >= IRParser.maxErrors { return nil }
            if current.isPunct("}") { break }
            if current.kind == .end {
                report("syntax", "expected '}' to close graph '\(name)', found end of file", current.span)
                return nil
            }
            do throws(StatementError) {
                statements.append(try statement())
                guard current.kind == .newline || current.kind == .end else { throw fail("end of line") }
            } catch {
                skipLine()
            }
        }
        let close = advance().span
        skipNewlines()
        if current.kind != .end {
            report("syntax", "unexpected \(describe(current)) after the graph's closing '}'", current.span)
        }
        return FileSyntax(name: name, statements: statements, close: close)
    }

    private mutating func statement() throws(StatementError) -> IRStatement {
        let t = current
        if t.isWord("input") {
            _ = advance()
            let label = try expect(.value, "a value such as '%0'")
            let name = try expect(.string, "the input's name (a string)")
            _ = try expectPunct(":")
            return .input(label: label, name: name, type: try type())
        }
        if t.isWord("param") {
            _ = advance()
            let label = try expect(.value, "a value such as '%1'")
            let name = try expect(.string, "the parameter's name (a string)")
            _ = try expectPunct(":")
            let type = try type()
            let roleToken = try expect(.identifier, "a parameter role (" + Self.roleList + ")")
            guard let role = ParamRole(rawValue: roleToken.value) else {
                report(
                    "unknown-role", "unknown parameter role '\(roleToken.value)'; expected one of " + Self.roleList,
                    roleToken.span)
                throw StatementError()
            }
            var trainable = !role.isBuffer
            if current.isWord("frozen") {
                let frozen = advance()
                if role.isBuffer {
                    report(
                        "bad-parameter", "buffers (\(role.rawValue)) are never trainable and take no 'frozen'",
                        frozen.span)
                }
                trainable = false
            }
            return .param(label: label, name: name, type: type, role: role, trainable: trainable)
        }
        if t.isWord("output") {
            _ = advance()
            return .output(label: try expect(.value, "a value such as '%7'"))
        }
        if t.kind == .value { return .node(try node()) }
        if let record = try record() { return .record(record) }
        throw fail(
            "'input', 'param', 'output', a node such as '%3 = relu(%2) ...', a record ('grad', 'backward', "
                + "'step', 'adapter'), or '}'")
    }

    /// A record line, or nil when the line does not start with a record keyword.
    private mutating func record() throws(StatementError) -> RecordSyntax? {
        let start = current.span.start
        func value(_ what: String) throws(StatementError) -> IRLocated<String> {
            try expect(.value, what)
        }
        func word(_ w: String) throws(StatementError) {
            guard current.isWord(w) else { throw fail("'\(w)'") }
            _ = advance()
        }
        var kind: RecordSyntax.Kind
        var labels: [IRLocated<String>] = []
        if current.isWord("grad") {
            _ = advance()
            kind = .grad
            labels.append(try value("a parameter such as '%1'"))
            _ = try expectPunct("=")
            labels.append(try value("its gradient, a value such as '%40'"))
        } else if current.isWord("backward") {
            _ = advance()
            labels.append(try value("a result of the backward node, such as '%25'"))
            if current.isWord("of") {
                kind = .backwardOf
            } else if current.isWord("sums") {
                kind = .backwardSums
            } else {
                throw fail("'of' or 'sums'")
            }
            _ = advance()
            labels.append(
                try value(
                    kind == .backwardOf
                        ? "a result of the forward node, such as '%12'"
                        : "the value whose gradient it sums, such as '%16'"))
        } else if current.isWord("step") {
            _ = advance()
            kind = .step
            labels.append(try value("a parameter such as '%1'"))
            try word("update")
            labels.append(try value("a result of the update node, such as '%41'"))
            if current.isWord("state") {
                _ = advance()
                labels.append(try value("an optimizer state parameter such as '%9'"))
                while current.isPunct(",") {
                    _ = advance()
                    labels.append(try value("an optimizer state parameter such as '%9'"))
                }
            }
        } else if current.isWord("adapter") {
            _ = advance()
            kind = .adapter
            labels.append(try value("an adapter parameter or a result of an adapter node"))
            try word("of")
            labels.append(try value("a result of the base layer's node"))
            try word("weight")
            labels.append(try value("the base weight parameter"))
        } else {
            return nil
        }
        let end = tokens[max(position - 1, 0)].span.end
        return RecordSyntax(kind: kind, labels: labels, span: IRSpan(start: start, end: end))
    }

    private static let roleList = ParamRole.allCases.map(\.rawValue).joined(separator: ", ")

    private mutating func node() throws(StatementError) -> NodeSyntax {
        var results = [try expect(.value, "a result value")]
        while current.isPunct(",") {
            _ = advance()
            results.append(try expect(.value, "a result value"))
        }
        _ = try expectPunct("=")
        let op = try expect(.identifier, "an op name")
        _ = try expectPunct("(")
        var operands: [IRLocated<String>] = []
        if !current.isPunct(")") {
            operands.append(try expect(.value, "an operand such as '%0'"))
            while current.isPunct(",") {
                _ = advance()
                operands.append(try expect(.value, "an operand such as '%0'"))
            }
        }
        _ = try expectPunct(")")
        var attributes: [(key: IRLocated<String>, value: IRLocated<AttributeValue>)] = []
        if current.isPunct("{") {
            _ = advance()
            if !current.isPunct("}") {
                repeat {
                    if current.isPunct(",") { _ = advance() }
                    let key = try expect(.identifier, "an attribute name")
                    _ = try expectPunct("=")
                    let value = try attributeValue()
                    if attributes.contains(where: { $0.key.value == key.value }) {
                        report("duplicate-attribute", "attribute '\(key.value)' is given more than once", key.span)
                    }
                    attributes.append((key, value))
                } while current.isPunct(",")
            }
            _ = try expectPunct("}")
        }
        _ = try expectPunct(":")
        var types = [try type()]
        while current.isPunct(",") {
            _ = advance()
            types.append(try type())
        }
        if types.count != results.count {
            let span = IRSpan(start: types[0].span.start, end: types[types.count - 1].span.end)
            report("syntax", "\(results.count) result(s) but \(types.count) type(s)", span)
            throw StatementError()
        }
        let name = try expect(.string, "the node's name (a string)")
        var scope: IRLocated<String>?
        if current.isWord("in") {
            _ = advance()
            scope = try expect(.string, "the scope (a string) after 'in'")
        }
        var phase = Phase.forward
        if current.isWord("backward") || current.isWord("optimizer") {
            phase = Phase(rawValue: advance().text) ?? .forward
        }
        return NodeSyntax(
            results: results, op: op, operands: operands, attributes: attributes, types: types,
            name: name, scope: scope, phase: phase)
    }

    /// An integer literal, with an optional leading minus; `nil` (reported) when out of range.
    private mutating func integer(_ what: String) throws(StatementError) -> IRLocated<Int?> {
        let start = current.span.start
        var negative = false
        if current.isPunct("-") {
            _ = advance()
            negative = true
        }
        guard current.kind == .number, current.text.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw fail(what)
        }
        let t = advance()
        let span = IRSpan(start: start, end: t.span.end)
        let value = Int((negative ? "-" : "") + t.text)
        if value == nil { report("bad-size", "integer \(negative ? "-" : "")\(t.text) is out of range", span) }
        return IRLocated(value: value, span: span)
    }

    private mutating func attributeValue() throws(StatementError) -> IRLocated<AttributeValue> {
        let start = current.span.start
        func checked(_ v: IRLocated<Int?>) -> Int {
            guard let value = v.value else { return 0 }
            if value.magnitude > UInt(IRParser.maxAttributeMagnitude) {
                report(
                    "bad-size",
                    "integer attribute \(value) is out of range (at most ±\(IRParser.maxAttributeMagnitude))",
                    v.span)
                return 0
            }
            return value
        }
        if current.isPunct("[") {
            // `[h, w]` is a pair; any other length an integer list (shapes). Readers accept a pair where a
            // list is expected, so a two-element shape round-trips.
            _ = advance()
            var items: [Int] = []
            if !current.isPunct("]") {
                items.append(checked(try integer("an integer")))
                while current.isPunct(",") {
                    _ = advance()
                    items.append(checked(try integer("an integer")))
                }
            }
            let end = try expectPunct("]").end
            let value: AttributeValue = items.count == 2 ? .pair(Pair(items[0], items[1])) : .ints(items)
            return IRLocated(value: value, span: IRSpan(start: start, end: end))
        }
        if current.isWord("true") || current.isWord("false") {
            let t = advance()
            return IRLocated(value: .bool(t.text == "true"), span: t.span)
        }
        var negative = false
        if current.isPunct("-") {
            _ = advance()
            negative = true
        }
        let t = current
        let sign = negative ? "-" : ""
        if t.isWord("inf") || t.isWord("nan") || (t.kind == .number && !t.text.allSatisfy({ $0.isNumber })) {
            _ = advance()
            let span = IRSpan(start: start, end: t.span.end)
            guard let value = Double(sign + t.text) else { throw fail("a number") }
            return IRLocated(value: .float(value), span: span)
        }
        if t.kind == .number {
            if negative { position -= 1 }
            let v = try integer("an integer")
            return IRLocated(value: .int(checked(v)), span: v.span)
        }
        throw fail("an attribute value (integer, float, true/false or [h, w])")
    }

    private mutating func type() throws(StatementError) -> IRLocated<TensorType> {
        let dtypeToken = try expect(.identifier, "a type such as 'f32[1, 3, 224, 224]'")
        var dtype = DType.f32
        if let d = DType(rawValue: dtypeToken.value) {
            dtype = d
        } else {
            report(
                "unknown-dtype",
                "unknown element type '\(dtypeToken.value)'; expected f32, i64, bool, mask, f16, bf16 or qi8",
                dtypeToken.span)
        }
        _ = try expectPunct("[")
        var dims: [Int] = []
        var spans: [IRSpan] = []
        if !current.isPunct("]") {
            repeat {
                if current.isPunct(",") { _ = advance() }
                let d = try integer("a dimension")
                dims.append(d.value ?? 0)
                spans.append(d.span)
                if let v = d.value, v < 0 || v > IRParser.maxElements {
                    report("bad-size", "dimension \(v) is out of range", d.span)
                }
            } while current.isPunct(",")
        }
        let end = try expectPunct("]").end
        let span = IRSpan(start: dtypeToken.span.start, end: end)
        var count = 1
        for d in dims where d >= 0 && d <= IRParser.maxElements {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            count = overflow ? Int.max : product
        }
        if count > IRParser.maxElements {
            report("bad-size", "type \(dtype.rawValue)\(Shape.format(dims)) has more than 2^40 elements", span)
        }
        if dims.count > Shape.maxRank {
            report(
                "bad-rank",
                "type \(dtype.rawValue)\(Shape.format(dims)) has rank \(dims.count); graphc supports "
                    + "rank \(Shape.maxRank) at most", span)
        }
        return IRLocated(value: TensorType(dtype, Shape(dims.prefix(Shape.maxRank))), span: span)
    }
}
