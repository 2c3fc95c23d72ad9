import GraphIR

/// A named graph transformation. Names are kebab-case and double as the CLI spelling
/// (`--print-ir-after lora`). At heart a pass is `(Graph) throws -> Graph`.
public protocol Pass: Sendable {
    /// kebab-case name: `freeze`, `lora`, `autodiff`, `dce`.
    var name: String { get }
    /// One line on what it does.
    var summary: String { get }
    func run(_ graph: Graph) throws -> Graph
}

/// Runs passes in order, verifying the graph after each; an error names the failing pass and the ones
/// that ran before it. An observer sees the graph after every pass (`--print-ir-after`).
public struct PassPipeline: Sendable {
    public var passes: [any Pass]

    public init(_ passes: [any Pass]) { self.passes = passes }

    public func run(_ graph: Graph, after observe: (String, Graph) throws -> Void = { _, _ in }) throws(PassError)
        -> Graph
    {
        var current = graph
        for (index, pass) in passes.enumerated() {
            let before = passes[..<index].map(\.name)
            do {
                current = try pass.run(current)
            } catch let error as DiagnosticError {
                throw PassError(pass: pass.name, previous: before, diagnostics: error.diagnostics)
            } catch let error as Diagnostic {
                throw PassError(pass: pass.name, previous: before, diagnostics: [error])
            } catch let error as ShapeError {
                throw PassError(pass: pass.name, previous: before, diagnostics: [.error(error.id, error.message)])
            } catch {
                throw PassError(pass: pass.name, previous: before,
                                diagnostics: [.error("pass-failed", String(describing: error))])
            }
            let problems = Verifier.verify(current).filter { $0.severity == .error }
            if !problems.isEmpty {
                throw PassError(pass: pass.name, previous: before, diagnostics: problems, producedInvalidGraph: true)
            }
            do {
                try observe(pass.name, current)
            } catch {
                throw PassError(pass: pass.name, previous: before,
                                diagnostics: [.error("observer-failed", String(describing: error))])
            }
        }
        return current
    }
}

/// A pass failed, or produced a graph that does not verify (a bug in the pass, never the user's).
public struct PassError: Error, Sendable, CustomStringConvertible {
    public var pass: String
    public var previous: [String]
    public var diagnostics: [Diagnostic]
    public var producedInvalidGraph: Bool = false

    public var description: String {
        var text = producedInvalidGraph
            ? "pass '\(pass)' produced an invalid graph (a graphc bug; please report it)"
            : "pass '\(pass)' failed"
        if !previous.isEmpty { text += " (after " + previous.joined(separator: ", ") + ")" }
        return text + ":\n" + diagnostics.map { "  " + $0.description }.joined(separator: "\n")
    }
}
