// Convolution kernels: conv2d, conv2d_grad_input and conv2d_grad_weight with stride, padding, dilation
// and groups, PyTorch's semantics (NCHW, weights OIHW, cross-correlation).
//
// Two paths:
// - GEMM (any groups): per image and group, im2col unrolls the group's input into
//   cols[Cg·kh·kw, OH·OW]; then y_g = W_g·cols, dcols = W_gᵀ·dy_g (scattered back by col2im), and
//   dW_g += dy_g·colsᵀ over the batch. A 1x1 kernel with stride 1 and no padding reads the input plane
//   as cols directly. im2col and col2im split over rows / channels; the GEMMs thread inside OpenBLAS.
//   cols comes from the caller's workspace (`convColumnBytes`, Kernels+Workspace.swift).
// - Direct depthwise (one input channel per group, any channel multiplier): a loop over output planes
//   with the valid output columns of each kernel tap computed once, split over planes / channels.
//   A GEMM per 1-channel group would be a k×k-by-HW product per plane: all call overhead.
import GraphIR

/// The geometry of one convolution, read from its operand shapes and attributes.
struct ConvGeometry {
    var n, c, h, w: Int
    var co, kh, kw: Int
    var oh, ow: Int
    var sh, sw, ph, pw, dh, dw: Int
    var groups: Int

    init(x: Shape, weight: Shape, y: Shape, _ a: Conv2dAttrs) {
        (n, c, h, w) = (x[0], x[1], x[2], x[3])
        (co, kh, kw) = (weight[0], weight[2], weight[3])
        (oh, ow) = (y[2], y[3])
        (sh, sw, ph, pw, dh, dw) = (a.stride.h, a.stride.w, a.padding.h, a.padding.w, a.dilation.h, a.dilation.w)
        groups = a.groups
    }

    /// Input channels per group.
    var cg: Int { c / groups }
    /// Output channels per group.
    var cog: Int { co / groups }
    /// Rows of a group's column matrix: Cg·kh·kw.
    var k: Int { cg * kh * kw }
    var outPlane: Int { oh * ow }
    var inPlane: Int { h * w }
    /// One input channel per group: the direct depthwise path.
    var isDepthwise: Bool { cg == 1 && groups > 1 }
    /// The input plane is already the column matrix.
    var isPointwise: Bool { kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 }

    /// The output columns `ow` whose input column `ow·sw − pw + j·dw` lies inside the image, for tap `j`.
    func validColumns(_ j: Int) -> Range<Int> {
        let off = j * dw - pw
        let lo = off >= 0 ? 0 : (-off + sw - 1) / sw
        let hiInput = w - 1 - off
        let hi = hiInput < 0 ? -1 : min(ow - 1, hiInput / sw)
        return lo <= hi ? lo..<(hi + 1) : 0..<0
    }
}

extension Kernels {
    /// y = conv2d(x, weight) + bias.
    public static func conv2d(x: TensorView, weight: TensorView, bias: TensorView?, y: TensorView, _ a: Conv2dAttrs,
                              scratch: Workspace)
    {
        let g = ConvGeometry(x: x.shape, weight: weight.shape, y: y.shape, a)
        if g.isDepthwise {
            depthwiseForward(g, x.f32, weight.f32, y.f32)
        } else {
            let cols = columns(g, scratch)
            for b in 0..<g.n {
                for grp in 0..<g.groups {
                    let xg = UnsafePointer(x.f32 + (b * g.c + grp * g.cg) * g.inPlane)
                    let source: UnsafePointer<Float>
                    if let cols {
                        im2col(g, xg, cols)
                        source = UnsafePointer(cols)
                    } else {
                        source = xg
                    }
                    gemm(transA: false, transB: false, m: g.cog, n: g.outPlane, k: g.k,
                         a: weight.f32 + grp * g.cog * g.k, lda: g.k, b: source, ldb: g.outPlane,
                         c: y.f32 + (b * g.co + grp * g.cog) * g.outPlane, ldc: g.outPlane)
                }
            }
        }
        if let bias { addChannelBias(y, bias) }
    }

    /// dx of conv2d for output gradient dy (reads the weight only).
    public static func conv2dGradInput(dy: TensorView, weight: TensorView, dx: TensorView, _ a: Conv2dAttrs,
                                       scratch: Workspace)
    {
        let g = ConvGeometry(x: dx.shape, weight: weight.shape, y: dy.shape, a)
        if g.isDepthwise {
            depthwiseGradInput(g, dy.f32, weight.f32, dx.f32)
            return
        }
        let cols = columns(g, scratch)
        for b in 0..<g.n {
            for grp in 0..<g.groups {
                let dxg = dx.f32 + (b * g.c + grp * g.cg) * g.inPlane
                gemm(transA: true, transB: false, m: g.k, n: g.outPlane, k: g.cog,
                     a: weight.f32 + grp * g.cog * g.k, lda: g.k,
                     b: dy.f32 + (b * g.co + grp * g.cog) * g.outPlane, ldb: g.outPlane,
                     c: cols ?? dxg, ldc: g.outPlane)
                if let cols { col2im(g, cols, dxg) }
            }
        }
    }

    /// dW of conv2d for output gradient dy (reads the input only), summed over the batch.
    public static func conv2dGradWeight(dy: TensorView, x: TensorView, dw: TensorView, _ a: Conv2dAttrs,
                                        scratch: Workspace)
    {
        let g = ConvGeometry(x: x.shape, weight: dw.shape, y: dy.shape, a)
        if g.isDepthwise {
            depthwiseGradWeight(g, dy.f32, x.f32, dw.f32)
            return
        }
        let cols = columns(g, scratch)
        for b in 0..<g.n {
            for grp in 0..<g.groups {
                let xg = UnsafePointer(x.f32 + (b * g.c + grp * g.cg) * g.inPlane)
                let source: UnsafePointer<Float>
                if let cols {
                    im2col(g, xg, cols)
                    source = UnsafePointer(cols)
                } else {
                    source = xg
                }
                gemm(transA: false, transB: true, m: g.cog, n: g.k, k: g.outPlane,
                     a: dy.f32 + (b * g.co + grp * g.cog) * g.outPlane, lda: g.outPlane, b: source, ldb: g.outPlane,
                     beta: b == 0 ? 0 : 1, c: dw.f32 + grp * g.cog * g.k, ldc: g.k)
            }
        }
    }

    /// The column matrix of the GEMM path, from the workspace; nil on the pointwise path.
    private static func columns(_ g: ConvGeometry, _ scratch: Workspace) -> UnsafeMutablePointer<Float>? {
        if g.isPointwise { return nil }
        var carver = ScratchCarver(scratch)
        return carver.take(Float.self, g.k * g.outPlane)
    }

    /// y[n, c, ...] += bias[c].
    static func addChannelBias(_ y: TensorView, _ bias: TensorView) {
        let n = y.shape[0], c = y.shape[1], inner = y.count / (n * c)
        let yp = y.f32, bp = bias.f32
        Parallel.forEach(n * c, unitWork: inner) { range in
            for plane in range {
                let v = bp[plane % c], p = yp + plane * inner
                for i in 0..<inner { p[i] += v }
            }
        }
    }

    // MARK: im2col / col2im

    /// cols[(ci·kh + i)·kw + j, oh·OW + ow] = x[ci, oh·sh − ph + i·dh, ow·sw − pw + j·dw] (0 outside).
    static func im2col(_ g: ConvGeometry, _ x: UnsafePointer<Float>, _ cols: UnsafeMutablePointer<Float>) {
        let taps = g.kh * g.kw
        Parallel.forEach(g.k, unitWork: g.outPlane) { rows in
            for row in rows {
                let ci = row / taps, i = (row % taps) / g.kw, j = row % g.kw
                let dst = cols + row * g.outPlane, plane = x + ci * g.inPlane
                let valid = g.validColumns(j)
                for oy in 0..<g.oh {
                    let out = dst + oy * g.ow
                    let iy = oy * g.sh - g.ph + i * g.dh
                    guard iy >= 0, iy < g.h, !valid.isEmpty else {
                        out.update(repeating: 0, count: g.ow)
                        continue
                    }
                    // Offsets, not pointers: the row start may lie before the plane (left padding).
                    let off = iy * g.w + j * g.dw - g.pw
                    for ox in 0..<valid.lowerBound { out[ox] = 0 }
                    if g.sw == 1 {
                        (out + valid.lowerBound).update(from: plane + (off + valid.lowerBound), count: valid.count)
                    } else {
                        for ox in valid { out[ox] = plane[off + ox * g.sw] }
                    }
                    for ox in valid.upperBound..<g.ow { out[ox] = 0 }
                }
            }
        }
    }

    /// The adjoint of im2col: x[ci, ...] = Σ cols over the taps that read it (x is overwritten).
    static func col2im(_ g: ConvGeometry, _ cols: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>) {
        let taps = g.kh * g.kw
        // One channel per task: channel ci's rows write only channel ci's plane.
        Parallel.forEach(g.cg, unitWork: taps * g.outPlane) { channels in
            for ci in channels {
                let plane = x + ci * g.inPlane
                plane.update(repeating: 0, count: g.inPlane)
                for t in 0..<taps {
                    let i = t / g.kw, j = t % g.kw
                    let src = cols + (ci * taps + t) * g.outPlane
                    let valid = g.validColumns(j)
                    if valid.isEmpty { continue }
                    for oy in 0..<g.oh {
                        let iy = oy * g.sh - g.ph + i * g.dh
                        guard iy >= 0, iy < g.h else { continue }
                        let off = iy * g.w + j * g.dw - g.pw, row = src + oy * g.ow
                        for ox in valid { plane[off + ox * g.sw] += row[ox] }
                    }
                }
            }
        }
    }

    // MARK: Direct depthwise

    static func depthwiseForward(_ g: ConvGeometry, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                 _ y: UnsafeMutablePointer<Float>)
    {
        let mult = g.cog, taps = g.kh * g.kw
        let columns = (0..<g.kw).map(g.validColumns)
        Parallel.forEach(g.n * g.co, unitWork: g.outPlane * taps) { planes in
            for plane in planes {
                let b = plane / g.co, o = plane % g.co, ci = o / mult
                let src = x + (b * g.c + ci) * g.inPlane, dst = y + plane * g.outPlane, wk = w + o * taps
                dst.update(repeating: 0, count: g.outPlane)
                for oy in 0..<g.oh {
                    let out = dst + oy * g.ow
                    for i in 0..<g.kh {
                        let iy = oy * g.sh - g.ph + i * g.dh
                        guard iy >= 0, iy < g.h else { continue }
                        for j in 0..<g.kw {
                            let v = wk[i * g.kw + j], off = iy * g.w + j * g.dw - g.pw
                            for ox in columns[j] { out[ox] += v * src[off + ox * g.sw] }
                        }
                    }
                }
            }
        }
    }

    static func depthwiseGradInput(_ g: ConvGeometry, _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                   _ dx: UnsafeMutablePointer<Float>)
    {
        let mult = g.cog, taps = g.kh * g.kw
        let columns = (0..<g.kw).map(g.validColumns)
        // One input plane per task; it gathers from its `mult` output channels.
        Parallel.forEach(g.n * g.c, unitWork: mult * g.outPlane * taps) { planes in
            for plane in planes {
                let b = plane / g.c, ci = plane % g.c
                let dst = dx + plane * g.inPlane
                dst.update(repeating: 0, count: g.inPlane)
                for o in ci * mult..<(ci + 1) * mult {
                    let src = dy + (b * g.co + o) * g.outPlane, wk = w + o * taps
                    for oy in 0..<g.oh {
                        let grad = src + oy * g.ow
                        for i in 0..<g.kh {
                            let iy = oy * g.sh - g.ph + i * g.dh
                            guard iy >= 0, iy < g.h else { continue }
                            for j in 0..<g.kw {
                                let v = wk[i * g.kw + j], off = iy * g.w + j * g.dw - g.pw
                                for ox in columns[j] { dst[off + ox * g.sw] += v * grad[ox] }
                            }
                        }
                    }
                }
            }
        }
    }

    static func depthwiseGradWeight(_ g: ConvGeometry, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                                    _ dw: UnsafeMutablePointer<Float>)
    {
        let mult = g.cog, taps = g.kh * g.kw
        let columns = (0..<g.kw).map(g.validColumns)
        // One output channel per task: it owns its kh·kw weights.
        Parallel.forEach(g.co, unitWork: g.n * g.outPlane * taps) { channels in
            var acc = [Double](repeating: 0, count: taps)
            for o in channels {
                let ci = o / mult
                for t in 0..<taps { acc[t] = 0 }
                for b in 0..<g.n {
                    let src = x + (b * g.c + ci) * g.inPlane, grad = dy + (b * g.co + o) * g.outPlane
                    for i in 0..<g.kh {
                        for j in 0..<g.kw {
                            var s: Float = 0
                            for oy in 0..<g.oh {
                                let iy = oy * g.sh - g.ph + i * g.dh
                                guard iy >= 0, iy < g.h else { continue }
                                let off = iy * g.w + j * g.dw - g.pw, gr = grad + oy * g.ow
                                for ox in columns[j] { s += gr[ox] * src[off + ox * g.sw] }
                            }
                            acc[i * g.kw + j] += Double(s)
                        }
                    }
                }
                for t in 0..<taps { dw[o * taps + t] = Float(acc[t]) }
            }
        }
    }
}
