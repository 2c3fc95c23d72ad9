// Shape inference against PyTorch's formulas:
//   conv:  out = floor((n + 2p - d(k-1) - 1) / s) + 1
//   pool:  out = floor or ceil((n + 2p - k) / s) + 1, and with ceil_mode the last window must start
//          inside the input or its left padding ((out-1)·s < n + p), else out - 1.
// Expected values were worked out from those formulas and match torch.nn on CPU.
import GraphIR
import Testing

struct ShapeCase: Sendable, CustomTestStringConvertible {
    var op: Op
    var operands: [TensorType]
    var expected: [Int]
    var testDescription: String { "\(op.name) \(operands) → \(expected)" }
}

struct ShapeErrorCase: Sendable, CustomTestStringConvertible {
    var op: Op
    var operands: [TensorType]
    var id: String
    var testDescription: String { "\(op.name) \(operands) → \(id)" }
}

private func conv(_ s: Int = 1, _ p: Int = 0, _ d: Int = 1, _ g: Int = 1) -> Op {
    .conv2d(Conv2dAttrs(stride: Pair(s), padding: Pair(p), dilation: Pair(d), groups: g))
}

private func maxPool(_ k: Int, _ s: Int, _ p: Int = 0, ceil: Bool = false) -> Op {
    .maxPool2d(Pool2dAttrs(kernel: Pair(k), stride: Pair(s), padding: Pair(p), ceilMode: ceil))
}

private func avgPool(_ k: Int, _ s: Int, _ p: Int = 0, ceil: Bool = false) -> Op {
    .avgPool2d(Pool2dAttrs(kernel: Pair(k), stride: Pair(s), padding: Pair(p), ceilMode: ceil))
}

private func f(_ s: Int...) -> TensorType { .f32(s) }

let shapeCases: [ShapeCase] = [
    // conv2d
    ShapeCase(op: conv(2, 3), operands: [f(1, 3, 224, 224), f(64, 3, 7, 7)], expected: [1, 64, 112, 112]),
    ShapeCase(op: conv(1, 1), operands: [f(2, 3, 8, 8), f(8, 3, 3, 3)], expected: [2, 8, 8, 8]),
    ShapeCase(op: conv(2, 1, 1, 32), operands: [f(1, 32, 112, 112), f(32, 1, 3, 3)], expected: [1, 32, 56, 56]),
    ShapeCase(op: conv(1, 2, 2), operands: [f(1, 4, 10, 10), f(4, 4, 3, 3)], expected: [1, 4, 10, 10]),
    ShapeCase(op: conv(2), operands: [f(1, 4, 8, 8), f(4, 4, 3, 3)], expected: [1, 4, 3, 3]),
    ShapeCase(op: conv(3, 0, 2), operands: [f(1, 1, 11, 11), f(2, 1, 3, 3)], expected: [1, 2, 3, 3]),
    ShapeCase(op: conv(1, 0, 1, 2), operands: [f(1, 4, 5, 5), f(8, 2, 1, 1), f(8)], expected: [1, 8, 5, 5]),
    ShapeCase(op: .conv2d(Conv2dAttrs(stride: Pair(2, 1), padding: Pair(1, 0))),
              operands: [f(1, 4, 5, 6), f(2, 4, 3, 1)], expected: [1, 2, 3, 6]),
    ShapeCase(op: conv(2, 0), operands: [f(1, 1, 7, 7), f(1, 1, 7, 7)], expected: [1, 1, 1, 1]),
    // max and avg pooling, floor and ceil
    // ResNet's stem pool (floor); with ceil_mode the 57th window starts at 112 < n + p = 113, so it
    // stays; GoogLeNet's unpadded ceil-mode pool gives 56.
    ShapeCase(op: maxPool(3, 2, 1), operands: [f(1, 64, 112, 112)], expected: [1, 64, 56, 56]),
    ShapeCase(op: maxPool(3, 2, 1, ceil: true), operands: [f(1, 64, 112, 112)], expected: [1, 64, 57, 57]),
    ShapeCase(op: maxPool(3, 2, ceil: true), operands: [f(1, 64, 112, 112)], expected: [1, 64, 56, 56]),
    ShapeCase(op: maxPool(2, 2, ceil: true), operands: [f(1, 1, 7, 7)], expected: [1, 1, 4, 4]),
    ShapeCase(op: maxPool(2, 2), operands: [f(1, 1, 7, 7)], expected: [1, 1, 3, 3]),
    ShapeCase(op: maxPool(3, 2, ceil: true), operands: [f(1, 1, 6, 6)], expected: [1, 1, 3, 3]),
    // ceil would give 4, but the 4th window would start at 6 = n + p: PyTorch drops it.
    ShapeCase(op: maxPool(2, 2, 1, ceil: true), operands: [f(1, 1, 5, 5)], expected: [1, 1, 3, 3]),
    ShapeCase(op: avgPool(2, 2, 1, ceil: true), operands: [f(1, 1, 5, 5)], expected: [1, 1, 3, 3]),
    ShapeCase(op: avgPool(3, 3, ceil: true), operands: [f(1, 2, 10, 10)], expected: [1, 2, 4, 4]),
    ShapeCase(op: avgPool(3, 3), operands: [f(1, 2, 10, 10)], expected: [1, 2, 3, 3]),
    ShapeCase(op: avgPool(2, 1), operands: [f(1, 2, 2, 2)], expected: [1, 2, 1, 1]),
    // adaptive pooling, flatten, linear
    ShapeCase(op: .adaptiveAvgPool2d(output: Pair(1)), operands: [f(2, 512, 7, 7)], expected: [2, 512, 1, 1]),
    ShapeCase(op: .adaptiveAvgPool2d(output: Pair(7, 3)), operands: [f(1, 8, 5, 5)], expected: [1, 8, 7, 3]),
    ShapeCase(op: .flatten(startDim: 1), operands: [f(2, 3, 4, 5)], expected: [2, 60]),
    ShapeCase(op: .flatten(startDim: 0), operands: [f(2, 3, 4, 5)], expected: [120]),
    ShapeCase(op: .flatten(startDim: 3), operands: [f(2, 3, 4, 5)], expected: [2, 3, 4, 5]),
    ShapeCase(op: .linear, operands: [f(2, 8), f(4, 8), f(4)], expected: [2, 4]),
    ShapeCase(op: .linear, operands: [f(2, 5, 8), f(4, 8)], expected: [2, 5, 4]),
    // broadcasting
    ShapeCase(op: .mul, operands: [f(2, 16, 1, 1), f(2, 16, 7, 7)], expected: [2, 16, 7, 7]),
    ShapeCase(op: .mul, operands: [f(2, 16, 7, 7), f(16, 1, 1)], expected: [2, 16, 7, 7]),
    ShapeCase(op: .add, operands: [f(3), f(2, 3)], expected: [2, 3]),
    ShapeCase(op: .add, operands: [f(2, 1), f(1, 3)], expected: [2, 3]),
    ShapeCase(op: .add, operands: [f(), f(2, 3)], expected: [2, 3]),
    // elementwise, batch norm, dropout, loss
    ShapeCase(op: .hardswish, operands: [f(1, 2, 3)], expected: [1, 2, 3]),
    ShapeCase(op: .batchNorm(BatchNormAttrs()), operands: [f(2, 8, 4, 4), f(8), f(8), f(8), f(8)],
              expected: [2, 8, 4, 4]),
    ShapeCase(op: .batchNorm(BatchNormAttrs()), operands: [f(2, 8), f(8), f(8), f(8), f(8)], expected: [2, 8]),
    ShapeCase(op: .dropout(p: 0.5), operands: [f(4, 4)], expected: [4, 4]),
    ShapeCase(op: .softmaxCrossEntropy, operands: [f(4, 10), .i64([4])], expected: []),
]

let shapeErrorCases: [ShapeErrorCase] = [
    ShapeErrorCase(op: conv(), operands: [f(1, 3, 2, 2), f(8, 3, 3, 3)], id: "bad-size"),
    ShapeErrorCase(op: conv(0), operands: [f(1, 3, 8, 8), f(8, 3, 3, 3)], id: "bad-size"),
    ShapeErrorCase(op: conv(1, -1), operands: [f(1, 3, 8, 8), f(8, 3, 3, 3)], id: "bad-size"),
    ShapeErrorCase(op: conv(1, 0, 1, 0), operands: [f(1, 4, 8, 8), f(8, 4, 3, 3)], id: "bad-size"),
    ShapeErrorCase(op: conv(1, 0, 1, 3), operands: [f(1, 4, 8, 8), f(6, 1, 3, 3)], id: "channel-mismatch"),
    ShapeErrorCase(op: conv(), operands: [f(1, 4, 8, 8), f(8, 3, 3, 3)], id: "channel-mismatch"),
    ShapeErrorCase(op: conv(), operands: [f(1, 4, 8, 8), f(8, 4, 3, 3), f(4)], id: "channel-mismatch"),
    ShapeErrorCase(op: conv(), operands: [f(4, 8, 8), f(8, 4, 3, 3)], id: "rank"),
    ShapeErrorCase(op: conv(), operands: [f(1, 4, 8, 8), f(8, 4, 3)], id: "rank"),
    ShapeErrorCase(op: conv(), operands: [f(1, 4, 8, 8)], id: "arity"),
    ShapeErrorCase(op: maxPool(3, 1, 2), operands: [f(1, 1, 8, 8)], id: "bad-attribute"),
    ShapeErrorCase(op: maxPool(3, 0), operands: [f(1, 1, 8, 8)], id: "bad-size"),
    ShapeErrorCase(op: avgPool(5, 1), operands: [f(1, 1, 4, 4)], id: "bad-size"),
    ShapeErrorCase(op: avgPool(2, 2), operands: [f(1, 4, 4)], id: "rank"),
    ShapeErrorCase(op: .adaptiveAvgPool2d(output: Pair(0, 1)), operands: [f(1, 1, 4, 4)], id: "bad-size"),
    ShapeErrorCase(op: .flatten(startDim: 4), operands: [f(2, 3, 4, 5)], id: "bad-attribute"),
    ShapeErrorCase(op: .flatten(startDim: -1), operands: [f(2, 3)], id: "bad-attribute"),
    ShapeErrorCase(op: .linear, operands: [f(2, 7), f(4, 8)], id: "channel-mismatch"),
    ShapeErrorCase(op: .linear, operands: [f(2, 8), f(4, 8), f(3)], id: "channel-mismatch"),
    ShapeErrorCase(op: .linear, operands: [f(2, 8), f(4, 8, 1)], id: "rank"),
    ShapeErrorCase(op: .add, operands: [f(2, 3), f(2, 4)], id: "shape-mismatch"),
    ShapeErrorCase(op: .mul, operands: [f(2, 16, 7, 7), f(2, 8, 1, 1)], id: "shape-mismatch"),
    ShapeErrorCase(op: .add, operands: [f(2, 3)], id: "arity"),
    ShapeErrorCase(op: .relu, operands: [.i64([2])], id: "dtype"),
    ShapeErrorCase(op: .batchNorm(BatchNormAttrs()), operands: [f(2, 8, 4), f(8), f(8), f(8), f(8)], id: "rank"),
    ShapeErrorCase(op: .batchNorm(BatchNormAttrs()), operands: [f(2, 8), f(8), f(4), f(8), f(8)],
                   id: "channel-mismatch"),
    ShapeErrorCase(op: .batchNorm(BatchNormAttrs(eps: 0)), operands: [f(2, 8), f(8), f(8), f(8), f(8)],
                   id: "bad-attribute"),
    ShapeErrorCase(op: .dropout(p: 1), operands: [f(2)], id: "bad-attribute"),
    ShapeErrorCase(op: .dropout(p: -0.1), operands: [f(2)], id: "bad-attribute"),
    ShapeErrorCase(op: .softmaxCrossEntropy, operands: [f(4, 10), f(4)], id: "shape-mismatch"),
    ShapeErrorCase(op: .softmaxCrossEntropy, operands: [f(4, 10), .i64([3])], id: "shape-mismatch"),
    ShapeErrorCase(op: .softmaxCrossEntropy, operands: [f(4, 10, 1), .i64([4])], id: "rank"),
    ShapeErrorCase(op: .softmaxCrossEntropy, operands: [.i64([4, 10]), .i64([4])], id: "dtype"),
]

@Suite struct IRShapeInferenceTests {
    @Test(arguments: shapeCases) func infers(_ c: ShapeCase) throws {
        #expect(try c.op.inferTypes(c.operands) == [.f32(c.expected)])
    }

    @Test(arguments: shapeErrorCases) func rejects(_ c: ShapeErrorCase) {
        #expect(throws: ShapeError.self) { _ = try c.op.inferTypes(c.operands) }
        do {
            _ = try c.op.inferTypes(c.operands)
        } catch {
            #expect(error.id == c.id, "\(error.message)")
        }
    }

    @Test func everyOpHasAShapeCase() {
        #expect(Set(shapeCases.map(\.op.name)).union(["relu", "relu6", "hardsigmoid", "silu", "sigmoid"])
            == Set(Op.allNames))
    }

    /// Every pooling configuration over small sizes against a direct transcription of PyTorch's
    /// `pooling_output_shape` (aten/src/ATen/native/Pool.h).
    @Test func poolingMatchesPyTorchEverywhere() throws {
        func torch(_ n: Int, _ k: Int, _ s: Int, _ p: Int, _ ceil: Bool) -> Int {
            let numerator = n + 2 * p - (k - 1) - 1 + (ceil ? s - 1 : 0)
            var out = numerator / s + 1   // numerator >= 0 here
            if ceil && (out - 1) * s >= n + p { out -= 1 }
            return out
        }
        for n in 1...12 {
            for k in 1...4 where k <= n {
                for s in 1...4 {
                    for p in 0...k / 2 {
                        for ceil in [false, true] {
                            let op = maxPool(k, s, p, ceil: ceil)
                            let h = try op.inferTypes([f(1, 1, n, n)])[0].shape[2]
                            #expect(h == torch(n, k, s, p, ceil), "n \(n) k \(k) s \(s) p \(p) ceil \(ceil)")
                        }
                    }
                }
            }
        }
    }
}
