// The parser: print → parse → print identity on hand-built and random graphs, the accepted syntax
// beyond the canonical form, and that no input makes it trap.
import GraphIR
import GraphTestSupport
import Testing

/// Parses `text`, failing the test with the diagnostics if it does not parse.
func parseOK(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> Graph? {
    do {
        return try IRParser.parse(text, file: "test.gir")
    } catch {
        Issue.record("parse failed:\n\(error)", sourceLocation: sourceLocation)
        return nil
    }
}

@Suite struct IRParserTests {
    @Test(arguments: ["tiny_convnet", "residual_block", "squeeze_excitation", "every_op", "training_convnet"])
    func builderRoundTrip(_ name: String) throws {
        let graph = try #require(try Builders.all().first { $0.name == name }).graph
        #expect(Verifier.verify(graph).isEmpty)
        let text = IRPrinter.print(graph)
        let parsed = try #require(parseOK(text))
        #expect(IRPrinter.print(parsed) == text)
        #expect(parsed == graph.renumbered())
    }

    @Test func randomGraphsRoundTrip() {
        var ops = Set<String>(), phases = Set<Phase>(), dtypes = Set<DType>(), roles = Set<ParamRole>()
        var multiOutput = 0
        for seed in UInt64(0)..<400 {
            let (graph, problems) = RandomGraphs.makeReporting(seed: seed)
            #expect(problems.isEmpty, "seed \(seed): \(problems)")
            let errors = Verifier.verify(graph).filter { $0.severity == .error }
            #expect(errors.isEmpty, "seed \(seed): \(errors)")
            let text = IRPrinter.print(graph)
            guard let parsed = parseOK(text) else {
                Issue.record("seed \(seed):\n\(text)")
                continue
            }
            #expect(IRPrinter.print(parsed) == text, "seed \(seed)")
            #expect(parsed == graph.renumbered(), "seed \(seed)")
            ops.formUnion(graph.nodes.map(\.op.name))
            phases.formUnion(graph.nodes.map(\.phase))
            dtypes.formUnion(graph.values.map(\.type.dtype))
            roles.formUnion(graph.values.compactMap(\.role))
            multiOutput += graph.nodes.filter { $0.outputs.count > 1 }.count
        }
        // The generator reaches every op, phase, dtype and parameter role.
        #expect(ops == Set(Op.allNames), "missing \(Set(Op.allNames).subtracting(ops).sorted())")
        #expect(phases == Set(Phase.allCases))
        #expect(dtypes == Set(DType.allCases))
        #expect(roles == Set(ParamRole.allCases), "missing \(Set(ParamRole.allCases).subtracting(roles))")
        #expect(multiOutput > 100)
    }

    @Test func phasesRoundTrip() throws {
        let graph = try Builders.trainingConvnet()
        let text = IRPrinter.print(graph)
        let parsed = try #require(parseOK(text))
        #expect(parsed.nodes.map(\.phase) == graph.nodes.map(\.phase))
        #expect(Set(parsed.nodes.map(\.phase)) == Set(Phase.allCases))
        #expect(parsed == graph.renumbered())
        // Every phase, with and without a scope, read back from hand-written text.
        let hand = """
            graph "g" {
              input %0 "x" : f32[2, 4]
              input %1 "m" : bool[2, 4]
              param %2 "w" : f32[2, 4] weight
              %3 = dropout_grad(%0, %1) {p = 0.5} : f32[2, 4] "d" in "backward" backward
              %4 = sgd_update(%2, %3) {beta1 = 0.9, beta2 = 0.999, decoupled = false, eps = 1e-08, lr = 0.1, momentum = 0, weight_decay = 0} : f32[2, 4] "optimizer" optimizer
              %5 = relu(%4) : f32[2, 4] "r" in "s"
              output %5
            }
            """
        let g = try #require(parseOK(hand))
        #expect(g.nodes.map(\.phase) == [.backward, .optimizer, .forward])
        #expect(g.nodes.map(\.scope) == ["backward", "", "s"])
        #expect(g.nodes.map(\.name) == ["d", "optimizer", "r"])
        #expect(g[g.inputs[1]].type == TensorType(.bool, [2, 4]))
        let printed = IRPrinter.print(g)
        #expect(printed.contains(#"= dropout_grad(%0, %1) {p = 0.5} : f32[2, 4] "d" in "backward" backward"# + "\n"))
        #expect(printed.contains(#"momentum = 0.0, weight_decay = 0.0} : f32[2, 4] "optimizer" optimizer"# + "\n"))
        #expect(printed.contains(#"= relu(%4) : f32[2, 4] "r" in "s""# + "\n"))
        #expect(try #require(parseOK(printed)) == g)
    }

    @Test func phaseWordsAreOnlyAcceptedLast() {
        let base = """
            graph "g" {
              input %0 "x" : f32[2, 4]
              %1 = relu(%0) : f32[2, 4] "r" PHASE
              output %1
            }
            """
        for bad in [#"backward in "s""#, "backwards", "optimizer backward", "forward"] {
            let d = parseErrors(base.replacingOccurrences(of: "PHASE", with: bad))
            #expect(d.map(\.id) == ["syntax"], "\(bad)")
            #expect(d.first?.location?.line == 3)
        }
    }

    @Test func multiResultTrainingLinesParse() throws {
        let text = """
            graph "g" {
              input %0 "x" : f32[1, 2, 4, 4]
              %1, %2 = max_pool2d_with_indices(%0) {ceil_mode = false, kernel = [2, 2], padding = [0, 0], stride = [2, 2]} : f32[1, 2, 2, 2], i64[1, 2, 2, 2] "pool"
              %3, %4 = native_dropout(%1) {p = 0.5} : f32[1, 2, 2, 2], bool[1, 2, 2, 2] "drop"
              %5 = max_pool2d_grad(%3, %0, %2) {ceil_mode = false, kernel = [2, 2], padding = [0, 0], stride = [2, 2]} : f32[1, 2, 4, 4] "pool.grad" backward
              %6 = sum_to(%5) {shape = []} : f32[] "sum" backward
              %7 = reshape(%5) {shape = [2, 16]} : f32[2, 16] "flat" backward
              %8 = sum_to(%5) {shape = [2, 1, 1]} : f32[2, 1, 1] "per_channel" backward
              output %4
              output %6
              output %7
              output %8
            }
            """
        let g = try #require(parseOK(text))
        #expect(g.nodes.map { $0.outputs.count } == [2, 2, 1, 1, 1, 1])
        #expect(g.nodes[0].outputs.map { g[$0].name } == ["pool.0", "pool.1"])
        #expect(g.nodes[2].op == .maxPool2dGrad(Pool2dAttrs(kernel: Pair(2))))
        #expect(g.nodes[3].op == .sumTo(shape: []))
        #expect(g.nodes[4].op == .reshape(shape: [2, 16]))
        #expect(g.nodes[5].op == .sumTo(shape: [2, 1, 1]))
        #expect(IRPrinter.print(try #require(parseOK(IRPrinter.print(g)))) == IRPrinter.print(g))
        // Results declared with the wrong dtype are type mismatches.
        let wrong = text.replacingOccurrences(of: "i64[1, 2, 2, 2] \"pool\"", with: "f32[1, 2, 2, 2] \"pool\"")
        #expect(parseErrors(wrong).map(\.id) == ["type-mismatch", "dtype"])
        let count = text.replacingOccurrences(
            of: "%3, %4 = native_dropout(%1) {p = 0.5} : f32[1, 2, 2, 2], bool[1, 2, 2, 2]",
            with: "%3 = native_dropout(%1) {p = 0.5} : f32[1, 2, 2, 2]"
        )
        .replacingOccurrences(of: "output %4\n", with: "")
        #expect(parseErrors(count).map(\.id).first == "arity")
    }

    @Test func acceptsCommentsBlankLinesCRLFAndAnyLabels() throws {
        let text = """
            # a hand-written graph\r
            graph "g" {   # comment after the brace\r
            \r
              input %10 "x" : f32[1, 4]\r
              param %3 "w" : f32[2, 4] weight frozen\r
              %007 = linear(%10, %3) {} : f32[1, 2] "fc"   # labels are only names\r
              output %007\r
            }\r
            # trailing comment
            """
        let graph = try #require(parseOK(text))
        #expect(
            IRPrinter.print(graph) == """
                graph "g" {
                  input %0 "x" : f32[1, 4]
                  param %1 "w" : f32[2, 4] weight frozen
                  %2 = linear(%0, %1) : f32[1, 2] "fc"
                  output %2
                }

                """)
        #expect(graph[graph.parameters[0]].isTrainable == false)
    }

    @Test func attributesInAnyOrderWithIntegersForFloats() throws {
        let text = """
            graph "g" {
              input %0 "x" : f32[2, 4]
              %1 = dropout(%0) {p = 0} : f32[2, 4] "drop"
              %2 = flatten(%1) {start_dim = 0} : f32[8] "flat"
              output %2
            }
            """
        let graph = try #require(parseOK(text))
        #expect(graph.nodes[0].op == .dropout(p: 0))
        #expect(IRPrinter.print(graph).contains("{p = 0.0}"))
    }

    @Test func floatsRoundTripExactly() throws {
        for eps in [1e-5, 0.1, 1.0 / 3.0, Double.leastNonzeroMagnitude, 1.7976931348623157e308, 123456789.125, 2.5e-7] {
            var b = GraphBuilder(name: "f")
            let x = b.input("x", .f32([1, 2]))
            b.output(try b.batchNorm(x, eps: eps, momentum: -0.0, name: "bn"))
            let parsed = try #require(parseOK(IRPrinter.print(b.graph)))
            #expect(parsed.nodes[0].op == .batchNorm(BatchNormAttrs(eps: eps, momentum: 0)))
        }
    }

    @Test func nonFiniteFloatsRoundTripAsText() throws {
        // Shape inference accepts these for momentum, so the text must carry them.
        for momentum in [Double.infinity, -Double.infinity, Double.nan] {
            var b = GraphBuilder(name: "f")
            let x = b.input("x", .f32([1, 2]))
            b.output(try b.batchNorm(x, momentum: momentum, name: "bn"))
            let text = IRPrinter.print(b.graph)
            let parsed = try #require(parseOK(text))
            #expect(IRPrinter.print(parsed) == text)
        }
    }

    @Test func escapedNamesRoundTrip() throws {
        var b = GraphBuilder(name: "names \"quoted\" \\ \n\t\u{1} ünï")
        let x = b.input("in", .f32([1]))
        b.output(try b.apply(.relu, x, name: "#", scope: "a\"b"))
        let text = IRPrinter.print(b.graph)
        let parsed = try #require(parseOK(text))
        #expect(parsed == b.graph)
    }

    @Test func warningsDoNotThrow() throws {
        let text = """
            graph "g" {
              input %0 "x" : f32[1, 4]
              param %1 "unused" : f32[4] bias
              %2 = relu(%0) : f32[1, 4] "relu"
              output %2
            }
            """
        let (graph, warnings) = try IRParser.parseReportingWarnings(Array(text.utf8), file: "w.gir")
        #expect(graph.nodes.count == 1)
        #expect(warnings.map(\.id) == ["unused-value"])
        #expect(warnings.first?.location?.line == 3)
        #expect(warnings.first?.severity == .warning)
    }

    @Test func multiResultSyntaxParsesAndIsCheckedAgainstTheOp() {
        let text = """
            graph "g" {
              input %0 "x" : f32[1, 4]
              %1, %2 = relu(%0) : f32[1, 4], f32[1, 4] "split"
              output %2
            }
            """
        let diagnostics = parseErrors(text)
        #expect(diagnostics.map(\.id) == ["arity"])
        #expect(diagnostics.first?.location?.line == 3)
        #expect(diagnostics.first?.location?.column == 3)
        #expect(diagnostics.first?.length == 6)
        #expect(diagnostics.first?.node == "split")
    }

    /// Mutated canonical text (flipped, dropped, inserted and duplicated bytes, truncations) must give a
    /// graph or diagnostics with locations inside the file, never a trap.
    /// The bases include a training graph's text: multi-output lines, i64 and bool types, integer-list
    /// attributes and phase words.
    @Test(arguments: ["every_op", "training_convnet", "random"])
    func mutatedTextNeverTraps(_ baseName: String) throws {
        let graph: Graph
        switch baseName {
        case "every_op": graph = try Builders.everyOp()
        case "training_convnet": graph = try Builders.trainingConvnet()
        default:
            // The first random training graph with GaLore, DoRA and a multi-output line.
            graph = try #require(
                (UInt64(0)..<4000).lazy.map { RandomGraphs.make(seed: $0) }.first { g in
                    let names = Set(g.nodes.map(\.op.name))
                    return names.isSuperset(of: ["svd_projector", "channel_norm", "batch_norm_grad", "reshape"])
                })
        }
        let base = Array(IRPrinter.print(graph).utf8)
        var rng = SplitMix64(seed: 42)
        let alphabet =
            Array("%=,:{}[]()\"\\#-0123456789e.\n fi".utf8) + Array("bool i64 backward optimizer".utf8)
            + [0xC3, 0xA9, 0xFF, 0x00]
        var parsedCount = 0
        for _ in 0..<800 {
            var bytes = base
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                guard !bytes.isEmpty else { break }
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<5, using: &rng) {
                case 0: bytes[i] = alphabet.randomElement(using: &rng)!
                case 1: bytes.remove(at: i)
                case 2: bytes.insert(alphabet.randomElement(using: &rng)!, at: i)
                case 3: bytes.removeSubrange(i...)
                default:
                    let j = min(bytes.count, i + Int.random(in: 1...40, using: &rng))
                    bytes.insert(contentsOf: bytes[i..<j], at: Int.random(in: 0...bytes.count, using: &rng))
                }
            }
            let lines = bytes.filter { $0 == UInt8(ascii: "\n") }.count + 1
            do {
                _ = try IRParser.parse(bytes, file: "fuzz.gir")
                parsedCount += 1
            } catch {
                #expect(!error.diagnostics.isEmpty)
                for d in error.diagnostics where d.location != nil {
                    #expect(d.location!.line >= 1 && d.location!.line <= lines)
                    #expect(d.location!.column >= 1 && d.length >= 1)
                    #expect(d.sourceLine != nil)
                }
            }
        }
        #expect(parsedCount < 800)
    }
}

@Suite struct IRParserNormalisationTests {
    @Test func maxPoolReadsBackWithTheDefaultCountIncludePad() throws {
        // count_include_pad means nothing to max pooling, so its text form leaves it out and the
        // parser gives it PyTorch's default.
        var b = GraphBuilder(name: "p")
        let x = b.input("x", .f32([1, 1, 4, 4]))
        let attrs = Pool2dAttrs(kernel: Pair(2), ceilMode: false, countIncludePad: false)
        b.output(try b.apply(.maxPool2d(attrs), x, name: "pool"))
        let parsed = try #require(parseOK(IRPrinter.print(b.graph)))
        var expected = attrs
        expected.countIncludePad = true
        #expect(parsed.nodes[0].op == .maxPool2d(expected))
    }
}
