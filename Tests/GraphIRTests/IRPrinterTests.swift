// The printer: golden text for the tiny convnet, the multi-result syntax, string escapes, and that it
// prints broken graphs without trapping. GRAPHC_RECORD=1 rewrites the golden file and fails on purpose.
import Foundation
import GraphIR
import GraphTestSupport
import Testing

@Suite struct IRPrinterTests {
    /// Compares `actual` with the fixture `name`; under GRAPHC_RECORD=1 writes it and fails.
    private func assertGolden(
        _ actual: String, _ name: String, sourceLocation: Testing.SourceLocation = #_sourceLocation,
        filePath: String = #filePath
    ) throws {
        let source = URL(fileURLWithPath: filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["GRAPHC_RECORD"] == "1" {
            try actual.write(to: source, atomically: true, encoding: .utf8)
            Issue.record("recorded \(source.path); unset GRAPHC_RECORD and run again", sourceLocation: sourceLocation)
            return
        }
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"),
            "missing fixture \(name); record it with GRAPHC_RECORD=1")
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(
            actual == expected, "IR differs from Fixtures/\(name); if intended, re-record with GRAPHC_RECORD=1",
            sourceLocation: sourceLocation)
    }

    @Test func tinyConvnetGolden() throws {
        try assertGolden(IRPrinter.print(try Builders.tinyConvnet()), "tiny_convnet.gir")
    }

    /// A tiny convnet's training step: multi-output lines, i64 and bool results, phases, optimizer state.
    @Test func trainingConvnetGolden() throws {
        try assertGolden(IRPrinter.print(try Builders.trainingConvnet()), "training_convnet.gir")
    }

    @Test func trainingLines() throws {
        let graph = try Builders.trainingConvnet()
        #expect(Verifier.verify(graph).isEmpty)
        let lines = IRPrinter.print(graph).split(separator: "\n").map(String.init)
        let nodeLines = lines.filter { $0.contains(" = ") && !$0.hasPrefix("  grad ") }
        #expect(nodeLines.count == graph.nodes.count)
        for (line, node) in zip(nodeLines, graph.nodes) {
            #expect(line.hasSuffix(" backward") == (node.phase == .backward), "\(line)")
            #expect(line.hasSuffix(" optimizer") == (node.phase == .optimizer), "\(line)")
            #expect(line.components(separatedBy: " = ")[0].split(separator: ",").count == node.outputs.count)
        }
        #expect(
            lines.contains {
                $0.contains("= max_pool2d_with_indices(")
                    && $0.contains(", i64[2, 4, 4, 4] \"features.3\" in \"features\"")
            })
        #expect(
            lines.contains { $0.contains("= native_dropout(") && $0.contains(": f32[2, 4], bool[2, 4] \"dropout\"") })
        #expect(lines.contains { $0.contains("= reshape(") && $0.contains("{shape = [2, 4, 1, 1]}") })
        #expect(lines.contains { $0.contains(#""features.0.weight.exp_avg" : f32[4, 3, 3, 3] exp_avg"#) })
        #expect(lines.contains { $0.contains(#""classifier.weight.momentum_buffer" : f32[3, 4] momentum_buffer"#) })
        #expect(lines.contains(#"  input %1 "labels" : i64[2]"#))
    }

    @Test func tinyConvnetLines() throws {
        let lines = IRPrinter.print(try Builders.tinyConvnet()).split(separator: "\n").map(String.init)
        #expect(lines.first == #"graph "tiny_convnet" {"#)
        #expect(lines[1] == #"  input %0 "input" : f32[2, 3, 8, 8]"#)
        #expect(lines[2] == #"  param %1 "features.0.weight" : f32[8, 3, 3, 3] weight"#)
        #expect(
            lines.contains(
                #"  %13 = conv2d(%0, %1) {dilation = [1, 1], groups = 1, padding = [1, 1], stride = [1, 1]} : f32[2, 8, 8, 8] "features.0""#
            ))
        #expect(
            lines.contains(
                #"  %14 = batch_norm(%13, %2, %3, %4, %5) {eps = 1e-05, momentum = 0.1, training = false} : f32[2, 8, 8, 8] "features.1""#
            ))
        #expect(lines.contains(#"  %20 = flatten(%19) {start_dim = 1} : f32[2, 8] "flatten""#))
        #expect(lines.suffix(2) == ["  output %21", "}"])
    }

    @Test func valuesAreNumberedInDeclarationOrder() throws {
        // The builder interleaves parameters with node results; the text numbers inputs, then
        // parameters, then results.
        let graph = try Builders.residualBlock()
        #expect(graph.values.map(\.kind) != graph.renumbered().values.map(\.kind))
        let text = IRPrinter.print(graph)
        #expect(text == IRPrinter.print(graph.renumbered()))
        let numbers = text.split(separator: "\n").compactMap { line -> Int? in
            guard let r = line.range(of: "%") else { return nil }
            return Int(line[r.upperBound...].prefix { $0.isNumber })
        }
        #expect(Array(numbers.dropLast()) == Array(0..<numbers.count - 1))
    }

    @Test func scopesAndFrozenParameters() throws {
        let text = IRPrinter.print(try Builders.everyOp())
        #expect(text.contains(#""block.conv" in "block""#))
        #expect(text.contains(#""head.weight" : f32[5, 6] weight frozen"#))
        #expect(text.contains(#""stem.bn.running_var" : f32[8] running_var"# + "\n"))
        #expect(
            text.contains(
                #"{ceil_mode = true, count_include_pad = false, kernel = [2, 2], padding = [0, 0], stride = [2, 2]}"#))
        #expect(text.contains(#"= softmax_cross_entropy(%"#))
        #expect(text.contains("i64[2]"))
    }

    @Test func multipleResultsAreListed() {
        // A relu with two results (which the verifier rejects): the syntax is printed generally.
        var g = Graph(name: "multi")
        let x = g.appendValue(Value(name: "x", type: .f32([2]), kind: .input))
        g.inputs = [x]
        let a = g.appendValue(Value(name: "split.0", type: .f32([1]), kind: .result(node: 0, index: 0)))
        let b = g.appendValue(Value(name: "split.1", type: .f32([1]), kind: .result(node: 0, index: 1)))
        g.nodes = [Node(op: .relu, inputs: [x], outputs: [a, b], name: "split")]
        g.outputs = [a, b]
        #expect(
            IRPrinter.print(g) == """
                graph "multi" {
                  input %0 "x" : f32[2]
                  %1, %2 = relu(%0) : f32[1], f32[1] "split"
                  output %1
                  output %2
                }

                """)
    }

    @Test func stringsAreEscaped() {
        #expect(IRPrinter.quote(#"a "b" \c"#) == #""a \"b\" \\c""#)
        #expect(IRPrinter.quote("tab\tline\nret\r\u{1}\u{7F}") == #""tab\tline\nret\r\u{1}\u{7f}""#)
        #expect(IRPrinter.quote("ünï 层") == "\"ünï 层\"")
    }

    @Test func brokenGraphsPrintWithoutTrapping() throws {
        var g = try Builders.tinyConvnet()
        g.nodes[2].inputs.append(ValueID(999))
        g.outputs.append(ValueID(-5))
        g.parameters.append(g.inputs[0])
        let text = IRPrinter.print(g)
        #expect(text.contains("%?999"))
        #expect(text.contains("output %?-5"))
        #expect(text.contains(" ?\n"))
    }

    @Test func renumberedKeepsUndefinedIdsUndefined() throws {
        var g = try Builders.tinyConvnet()
        g.nodes[2].inputs = [ValueID(999)]
        let r = g.renumbered()
        #expect(r.nodes[2].inputs[0].raw >= r.values.count)
        #expect(Verifier.verify(r).contains { $0.id == "undefined-value" })
    }
}
