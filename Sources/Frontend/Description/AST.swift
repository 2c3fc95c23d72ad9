// The syntax tree of a `.model` file. Every node keeps its byte span so that any error found while
// running the description (which is when shapes, and so most errors, become known) can point at the
// text responsible. Expressions record their depth so the evaluator's recursion is bounded by the
// parser's nesting limit, left-deep operator chains included.
import GraphIR

/// One segment of a dotted layer path: `layer1`, `0`, or `{i}` (spliced in when run).
enum Segment: Sendable {
    case name(String, Span)
    case index(Int, Span)
    case splice(Expr, Span)

    var span: Span {
        switch self {
        case let .name(_, s), let .index(_, s), let .splice(_, s): s
        }
    }

    /// The literal text, or nil for a splice (a wildcard when matching paths statically).
    var literal: String? {
        switch self {
        case let .name(n, _): n
        case let .index(i, _): String(i)
        case .splice: nil
        }
    }
}

struct Argument: Sendable {
    var label: String?
    var labelSpan: Span?
    var value: Expr

    var span: Span { labelSpan.map { $0.through(value.span) } ?? value.span }
}

indirect enum ExprKind: Sendable {
    case int(Int)
    case float(Double)
    case bool(Bool)
    case string(String)
    case list([Expr])
    /// A variable, `input`, or a dotted layer path (a tensor ref).
    case path([Segment])
    /// A built-in function: `channels(x)`, `max(a, b)`.
    case call(String, [Argument])
    case unary(String, Expr)
    case binary(String, Expr, Expr)
    case ternary(Expr, Expr, Expr)
}

struct Expr: Sendable {
    var kind: ExprKind
    var span: Span
    var depth: Int
}

struct LayerStatement: Sendable {
    var target: [Segment]
    var targetSpan: Span
    var callee: String
    var calleeSpan: Span
    var arguments: [Argument]
    /// From the callee to the closing parenthesis.
    var callSpan: Span
    /// Explicit data inputs (`<- a, b`), or nil for "the previous layer".
    var refs: [Expr]?
    var refsSpan: Span?
}

indirect enum Statement: Sendable {
    case layer(LayerStatement)
    case bind(name: String, span: Span, value: Expr)
    case branch(condition: Expr, then: [Statement], else: [Statement]?)
    case loop(variable: String, span: Span, from: Expr, to: Expr, body: [Statement])
}

struct Parameter: Sendable {
    var name: String
    var span: Span
    var defaultValue: Expr?
}

/// A `model` or a `block` declaration.
struct Declaration: Sendable {
    var isModel: Bool
    var name: String
    var nameSpan: Span
    var parameters: [Parameter]
    var body: [Statement]
    /// Every layer target in the body, with splices as nil wildcards: used to tell a reference to a
    /// later layer (`cycle`) from one to a name that exists nowhere (`undefined-name`).
    var targets: [[String?]]
}
