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
    public static func batchNormInference(x: TensorView, gamma: TensorView, beta: TensorView, runningMean: TensorView,
                                          runningVar: TensorView, y: TensorView, eps: Double)
    {
        let (n, c, inner) = bnLayout(x)
        let xp = x.f32, yp = y.f32, gp = gamma.f32, bp = beta.f32, rm = runningMean.f32, rv = runningVar.f32
        Parallel.forEach(c, unitWork: 2 * n * inner) { channels in
            for ch in channels {
                let invstd = Float(1 / (Double(rv[ch]) + eps).squareRoot())
                let scale = gp[ch] * invstd, shift = bp[ch] - rm[ch] * scale
                for b in 0..<n {
                    let off = (b * c + ch) * inner
                    for i in 0..<inner { yp[off + i] = xp[off + i] * scale + shift }
                }
            }
        }
    }

    /// Training-mode batch norm: y, batch mean and inverse std; running statistics updated in place.
    /// With `training == false` it normalises with the running statistics and returns them as mean and
    /// `1/√(running_var + eps)`, leaving them unchanged.
    public static func nativeBatchNorm(x: TensorView, gamma: TensorView, beta: TensorView, runningMean: TensorView,
                                       runningVar: TensorView, y: TensorView, mean: TensorView, invstd: TensorView,
                                       _ a: BatchNormAttrs)
    {
        let (n, c, inner) = bnLayout(x)
        let xp = x.f32, yp = y.f32, gp = gamma.f32, bp = beta.f32, rm = runningMean.f32, rv = runningVar.f32
        let mp = mean.f32, ip = invstd.f32
        let count = n * inner, momentum = a.momentum
        Parallel.forEach(c, unitWork: 4 * count) { channels in
            for ch in channels {
                let mu: Double, variance: Double
                if a.training {
                    var s: Double = 0
                    for b in 0..<n {
                        let off = (b * c + ch) * inner
                        var part: Float = 0
                        for i in 0..<inner { part += xp[off + i] }
                        s += Double(part)
                    }
                    mu = s / Double(count)
                    var q: Double = 0
                    for b in 0..<n {
                        let off = (b * c + ch) * inner
                        for i in 0..<inner {
                            let d = Double(xp[off + i]) - mu
                            q += d * d
                        }
                    }
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
                    for i in 0..<inner { yp[off + i] = xp[off + i] * scale + shift }
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
    public static func batchNormGrad(dy: TensorView, x: TensorView, gamma: TensorView, runningMean: TensorView,
                                     runningVar: TensorView, mean: TensorView, invstd: TensorView, dx: TensorView,
                                     dgamma: TensorView, dbeta: TensorView, _ a: BatchNormAttrs)
    {
        let (n, c, inner) = bnLayout(x)
        let dyp = dy.f32, xp = x.f32, gp = gamma.f32, rm = runningMean.f32, rv = runningVar.f32
        let mp = mean.f32, ip = invstd.f32, dxp = dx.f32, dgp = dgamma.f32, dbp = dbeta.f32
        let count = Double(n * inner)
        Parallel.forEach(c, unitWork: 6 * n * inner) { channels in
            for ch in channels {
                let mu = a.training ? mp[ch] : rm[ch]
                let inv = a.training ? ip[ch] : Float(1 / (Double(rv[ch]) + a.eps).squareRoot())
                // Double per element: dγ is a sum of terms that nearly cancel (x̂ has mean 0), so a float
                // accumulator loses most of its digits.
                var sumDy: Double = 0, sumDyXc: Double = 0
                let muD = Double(mu)
                for b in 0..<n {
                    let off = (b * c + ch) * inner
                    for i in 0..<inner {
                        let g = Double(dyp[off + i])
                        sumDy += g
                        sumDyXc += g * (Double(xp[off + i]) - muD)
                    }
                }
                let sumDyXhat = sumDyXc * Double(inv)
                dgp[ch] = Float(sumDyXhat)
                dbp[ch] = Float(sumDy)
                let k = gp[ch] * inv
                if a.training {
                    let meanDy = Float(sumDy / count), meanDyXhat = Float(sumDyXhat / count)
                    for b in 0..<n {
                        let off = (b * c + ch) * inner
                        for i in 0..<inner {
                            let xhat = (xp[off + i] - mu) * inv
                            dxp[off + i] = k * (dyp[off + i] - meanDy - xhat * meanDyXhat)
                        }
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
