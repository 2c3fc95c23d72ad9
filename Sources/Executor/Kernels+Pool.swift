// Pooling kernels and their gradients, PyTorch's CPU semantics: max pooling pads with −∞ and returns
// the argmax as a flat index into the input plane (ih·W + iw, the first maximum; NaN wins);
// average pooling divides by the window clipped to the padded input (count_include_pad) or to the
// input; adaptive average pooling uses the windows [⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉). One (sample, channel)
// plane per task.
import GraphIR

extension Kernels {
    private static func planes(_ x: TensorView) -> (planes: Int, h: Int, w: Int) {
        (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    }

    /// y (and the argmax indices, when asked) of max_pool2d.
    public static func maxPool2d(x: TensorView, y: TensorView, indices: TensorView?, _ a: Pool2dAttrs) {
        let (count, h, w) = planes(x), oh = y.shape[2], ow = y.shape[3]
        let xp = x.f32, yp = y.f32, ip = indices?.i64
        Parallel.forEach(count, unitWork: oh * ow * a.kernel.h * a.kernel.w) { range in
            for plane in range {
                let src = xp + plane * h * w
                for oy in 0..<oh {
                    let y0 = oy * a.stride.h - a.padding.h
                    let ys = max(y0, 0), ye = min(y0 + a.kernel.h, h)
                    for ox in 0..<ow {
                        let x0 = ox * a.stride.w - a.padding.w
                        let xs = max(x0, 0), xe = min(x0 + a.kernel.w, w)
                        var best = -Float.infinity, arg = ys * w + xs
                        for iy in ys..<max(ys, ye) {
                            for ix in xs..<max(xs, xe) {
                                let v = src[iy * w + ix]
                                if v > best || v.isNaN {
                                    best = v
                                    arg = iy * w + ix
                                    if v.isNaN { break }
                                }
                            }
                        }
                        let o = plane * oh * ow + oy * ow + ox
                        yp[o] = best
                        ip?[o] = Int64(arg)
                    }
                }
            }
        }
    }

    /// dx of max pooling: dy scattered to the saved argmax of each window.
    public static func maxPool2dGrad(dy: TensorView, indices: TensorView, dx: TensorView) {
        let (count, h, w) = planes(dx), outPlane = dy.shape[2] * dy.shape[3]
        let gp = dy.f32, ip = indices.i64, dp = dx.f32
        Parallel.forEach(count, unitWork: h * w + outPlane) { range in
            for plane in range {
                let dst = dp + plane * h * w
                dst.update(repeating: 0, count: h * w)
                for o in 0..<outPlane { dst[Int(ip[plane * outPlane + o])] += gp[plane * outPlane + o] }
            }
        }
    }

    /// The window of output (oy, ox) clipped to the input, and its divisor.
    @inline(__always)
    private static func avgWindow(_ oy: Int, _ ox: Int, _ h: Int, _ w: Int, _ a: Pool2dAttrs)
        -> (ys: Int, ye: Int, xs: Int, xe: Int, divisor: Float)
    {
        var ys = oy * a.stride.h - a.padding.h, xs = ox * a.stride.w - a.padding.w
        var ye = min(ys + a.kernel.h, h + a.padding.h), xe = min(xs + a.kernel.w, w + a.padding.w)
        let padded = (ye - ys) * (xe - xs)
        ys = max(ys, 0)
        xs = max(xs, 0)
        ye = min(ye, h)
        xe = min(xe, w)
        let divisor = a.countIncludePad ? padded : (ye - ys) * (xe - xs)
        return (ys, ye, xs, xe, Float(max(divisor, 1)))
    }

    public static func avgPool2d(x: TensorView, y: TensorView, _ a: Pool2dAttrs) {
        let (count, h, w) = planes(x), oh = y.shape[2], ow = y.shape[3]
        let xp = x.f32, yp = y.f32
        Parallel.forEach(count, unitWork: oh * ow * a.kernel.h * a.kernel.w) { range in
            for plane in range {
                let src = xp + plane * h * w
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let win = avgWindow(oy, ox, h, w, a)
                        var s: Float = 0
                        for iy in win.ys..<max(win.ys, win.ye) {
                            for ix in win.xs..<max(win.xs, win.xe) { s += src[iy * w + ix] }
                        }
                        yp[plane * oh * ow + oy * ow + ox] = s / win.divisor
                    }
                }
            }
        }
    }

    public static func avgPool2dGrad(dy: TensorView, dx: TensorView, _ a: Pool2dAttrs) {
        let (count, h, w) = planes(dx), oh = dy.shape[2], ow = dy.shape[3]
        let gp = dy.f32, dp = dx.f32
        Parallel.forEach(count, unitWork: oh * ow * a.kernel.h * a.kernel.w) { range in
            for plane in range {
                let dst = dp + plane * h * w
                dst.update(repeating: 0, count: h * w)
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let win = avgWindow(oy, ox, h, w, a)
                        let g = gp[plane * oh * ow + oy * ow + ox] / win.divisor
                        for iy in win.ys..<max(win.ys, win.ye) {
                            for ix in win.xs..<max(win.xs, win.xe) { dst[iy * w + ix] += g }
                        }
                    }
                }
            }
        }
    }

    /// PyTorch's adaptive window [⌊i·n/out⌋, ⌈(i+1)·n/out⌉).
    @inline(__always)
    private static func adaptiveRange(_ i: Int, _ n: Int, _ out: Int) -> Range<Int> {
        (i * n / out)..<(((i + 1) * n + out - 1) / out)
    }

    public static func adaptiveAvgPool2d(x: TensorView, y: TensorView) {
        let (count, h, w) = planes(x), oh = y.shape[2], ow = y.shape[3]
        let xp = x.f32, yp = y.f32
        Parallel.forEach(count, unitWork: h * w + oh * ow) { range in
            for plane in range {
                let src = xp + plane * h * w
                for oy in 0..<oh {
                    let rows = adaptiveRange(oy, h, oh)
                    for ox in 0..<ow {
                        let cols = adaptiveRange(ox, w, ow)
                        var s: Float = 0
                        for iy in rows { for ix in cols { s += src[iy * w + ix] } }
                        yp[plane * oh * ow + oy * ow + ox] = s / Float(rows.count * cols.count)
                    }
                }
            }
        }
    }

    public static func adaptiveAvgPool2dGrad(dy: TensorView, dx: TensorView) {
        let (count, h, w) = planes(dx), oh = dy.shape[2], ow = dy.shape[3]
        let gp = dy.f32, dp = dx.f32
        Parallel.forEach(count, unitWork: h * w + oh * ow) { range in
            for plane in range {
                let dst = dp + plane * h * w
                dst.update(repeating: 0, count: h * w)
                for oy in 0..<oh {
                    let rows = adaptiveRange(oy, h, oh)
                    for ox in 0..<ow {
                        let cols = adaptiveRange(ox, w, ow)
                        let g = gp[plane * oh * ow + oy * ow + ox] / Float(rows.count * cols.count)
                        for iy in rows { for ix in cols { dst[iy * w + ix] += g } }
                    }
                }
            }
        }
    }
}
