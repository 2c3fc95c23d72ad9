/// A position in a source file (1-based line and column, columns count characters).
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// A problem found in user input or a graph. `id` is stable (kebab-case) so tests and tools can match
/// on it; the message is prose for people.
public struct Diagnostic: Sendable, Hashable, Error, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable {
        case error
        case warning
        case note
    }

    public var id: String
    public var severity: Severity
    public var message: String
    public var location: SourceLocation?
    /// The layer or node concerned, when there is one.
    public var node: String?
    /// The source line the location points into, shown under the message with a caret.
    public var sourceLine: String?
    /// Length of the offending text, for the underline.
    public var length: Int
    public var notes: [String]

    public init(id: String, severity: Severity = .error, message: String, location: SourceLocation? = nil,
                node: String? = nil, sourceLine: String? = nil, length: Int = 1, notes: [String] = []) {
        self.id = id
        self.severity = severity
        self.message = message
        self.location = location
        self.node = node
        self.sourceLine = sourceLine
        self.length = length
        self.notes = notes
    }

    public static func error(_ id: String, _ message: String, node: String? = nil) -> Diagnostic {
        Diagnostic(id: id, message: message, node: node)
    }

    /// `file:3:7: error[unknown-op]: unknown op 'conv3d' in layer 'stem'`, then the source line and a caret.
    public var description: String {
        var text = ""
        if let location { text += "\(location): " }
        text += "\(severity.rawValue)[\(id)]: \(message)"
        if let node, !message.contains("'\(node)'") { text += " (in '\(node)')" }
        if let sourceLine, let location {
            let gutter = "\(location.line) | "
            text += "\n" + gutter + sourceLine
            let pad = String(repeating: " ", count: gutter.count + max(0, location.column - 1))
            text += "\n" + pad + "^" + String(repeating: "~", count: max(0, length - 1))
        }
        for note in notes { text += "\n  note: \(note)" }
        return text
    }
}

/// Several diagnostics thrown together, as the verifier and the description compiler report them.
public struct DiagnosticError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
