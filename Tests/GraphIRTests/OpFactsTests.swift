// Op+Memory, Op+Gradient and Op+Groups over every op (`sampleOps`, which covers `Op.allNames`): views
// alias operand 0, optimizer updates overwrite their parameter and state, no result aliases an operand
// that is not there or that another result already took, and every op is classified by each group.
import GraphIR
import GraphTestSupport
import Testing

@Suite struct OpFactsTests {
    @Test func viewsAreReshapeAndFlattenAndAliasOperandZero() {
        let views = sampleOps.filter(\.isView)
        #expect(Set(views.map(\.name)) == ["reshape", "flatten"])
        for op in views {
            #expect(op.storage(ofResult: 0) == .view(of: 0), "\(op.name)")
            #expect(op.aliasedOperand(ofResult: 0) == 0)
            #expect(op.outputCount == 1 && op.arity == 1...1, "\(op.name): a view has one operand and one result")
            #expect(op.overwrittenOperands.isEmpty, "\(op.name): a view writes nothing")
            #expect(op.category == .shape)
        }
    }

    @Test func optimizerUpdatesAreInPlaceOnTheirParameterAndState() {
        // (result → operand): p, g[, state...] → p[, state...]; Adam's direction writes only m and v.
        let expected: [String: [Int]] = [
            "sgd_update": [0], "apply_update": [0], "momentum_update": [0, 2], "adam_update": [0, 2, 3],
            "adam_direction": [1, 2], "svd_projector": [1],
        ]
        for op in sampleOps where op.category == .optimizer || op.category == .svd {
            #expect(op.overwrittenOperands == expected[op.name], "\(op.name)")
        }
        for op in sampleOps where op.gradientOperand != nil && op.category == .optimizer {
            #expect(op.storage(ofResult: 0) == .inPlace(of: 0), "\(op.name): the parameter is updated in place")
        }
        #expect(Set(sampleOps.filter { !$0.overwrittenOperands.isEmpty }.map(\.name)) == Set(expected.keys))
    }

    @Test(arguments: sampleOps) func aliasesAreValidOperands(_ op: Op) {
        var taken = Set<Int>()
        for k in 0..<op.outputCount {
            guard let j = op.aliasedOperand(ofResult: k) else { continue }
            #expect(j < op.arity.lowerBound, "\(op.name) result \(k) aliases operand \(j), which may be absent")
            #expect(taken.insert(j).inserted, "\(op.name): two results alias operand \(j)")
            #expect(j != op.gradientOperand, "\(op.name): the gradient it reads is not overwritten")
        }
        #expect(op.storage(ofResult: op.outputCount) == .fresh, "\(op.name): no result past outputCount")
        if op.category != .optimizer && op.category != .svd && op.category != .shape {
            #expect(op.overwrittenOperands.isEmpty && !op.isView, "\(op.name) allocates its results")
        }
    }

    @Test func gradientOperandIsReadByTheUpdatesOnly() {
        let readers = sampleOps.filter { $0.gradientOperand != nil }
        #expect(Set(readers.map(\.name)) == ["sgd_update", "momentum_update", "adam_update", "svd_projector"])
        for op in readers { #expect(op.gradientOperand! < op.arity.lowerBound) }
    }

    @Test func nonDifferentiableOperandsAreLabelsMasksIndicesStatisticsAndTheDetachedNorm() {
        var none: [String: [Int]] = [:]
        for op in sampleOps {
            let blocked = (0..<op.arity.upperBound).filter { !op.isDifferentiable(operand: $0) }
            if !blocked.isEmpty { none[op.name] = blocked }
        }
        #expect(
            none == [
                "batch_norm": [3, 4], "native_batch_norm": [3, 4], "batch_norm_grad": [3, 4],
                "softmax_cross_entropy": [1], "softmax_cross_entropy_grad": [1], "max_pool2d_grad": [2],
                "dropout_grad": [1], "channel_norm": [0],
                // The 1-bit ReLU mask and the frozen-statistics gradient's running statistics.
                "relu_mask": [0], "relu_mask_grad": [1], "batch_norm_frozen_grad": [2, 3],
            ])
    }

    @Test func adaptableLayersAreConvAndLinear() {
        for op in sampleOps {
            switch op.adaptableLayer {
            case let .conv(a)?:
                #expect(op == .conv2d(a))
            case .linear?:
                #expect(op == .linear)
            case nil:
                #expect(op.name != "conv2d" && op.name != "linear")
            }
            if op.adaptableLayer != nil {
                #expect(op.category.hasParameters && op.arity.contains(2), "\(op.name): a weight is operand 1")
            }
        }
        #expect(sampleOps.filter { $0.adaptableLayer != nil }.count == 2)
    }

    @Test func saturatingProductStopsAtIntMax() {
        #expect(saturatingProduct() == 1)
        #expect(saturatingProduct(3, 4, 5) == 60)
        #expect(saturatingProduct(Int.max / 2, 3) == Int.max)
        #expect(saturatingProduct(1 << 40, 1 << 30, 0) == Int.max, "stops at the first overflow")
    }
}
