// conv2d against a naive direct convolution, and its three gradients (input, weight, bias) against
// central finite differences, over stride, padding, dilation, groups, depthwise and 1x1 shapes.
import Executor
import GraphIR
import GraphTestSupport
import Testing

@Suite struct ConvKernelTests {
    struct Case: CustomStringConvertible, Sendable {
        var n, c, h, w, co: Int
        var kernel: Pair
        var attrs: Conv2dAttrs
        var description: String {
            "x \(n)x\(c)x\(h)x\(w) → \(co), k \(kernel), s \(attrs.stride), p \(attrs.padding), "
                + "d \(attrs.dilation), g \(attrs.groups)"
        }
    }

    static let cases: [Case] = [
        Case(n: 2, c: 3, h: 7, w: 6, co: 4, kernel: Pair(3), attrs: Conv2dAttrs(padding: Pair(1))),
        Case(n: 2, c: 4, h: 7, w: 7, co: 6, kernel: Pair(3), attrs: Conv2dAttrs(stride: Pair(2), padding: Pair(1))),
        Case(n: 1, c: 3, h: 8, w: 9, co: 4, kernel: Pair(3), attrs: Conv2dAttrs(padding: Pair(2), dilation: Pair(2))),
        Case(n: 2, c: 4, h: 6, w: 6, co: 6, kernel: Pair(3), attrs: Conv2dAttrs(padding: Pair(1), groups: 2)),
        Case(
            n: 2, c: 4, h: 7, w: 7, co: 4, kernel: Pair(3),
            attrs: Conv2dAttrs(stride: Pair(2), padding: Pair(1), groups: 4)),
        Case(
            n: 1, c: 3, h: 6, w: 7, co: 6, kernel: Pair(3),
            attrs: Conv2dAttrs(padding: Pair(2), dilation: Pair(2), groups: 3)),
        Case(n: 2, c: 4, h: 5, w: 5, co: 3, kernel: Pair(1), attrs: Conv2dAttrs()),
        Case(n: 1, c: 4, h: 5, w: 4, co: 6, kernel: Pair(1), attrs: Conv2dAttrs(groups: 2)),
        Case(
            n: 1, c: 2, h: 6, w: 7, co: 3, kernel: Pair(2, 3),
            attrs: Conv2dAttrs(stride: Pair(2, 1), padding: Pair(0, 1), dilation: Pair(1, 2))),
        // Stride 2 over rows wide enough for im2col's eight-lane gather (10 output columns).
        Case(n: 1, c: 2, h: 9, w: 20, co: 3, kernel: Pair(3), attrs: Conv2dAttrs(stride: Pair(2), padding: Pair(1))),
    ]

    /// y[n, o, i, j] = b[o] + Σ w[o, c, p, q]·x[n, g·Cg + c, i·s − pad + p·d, j·s − pad + q·d], in Double.
    static func naive(_ x: HostTensor, _ w: HostTensor, _ b: HostTensor, _ k: Case, _ out: Shape) -> [Double] {
        let a = k.attrs, cg = k.c / a.groups, cog = k.co / a.groups, xs = x.floats, ws = w.floats, bs = b.floats
        var y = [Double](repeating: 0, count: out.reduce(1, *))
        for n in 0..<k.n {
            for o in 0..<k.co {
                let grp = o / cog
                for i in 0..<out[2] {
                    for j in 0..<out[3] {
                        var s = Double(bs[o])
                        for c in 0..<cg {
                            for p in 0..<k.kernel.h {
                                for q in 0..<k.kernel.w {
                                    let ih = i * a.stride.h - a.padding.h + p * a.dilation.h
                                    let iw = j * a.stride.w - a.padding.w + q * a.dilation.w
                                    guard ih >= 0, ih < k.h, iw >= 0, iw < k.w else { continue }
                                    let xv = xs[((n * k.c + grp * cg + c) * k.h + ih) * k.w + iw]
                                    s += Double(ws[((o * cg + c) * k.kernel.h + p) * k.kernel.w + q]) * Double(xv)
                                }
                            }
                        }
                        y[((n * k.co + o) * out[2] + i) * out[3] + j] = s
                    }
                }
            }
        }
        return y
    }

    @Test(arguments: cases) func forwardMatchesNaiveConvolution(_ k: Case) throws {
        var rng = SplitMix64(seed: 11)
        let x = Exec.random([k.n, k.c, k.h, k.w], &rng)
        let w = Exec.random([k.co, k.c / k.attrs.groups, k.kernel.h, k.kernel.w], &rng)
        let b = Exec.random([k.co], &rng)
        let y = try Exec.apply1(.conv2d(k.attrs), x, w, b)
        #expect(Exec.relativeError(y.floats, Self.naive(x, w, b, k, y.shape)) < 1e-5, "\(k)")
    }

    @Test(arguments: cases) func gradientsMatchFiniteDifferences(_ k: Case) throws {
        var rng = SplitMix64(seed: 7)
        let x = Exec.random([k.n, k.c, k.h, k.w], &rng)
        let w = Exec.random([k.co, k.c / k.attrs.groups, k.kernel.h, k.kernel.w], &rng)
        let b = Exec.random([k.co], &rng)
        let y = try Exec.apply1(.conv2d(k.attrs), x, w, b)
        let r = Exec.random(y.shape, &rng)
        let loss = { Exec.dot(try Exec.apply1(.conv2d(k.attrs), x, w, b), r) }
        let dx = try Exec.apply1(.conv2dGradInput(k.attrs, input: Pair(k.h, k.w)), r, w)
        let dw = try Exec.apply1(.conv2dGradWeight(k.attrs, kernel: k.kernel), r, x)
        let db = try Exec.apply1(.biasGrad, r)
        #expect(try Exec.finiteDifferenceError(x, dx, loss: loss) < 2e-3, "dx \(k)")
        #expect(try Exec.finiteDifferenceError(w, dw, loss: loss) < 2e-3, "dw \(k)")
        #expect(try Exec.finiteDifferenceError(b, db, loss: loss) < 2e-3, "db \(k)")
    }

    /// Convs big enough to split the batch over lanes (one per core, each with its own columns; the
    /// weight gradient's lanes summed apart, then added) agree with the same convs one image at a time
    /// (one lane): outputs and input gradients image by image, the weight gradient as the sum of the
    /// images' ones.
    static let laneCases: [Case] = [
        Case(n: 8, c: 16, h: 28, w: 28, co: 16, kernel: Pair(3), attrs: Conv2dAttrs(padding: Pair(1))),
        Case(n: 8, c: 32, h: 14, w: 14, co: 64, kernel: Pair(3), attrs: Conv2dAttrs(stride: Pair(2), padding: Pair(1))),
        Case(n: 8, c: 64, h: 28, w: 28, co: 64, kernel: Pair(1), attrs: Conv2dAttrs()),
    ]

    @Test(arguments: laneCases) func batchSplitOverLanesMatchesOneImageAtATime(_ k: Case) throws {
        var rng = SplitMix64(seed: 5)
        let x = Exec.random([k.n, k.c, k.h, k.w], &rng)
        let w = Exec.random([k.co, k.c / k.attrs.groups, k.kernel.h, k.kernel.w], &rng)
        let y = try Exec.apply1(.conv2d(k.attrs), x, w)
        let dy = Exec.random(y.shape, &rng)
        let dx = try Exec.apply1(.conv2dGradInput(k.attrs, input: Pair(k.h, k.w)), dy, w)
        let dw = try Exec.apply1(.conv2dGradWeight(k.attrs, kernel: k.kernel), dy, x)
        let xs = x.floats, dys = dy.floats, ys = y.floats, dxs = dx.floats
        let inImage = k.c * k.h * k.w, outImage = y.shape.reduce(1, *) / k.n
        var dwSum = [Double](repeating: 0, count: dw.view.count)
        for b in 0..<k.n {
            let xb = HostTensor([1, k.c, k.h, k.w], Array(xs[b * inImage..<(b + 1) * inImage]))
            let dyb = HostTensor(Shape([1] + Array(y.shape.dropFirst())), Array(dys[b * outImage..<(b + 1) * outImage]))
            let yb = try Exec.apply1(.conv2d(k.attrs), xb, w)
            let dxb = try Exec.apply1(.conv2dGradInput(k.attrs, input: Pair(k.h, k.w)), dyb, w)
            let dwb = try Exec.apply1(.conv2dGradWeight(k.attrs, kernel: k.kernel), dyb, xb)
            #expect(
                Exec.relativeError(Array(ys[b * outImage..<(b + 1) * outImage]), yb.floats.map(Double.init)) < 1e-6,
                "y image \(b) \(k)")
            #expect(
                Exec.relativeError(Array(dxs[b * inImage..<(b + 1) * inImage]), dxb.floats.map(Double.init)) < 1e-6,
                "dx image \(b) \(k)")
            for (i, v) in dwb.floats.enumerated() { dwSum[i] += Double(v) }
        }
        #expect(Exec.relativeError(dw.floats, dwSum) < 1e-5, "dw \(k)")
    }
}
