// Costs of the training ops (Op+Cost.swift): conv and linear gradients cost the forward MACs (groups-aware,
// so a depthwise conv's weight gradient is not counted `groups` times), matmul m·n·k, and the counted
// arithmetic of the optimizer (per element) and of GaLore's SVD (amortised over its gap, rounded up).
import GraphIR
import Testing

private func f(_ s: Int...) -> TensorType { .f32(s) }

/// MACs and FLOPs of `op` on `operands`, with the result types shape inference gives.
private func cost(_ op: Op, _ operands: [TensorType]) throws -> (macs: Int, flops: Int, arithmetic: Int) {
    let results = try op.inferTypes(operands)
    return (op.macs(operands, results), op.flops(operands, results), op.arithmeticFlops(operands, results))
}

struct ConvCostCase: Sendable, CustomTestStringConvertible {
    var attrs: Conv2dAttrs
    var x: [Int]
    var w: [Int]
    /// The forward MACs, worked out by hand: N·C_out·H_out·W_out · (C_in/groups)·kh·kw.
    var macs: Int
    var testDescription: String { "x \(x) w \(w) groups \(attrs.groups) → \(macs)" }
}

let convCostCases: [ConvCostCase] = [
    // ResNet's stem: 1·64·112·112 · 3·7·7.
    ConvCostCase(
        attrs: Conv2dAttrs(stride: Pair(2), padding: Pair(3)), x: [1, 3, 224, 224], w: [64, 3, 7, 7],
        macs: 118_013_952),
    // Depthwise 3x3 stride 2: 1·32·56·56 · 1·3·3 (not ·32).
    ConvCostCase(
        attrs: Conv2dAttrs(stride: Pair(2), padding: Pair(1), groups: 32), x: [1, 32, 112, 112],
        w: [32, 1, 3, 3], macs: 903_168),
    // Grouped (2 groups) and dilated: 2·6·10·10 · 2·3·3.
    ConvCostCase(
        attrs: Conv2dAttrs(padding: Pair(2), dilation: Pair(2), groups: 2), x: [2, 4, 10, 10],
        w: [6, 2, 3, 3], macs: 21_600),
    // Depthwise with a channel multiplier (groups = C_in, C_out = 2·C_in): 1·16·8·8 · 1·3·3.
    ConvCostCase(attrs: Conv2dAttrs(padding: Pair(1), groups: 8), x: [1, 8, 8, 8], w: [16, 1, 3, 3], macs: 9_216),
    // Asymmetric: 1·2·3·6 · 4·3·1.
    ConvCostCase(
        attrs: Conv2dAttrs(stride: Pair(2, 1), padding: Pair(1, 0), dilation: Pair(1, 2)), x: [1, 4, 5, 6],
        w: [2, 4, 3, 1], macs: 432),
]

@Suite struct IRCostTests {
    @Test(arguments: convCostCases) func convGradientsCostTheForwardMACs(_ c: ConvCostCase) throws {
        let x = TensorType.f32(c.x), w = TensorType.f32(c.w)
        let forward = try cost(.conv2d(c.attrs), [x, w])
        #expect(forward.macs == c.macs)
        let y = try Op.conv2d(c.attrs).inferTypes([x, w])[0]
        let gradInput = try cost(.conv2dGradInput(c.attrs, input: Pair(c.x[2], c.x[3])), [y, w])
        let gradWeight = try cost(.conv2dGradWeight(c.attrs, kernel: Pair(c.w[2], c.w[3])), [y, x])
        #expect(gradInput.macs == c.macs)
        #expect(gradWeight.macs == c.macs)
        #expect(gradInput.flops == 2 * c.macs)
        #expect(gradWeight.flops == 2 * c.macs)
        #expect(gradInput.arithmetic == 0 && gradWeight.arithmetic == 0)
    }

    @Test func linearGradientsCostTheForwardMACs() throws {
        // x [N, in] = [2, 8], W [out, in] = [4, 8]: N·out·in = 64 for the forward and both gradients.
        #expect(try cost(.linear, [f(2, 8), f(4, 8), f(4)]).macs == 64)
        #expect(try cost(.linearGradInput, [f(2, 4), f(4, 8)]).macs == 64)
        #expect(try cost(.linearGradWeight, [f(2, 4), f(2, 8)]).macs == 64)
        #expect(try cost(.linearGradWeight, [f(2, 4), f(2, 8)]).flops == 128)
        // Leading dimensions multiply in: 2·5·4·8.
        #expect(try cost(.linear, [f(2, 5, 8), f(4, 8)]).macs == 320)
        #expect(try cost(.linearGradInput, [f(2, 5, 4), f(4, 8)]).macs == 320)
        #expect(try cost(.linearGradWeight, [f(10, 4), f(10, 8)]).macs == 320)
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matmulCostsMNK(_ t: (Bool, Bool)) throws {
        // op(A) 4×3, op(B) 3×5 in every stored layout: 4·5·3.
        let a = t.0 ? f(3, 4) : f(4, 3), b = t.1 ? f(5, 3) : f(3, 5)
        let c = try cost(.matmul(transposeA: t.0, transposeB: t.1), [a, b])
        #expect(c.macs == 60)
        #expect(c.flops == 120)
        #expect(
            try cost(.matmul(transposeA: t.0, transposeB: t.1), [t.0 ? f(7, 1) : f(1, 7), t.1 ? f(1, 7) : f(7, 1)])
                .macs == 7)
    }

    @Test func otherGradientsAreNotMACs() throws {
        let bn = BatchNormAttrs(training: true)
        let cases: [(Op, [TensorType])] = [
            (.batchNormGrad(bn), [f(2, 8, 4, 4), f(2, 8, 4, 4), f(8), f(8), f(8), f(8), f(8)]),
            (.activationGrad(.silu), [f(2, 8), f(2, 8)]),
            (.biasGrad, [f(2, 8, 4, 4)]),
            (.sumTo(shape: [8, 1, 1]), [f(2, 8, 4, 4)]),
            (.adaptiveAvgPool2dGrad, [f(2, 8, 1, 1), f(2, 8, 4, 4)]),
            (.softmaxCrossEntropyGrad, [f(2, 8), .i64([2])]),
            (.scale(2), [f(3)]), (.div, [f(3), f(3)]), (.channelNorm, [f(4, 3)]), (.reshape(shape: [12]), [f(4, 3)]),
        ]
        for (op, operands) in cases {
            let c = try cost(op, operands)
            #expect(c.macs == 0 && c.flops == 0, "\(op.name)")
        }
    }

    /// Per element: SGD 2, momentum 4, Adam 14, Adam's direction 12, a plain update 2; weight decay 2
    /// more (coupled or decoupled), except for the direction, which never applies it.
    @Test func optimizerFlopsPerElement() throws {
        let p = f(8, 3)  // 24 elements
        let plain = OptimizerAttrs(lr: 0.1, momentum: 0.9)
        let decay = OptimizerAttrs(lr: 0.1, momentum: 0.9, weightDecay: 1e-4)
        let adamW = OptimizerAttrs(lr: 1e-3, weightDecay: 0.01, decoupled: true)
        let cases: [(Op, Int, Int)] = [
            (.sgdUpdate(plain), 2, 2), (.sgdUpdate(decay), 2, 4),
            (.momentumUpdate(plain), 3, 4), (.momentumUpdate(decay), 3, 6),
            (.adamUpdate(plain), 4, 14), (.adamUpdate(decay), 4, 16), (.adamUpdate(adamW), 4, 16),
            (.adamDirection(plain), 3, 12), (.adamDirection(adamW), 3, 12),
            (.applyUpdate(plain), 2, 2), (.applyUpdate(adamW), 2, 4),
        ]
        for (op, operandCount, perElement) in cases {
            let c = try cost(op, Array(repeating: p, count: operandCount))
            #expect(c.arithmetic == 24 * perElement, "\(op.name) \(op.attributes)")
            #expect(c.flops == 24 * perElement, "\(op.name)")
            #expect(c.macs == 0, "\(op.name)")
        }
    }

    /// A thin SVD of m×n (m ≥ n) costs 4·m·n² + 8·n³, divided by the gap and rounded up; a left
    /// projector (of the transposed shape) costs the same.
    @Test func svdProjectorFlops() throws {
        func svd(_ rank: Int, _ left: Bool, _ gap: Int) -> Op {
            .svdProjector(ProjectorAttrs(rank: rank, left: left, gap: gap))
        }
        // 4·64·16² + 8·16³ = 65536 + 32768 = 98304.
        #expect(try cost(svd(4, false, 1), [f(64, 16), f(4, 16)]).arithmetic == 98_304)
        #expect(try cost(svd(4, true, 1), [f(16, 64), f(16, 4)]).arithmetic == 98_304)
        #expect(try cost(svd(4, false, 3), [f(64, 16), f(4, 16)]).arithmetic == 32_768)  // exact
        #expect(try cost(svd(4, false, 200), [f(64, 16), f(4, 16)]).arithmetic == 492)  // 491.52 rounded up
        #expect(try cost(svd(4, true, 200), [f(16, 64), f(16, 4)]).flops == 492)
        #expect(try cost(svd(4, false, 200), [f(64, 16), f(4, 16)]).macs == 0)
        // Square: 4·3·9 + 8·27.
        #expect(try cost(svd(1, false, 1), [f(3, 3), f(1, 3)]).arithmetic == 324)
        #expect(try cost(svd(2, false, 1000), [f(3, 3), f(2, 3)]).arithmetic == 1)
    }

    /// Costs of absurd (unverified) sizes and attributes saturate instead of trapping.
    @Test func svdProjectorCostNeverTraps() {
        let op = Op.svdProjector(ProjectorAttrs(rank: 1, left: false, gap: 10))
        // 4·(2^61 − 3) + 8 = Int.max − 3: rounding up must not form total + gap − 1.
        let g = f((1 << 61) - 3, 1)
        #expect(op.arithmeticFlops([g], [f(1, 1)]) == 922_337_203_685_477_581)
        // Beyond Int: saturates.
        #expect(op.arithmeticFlops([f(1 << 30, 1 << 30)], [f(1, 1)]) == Int.max)
        // A gap of 0 never passes shape inference; cost it as every step rather than dividing by zero.
        let zeroGap = Op.svdProjector(ProjectorAttrs(rank: 1, left: false, gap: 0))
        #expect(zeroGap.arithmeticFlops([f(3, 3)], [f(1, 3)]) == 324)
    }
}
