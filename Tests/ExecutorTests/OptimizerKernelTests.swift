// Optimizer kernels against PyTorch's formulas written out in Double, over two steps (bias correction,
// state carried), in place as the executor runs them; GaLore's projector against the eigenvectors of GᵀG
// or GGᵀ.
import Executor
import Foundation
import GraphIR
import GraphTestSupport
import Testing

@Suite struct OptimizerKernelTests {
    static func close(_ a: [Float], _ b: [Double], _ tol: Double = 1e-5) -> Bool {
        Exec.relativeError(a, b) < tol
    }

    @Test(arguments: [false, true]) func adamAndAdamW(decoupled: Bool) throws {
        var rng = SplitMix64(seed: 21)
        let a = OptimizerAttrs(lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, decoupled: decoupled)
        let p = Exec.random([3, 4], &rng), m = HostTensor(.f32, [3, 4]), v = HostTensor(.f32, [3, 4])
        var ep = p.floats.map(Double.init), em = [Double](repeating: 0, count: 12), ev = em
        for step in 1...2 {
            let g = Exec.random([3, 4], &rng)
            // In place: results bound to the operands they overwrite, as the runner binds them.
            let node = Node(
                op: .adamUpdate(a), inputs: [ValueID(0), ValueID(1), ValueID(2), ValueID(3)],
                outputs: [ValueID(4), ValueID(5), ValueID(6)], name: "p.update")
            Kernels.run(
                node, inputs: [p.view, g.view, m.view, v.view], outputs: [p.view, m.view, v.view],
                context: KernelContext(step: step))
            let bc1 = 1 - Foundation.pow(0.9, Double(step)), bc2 = 1 - Foundation.pow(0.99, Double(step))
            for i in 0..<12 {
                var grad = Double(g.floats[i])
                if decoupled { ep[i] *= 1 - 1e-2 * 0.1 } else { grad += 0.1 * ep[i] }
                em[i] = 0.9 * em[i] + 0.1 * grad
                ev[i] = 0.99 * ev[i] + 0.01 * grad * grad
                ep[i] -= 1e-2 / bc1 * em[i] / (ev[i].squareRoot() / bc2.squareRoot() + 1e-8)
            }
        }
        #expect(Self.close(p.floats, ep, 1e-5) && Self.close(m.floats, em) && Self.close(v.floats, ev))
    }

    @Test func sgdMomentumDirectionAndApply() throws {
        var rng = SplitMix64(seed: 22)
        let p = Exec.random([10], &rng), g = Exec.random([10], &rng), buf = Exec.random([10], &rng)
        let a = OptimizerAttrs(lr: 0.1, momentum: 0.9, weightDecay: 0.01)
        let pv = p.floats.map(Double.init), gv = g.floats.map(Double.init), bv = buf.floats.map(Double.init)
        let sgd = try Exec.apply1(.sgdUpdate(a), p, g)
        #expect(Self.close(sgd.floats, (0..<10).map { pv[$0] - 0.1 * (gv[$0] + 0.01 * pv[$0]) }))
        let mom = try Exec.apply(.momentumUpdate(a), [p, g, buf])
        let nb = (0..<10).map { 0.9 * bv[$0] + gv[$0] + 0.01 * pv[$0] }
        #expect(Self.close(mom[1].floats, nb) && Self.close(mom[0].floats, (0..<10).map { pv[$0] - 0.1 * nb[$0] }))
        let apply = try Exec.apply1(.applyUpdate(a), p, g)
        #expect(Self.close(apply.floats, (0..<10).map { pv[$0] - 0.1 * (gv[$0] + 0.01 * pv[$0]) }))
        let zero = HostTensor(.f32, [10])
        let dir = try Exec.apply(
            .adamDirection(OptimizerAttrs(lr: 1)), [g, zero, zero], context: KernelContext(step: 1))
        // First step: m̂ = g, v̂ = g², so the direction is g/(|g| + ε) ≈ sign(g).
        #expect(Self.close(dir[0].floats, gv.map { $0 / (abs($0) + 1e-8) }, 1e-5))
        #expect(Self.close(dir[1].floats, gv.map { 0.1 * $0 }))
    }

    /// (MᵀM or MMᵀ)·x as Double, for the eigenvector checks.
    static func gram(_ g: [Float], _ m: Int, _ n: Int, left: Bool) -> [[Double]] {
        let d = left ? m : n
        var out = [[Double]](repeating: [Double](repeating: 0, count: d), count: d)
        for i in 0..<d {
            for j in 0..<d {
                var s = 0.0
                for k in 0..<(left ? n : m) {
                    let a = left ? g[i * n + k] : g[k * n + i], b = left ? g[j * n + k] : g[k * n + j]
                    s += Double(a) * Double(b)
                }
                out[i][j] = s
            }
        }
        return out
    }

    @Test(arguments: [(6, 4, false), (4, 7, true), (5, 5, false)]) func svdProjector(_ m: Int, _ n: Int, _ left: Bool)
        throws
    {
        var rng = SplitMix64(seed: 23)
        let g = Exec.random([m, n], &rng), r = 2
        let attrs = ProjectorAttrs(rank: r, left: left, gap: 3)
        let stored = HostTensor(.f32, left ? [m, r] : [r, n])
        let p = try Exec.apply1(.svdProjector(attrs), g, stored, context: KernelContext(step: 4))
        let d = left ? m : n
        let vectors: [[Double]] = (0..<r).map { j in
            (0..<d).map { i in Double(left ? p.floats[i * r + j] : p.floats[j * n + i]) }
        }
        // Orthonormal eigenvectors of the Gram matrix, eigenvalues descending, and nothing larger left
        // in the complement (the largest remaining eigenvalue by power iteration).
        let a = Self.gram(g.floats, m, n, left: left)
        func apply(_ x: [Double]) -> [Double] { a.map { row in zip(row, x).reduce(0) { $0 + $1.0 * $1.1 } } }
        func dot(_ x: [Double], _ y: [Double]) -> Double { zip(x, y).reduce(0) { $0 + $1.0 * $1.1 } }
        var lambdas: [Double] = []
        for (j, u) in vectors.enumerated() {
            #expect(abs(dot(u, u) - 1) < 1e-5)
            for k in 0..<j { #expect(abs(dot(u, vectors[k])) < 1e-5) }
            let au = apply(u), lambda = dot(u, au)
            lambdas.append(lambda)
            #expect(zip(au, u).allSatisfy { abs($0 - lambda * $1) < 1e-4 * max(lambda, 1) }, "eigenvector \(j)")
        }
        #expect(lambdas[0] >= lambdas[1])
        var x = (0..<d).map { Double($0 % 3) - 0.7 }
        var rest = 0.0
        for _ in 0..<200 {
            for u in vectors { let c = dot(x, u); x = zip(x, u).map { $0 - c * $1 } }
            x = apply(x)
            for u in vectors { let c = dot(x, u); x = zip(x, u).map { $0 - c * $1 } }
            let norm = dot(x, x).squareRoot()
            guard norm > 0 else { break }
            x = x.map { $0 / norm }
            rest = dot(x, apply(x))
        }
        #expect(rest <= lambdas[1] * (1 + 1e-5), "a larger singular value was left out")
        // Between refreshes the stored projector is kept.
        let kept = try Exec.apply1(.svdProjector(attrs), g, p, context: KernelContext(step: 5))
        #expect(kept.floats == p.floats)
    }

    /// A diverged gradient has no SVD (LAPACK refuses it): the projector is NaN, not a crash, so the
    /// parameters become NaN and the next loss stops training.
    @Test func aNonFiniteGradientGivesANaNProjector() throws {
        var rng = SplitMix64(seed: 5)
        let g = Exec.random([4, 6], &rng)
        g.view.f32[7] = .infinity
        let attrs = ProjectorAttrs(rank: 2, left: true, gap: 1)
        let p = try Exec.apply1(.svdProjector(attrs), g, HostTensor(.f32, [4, 2]), context: KernelContext(step: 1))
        let values = p.floats
        #expect(values.count == 8 && values.allSatisfy { $0.isNaN })
    }
}
