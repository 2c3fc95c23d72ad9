// Recursive-descent parser for `.model` files, one function per grammar rule of docs/model-format.md.
//
// Binary operators are parsed by precedence climbing in loops (no recursion per operator), and every
// recursive rule (parentheses, lists, unary operators, `?:`, bodies) goes through `nest`, which
// bounds the depth: hostile input must produce a diagnostic, never a stack overflow. A statement that
// does not parse is reported and skipped (to the end of its line, over any braces it opened), so one
// run reports every statement's syntax error, up to `maxErrors`; positions come from token spans.
import GraphIR

struct Parser {
    static let maxNesting = 64
    static let maxErrors = 100

    private var tokens: [Token]
    private var pos = 0
    private let source: SourceText
    private var nesting = 0
    /// Syntax errors of statements skipped so far.
    private var errors: [Diagnostic] = []
    /// Parsing has given up: the error in flight already holds `errors`, and enclosing bodies pass it on
    /// (adding it again at each of up to 64 levels would double it each time).
    private var abandoned = false

    init(tokens: [Token], source: SourceText) {
        self.tokens = tokens
        self.source = source
    }

    // MARK: Token helpers

    private var token: Token { tokens[pos] }

    private mutating func advance() -> Token {
        let t = tokens[pos]
        if pos < tokens.count - 1 { pos += 1 }
        return t
    }

    private func describe(_ t: Token) -> String {
        switch t.kind {
        case .eof: "end of file"
        case .newline: "end of line"
        default:
            // A token may be megabytes long (one huge identifier): show its start only.
            t.span.end - t.span.start <= 60
                ? "'\(source.text(t.span))'"
                : "'\(source.text(Span(t.span.start, t.span.start + 40)).prefix(40))…' (\(t.span.end - t.span.start) bytes)"
        }
    }

    private func unexpected(_ expected: String) -> DiagnosticError {
        let t = token
        if case .eof = t.kind {
            return source.error("syntax", "unexpected end of file: expected \(expected)", t.span)
        }
        return source.error("syntax", "expected \(expected), found \(describe(t))", t.span)
    }

    private mutating func expect(_ symbol: String) throws(DiagnosticError) -> Token {
        guard token.isSymbol(symbol) else { throw unexpected("'\(symbol)'") }
        return advance()
    }

    private mutating func accept(_ symbol: String) -> Bool {
        guard token.isSymbol(symbol) else { return false }
        _ = advance()
        return true
    }

    private mutating func identifier(_ what: String) throws(DiagnosticError) -> (String, Span) {
        guard case let .identifier(name) = token.kind else { throw unexpected(what) }
        return (name, advance().span)
    }

    private mutating func skipSeparators() {
        while token.kind == .newline || token.isSymbol(";") { _ = advance() }
    }

    private mutating func nest() throws(DiagnosticError) {
        nesting += 1
        if nesting > Self.maxNesting {
            throw source.error("limit", "nesting is too deep (more than \(Self.maxNesting) levels)", token.span)
        }
    }

    // MARK: Declarations

    mutating func parseFile() throws(DiagnosticError) -> [Declaration] {
        var decls: [Declaration] = []
        skipSeparators()
        while token.kind != .eof {
            let isModel: Bool
            if token.isKeyword("model") {
                isModel = true
            } else if token.isKeyword("block") {
                isModel = false
            } else {
                throw unexpected("'model' or 'block'")
            }
            _ = advance()
            let (name, nameSpan) = try identifier("a \(isModel ? "model" : "block") name")
            var params: [Parameter] = []
            if accept("(") {
                while !token.isSymbol(")") {
                    let (pname, pspan) = try identifier("a parameter name")
                    var value: Expr? = nil
                    if accept("=") { value = try expression() }
                    params.append(Parameter(name: pname, span: pspan, defaultValue: value))
                    if !accept(",") { break }
                }
                _ = try expect(")")
            }
            let body = try body()
            var targets: [[String?]] = []
            Self.collectTargets(body, into: &targets)
            decls.append(
                Declaration(
                    isModel: isModel, name: name, nameSpan: nameSpan, parameters: params,
                    body: body, targets: targets))
            skipSeparators()
        }
        if !errors.isEmpty { throw DiagnosticError(errors) }
        return decls
    }

    private static func collectTargets(_ body: [Statement], into out: inout [[String?]]) {
        for s in body {
            switch s {
            case let .layer(l): out.append(l.target.map(\.literal))
            case .bind: break
            case let .branch(_, then, otherwise):
                collectTargets(then, into: &out)
                collectTargets(otherwise ?? [], into: &out)
            case let .loop(_, _, _, _, body): collectTargets(body, into: &out)
            }
        }
    }

    private mutating func body() throws(DiagnosticError) -> [Statement] {
        try nest()
        defer { nesting -= 1 }
        _ = try expect("{")
        var statements: [Statement] = []
        while true {
            skipSeparators()
            if accept("}") { break }
            do throws(DiagnosticError) {
                statements.append(try statement())
                guard token.kind == .newline || token.isSymbol(";") || token.isSymbol("}") else {
                    throw unexpected("end of statement")
                }
            } catch {
                if abandoned { throw error }
                errors += error.diagnostics
                if errors.count >= Self.maxErrors || token.kind == .eof
                    || error.diagnostics.contains(where: { $0.id == "limit" })
                {
                    abandoned = true
                    throw DiagnosticError(errors)
                }
                skipStatement()
            }
        }
        return statements
    }

    /// After a syntax error: skips to the end of the statement (a newline or `;` outside any braces it
    /// opened) or to the `}` closing the body it is in, which is left for the body to read.
    private mutating func skipStatement() {
        var depth = 0
        while token.kind != .eof {
            if depth == 0 && (token.kind == .newline || token.isSymbol(";")) { return }
            if token.isSymbol("{") { depth += 1 }
            if token.isSymbol("}") {
                if depth == 0 { return }
                depth -= 1
            }
            _ = advance()
        }
    }

    // MARK: Statements

    private mutating func statement() throws(DiagnosticError) -> Statement {
        if token.isKeyword("let") {
            _ = advance()
            let (name, span) = try identifier("a variable name")
            _ = try expect("=")
            return .bind(name: name, span: span, value: try expression())
        }
        if token.isKeyword("if") { return try ifStatement() }
        if token.isKeyword("for") {
            _ = advance()
            let (name, span) = try identifier("a loop variable")
            guard token.isKeyword("in") else { throw unexpected("'in'") }
            _ = advance()
            let from = try expression()
            _ = try expect("..<")
            let to = try expression()
            return .loop(variable: name, span: span, from: from, to: to, body: try body())
        }
        return .layer(try layer())
    }

    private mutating func ifStatement() throws(DiagnosticError) -> Statement {
        _ = advance()  // `if`
        let condition = try expression()
        let then = try body()
        // Allow `}` and `else` on separate lines.
        var look = pos
        while tokens[look].kind == .newline { look += 1 }
        guard tokens[look].isKeyword("else") else { return .branch(condition: condition, then: then, else: nil) }
        pos = look + 1
        if token.isKeyword("if") {
            try nest()
            defer { nesting -= 1 }
            return .branch(condition: condition, then: then, else: [try ifStatement()])
        }
        return .branch(condition: condition, then: then, else: try body())
    }

    private mutating func layer() throws(DiagnosticError) -> LayerStatement {
        switch token.kind {
        case .identifier, .int, .symbol("{"): break
        case .keyword where pos + 1 < tokens.count && tokens[pos + 1].isSymbol("."): break
        default: throw unexpected("a statement")
        }
        let target = try path()
        let targetSpan = target[0].span.through(target[target.count - 1].span)
        _ = try expect("=")
        let (callee, calleeSpan) = try identifier("an op or block name")
        var callSpan = calleeSpan
        var arguments: [Argument] = []
        if token.isSymbol("(") {
            arguments = try argumentList()
            callSpan = calleeSpan.through(tokens[pos - 1].span)
        }
        var refs: [Expr]? = nil
        var refsSpan: Span? = nil
        if token.isSymbol("<-") {
            let arrow = advance().span
            var list: [Expr] = []
            repeat {
                let segs = try path()
                let span = segs[0].span.through(segs[segs.count - 1].span)
                list.append(Expr(kind: .path(segs), span: span, depth: 1))
            } while accept(",")
            refs = list
            refsSpan = arrow.through(list[list.count - 1].span)
        }
        return LayerStatement(
            target: target, targetSpan: targetSpan, callee: callee, calleeSpan: calleeSpan,
            arguments: arguments, callSpan: callSpan, refs: refs, refsSpan: refsSpan)
    }

    /// `a.0.{i}`. The first segment may be an integer or a splice only in targets and refs. A keyword is
    /// a plain name inside a path (`features.1.0.block.0`, as torchvision's EfficientNet names layers).
    private mutating func path() throws(DiagnosticError) -> [Segment] {
        var segments = [try segment(keywordAllowed: pos + 1 < tokens.count && tokens[pos + 1].isSymbol("."))]
        while accept(".") { segments.append(try segment(keywordAllowed: true)) }
        return segments
    }

    private mutating func segment(keywordAllowed: Bool) throws(DiagnosticError) -> Segment {
        switch token.kind {
        case let .identifier(name): return .name(name, advance().span)
        case let .keyword(name) where keywordAllowed: return .name(name, advance().span)
        case let .int(i): return .index(i, advance().span)
        case .symbol("{"):
            try nest()
            defer { nesting -= 1 }
            let open = advance().span
            let e = try expression()
            let close = try expect("}").span
            return .splice(e, open.through(close))
        default:
            throw unexpected("a layer name")
        }
    }

    private mutating func argumentList() throws(DiagnosticError) -> [Argument] {
        try nest()
        defer { nesting -= 1 }
        _ = try expect("(")
        var args: [Argument] = []
        while !token.isSymbol(")") {
            var label: String? = nil
            var labelSpan: Span? = nil
            switch token.kind {
            case let .identifier(name), let .keyword(name):
                if tokens[pos + 1].isSymbol("=") {
                    label = name
                    labelSpan = advance().span
                    _ = advance()
                }
            default: break
            }
            args.append(Argument(label: label, labelSpan: labelSpan, value: try expression()))
            if !accept(",") { break }
        }
        _ = try expect(")")
        return args
    }

    // MARK: Expressions

    /// A single expression filling the whole input (a `--set` value).
    mutating func standaloneExpression() throws(DiagnosticError) -> Expr {
        let e = try expression()
        skipSeparators()
        guard case .eof = token.kind else { throw unexpected("the end of the value") }
        return e
    }

    mutating func expression() throws(DiagnosticError) -> Expr {
        try nest()
        defer { nesting -= 1 }
        let condition = try binary(0)
        guard accept("?") else { return condition }
        let a = try expression()
        _ = try expect(":")
        let b = try expression()
        return try make(.ternary(condition, a, b), condition.span.through(b.span), [condition, a, b])
    }

    private static let levels: [Set<String>] = [
        ["||"], ["&&"], ["==", "!=", "<", "<=", ">", ">="], ["+", "-"], ["*", "/", "%"],
    ]

    private mutating func binary(_ level: Int) throws(DiagnosticError) -> Expr {
        if level == Self.levels.count { return try unary() }
        var lhs = try binary(level + 1)
        while case let .symbol(op) = token.kind, Self.levels[level].contains(op) {
            _ = advance()
            let rhs = try binary(level + 1)
            lhs = try make(.binary(op, lhs, rhs), lhs.span.through(rhs.span), [lhs, rhs])
        }
        return lhs
    }

    private func make(_ kind: ExprKind, _ span: Span, _ children: [Expr]) throws(DiagnosticError) -> Expr {
        let depth = 1 + children.reduce(0) { max($0, $1.depth) }
        guard depth <= Self.maxNesting else {
            throw source.error("limit", "expression is nested too deeply (more than \(Self.maxNesting) levels)", span)
        }
        return Expr(kind: kind, span: span, depth: depth)
    }

    private mutating func unary() throws(DiagnosticError) -> Expr {
        if case let .symbol(op) = token.kind, op == "-" || op == "!" {
            try nest()
            defer { nesting -= 1 }
            let opSpan = advance().span
            let operand = try unary()
            return try make(.unary(op, operand), opSpan.through(operand.span), [operand])
        }
        return try primary()
    }

    private mutating func primary() throws(DiagnosticError) -> Expr {
        let t = token
        switch t.kind {
        case let .int(v): _ = advance(); return Expr(kind: .int(v), span: t.span, depth: 1)
        case let .float(v): _ = advance(); return Expr(kind: .float(v), span: t.span, depth: 1)
        case let .string(v): _ = advance(); return Expr(kind: .string(v), span: t.span, depth: 1)
        case let .shape(dims):
            _ = advance()
            return Expr(kind: .list(dims.map { Expr(kind: .int($0), span: t.span, depth: 1) }), span: t.span, depth: 2)
        case .keyword("true"): _ = advance(); return Expr(kind: .bool(true), span: t.span, depth: 1)
        case .keyword("false"): _ = advance(); return Expr(kind: .bool(false), span: t.span, depth: 1)
        case .symbol("("):
            try nest()
            defer { nesting -= 1 }
            _ = advance()
            var e = try expression()
            e.span = t.span.through(try expect(")").span)
            return e
        case .symbol("["):
            try nest()
            defer { nesting -= 1 }
            _ = advance()
            var items: [Expr] = []
            while !token.isSymbol("]") {
                items.append(try expression())
                if !accept(",") { break }
            }
            let close = try expect("]").span
            return try make(.list(items), t.span.through(close), items)
        case let .identifier(name):
            if tokens[pos + 1].isSymbol("(") {
                _ = advance()
                let args = try argumentList()
                return try make(.call(name, args), t.span.through(tokens[pos - 1].span), args.map(\.value))
            }
            let segs = try path()
            let children = segs.compactMap { seg -> Expr? in if case let .splice(e, _) = seg { e } else { nil } }
            return try make(.path(segs), segs[0].span.through(segs[segs.count - 1].span), children)
        default:
            throw unexpected("an expression")
        }
    }
}
