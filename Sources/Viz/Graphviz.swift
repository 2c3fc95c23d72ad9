// Renders DOT text to PNG, SVG or laid-out DOT in-process through libgvc (no `dot` subprocess).
//
// Graphviz keeps global state (its error channel, plugin registry, lexer), so every call into it is
// serialised through one process-wide lock. Its `agerr` messages are captured through a user error
// callback instead of going to stderr, and are attached to the `GraphvizError` a failure throws.
//
// Graphviz runs in this process, so a crash inside it would end graphc: 2.42 segfaults on graphs of
// about 16,500 nodes (the `dot` program too), and long before that layout takes minutes. A graph above
// `maxNodes` nodes or `maxEdges` edges is therefore refused before layout, with `.tooLarge`; the caller
// says how to draw it smaller (`graphc dot --collapse-depth`), and DOT text, which needs no layout, has
// no limit.
import CGraphviz
import GraphIR
import Synchronization

/// In-process Graphviz rendering (libgvc + cgraph).
public enum Graphviz {
    /// An output format.
    public enum Format: String, Sendable, Hashable, CaseIterable {
        case png
        case svg
        /// Graphviz's laid-out canonical DOT: the input graph with layout attributes (`pos`, `bb`, ...).
        case dot

        /// The format for a file extension (`png`, `svg`, `dot` or `gv`; case-insensitive, leading dot
        /// allowed); nil for anything else.
        public init?(pathExtension: String) {
            var ext = pathExtension.lowercased()
            if ext.hasPrefix(".") { ext.removeFirst() }
            switch ext {
            case "png": self = .png
            case "svg": self = .svg
            case "dot", "gv": self = .dot
            default: return nil
            }
        }

        /// The file extension to write this format to.
        public var pathExtension: String { rawValue }
    }

    /// The most nodes `render` lays out (a 4,000-node chain takes about 1.5 s; 5,000 nodes of a real
    /// model with clusters 5–8 s).
    public static let maxNodes = 4_000
    /// The most edges `render` lays out.
    public static let maxEdges = 12_000

    /// The nodes and edges of `dot`, as Graphviz reads them (no layout); nil when it does not parse.
    public static func size(dot: String) -> (nodes: Int, edges: Int)? {
        lock.withLock { _ -> (nodes: Int, edges: Int)? in
            ErrorCapture.begin()
            defer { ErrorCapture.end() }
            guard let graph = dot.withCString({ agmemread($0) }) else { return nil }
            defer { agclose(graph) }
            return (Int(agnnodes(graph)), Int(agnedges(graph)))
        }
    }

    /// Lays out `dot` with engine `layout` and renders it as `format`. For `.dot` the result is
    /// Graphviz's canonical DOT with layout attributes, not the input text. Thread-safe: calls are
    /// serialised. Graphviz's messages never reach stderr; a failure throws them in the error.
    public static func render(dot: String, format: Format, layout: String = "dot") throws(GraphvizError) -> [UInt8] {
        try lock.withLock { _ throws(GraphvizError) -> [UInt8] in
            try renderLocked(dot: dot, format: format, layout: layout)
        }
    }

    /// Serialises all use of Graphviz, whose state is global.
    private static let lock = Mutex(())

    private static func renderLocked(dot: String, format: Format, layout: String) throws(GraphvizError) -> [UInt8] {
        ErrorCapture.begin()
        defer { ErrorCapture.end() }

        guard let gvc = gvContext() else {
            throw GraphvizError(.context, "could not create a Graphviz context", messages: ErrorCapture.take())
        }
        defer { gvFreeContext(gvc) }

        let graph = dot.withCString { text in agmemread(text) }
        guard let graph else {
            throw GraphvizError(.syntax, "the DOT text does not parse", messages: ErrorCapture.take())
        }
        defer { agclose(graph) }

        let nodes = Int(agnnodes(graph)), edges = Int(agnedges(graph))
        guard nodes <= maxNodes, edges <= maxEdges else {
            throw GraphvizError(
                .tooLarge,
                "the drawing has \(NumberFormat.grouped(nodes)) nodes and "
                    + "\(NumberFormat.grouped(edges)) edges; graphc lays out at most "
                    + "\(NumberFormat.grouped(maxNodes)) nodes and \(NumberFormat.grouped(maxEdges)) "
                    + "edges in-process (Graphviz takes minutes, then crashes, on far larger ones)")
        }

        guard gvLayout(gvc, graph, layout) == 0 else {
            let messages = ErrorCapture.take()
            if let available = notRecognised(messages, kind: "Layout type") {
                if available.isEmpty || available == ["dot"] && layout != "dot" {
                    throw GraphvizError(
                        .missingPlugins, missingPluginsMessage("layout engine '\(layout)'"),
                        messages: messages)
                }
                throw GraphvizError(
                    .layout,
                    "unknown layout engine '\(layout)'; available: "
                        + available.joined(separator: ", "), messages: messages)
            }
            throw GraphvizError(.layout, "Graphviz could not lay out the graph with '\(layout)'", messages: messages)
        }
        defer { gvFreeLayout(gvc, graph) }

        var data: UnsafeMutablePointer<CChar>?
        var length: UInt32 = 0
        guard gvRenderData(gvc, graph, format.rawValue, &data, &length) == 0, let data else {
            let messages = ErrorCapture.take()
            if let available = notRecognised(messages, kind: "Format"), !available.contains(format.rawValue) {
                throw GraphvizError(
                    .missingPlugins, missingPluginsMessage("output format '\(format.rawValue)'"),
                    messages: messages)
            }
            throw GraphvizError(
                .render, "Graphviz could not render the graph as \(format.rawValue)", messages: messages)
        }
        defer { gvFreeRenderData(data) }
        return data.withMemoryRebound(to: UInt8.self, capacity: Int(length)) {
            Array(UnsafeBufferPointer(start: $0, count: Int(length)))
        }
    }

    private static func missingPluginsMessage(_ what: String) -> String {
        "Graphviz does not know the \(what): its plugins are not configured. Install Debian's `graphviz` "
            + "package (not only libgraphviz-dev) so that its plugin configuration exists (dot -c)"
    }

    /// For `Layout type: "x" not recognized. Use one of: a b c` (or `Format: ...`), the listed names;
    /// nil if no message says that.
    private static func notRecognised(_ messages: [String], kind: String) -> [String]? {
        guard let line = messages.first(where: { $0.contains(kind) && $0.contains("not recognized") }) else {
            return nil
        }
        guard let range = line.firstRange(of: "Use one of:") else { return [] }
        return line[range.upperBound...].split(separator: " ").map(String.init)
    }
}

/// A Graphviz failure, with Graphviz's own messages.
public struct GraphvizError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What failed.
    public enum Kind: String, Sendable, Hashable {
        /// The DOT text does not parse (`agmemread` returned nil).
        case syntax
        /// Layout failed, or the layout engine is unknown.
        case layout
        /// Graphviz has no plugins configured (the `graphviz` package's `dot -c` never ran).
        case missingPlugins = "missing-plugins"
        /// Rendering to the output format failed.
        case render
        /// No Graphviz context could be created.
        case context
        /// The graph has more than `Graphviz.maxNodes` nodes or `Graphviz.maxEdges` edges.
        case tooLarge = "too-large"
    }

    /// What failed.
    public var kind: Kind
    /// A sentence for people, saying what failed and, where known, how to fix it.
    public var message: String
    /// Graphviz's `agerr` messages during the failing call, in order, without the `Error: ` prefix.
    public var messages: [String]

    /// An error of `kind` with `message` and Graphviz's `messages`.
    public init(_ kind: Kind, _ message: String, messages: [String] = []) {
        self.kind = kind
        self.message = message
        self.messages = messages
    }

    /// The message, then Graphviz's messages indented beneath it.
    public var description: String {
        (["graphviz: " + message] + messages.map { "  " + $0 }).joined(separator: "\n")
    }
}

/// Collects `agerr` output through Graphviz's user error callback. Only touched with `Graphviz.lock`
/// held, which is what makes the unsafe global safe.
private enum ErrorCapture {
    nonisolated(unsafe) static var text = ""
    nonisolated(unsafe) static var previous: agusererrf?

    /// Graphviz calls this with fragments ("Error", ": ", the message), so they are concatenated.
    static let callback: agusererrf = { fragment in
        if let fragment { ErrorCapture.text += String(cString: fragment) }
        return 0
    }

    static func begin() {
        text = ""
        _ = agreseterrors()
        previous = agseterrf(callback)
    }

    static func end() {
        _ = agseterrf(previous)
        text = ""
    }

    /// The messages so far, one per line, with Graphviz's level prefix dropped; clears them.
    static func take() -> [String] {
        let lines = text.split(separator: "\n").map { line -> String in
            for prefix in ["Error: ", "Warning: "] where line.hasPrefix(prefix) {
                return String(line.dropFirst(prefix.count))
            }
            return String(line)
        }
        text = ""
        return lines.map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }
}

extension DotExport {
    /// The largest `collapseDepth` at which `graph`'s drawing fits what `Graphviz.render` lays out, or
    /// nil when even one node per top-level block is too many: what to suggest for a graph that is
    /// refused as `.tooLarge`.
    public static func fittingCollapseDepth(_ graph: Graph, options: DotOptions = .init()) -> Int? {
        let deepest = graph.nodes.reduce(0) { max($0, $1.scope.isEmpty ? 0 : $1.scope.count { $0 == "." } + 1) }
        var options = options
        for depth in stride(from: deepest - 1, through: 0, by: -1) {
            options.collapseDepth = depth
            guard let size = Graphviz.size(dot: dot(graph, options: options)) else { return nil }
            if size.nodes <= Graphviz.maxNodes && size.edges <= Graphviz.maxEdges { return depth }
        }
        return nil
    }
}
