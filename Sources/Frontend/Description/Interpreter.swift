// The description interpreter: runs the model body once, top to bottom, emitting one graph node per
// op layer through `GraphBuilder` (so every layer's shape is inferred and checked as it is created).
//
// Why an interpreter and not a macro expander: shapes decide names and structure (`if stride != 1 ||
// channels(input) != planes` adds a downsample), so the description must run with real shapes. A block
// call makes a fresh frame (its own variables, its own "previous layer", its name prefix); layer names
// are global full paths, so one dictionary of full name → output value resolves every reference,
// including references into an earlier sub-instance (`layer2.0`).
//
// Termination and size: recursion is rejected via the call stack, executed statements, layers,
// block depth and the combined depth of running bodies (which bounds the native stack) are capped, and
// every node's element counts and costs are checked with overflow-safe arithmetic before anything
// downstream (`Graph.macs`, byte counts) multiplies them. Counting iterations is not enough: a loop
// that doubles a string or a list grows exponentially, so every string and list is bounded in size
// (`maxValueSize`), so is every layer name, and the strings and lists built in a run are charged to a
// total (`maxAllocated`) that bounds the time spent copying and comparing them too.
import GraphIR

/// One block instance (or the model body) being run.
struct Frame {
    /// Full name of the instance; "" for the model.
    var prefix: String
    var vars: [String: Val]
    /// Output of the previous layer statement (initially the instance's input).
    var last: ValueID
    /// Static layer targets of the body, for cycle detection.
    var targets: [[String?]]
    var ranLayer = false
    /// The previous layer statement failed, so `last` is not its output.
    var lastFailed = false
}

struct Interpreter {
    static let maxLayers = 100_000
    static let maxSteps = 1_000_000
    static let maxBlockDepth = 64
    /// Bodies (block, `if`, `for`) being run at once. Each costs interpreter stack frames; ~1,300 levels
    /// overflowed a 512 KiB test thread in a debug build, so this keeps a wide margin.
    static let maxRunDepth = 256
    static let maxElements = 1 << 40
    static let maxCost = 1 << 60
    static let maxAttribute = 1 << 24
    /// Bytes of a string, elements of a list (nested lists and strings counted in full).
    static let maxValueSize = 1 << 16
    /// String bytes and list elements built during one run, in total (bounds time as well as memory).
    static let maxAllocated = 1 << 26
    /// Bytes of a layer's full name.
    static let maxNameLength = 1024

    var source: SourceText
    var declarations: [Declaration]
    var blocks: [String: Declaration] = [:]
    var builder: GraphBuilder
    /// Full layer name → its output.
    var defined: [String: ValueID] = [:]
    var currentLayer: String?
    var callStack: [String] = []
    var layers = 0
    var steps = 0
    var runDepth = 0
    var totalMacs = 0
    var totalOps = 0
    let allocation = Allocation()
    /// Errors of layers already reported; the run goes on to check later layers that do not read them.
    var recovered: [Diagnostic] = []
    /// Location, id and message of each recorded error: a loop's iterations report one error once.
    private var recoveredKeys: Set<String> = []
    /// Full names of layers that failed: reading one is not reported again (it is a consequence).
    var failed: Set<String> = []
    static let maxErrors = 100
    /// Errors after which the run stops: its bounds, and recursion.
    static let fatal: Set<String> = ["limit", "value-too-large", "recursion"]

    init(source: SourceText, declarations: [Declaration], name: String) {
        self.source = source
        self.declarations = declarations
        builder = GraphBuilder(name: name)
    }

    func error(_ id: String, _ message: String, _ span: Span) -> DiagnosticError {
        source.error(id, message, span, node: currentLayer)
    }

    // MARK: Statements

    mutating func run(_ body: [Statement], _ f: inout Frame) throws(DiagnosticError) {
        runDepth += 1
        defer { runDepth -= 1 }
        if runDepth > Self.maxRunDepth, let first = body.first {
            throw error(
                "limit", "blocks and bodies are nested more than \(Self.maxRunDepth) deep when run",
                statementSpan(first))
        }
        for statement in body {
            try step(statementSpan(statement))
            switch statement {
            case let .bind(name, span, value):
                guard name != "input" else {
                    throw error("duplicate-name", "'input' is the block's data input and cannot be rebound", span)
                }
                f.vars[name] = try eval(value, f)
            case let .branch(condition, then, otherwise):
                if try bool(try eval(condition, f), condition.span, "an 'if' condition") {
                    try run(then, &f)
                } else if let otherwise {
                    try run(otherwise, &f)
                }
            case let .loop(variable, span, from, to, body):
                guard variable != "input" else {
                    throw error(
                        "duplicate-name", "'input' is the block's data input and cannot be a loop variable", span)
                }
                let lo = try int(try eval(from, f), from.span, "a loop bound")
                let hi = try int(try eval(to, f), to.span, "a loop bound")
                if hi > lo {
                    let (count, overflow) = hi.subtractingReportingOverflow(lo)
                    guard !overflow, count <= Self.maxSteps else {
                        throw error(
                            "limit", "the loop runs too many times (limit \(Self.maxSteps))", from.span.through(to.span)
                        )
                    }
                    for i in lo..<hi {
                        try step(span)
                        f.vars[variable] = .int(i)
                        try run(body, &f)
                    }
                }
            case let .layer(layer):
                // A layer's error is recorded and the run goes on, so independent later layers are
                // checked too; layers reading a failed one fail silently (an empty error).
                do throws(DiagnosticError) {
                    try self.layer(layer, &f)
                    f.lastFailed = false
                } catch {
                    if error.diagnostics.contains(where: { Self.fatal.contains($0.id) }) { throw error }
                    for d in error.diagnostics
                    where recoveredKeys.insert("\(d.location.map(\.description) ?? "") \(d.id) \(d.message)").inserted {
                        recovered.append(d)
                    }
                    if recovered.count >= Self.maxErrors { throw DiagnosticError(recovered) }
                    f.lastFailed = true
                }
            }
        }
    }

    private mutating func step(_ span: Span) throws(DiagnosticError) {
        steps += 1
        guard steps <= Self.maxSteps else {
            throw error("limit", "the description runs more than \(Self.maxSteps) statements", span)
        }
    }

    private func statementSpan(_ s: Statement) -> Span {
        switch s {
        case let .layer(l): l.targetSpan
        case let .bind(_, span, _), let .loop(_, span, _, _, _): span
        case let .branch(condition, _, _): condition.span
        }
    }

    /// `TARGET = CALLEE(ARGS) <- REFS`: an op node or a block instance named `prefix.TARGET`.
    private mutating func layer(_ l: LayerStatement, _ f: inout Frame) throws(DiagnosticError) {
        var parts: [String] = []
        for segment in l.target { parts.append(try segmentText(segment, f)) }
        let path = parts.joined(separator: ".")
        let full = f.prefix.isEmpty ? path : "\(f.prefix).\(path)"
        guard full.utf8.count <= Self.maxNameLength else {
            throw error(
                "value-too-large",
                "the layer name would be \(full.utf8.count) bytes long, more than the limit "
                    + "of \(Self.maxNameLength)", l.targetSpan)
        }
        do throws(DiagnosticError) {
            try layer(l, path: path, full: full, &f)
        } catch {
            if defined[full] == nil { failed.insert(full) }
            throw error
        }
    }

    private mutating func layer(_ l: LayerStatement, path: String, full: String, _ f: inout Frame)
        throws(DiagnosticError)
    {
        let saved = currentLayer
        currentLayer = full
        defer { currentLayer = saved }
        guard path != "input" else {
            throw error("duplicate-name", "'input' names the data input; a layer cannot be called so", l.targetSpan)
        }
        guard defined[full] == nil else {
            throw error("duplicate-name", "layer '\(full)' is already defined", l.targetSpan)
        }
        var callee = l.callee
        if let v = f.vars[l.callee] {
            guard case let .string(name) = v else {
                throw error(
                    "type", "'\(l.callee)' is a variable holding \(describe(v)), not the name of an op or block",
                    l.calleeSpan)
            }
            callee = name
        }
        var inputs: [ValueID] = []
        if let refs = l.refs {
            for r in refs { inputs.append(try tensor(try eval(r, f), r.span, "a data input")) }
        } else {
            // The previous layer failed and was reported: this one cannot be checked.
            if f.lastFailed { throw DiagnosticError([]) }
            inputs = [f.last]
        }
        let output: ValueID
        if let parameters = Self.opParameters[callee] {
            output = try op(callee, parameters, l, inputs, full: full, scope: f.prefix, f)
            try account(l.callSpan)
        } else if let block = blocks[callee] {
            output = try instantiate(block, l, inputs, full: full, f)
        } else {
            let shown = callee == l.callee ? "'\(callee)'" : "'\(callee)' (the value of '\(l.callee)')"
            throw error("unknown-op", "unknown op or block \(shown)", l.calleeSpan)
        }
        defined[full] = output
        f.last = output
        f.ranLayer = true
    }

    /// Binds call arguments to `names`: positional first, then keywords; each value keeps its span.
    func bind(_ args: [Argument], to names: [String], callee: String, _ f: Frame) throws(DiagnosticError)
        -> [String: (Val, Span)]
    {
        var out: [String: (Val, Span)] = [:]
        var positional = 0
        var sawKeyword = false
        for a in args {
            let key: String
            if let label = a.label {
                guard names.contains(label) else {
                    let known =
                        names.isEmpty ? "it takes no arguments" : "its arguments are " + names.joined(separator: ", ")
                    throw error(
                        "unknown-argument", "\(callee) has no argument '\(label)' (\(known))", a.labelSpan ?? a.span)
                }
                key = label
                sawKeyword = true
            } else {
                guard !sawKeyword else {
                    throw error("syntax", "a positional argument cannot follow keyword arguments", a.span)
                }
                guard positional < names.count else {
                    throw error(
                        "unknown-argument", "\(callee) takes at most \(names.count) positional arguments", a.span)
                }
                key = names[positional]
                positional += 1
            }
            guard out[key] == nil else {
                throw error("unknown-argument", "argument '\(key)' of \(callee) is given twice", a.span)
            }
            out[key] = (try eval(a.value, f), a.span)
        }
        return out
    }

    /// Runs a block body in a new frame named `full`; its output is its last layer's.
    private mutating func instantiate(
        _ block: Declaration, _ l: LayerStatement, _ inputs: [ValueID], full: String,
        _ f: Frame
    ) throws(DiagnosticError) -> ValueID {
        if callStack.contains(block.name) {
            let chain = (callStack.drop { $0 != block.name } + [block.name]).joined(separator: " → ")
            throw error(
                "recursion", "block '\(block.name)' calls itself (\(chain)); blocks may not recurse",
                l.calleeSpan)
        }
        guard callStack.count < Self.maxBlockDepth else {
            throw error("limit", "blocks are nested more than \(Self.maxBlockDepth) deep", l.calleeSpan)
        }
        guard inputs.count == 1 else {
            throw error(
                "arity", "block '\(block.name)' takes 1 data input, got \(inputs.count)", l.refsSpan ?? l.calleeSpan)
        }
        let bound = try bind(l.arguments, to: block.parameters.map(\.name), callee: "block '\(block.name)'", f)
        var inner = Frame(prefix: full, vars: ["input": .tensor(inputs[0])], last: inputs[0], targets: block.targets)
        for p in block.parameters {
            if let (value, _) = bound[p.name] {
                inner.vars[p.name] = value
            } else if let d = p.defaultValue {
                inner.vars[p.name] = try eval(d, inner)
            } else {
                throw error("missing-argument", "block '\(block.name)' needs argument '\(p.name)'", l.callSpan)
            }
        }
        callStack.append(block.name)
        defer { callStack.removeLast() }
        let errorsBefore = recovered.count
        try run(block.body, &inner)
        // Errors inside were reported; the instance's output is not known.
        if recovered.count > errorsBefore || inner.lastFailed { throw DiagnosticError([]) }
        return inner.last
    }

    /// Checks the node just built: element counts, MACs and elementwise work must stay far from
    /// overflow, so any later arithmetic on the graph is safe.
    private mutating func account(_ span: Span) throws(DiagnosticError) {
        let graph = builder.graph
        let node = graph.nodes[graph.nodes.count - 1]
        for id in node.inputs.array + node.outputs.array
        where checkedProduct(graph[id].type.shape.array, limit: Self.maxElements) == nil {
            throw error(
                "bad-size",
                "'\(graph[id].name)' would have shape \(Shape.format(graph[id].type.shape)), "
                    + "more than 2^40 elements", span)
        }
        // The counts are GraphIR's cost rules (Op+Cost.swift), the ones graphc reports, so a model is
        // limited by the work it is said to have; they saturate at Int.max, which fails the limit.
        let operands = graph.operandTypes(of: node), results = graph.resultTypes(of: node)
        let layerMacs = node.op.macs(operands, results)
        let layerOps = node.op.elementwiseOps(operands, results)
        guard layerMacs <= Self.maxCost, layerOps <= Self.maxCost else {
            throw error("bad-size", "layer '\(node.name)' needs more than 2^60 operations", span)
        }
        let (macs, o1) = totalMacs.addingReportingOverflow(layerMacs)
        let (ops, o2) = totalOps.addingReportingOverflow(layerOps)
        guard !o1, !o2, macs <= Self.maxCost, ops <= Self.maxCost else {
            throw error("bad-size", "the model needs more than 2^60 operations", span)
        }
        totalMacs = macs
        totalOps = ops
        layers += 1
        guard layers <= Self.maxLayers else {
            throw error("limit", "the model has more than \(Self.maxLayers) layers", span)
        }
    }
}
