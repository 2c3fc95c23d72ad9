import Foundation
import Testing

/// `graphc dot` on a model too large to lay out in-process: a one-line error that says how to draw it,
/// exit status 1, no output file; DOT text of the same model still works (it needs no layout).
@Suite struct DotLimitCLITests {
    static let model = """
        model big(input = 1x8x8, classes = 10) {
            body = chain(4100)
            flatten = flatten
            fc = linear(classes)
        }
        block chain(n) {
            for i in 0..<n {
                {i} = relu
            }
        }

        """

    @Test func refusesAndSuggestsACollapseDepth() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("big.model")
        try Self.model.write(to: file, atomically: true, encoding: .utf8)
        let svg = dir.appendingPathComponent("big.svg")
        let r = try CLI.run(["dot", file.path, "-o", svg.path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("4,105 nodes"))
        #expect(r.stderr.contains("--collapse-depth 0"))
        #expect(!r.stderr.contains("Fatal") && !r.stderr.contains("backtrace"))
        #expect(!FileManager.default.fileExists(atPath: svg.path))

        let collapsed = try CLI.run(["dot", file.path, "--collapse-depth", "0", "-o", svg.path])
        #expect(collapsed.status == 0, "\(collapsed.stderr)")
        let text = try CLI.run(["dot", file.path])
        #expect(text.status == 0 && text.stdout.hasPrefix("digraph"))
    }
}
