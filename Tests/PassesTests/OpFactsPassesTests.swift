// GraphIR's op facts against the Passes that rely on them: gradient slots say `.none` exactly where
// GraphIR says an operand is not differentiable, and in real training graphs every aliasing result
// (Op+Memory) has its operand's bytes, so sharing the storage is sound.
import GraphIR
import GraphTestSupport
import Passes
import Testing

@Suite struct OpFactsPassesTests {
    @Test(arguments: sampleOps) func gradientSlotsFollowDifferentiability(_ op: Op) {
        for i in 0..<op.arity.upperBound {
            let slot = op.gradientSlot(operand: i)
            // Ops without a rule report `.unsupported` whatever the operand; the others must agree.
            guard slot != .unsupported else { continue }
            #expect((slot == .none) == !op.isDifferentiable(operand: i), "\(op.name) operand \(i): \(slot)")
        }
    }

    @Test(arguments: [FineTuningMethod.fft, .lora, .dora, .galore])
    func aliasesHaveTheirOperandsBytes(_ method: FineTuningMethod) throws {
        let optimizer: OptimizerKind = method == .galore ? .adam : .momentum
        let g = try Training.step(
            try Training.forward("mobilenet_v3_small", size: 64), Training.config(method, optimizer))
        var views = 0, inPlace = 0
        for node in g.nodes {
            for k in node.outputs.indices {
                let storage = node.op.storage(ofResult: k)
                guard let j = storage.operand else { continue }
                let result = g[node.outputs[k]].type, operand = g[node.inputs[j]].type
                #expect(result.byteCount == operand.byteCount, "\(node.name) result \(k) and operand \(j)")
                if case .inPlace = storage {
                    #expect(result == operand, "\(node.name): an in-place result has its operand's type")
                    inPlace += 1
                } else {
                    views += 1
                }
            }
        }
        #expect(views > 0 && inPlace > 0)
    }
}
