// Batch normalisation (inference, training with running-statistics update, gradient) and DoRA's
// channel_norm. Per-channel work, split over channels; sums accumulate in Double.
//
// Training follows PyTorch: normalise with the batch mean and the biased batch variance, return the
// mean and inverse std `1/√(var + eps)`, and update running_mean ← (1−m)·running_mean + m·mean and
// running_var ← (1−m)·running_var + m·var·M/(M−1) (the unbiased variance; M = N·H·W elements per
// channel), m the attribute momentum. The running statistics are operands; they are updated in place.
import GraphIR

extension Kernels {
    /// Channels, batch and elements per (sample, channel) of a [N, C] or [N, C, H, W] tensor.
    private static func bnLayout(_ x: TensorView) -> (n: Int, c: Int, inner: Int) {
        (x.shape[0], x.shape[1], x.count / (x.shape[0] * x.shape[1]))
    }

    /// y = γ·(x − running_mean)/√(running_var + eps) + β.
    public static func batchNormInference(
        x: TensorView, gamma: TensorView, beta: TensorView, runningMean: TensorView,
        runningVar: TensorView, y: TensorView, eps: Double
    ) {
        let (n, c, inner) = bnLayout(x)
        let xp = x.f32, yp = y.f32, gp = gamma.f32, bp = beta.f32, rm = runningMean.f32, rv = runningVar.f32
        Parallel.forEach(c, unitWork: 2 * n * inner) { channels in
            for ch in channels {
                let invstd = Float(1 / (Double(rv[ch]) + eps).squareRoot())
                let scale = gp[ch] * invstd, shift = bp[ch] - rm[ch] * scale
                for b in 0..<n {
                    let off = (b * c + ch) * inner
                    affine(xp + off, yp + off, inner, scale, shift)
                }
            }
        }
    }

    /// Training-mode batch norm: y, batch mean and inverse std; running statistics updated in place.
    /// With `training == false` it normalises with the running statistics and returns them as mean and
    /// `1/√(running_var + eps)`, leaving them unchanged.
    public static func nativeBatchNorm(
        x: TensorView, gamma: TensorView, beta: TensorView, runningMean: TensorView,
        runningVar: TensorView, y: TensorView, mean: TensorView, invstd: TensorView,
        _ a: BatchNormAttrs
    ) {
        let (n, c, inner) = bnLayout(x)
        let xp = x.f32, yp = y.f32, gp = gamma.f32, bp = beta.f32, rm = runningMean.f32, rv = runningVar.f32
        let mp = mean.f32, ip = invstd.f32
        let count = n * inner, momentum = a.momentum
        Parallel.forEach(c, unitWork: 4 * count) { channels in
            for ch in channels {
                let mu: Double, variance: Double
                if a.training {
                    var s: Double = 0
                    for b in 0..<n { s += Double(planeSum(xp + (b * c + ch) * inner, inner)) }
                    mu = s / Double(count)
                    let muF = Float(mu)
                    var q: Double = 0
                    for b in 0..<n { q += Double(planeSquaredDeviation(xp + (b * c + ch) * inner, inner, muF)) }
                    variance = q / Double(count)
                } else {
                    mu = Double(rm[ch])
                    variance = Double(rv[ch])
                }
                let inv = 1 / (variance + a.eps).squareRoot()
                mp[ch] = Float(mu)
                ip[ch] = Float(inv)
                let scale = Float(Double(gp[ch]) * inv), shift = Float(Double(bp[ch]) - mu * Double(gp[ch]) * inv)
                for b in 0..<n {
                    let off = (b * c + ch) * inner
                    affine(xp + off, yp + off, inner, scale, shift)
                }
                if a.training {
                    let unbiased = count > 1 ? variance * Double(count) / Double(count - 1) : variance
                    rm[ch] = Float((1 - momentum) * Double(rm[ch]) + momentum * mu)
                    rv[ch] = Float((1 - momentum) * Double(rv[ch]) + momentum * unbiased)
                }
            }
        }
    }

    /// dx, dγ, dβ of batch norm. Training: from the saved batch mean and inverse std,
    /// dx = γ·invstd·(dy − mean(dy) − x̂·mean(dy·x̂)); inference: from the running statistics,
    /// dx = γ·dy/√(running_var + eps).
    public static func batchNormGrad(
        dy: TensorView, x: TensorView, gamma: TensorView, runningMean: TensorView,
        runningVar: TensorView, mean: TensorView, invstd: TensorView, dx: TensorView,
        dgamma: TensorView, dbeta: TensorView, _ a: BatchNormAttrs
    ) {
        let (n, c, inner) = bnLayout(x)
        let dyp = dy.f32, xp = x.f32, gp = gamma.f32, rm = runningMean.f32, rv = runningVar.f32
        let mp = mean.f32, ip = invstd.f32, dxp = dx.f32, dgp = dgamma.f32, dbp = dbeta.f32
        let count = Double(n * inner)
        Parallel.forEach(c, unitWork: 6 * n * inner) { channels in
            for ch in channels {
                let mu = a.training ? mp[ch] : rm[ch]
                let inv = a.training ? ip[ch] : Float(1 / (Double(rv[ch]) + a.eps).squareRoot())
                // dγ is a sum of terms that nearly cancel (x̂ has mean 0): a float accumulator over the
                // whole channel would lose most of its digits. Each plane is summed in eight float lanes
                // (a few hundred terms each at most for these planes), the planes in Double.
                var sumDy: Double = 0, sumDyXc: Double = 0
                for b in 0..<n {
                    let off = (b * c + ch) * inner
                    let (s1, s2) = planeGradSums(dyp + off, xp + off, inner, mu)
                    sumDy += Double(s1)
                    sumDyXc += Double(s2)
                }
                let sumDyXhat = sumDyXc * Double(inv)
                dgp[ch] = Float(sumDyXhat)
                dbp[ch] = Float(sumDy)
                let k = gp[ch] * inv
                if a.training {
                    let meanDy = Float(sumDy / count), meanDyXhat = Float(sumDyXhat / count)
                    for b in 0..<n {
                        let off = (b * c + ch) * inner
                        bnGradInput(
                            dyp + off, xp + off, dxp + off, inner, mu: mu, inv: inv, k: k, meanDy: meanDy,
                            meanDyXhat: meanDyXhat)
                    }
                } else {
                    for b in 0..<n {
                        let off = (b * c + ch) * inner
                        for i in 0..<inner { dxp[off + i] = k * dyp[off + i] }
                    }
                }
            }
        }
    }

    /// dx, dγ, dβ of batch norm with frozen (running) statistics (`--bn frozen`): invstd = 1/√(running_var
    /// + eps), dx = γ·invstd·dy, dβ = Σ dy, dγ = Σ dy·(x − running_mean)·invstd when `x` is given (γ
    /// trainable), else 0. Running statistics are read, never written.
    public static func batchNormFrozenGrad(
        dy: TensorView, gamma: TensorView, runningMean: TensorView, runningVar: TensorView, x: TensorView?,
        dx: TensorView, dgamma: TensorView, dbeta: TensorView, _ a: BatchNormAttrs
    ) {
        let (n, c, inner) = bnLayout(dy)
        let dyp = dy.f32, gp = gamma.f32, rm = runningMean.f32, rv = runningVar.f32
        let xp = x?.f32, dxp = dx.f32, dgp = dgamma.f32, dbp = dbeta.f32
        Parallel.forEach(c, unitWork: 4 * n * inner) { channels in
            for ch in channels {
                let inv = Float(1 / (Double(rv[ch]) + a.eps).squareRoot())
                var sumDy: Double = 0, sumDyXc: Double = 0
                for b in 0..<n {
                    let off = (b * c + ch) * inner
                    if let xp {
                        let (s1, s2) = planeGradSums(dyp + off, xp + off, inner, rm[ch])
                        sumDy += Double(s1)
                        sumDyXc += Double(s2)
                    } else {
                        sumDy += Double(planeSum(dyp + off, inner))
                    }
                }
                dgp[ch] = Float(sumDyXc * Double(inv))
                dbp[ch] = Float(sumDy)
                let k = gp[ch] * inv
                for b in 0..<n {
                    let off = (b * c + ch) * inner
                    for i in 0..<inner { dxp[off + i] = k * dyp[off + i] }
                }
            }
        }
    }

    // MARK: Plane loops, eight lanes at a time (the tail through the same lane arithmetic)

    /// Σ p[0..<n] in eight float lanes, then the lanes.
    @inline(__always)
    static func planeSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>(), i = 0
        while i + 8 <= n {
            acc += load8(p + i)
            i += 8
        }
        var tail: Float = 0
        while i < n {
            tail += p[i]
            i += 1
        }
        return acc.sum() + tail
    }

    /// Σ (p[i] − mu)² in eight float lanes.
    @inline(__always)
    static func planeSquaredDeviation(_ p: UnsafePointer<Float>, _ n: Int, _ mu: Float) -> Float {
        var acc = SIMD8<Float>(), i = 0
        while i + 8 <= n {
            let d = load8(p + i) - mu
            acc += d * d
            i += 8
        }
        var tail: Float = 0
        while i < n {
            let d = p[i] - mu
            tail += d * d
            i += 1
        }
        return acc.sum() + tail
    }

    /// (Σ g, Σ g·(x − mu)) over a plane, in eight float lanes.
    @inline(__always)
    static func planeGradSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, _ mu: Float)
        -> (Float, Float)
    {
        var s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), i = 0
        while i + 8 <= n {
            let gv = load8(g + i)
            s1 += gv
            s2 += gv * (load8(x + i) - mu)
            i += 8
        }
        var t1: Float = 0, t2: Float = 0
        while i < n {
            t1 += g[i]
            t2 += g[i] * (x[i] - mu)
            i += 1
        }
        return (s1.sum() + t1, s2.sum() + t2)
    }

    /// y = x·scale + shift over a plane.
    @inline(__always)
    static func affine(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ scale: Float,
        _ shift: Float
    ) {
        var i = 0
        while i + 8 <= n {
            store8(load8(x + i) * scale + shift, y + i)
            i += 8
        }
        while i < n {
            y[i] = (SIMD8(repeating: x[i]) * scale + shift)[0]
            i += 1
        }
    }

    /// dx = k·(dy − meanDy − x̂·meanDyXhat), x̂ = (x − mu)·inv, over a plane.
    @inline(__always)
    static func bnGradInput(
        _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
        _ n: Int, mu: Float, inv: Float, k: Float, meanDy: Float, meanDyXhat: Float
    ) {
        @inline(__always) func lanes(_ gv: SIMD8<Float>, _ xv: SIMD8<Float>) -> SIMD8<Float> {
            let xhat = (xv - mu) * inv
            return k * (gv - meanDy - xhat * meanDyXhat)
        }
        var i = 0
        while i + 8 <= n {
            store8(lanes(load8(g + i), load8(x + i)), dx + i)
            i += 8
        }
        while i < n {
            dx[i] = lanes(SIMD8(repeating: g[i]), SIMD8(repeating: x[i]))[0]
            i += 1
        }
    }

    /// norm[c] = ‖W[c, ...]‖₂ (DoRA's per-output-channel norm; never differentiated).
    public static func channelNorm(w: TensorView, norm: TensorView) {
        let c = w.shape[0], inner = w.count / c, wp = w.f32, np = norm.f32
        Parallel.forEach(c, unitWork: 2 * inner) { channels in
            for ch in channels {
                var s: Double = 0
                for i in 0..<inner {
                    let v = Double(wp[ch * inner + i])
                    s += v * v
                }
                np[ch] = Float(s.squareRoot())
            }
        }
    }
}
