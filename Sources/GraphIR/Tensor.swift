/// Element types. `f32` for activations and parameters, `i64` for class labels. The reduced-precision
/// types `f16`, `bf16` and `qi8` are storage types (`set-precision`, `--weights`, `--activations`):
/// every op computes in f32, reading such an operand widened and rounding a result into it, so shape
/// inference speaks of f32 (`computeType`) and the verifier accepts a reduced storage for an f32 result.
public enum DType: String, Sendable, Hashable, CaseIterable {
    case f32
    case i64
    /// Masks (dropout), one byte per element as PyTorch stores them.
    case bool
    /// Packed 1-bit masks (`relu_mask`, `relu6_mask`, `--saving lean`): eight elements per byte, element i in bit
    /// i % 8 of byte i / 8; a tensor of n elements takes ceil(n / 8) bytes.
    case mask
    /// IEEE 754 binary16.
    case f16
    /// bfloat16: f32's exponent, 8 bits of significand.
    case bf16
    /// Quantized int8 with one f32 scale per output channel (index of dimension 0): value = q · scale[c].
    /// A frozen weight's storage only; a tensor of shape [C, ...] takes numel + 4·C bytes (`scaleBytes`).
    case qi8

    /// Bytes per storage unit: per element, but for `mask`, whose byte holds eight, and `qi8`, whose
    /// per-channel scales come on top (see `byteCount`).
    public var size: Int {
        switch self {
        case .f32: 4
        case .i64: 8
        case .bool, .mask, .qi8: 1
        case .f16, .bf16: 2
        }
    }

    /// Bytes of `elements` elements: ceil(n / 8) for a mask, n · size otherwise (a `qi8` tensor's
    /// scales are `TensorType.scaleBytes`).
    public func byteCount(elements n: Int) -> Int {
        switch self {
        case .mask: (n + 7) / 8
        case .f32, .i64, .bool, .f16, .bf16, .qi8: n * size
        }
    }

    /// The dtype an op computes a value of this storage in: f32 for the real-valued types.
    public var computeType: DType {
        switch self {
        case .f32, .f16, .bf16, .qi8: .f32
        case .i64, .bool, .mask: self
        }
    }

    /// Whether this is a reduced-precision storage of f32 values (`f16`, `bf16`, `qi8`).
    public var isReducedPrecision: Bool {
        switch self {
        case .f16, .bf16, .qi8: true
        case .f32, .i64, .bool, .mask: false
        }
    }

    /// Whether a value computed as `computed` may be stored as this dtype: the same dtype, or a reduced
    /// floating-point storage (`f16`, `bf16`) of an f32 result. `qi8` is never an op's result: it is
    /// the storage of a parameter (its per-channel scales are computed when it is quantized, not per step).
    public func stores(_ computed: DType) -> Bool {
        switch self {
        case .f16, .bf16: computed == .f32
        case .f32, .i64, .bool, .mask, .qi8: computed == self
        }
    }
}

/// The static type of a value: a dtype and a fully known shape (row-major, NCHW for images).
public struct TensorType: Sendable, Hashable, CustomStringConvertible {
    public var dtype: DType
    public var shape: Shape

    public init(_ dtype: DType = .f32, _ shape: Shape) {
        self.dtype = dtype
        self.shape = shape
    }

    public static func f32(_ shape: Shape) -> TensorType { TensorType(.f32, shape) }
    public static func i64(_ shape: Shape) -> TensorType { TensorType(.i64, shape) }

    // Array spellings for callers that hold `[Int]`; disfavoured so that literals build a `Shape` directly.
    @_disfavoredOverload
    public init(_ dtype: DType = .f32, _ dims: [Int]) { self.init(dtype, Shape(dims)) }
    @_disfavoredOverload
    public static func f32(_ dims: [Int]) -> TensorType { TensorType(.f32, Shape(dims)) }
    @_disfavoredOverload
    public static func i64(_ dims: [Int]) -> TensorType { TensorType(.i64, Shape(dims)) }

    public var rank: Int { shape.count }

    /// The largest tensor graphc accepts (2^40 elements), so that no size computation can overflow.
    public static let maxElements = 1 << 40

    /// The element count, or nil when a dimension is negative or the count exceeds `maxElements`.
    public var checkedElementCount: Int? {
        var count = 1
        for d in shape {
            guard d >= 0, d <= Self.maxElements else { return nil }
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, p <= Self.maxElements else { return nil }
            count = p
        }
        return count
    }
    /// Number of elements (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { dtype.byteCount(elements: elementCount) + scaleBytes }

    /// Bytes of a quantized type's scales: 4 per output channel (dimension 0; one for a scalar) for
    /// `qi8`, 0 otherwise.
    public var scaleBytes: Int {
        switch dtype {
        case .qi8: 4 * (shape.first ?? 1)
        case .f32, .i64, .bool, .mask, .f16, .bf16: 0
        }
    }

    /// Whether a value of this declared type may hold a result inferred as `computed`: the same shape,
    /// and a dtype that `stores` the computed one.
    public func stores(_ computed: TensorType) -> Bool { shape == computed.shape && dtype.stores(computed.dtype) }

    /// The same shape with another dtype.
    public func withDType(_ dtype: DType) -> TensorType { TensorType(dtype, shape) }

    /// `f32[1, 64, 56, 56]`; a scalar prints as `f32[]`.
    public var description: String { "\(dtype.rawValue)\(Shape.format(shape))" }
}

/// A tensor's dimensions, stored inline: a shape never allocates, so types, values and ops that carry
/// one are plain data that copy without reference counting (graphs of 10^5 nodes are rebuilt by every
/// pass). The rank is at most `Shape.maxRank`; parsers reject more with an error, and building a larger
/// shape in code is a programming error.
public struct Shape: Sendable, Hashable, RandomAccessCollection, MutableCollection, ExpressibleByArrayLiteral,
    CustomStringConvertible
{
    /// The largest rank graphc represents (ONNX Runtime's and PyTorch's CNNs stay far below it).
    public static let maxRank = 8

    private var dims: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    public private(set) var count: Int = 0

    public init() {}

    /// A shape of `dims`; at most `maxRank` of them.
    public init(_ dims: some Sequence<Int>) {
        for d in dims { append(d) }
    }

    /// nil when `dims` has more than `maxRank` entries.
    public init?(checking dims: [Int]) {
        guard dims.count <= Self.maxRank else { return nil }
        self.init(dims)
    }

    public init(arrayLiteral elements: Int...) { self.init(elements) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> Int {
        get {
            precondition(position >= 0 && position < count, "Shape index out of range")
            return withUnsafeBytes(of: dims) {
                $0.load(fromByteOffset: position * MemoryLayout<Int>.stride, as: Int.self)
            }
        }
        set {
            precondition(position >= 0 && position < count, "Shape index out of range")
            withUnsafeMutableBytes(of: &dims) {
                $0.storeBytes(of: newValue, toByteOffset: position * MemoryLayout<Int>.stride, as: Int.self)
            }
        }
    }

    /// Appends a dimension; the rank must stay at most `maxRank`.
    public mutating func append(_ d: Int) {
        precondition(count < Self.maxRank, "Shape: rank above \(Self.maxRank)")
        count += 1
        self[count - 1] = d
    }

    /// The dimensions as an array.
    public var array: [Int] { Array(self) }

    // Element-wise: the tuple's unused slots do not take part.
    public static func == (a: Shape, b: Shape) -> Bool { a.elementsEqual(b) }
    public func hash(into hasher: inout Hasher) { hasher.combine(array) }

    /// `[1, 64, 56, 56]`.
    public var description: String { Self.format(self) }

    public static func format(_ dims: some Collection<Int>) -> String {
        "[" + dims.map(String.init).joined(separator: ", ") + "]"
    }

    /// `1x64x56x56`, the compact form used in tables and edge labels.
    public static func compact(_ dims: some Collection<Int>) -> String {
        dims.isEmpty ? "scalar" : dims.map(String.init).joined(separator: "x")
    }

    /// Parses `3x224x224` (also `3,224,224`); nil unless every dimension is a positive integer.
    public static func parse(_ text: String) -> [Int]? {
        let parts = text.filter { $0 != " " }.split(
            separator: ",", omittingEmptySubsequences: false
        ).flatMap { $0.split(separator: "x", omittingEmptySubsequences: false) }
        guard !text.isEmpty else { return nil }
        var dims: [Int] = []
        for part in parts {
            guard let d = Int(part), d > 0 else { return nil }
            dims.append(d)
        }
        return dims
    }
}
