// Convolution kernels: conv2d, conv2d_grad_input and conv2d_grad_weight with stride, padding, dilation
// and groups, PyTorch's semantics (NCHW, weights OIHW, cross-correlation).
//
// Two paths:
// - GEMM (any groups): per image and group, im2col unrolls the group's input into
//   cols[Cg·kh·kw, OH·OW]; then y_g = W_g·cols, dcols = W_gᵀ·dy_g (scattered back by col2im), and
//   dW_g += dy_g·colsᵀ over the batch. A 1x1 kernel with stride 1 and no padding reads the input plane
//   as cols directly. A stride-1 ungrouped conv's dx is computed as a conv of dy instead
//   (`transposedForGradInput`: flipped, transposed weight; dx = W'·im2col(dy)), which writes dx once
//   where col2im would add every tap into it. The batch is split over lanes (`convLanes`: one per core when the conv is big
//   enough), each with its own column matrix from the caller's workspace (`convColumnBytes`,
//   Kernels+Workspace.swift); im2col, col2im and the GEMMs (OpenBLAS single-threaded) run inside a
//   lane, each lane taking the next image when done (`Parallel.dynamicLanes`). The weight gradient sums
//   fixed chunks of the batch apart and adds them in order, so its result does not depend on which lane
//   took which chunk.
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

    /// dx of a stride-1, ungrouped conv as a conv of dy: the weight flipped and transposed
    /// (W'[ci, co, i, j] = W[co, ci, kh−1−i, kw−1−j]), padding d·(k−1) − p, same dilation, over dy's
    /// [Co, OH, OW] planes, giving [C, H, W]. nil where it does not apply (strides, groups, 1x1 without
    /// padding, padding beyond d·(k−1)).
    var transposedForGradInput: ConvGeometry? {
        guard sh == 1, sw == 1, groups == 1, !isPointwise else { return nil }
        let tph = dh * (kh - 1) - ph, tpw = dw * (kw - 1) - pw
        guard tph >= 0, tpw >= 0 else { return nil }
        return ConvGeometry(
            x: [n, co, oh, ow], weight: [c, co, kh, kw], y: [n, c, h, w],
            Conv2dAttrs(padding: Pair(tph, tpw), dilation: Pair(dh, dw)))
    }

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
    /// MACs a lane (a thread with its own column buffer) should get before the batch is split: about
    /// 100 µs of single-threaded GEMM (PLATFORM.md: chunks under ~100 µs do not pay).
    static let convLaneMACs = 4_000_000

    /// The lanes of a conv on the GEMM path: one per core, at most one per image, one alone when the
    /// whole conv is too small to split. A pure function of the shapes (and the process's core count).
    static func convLanes(_ g: ConvGeometry) -> Int {
        let macs = g.n * g.co * g.k * g.outPlane
        return min(Parallel.cores, g.n, max(1, macs / convLaneMACs))
    }

    /// y = conv2d(x, weight) + bias.
    public static func conv2d(
        x: TensorView, weight: TensorView, bias: TensorView?, y: TensorView, _ a: Conv2dAttrs,
        scratch: Workspace
    ) {
        let g = ConvGeometry(x: x.shape, weight: weight.shape, y: y.shape, a)
        if g.isDepthwise {
            depthwiseForward(g, x.f32, weight.f32, y.f32)
        } else {
            let xp = x.f32, wp = weight.f32, yp = y.f32
            let lanes = convLanes(g)
            let cols = columns(g, lanes: lanes, scratch)
            Parallel.dynamicLanes(g.n, lanes) { lane, b in
                let colsLane = cols.map { $0 + lane * g.k * g.outPlane }
                for grp in 0..<g.groups {
                    let xg = UnsafePointer(xp + (b * g.c + grp * g.cg) * g.inPlane)
                    let source = columnsOrInput(g, xg, colsLane)
                    gemm(
                        transA: false, transB: false, m: g.cog, n: g.outPlane, k: g.k,
                        a: wp + grp * g.cog * g.k, lda: g.k, b: source, ldb: g.outPlane,
                        c: yp + (b * g.co + grp * g.cog) * g.outPlane, ldc: g.outPlane)
                }
            }
        }
        if let bias { addChannelBias(y, bias) }
    }

    /// dx of conv2d for output gradient dy (reads the weight only).
    public static func conv2dGradInput(
        dy: TensorView, weight: TensorView, dx: TensorView, _ a: Conv2dAttrs,
        scratch: Workspace
    ) {
        let g = ConvGeometry(x: dx.shape, weight: weight.shape, y: dy.shape, a)
        if g.isDepthwise {
            depthwiseGradInput(g, dy.f32, weight.f32, dx.f32)
            return
        }
        let dyp = dy.f32, wp = weight.f32, dxp = dx.f32
        let lanes = convLanes(g)
        if let t = g.transposedForGradInput {
            // dx = W'·im2col(dy) image by image: no col2im, dx written once.
            var carver = ScratchCarver(scratch)
            let flipped = carver.take(Float.self, g.c * t.k)
            let cols = carver.take(Float.self, lanes * t.k * t.outPlane)
            let taps = g.kh * g.kw
            for ci in 0..<g.c {
                for o in 0..<g.co {
                    for tap in 0..<taps {
                        flipped[ci * t.k + o * taps + tap] = wp[(o * g.c + ci) * taps + (taps - 1 - tap)]
                    }
                }
            }
            Parallel.dynamicLanes(g.n, lanes) { lane, b in
                let colsLane = cols + lane * t.k * t.outPlane
                im2col(t, dyp + b * g.co * g.outPlane, colsLane)
                gemm(
                    transA: false, transB: false, m: g.c, n: g.inPlane, k: t.k, a: flipped, lda: t.k,
                    b: colsLane, ldb: g.inPlane, c: dxp + b * g.c * g.inPlane, ldc: g.inPlane)
            }
            return
        }
        let cols = columns(g, lanes: lanes, scratch)
        Parallel.dynamicLanes(g.n, lanes) { lane, b in
            let colsLane = cols.map { $0 + lane * g.k * g.outPlane }
            for grp in 0..<g.groups {
                let dxg = dxp + (b * g.c + grp * g.cg) * g.inPlane
                gemm(
                    transA: true, transB: false, m: g.k, n: g.outPlane, k: g.cog,
                    a: wp + grp * g.cog * g.k, lda: g.k,
                    b: dyp + (b * g.co + grp * g.cog) * g.outPlane, ldb: g.outPlane,
                    c: colsLane ?? dxg, ldc: g.outPlane)
                if let colsLane { col2im(g, colsLane, dxg) }
            }
        }
    }

    /// The fixed image chunks a weight gradient sums apart: two per lane, so that a lane slowed by
    /// another process leaves chunks to the others, while each chunk's sum, and the order the chunks
    /// are added in, stay the same from run to run.
    static func convGradWeightChunks(_ g: ConvGeometry) -> Int {
        let lanes = convLanes(g)
        return lanes == 1 ? 1 : min(g.n, 2 * lanes)
    }

    /// Whether a weight gradient runs transposed, dWᵀ = cols·dyᵀ per image and group (M = Cg·kh·kw,
    /// N = C_out/groups), each chunk into its own transposed partial: OpenBLAS runs that product faster
    /// than dW = dy·colsᵀ (M = C_out/groups) while C_out/groups is small (BENCHMARKS.md: 88 against 72
    /// GFLOP/s at 16 channels, 102 against 88 at 32). Wider layers keep the direct product, which
    /// needs no partial for the first chunk (their weights are the large ones).
    static func convGradWeightTransposed(_ g: ConvGeometry) -> Bool { g.cog < 64 }

    /// The partial sums a weight gradient takes from the workspace, C_out·Cg·kh·kw each: one per chunk
    /// but the first on the direct path, one per chunk transposed.
    static func convGradWeightPartials(_ g: ConvGeometry) -> Int {
        let chunks = convGradWeightChunks(g)
        return convGradWeightTransposed(g) ? chunks : chunks - 1
    }

    /// dW of conv2d for output gradient dy (reads the input only), summed over the batch: the batch in
    /// fixed contiguous chunks (`convGradWeightChunks`), each summed by whichever lane takes it (direct:
    /// chunk 0 into dW, the others into partial sums from the workspace, then dW adds the partials in
    /// order; transposed: every chunk into its partial, then dW is their sum in chunk order, transposed).
    public static func conv2dGradWeight(
        dy: TensorView, x: TensorView, dw: TensorView, _ a: Conv2dAttrs,
        scratch: Workspace
    ) {
        let g = ConvGeometry(x: x.shape, weight: dw.shape, y: dy.shape, a)
        if g.isDepthwise {
            depthwiseGradWeight(g, dy.f32, x.f32, dw.f32)
            return
        }
        let dyp = dy.f32, xp = x.f32, dwp = dw.f32
        let lanes = convLanes(g), chunks = convGradWeightChunks(g)
        let transposed = convGradWeightTransposed(g), partialCount = convGradWeightPartials(g)
        var carver = ScratchCarver(scratch)
        let cols = g.isPointwise ? nil : carver.take(Float.self, lanes * g.k * g.outPlane)
        let weights = g.co * g.k
        let partials = partialCount > 0 ? carver.take(Float.self, partialCount * weights) : nil
        Parallel.dynamicLanes(chunks, lanes) { lane, chunk in
            let colsLane = cols.map { $0 + lane * g.k * g.outPlane }
            let target =
                transposed ? partials! + chunk * weights : chunk == 0 ? dwp : partials! + (chunk - 1) * weights
            let images = (g.n * chunk / chunks)..<(g.n * (chunk + 1) / chunks)
            for b in images {
                for grp in 0..<g.groups {
                    let xg = UnsafePointer(xp + (b * g.c + grp * g.cg) * g.inPlane)
                    let source = columnsOrInput(g, xg, colsLane)
                    let dyg = UnsafePointer(dyp + (b * g.co + grp * g.cog) * g.outPlane)
                    let beta: Float = b == images.lowerBound ? 0 : 1
                    if transposed {
                        gemm(
                            transA: false, transB: true, m: g.k, n: g.cog, k: g.outPlane, a: source,
                            lda: g.outPlane, b: dyg, ldb: g.outPlane, beta: beta, c: target + grp * g.cog * g.k,
                            ldc: g.cog)
                    } else {
                        gemm(
                            transA: false, transB: true, m: g.cog, n: g.k, k: g.outPlane, a: dyg,
                            lda: g.outPlane, b: source, ldb: g.outPlane, beta: beta, c: target + grp * g.cog * g.k,
                            ldc: g.k)
                    }
                }
            }
        }
        guard let partials else { return }
        if transposed {
            // dW[grp, o, i] = Σ over chunks, in order, of partial[grp, i, o].
            for grp in 0..<g.groups {
                let at = grp * g.cog * g.k
                for o in 0..<g.cog {
                    for i in 0..<g.k {
                        var sum = partials[at + i * g.cog + o]
                        for chunk in 1..<chunks { sum += partials[chunk * weights + at + i * g.cog + o] }
                        dwp[at + o * g.k + i] = sum
                    }
                }
            }
        } else {
            for chunk in 1..<chunks {
                let p = partials + (chunk - 1) * weights
                for i in 0..<weights { dwp[i] += p[i] }
            }
        }
    }

    /// The lanes' column matrices of the GEMM path, from the workspace; nil on the pointwise path.
    private static func columns(_ g: ConvGeometry, lanes: Int, _ scratch: Workspace) -> UnsafeMutablePointer<Float>? {
        if g.isPointwise { return nil }
        var carver = ScratchCarver(scratch)
        return carver.take(Float.self, lanes * g.k * g.outPlane)
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
        // Stride 1 with output rows as wide as the input's ("same" padding): a tap's row is the plane
        // shifted by one offset, so it is one contiguous copy, then the rows and columns that fall in
        // the padding are zeroed.
        let shifted = g.sh == 1 && g.sw == 1 && g.ow == g.w
        for row in 0..<g.k {
            let ci = row / taps, i = (row % taps) / g.kw, j = row % g.kw
            let dst = cols + row * g.outPlane, plane = x + ci * g.inPlane
            let valid = g.validColumns(j)
            if shifted {
                shiftedRow(g, plane, dst, i: i, j: j, valid: valid)
                continue
            }
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
                    gatherRow(
                        out + valid.lowerBound, plane + (off + valid.lowerBound * g.sw), valid.count, g.sw,
                        end: plane + g.inPlane)
                }
                for ox in valid.upperBound..<g.ow { out[ox] = 0 }
            }
        }
    }

    /// One im2col row of tap (i, j) for stride 1 and OW = W: out[o] = plane[o + shift] on the valid
    /// rows and columns, 0 elsewhere.
    @inline(__always)
    private static func shiftedRow(
        _ g: ConvGeometry, _ plane: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
        i: Int, j: Int, valid: Range<Int>
    ) {
        let rowOff = i * g.dh - g.ph, colOff = j * g.dw - g.pw
        // Output rows whose input row oy + rowOff lies inside the image.
        let lo = min(max(-rowOff, 0), g.oh), hi = max(min(g.h - rowOff, g.oh), lo)
        if lo > 0 { out.update(repeating: 0, count: lo * g.ow) }
        if hi < g.oh { (out + hi * g.ow).update(repeating: 0, count: (g.oh - hi) * g.ow) }
        guard hi > lo, !valid.isEmpty else {
            (out + lo * g.ow).update(repeating: 0, count: (hi - lo) * g.ow)
            return
        }
        let shift = rowOff * g.w + colOff
        // The block of valid rows, clipped to the plane: what the clip leaves out are padding columns.
        let start = max(lo * g.ow, -shift), end = min(hi * g.ow, g.inPlane - shift)
        if end > start { (out + start).update(from: plane + (start + shift), count: end - start) }
        if valid.lowerBound > 0 || valid.upperBound < g.ow {
            for oy in lo..<hi {
                let r = out + oy * g.ow
                for ox in 0..<valid.lowerBound { r[ox] = 0 }
                for ox in valid.upperBound..<g.ow { r[ox] = 0 }
            }
        }
    }

    /// The adjoint of im2col: x[ci, ...] = Σ cols over the taps that read it (x is overwritten).
    static func col2im(_ g: ConvGeometry, _ cols: UnsafePointer<Float>, _ x: UnsafeMutablePointer<Float>) {
        let taps = g.kh * g.kw
        for ci in 0..<g.cg {
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
                    if g.sw == 1 {
                        addRow(plane + (off + valid.lowerBound), row + valid.lowerBound, valid.count)
                    } else {
                        for ox in valid { plane[off + ox * g.sw] += row[ox] }
                    }
                }
            }
        }
    }

    /// out[i] = src[i·stride] for i < n; stride 2 eight lanes at a time (the even lanes of sixteen
    /// loaded, while those sixteen lie before `end`).
    @inline(__always)
    private static func gatherRow(
        _ out: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int,
        _ stride: Int, end: UnsafePointer<Float>
    ) {
        var i = 0, p = src
        if stride == 2 {
            while i + 8 <= n && p + 16 <= end {
                store8(UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self).evenHalf, out + i)
                i += 8
                p += 16
            }
        }
        while i < n {
            out[i] = p.pointee
            p += stride
            i += 1
        }
    }

    /// dst[0..<n] += src[0..<n], eight lanes at a time.
    @inline(__always)
    private static func addRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            store8(load8(dst + i) + load8(src + i), dst + i)
            i += 8
        }
        while i < n {
            dst[i] += src[i]
            i += 1
        }
    }

    // MARK: Direct depthwise

    static func depthwiseForward(
        _ g: ConvGeometry, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
        _ y: UnsafeMutablePointer<Float>
    ) {
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

    static func depthwiseGradInput(
        _ g: ConvGeometry, _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>
    ) {
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

    static func depthwiseGradWeight(
        _ g: ConvGeometry, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
        _ dw: UnsafeMutablePointer<Float>
    ) {
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

extension Kernels {
    /// The GEMM operand of one image's group `xg`: its im2col columns written into `columns`, or `xg`
    /// itself when the conv needs no unrolling (1x1, stride 1, no padding: `columns` is nil).
    @inline(__always)
    static func columnsOrInput(_ g: ConvGeometry, _ xg: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>?)
        -> UnsafePointer<Float>
    {
        guard let columns else { return xg }
        im2col(g, xg, columns)
        return UnsafePointer(columns)
    }
}
