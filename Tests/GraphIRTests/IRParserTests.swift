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
    @Test(arguments: ["tiny_convnet", "residual_block", "squeeze_excitation", "every_op"])
    func builderRoundTrip(_ name: String) throws {
        let graph = try #require(try Builders.all().first { $0.name == name }).graph
        #expect(Verifier.verify(graph).isEmpty)
        let text = IRPrinter.print(graph)
        let parsed = try #require(parseOK(text))
        #expect(IRPrinter.print(parsed) == text)
        #expect(parsed == graph.renumbered())
    }

    @Test func randomGraphsRoundTrip() {
        var ops = Set<String>()
        for seed in UInt64(0)..<400 {
            let graph = RandomGraphs.make(seed: seed)
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
        }
        // The generator reaches every op.
        #expect(ops == Set(Op.allNames))
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
        #expect(IRPrinter.print(graph) == """
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
    @Test func mutatedTextNeverTraps() throws {
        let base = Array(IRPrinter.print(try Builders.everyOp()).utf8)
        var rng = SplitMix64(seed: 42)
        let alphabet = Array("%=,:{}[]()\"\\#-0123456789e.\n fi".utf8) + [0xC3, 0xA9, 0xFF, 0x00]
        var parsedCount = 0
        for _ in 0..<1500 {
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
        #expect(parsedCount < 1500)
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
