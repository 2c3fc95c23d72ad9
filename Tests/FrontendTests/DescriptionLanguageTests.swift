// The language itself, on small inline descriptions: expressions with Python's semantics, control
// flow, scoping, names, references and the lexical rules (continuations, `;`, CRLF, comments).
import Frontend
import GraphIR
import Testing

@Suite struct DescriptionLanguageTests {
    /// Evaluates an integer expression by making it the channel count of a 1x1 conv.
    static func value(_ expr: String, lets: String = "") throws -> Int {
        let m = try ModelDescription.compile("model m(input = 1x1x1) {\n\(lets)\n    c = conv2d(\(expr), 1)\n}\n")
        return m.graph[m.graph.outputs[0]].type.shape[1]
    }

    @Test func arithmeticFollowsPython() throws {
        #expect(try Self.value("7 / 2") == 3)
        #expect(try Self.value("-7 / 2 + 10") == 6)  // floor division: -4
        #expect(try Self.value("-7 % 3") == 2)
        #expect(try Self.value("2 + 3 * 4 - 1") == 13)
        #expect(try Self.value("int(7.9)") == 7)
        #expect(try Self.value("round(2.5)") == 2)
        #expect(try Self.value("round(3.5)") == 4)
        #expect(try Self.value("int(10 / 4.0 * 2)") == 5)
        #expect(try Self.value("max(3, 9, 4)") == 9)
        #expect(try Self.value("min(3, 9)") == 3)
        #expect(try Self.value("1 < 2 && !(2 == 3) || false ? 5 : 6") == 5)
        #expect(try Self.value("[1, 2] == [1, 2] ? 1 : 2") == 1)
        #expect(try Self.value("\"a\" + \"b\" == \"ab\" ? 3 : 4") == 3)
    }

    @Test func makeDivisibleMatchesTorchvision() throws {
        // torchvision: _make_divisible(32 * 0.75, 8) = 24, (16 * 0.35, 8) = 8, (96 * 1.4, 8) = 136, (10, 8) = 16.
        #expect(try Self.value("make_divisible(32 * 0.75, 8)") == 24)
        #expect(try Self.value("make_divisible(16 * 0.35, 8)") == 8)
        #expect(try Self.value("make_divisible(96 * 1.4, 8)") == 136)
        #expect(try Self.value("make_divisible(10, 8)") == 16)
    }

    @Test func controlFlowAndScopes() throws {
        let src = """
            model m(input = 4x8x8, wide = false) {
                let n = 0
                for i in 0..<3 {
                    let n = n + i          # a let in a body is visible after it
                }
                if wide {
                    let c = 64
                } else if n == 3 {
                    let c = 16
                }
                else {
                    let c = 1
                }
                conv = conv2d(c, 3, padding = 1); bn = batch_norm(features = c)
            }
            """
        let m = try ModelDescription.compile(src)
        #expect(m.graph[m.graph.outputs[0]].type.shape == [1, 16, 8, 8])
        let wide = try ModelDescription.compile(src, overrides: ModelOverrides(set: ["wide": "true"]))
        #expect(wide.graph[wide.graph.outputs[0]].type.shape == [1, 64, 8, 8])
    }

    @Test func namesRefsAndBlocks() throws {
        let src = """
            model m(input = 8x16x16) {
                stem = conv2d(8, 3,
                              padding = 1,
                              bias = false)
                body = pair("unit", 2)
                skip = add <- body.1, body.0.act    # refs into an earlier block instance
                head = relu <- skip
            }
            block pair(kind, n) {
                for i in 0..<n {
                    {i} = kind(tag = "act")
                }
            }
            block unit(tag) {
                conv = conv2d(channels(input), kernel = [3, 1], padding = [1, 0], in = size(input, 1))
                {tag} = relu
            }
            """
        let m = try ModelDescription.compile(src)
        let names = m.graph.nodes.map(\.name)
        #expect(names == ["stem", "body.0.conv", "body.0.act", "body.1.conv", "body.1.act", "skip", "head"])
        #expect(m.graph.nodes.map(\.scope) == ["", "body.0", "body.0", "body.1", "body.1", "", ""])
        #expect(
            m.graph.parameters.map { m.graph[$0].name }
                == ["stem.weight", "body.0.conv.weight", "body.0.conv.bias", "body.1.conv.weight", "body.1.conv.bias"])
        #expect(Verifier.verify(m.graph).allSatisfy { $0.severity != .error })
    }

    @Test func opDefaultsAndAttributes() throws {
        let src = """
            model m(input = 3x9x9, classes = 5, p = 0.2) {
                c = conv2d(6, 3, stride = 2, groups = 3, dilation = 1)
                pool = avg_pool2d(2, stride = 1, ceil_mode = true)
                gap = adaptive_avg_pool2d([2, 1])
                flat = flatten(start = -3)
                drop = dropout(p)
                fc = linear(classes, bias = false)
            }
            """
        let m = try ModelDescription.compile(src, overrides: ModelOverrides(batch: 2))
        let shapes = m.graph.nodes.map { m.graph[$0.outputs[0]].type.shape }
        #expect(shapes == [[2, 6, 4, 4], [2, 6, 3, 3], [2, 6, 2, 1], [2, 12], [2, 12], [2, 5]])
        #expect(m.graph.parameterCount == 6 * 1 * 9 + 6 + 12 * 5)
        #expect(m.graph.nodes[0].op == .conv2d(Conv2dAttrs(stride: Pair(2), groups: 3)))
        #expect(m.graph.nodes[4].op == .dropout(p: 0.2))
        #expect(m.classes == 5)
    }

    @Test func lexicalDetails() throws {
        // BOM, CRLF line ends, comments, `;`, and a shape literal in a --set value.
        let src = "\u{FEFF}# comment\r\nmodel m(input = 2x4x4) { # trailing\r\n  a = relu; b = sigmoid\r\n}\r\n"
        let m = try ModelDescription.compile(src, overrides: ModelOverrides(set: ["input": "3x2x2"]))
        #expect(m.graph.nodes.map(\.name) == ["a", "b"])
        #expect(m.input == [3, 2, 2])
    }

    @Test func emptyBlockIsIdentity() throws {
        let src =
            "model m(input = 2x4x4) {\n    s = stage(0)\n    r = relu\n}\nblock stage(n) {\n"
            + "    for i in 0..<n {\n        {i} = relu\n    }\n}\n"
        let m = try ModelDescription.compile(src)
        #expect(m.graph.nodes.map(\.name) == ["r"])
        #expect(m.graph.nodes[0].inputs.array == m.graph.inputs)
    }
}
