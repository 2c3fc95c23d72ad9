// Names come from user files (.model layer paths, .gir strings, which may hold any scalar through
// `\u{...}` escapes), so a name may contain control characters: printed raw they corrupt a table,
// split a CSV row, move a terminal's cursor, or make an SVG invalid XML (XML 1.0 allows no C0 control
// but tab, LF and CR, not even as a character reference). Every report escapes them the same readable
// way, `\u{1b}`, as the IR text spells them.

extension Unicode.Scalar {
    /// C0 controls (tab, LF and CR included), DEL and the C1 controls.
    public var isControlCharacter: Bool { value < 0x20 || (value >= 0x7F && value <= 0x9F) }

    /// `\u{1b}`.
    public var controlEscape: String { "\\u{" + String(value, radix: 16) + "}" }
}

extension String {
    /// The string with every control character written `\u{..}`; itself when it has none.
    public var escapingControlCharacters: String {
        guard unicodeScalars.contains(where: \.isControlCharacter) else { return self }
        var out = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            if scalar.isControlCharacter {
                out.append(contentsOf: scalar.controlEscape.unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}

extension String {
    /// The string as a JSON string literal: quotes and backslashes escaped, `\n` `\r` `\t`, and every
    /// other control character (C0 as JSON requires, DEL and C1 so a name from a user file cannot reach a
    /// terminal raw) as `\u00XX`. The one JSON escaper: reports, checkpoints' headers and traces use it.
    public var jsonQuoted: String {
        var out = "\""
        out.reserveCapacity(utf8.count + 2)
        for scalar in unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.isControlCharacter:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
