// Golden files: text compared byte for byte with a file beside the test, re-recorded by GRAPHC_RECORD=1
// (a recording run fails on purpose, so nobody records by accident: review the diff, then run again).
import Foundation
import Testing

public enum Golden {
    /// Compares `actual` with `folder/name.ext` of the calling test target (read from `bundle`, written
    /// beside `filePath` when recording), reporting the first differing line.
    public static func expect(
        _ actual: String, _ name: String, ext: String, folder: String, bundle: Bundle, filePath: String,
        sourceLocation: Testing.SourceLocation
    ) throws {
        let file = "\(name).\(ext)"
        if ProcessInfo.processInfo.environment["GRAPHC_RECORD"] == "1" {
            let url = URL(fileURLWithPath: filePath).deletingLastPathComponent()
                .appendingPathComponent("\(folder)/\(file)")
            try actual.write(to: url, atomically: true, encoding: .utf8)
            Issue.record(
                "recorded \(url.path); review the diff and run again without GRAPHC_RECORD",
                sourceLocation: sourceLocation)
            return
        }
        guard let url = bundle.url(forResource: name, withExtension: ext, subdirectory: folder) else {
            Issue.record("no golden file \(file); record it with GRAPHC_RECORD=1", sourceLocation: sourceLocation)
            return
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        guard expected != actual else { return }
        let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
        let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let line = zip(a, e).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, e.count)
        Issue.record(
            """
            \(file) differs from the golden file at line \(line + 1):
              golden: \(line < e.count ? String(e[line]) : "<end of file>")
              actual: \(line < a.count ? String(a[line]) : "<end of file>")
            Re-record with GRAPHC_RECORD=1 if the change is intended.
            """, sourceLocation: sourceLocation)
    }
}
