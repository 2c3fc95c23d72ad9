// Optimizer kernels, PyTorch 1.13's single-tensor formulas (foreach=False), and GaLore's projector.
// Each is elementwise and safe in place: the updated parameter and state may be the very operands
// (the executor applies updates in place). `step` is the 1-based optimizer step (Adam's bias
// correction, the projector's refresh).
//
// - sgd_update: p ← p − lr·(g + wd·p).
// - momentum_update: g' = g + wd·p; b ← μ·b + g'; p ← p − lr·b (dampening 0, no Nesterov; a zero buffer
//   makes the first step b = g', as PyTorch's clone).
// - adam_update: Adam (g' = g + wd·p) or AdamW (p ← p·(1 − lr·wd) first); m ← β₁m + (1−β₁)g';
//   v ← β₂v + (1−β₂)g'²; p ← p − (lr/(1−β₁ᵗ))·m/(√v/√(1−β₂ᵗ) + ε).
// - adam_direction: the same moments of g and GaLore's direction (√(1−β₂ᵗ)/(1−β₁ᵗ))·m/(√v + ε), as the
//   reference GaLore (galore_torch.AdamW) computes it: ε is added to the uncorrected √v and the bias
//   corrections fold into the step size, unlike adam_update (ε after the correction, as torch.optim.Adam).
// - apply_update: p ← p − lr·(u + wd·p); decoupled (AdamW): p ← (p − lr·u)·(1 − lr·wd), galore_torch's
//   order (the step, then the decay of the stepped weight).
// - svd_projector: the top-r singular vectors of G by LAPACK's sgesdd_ (thin SVD of G itself, as
//   torch.linalg.svd calls it, so the signs are LAPACK's), left U[:, :r] or right Vᵀ[:r]; refreshed when
//   (step − 1) is a multiple of `gap`, else the stored projector is kept.
import COpenBLAS
import GraphIR

extension Kernels {
    public static func sgdUpdate(p: TensorView, g: TensorView, out: TensorView, _ a: OptimizerAttrs) {
        let lr = Float(a.lr), wd = Float(a.weightDecay)
        zip(p, g, out, work: 3) { p, g in p - lr * (g + wd * p) }
    }

    public static func momentumUpdate(
        p: TensorView, g: TensorView, buffer: TensorView, out: TensorView,
        bufferOut: TensorView, _ a: OptimizerAttrs
    ) {
        let lr = Float(a.lr), wd = Float(a.weightDecay), mu = Float(a.momentum)
        let pp = p.f32, gp = g.f32, bp = buffer.f32, op = out.f32, bo = bufferOut.f32
        Parallel.forEach(p.count, unitWork: 6) { r in
            for i in r {
                let grad = gp[i] + wd * pp[i]
                let b = mu * bp[i] + grad
                bo[i] = b
                op[i] = pp[i] - lr * b
            }
        }
    }

    /// Bias corrections 1 − β₁ᵗ and 1 − β₂ᵗ.
    private static func corrections(_ a: OptimizerAttrs, step: Int) -> (Double, Double) {
        let t = Double(max(step, 1))
        return (1 - pow(a.beta1, t), 1 - pow(a.beta2, t))
    }

    private static func pow(_ x: Double, _ y: Double) -> Double {
        // Integer steps: repeated squaring keeps the executor free of libm here.
        var result = 1.0, base = x, e = Int(y)
        while e > 0 {
            if e & 1 == 1 { result *= base }
            base *= base
            e >>= 1
        }
        return result
    }

    public static func adamUpdate(
        p: TensorView, g: TensorView, m: TensorView, v: TensorView, out: TensorView,
        mOut: TensorView, vOut: TensorView, _ a: OptimizerAttrs, step: Int
    ) {
        let (bc1, bc2) = corrections(a, step: step)
        let b1 = Float(a.beta1), b2 = Float(a.beta2), eps = Float(a.eps)
        let stepSize = Float(a.lr / bc1), bc2Sqrt = Float(bc2.squareRoot())
        let decay = a.decoupled ? Float(1 - a.lr * a.weightDecay) : 1
        let wd = a.decoupled ? 0 : Float(a.weightDecay)
        let pp = p.f32, gp = g.f32, mp = m.f32, vp = v.f32, op = out.f32, mo = mOut.f32, vo = vOut.f32
        Parallel.forEach(p.count, unitWork: 12) { r in
            for i in r {
                let param = pp[i] * decay
                let grad = gp[i] + wd * pp[i]
                let mi = b1 * mp[i] + (1 - b1) * grad
                let vi = b2 * vp[i] + (1 - b2) * grad * grad
                mo[i] = mi
                vo[i] = vi
                op[i] = param - stepSize * mi / (vi.squareRoot() / bc2Sqrt + eps)
            }
        }
    }

    public static func adamDirection(
        g: TensorView, m: TensorView, v: TensorView, direction: TensorView,
        mOut: TensorView, vOut: TensorView, _ a: OptimizerAttrs, step: Int
    ) {
        let (bc1, bc2) = corrections(a, step: step)
        let b1 = Float(a.beta1), b2 = Float(a.beta2), eps = Float(a.eps)
        let correction = Float(bc2.squareRoot() / bc1)
        let gp = g.f32, mp = m.f32, vp = v.f32, dp = direction.f32, mo = mOut.f32, vo = vOut.f32
        Parallel.forEach(g.count, unitWork: 12) { r in
            for i in r {
                let grad = gp[i]
                let mi = b1 * mp[i] + (1 - b1) * grad
                let vi = b2 * vp[i] + (1 - b2) * grad * grad
                mo[i] = mi
                vo[i] = vi
                dp[i] = correction * (mi / (vi.squareRoot() + eps))
            }
        }
    }

    public static func applyUpdate(p: TensorView, u: TensorView, out: TensorView, _ a: OptimizerAttrs) {
        let lr = Float(a.lr), wd = Float(a.weightDecay)
        if a.decoupled {
            let decay = 1 - lr * wd
            zip(p, u, out, work: 3) { p, u in (p - lr * u) * decay }
        } else {
            zip(p, u, out, work: 3) { p, u in p - lr * (u + wd * p) }
        }
    }

    /// The projector of gradient G (m×n): refreshed by a thin SVD when the step calls for it, else the
    /// stored one (`stored`, which `out` may be). Its buffers come from `scratch` (`svdScratch`).
    public static func svdProjector(
        g: TensorView, stored: TensorView, out: TensorView, _ a: ProjectorAttrs, step: Int,
        scratch: Workspace
    ) {
        guard (max(step, 1) - 1) % max(a.gap, 1) == 0 else {
            copy(stored, to: out)
            return
        }
        let m = g.shape[0], n = g.shape[1], k = min(m, n), r = a.rank
        // LAPACK is column-major: the column-major copy of G is its transpose in memory.
        var carver = ScratchCarver(scratch)
        let colMajor = carver.take(Float.self, m * n)
        let gp = g.f32
        for i in 0..<m { for j in 0..<n { colMajor[i + j * m] = gp[i * n + j] } }
        // A non-finite gradient (a diverging run) has no SVD and LAPACK refuses it: the projector becomes
        // NaN, so the parameters do and the next step's loss stops training, naming the step.
        guard (0..<m * n).allSatisfy({ colMajor[$0].isFinite }) else {
            out.f32.update(repeating: .nan, count: out.count)
            return
        }
        let s = carver.take(Float.self, k)
        let u = carver.take(Float.self, m * k)
        let vt = carver.take(Float.self, k * n)
        let iwork = carver.take(Int32.self, 8 * k)
        let workCount = sgesddWorkCount(m: m, n: n)
        let work = carver.take(Float.self, workCount)
        var jobz = CChar(UInt8(ascii: "S"))
        var mm = Int32(m), nn = Int32(n), lda = Int32(m), ldu = Int32(m), ldvt = Int32(k)
        var info: Int32 = 0, lwork = Int32(workCount)
        sgesdd_(&jobz, &mm, &nn, colMajor, &lda, s, u, &ldu, vt, &ldvt, work, &lwork, iwork, &info)
        precondition(info == 0, "sgesdd_ failed (info \(info))")
        let op = out.f32
        if a.left {
            // P = U[:, :r], m×r row-major; U is m×k column-major.
            for i in 0..<m { for j in 0..<r { op[i * r + j] = u[i + j * m] } }
        } else {
            // P = Vᵀ[:r], r×n row-major; Vᵀ is k×n column-major.
            for j in 0..<r { for i in 0..<n { op[j * n + i] = vt[j + i * k] } }
        }
    }
}
