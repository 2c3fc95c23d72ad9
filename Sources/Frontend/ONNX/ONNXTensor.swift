import GraphIR

/// Why an ONNX file cannot be read, imported or written: one line naming the file and, when one is at
/// fault, the node (`node '/layer1/conv1/Conv' (Conv)`) or tensor.
public struct ONNXError: Error, Sendable, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A constant tensor of an ONNX file (an initializer or a `Constant` node's value), decoded to host
/// values. graphc computes in float32 and indexes in Int64, so floating types widen or narrow to Float
/// and integer types to Int64; the element type is kept to say what a tensor was.
public struct ONNXTensor: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    /// The ONNX `TensorProto.DataType` number (1 float, 7 int64, ...).
    public var dataType: Int32
    /// The elements of a floating tensor (FLOAT, DOUBLE, FLOAT16), row-major.
    public var floats: [Float]
    /// The elements of an integer or boolean tensor, row-major.
    public var integers: [Int64]

    public init(name: String, shape: [Int], floats: [Float]) {
        self.name = name
        self.shape = shape
        self.dataType = ONNXDataType.float
        self.floats = floats
        self.integers = []
    }

    public init(name: String, shape: [Int], integers: [Int64], dataType: Int32 = ONNXDataType.int64) {
        self.name = name
        self.shape = shape
        self.dataType = dataType
        self.floats = []
        self.integers = integers
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var isFloating: Bool { ONNXDataType.isFloating(dataType) }

    /// The elements as floats, whatever the type.
    public var asFloats: [Float] { isFloating ? floats : integers.map { Float($0) } }
    /// The elements as integers (floats truncated), whatever the type.
    public var asIntegers: [Int64] {
        isFloating ? floats.map { $0.isFinite ? Int64(max(min($0, 9e18), -9e18)) : 0 } : integers
    }
}

/// ONNX's `TensorProto.DataType` numbers graphc reads.
public enum ONNXDataType {
    public static let float: Int32 = 1
    public static let uint8: Int32 = 2
    public static let int8: Int32 = 3
    public static let uint16: Int32 = 4
    public static let int16: Int32 = 5
    public static let int32: Int32 = 6
    public static let int64: Int32 = 7
    public static let bool: Int32 = 9
    public static let float16: Int32 = 10
    public static let double: Int32 = 11
    public static let uint32: Int32 = 12
    public static let uint64: Int32 = 13

    static func isFloating(_ t: Int32) -> Bool { t == float || t == float16 || t == double }

    /// Bytes per element in `raw_data`, nil for the types graphc does not read (strings, complex, bfloat16).
    static func size(_ t: Int32) -> Int? {
        switch t {
        case uint8, int8, bool: 1
        case uint16, int16, float16: 2
        case float, int32, uint32: 4
        case int64, double, uint64: 8
        case _: nil
        }
    }

    static func name(_ t: Int32) -> String {
        let names: [Int32: String] = [
            0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
            8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 14: "COMPLEX64",
            15: "COMPLEX128", 16: "BFLOAT16",
        ]
        return names[t] ?? "type \(t)"
    }
}

/// Decodes `TensorProto`s: raw little-endian bytes, the typed repeated fields, or external data.
struct TensorDecoder {
    /// Reads the bytes of an external-data file, `location` relative to the model file; nil when the
    /// caller gives no file access (bytes parsed in memory).
    var readExternal: ((String) throws -> [UInt8])?
    var file: String

    /// The largest tensor graphc decodes (2^31 elements), far above any CNN's weight.
    static let maxElements = 1 << 31

    func decode(_ t: Onnx_TensorProto, context: String) throws(ONNXError) -> ONNXTensor {
        func fail(_ why: String) -> ONNXError { ONNXError("\(file): \(context): \(why)") }
        var shape: [Int] = []
        var count = 1
        for d in t.dims {
            guard d >= 0, d <= Int64(Self.maxElements) else { throw fail("dimension \(d) is out of range") }
            let (p, o) = count.multipliedReportingOverflow(by: Int(d))
            guard !o, p <= Self.maxElements else { throw fail("more than 2^31 elements") }
            shape.append(Int(d))
            count = p
        }
        let type = t.dataType
        guard let size = ONNXDataType.size(type) else {
            throw fail("element type \(ONNXDataType.name(type)) is not supported (graphc reads numeric tensors)")
        }
        var raw: [UInt8]?
        if t.dataLocation == .external {
            raw = try external(t, count: count, size: size, fail: fail)
        } else if t.hasRawData {
            raw = [UInt8](t.rawData)
        }
        let name = t.name
        if let raw {
            guard raw.count == count * size else {
                throw fail(
                    "raw data holds \(raw.count) bytes, but \(Shape.format(shape)) of \(ONNXDataType.name(type)) needs \(count * size)"
                )
            }
            if ONNXDataType.isFloating(type) {
                return ONNXTensor(name: name, shape: shape, floats: Self.floats(raw, type: type))
            }
            return ONNXTensor(name: name, shape: shape, integers: Self.integers(raw, type: type), dataType: type)
        }
        // The typed fields, as the specification assigns them to types.
        func check(_ n: Int, _ field: String) throws(ONNXError) {
            guard n == count else {
                throw fail("\(field) holds \(n) values, but \(Shape.format(shape)) needs \(count)")
            }
        }
        switch type {
        case ONNXDataType.float:
            try check(t.floatData.count, "float_data")
            return ONNXTensor(name: name, shape: shape, floats: t.floatData)
        case ONNXDataType.double:
            try check(t.doubleData.count, "double_data")
            return ONNXTensor(name: name, shape: shape, floats: t.doubleData.map { Float($0) })
        case ONNXDataType.float16:
            try check(t.int32Data.count, "int32_data")
            return ONNXTensor(
                name: name, shape: shape, floats: t.int32Data.map { Self.half(UInt16(truncatingIfNeeded: $0)) })
        case ONNXDataType.int64:
            try check(t.int64Data.count, "int64_data")
            return ONNXTensor(name: name, shape: shape, integers: t.int64Data, dataType: type)
        case ONNXDataType.uint32, ONNXDataType.uint64:
            try check(t.uint64Data.count, "uint64_data")
            return ONNXTensor(
                name: name, shape: shape, integers: t.uint64Data.map { Int64(truncatingIfNeeded: $0) }, dataType: type)
        case _:
            try check(t.int32Data.count, "int32_data")
            return ONNXTensor(name: name, shape: shape, integers: t.int32Data.map { Int64($0) }, dataType: type)
        }
    }

    private func external(
        _ t: Onnx_TensorProto, count: Int, size: Int, fail: (String) -> ONNXError
    ) throws(ONNXError) -> [UInt8] {
        var location: String?
        var offset = 0
        var length: Int?
        for entry in t.externalData {
            switch entry.key {
            case "location": location = entry.value
            case "offset":
                guard let v = Int(entry.value), v >= 0 else {
                    throw fail("external data offset '\(entry.value)' is not a byte offset")
                }
                offset = v
            case "length":
                guard let v = Int(entry.value), v >= 0 else {
                    throw fail("external data length '\(entry.value)' is not a byte count")
                }
                length = v
            case _: break
            }
        }
        guard let location, !location.isEmpty else { throw fail("external data has no location") }
        guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw fail("external data location '\(location)' leaves the model's folder")
        }
        guard let readExternal else {
            throw fail("external data '\(location)' needs the model's folder, which is unknown here")
        }
        let bytes: [UInt8]
        do {
            bytes = try readExternal(location)
        } catch let e as ONNXError {
            throw e
        } catch {
            throw fail("cannot read external data file '\(location)': \(error)")
        }
        let need = length ?? count * size
        guard offset <= bytes.count, need <= bytes.count - offset else {
            throw fail(
                "external data file '\(location)' has \(bytes.count) bytes, fewer than offset \(offset) + length \(need) (truncated?)"
            )
        }
        return Array(bytes[offset..<offset + need])
    }

    static func floats(_ raw: [UInt8], type: Int32) -> [Float] {
        switch type {
        case ONNXDataType.double:
            return stride(from: 0, to: raw.count, by: 8).map { i in
                var u: UInt64 = 0
                for k in 0..<8 { u |= UInt64(raw[i + k]) << (8 * k) }
                return Float(Double(bitPattern: u))
            }
        case ONNXDataType.float16:
            return stride(from: 0, to: raw.count, by: 2).map { half(UInt16(raw[$0]) | UInt16(raw[$0 + 1]) << 8) }
        case _:
            #if _endian(little)
                // The file's little-endian float32 is the host's layout: one copy.
                var out = [Float](repeating: 0, count: raw.count / 4)
                out.withUnsafeMutableBytes { dst in raw.withUnsafeBytes { dst.copyMemory(from: $0) } }
                return out
            #else
                return stride(from: 0, to: raw.count, by: 4).map { i in
                    Float(
                        bitPattern: UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16
                            | UInt32(raw[i + 3]) << 24)
                }
            #endif
        }
    }

    static func integers(_ raw: [UInt8], type: Int32) -> [Int64] {
        let size = ONNXDataType.size(type)!
        let signed =
            type == ONNXDataType.int8 || type == ONNXDataType.int16 || type == ONNXDataType.int32
            || type == ONNXDataType.int64
        return stride(from: 0, to: raw.count, by: size).map { i in
            var u: UInt64 = 0
            for k in 0..<size { u |= UInt64(raw[i + k]) << (8 * k) }
            if signed && size < 8 && u >> (8 * size - 1) & 1 == 1 { u |= ~0 << (8 * size) }
            return Int64(bitPattern: u)
        }
    }

    /// IEEE half to float.
    static func half(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exp = Int(h >> 10 & 0x1F)
        let frac = UInt32(h & 0x3FF)
        if exp == 0 {
            return (sign != 0 ? -1 : 1) * Float(frac) * 0x1p-24
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | frac << 13) }
        return Float(bitPattern: sign | UInt32(exp + 112) << 23 | frac << 13)
    }
}
