// Every backward kernel but conv's against central finite differences of a double-accumulated loss
// Σ forward·R over small random shapes, with the operands the VJP rules (Passes/Op+VJP.swift) give it.
import Executor
import Foundation
import GraphIR
import GraphTestSupport
import Testing

@Suite struct GradientKernelTests {
    /// FD tolerance relative to the gradient's largest element (float32 forward, h = 1e-2).
    let tolerance = 2e-3

    @Test(arguments: [false, true]) func batchNorm(rank4: Bool) throws {
        var rng = SplitMix64(seed: 3)
        let shape: Shape = rank4 ? [3, 4, 3, 2] : [6, 5]
        let c = shape[1]
        let x = Exec.random(shape, &rng, -2, 3)
        let gamma = Exec.random([c], &rng, 0.5, 1.5), beta = Exec.random([c], &rng)
        let rm = Exec.random([c], &rng), rv = Exec.random([c], &rng, 0.5, 2)
        for training in [true, false] {
            let a = BatchNormAttrs(eps: 1e-5, momentum: 0.1, training: training)
            // Fresh running statistics per evaluation: the training forward updates them.
            func forward() throws -> [HostTensor] {
                try Exec.apply(
                    .nativeBatchNorm(a),
                    [
                        x, gamma, beta, HostTensor(rm.shape, rm.floats),
                        HostTensor(rv.shape, rv.floats),
                    ])
            }
            let out = try forward()
            let r = Exec.random(shape, &rng)
            let loss = { Exec.dot(try forward()[0], r) }
            let grads = try Exec.apply(.batchNormGrad(a), [r, x, gamma, rm, rv, out[1], out[2]])
            #expect(try Exec.finiteDifferenceError(x, grads[0], loss: loss) < tolerance, "dx training \(training)")
            #expect(try Exec.finiteDifferenceError(gamma, grads[1], loss: loss) < tolerance, "dgamma \(training)")
            #expect(try Exec.finiteDifferenceError(beta, grads[2], loss: loss) < tolerance, "dbeta \(training)")
        }
    }

    @Test func batchNormStatisticsAndRunningUpdate() throws {
        let x = HostTensor([4, 1], [1, 2, 3, 6])
        let rm = HostTensor([1], [0.5]), rv = HostTensor([1], [2])
        let out = try Exec.apply(
            .nativeBatchNorm(BatchNormAttrs(eps: 1e-12, momentum: 0.25, training: true)),
            [x, HostTensor([1], [1]), HostTensor([1], [0]), rm, rv])
        // mean 3, biased var 3.5, unbiased 14/3.
        #expect(abs(out[1].floats[0] - 3) < 1e-6)
        #expect(abs(out[2].floats[0] - Float(1 / 3.5.squareRoot())) < 1e-6)
        #expect(abs(rm.floats[0] - (0.75 * 0.5 + 0.25 * 3)) < 1e-6)
        #expect(abs(rv.floats[0] - Float(0.75 * 2 + 0.25 * 14.0 / 3)) < 1e-6)
    }

    @Test(arguments: Activation.allCases) func activation(_ act: Activation) throws {
        var rng = SplitMix64(seed: 5)
        // Values at least 0.05 away from the kinks (0, ±3, 6), so differences of h = 1e-2 see one piece.
        let kinks: [Float] = [-3, 0, 3, 6]
        var values: [Float] = []
        while values.count < 60 {
            let v = Float.random(in: -7..<8, using: &rng)
            if kinks.allSatisfy({ abs(v - $0) > 0.05 }) { values.append(v) }
        }
        let x = HostTensor([3, 20], values)
        let r = Exec.random([3, 20], &rng)
        let y = try Exec.apply1(act.op, x)
        let dx = try Exec.apply1(.activationGrad(act), r, act.gradientUsesOutput ? y : x)
        let err = try Exec.finiteDifferenceError(x, dx) { Exec.dot(try Exec.apply1(act.op, x), r) }
        #expect(err < tolerance, "\(act)")
    }

    static let pools: [Pool2dAttrs] = [
        Pool2dAttrs(kernel: Pair(2)),
        Pool2dAttrs(kernel: Pair(3), stride: Pair(2), padding: Pair(1)),
        Pool2dAttrs(kernel: Pair(3), stride: Pair(2), padding: Pair(1), ceilMode: true),
        Pool2dAttrs(
            kernel: Pair(3, 2), stride: Pair(2, 1), padding: Pair(1, 0), ceilMode: true, countIncludePad: false),
        Pool2dAttrs(kernel: Pair(3), stride: Pair(2), padding: Pair(1), countIncludePad: false),
    ]

    @Test(arguments: pools) func maxPool(_ a: Pool2dAttrs) throws {
        var rng = SplitMix64(seed: 9)
        // Distinct values spaced well beyond h, so no perturbation changes an argmax.
        var values = (0..<(2 * 3 * 7 * 6)).map { Float($0) * 0.1 }
        values.shuffle(using: &rng)
        let x = HostTensor([2, 3, 7, 6], values)
        let out = try Exec.apply(.maxPool2dWithIndices(a), [x])
        let r = Exec.random(out[0].shape, &rng)
        let dx = try Exec.apply1(.maxPool2dGrad(a), r, x, out[1])
        let err = try Exec.finiteDifferenceError(x, dx, limit: 300) { Exec.dot(try Exec.apply1(.maxPool2d(a), x), r) }
        #expect(err < tolerance, "\(a)")
    }

    @Test(arguments: pools) func avgPool(_ a: Pool2dAttrs) throws {
        var rng = SplitMix64(seed: 10)
        let x = Exec.random([2, 2, 7, 6], &rng)
        let y = try Exec.apply1(.avgPool2d(a), x)
        let r = Exec.random(y.shape, &rng)
        let dx = try Exec.apply1(.avgPool2dGrad(a), r, x)
        let err = try Exec.finiteDifferenceError(x, dx, limit: 200) { Exec.dot(try Exec.apply1(.avgPool2d(a), x), r) }
        #expect(err < tolerance, "\(a)")
    }

    @Test func avgPoolDivisors() throws {
        // 1x1x2x2 of ones, kernel 2, padding 1: each corner window holds one input and three pads.
        let x = HostTensor([1, 1, 2, 2], [1, 1, 1, 1])
        let incl = try Exec.apply1(.avgPool2d(Pool2dAttrs(kernel: Pair(2), stride: Pair(2), padding: Pair(1))), x)
        #expect(incl.floats == [0.25, 0.25, 0.25, 0.25])
        let excl = try Exec.apply1(
            .avgPool2d(
                Pool2dAttrs(
                    kernel: Pair(2), stride: Pair(2), padding: Pair(1),
                    countIncludePad: false)), x)
        #expect(excl.floats == [1, 1, 1, 1])
    }

    @Test(arguments: [Pair(1), Pair(3, 2), Pair(4, 5)]) func adaptiveAvgPool(_ out: Pair) throws {
        var rng = SplitMix64(seed: 12)
        let x = Exec.random([2, 3, 7, 5], &rng)
        let y = try Exec.apply1(.adaptiveAvgPool2d(output: out), x)
        let r = Exec.random(y.shape, &rng)
        let dx = try Exec.apply1(.adaptiveAvgPool2dGrad, r, x)
        let err = try Exec.finiteDifferenceError(x, dx, limit: 210) {
            Exec.dot(try Exec.apply1(.adaptiveAvgPool2d(output: out), x), r)
        }
        #expect(err < tolerance, "\(out)")
    }

    @Test func linear() throws {
        var rng = SplitMix64(seed: 13)
        let x = Exec.random([2, 3, 5], &rng), w = Exec.random([4, 5], &rng), b = Exec.random([4], &rng)
        let y = try Exec.apply1(.linear, x, w, b)
        let r = Exec.random(y.shape, &rng)
        let loss = { Exec.dot(try Exec.apply1(.linear, x, w, b), r) }
        let dx = try Exec.apply1(.linearGradInput, r, w)
        // The rule folds leading dimensions into rows (reshape views) for the weight and bias gradients.
        let r2 = try Exec.apply1(.reshape(shape: [6, 4]), r), x2 = try Exec.apply1(.reshape(shape: [6, 5]), x)
        let dw = try Exec.apply1(.linearGradWeight, r2, x2)
        let db = try Exec.apply1(.biasGrad, r2)
        #expect(try Exec.finiteDifferenceError(x, dx, loss: loss) < tolerance)
        #expect(try Exec.finiteDifferenceError(w, dw, loss: loss) < tolerance)
        #expect(try Exec.finiteDifferenceError(b, db, loss: loss) < tolerance)
    }

    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func matmul(_ ta: Bool, _ tb: Bool) throws {
        var rng = SplitMix64(seed: 14)
        let a = Exec.random(ta ? [5, 3] : [3, 5], &rng), b = Exec.random(tb ? [4, 5] : [5, 4], &rng)
        let op = Op.matmul(transposeA: ta, transposeB: tb)
        let r = Exec.random([3, 4], &rng)
        let loss = { Exec.dot(try Exec.apply1(op, a, b), r) }
        // The VJP rule's operands and transposes.
        let da =
            ta
            ? try Exec.apply1(.matmul(transposeA: tb, transposeB: true), b, r)
            : try Exec.apply1(.matmul(transposeA: false, transposeB: !tb), r, b)
        let db =
            tb
            ? try Exec.apply1(.matmul(transposeA: true, transposeB: ta), r, a)
            : try Exec.apply1(.matmul(transposeA: !ta, transposeB: false), a, r)
        #expect(try Exec.finiteDifferenceError(a, da, loss: loss) < tolerance)
        #expect(try Exec.finiteDifferenceError(b, db, loss: loss) < tolerance)
    }

    /// mul, div and add with broadcasting: the rules' mul/div then sum_to back to each operand's shape.
    @Test func broadcastingBinaryOpsAndSumTo() throws {
        var rng = SplitMix64(seed: 15)
        let a = Exec.random([2, 3, 4], &rng), b = Exec.random([3, 1], &rng, 0.5, 1.5)
        let r = Exec.random([2, 3, 4], &rng)
        let sumB = Op.sumTo(shape: [3, 1])
        // add
        let addLoss = { Exec.dot(try Exec.apply1(.add, a, b), r) }
        #expect(try Exec.finiteDifferenceError(b, Exec.apply1(sumB, r), loss: addLoss) < tolerance)
        // mul
        let mulLoss = { Exec.dot(try Exec.apply1(.mul, a, b), r) }
        #expect(try Exec.finiteDifferenceError(a, Exec.apply1(.mul, r, b), loss: mulLoss) < tolerance)
        #expect(
            try Exec.finiteDifferenceError(b, Exec.apply1(sumB, Exec.apply1(.mul, r, a)), loss: mulLoss) < tolerance)
        // div: da = g/b, db = −sum_to(g·a/b/b)
        let divLoss = { Exec.dot(try Exec.apply1(.div, a, b), r) }
        #expect(try Exec.finiteDifferenceError(a, Exec.apply1(.div, r, b), loss: divLoss) < tolerance)
        let q = try Exec.apply1(.div, Exec.apply1(.div, Exec.apply1(.mul, r, a), b), b)
        let db = try Exec.apply1(sumB, Exec.apply1(.scale(-1), q))
        #expect(try Exec.finiteDifferenceError(b, db, loss: divLoss) < tolerance)
        // Broadcasting on both sides, and a rank-1 operand.
        let c = Exec.random([2, 1, 4], &rng), d = Exec.random([3, 1], &rng), e = Exec.random([4], &rng)
        let cd = try Exec.apply1(.add, c, d)
        #expect(cd.shape == [2, 3, 4])
        let cv = c.floats, dv = d.floats
        #expect(cd.floats[1 * 12 + 2 * 4 + 3] == cv[1 * 4 + 3] + dv[2])
        let ce = try Exec.apply1(.mul, c, e)
        #expect(ce.floats[5] == cv[5] * e.floats[1])
        let back = try Exec.apply1(.sumTo(shape: [4]), Exec.apply1(.add, a, e))
        let av = a.floats, ev = e.floats
        for j in 0..<4 {
            let expected = (0..<6).reduce(Float(0)) { $0 + av[$1 * 4 + j] } + 6 * ev[j]
            #expect(abs(back.floats[j] - expected) < 1e-5)
        }
    }

    @Test func scaleAndDropout() throws {
        var rng = SplitMix64(seed: 16)
        let x = Exec.random([4, 50], &rng), r = Exec.random([4, 50], &rng)
        let ctx = KernelContext(step: 3, seed: 42)
        let scaled = try Exec.apply1(.scale(-2.5), x)
        #expect(scaled.floats == x.floats.map { $0 * -2.5 })
        let out = try Exec.apply(.nativeDropout(p: 0.3), [x], context: ctx)
        let again = try Exec.apply(.nativeDropout(p: 0.3), [x], context: ctx)
        #expect(out[1].view.count == 200 && again[0].floats == out[0].floats, "seeded: the same mask twice")
        let kept = (0..<200).filter { out[1].view.bool[$0] != 0 }.count
        #expect(kept > 110 && kept < 170, "about 70% kept, got \(kept)")
        let other = try Exec.apply(.nativeDropout(p: 0.3), [x], context: KernelContext(step: 4, seed: 42))
        #expect(other[0].floats != out[0].floats, "another step draws another mask")
        let dx = try Exec.apply1(.dropoutGrad(p: 0.3), r, out[1])
        let err = try Exec.finiteDifferenceError(x, dx, limit: 200) {
            Exec.dot(try Exec.apply(.nativeDropout(p: 0.3), [x], context: ctx)[0], r)
        }
        #expect(err < tolerance)
        #expect(try Exec.apply1(.dropout(p: 0.3), x).floats == x.floats, "inference dropout is the identity")
    }

    @Test func softmaxCrossEntropy() throws {
        var rng = SplitMix64(seed: 17)
        let logits = Exec.random([3, 5], &rng, -3, 3)
        let labels = HostTensor([3], labels: [4, 0, 2])
        let loss = try Exec.apply1(.softmaxCrossEntropy, logits, labels)
        let z = logits.floats.map(Double.init)
        var expected = 0.0
        for (n, label) in [4, 0, 2].enumerated() {
            let row = Array(z[(n * 5)..<(n * 5 + 5)])
            let sum: Double = row.map { Foundation.exp($0) }.reduce(0, +)
            expected += Foundation.log(sum) - row[label]
        }
        #expect(abs(Double(loss.floats[0]) - expected / 3) < 1e-6)
        let d = try Exec.apply1(.softmaxCrossEntropyGrad, logits, labels)
        let err = try Exec.finiteDifferenceError(logits, d) {
            Double(try Exec.apply1(.softmaxCrossEntropy, logits, labels).floats[0])
        }
        #expect(err < 5e-3)
    }

    @Test func channelNorm() throws {
        let w = HostTensor([2, 1, 2, 1], [3, 4, 0, -2])
        #expect(try Exec.apply1(.channelNorm, w).floats == [5, 2])
    }
}
