// Matrix kernels: linear, its gradients, bias_grad and matmul, all through OpenBLAS's sgemm (row-major).
//
// OpenBLAS runs single-threaded, in the calling thread (`openblas_set_num_threads(1)`, once, before the
// first GEMM): the executor splits the work itself, a conv's batch over lanes (Kernels+Conv.swift) and
// a large product's rows here (`parallelGemm`). OpenBLAS's own threads cost a pool hand-off per call
// (most of a small conv GEMM's time) and spin against other processes on a shared machine, and a
// thread count fixed by the executor keeps results independent of OPENBLAS_NUM_THREADS.
import COpenBLAS
import GraphIR

extension Kernels {
    /// OpenBLAS single-threaded, set once before the first GEMM.
    static let singleThreadedBLAS: Void = { openblas_set_num_threads(1) }()

    /// `gemm` with C's rows split over the cores when the product is large enough to pay (at least
    /// `convLaneMACs` per part); each part is an independent single-threaded GEMM. Not for use inside
    /// another parallel chunk.
    static func parallelGemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let macs = m.multipliedReportingOverflow(by: n).partialValue.multipliedReportingOverflow(by: k)
        let parts = macs.overflow ? Parallel.cores : min(Parallel.cores, m, max(1, macs.partialValue / convLaneMACs))
        Parallel.lanes(m, parts) { _, rows in
            // Row i of op(A) is row i of A, or column i of A when transposed.
            let aRows = transA ? a + rows.lowerBound : a + rows.lowerBound * lda
            gemm(
                transA: transA, transB: transB, m: rows.count, n: n, k: k, alpha: alpha, a: aRows, lda: lda,
                b: b, ldb: ldb, beta: beta, c: c + rows.lowerBound * ldc, ldc: ldc)
        }
    }

    /// C[m×n] = alpha·op(A)·op(B) + beta·C, row-major, with leading dimensions of the stored matrices;
    /// single-threaded, in the calling thread.
    static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            // sgemm with k = 0 only scales C; do it here so no BLAS quirk decides.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        Self.singleThreadedBLAS
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y[..., out] = x[..., in] · Wᵀ + b.
    public static func linear(x: TensorView, weight: TensorView, bias: TensorView?, y: TensorView) {
        let out = weight.shape[0], inF = weight.shape[1], rows = x.count / inF
        parallelGemm(
            transA: false, transB: true, m: rows, n: out, k: inF, a: x.f32, lda: inF, b: weight.f32, ldb: inF,
            c: y.f32, ldc: out)
        if let bias {
            let yp = y.f32, bp = bias.f32
            Parallel.forEach(rows, unitWork: out) { r in
                for i in r { for j in 0..<out { yp[i * out + j] += bp[j] } }
            }
        }
    }

    /// dx[..., in] = dy[..., out] · W.
    public static func linearGradInput(dy: TensorView, weight: TensorView, dx: TensorView) {
        let out = weight.shape[0], inF = weight.shape[1], rows = dy.count / out
        parallelGemm(
            transA: false, transB: false, m: rows, n: inF, k: out, a: dy.f32, lda: out, b: weight.f32, ldb: inF,
            c: dx.f32, ldc: inF)
    }

    /// dW[out, in] = dyᵀ[out, N] · x[N, in].
    public static func linearGradWeight(dy: TensorView, x: TensorView, dw: TensorView) {
        let rows = dy.shape[0], out = dy.shape[1], inF = x.shape[1]
        parallelGemm(
            transA: true, transB: false, m: out, n: inF, k: rows, a: dy.f32, lda: out, b: x.f32, ldb: inF,
            c: dw.f32, ldc: inF)
    }

    /// db[C] = dy summed over every dimension but 1 (conv and linear bias gradients).
    public static func biasGrad(dy: TensorView, db: TensorView) {
        let n = dy.shape[0], c = dy.shape[1], inner = dy.count / (n * c)
        let src = dy.f32, dst = db.f32
        Parallel.forEach(c, unitWork: n * inner) { range in
            for ch in range {
                var s: Double = 0
                for b in 0..<n {
                    let p = src + (b * c + ch) * inner
                    var part: Float = 0
                    for i in 0..<inner { part += p[i] }
                    s += Double(part)
                }
                dst[ch] = Float(s)
            }
        }
    }

    /// C = op(A)·op(B) for 2-D operands.
    public static func matmul(a: TensorView, b: TensorView, c: TensorView, transposeA: Bool, transposeB: Bool) {
        let m = c.shape[0], n = c.shape[1]
        let k = transposeA ? a.shape[0] : a.shape[1]
        parallelGemm(
            transA: transposeA, transB: transposeB, m: m, n: n, k: k, a: a.f32, lda: a.shape[1], b: b.f32,
            ldb: b.shape[1], c: c.f32, ldc: n)
    }
}
