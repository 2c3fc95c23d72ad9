/// Element types. `f32` for activations and parameters, `i64` for class labels.
public enum DType: String, Sendable, Hashable, CaseIterable {
    case f32
    case i64
    /// Masks (dropout), one byte per element as PyTorch stores them.
    case bool

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f32: 4
        case .i64: 8
        case .bool: 1
        }
    }
}

/// The static type of a value: a dtype and a fully known shape (row-major, NCHW for images).
public struct TensorType: Sendable, Hashable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Int]

    public init(_ dtype: DType = .f32, _ shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
    }

    public static func f32(_ shape: [Int]) -> TensorType { TensorType(.f32, shape) }
    public static func i64(_ shape: [Int]) -> TensorType { TensorType(.i64, shape) }

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
    public var byteCount: Int { elementCount * dtype.size }

    /// The same shape with another dtype.
    public func withDType(_ dtype: DType) -> TensorType { TensorType(dtype, shape) }

    /// `f32[1, 64, 56, 56]`; a scalar prints as `f32[]`.
    public var description: String { "\(dtype.rawValue)\(Shape.format(shape))" }
}

/// Helpers for shapes written as `[1, 64, 56, 56]` or `1x64x56x56`.
public enum Shape {
    public static func format(_ dims: [Int]) -> String {
        "[" + dims.map(String.init).joined(separator: ", ") + "]"
    }

    /// `1x64x56x56`, the compact form used in tables and edge labels.
    public static func compact(_ dims: [Int]) -> String {
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
