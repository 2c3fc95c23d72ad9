// Evaluation is bounded in value size, not only in iterations: a loop that doubles a string or a list
// would otherwise grow past any memory in a few dozen iterations (issue "Never clobber, never crash").
import Foundation
import Frontend
import GraphIR
import Testing

@Suite struct DescriptionBoundsTests {
    static let doublingString = """
        model m(input = 3x8x8) {
            let s = "ab"
            for i in 0..<64 { let s = s + s }
            a = relu
        }
        """

    static let doublingList = """
        model m(input = 3x8x8) {
            let l = [1, 2]
            for i in 0..<64 { let l = l + l }
            a = relu
        }
        """

    /// A list nesting itself shares storage, so it doubles without copying; it is still bounded.
    static let nestingList = """
        model m(input = 3x8x8) {
            let l = [1]
            for i in 0..<64 { let l = [l, l] }
            a = relu
        }
        """

    @Test(arguments: [
        ("string", doublingString, "s + s"), ("list", doublingList, "l + l"),
        ("nested", nestingList, "[l, l]"),
    ])
    func doublingIsRejectedQuickly(_ kind: String, _ source: String, _ marker: String) {
        let start = ContinuousClock.now
        let d = expectDiagnostic(source, "value-too-large", at: marker)
        #expect(d?.message.contains("65536") == true, "\(String(describing: d))")
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    @Test func totalAllocationIsBounded() {
        // Each value stays under the per-value bound, but the run copies 2^16-byte strings a million times.
        let source = """
            model m(input = 3x8x8) {
                let s = "\(String(repeating: "x", count: 30_000))"
                for i in 0..<1000000 { let t = s + s }
                a = relu
            }
            """
        let start = ContinuousClock.now
        let d = firstDiagnostic(Array(source.utf8))
        #expect(d?.id == "value-too-large")
        #expect(d?.message.contains("in total") == true, "\(String(describing: d))")
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func layerNamesAreBounded() {
        let source = """
            model m(input = 3x8x8) {
                let s = "\(String(repeating: "x", count: 600))"
                {s + s} = relu
            }
            """
        let d = firstDiagnostic(Array(source.utf8))
        #expect(d?.id == "value-too-large", "\(String(describing: d))")
        #expect(d?.message.contains("1024") == true)
        #expect(d?.location?.line == 3)
    }

    @Test func longStringsAreShortenedInMessages() {
        let source = """
            model m(input = 3x8x8) {
                let s = "\(String(repeating: "y", count: 5000))"
                a = conv2d(s, 3)
            }
            """
        let d = firstDiagnostic(Array(source.utf8))
        #expect(d != nil)
        #expect((d?.message.utf8.count ?? 0) < 300, "\(String(describing: d?.message))")
    }
}
