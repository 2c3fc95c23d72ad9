// NumPy's .npy format (numpy.lib.format), for float32 arrays in C order:
//
//     6 bytes    \x93NUMPY
//     2 bytes    version: major (1, 2 or 3), minor
//     2 or 4     the header's length, little-endian (u16 in version 1, u32 in 2 and 3)
//     header     a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (2, 10), }
//                padded with spaces and ended by a newline (numpy aligns the data to 64 bytes)
//     data       the elements, row-major
//
// graphc reads '<f4' (little-endian f32) in C order and writes version 1.0 files of it.

/// A float32 array read from or written to a .npy file.
public struct NpyArray: Sendable, Equatable {
    public var shape: [Int]
    /// The elements' little-endian bytes.
    public var data: [UInt8]

    public init(shape: [Int], data: [UInt8]) {
        precondition(shape.reduce(1, *) * 4 == data.count, "NpyArray: \(data.count) bytes for shape \(shape)")
        self.shape = shape
        self.data = data
    }

    /// The .npy (version 1.0) encoding.
    public var encoded: [UInt8] {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }".utf8)
        while (10 + header.count + 1) % 64 != 0 { header.append(0x20) }
        header.append(0x0A)
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)]
        out += header
        return out + data
    }

    /// Whether `bytes` start with the .npy magic.
    public static func isNpy(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 6 && bytes[0] == 0x93 && Array(bytes[1..<6]) == Array("NUMPY".utf8)
    }

    /// Parses a .npy file of little-endian float32 in C order; errors name `file`.
    public static func parse(_ bytes: [UInt8], file: String) throws(DataError) -> NpyArray {
        func fail(_ why: String) -> DataError { DataError("'\(file)' is not a .npy file graphc reads: \(why)") }
        guard isNpy(bytes) else { throw fail("no \\x93NUMPY magic") }
        guard bytes.count >= 10 else { throw fail("truncated header") }
        let major = bytes[6]
        let lengthSize: Int
        switch major {
        case 1: lengthSize = 2
        case 2, 3: lengthSize = 4
        default: throw fail("format version \(major).\(bytes[7]) (graphc reads 1.0, 2.0 and 3.0)")
        }
        guard bytes.count >= 8 + lengthSize else { throw fail("truncated header") }
        var length = 0
        for k in 0..<lengthSize { length |= Int(bytes[8 + k]) << (8 * k) }
        let start = 8 + lengthSize
        guard length <= bytes.count - start else {
            throw fail(
                "the header length \(length) exceeds the \(bytes.count - start) bytes after it (truncated file?)")
        }
        let header = String(decoding: bytes[start..<start + length], as: UTF8.self)
        let dict: [String: PyLiteral]
        do {
            dict = try PyLiteral.parseDict(header)
        } catch {
            throw fail("bad header \(header.trimmingSpaces): \(error.message)")
        }
        guard case let .string(descr)? = dict["descr"] else { throw fail("the header has no 'descr' string") }
        guard descr == "<f4" else {
            throw fail(
                "dtype '\(descr)'; graphc reads little-endian float32 ('<f4'): "
                    + "convert with array.astype('<f4')")
        }
        guard case let .bool(fortran)? = dict["fortran_order"] else { throw fail("the header has no 'fortran_order'") }
        guard !fortran else { throw fail("Fortran order; save a C-ordered array (numpy.ascontiguousarray)") }
        guard case let .tuple(shape)? = dict["shape"] else { throw fail("the header has no 'shape' tuple") }
        var count = 1
        for d in shape {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard !o, p <= 1 << 40 else { throw fail("shape \(shape) is too large") }
            count = p
        }
        let have = bytes.count - start - length
        guard have == count * 4 else {
            throw fail(
                "shape \(shape) needs \(count * 4) bytes of data, the file has \(have)"
                    + (have < count * 4 ? " (truncated file?)" : ""))
        }
        return NpyArray(shape: shape, data: Array(bytes[(start + length)...]))
    }
}

private extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.last, c == " " || c == "\n" { s.removeLast() }
        return String(s)
    }
}

/// The Python literals of a .npy header: strings, True/False, tuples of non-negative integers.
private enum PyLiteral: Equatable {
    case string(String), bool(Bool), tuple([Int])

    struct Failure: Error { var message: String }

    static func parseDict(_ text: String) throws(Failure) -> [String: PyLiteral] {
        let s = Array(text.utf8)
        var i = 0
        func space() { while i < s.count, s[i] == 0x20 || s[i] == 0x0A || s[i] == 0x09 { i += 1 } }
        func expect(_ c: Character) throws(Failure) {
            space()
            guard i < s.count, s[i] == c.asciiValue! else { throw Failure(message: "expected '\(c)' at \(i)") }
            i += 1
        }
        func peek(_ c: Character) -> Bool {
            space()
            return i < s.count && s[i] == c.asciiValue!
        }
        func string() throws(Failure) -> String {
            space()
            guard i < s.count, s[i] == 0x27 || s[i] == 0x22 else { throw Failure(message: "expected a string at \(i)") }
            let q = s[i]
            i += 1
            let begin = i
            while i < s.count, s[i] != q { i += 1 }
            guard i < s.count else { throw Failure(message: "unterminated string") }
            i += 1
            return String(decoding: s[begin..<i - 1], as: UTF8.self)
        }
        func int() throws(Failure) -> Int {
            space()
            let begin = i
            while i < s.count, s[i] >= 48, s[i] <= 57 { i += 1 }
            guard i > begin, i - begin <= 15, let v = Int(String(decoding: s[begin..<i], as: UTF8.self)) else {
                throw Failure(message: "expected a dimension at \(begin)")
            }
            return v
        }
        func value() throws(Failure) -> PyLiteral {
            space()
            guard i < s.count else { throw Failure(message: "unexpected end") }
            if s[i] == 0x27 || s[i] == 0x22 { return .string(try string()) }
            for (word, v) in [("True", true), ("False", false)] {
                let w = Array(word.utf8)
                if i + w.count <= s.count, Array(s[i..<i + w.count]) == w {
                    i += w.count
                    return .bool(v)
                }
            }
            try expect("(")
            var dims: [Int] = []
            while !peek(")") {
                dims.append(try int())
                if peek(",") { i += 1 } else { break }
            }
            try expect(")")
            return .tuple(dims)
        }
        var dict: [String: PyLiteral] = [:]
        try expect("{")
        while !peek("}") {
            let key = try string()
            try expect(":")
            guard dict.updateValue(try value(), forKey: key) == nil else {
                throw Failure(message: "duplicate key '\(key)'")
            }
            if peek(",") { i += 1 } else { break }
        }
        try expect("}")
        space()
        guard i == s.count else { throw Failure(message: "text after the dict") }
        return dict
    }
}
