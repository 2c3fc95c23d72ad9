// `graphc verify` promises every diagnostic: the description compiler reports the syntax error of
// every statement and, when running, goes on after a layer's error to check the later layers that do
// not depend on it (issue "Never clobber, never crash").
import Frontend
import GraphIR
import Testing

@Suite struct DescriptionRecoveryTests {
    func diagnostics(_ source: String) -> [Diagnostic] {
        do {
            _ = try ModelDescription.compile(source, file: "test.model")
            Issue.record("expected diagnostics")
            return []
        } catch {
            return error.diagnostics
        }
    }

    @Test func everyIndependentLayerErrorIsReported() {
        let d = diagnostics(
            """
            model m(input = 3x8x8) {
                a = conv3d(8, 3)
                b = conv2d(8, 3) <- input
                c = conv2d(0, 3) <- b
                d = relu <- a
                e = linear(4) <- b
                f = add <- b, e
            }
            """)
        // a: unknown op; c: bad size; d reads a (not reported again); e: linear of a rank-4 tensor is fine,
        // f: add of mismatched shapes.
        #expect(d.map(\.id) == ["unknown-op", "bad-size", "shape-mismatch"], "\(d)")
        #expect(d.map { $0.location?.line ?? 0 } == [2, 4, 7])
        #expect(d.allSatisfy { $0.location?.file == "test.model" })
    }

    @Test func implicitInputAfterAFailedLayerIsNotReportedAgain() {
        let d = diagnostics(
            """
            model m(input = 3x8x8) {
                a = conv2d(8, 3, in = 4)
                b = relu
                c = conv2d(8, kernel = 3, stride = 0) <- input
            }
            """)
        #expect(d.map(\.id) == ["channel-mismatch", "bad-size"], "\(d)")
    }

    @Test func errorsInsideBlocksAndLoopsAreReportedOnce() {
        let d = diagnostics(
            """
            block bad(w) {
                x = conv2d(w, 3)
            }
            model m(input = 3x8x8) {
                for i in 0..<3 { l.{i} = conv2d(0, 1) <- input }
                b = bad(8)
                c = bad(-1) <- input
                e = relu <- c
            }
            """)
        #expect(d.map(\.id) == ["bad-size", "bad-size"], "\(d)")
        #expect(d.map { $0.location?.line ?? 0 } == [5, 2])
    }

    @Test func everyStatementSyntaxErrorIsReported() {
        let d = diagnostics(
            """
            model m(input = 3x8x8) {
                a = conv2d(8, 3) extra
                b = relu
                c = = relu
                for i in 0..<2 { d.{i} = relu(] }
                let x = 3 + * 2
                e = relu
            }
            """)
        #expect(d.count == 4, "\(d)")
        #expect(d.allSatisfy { $0.id == "syntax" })
        #expect(d.map { $0.location?.line ?? 0 } == [2, 4, 5, 6], "\(d)")
    }

    @Test func correctModelsStillCompile() throws {
        _ = try ModelDescription.compile("model m(input = 3x8x8) {\n    a = conv2d(8, 3)\n    b = relu\n}\n")
    }
}
