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
    /// 1-based column of the caret within `sourceLine` when that is an excerpt of a longer line
    /// (`SourceText` keeps at most `SourceText.excerptRadius` bytes either side); nil: the location's column.
    public var sourceColumn: Int?

    /// Source lines are shown at most this many columns wide, cut around the caret with `…` marks.
    public static let displayWidth = 120

    public init(
        id: String, severity: Severity = .error, message: String, location: SourceLocation? = nil,
        node: String? = nil, sourceLine: String? = nil, length: Int = 1, notes: [String] = []
    ) {
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
            let (shown, caret, width) = Self.window(
                sourceLine, caret: max(0, (sourceColumn ?? location.column) - 1),
                length: max(1, length))
            text += "\n" + gutter + shown
            let pad = String(repeating: " ", count: gutter.count + caret)
            text += "\n" + pad + "^" + String(repeating: "~", count: max(0, width - 1))
        }
        for note in notes { text += "\n  note: \(note)" }
        return text
    }
}

extension Diagnostic {
    /// At most `displayWidth` columns of `line` around the 0-based column `caret`, with `…` where text
    /// was cut; the caret's column in the result and the underline's width within it.
    static func window(_ line: String, caret: Int, length: Int) -> (String, Int, Int) {
        let scalars = Array(line.unicodeScalars)
        guard scalars.count > displayWidth else { return (line, caret, length) }
        let caret = min(caret, scalars.count)
        // A third of the width before the caret, unless the line ends sooner.
        var start = max(0, caret - displayWidth / 3)
        let end = min(scalars.count, start + displayWidth - 2)
        start = max(0, min(start, end - (displayWidth - 2)))
        var shown = String.UnicodeScalarView()
        if start > 0 { shown.append("…") }
        shown.append(contentsOf: scalars[start..<end])
        if end < scalars.count { shown.append("…") }
        let column = caret - start + (start > 0 ? 1 : 0)
        return (String(shown), column, max(1, min(length, end - caret)))
    }
}

/// Several diagnostics thrown together, as the verifier and the description compiler report them.
public struct DiagnosticError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
