import GraphIR

// Elementwise kernels: activations and their gradients (PyTorch's formulas, including where a
// gradient reads the output), add / mul / div with NumPy broadcasting, scale, sum_to, dropout.
// All split over contiguous element ranges; every kernel is safe in place (output = an input).
#if canImport(Glibc)
    import Glibc
#endif

extension Kernels {
    /// y[i] = f(x[i]), split over the cores when `work` (flops per element) makes it pay.
    @inline(__always)
    static func map(_ x: TensorView, _ y: TensorView, work: Int = 1, _ f: @escaping (Float) -> Float) {
        let xp = x.f32, yp = y.f32
        Parallel.forEach(x.count, unitWork: work) { r in
            for i in r { yp[i] = f(xp[i]) }
        }
    }

    /// out[i] = f(a[i], b[i]) for same-shaped operands.
    @inline(__always)
    static func zip(
        _ a: TensorView, _ b: TensorView, _ out: TensorView, work: Int = 1,
        _ f: @escaping (Float, Float) -> Float
    ) {
        let ap = a.f32, bp = b.f32, op = out.f32
        Parallel.forEach(out.count, unitWork: work) { r in
            for i in r { op[i] = f(ap[i], bp[i]) }
        }
    }

    /// The vector forms of the hot elementwise kernels (ReLU, its gradient, add, mul, scale): eight
    /// lanes at a time, the tail through the same function on a broadcast vector, so every element
    /// sees the same arithmetic. Each is a type so that its loop is specialised, not a closure call
    /// per element.
    protocol VectorUnary { func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> }
    protocol VectorBinary { func callAsFunction(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> }

    /// max(x, 0) as `Swift.max(x, 0)`: 0 where 0 ≥ x (so −0 → +0), NaN kept.
    struct ReluOp: VectorUnary {
        @inline(__always) func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> {
            v.replacing(with: 0, where: v .<= 0)
        }
    }
    struct ScaleOp: VectorUnary {
        let c: Float
        @inline(__always) func callAsFunction(_ v: SIMD8<Float>) -> SIMD8<Float> { v * c }
    }
    /// dy where the saved output y > 0, else 0.
    struct ReluGradOp: VectorBinary {
        @inline(__always) func callAsFunction(_ g: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
            SIMD8<Float>(repeating: 0).replacing(with: g, where: y .> 0)
        }
    }
    struct AddOp: VectorBinary {
        @inline(__always) func callAsFunction(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a + b }
    }
    struct MulOp: VectorBinary {
        @inline(__always) func callAsFunction(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a * b }
    }

    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    static func vectorMap<F: VectorUnary>(_ x: TensorView, _ y: TensorView, _ f: F) {
        let xp = UnsafePointer(x.f32), yp = y.f32
        Parallel.forEach(x.count, unitWork: 1) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                store8(f(load8(xp + i)), yp + i)
                i += 8
            }
            while i < r.upperBound {
                yp[i] = f(SIMD8(repeating: xp[i]))[0]
                i += 1
            }
        }
    }

    static func vectorZip<F: VectorBinary>(_ a: TensorView, _ b: TensorView, _ out: TensorView, _ f: F) {
        let ap = UnsafePointer(a.f32), bp = UnsafePointer(b.f32), op = out.f32
        Parallel.forEach(out.count, unitWork: 1) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                store8(f(load8(ap + i), load8(bp + i)), op + i)
                i += 8
            }
            while i < r.upperBound {
                op[i] = f(SIMD8(repeating: ap[i]), SIMD8(repeating: bp[i]))[0]
                i += 1
            }
        }
    }

    static func sigmoid(_ v: Float) -> Float { 1 / (1 + expf(-v)) }

    /// The forward activation `act` of x.
    public static func activation(_ act: Activation, x: TensorView, y: TensorView) {
        switch act {
        case .relu: vectorMap(x, y, ReluOp())
        case .relu6: map(x, y) { min(max($0, 0), 6) }
        case .hardswish: map(x, y, work: 4) { $0 * min(max($0 + 3, 0), 6) / 6 }
        case .hardsigmoid: map(x, y, work: 3) { min(max($0 + 3, 0), 6) / 6 }
        case .silu: map(x, y, work: 20) { $0 * sigmoid($0) }
        case .sigmoid: map(x, y, work: 20) { sigmoid($0) }
        }
    }

    /// dx of activation `act` from dy and the saved tensor: the output for relu and sigmoid
    /// (`Activation.gradientUsesOutput`), else the input. Boundaries as PyTorch's backward kernels:
    /// relu passes where y > 0; relu6 (hardtanh) where 0 < x < 6; hardswish is 0 below −3, x/3 + ½ up
    /// to 3 inclusive, 1 above; hardsigmoid 1/6 strictly inside (−3, 3).
    public static func activationGrad(_ act: Activation, dy: TensorView, saved: TensorView, dx: TensorView) {
        switch act {
        case .relu: vectorZip(dy, saved, dx, ReluGradOp())
        case .relu6: zip(dy, saved, dx) { g, x in x > 0 && x < 6 ? g : 0 }
        case .hardswish: zip(dy, saved, dx, work: 3) { g, x in x < -3 ? 0 : (x <= 3 ? g * (x / 3 + 0.5) : g) }
        case .hardsigmoid: zip(dy, saved, dx) { g, x in x > -3 && x < 3 ? g / 6 : 0 }
        case .silu:
            zip(dy, saved, dx, work: 24) { g, x in
                let s = sigmoid(x)
                return g * s * (1 + x * (1 - s))
            }
        case .sigmoid: zip(dy, saved, dx, work: 3) { g, y in g * y * (1 - y) }
        }
    }

    /// y = c·x.
    public static func scale(x: TensorView, y: TensorView, factor: Double) {
        vectorMap(x, y, ScaleOp(c: Float(factor)))
    }

    /// Strides of `shape` right-aligned to `rank` dimensions of `out`, 0 where the operand broadcasts.
    static func broadcastStrides(_ shape: Shape, to out: Shape) -> [Int] {
        var strides = [Int](repeating: 0, count: out.count)
        var step = 1
        for k in stride(from: shape.count - 1, through: 0, by: -1) {
            let axis = out.count - shape.count + k
            strides[axis] = shape[k] == 1 && out[axis] != 1 ? 0 : step
            step *= shape[k]
        }
        return strides
    }

    /// out = a ∘ b with NumPy broadcasting. Equal shapes take a flat loop; otherwise rows of the last
    /// dimension, each row's operand offsets from its multi-index.
    @inline(__always)
    static func broadcast(_ a: TensorView, _ b: TensorView, _ out: TensorView, _ f: @escaping (Float, Float) -> Float) {
        if a.shape == out.shape && b.shape == out.shape {
            zip(a, b, out, f)
            return
        }
        broadcastRows(a, b, out, f)
    }

    /// `broadcast` for operands of different shapes.
    static func broadcastRows(
        _ a: TensorView, _ b: TensorView, _ out: TensorView, _ f: @escaping (Float, Float) -> Float
    ) {
        let shape = out.shape, rank = shape.count
        let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
        let last = rank == 0 ? 1 : shape[rank - 1]
        let la = rank == 0 ? 0 : sa[rank - 1], lb = rank == 0 ? 0 : sb[rank - 1]
        let rows = out.count / max(last, 1)
        let ap = a.f32, bp = b.f32, op = out.f32
        Parallel.forEach(rows, unitWork: last) { range in
            for row in range {
                var rest = row, oa = 0, ob = 0
                for axis in stride(from: rank - 2, through: 0, by: -1) {
                    let i = rest % shape[axis]
                    rest /= shape[axis]
                    oa += i * sa[axis]
                    ob += i * sb[axis]
                }
                let dst = op + row * last
                for j in 0..<last { dst[j] = f(ap[oa + j * la], bp[ob + j * lb]) }
            }
        }
    }

    public static func add(a: TensorView, b: TensorView, out: TensorView) {
        if a.shape == out.shape && b.shape == out.shape {
            vectorZip(a, b, out, AddOp())
        } else {
            broadcastRows(a, b, out, +)
        }
    }

    public static func mul(a: TensorView, b: TensorView, out: TensorView) {
        if a.shape == out.shape && b.shape == out.shape {
            vectorZip(a, b, out, MulOp())
        } else {
            broadcastRows(a, b, out, *)
        }
    }
    public static func div(a: TensorView, b: TensorView, out: TensorView) { broadcast(a, b, out, /) }

    /// out = x summed down to out's shape (the adjoint of broadcasting), accumulated in Double (the
    /// accumulators come from `scratch`, `sumToScratch`).
    public static func sumTo(x: TensorView, out: TensorView, scratch: Workspace) {
        if x.shape == out.shape {
            if !x.sameStorage(as: out) { out.base.copyMemory(from: x.base, byteCount: x.byteCount) }
            return
        }
        let shape = x.shape, rank = shape.count
        let so = broadcastStrides(out.shape, to: shape)
        var carver = ScratchCarver(scratch)
        let acc = carver.take(Double.self, out.count)
        acc.update(repeating: 0, count: out.count)
        let xp = x.f32
        let last = shape[rank - 1], lo = so[rank - 1], rows = x.count / last
        for row in 0..<rows {
            var rest = row, o = 0
            for axis in stride(from: rank - 2, through: 0, by: -1) {
                o += (rest % shape[axis]) * so[axis]
                rest /= shape[axis]
            }
            let src = xp + row * last
            if lo == 0 {
                var s: Float = 0
                for j in 0..<last { s += src[j] }
                acc[o] += Double(s)
            } else {
                for j in 0..<last { acc[o + j * lo] += Double(src[j]) }
            }
        }
        let op = out.f32
        for i in 0..<out.count { op[i] = Float(acc[i]) }
    }

    /// A uniform draw in [0, 1) for element `index` of the stream `key`: SplitMix64's finaliser over
    /// key + index, so any split of the elements over threads draws the same numbers.
    @inline(__always)
    static func uniform(_ key: UInt64, _ index: Int) -> Float {
        var z = key &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) * (1 / Float(1 << 24))
    }

    /// Training-mode dropout: mask[i] = (u_i ≥ p), y = x·mask/(1 − p), u_i from the seeded stream `key`.
    public static func nativeDropout(x: TensorView, y: TensorView, mask: TensorView, p: Double, key: UInt64) {
        let xp = x.f32, yp = y.f32, mp = mask.bool, keep = Float(p), scale = Float(1 / (1 - p))
        Parallel.forEach(x.count, unitWork: 8) { r in
            for i in r {
                let kept = uniform(key, i) >= keep
                mp[i] = kept ? 1 : 0
                yp[i] = kept ? xp[i] * scale : 0
            }
        }
    }

    /// dx = dy·mask/(1 − p).
    public static func dropoutGrad(dy: TensorView, mask: TensorView, dx: TensorView, p: Double) {
        let gp = dy.f32, mp = mask.bool, dp = dx.f32, scale = Float(1 / (1 - p))
        Parallel.forEach(dy.count, unitWork: 1) { r in
            for i in r { dp[i] = mp[i] != 0 ? gp[i] * scale : 0 }
        }
    }

    /// dst = src (a view op run without aliasing, or a pass-through), unless they share storage.
    public static func copy(_ src: TensorView, to dst: TensorView) {
        precondition(src.byteCount == dst.byteCount, "copy: \(src.shape) into \(dst.shape)")
        if !src.sameStorage(as: dst) { dst.base.copyMemory(from: src.base, byteCount: src.byteCount) }
    }
}

extension Kernels {
    /// mask bit i = x[i] > 0, packed eight to a byte (bit i % 8 of byte i / 8); the last byte's unused
    /// bits are 0. x may be a ReLU's input or output: both have the same positive elements.
    public static func reluMask(x: TensorView, mask: TensorView) {
        let n = x.count, xp = x.f32, mp = mask.mask
        let bytes = (n + 7) / 8
        Parallel.forEach(bytes, unitWork: 8) { range in
            for byte in range {
                var bits: UInt8 = 0
                let start = byte * 8
                for j in 0..<min(8, n - start) where xp[start + j] > 0 { bits |= 1 << UInt8(j) }
                mp[byte] = bits
            }
        }
    }

    /// dx = dy where the mask bit is set, else 0: ReLU's gradient from its packed mask, the same values
    /// `relu_grad` computes from the output (threshold_backward's `result > 0`).
    public static func reluMaskGrad(dy: TensorView, mask: TensorView, dx: TensorView) {
        let n = dy.count, dyp = dy.f32, mp = mask.mask, dxp = dx.f32
        Parallel.forEach((n + 7) / 8, unitWork: 8) { range in
            for byte in range {
                let bits = mp[byte], start = byte * 8
                for j in 0..<min(8, n - start) { dxp[start + j] = bits & (1 << UInt8(j)) != 0 ? dyp[start + j] : 0 }
            }
        }
    }
}
