// The verifier: valid graphs give no diagnostics; each way of breaking one is reported with its id,
// and independent faults are all reported together.
import GraphIR
import GraphTestSupport
import Testing

@Suite struct VerifierTests {
    private func errors(_ g: Graph) -> [String] {
        Verifier.verify(g).filter { $0.severity == .error }.map(\.id)
    }

    @Test func buildersVerifyCleanly() throws {
        for (name, graph) in try Builders.all() {
            #expect(Verifier.verify(graph).isEmpty, "\(name)")
            #expect(Verifier.verify(graph.renumbered()).isEmpty, "\(name)")
        }
    }

    @Test func swappedNodesAreACycle() throws {
        var g = try Builders.tinyConvnet()
        g.nodes.swapAt(1, 2)  // relu now reads the batch norm's result before it exists
        for (index, node) in g.nodes.enumerated() {
            for (k, id) in node.outputs.enumerated() { g[id].kind = .result(node: index, index: k) }
        }
        #expect(errors(g) == ["cycle"])
        let d = try #require(Verifier.verify(g).first)
        #expect(d.node == "features.2")
    }

    @Test func wrongDeclaredType() throws {
        var g = try Builders.tinyConvnet()
        g[g.nodes[2].outputs[0]].type = .f32([2, 8, 8, 9])
        // The relu itself is wrong, and the depthwise conv that reads it now infers another shape.
        #expect(errors(g) == ["type-mismatch", "type-mismatch"])
        #expect(Verifier.verify(g).map(\.node) == ["features.2", "features.3"])
    }

    @Test func duplicateNodeName() throws {
        var g = try Builders.tinyConvnet()
        g.nodes[5].name = g.nodes[2].name
        #expect(errors(g) == ["duplicate-name"])
    }

    @Test func everyRepeatOfANameIsReportedInOrder() throws {
        var g = try Builders.tinyConvnet()
        g.nodes[4].name = g.nodes[1].name
        g.nodes[5].name = g.nodes[1].name
        // Canonically equivalent names are equal: KELVIN SIGN is "K", "e" + COMBINING ACUTE is "é".
        g.nodes[2].name = "\u{212A}"
        g.nodes[6].name = "K"
        g.nodes[3].name = "caf\u{E9}"
        g.nodes[7].name = "cafe\u{301}"
        let names = Verifier.verify(g).filter { $0.id == "duplicate-name" }.compactMap(\.node)
        #expect(names == [g.nodes[1].name, g.nodes[1].name, "K", "cafe\u{301}"])
        // All-ASCII names take the hashed path; the result is the same.
        g.nodes[2].name = "k2"
        g.nodes[3].name = "k3"
        g.nodes[7].name = "k3"
        let ascii = Verifier.verify(g).filter { $0.id == "duplicate-name" }.compactMap(\.node)
        #expect(ascii == [g.nodes[1].name, g.nodes[1].name, "k3"])
    }

    @Test func duplicateParameterName() throws {
        var g = try Builders.tinyConvnet()
        g[g.parameters[1]].name = g[g.parameters[0]].name
        #expect(errors(g) == ["duplicate-name"])
    }

    @Test func badArity() throws {
        var g = try Builders.tinyConvnet()
        g.nodes[1].inputs.removeLast()  // batch_norm with 4 operands
        #expect(errors(g) == ["arity"])
        let diagnostics = Verifier.verify(g)
        #expect(diagnostics.contains { $0.id == "unused-value" && $0.severity == .warning })
    }

    @Test func wrongResultCount() throws {
        var g = try Builders.tinyConvnet()
        let extra = g.appendValue(Value(name: "features.2.1", type: .f32([1]), kind: .result(node: 2, index: 1)))
        g.nodes[2].outputs.append(extra)
        #expect(errors(g).contains("arity"))
    }

    @Test func undefinedValue() throws {
        var g = try Builders.tinyConvnet()
        g.nodes[3].inputs[0] = ValueID(999)
        #expect(errors(g) == ["undefined-value"])
    }

    @Test func valueWithoutDefinition() throws {
        var g = try Builders.tinyConvnet()
        _ = g.appendValue(Value(name: "orphan", type: .f32([1]), kind: .input))
        #expect(errors(g) == ["undefined-value"])
    }

    @Test func missingOutput() throws {
        var g = try Builders.tinyConvnet()
        g.outputs = []
        #expect(errors(g) == ["no-output"])
        g.outputs = [ValueID(-1)]
        #expect(errors(g) == ["undefined-value"])
    }

    @Test func parameterOfWrongKind() throws {
        var g = try Builders.tinyConvnet()
        g[g.parameters[0]].kind = .input
        #expect(errors(g) == ["bad-definition"])
        var h = try Builders.tinyConvnet()
        h.parameters.append(h.inputs[0])  // an input listed as a parameter too
        #expect(Set(errors(h)) == ["bad-definition", "duplicate-definition", "duplicate-name"])
    }

    @Test func resultClaimingAnotherNode() throws {
        var g = try Builders.tinyConvnet()
        g[g.nodes[4].outputs[0]].kind = .result(node: 3, index: 0)
        #expect(errors(g) == ["bad-definition"])
    }

    @Test func shapeErrorsKeepTheirIds() throws {
        var g = try Builders.tinyConvnet()
        g[g.parameters.last!].type = .f32([5])  // the classifier's bias
        #expect(errors(g) == ["channel-mismatch"])
    }

    @Test func independentFaultsAreAllReported() throws {
        var g = try Builders.residualBlock()
        g[g.nodes[2].outputs[0]].type = .f32([1, 16, 8, 9])  // type-mismatch (and an echo downstream)
        g.nodes[7].name = g.nodes[0].name  // duplicate-name
        g.outputs = []  // no-output
        g.nodes[5].inputs[0] = ValueID(12345)  // undefined-value
        let ids = Set(errors(g))
        #expect(ids == ["type-mismatch", "duplicate-name", "no-output", "undefined-value"])
    }

    @Test func unusedParameterIsAWarningOnly() throws {
        var b = GraphBuilder(name: "g")
        let x = b.input("x", .f32([1, 4]))
        _ = b.parameter("spare", [4], role: .bias)
        b.output(try b.apply(.relu, x, name: "relu"))
        let diagnostics = Verifier.verify(b.graph)
        #expect(diagnostics.map(\.id) == ["unused-value"])
        #expect(diagnostics.first?.severity == .warning)
        #expect(diagnostics.first?.node == "spare")
        #expect(throws: Never.self) { try Verifier.check(b.graph) }
    }

    /// A chain long enough to span several verification tasks, with faults in different tasks: the
    /// diagnostics are the same whichever order the tasks run in, and match a one-task-at-a-time sweep.
    @Test func tasksCombineInOrderWhateverOrderTheyRun() throws {
        var b = GraphBuilder(name: "long")
        var x = b.input("x", .f32([1, 4]))
        for i in 0..<10_000 { x = try b.apply(.relu, x, name: "r\(i)") }
        b.output(x)
        var g = b.graph
        g.nodes[9_000].name = "r17"  // a duplicate name, late in the graph
        g.nodes[5_000].inputs[0] = g.nodes[6_000].outputs[0]  // a use before definition, mid-graph
        g.values[g.nodes[100].outputs[0].raw].type = .f32([1, 5])  // a wrong type, early
        let verification = Verification(g)
        #expect(verification.taskCount > 3)
        let forward = verification.finish((0..<verification.taskCount).map(verification.run))
        var backward = Array(repeating: [Diagnostic](), count: verification.taskCount)
        for task in (0..<verification.taskCount).reversed() { backward[task] = verification.run(task) }
        #expect(verification.finish(backward) == forward)
        #expect(Verifier.verify(g) == forward)
        #expect(
            forward.filter { $0.severity == .error }.map(\.id) == [
                "type-mismatch", "type-mismatch", "cycle", "duplicate-name",
            ])
        #expect(forward.first { $0.id == "cycle" }?.node == "r5000")
        #expect(forward.first { $0.id == "duplicate-name" }?.node == "r17")
    }
}
