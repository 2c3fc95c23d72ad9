// concat and its gradient, slice: row-major copies of contiguous runs. Along `axis`, a tensor is
// `outer` blocks (the product of the dimensions before it) of `shape[axis] · inner` elements, so each
// operand contributes one run per block.
extension Kernels {
    /// y = the operands joined along `axis`.
    public static func concat(_ x: [TensorView], y: TensorView, axis: Int) {
        let outer = y.shape.prefix(axis).reduce(1, *)
        let inner = y.shape.dropFirst(axis + 1).reduce(1, *)
        let row = y.shape[axis] * inner
        var offset = 0
        for t in x {
            let run = t.shape[axis] * inner
            for o in 0..<outer { (y.f32 + o * row + offset).update(from: t.f32 + o * run, count: run) }
            offset += run
        }
    }

    /// y = `length` entries of x along `axis`, from `start`.
    public static func slice(x: TensorView, y: TensorView, axis: Int, start: Int) {
        let outer = x.shape.prefix(axis).reduce(1, *)
        let inner = x.shape.dropFirst(axis + 1).reduce(1, *)
        let row = x.shape[axis] * inner
        let run = y.shape[axis] * inner
        for o in 0..<outer { (y.f32 + o * run).update(from: x.f32 + o * row + start * inner, count: run) }
    }
}
