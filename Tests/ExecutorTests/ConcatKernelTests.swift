// concat (ONNX import's Concat) and slice (its gradient, Passes/Op+VJP.swift): exact values, shape
// inference, and the VJP rule's slices against central finite differences of Σ concat(x…)·R.
import Executor
import Foundation
import GraphIR
import GraphTestSupport
import Passes
import Testing

@Suite struct ConcatKernelTests {
    @Test func concatJoinsAlongTheAxis() throws {
        let a = HostTensor([2, 1, 2], [1, 2, 3, 4])
        let b = HostTensor([2, 2, 2], [5, 6, 7, 8, 9, 10, 11, 12])
        let y = try Exec.apply1(.concat(axis: 1), a, b)
        #expect(y.shape == [2, 3, 2])
        #expect(y.floats == [1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12])
        let s = try Exec.apply1(.slice(axis: 1, start: 1, length: 2), y)
        #expect(s.floats == b.floats)
        #expect(try Exec.apply1(.slice(axis: 1, start: 0, length: 1), y).floats == a.floats)
    }

    @Test func shapeRules() throws {
        #expect(try Op.concat(axis: 1).inferTypes([.f32([2, 3, 4, 4]), .f32([2, 5, 4, 4])]) == [.f32([2, 8, 4, 4])])
        #expect(throws: ShapeError.self) {
            try Op.concat(axis: 1).inferTypes([.f32([2, 3, 4, 4]), .f32([2, 3, 4, 5])])
        }
        #expect(throws: ShapeError.self) {
            try Op.concat(axis: 4).inferTypes([.f32([2, 3, 4, 4]), .f32([2, 3, 4, 4])])
        }
        #expect(throws: ShapeError.self) { try Op.slice(axis: 0, start: 1, length: 2).inferTypes([.f32([2, 3])]) }
        #expect(Op.concat(axis: 1).macs([.f32([2, 3])], [.f32([2, 3])]) == 0)
        // The IR text spells the attributes and parses them back.
        for op in [Op.concat(axis: 2), .slice(axis: 1, start: 3, length: 4)] {
            let attrs = Dictionary(uniqueKeysWithValues: op.attributes.map { ($0.key, $0.value) })
            #expect(try Op(name: op.name, attributes: attrs) == op)
        }
    }

    /// The gradient of Σ concat(x₀, x₁, x₂)·R with respect to each xᵢ is slice i of R.
    @Test(arguments: [0, 1, 3]) func sliceIsConcatsGradient(axis: Int) throws {
        var rng = SplitMix64(seed: UInt64(11 + axis))
        var shapes: [Shape] = []
        for k in 1...3 {
            var s: Shape = [2, 3, 2, 3]
            s[axis] = k
            shapes.append(s)
        }
        let xs = shapes.map { Exec.random($0, &rng) }
        let y = try Exec.apply1(.concat(axis: axis), xs[0], xs[1], xs[2])
        let r = Exec.random(y.shape, &rng)
        let loss = { Exec.dot(try Exec.apply1(.concat(axis: axis), xs[0], xs[1], xs[2]), r) }
        var start = 0
        for (i, x) in xs.enumerated() {
            let g = try Exec.apply1(.slice(axis: axis, start: start, length: x.shape[axis]), r)
            #expect(try Exec.finiteDifferenceError(x, g, loss: loss) < 2e-3, "operand \(i)")
            start += x.shape[axis]
        }
    }
}

/// Autodiff through concat: the training graph verifies and differentiates each operand by a slice.
@Suite struct ConcatAutodiffTests {
    @Test func trainingGraphSlicesTheGradient() throws {
        var b = GraphBuilder(name: "two_branch")
        let x = b.input("input", .f32([2, 3, 8, 8]))
        let l = try b.conv2d(x, out: 4, kernel: Pair(3), padding: Pair(1), name: "left")
        let r = try b.conv2d(x, out: 6, kernel: Pair(1), name: "right")
        let c = try b.apply(.concat(axis: 1), l, r, name: "cat")
        let p = try b.apply(.adaptiveAvgPool2d(output: Pair(1)), c, name: "pool")
        let f = try b.apply(.flatten(startDim: 1), p, name: "flatten")
        b.output(try b.linear(f, out: 5, name: "fc"))
        let session = try Passes.TrainingSession.compile(b.graph, config: Passes.TrainingConfig(method: .fft))
        let step = session.training
        #expect(Verifier.verify(step).allSatisfy { $0.severity != .error })
        let slices = step.nodes.filter { if case .slice = $0.op { true } else { false } }
        #expect(slices.map(\.name).sorted() == ["cat.grad_0", "cat.grad_1"])
        #expect(slices.map { step[$0.outputs[0]].type.shape[1] }.sorted() == [4, 6])
    }
}
