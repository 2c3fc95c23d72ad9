// Source bytes with a line table: the one place that turns byte offsets into `file:line:col`, the source
// line and an underline, and that checks UTF-8. The model description compiler and the IR parser both
// report through it, so their diagnostics look alike.

/// Source bytes with a line table, able to turn byte ranges into located diagnostics.
public struct SourceText: Sendable {
    public let file: String
    public let bytes: [UInt8]
    /// Byte offset of the first byte of each line.
    public let lineStarts: [Int]

    public init(file: String, bytes: [UInt8]) {
        self.file = file
        self.bytes = bytes
        // A line ends at LF, CRLF or a lone CR (classic Mac files), as both lexers read them.
        var starts = [0]
        for (i, b) in bytes.enumerated() {
            if b == UInt8(ascii: "\n")
                || (b == UInt8(ascii: "\r") && (i + 1 == bytes.count || bytes[i + 1] != UInt8(ascii: "\n")))
            {
                starts.append(i + 1)
            }
        }
        lineStarts = starts
    }

    /// 0-based index of the line containing byte `offset`.
    public func lineIndex(_ offset: Int) -> Int {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// Byte offset just past line `index`'s text (before its `\n`, `\r\n` or `\r`).
    public func lineEnd(_ index: Int) -> Int {
        var end = index + 1 < lineStarts.count ? lineStarts[index + 1] - 1 : bytes.count
        if end > lineStarts[index] && end <= bytes.count && end > 0 && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return max(end, lineStarts[index])
    }

    /// Unicode scalars in `bytes[from..<to]` (continuation bytes do not start one): columns count characters.
    public func scalarCount(_ from: Int, _ to: Int) -> Int {
        guard from < to else { return 0 }
        var n = 0
        for i in from..<min(to, bytes.count) where bytes[i] & 0xC0 != 0x80 { n += 1 }
        return n
    }

    /// The diagnostic `id` at bytes `start..<end`, with the source line and an underline as long as that text.
    public func diagnostic(
        _ id: String, _ message: String, start: Int, end: Int, node: String? = nil,
        severity: Diagnostic.Severity = .error, notes: [String] = []
    ) -> Diagnostic {
        let offset = min(max(start, 0), bytes.count)
        let line = lineIndex(offset)
        let lineStart = lineStarts[line], lineEnd = lineEnd(line)
        let column = scalarCount(lineStart, min(offset, lineEnd)) + 1
        let length = max(1, scalarCount(min(offset, lineEnd), min(max(end, offset), lineEnd)))
        // A long line (a 50 MB line of generated text) is kept only around the offset: the message
        // shows at most `Diagnostic.displayWidth` columns of it anyway.
        var from = lineStart, to = lineEnd, excerpt = false
        if lineEnd - lineStart > 2 * Self.excerptRadius {
            from = max(lineStart, min(offset, lineEnd) - Self.excerptRadius)
            to = min(lineEnd, max(from, min(offset, lineEnd)) + Self.excerptRadius)
            while from > lineStart && bytes[from] & 0xC0 == 0x80 { from -= 1 }
            while to < lineEnd && bytes[to] & 0xC0 == 0x80 { to += 1 }
            excerpt = true
        }
        let text = String(decoding: bytes[from..<to], as: UTF8.self)
        var d = Diagnostic(
            id: id, severity: severity, message: message,
            location: SourceLocation(file: file, line: line + 1, column: column),
            node: node, sourceLine: text, length: length, notes: notes)
        if excerpt { d.sourceColumn = scalarCount(from, min(offset, lineEnd)) + 1 }
        return d
    }

    /// Bytes kept either side of a diagnostic's offset when its line is longer than twice this.
    public static let excerptRadius = 512

    /// `line N`, for notes that point at another place.
    public func lineDescription(_ offset: Int) -> String { "line \(lineIndex(offset) + 1)" }

    /// Offset of the first byte that is not part of well-formed UTF-8 (overlong forms, surrogates and
    /// values above U+10FFFF are invalid, as the Unicode standard says), or nil.
    public static func firstInvalidUTF8(_ b: [UInt8]) -> Int? {
        var i = 0
        let n = b.count
        func cont(_ j: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool { j < n && b[j] >= lo && b[j] <= hi }
        while i < n {
            let c = b[i]
            switch c {
            case 0x00...0x7F: i += 1
            case 0xC2...0xDF:
                guard cont(i + 1) else { return i }
                i += 2
            case 0xE0...0xEF:
                let lo: UInt8 = c == 0xE0 ? 0xA0 : 0x80, hi: UInt8 = c == 0xED ? 0x9F : 0xBF
                guard cont(i + 1, lo, hi), cont(i + 2) else { return i }
                i += 3
            case 0xF0...0xF4:
                let lo: UInt8 = c == 0xF0 ? 0x90 : 0x80, hi: UInt8 = c == 0xF4 ? 0x8F : 0xBF
                guard cont(i + 1, lo, hi), cont(i + 2), cont(i + 3) else { return i }
                i += 4
            default: return i
            }
        }
        return nil
    }

    public func firstInvalidUTF8() -> Int? { Self.firstInvalidUTF8(bytes) }
}
