// Expression evaluation for the description interpreter.
//
// Values are dynamically typed (ints, floats, bools, strings, lists and tensor refs) and the
// semantics are Python's where they differ from Swift's, because the zoo files transcribe torchvision:
// `/` on ints floors, `%` takes the divisor's sign, `round` goes half to even. Nothing may trap on user
// input, so integer arithmetic uses the overflow-reporting operations and float results must be
// finite; every failure is an `arithmetic` or `type` diagnostic at the offending expression.
import GraphIR

/// A runtime value of the description language.
enum Val: Sendable, Equatable {
    case int(Int)
    case float(Double)
    case bool(Bool)
    case string(String)
    case list([Val])
    /// A tensor: the output of a layer, or a block's input.
    case tensor(ValueID)

    var typeName: String {
        switch self {
        case .int: "int"
        case .float: "float"
        case .bool: "bool"
        case .string: "string"
        case .list: "list"
        case .tensor: "tensor"
        }
    }

    var number: Double? {
        switch self {
        case let .int(i): Double(i)
        case let .float(f): f
        default: nil
        }
    }
}

/// Builds a tensor's element count, or nil if it overflows or exceeds `limit`.
func checkedProduct(_ values: [Int], limit: Int) -> Int? {
    var p = 1
    for v in values {
        guard v >= 0 else { return nil }
        let (m, overflow) = p.multipliedReportingOverflow(by: v)
        guard !overflow, m <= limit else { return nil }
        p = m
    }
    return p
}

/// Work and memory spent on building strings and lists, shared by every frame of one run.
final class Allocation {
    var used = 0
}

extension Interpreter {
    /// The size of `v` as the value bounds count it: a string's bytes; a list's elements plus the sizes
    /// of its elements, so nested (even shared) lists count in full. Stops counting past `limit` (nil),
    /// so measuring costs at most `limit` steps.
    static func size(of v: Val, limit: Int) -> Int? {
        var remaining = limit
        func visit(_ v: Val) -> Bool {
            switch v {
            case let .string(s): remaining -= s.utf8.count
            case let .list(items):
                remaining -= items.count
                if remaining < 0 { return false }
                for item in items {
                    guard visit(item) else { return false }
                }
            default: break
            }
            return remaining >= 0
        }
        return visit(v) ? limit - remaining : nil
    }

    /// Checks that `v` (named `what` in the message) is within the value bound and charges it to the run.
    func charge(_ v: Val, _ span: Span, _ what: String) throws(DiagnosticError) {
        guard let size = Self.size(of: v, limit: Self.maxValueSize) else {
            throw error(
                "value-too-large",
                "\(what) has more than \(Self.maxValueSize) elements (2^16, nested lists and "
                    + "strings counted in full)", span)
        }
        try charge(size, span)
    }

    /// Charges `amount` of string bytes and list elements built to the run's total.
    func charge(_ amount: Int, _ span: Span) throws(DiagnosticError) {
        allocation.used += amount
        guard allocation.used <= Self.maxAllocated else {
            throw error(
                "value-too-large",
                "the description builds more than \(Self.maxAllocated) string bytes and list "
                    + "elements in total (2^26)", span)
        }
    }

    func eval(_ e: Expr, _ f: Frame) throws(DiagnosticError) -> Val {
        switch e.kind {
        case let .int(v): return .int(v)
        case let .float(v): return .float(v)
        case let .bool(v): return .bool(v)
        case let .string(v): return .string(v)
        case let .list(items):
            var out: [Val] = []
            for item in items { out.append(try eval(item, f)) }
            let list = Val.list(out)
            try charge(list, e.span, "the list")
            return list
        case let .path(segments): return try resolve(segments, e.span, f)
        case let .call(name, args): return try function(name, args, e.span, f)
        case let .unary(op, x): return try unary(op, try eval(x, f), e.span)
        case let .binary(op, a, b):
            if op == "&&" || op == "||" {
                let lhs = try bool(try eval(a, f), a.span, "'\(op)'")
                if lhs == (op == "||") { return .bool(lhs) }
                return .bool(try bool(try eval(b, f), b.span, "'\(op)'"))
            }
            return try binary(op, try eval(a, f), try eval(b, f), e.span)
        case let .ternary(c, a, b):
            return try bool(try eval(c, f), c.span, "the condition of '?:'") ? try eval(a, f) : try eval(b, f)
        }
    }

    // MARK: Typed access

    func bool(_ v: Val, _ span: Span, _ what: String) throws(DiagnosticError) -> Bool {
        guard case let .bool(b) = v else { throw error("type", "\(what) must be a bool, got \(describe(v))", span) }
        return b
    }

    func int(_ v: Val, _ span: Span, _ what: String) throws(DiagnosticError) -> Int {
        guard case let .int(i) = v else { throw error("type", "\(what) must be an integer, got \(describe(v))", span) }
        return i
    }

    func number(_ v: Val, _ span: Span, _ what: String) throws(DiagnosticError) -> Double {
        guard let d = v.number else { throw error("type", "\(what) must be a number, got \(describe(v))", span) }
        return d
    }

    func tensor(_ v: Val, _ span: Span, _ what: String) throws(DiagnosticError) -> ValueID {
        guard case let .tensor(id) = v else {
            throw error("type", "\(what) must be a layer or 'input', got \(describe(v))", span)
        }
        return id
    }

    func describe(_ v: Val) -> String {
        switch v {
        case let .int(i): "int \(i)"
        case let .float(d): "float \(d)"
        case let .bool(b): "bool \(b)"
        case let .string(s):
            s.utf8.count <= 60 ? "string \"\(s)\"" : "string \"\(s.prefix(40))…\" (\(s.utf8.count) bytes)"
        case let .list(items): "list of \(items.count)"
        case let .tensor(id): "tensor '\(builder.graph[id].name)' \(builder.graph[id].type)"
        }
    }

    // MARK: Names

    /// The text of one path segment; spliced values must be non-negative ints or plain names.
    func segmentText(_ segment: Segment, _ f: Frame) throws(DiagnosticError) -> String {
        switch segment {
        case let .name(n, _): return n
        case let .index(i, _): return String(i)
        case let .splice(e, span):
            let v = try eval(e, f)
            if case let .int(i) = v, i >= 0 { return String(i) }
            if case let .string(s) = v, !s.isEmpty,
                s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ part in
                    !part.isEmpty
                        && part.utf8.allSatisfy { b in
                            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                                || b == 0x5F
                        }
                })
            {
                return s
            }
            throw error("type", "a spliced name must be a non-negative integer or a name, got \(describe(v))", span)
        }
    }

    /// A variable, `input`, or a layer defined earlier in this block instance (or inside one of its
    /// sub-instances). A miss is a `cycle` if the body defines that name later, else `undefined-name`.
    func resolve(_ segments: [Segment], _ span: Span, _ f: Frame) throws(DiagnosticError) -> Val {
        var parts: [String] = []
        for s in segments { parts.append(try segmentText(s, f)) }
        if parts.count == 1, let v = f.vars[parts[0]] { return v }
        let path = parts.joined(separator: ".")
        let full = f.prefix.isEmpty ? path : "\(f.prefix).\(path)"
        if let id = defined[full] { return .tensor(id) }
        // A layer that failed (and was reported): reading it is not a new error.
        if failed.contains(full) { throw DiagnosticError([]) }
        let later = f.targets.contains { target in
            target.count <= parts.count && zip(target, parts).allSatisfy { t, p in t == nil || t == p }
        }
        if later {
            throw error(
                "cycle",
                "'\(path)' refers to a layer that is not defined yet (it is defined later in "
                    + "this body, or is the layer itself): layers may only read earlier layers", span)
        }
        throw error("undefined-name", "'\(path)' is not defined", span)
    }

    // MARK: Operators

    func unary(_ op: String, _ v: Val, _ span: Span) throws(DiagnosticError) -> Val {
        switch (op, v) {
        case let ("-", .int(i)):
            guard i != Int.min else { throw error("arithmetic", "integer overflow", span) }
            return .int(-i)
        case let ("-", .float(d)): return .float(-d)
        case let ("!", .bool(b)): return .bool(!b)
        default: throw error("type", "cannot apply '\(op)' to \(describe(v))", span)
        }
    }

    func equal(_ a: Val, _ b: Val) -> Bool {
        switch (a, b) {
        case let (.list(x), .list(y)): x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.int, .float), (.float, .int): a.number == b.number
        default: a == b
        }
    }

    func binary(_ op: String, _ a: Val, _ b: Val, _ span: Span) throws(DiagnosticError) -> Val {
        func mismatch() -> DiagnosticError {
            error("type", "cannot apply '\(op)' to \(describe(a)) and \(describe(b))", span)
        }
        if case .list = a { try charge(a, span, "a compared list") }
        if case .string = a { try charge(a, span, "a compared string") }
        switch op {
        case "==": return .bool(equal(a, b))
        case "!=": return .bool(!equal(a, b))
        case "<", "<=", ">", ">=":
            let order: Int
            switch (a, b) {
            case let (.int(x), .int(y)): order = x < y ? -1 : (x == y ? 0 : 1)
            case let (.string(x), .string(y)): order = x < y ? -1 : (x == y ? 0 : 1)
            default:
                guard let x = a.number, let y = b.number else { throw mismatch() }
                order = x < y ? -1 : (x == y ? 0 : 1)
            }
            switch op {
            case "<": return .bool(order < 0)
            case "<=": return .bool(order <= 0)
            case ">": return .bool(order > 0)
            default: return .bool(order >= 0)
            }
        default: break
        }
        switch (a, b) {
        case let (.int(x), .int(y)): return try integer(op, x, y, span)
        case let (.string(x), .string(y)) where op == "+":
            let size = x.utf8.count + y.utf8.count
            guard size <= Self.maxValueSize else {
                throw error(
                    "value-too-large",
                    "the result of '+' would be a string of \(size) bytes, more than the "
                        + "limit of \(Self.maxValueSize) (2^16)", span)
            }
            try charge(size, span)
            return .string(x + y)
        case let (.list(x), .list(y)) where op == "+":
            guard let sx = Self.size(of: a, limit: Self.maxValueSize),
                let sy = Self.size(of: b, limit: Self.maxValueSize),
                sx + sy <= Self.maxValueSize
            else {
                throw error(
                    "value-too-large",
                    "the result of '+' would be a list of more than \(Self.maxValueSize) "
                        + "elements (2^16, nested lists and strings counted in full)", span)
            }
            try charge(sx + sy, span)
            return .list(x + y)
        default:
            guard let x = a.number, let y = b.number else { throw mismatch() }
            let r: Double
            switch op {
            case "+": r = x + y
            case "-": r = x - y
            case "*": r = x * y
            case "/", "%":
                guard y != 0 else { throw error("arithmetic", "division by zero", span) }
                if op == "/" {
                    r = x / y
                } else {
                    var m = x.truncatingRemainder(dividingBy: y)
                    if m != 0 && (m < 0) != (y < 0) { m += y }
                    r = m
                }
            default: throw mismatch()
            }
            guard r.isFinite else { throw error("arithmetic", "the result of '\(op)' is not finite", span) }
            return .float(r)
        }
    }

    private func integer(_ op: String, _ x: Int, _ y: Int, _ span: Span) throws(DiagnosticError) -> Val {
        let result: (Int, Bool)
        switch op {
        case "+": result = x.addingReportingOverflow(y)
        case "-": result = x.subtractingReportingOverflow(y)
        case "*": result = x.multipliedReportingOverflow(by: y)
        case "/", "%":
            guard y != 0 else { throw error("arithmetic", "division by zero", span) }
            let (q, qo) = x.dividedReportingOverflow(by: y)
            let (r, _) = x.remainderReportingOverflow(dividingBy: y)
            if op == "/" {
                // Floor division, as Python's `//`.
                result = r != 0 && (r < 0) != (y < 0) ? (q - 1, qo) : (q, qo)
            } else {
                result = (r != 0 && (r < 0) != (y < 0) ? r + y : r, false)
            }
        default: throw error("type", "cannot apply '\(op)' to integers", span)
        }
        guard !result.1 else { throw error("arithmetic", "integer overflow in '\(op)'", span) }
        return .int(result.0)
    }

    // MARK: Functions

    func function(_ name: String, _ args: [Argument], _ span: Span, _ f: Frame) throws(DiagnosticError) -> Val {
        let arity: ClosedRange<Int>
        switch name {
        case "channels", "int", "round": arity = 1...1
        case "size", "make_divisible": arity = 2...2
        case "max", "min": arity = 2...64
        default:
            throw error(
                "undefined-name",
                "unknown function '\(name)' (functions: channels, size, max, min, "
                    + "int, round, make_divisible)", span)
        }
        var values: [Val] = []
        for a in args {
            if let label = a.label, let labelSpan = a.labelSpan {
                throw error("unknown-argument", "\(name)() takes no keyword arguments ('\(label)')", labelSpan)
            }
            values.append(try eval(a.value, f))
        }
        guard values.count >= arity.lowerBound else {
            throw error("missing-argument", "\(name)() takes \(arity.lowerBound) arguments, got \(values.count)", span)
        }
        guard values.count <= arity.upperBound else {
            throw error(
                "unknown-argument", "\(name)() takes \(arity.upperBound) arguments, got \(values.count)",
                args[arity.upperBound].span)
        }
        func shape(_ k: Int) throws(DiagnosticError) -> Shape {
            builder.graph[try tensor(values[k], args[k].span, "the argument of \(name)()")].type.shape
        }
        switch name {
        case "channels":
            let s = try shape(0)
            guard s.count >= 2 else {
                throw error("rank", "channels() needs a tensor of rank >= 2, got \(Shape.format(s))", span)
            }
            return .int(s[1])
        case "size":
            let s = try shape(0)
            var d = try int(values[1], args[1].span, "the dimension")
            if d < 0 && d >= -s.count { d += s.count }
            guard d >= 0 && d < s.count else {
                throw error("rank", "dimension \(d) is out of range for shape \(Shape.format(s))", args[1].span)
            }
            return .int(s[d])
        case "max", "min":
            var best = values[0]
            for (k, v) in values.enumerated() {
                let x = try number(v, args[k].span, "an argument of \(name)()")
                let y = try number(best, args[0].span, "an argument of \(name)()")
                if name == "max" ? x > y : x < y { best = v }
            }
            return best
        case "int", "round":
            if case .int = values[0] { return values[0] }
            let x = try number(values[0], args[0].span, "the argument of \(name)()")
            let r = name == "int" ? x.rounded(.towardZero) : x.rounded(.toNearestOrEven)
            guard r > -9.2e18 && r < 9.2e18 else { throw error("arithmetic", "\(x) does not fit an integer", span) }
            return .int(Int(r))
        default:  // make_divisible, torchvision's _make_divisible with min_value = divisor.
            let v = try number(values[0], args[0].span, "the value")
            let d = try int(values[1], args[1].span, "the divisor")
            guard d > 0, d < 1 << 30 else {
                throw error("bad-size", "the divisor must be positive, got \(d)", args[1].span)
            }
            guard abs(v) < 1e15 else { throw error("arithmetic", "\(v) is too large", args[0].span) }
            let rounded = Int((v + Double(d) / 2).rounded(.towardZero))
            let floored = rounded >= 0 ? rounded / d : (rounded - d + 1) / d
            var result = max(d, floored * d)
            if Double(result) < 0.9 * v { result += d }
            return .int(result)
        }
    }
}
