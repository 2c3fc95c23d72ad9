import Dispatch
import GraphIR
import Synchronization

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
/// that ran before it. An observer sees the graph after every pass (`--print-ir-after`), once it has
/// verified.
///
/// Graphs are values, so the verification of one pass's result runs on a second thread while the next
/// pass rewrites it; the pipeline waits for it before it reports anything of the later pass. Errors
/// come out exactly as if the two ran one after the other: an earlier pass's invalid graph first.
public struct PassPipeline: Sendable {
    public var passes: [any Pass]

    public init(_ passes: [any Pass]) { self.passes = passes }

    public func run(_ graph: Graph, after observe: (String, Graph) throws -> Void = { _, _ in }) throws(PassError)
        -> Graph
    {
        var current = graph
        var pending: PendingVerification?
        /// Waits for the last pass's verification; throws if its graph is invalid, else shows it to the observer.
        func settle() throws(PassError) {
            guard let p = pending else { return }
            pending = nil
            let problems = p.wait().filter { $0.severity == .error }
            if !problems.isEmpty {
                throw PassError(
                    pass: passes[p.index].name, previous: passes[..<p.index].map(\.name),
                    diagnostics: problems, producedInvalidGraph: true)
            }
            try show(p.index, p.graph)
        }
        func show(_ index: Int, _ graph: Graph) throws(PassError) {
            do {
                try observe(passes[index].name, graph)
            } catch {
                throw PassError(
                    pass: passes[index].name, previous: passes[..<index].map(\.name),
                    diagnostics: [.error("observer-failed", String(describing: error))])
            }
        }
        for (index, pass) in passes.enumerated() {
            let before = passes[..<index].map(\.name)
            let next: Graph
            do {
                next = try pass.run(current)
            } catch {
                try settle()
                throw PassError(pass: pass.name, previous: before, diagnostics: Self.diagnostics(of: error))
            }
            try settle()
            // A pass that changed nothing (dce with nothing dead) returns its input, which has verified
            // (the pipeline's own input has not: it is verified as the first pass's result would be).
            if index > 0 && next.sharesStorage(with: current) {
                try show(index, next)
            } else {
                pending = PendingVerification(index: index, graph: next)
            }
            current = next
        }
        try settle()
        return current
    }

    /// What a pass threw, as diagnostics.
    private static func diagnostics(of error: any Error) -> [Diagnostic] {
        switch error {
        case let error as DiagnosticError: error.diagnostics
        case let error as Diagnostic: [error]
        case let error as ShapeError: [.error(error.id, error.message)]
        default: [.error("pass-failed", String(describing: error))]
        }
    }
}

/// `Verifier.verify` of one pass's result, split into tasks (`Verification`) that a worker on a global
/// queue runs while the next pass does; `wait()` helps with the tasks still unclaimed, so the waiting
/// thread never idles, then returns the diagnostics in the verifier's order.
private final class PendingVerification: Sendable {
    let index: Int
    let graph: Graph

    private struct State {
        var verification: Verification?
        var next = 0
        var results: [[Diagnostic]] = []
        var completed = 0
    }
    private let state = Mutex(State())
    /// Signalled once, by whoever stores the last task's result.
    private let done = DispatchSemaphore(value: 0)

    init(index: Int, graph: Graph) {
        self.index = index
        self.graph = graph
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            let verification = Verification(graph)
            state.withLock {
                $0.results = Array(repeating: [], count: verification.taskCount)
                $0.verification = verification
            }
            work()
        }
    }

    /// Runs unclaimed tasks until none is left.
    private func work() {
        while let (verification, task) = state.withLock({ s -> (Verification, Int)? in
            guard let v = s.verification, s.next < v.taskCount else { return nil }
            s.next += 1
            return (v, s.next - 1)
        }) {
            let result = verification.run(task)
            let last = state.withLock { s -> Bool in
                s.results[task] = result
                s.completed += 1
                return s.completed == s.results.count
            }
            if last { done.signal() }
        }
    }

    func wait() -> [Diagnostic] {
        work()
        done.wait()
        return state.withLock { $0.verification!.finish($0.results) }
    }
}

/// A pass failed, or produced a graph that does not verify (a bug in the pass, never the user's).
public struct PassError: Error, Sendable, CustomStringConvertible {
    public var pass: String
    public var previous: [String]
    public var diagnostics: [Diagnostic]
    public var producedInvalidGraph: Bool = false

    public var description: String {
        var text =
            producedInvalidGraph
            ? "pass '\(pass)' produced an invalid graph (a graphc bug; please report it)"
            : "pass '\(pass)' failed"
        if !previous.isEmpty { text += " (after " + previous.joined(separator: ", ") + ")" }
        return text + ":\n" + diagnostics.map { "  " + $0.description }.joined(separator: "\n")
    }
}
