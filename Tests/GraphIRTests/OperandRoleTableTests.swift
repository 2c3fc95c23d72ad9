import GraphIR
import GraphTestSupport
import Testing

/// The operand-role table of Op+Operands.swift: one bit per role, and the slots the verifier enforces.
@Suite struct OperandRoleTableTests {
    @Test func everyRoleHasItsOwnBit() {
        let sets = ParamRole.allCases.map { ParamRoles($0) }
        #expect(Set(sets.map(\.rawValue)).count == ParamRole.allCases.count)
        for role in ParamRole.allCases { #expect(ParamRoles(role).names == [role.rawValue]) }
        #expect(ParamRoles.learnable.names.count == ParamRole.allCases.filter(\.isLearnable).count)
        #expect(ParamRole.allCases.allSatisfy { ParamRoles.learnable.contains($0) == $0.isLearnable })
    }

    @Test func parameterSlots() throws {
        let bn = try #require(sampleOps.first { $0.name == "batch_norm" })
        #expect(bn.requiredRoles(operand: 0) == nil)
        #expect([1, 2, 3, 4].map { bn.requiredRoles(operand: $0) } == [.bnGamma, .bnBeta, .runningMean, .runningVar])
        let conv = try #require(sampleOps.first { $0.name == "conv2d" })
        #expect(conv.requiredRoles(operand: 1) == [.weight, .loraA, .loraB])
        #expect(conv.requiredRoles(operand: 2) == .bias)
        let adam = try #require(sampleOps.first { $0.name == "adam_update" })
        #expect(adam.requiredRoles(operand: 0) == .learnable)
        #expect(adam.requiredRoles(operand: 1) == nil, "the gradient is computed, not a parameter")
        #expect([2, 3].map { adam.requiredRoles(operand: $0) } == [.expAvg, .expAvgSq])
    }

    @Test func adapterParametersOnlyWhereTheRewritesPutThem() {
        for op in sampleOps {
            for slot in 0..<op.arity.upperBound {
                let adapters = op.adapterRoles(operand: slot)
                #expect(adapters.isSubset(of: [.loraA, .loraB, .doraMagnitude]), "\(op.name) operand \(slot)")
                if op.requiredRoles(operand: slot) != nil { #expect(adapters.isEmpty, "\(op.name) operand \(slot)") }
            }
        }
        #expect(
            sampleOps.filter { !$0.adapterRoles(operand: 0).isEmpty }.map(\.name).sorted()
                == ["div", "matmul", "mul", "reshape"])
    }
}
