import GraphIR

// Softmax cross-entropy (PyTorch's `cross_entropy`, mean over the batch) and its gradient.
// Log-sum-exp with the row maximum subtracted, accumulated in Double.
#if canImport(Glibc)
    import Glibc
#endif

extension Kernels {
    /// loss = −(1/N)·Σₙ log softmax(logits[n])[labels[n]].
    public static func softmaxCrossEntropy(logits: TensorView, labels: TensorView, loss: TensorView) {
        let n = logits.shape[0], k = logits.shape[1], lp = logits.f32, yp = labels.i64
        var total: Double = 0
        for row in 0..<n {
            let z = lp + row * k
            let label = Int(yp[row])
            precondition(label >= 0 && label < k, "softmax_cross_entropy: label \(label) outside 0..<\(k)")
            var top = -Double.infinity
            for j in 0..<k { top = max(top, Double(z[j])) }
            var s: Double = 0
            for j in 0..<k { s += exp(Double(z[j]) - top) }
            total += top + log(s) - Double(z[label])
        }
        loss.f32[0] = Float(total / Double(n))
    }

    /// dlogits = (softmax(logits) − onehot(labels)) / N.
    public static func softmaxCrossEntropyGrad(logits: TensorView, labels: TensorView, dlogits: TensorView) {
        let n = logits.shape[0], k = logits.shape[1], lp = logits.f32, yp = labels.i64, dp = dlogits.f32
        for row in 0..<n {
            let z = lp + row * k, d = dp + row * k
            var top = -Double.infinity
            for j in 0..<k { top = max(top, Double(z[j])) }
            var s: Double = 0
            for j in 0..<k { s += exp(Double(z[j]) - top) }
            let label = Int(yp[row])
            for j in 0..<k {
                let p = exp(Double(z[j]) - top) / s
                d[j] = Float((p - (j == label ? 1 : 0)) / Double(n))
            }
        }
    }
}
