// Op layers of the description language: argument binding, validation and node emission.
//
// Arguments are validated here, against their own source spans, before `GraphBuilder` sees them:
// sizes must be positive and at most 2^24 (so the shape arithmetic in `Op+Shape.swift` cannot
// overflow), pairs are an int or `[h, w]`, and the optional `in`/`features` checks compare against
// the actual input. What only shape inference can tell (a kernel larger than its padded input,
// unbroadcastable operands) comes back as a `ShapeError` and is located at the call.
import GraphIR

extension Interpreter {
    /// Argument names of each op, in positional order (docs/model-format.md, "Ops").
    static let opParameters: [String: [String]] = [
        "conv2d": ["out", "kernel", "stride", "padding", "dilation", "groups", "bias", "in"],
        "batch_norm": ["eps", "momentum", "features"],
        "linear": ["out", "bias", "in"],
        "relu": [], "relu6": [], "hardswish": [], "hardsigmoid": [], "silu": [], "sigmoid": [],
        "add": [], "mul": [],
        "max_pool2d": ["kernel", "stride", "padding", "ceil_mode"],
        "avg_pool2d": ["kernel", "stride", "padding", "ceil_mode"],
        "adaptive_avg_pool2d": ["output"],
        "flatten": ["start"],
        "dropout": ["p"],
    ]

    /// Emits the node for op `name`; returns its output.
    mutating func op(
        _ name: String, _ parameters: [String], _ l: LayerStatement, _ inputs: [ValueID],
        full: String, scope: String, _ f: Frame
    ) throws(DiagnosticError) -> ValueID {
        let expected = name == "add" || name == "mul" ? 2 : 1
        guard inputs.count == expected else {
            throw error(
                "arity",
                "\(name) takes \(expected) data input\(expected == 1 ? "" : "s"), got \(inputs.count)"
                    + (l.refs == nil ? " (without '<-' a layer reads only the previous layer)" : ""),
                l.refsSpan ?? l.calleeSpan)
        }
        let args = try bind(l.arguments, to: parameters, callee: name, f)
        let x = inputs[0]
        let shape = builder.type(of: x).shape

        func required(_ key: String) throws(DiagnosticError) -> (Val, Span) {
            guard let a = args[key] else {
                throw error("missing-argument", "\(name) needs argument '\(key)'", l.callSpan)
            }
            return a
        }
        func size(_ a: (Val, Span)?, _ key: String, _ fallback: Int, minimum: Int = 1) throws(DiagnosticError) -> Int {
            guard let (v, span) = a else { return fallback }
            let n = try int(v, span, "\(name) argument '\(key)'")
            guard n >= minimum else {
                throw error(
                    "bad-size",
                    "\(name) argument '\(key)' must be \(minimum == 0 ? "zero or more" : "positive"), "
                        + "got \(n)", span)
            }
            guard n <= Self.maxAttribute else {
                throw error("bad-size", "\(name) argument '\(key)' is too large (\(n) > 2^24)", span)
            }
            return n
        }
        func pair(_ a: (Val, Span)?, _ key: String, _ fallback: Pair, minimum: Int = 1) throws(DiagnosticError) -> Pair
        {
            guard let (v, span) = a else { return fallback }
            switch v {
            case .int: return Pair(try size(a, key, 0, minimum: minimum))
            case let .list(items) where items.count == 2:
                return Pair(
                    try size((items[0], span), key, 0, minimum: minimum),
                    try size((items[1], span), key, 0, minimum: minimum))
            default:
                throw error(
                    "type", "\(name) argument '\(key)' must be an integer or a pair [h, w], got \(describe(v))", span)
            }
        }
        func flag(_ key: String, _ fallback: Bool) throws(DiagnosticError) -> Bool {
            guard let (v, span) = args[key] else { return fallback }
            return try bool(v, span, "\(name) argument '\(key)'")
        }
        func real(_ key: String, _ fallback: Double) throws(DiagnosticError) -> Double {
            guard let (v, span) = args[key] else { return fallback }
            return try number(v, span, "\(name) argument '\(key)'")
        }
        /// `in = N` / `features = N`: the input's channels (dimension `dim`) must be N.
        func check(_ key: String, dim: Int?) throws(DiagnosticError) {
            guard let (_, span) = args[key] else { return }
            let n = try size(args[key], key, 0)
            guard let dim, dim < shape.count else { return }
            guard shape[dim] == n else {
                throw error(
                    "channel-mismatch",
                    "\(name) expects \(n) input \(key == "features" ? "features" : "channels") "
                        + "('\(key) = \(n)') but its input '\(builder.graph[x].name)' has \(shape[dim]) "
                        + "(shape \(Shape.format(shape)))", span)
            }
        }

        let span = l.callSpan
        switch name {
        case "conv2d":
            let out = try size(try required("out"), "out", 0)
            let kernel = try pair(try required("kernel"), "kernel", Pair(1))
            let stride = try pair(args["stride"], "stride", Pair(1))
            let padding = try pair(args["padding"], "padding", Pair(0), minimum: 0)
            let dilation = try pair(args["dilation"], "dilation", Pair(1))
            let groups = try size(args["groups"], "groups", 1)
            let bias = try flag("bias", true)
            try check("in", dim: 1)
            return try build(span) { (b: inout GraphBuilder) throws(ShapeError) -> ValueID in
                try b.conv2d(
                    x, out: out, kernel: kernel, stride: stride, padding: padding, dilation: dilation,
                    groups: groups, bias: bias, name: full, scope: scope)
            }
        case "batch_norm":
            let eps = try real("eps", 1e-5)
            let momentum = try real("momentum", 0.1)
            if let (_, s) = args["eps"], !(eps > 0 && eps.isFinite) {
                throw error("bad-attribute", "batch_norm eps must be positive, got \(eps)", s)
            }
            if let (_, s) = args["momentum"], !(momentum >= 0 && momentum <= 1) {
                throw error("bad-attribute", "batch_norm momentum must be in [0, 1], got \(momentum)", s)
            }
            try check("features", dim: 1)
            return try build(span) { (b: inout GraphBuilder) throws(ShapeError) -> ValueID in
                try b.batchNorm(x, eps: eps, momentum: momentum, name: full, scope: scope)
            }
        case "linear":
            let out = try size(try required("out"), "out", 0)
            let bias = try flag("bias", true)
            try check("in", dim: shape.count - 1)
            return try build(span) { (b: inout GraphBuilder) throws(ShapeError) -> ValueID in
                try b.linear(x, out: out, bias: bias, name: full, scope: scope)
            }
        case "max_pool2d", "avg_pool2d":
            let kernel = try pair(try required("kernel"), "kernel", Pair(1))
            let stride = try pair(args["stride"], "stride", kernel)
            let padding = try pair(args["padding"], "padding", Pair(0), minimum: 0)
            let attrs = Pool2dAttrs(
                kernel: kernel, stride: stride, padding: padding, ceilMode: try flag("ceil_mode", false))
            return try emit(name == "max_pool2d" ? .maxPool2d(attrs) : .avgPool2d(attrs), inputs, full, scope, span)
        case "adaptive_avg_pool2d":
            return try emit(
                .adaptiveAvgPool2d(output: try pair(args["output"], "output", Pair(1))), inputs, full, scope, span)
        case "flatten":
            var start = 1
            if let (v, s) = args["start"] {
                start = try int(v, s, "flatten argument 'start'")
                if start < 0 && start >= -shape.count { start += shape.count }
            }
            return try emit(.flatten(startDim: start), inputs, full, scope, span)
        case "dropout":
            return try emit(.dropout(p: try real("p", 0.5)), inputs, full, scope, span)
        case "relu": return try emit(.relu, inputs, full, scope, span)
        case "relu6": return try emit(.relu6, inputs, full, scope, span)
        case "hardswish": return try emit(.hardswish, inputs, full, scope, span)
        case "hardsigmoid": return try emit(.hardsigmoid, inputs, full, scope, span)
        case "silu": return try emit(.silu, inputs, full, scope, span)
        case "sigmoid": return try emit(.sigmoid, inputs, full, scope, span)
        case "add": return try emit(.add, inputs, full, scope, l.refsSpan ?? span)
        default: return try emit(.mul, inputs, full, scope, l.refsSpan ?? span)
        }
    }

    private mutating func emit(_ op: Op, _ inputs: [ValueID], _ full: String, _ scope: String, _ span: Span)
        throws(DiagnosticError) -> ValueID
    {
        let shapes = inputs.map { builder.type(of: $0).shape.array }
        return try build(span, shapes: shapes) { (b: inout GraphBuilder) throws(ShapeError) -> ValueID in
            try b.node(op, inputs, name: full, scope: scope)[0]
        }
    }

    /// Runs a builder call, turning its `ShapeError` into a located diagnostic. A broadcast failure in
    /// the channel dimension (`add` of a 16- and a 32-channel tensor) is reported as `channel-mismatch`.
    private mutating func build(
        _ span: Span, shapes: [[Int]] = [],
        _ body: (inout GraphBuilder) throws(ShapeError) -> ValueID
    ) throws(DiagnosticError)
        -> ValueID
    {
        do {
            return try body(&builder)
        } catch {
            var id = error.id
            if id == "shape-mismatch", shapes.count == 2, case let (a, b) = (shapes[0], shapes[1]),
                a.count >= 2, a.count == b.count, a[1] != b[1], a[1] != 1, b[1] != 1
            {
                id = "channel-mismatch"
            }
            throw self.error(id, error.message, span)
        }
    }
}
