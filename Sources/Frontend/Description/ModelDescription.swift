// Entry point of the model description compiler: bytes → tokens → declarations → checks → a run of
// the model body → a verified `Graph`.
//
// Declaration-level rules (one model, unique names, parameter order) are checked before anything
// runs, so those errors do not depend on which branches execute. Overrides (`--input`, `--classes`,
// `--set`) replace parameter defaults before the body runs; `--set` values are parsed as expressions
// of the language, and errors in them are located in a pseudo-file named `--set NAME`.
import GraphIR

/// Values that replace a model's parameter defaults (`graphc --input/--classes/--batch/--set`).
public struct ModelOverrides: Sendable {
    /// Per-sample input shape, e.g. `[3, 224, 224]`; replaces the `input` parameter.
    public var input: [Int]?
    /// Replaces the `classes` parameter.
    public var classes: Int?
    /// Batch size, prepended to the input shape.
    public var batch: Int = 1
    /// `--set name=value`: each value is an expression of the language (`2`, `0.5`, `true`, `"basic"`, `3x32x32`).
    public var set: [String: String] = [:]

    /// Overrides; all default to the model's own values and a batch of 1.
    public init(input: [Int]? = nil, classes: Int? = nil, batch: Int = 1, set: [String: String] = [:]) {
        self.input = input
        self.classes = classes
        self.batch = batch
        self.set = set
    }
}

/// The result of compiling a description: the graph and the parameters it was built with.
public struct CompiledModel: Sendable {
    /// The verified inference graph; its input is `input : f32[batch, ...input]`.
    public var graph: Graph
    /// The model's declared name.
    public var name: String
    /// Per-sample input shape, e.g. `[3, 224, 224]`.
    public var input: [Int]
    /// The `classes` parameter, when the model has an integer one.
    public var classes: Int?
    /// Batch size of the graph input.
    public var batch: Int
}

/// The `.model` description compiler (docs/model-format.md).
public enum ModelDescription {
    /// Compiles the description in `source` (the bytes of file `file`) into a verified graph.
    public static func compile(source: [UInt8], file: String, overrides: ModelOverrides = .init())
        throws(DiagnosticError) -> CompiledModel
    {
        let text = SourceText(file: file, bytes: source)
        let tokens = try Lexer.tokenize(text)
        if tokens.allSatisfy({ $0.kind == .newline || $0.kind == .eof }) {
            throw text.error("empty-file", "the file is empty: it must declare a model", Span(0, 0))
        }
        var parser = Parser(tokens: tokens, source: text)
        let declarations = try parser.parseFile()
        var interpreter = Interpreter(source: text, declarations: declarations, name: "model")
        return try interpreter.compileModel(overrides)
    }

    /// Compiles a description given as a string.
    public static func compile(_ source: String, file: String = "<string>", overrides: ModelOverrides = .init())
        throws(DiagnosticError) -> CompiledModel
    {
        try compile(source: Array(source.utf8), file: file, overrides: overrides)
    }
}

extension Interpreter {
    /// Checks the declarations, binds the model's parameters and runs its body.
    mutating func compileModel(_ overrides: ModelOverrides) throws(DiagnosticError) -> CompiledModel {
        let model = try checkDeclarations()
        builder = GraphBuilder(name: model.name)
        let names = Set(model.parameters.map(\.name))
        let listed =
            model.parameters.isEmpty
            ? "it has none"
            : "its parameters are "
                + model.parameters.map(\.name).joined(separator: ", ")
        for key in overrides.set.keys.sorted() where !names.contains(key) {
            throw error(
                "unknown-argument", "model '\(model.name)' has no parameter '\(key)' (--set \(key)=...; \(listed))",
                model.nameSpan)
        }
        if overrides.classes != nil && !names.contains("classes") {
            throw error(
                "unknown-argument", "model '\(model.name)' has no 'classes' parameter (\(listed))", model.nameSpan)
        }
        guard names.contains("input") else {
            throw error(
                "missing-argument",
                "model '\(model.name)' needs an 'input' parameter, the per-sample input "
                    + "shape (for example `input = 3x224x224`)", model.nameSpan)
        }
        guard overrides.batch >= 1 && overrides.batch <= Self.maxAttribute else {
            throw error("bad-size", "the batch size must be between 1 and 2^24, got \(overrides.batch)", model.nameSpan)
        }

        var frame = Frame(prefix: "", vars: [:], last: ValueID(0), targets: model.targets)
        var input: [Int] = []
        var classes: Int?
        for p in model.parameters {
            // The value, and where to point if it does not fit.
            var value: Val
            var origin = (source, p.span, "")
            if let text = overrides.set[p.name] {
                (value, origin.0, origin.1) = try evalOverride(text, name: p.name)
            } else if p.name == "input", let dims = overrides.input {
                value = .list(dims.map { .int($0) })
                origin.2 = " (from the input override)"
            } else if p.name == "classes", let n = overrides.classes {
                value = .int(n)
                origin.2 = " (from the classes override)"
            } else if let d = p.defaultValue {
                value = try eval(d, frame)
                origin.1 = d.span
            } else {
                throw error(
                    "missing-argument", "model parameter '\(p.name)' has no default; set it with --set \(p.name)=VALUE",
                    p.span)
            }
            let (src, span, note) = origin
            if p.name == "input" {
                guard case let .list(items) = value, !items.isEmpty else {
                    throw src.error(
                        "type", "input must be a shape such as 3x224x224, got \(describe(value))\(note)", span)
                }
                for item in items {
                    guard case let .int(d) = item else {
                        throw src.error("type", "input dimensions must be integers, got \(describe(item))\(note)", span)
                    }
                    guard d >= 1 && d <= Self.maxAttribute else {
                        throw src.error(
                            "bad-size", "input dimensions must be between 1 and 2^24, got \(d)\(note)", span)
                    }
                    input.append(d)
                }
                guard input.count < Shape.maxRank else {
                    throw src.error(
                        "bad-rank",
                        "the input has \(input.count) dimensions; with the batch that exceeds "
                            + "graphc's maximum rank \(Shape.maxRank)\(note)", span)
                }
                guard checkedProduct([overrides.batch] + input, limit: Self.maxElements) != nil else {
                    throw src.error("bad-size", "the input has more than 2^40 elements\(note)", span)
                }
            } else if p.name == "classes", case let .int(n) = value {
                guard n >= 1 && n <= Self.maxAttribute else {
                    throw src.error("bad-size", "classes must be between 1 and 2^24, got \(n)\(note)", span)
                }
                classes = n
            }
            frame.vars[p.name] = value
        }

        let x = builder.input("input", .f32(Shape([overrides.batch] + input)))
        frame.vars["input"] = .tensor(x)
        frame.last = x
        // Layer errors were recorded as the run went on (`recovered`); a statement that is not a layer
        // stops it, with its own error, or silently when it read a layer that failed.
        do throws(DiagnosticError) {
            try run(model.body, &frame)
        } catch {
            throw DiagnosticError(recovered + error.diagnostics.filter { !recovered.contains($0) })
        }
        if !recovered.isEmpty { throw DiagnosticError(recovered) }
        guard frame.ranLayer else {
            throw error("no-model", "model '\(model.name)' has no layers", model.nameSpan)
        }
        builder.output(frame.last)
        let graph = builder.graph
        do {
            try Verifier.check(graph)
        } catch {
            // Not expected: the builder infers every type. Locate it anyway, at the model.
            let at = source.diagnostic("x", "", model.nameSpan)
            throw DiagnosticError(
                error.diagnostics.map { d in
                    var d = d
                    if d.location == nil {
                        (d.location, d.sourceLine, d.length) = (at.location, at.sourceLine, at.length)
                    }
                    return d
                })
        }
        return CompiledModel(graph: graph, name: model.name, input: input, classes: classes, batch: overrides.batch)
    }

    /// Parses and evaluates a `--set` value; errors point into a pseudo-file `--set NAME`.
    private mutating func evalOverride(_ text: String, name: String) throws(DiagnosticError) -> (Val, SourceText, Span)
    {
        let setSource = SourceText(file: "--set \(name)", bytes: Array(text.utf8))
        let saved = source
        source = setSource
        defer { source = saved }
        let tokens = try Lexer.tokenize(setSource)
        var parser = Parser(tokens: tokens, source: setSource)
        let e = try parser.standaloneExpression()
        let value = try eval(e, Frame(prefix: "", vars: [:], last: ValueID(0), targets: []))
        return (value, setSource, e.span)
    }

    /// One model; blocks uniquely named and not named like ops; parameters unique, required first.
    private mutating func checkDeclarations() throws(DiagnosticError) -> Declaration {
        var seen: [String: Declaration] = [:]
        var model: Declaration?
        for d in declarations {
            if d.isModel, let first = model {
                throw error(
                    "duplicate-name", "a file holds exactly one model; '\(first.name)' is already declared",
                    d.nameSpan)
            }
            if Self.opParameters[d.name] != nil || Op.allNames.contains(d.name) {
                throw error("duplicate-name", "'\(d.name)' is the name of an op", d.nameSpan)
            }
            if seen[d.name] != nil {
                throw error("duplicate-name", "'\(d.name)' is declared twice", d.nameSpan)
            }
            seen[d.name] = d
            var params = Set<String>()
            var sawDefault = false
            for p in d.parameters {
                guard params.insert(p.name).inserted else {
                    throw error("duplicate-name", "parameter '\(p.name)' is declared twice", p.span)
                }
                if !d.isModel && p.name == "input" {
                    throw error("duplicate-name", "'input' is the block's data input and cannot be a parameter", p.span)
                }
                if p.defaultValue != nil {
                    sawDefault = true
                } else if sawDefault && !d.isModel {
                    throw error("syntax", "parameter '\(p.name)' without a default follows one with a default", p.span)
                }
            }
            if d.isModel { model = d } else { blocks[d.name] = d }
        }
        guard let model else {
            throw error(
                "no-model", "the file declares no model (add `model NAME(input = ...) { ... }`)",
                declarations.first?.nameSpan ?? Span(0, 0))
        }
        return model
    }
}
