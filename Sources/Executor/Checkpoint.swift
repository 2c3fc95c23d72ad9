// Checkpoints in the safetensors format (huggingface/safetensors), which PyTorch reads with
// `safetensors.torch.load_file` or a few lines of struct + json:
//
//     8 bytes    N, the header's length (u64, little-endian)
//     N bytes    a JSON object: {NAME: {"dtype": "F32"|"I64", "shape": [d, ...], "data_offsets": [begin, end]},
//                ..., "__metadata__": {string: string}}, padded with spaces to a multiple of 8
//     the rest   the tensors' bytes, little-endian, row-major; offsets count from the start of this part
//
// Reading checks what the format promises: the header length within the file, JSON that parses (no
// duplicate names), known fields only, dtype F32 or I64 (others are named and refused), shapes of
// non-negative dimensions, offsets that match the shape's byte count and tile the data exactly (no
// overlap, no hole, nothing after the last tensor; a data part shorter than the offsets is a truncated
// file). Every error is one line naming the file. Names are PyTorch's state_dict keys (Checkpoint+Graph).
import GraphIR

/// Why a checkpoint cannot be read or used: one line naming the file (and the tensor, when one is at fault).
public struct CheckpointError: Error, Sendable, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The tensors and metadata of a safetensors file.
public struct Checkpoint: Sendable, Equatable {
    /// One named tensor: its dtype, shape and little-endian bytes.
    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public var data: [UInt8]

        public init(name: String, dtype: DType, shape: [Int], data: [UInt8]) {
            precondition(dtype != .bool && dtype != .mask, "Checkpoint: bool and mask tensors are not stored")
            precondition(
                shape.reduce(1, *) * dtype.size == data.count,
                "Checkpoint: \(data.count) bytes for '\(name)' \(dtype.rawValue)\(Shape.format(shape))")
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.data = data
        }

        /// An f32 tensor of `values`.
        public init(name: String, shape: [Int], floats values: [Float]) {
            var data: [UInt8] = []
            data.reserveCapacity(values.count * 4)
            for v in values {
                let u = v.bitPattern
                data += [UInt8(u & 0xFF), UInt8(u >> 8 & 0xFF), UInt8(u >> 16 & 0xFF), UInt8(u >> 24)]
            }
            self.init(name: name, dtype: .f32, shape: shape, data: data)
        }

        /// An i64 tensor of `values`.
        public init(name: String, shape: [Int], integers values: [Int64]) {
            var data: [UInt8] = []
            data.reserveCapacity(values.count * 8)
            for v in values {
                let u = UInt64(bitPattern: v)
                for k in 0..<8 { data.append(UInt8(u >> (8 * k) & 0xFF)) }
            }
            self.init(name: name, dtype: .i64, shape: shape, data: data)
        }

        /// The elements of an f32 tensor.
        public var floats: [Float] {
            precondition(dtype == .f32, "Checkpoint: '\(name)' is \(dtype.rawValue), read as f32")
            return stride(from: 0, to: data.count, by: 4).map { (i: Int) -> Float in
                var u: UInt32 = 0
                for k in 0..<4 { u |= UInt32(data[i + k]) << (8 * k) }
                return Float(bitPattern: u)
            }
        }

        /// The elements of an i64 tensor.
        public var integers: [Int64] {
            precondition(dtype == .i64, "Checkpoint: '\(name)' is \(dtype.rawValue), read as i64")
            return stride(from: 0, to: data.count, by: 8).map { i in
                var u: UInt64 = 0
                for k in 0..<8 { u |= UInt64(data[i + k]) << (8 * k) }
                return Int64(bitPattern: u)
            }
        }

        /// `F32 [16, 1, 3, 3]`, as the file spells it.
        public var typeDescription: String { "\(Checkpoint.fileDType(dtype)) \(Shape.format(shape))" }

        /// Copies the elements into `view` (same dtype and element count), converting from little-endian.
        public func copy(into view: TensorView) {
            precondition(
                view.dtype == dtype && view.count * dtype.size == data.count, "Checkpoint: '\(name)' into \(view.shape)"
            )
            data.withUnsafeBytes { src in
                #if _endian(little)
                    view.base.copyMemory(from: src.baseAddress!, byteCount: data.count)
                #else
                    let out = view.base.assumingMemoryBound(to: UInt8.self)
                    let w = dtype.size
                    for i in 0..<view.count { for k in 0..<w { out[i * w + k] = src[i * w + w - 1 - k] } }
                #endif
            }
        }

        /// A tensor holding a copy of `view`'s elements.
        public init(name: String, view: TensorView) {
            var data = [UInt8](repeating: 0, count: view.byteCount)
            data.withUnsafeMutableBytes { dst in
                #if _endian(little)
                    dst.baseAddress!.copyMemory(from: view.base, byteCount: view.byteCount)
                #else
                    let src = view.base.assumingMemoryBound(to: UInt8.self)
                    let w = view.dtype.size
                    for i in 0..<view.count { for k in 0..<w { dst[i * w + k] = src[i * w + w - 1 - k] } }
                #endif
            }
            self.init(name: name, dtype: view.dtype, shape: view.shape.array, data: data)
        }
    }

    public var tensors: [Tensor]
    /// The header's `__metadata__` (string to string), written with sorted keys.
    public var metadata: [String: String]

    public init(tensors: [Tensor] = [], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The tensor named `name`.
    public subscript(name: String) -> Tensor? { tensors.first { $0.name == name } }

    /// The largest header graphc reads (safetensors' own limit is 100 MB).
    public static let maxHeaderLength = 100_000_000

    static func fileDType(_ d: DType) -> String {
        switch d {
        case .f32: "F32"
        case .i64: "I64"
        case .bool: "BOOL"
        // Never written (the init refuses it); safetensors has no packed-bit dtype.
        case .mask: "MASK"
        // Reduced-precision storage: graphc's executor runs f32 graphs only, so these are never written.
        case .f16: "F16"
        case .bf16: "BF16"
        case .qi8: "I8"
        }
    }

    /// The safetensors encoding. Tensors in order; the header padded with spaces to a multiple of 8.
    public func serialized() -> [UInt8] {
        precondition(Set(tensors.map(\.name)).count == tensors.count, "Checkpoint: duplicate tensor names")
        precondition(!tensors.contains { $0.name == "__metadata__" }, "Checkpoint: a tensor named __metadata__")
        var entries: [String] = []
        if !metadata.isEmpty {
            let m = metadata.keys.sorted().map { JSONWriter.quote($0) + ":" + JSONWriter.quote(metadata[$0]!) }
            entries.append("\"__metadata__\":{" + m.joined(separator: ",") + "}")
        }
        var offset = 0
        for t in tensors {
            let end = offset + t.data.count
            entries.append(
                JSONWriter.quote(t.name) + ":{\"dtype\":\"\(Self.fileDType(t.dtype))\",\"shape\":["
                    + t.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + offset)
        let n = UInt64(header.count)
        for k in 0..<8 { out.append(UInt8(n >> (8 * k) & 0xFF)) }
        out += header
        for t in tensors { out += t.data }
        return out
    }

    /// Reads a safetensors file.
    public static func read(_ path: String) throws(CheckpointError) -> Checkpoint {
        let bytes: [UInt8]
        do {
            bytes = try DataFiles.read(path)
        } catch {
            throw CheckpointError(error.description)
        }
        return try parse(bytes, file: path)
    }

    /// Parses safetensors bytes; errors name `file`.
    public static func parse(_ bytes: [UInt8], file: String) throws(CheckpointError) -> Checkpoint {
        func fail(_ why: String) -> CheckpointError {
            CheckpointError("'\(file)' is not a valid safetensors checkpoint: \(why)")
        }
        guard bytes.count >= 8 else {
            throw fail("\(bytes.count) bytes, shorter than the 8-byte header length (truncated file?)")
        }
        var n64: UInt64 = 0
        for k in 0..<8 { n64 |= UInt64(bytes[k]) << (8 * k) }
        guard n64 <= UInt64(maxHeaderLength) else {
            throw fail("the header length \(n64) is above \(maxHeaderLength) bytes (not a safetensors file?)")
        }
        let n = Int(n64)
        guard n <= bytes.count - 8 else {
            throw fail("the header length \(n) exceeds the \(bytes.count - 8) bytes after it (truncated file?)")
        }
        guard n >= 2, bytes[8] == UInt8(ascii: "{") else {
            throw fail("the header does not start with '{' (not a safetensors file?)")
        }
        let root: JSONValue
        do {
            root = try JSONParser.parse(Array(bytes[8..<8 + n]))
        } catch {
            throw fail("bad JSON header at byte \(8 + error.offset): \(error.message)")
        }
        guard case let .object(members) = root else { throw fail("the header is \(root.kind), not an object") }
        var checkpoint = Checkpoint()
        var spans: [(begin: Int, end: Int, name: String)] = []
        var layouts: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in members {
            if name == "__metadata__" {
                guard case let .object(pairs) = value else {
                    throw fail("__metadata__ is \(value.kind), not an object")
                }
                for (k, v) in pairs {
                    guard case let .string(s) = v else {
                        throw fail("__metadata__ \"\(k)\" is \(v.kind), not a string")
                    }
                    checkpoint.metadata[k] = s
                }
                continue
            }
            func bad(_ why: String) -> CheckpointError { fail("tensor '\(name)': \(why)") }
            guard case let .object(fields) = value else { throw bad("its entry is \(value.kind), not an object") }
            var dtype: DType?, shape: [Int]?, offsets: [Int]?
            for (key, field) in fields {
                switch key {
                case "dtype":
                    guard case let .string(d) = field else { throw bad("dtype is \(field.kind), not a string") }
                    switch d {
                    case "F32": dtype = .f32
                    case "I64": dtype = .i64
                    case "F16", "BF16", "F64", "I8", "U8", "I16", "U16", "I32", "U32", "U64", "BOOL", "F8_E4M3",
                        "F8_E5M2":
                        throw bad("dtype \(d) is not supported (graphc reads F32 and I64)")
                    default:
                        throw bad("unknown dtype \"\(d)\"")
                    }
                case "shape":
                    guard case let .array(dims) = field else { throw bad("shape is \(field.kind), not an array") }
                    let ints = dims.compactMap(\.nonNegativeInt)
                    guard ints.count == dims.count else {
                        throw bad("shape holds something other than non-negative integers")
                    }
                    guard ints.count <= Shape.maxRank else { throw bad("rank \(ints.count) is above \(Shape.maxRank)") }
                    guard TensorType(.f32, Shape(ints)).checkedElementCount != nil else {
                        throw bad("shape \(Shape.format(ints)) is too large")
                    }
                    shape = ints
                case "data_offsets":
                    guard case let .array(pair) = field, pair.count == 2,
                        let b = pair[0].nonNegativeInt, let e = pair[1].nonNegativeInt
                    else {
                        throw bad("data_offsets must be [begin, end], two non-negative integers")
                    }
                    offsets = [b, e]
                default:
                    throw bad("unknown field \"\(key)\"")
                }
            }
            guard let dtype else { throw bad("no dtype") }
            guard let shape else { throw bad("no shape") }
            guard let offsets else { throw bad("no data_offsets") }
            let size = shape.reduce(1, *) * dtype.size
            guard offsets[0] <= offsets[1], offsets[1] - offsets[0] == size else {
                throw bad(
                    "data_offsets [\(offsets[0]), \(offsets[1])] hold \(offsets[1] - offsets[0]) bytes, but "
                        + "\(fileDType(dtype)) \(Shape.format(shape)) takes \(size)")
            }
            spans.append((offsets[0], offsets[1], name))
            layouts.append((name, dtype, shape, offsets[0], offsets[1]))
        }
        // The tensors tile the data part: sorted by offset, each begins where the previous one ends.
        let data = bytes.count - 8 - n
        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var at = 0, previous: String?
        for s in spans {
            if s.begin < at {
                throw fail("tensors '\(previous!)' and '\(s.name)' overlap (bytes \(s.begin)..<\(at) of the data)")
            }
            if s.begin > at {
                throw fail("bytes \(at)..<\(s.begin) of the data belong to no tensor (a hole before '\(s.name)')")
            }
            at = s.end
            previous = s.name
        }
        if at > data {
            throw fail("truncated: tensor '\(previous!)' ends at byte \(at) of the data, but the file holds \(data)")
        }
        if at < data { throw fail("\(data - at) bytes after the last tensor's data") }
        let base = 8 + n
        for l in layouts {
            checkpoint.tensors.append(
                Tensor(
                    name: l.name, dtype: l.dtype, shape: l.shape,
                    data: Array(bytes[base + l.begin..<base + l.end])))
        }
        return checkpoint
    }
}
