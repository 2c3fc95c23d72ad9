// Tensor views and owned host tensors: what the kernels read and write.
//
// A `TensorView` is a pointer, a dtype and a `Shape` (dense, row-major, NCHW for images); it owns
// nothing. Kernels are plain functions over views, so the reference interpreter (one allocation per
// value) and the coming planned arena (offsets into one buffer) call the same code.
import GraphIR

/// A dense row-major tensor in memory someone else owns: pointer, dtype and shape.
public struct TensorView: @unchecked Sendable {
    public var base: UnsafeMutableRawPointer
    public var dtype: DType
    public var shape: Shape

    public init(_ base: UnsafeMutableRawPointer, _ dtype: DType, _ shape: Shape) {
        self.base = base
        self.dtype = dtype
        self.shape = shape
    }

    /// Number of elements (1 for a scalar).
    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }
    public var byteCount: Int { dtype.byteCount(elements: count) }

    /// The elements as f32 (the view must be f32).
    public var f32: UnsafeMutablePointer<Float> {
        precondition(dtype == .f32, "TensorView: \(dtype) read as f32")
        return base.assumingMemoryBound(to: Float.self)
    }

    /// The elements as i64 (labels, pooling indices).
    public var i64: UnsafeMutablePointer<Int64> {
        precondition(dtype == .i64, "TensorView: \(dtype) read as i64")
        return base.assumingMemoryBound(to: Int64.self)
    }

    /// The elements as bytes, 0 or 1 (dropout masks).
    public var bool: UnsafeMutablePointer<UInt8> {
        precondition(dtype == .bool, "TensorView: \(dtype) read as bool")
        return base.assumingMemoryBound(to: UInt8.self)
    }

    /// The packed bits (relu masks): element i is bit i % 8 of byte i / 8.
    public var mask: UnsafeMutablePointer<UInt8> {
        precondition(dtype == .mask, "TensorView: \(dtype) read as mask")
        return base.assumingMemoryBound(to: UInt8.self)
    }

    /// The same memory seen with another shape of the same element count (reshape, flatten).
    public func reshaped(_ shape: Shape) -> TensorView {
        precondition(shape.reduce(1, *) == count, "TensorView: cannot view \(self.shape) as \(shape)")
        return TensorView(base, dtype, shape)
    }

    /// Dimension `i`, or 1 past the rank (a 2-D batch-norm input has no spatial dimensions).
    func dim(_ i: Int) -> Int { i < rank ? shape[i] : 1 }

    /// Whether both views start at the same address (an in-place update or a view).
    func sameStorage(as other: TensorView) -> Bool { base == other.base }
}

/// A tensor that owns its memory (64-byte aligned, zero-filled): the interpreter's values and the
/// tests' operands.
public final class HostTensor: @unchecked Sendable {
    public let view: TensorView

    public init(_ dtype: DType, _ shape: Shape) {
        let bytes = max(dtype.byteCount(elements: shape.reduce(1, *)), 1)
        let base = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        view = TensorView(base, dtype, shape)
    }

    public convenience init(_ type: TensorType) { self.init(type.dtype, type.shape) }

    /// An f32 tensor holding `values` (as many as the shape has elements).
    public convenience init(_ shape: Shape, _ values: [Float]) {
        self.init(.f32, shape)
        precondition(values.count == view.count, "HostTensor: \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { view.f32.update(from: $0.baseAddress!, count: values.count) }
    }

    /// An i64 tensor holding `values`.
    public convenience init(_ shape: Shape, labels values: [Int64]) {
        self.init(.i64, shape)
        precondition(values.count == view.count, "HostTensor: \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { view.i64.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { view.base.deallocate() }

    public var shape: Shape { view.shape }

    /// The elements of an f32 tensor, copied out.
    public var floats: [Float] { Array(UnsafeBufferPointer(start: view.f32, count: view.count)) }

    /// Overwrites an f32 tensor with `values`.
    public func set(_ values: [Float]) {
        precondition(values.count == view.count, "HostTensor: \(values.count) values for shape \(view.shape)")
        values.withUnsafeBufferPointer { view.f32.update(from: $0.baseAddress!, count: values.count) }
    }

    /// Copies the contents of `other` (same byte count) into this tensor.
    public func copy(from other: TensorView) {
        precondition(
            other.byteCount == view.byteCount, "HostTensor: copy of \(other.byteCount) bytes into \(view.byteCount)")
        view.base.copyMemory(from: other.base, byteCount: view.byteCount)
    }
}
