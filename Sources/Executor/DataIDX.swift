// The IDX format of MNIST and Fashion-MNIST (LeCun et al.): a 4-byte magic 00 00 TYPE RANK, RANK
// big-endian u32 dimensions, then the elements in row-major order. graphc reads unsigned bytes (type
// 0x08): images as rank 3 (count, rows, columns), labels as rank 1 (count).
import GraphIR

/// One IDX array of unsigned bytes: its dimensions and elements.
public struct IDXArray: Sendable, Equatable {
    public var dims: [Int]
    public var bytes: [UInt8]

    public init(dims: [Int], bytes: [UInt8]) {
        precondition(dims.reduce(1, *) == bytes.count, "IDXArray: \(bytes.count) bytes for dimensions \(dims)")
        self.dims = dims
        self.bytes = bytes
    }

    /// Parses IDX data (already gunzipped); errors name `file`.
    public static func parse(_ data: [UInt8], file: String) throws(DataError) -> IDXArray {
        func fail(_ why: String) -> DataError { DataError("'\(file)' is not a valid IDX file: \(why)") }
        guard data.count >= 4 else { throw fail("\(data.count) bytes, shorter than the 4-byte magic") }
        guard data[0] == 0, data[1] == 0 else {
            throw fail("bad magic \(hex(data[0..<4])) (expected 00 00 08 RANK)")
        }
        guard data[2] == 0x08 else {
            let kind = [0x09: "signed bytes", 0x0B: "i16", 0x0C: "i32", 0x0D: "f32", 0x0E: "f64"][Int(data[2])]
            throw fail(
                "element type 0x\(String(data[2], radix: 16))"
                    + (kind.map { " (\($0))" } ?? "") + "; graphc reads unsigned bytes (0x08)")
        }
        let rank = Int(data[3])
        guard rank >= 1 else { throw fail("rank 0") }
        let headerSize = 4 + 4 * rank
        guard data.count >= headerSize else {
            throw fail("truncated header: \(data.count) bytes, rank \(rank) needs \(headerSize)")
        }
        var dims: [Int] = []
        var count = 1
        for i in 0..<rank {
            let o = 4 + 4 * i
            let d = Int(data[o]) << 24 | Int(data[o + 1]) << 16 | Int(data[o + 2]) << 8 | Int(data[o + 3])
            dims.append(d)
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, p <= TensorType.maxElements else { throw fail("dimensions \(dims) are too large") }
            count = p
        }
        let have = data.count - headerSize
        guard have >= count else {
            throw fail("truncated: dimensions \(Shape.compact(dims)) need \(count) bytes of data, the file has \(have)")
        }
        guard have == count else {
            throw fail("\(have - count) bytes after the \(count) bytes that dimensions \(Shape.compact(dims)) need")
        }
        return IDXArray(dims: dims, bytes: Array(data[headerSize...]))
    }

    /// Reads an IDX file, gzipped or not.
    public static func read(_ path: String) throws(DataError) -> IDXArray {
        try parse(try DataFiles.readMaybeGzipped(path), file: path)
    }

    /// The IDX encoding of this array (for tests and small fixtures).
    public var encoded: [UInt8] {
        var out: [UInt8] = [0, 0, 0x08, UInt8(dims.count)]
        for d in dims {
            let u = UInt32(d)
            out += [UInt8(u >> 24), UInt8(u >> 16 & 0xFF), UInt8(u >> 8 & 0xFF), UInt8(u & 0xFF)]
        }
        return out + bytes
    }

    private static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined(separator: " ")
    }
}
