// A streaming JSON reader for trace files of any size: the document is read in chunks (1 MiB from a
// file) and a trace's `traceEvents` array is handed out one event at a time, each as a small `JSONValue`
// with its index and byte offset, so a 200 MB trace never becomes a 200 MB tree. Everything outside
// the events (PyTorch's header keys, graphc's `otherData`) is kept as values. Errors name the byte
// offset and, inside the array, the event's index. One event may be at most `Limits.maxEventBytes`
// long (a runaway string or a truncated file whose last event swallows the rest is reported as such,
// after reading no more than the limit).
#if canImport(Glibc)
    import Glibc
#endif

/// A parsed JSON value; objects keep their keys in order (events are small: lookups are linear).
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case let (.bool(x), .bool(y)): x == y
        case let (.int(x), .int(y)): x == y
        case let (.double(x), .double(y)): x == y
        case let (.string(x), .string(y)): x == y
        case let (.array(x), .array(y)): x == y
        case let (.object(x), .object(y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// The member `key` of an object (the first of that name), nil otherwise.
    public subscript(key: String) -> JSONValue? {
        guard case let .object(fields) = self else { return nil }
        for (k, v) in fields where k == key { return v }
        return nil
    }

    public var string: String? { if case let .string(s) = self { s } else { nil } }
    /// Integers and doubles as a double.
    public var number: Double? {
        switch self {
        case let .int(n): Double(n)
        case let .double(x): x
        default: nil
        }
    }
    /// Integers, and doubles with an integral value, as an integer.
    public var integer: Int? {
        switch self {
        case let .int(n): return n
        case let .double(x):
            guard x.isFinite, x.rounded() == x, abs(x) < 9.2e18 else { return nil }
            return Int(x)
        default: return nil
        }
    }
    public var array: [JSONValue]? { if case let .array(a) = self { a } else { nil } }

    /// What the value is, for messages ("a string", "an object").
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// A malformed or unreadable trace: where (byte offset, event index when inside the events) and what.
public struct TraceReadError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var offset: Int
    public var event: Int?
    public var message: String

    public init(file: String, offset: Int, event: Int?, message: String) {
        self.file = file
        self.offset = offset
        self.event = event
        self.message = message
    }

    public var description: String {
        "\(file): byte \(offset)" + (event.map { ", event \($0)" } ?? "") + ": \(message)"
    }
}

/// Bytes in chunks: from a file descriptor, or from memory (in chunks too, so limits behave alike).
/// The reader's cursor lives in `JSONStream` (a struct: no per-byte exclusivity checks).
final class ByteSource {
    let buffer: UnsafeMutablePointer<UInt8>
    let chunk: Int
    private let fd: Int32
    private let memory: [UInt8]
    private var memoryOffset = 0
    let file: String

    init(fd: Int32, file: String, chunk: Int = 1 << 20) {
        self.fd = fd
        self.file = file
        self.chunk = chunk
        self.memory = []
        buffer = .allocate(capacity: chunk)
    }

    init(bytes: [UInt8], file: String, chunk: Int = 1 << 16) {
        self.fd = -1
        self.file = file
        self.chunk = chunk
        self.memory = bytes
        buffer = .allocate(capacity: chunk)
    }

    deinit { buffer.deallocate() }

    /// Told the bytes read so far after each chunk (a progress display's hook).
    var progress: ((Int) -> Void)?
    private var delivered = 0

    /// Fills the buffer with the next chunk; the bytes read, 0 at the end. `base` names errors.
    func fill(base: Int) throws -> Int {
        if fd >= 0 {
            let n = read(fd, buffer, chunk)
            if n < 0 {
                throw TraceReadError(
                    file: file, offset: base, event: nil, message: "cannot read: " + String(cString: strerror(errno)))
            }
            delivered += n
            progress?(delivered)
            return n
        }
        let n = min(chunk, memory.count - memoryOffset)
        memory.withUnsafeBufferPointer { p in
            if n > 0 { buffer.update(from: p.baseAddress! + memoryOffset, count: n) }
        }
        memoryOffset += n
        return n
    }
}

/// Limits that keep a hostile or broken file from exhausting memory.
public struct TraceReaderLimits: Sendable {
    /// The longest one event (or one header value) may be, in bytes.
    public var maxEventBytes = 64 << 20
    /// The deepest nesting of arrays and objects.
    public var maxDepth = 64

    public init(maxEventBytes: Int = 64 << 20, maxDepth: Int = 64) {
        self.maxEventBytes = maxEventBytes
        self.maxDepth = maxDepth
    }
}

/// Reads a Chrome trace document: a bare array of events, or an object with a `traceEvents` array
/// (other keys are header values). `read` calls `event` for each array element in order.
struct JSONStream {
    let source: ByteSource
    let limits: TraceReaderLimits
    private var eventIndex: Int?
    private var valueStart = 0
    private let buf: UnsafeMutablePointer<UInt8>
    private var pos = 0  // index into buf
    private var count = 0  // valid bytes in buf
    private var base = 0  // absolute offset of buf[0]
    private var atEnd = false
    private var scratch: [UInt8] = []
    /// Inside the events' `args`, values of these keys are checked but not kept: PyTorch's per-op
    /// detail (and graphc's per-result lists) that no summary reads, most of a profile's bytes.
    static let unusedArgs: Set<String> = [
        "Input type", "Input Strides", "Concrete Inputs", "External id", "Record function id", "Ev Idx",
        "Sequence number", "Fwd thread id", "Total Reserved", "Device Id", "Device Type", "finished",
        "shapes", "dtypes", "bytes",
    ]
    private var inEvents = false

    init(source: ByteSource, limits: TraceReaderLimits) {
        self.source = source
        self.limits = limits
        buf = source.buffer
        scratch.reserveCapacity(256)
    }

    var offset: Int { base + pos }

    /// Refills the buffer when it is used up; false at the end of the input.
    private mutating func refill() throws -> Bool {
        if pos < count { return true }
        if atEnd { return false }
        base += count
        pos = 0
        count = try source.fill(base: base)
        if count == 0 { atEnd = true }
        return count > 0
    }

    /// The next byte without consuming it; nil at the end.
    @inline(__always)
    private mutating func peek() throws -> UInt8? {
        if pos < count { return buf[pos] }
        return try refill() ? buf[pos] : nil
    }

    @inline(__always)
    private mutating func next() throws -> UInt8? {
        if pos < count {
            pos += 1
            return buf[pos - 1]
        }
        guard try refill() else { return nil }
        pos += 1
        return buf[pos - 1]
    }

    func fail(_ message: String, at offset: Int? = nil) -> TraceReadError {
        TraceReadError(file: source.file, offset: offset ?? self.offset, event: eventIndex, message: message)
    }

    /// Reads the document; returns the header values (every top-level key but `traceEvents`).
    mutating func read(event: (JSONValue, Int, Int) throws -> Void) throws -> [(String, JSONValue)] {
        try skipSpace()
        guard let first = try peek() else {
            throw fail("empty file: no JSON, expected a trace (an object with \"traceEvents\" or an array of events)")
        }
        var header: [(String, JSONValue)] = []
        switch first {
        case UInt8(ascii: "["):
            try events(event)
        case UInt8(ascii: "{"):
            let start = offset
            _ = try next()
            var sawEvents = false
            try skipSpace()
            if try peek() == UInt8(ascii: "}") {
                _ = try next()
            } else {
                while true {
                    try skipSpace()
                    guard try peek() == UInt8(ascii: "\"") else { throw try unexpected("a key (a string)") }
                    valueStart = offset
                    let key = try string()
                    try expectColon()
                    try skipSpace()
                    if key == "traceEvents" {
                        guard try peek() == UInt8(ascii: "[") else {
                            let at = offset
                            let v = try value(depth: 1)
                            throw fail(
                                "not a trace: \"traceEvents\" is \(v.kindName), expected an array of events", at: at)
                        }
                        try events(event)
                        sawEvents = true
                    } else {
                        valueStart = offset
                        header.append((key, try value(depth: 1)))
                    }
                    try skipSpace()
                    guard let c = try next() else { throw truncated("the top-level object") }
                    if c == UInt8(ascii: "}") { break }
                    if c != UInt8(ascii: ",") {
                        throw fail(
                            "expected ',' or '}' in the top-level object, found \(Self.show(c))", at: offset - 1)
                    }
                }
            }
            if !sawEvents {
                throw fail(
                    "not a trace: a JSON object without a \"traceEvents\" array (keys: "
                        + (header.isEmpty ? "none" : header.prefix(8).map { "\"\($0.0)\"" }.joined(separator: ", "))
                        + ")", at: start)
            }
        default:
            let at = offset
            let v = try value(depth: 0)
            throw fail(
                "not a trace: the document is \(v.kindName), expected an object with \"traceEvents\" or an array of events",
                at: at)
        }
        try skipSpace()
        if try peek() != nil { throw fail("unexpected data after the end of the trace's JSON") }
        return header
    }

    /// Reads the whole input as one value.
    mutating func document() throws -> JSONValue {
        try skipSpace()
        guard try peek() != nil else { throw fail("empty file: no JSON") }
        let v = try value(depth: 0)
        try skipSpace()
        if try peek() != nil { throw fail("unexpected data after the end of the JSON value") }
        return v
    }

    private mutating func events(_ event: (JSONValue, Int, Int) throws -> Void) throws {
        _ = try next()  // [
        try skipSpace()
        var index = 0
        if try peek() == UInt8(ascii: "]") {
            _ = try next()
            return
        }
        while true {
            try skipSpace()
            eventIndex = index
            let at = offset
            valueStart = at
            guard try peek() != nil else { throw truncated("the traceEvents array") }
            inEvents = true
            let v = try value(depth: 1)
            inEvents = false
            guard case .object = v else { throw fail("an event must be an object, found \(v.kindName)", at: at) }
            try event(v, index, at)
            index += 1
            try skipSpace()
            guard let c = try next() else {
                eventIndex = nil
                throw truncated("the traceEvents array (after \(index) events)")
            }
            if c == UInt8(ascii: "]") { break }
            if c != UInt8(ascii: ",") {
                throw fail("expected ',' or ']' after an event, found \(Self.show(c))", at: offset - 1)
            }
        }
        eventIndex = nil
    }

    // MARK: values

    private func truncated(_ what: String) -> TraceReadError {
        fail("truncated: the file ends inside \(what)")
    }

    private mutating func unexpected(_ expected: String) throws -> TraceReadError {
        guard let c = try peek() else { return truncated("a value") }
        return fail("expected \(expected), found \(Self.show(c))")
    }

    static func show(_ c: UInt8) -> String {
        c >= 0x20 && c < 0x7F ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x" + String(c, radix: 16)
    }

    @inline(__always)
    private mutating func checkLength() throws {
        if offset - valueStart > limits.maxEventBytes {
            throw fail(
                "an event (or header value) longer than \(limits.maxEventBytes) bytes, the reader's limit, "
                    + "starting at byte \(valueStart): a runaway value or a truncated file", at: valueStart)
        }
    }

    private mutating func skipSpace() throws {
        while let c = try peek() {
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            pos += 1
        }
    }

    private mutating func expectColon() throws {
        try skipSpace()
        guard try next() == UInt8(ascii: ":") else {
            pos = max(pos - 1, 0)
            throw try unexpected("':' after a key")
        }
    }

    private mutating func value(depth: Int) throws -> JSONValue {
        try checkLength()
        guard let c = try peek() else { throw truncated("a value") }
        switch c {
        case UInt8(ascii: "{"):
            guard depth < limits.maxDepth else { throw fail("nested deeper than \(limits.maxDepth) levels") }
            _ = try next()
            var fields: [(String, JSONValue)] = []
            try skipSpace()
            if try peek() == UInt8(ascii: "}") {
                _ = try next()
                return .object(fields)
            }
            while true {
                try skipSpace()
                guard try peek() == UInt8(ascii: "\"") else { throw try unexpected("a key (a string)") }
                let key = try string()
                try expectColon()
                try skipSpace()
                if inEvents && depth == 2 && Self.unusedArgs.contains(key) {
                    try skipValue(depth: depth + 1)
                } else {
                    fields.append((key, try value(depth: depth + 1)))
                }
                try skipSpace()
                guard let d = try next() else { throw truncated("an object") }
                if d == UInt8(ascii: "}") { return .object(fields) }
                if d != UInt8(ascii: ",") {
                    throw fail("expected ',' or '}' in an object, found \(Self.show(d))", at: offset - 1)
                }
            }
        case UInt8(ascii: "["):
            guard depth < limits.maxDepth else { throw fail("nested deeper than \(limits.maxDepth) levels") }
            _ = try next()
            var items: [JSONValue] = []
            try skipSpace()
            if try peek() == UInt8(ascii: "]") {
                _ = try next()
                return .array(items)
            }
            while true {
                try skipSpace()
                items.append(try value(depth: depth + 1))
                try skipSpace()
                guard let d = try next() else { throw truncated("an array") }
                if d == UInt8(ascii: "]") { return .array(items) }
                if d != UInt8(ascii: ",") {
                    throw fail("expected ',' or ']' in an array, found \(Self.show(d))", at: offset - 1)
                }
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw try unexpected("a value")
        }
    }

    /// Checks a value's syntax and limits without building it.
    private mutating func skipValue(depth: Int) throws {
        try checkLength()
        guard let c = try peek() else { throw truncated("a value") }
        switch c {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard depth < limits.maxDepth else { throw fail("nested deeper than \(limits.maxDepth) levels") }
            let close = c == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            let what = c == UInt8(ascii: "{") ? "an object" : "an array"
            _ = try next()
            try skipSpace()
            if try peek() == close {
                _ = try next()
                return
            }
            while true {
                try skipSpace()
                if close == UInt8(ascii: "}") {
                    guard try peek() == UInt8(ascii: "\"") else { throw try unexpected("a key (a string)") }
                    try skipString()
                    try expectColon()
                    try skipSpace()
                }
                try skipValue(depth: depth + 1)
                try skipSpace()
                guard let d = try next() else { throw truncated(what) }
                if d == close { return }
                if d != UInt8(ascii: ",") {
                    throw fail(
                        "expected ',' or '\(Character(Unicode.Scalar(close)))' in \(what), found \(Self.show(d))",
                        at: offset - 1)
                }
            }
        case UInt8(ascii: "\""): try skipString()
        default: _ = try value(depth: depth)
        }
    }

    /// Skips a string, checking its escapes.
    private mutating func skipString() throws {
        let at = offset
        _ = try next()  // "
        var length = 0
        while true {
            guard let c = try next() else { throw truncated("a string (it starts at byte \(at))") }
            if c == UInt8(ascii: "\"") { return }
            if c < 0x20 {
                throw fail("a raw control character (0x\(String(c, radix: 16))) inside a string", at: offset - 1)
            }
            if c == UInt8(ascii: "\\") {
                guard let e = try next() else { throw truncated("a string escape") }
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    break
                case UInt8(ascii: "u"): _ = try hex4()
                default:
                    throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))' in a string", at: offset - 2)
                }
            }
            length += 1
            if length & 0xFFFF == 0 { try checkLength() }
        }
    }

    private mutating func literal(_ word: StaticString, _ v: JSONValue) throws -> JSONValue {
        let at = offset
        for expected in UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount) {
            guard let c = try next() else { throw truncated("a literal") }
            if c != expected { throw fail("invalid literal (expected \(word))", at: at) }
        }
        return v
    }

    private mutating func number() throws -> JSONValue {
        let at = offset
        scratch.removeAll(keepingCapacity: true)
        var integral = true
        while let c = try peek() {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"): break
            case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): integral = false
            default:
                return try finishNumber(integral: integral, at: at)
            }
            scratch.append(c)
            pos += 1
            if scratch.count > 400 { throw fail("a number longer than 400 characters", at: at) }
        }
        return try finishNumber(integral: integral, at: at)
    }

    private mutating func finishNumber(integral: Bool, at: Int) throws -> JSONValue {
        let text = scratch
        // JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
        var i = 0
        func digits() -> Int {
            let s = i
            while i < text.count, text[i] >= 0x30, text[i] <= 0x39 { i += 1 }
            return i - s
        }
        if i < text.count, text[i] == UInt8(ascii: "-") { i += 1 }
        let lead = i
        let n = digits()
        var ok = n > 0 && !(n > 1 && text[lead] == UInt8(ascii: "0"))
        if ok, i < text.count, text[i] == UInt8(ascii: ".") {
            i += 1
            ok = digits() > 0
        }
        if ok, i < text.count, text[i] == UInt8(ascii: "e") || text[i] == UInt8(ascii: "E") {
            i += 1
            if i < text.count, text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-") { i += 1 }
            ok = digits() > 0
        }
        guard ok, i == text.count else {
            throw fail("invalid number '\(String(decoding: text, as: UTF8.self))'", at: at)
        }
        if integral, text.count < 19 {
            var v = 0
            var neg = false
            for c in text {
                if c == UInt8(ascii: "-") { neg = true } else { v = v * 10 + Int(c - 0x30) }
            }
            return .int(neg ? -v : v)
        }
        scratch.append(0)
        let d = scratch.withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { strtod($0, nil) }
        }
        if integral, d.rounded() == d, abs(d) < 9.2e18 { return .int(Int(d)) }
        return .double(d)
    }

    private mutating func string() throws -> String {
        let at = offset
        _ = try next()  // "
        // The common case: no escape, and the whole string inside the buffer.
        let start = pos
        while pos < count {
            let c = buf[pos]
            if c == UInt8(ascii: "\"") {
                let text = String(decoding: UnsafeBufferPointer(start: buf + start, count: pos - start), as: UTF8.self)
                pos += 1
                return text
            }
            if c == UInt8(ascii: "\\") || c < 0x20 { break }
            pos += 1
        }
        var bytes = Array(UnsafeBufferPointer(start: buf + start, count: pos - start))
        while true {
            guard let c = try next() else { throw truncated("a string (it starts at byte \(at))") }
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 {
                throw fail("a raw control character (0x\(String(c, radix: 16))) inside a string", at: offset - 1)
            }
            if c == UInt8(ascii: "\\") {
                guard let e = try next() else { throw truncated("a string escape") }
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(e)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar < 0xDC00 {
                        // A surrogate pair: the low half must follow.
                        if try next() == UInt8(ascii: "\\"), try next() == UInt8(ascii: "u") {
                            let low = try hex4()
                            if low >= 0xDC00 && low < 0xE000 {
                                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                            } else {
                                scalar = 0xFFFD
                            }
                        } else {
                            throw fail("an unpaired UTF-16 surrogate escape in a string")
                        }
                    }
                    let s = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                    bytes.append(contentsOf: Array(String(Character(s)).utf8))
                default:
                    throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))' in a string", at: offset - 2)
                }
            } else {
                bytes.append(c)
            }
            if bytes.count & 0xFFFF == 0 { try checkLength() }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private mutating func hex4() throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let c = try next() else { throw truncated("a \\u escape") }
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - 0x30)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - 0x61 + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - 0x41 + 10)
            default: throw fail("invalid \\u escape in a string", at: offset - 1)
            }
            v = v * 16 + d
        }
        return v
    }
}
