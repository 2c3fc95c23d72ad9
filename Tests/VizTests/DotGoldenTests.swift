// Golden-file tests of DotExport: each drawing is compared byte for byte with
// Tests/VizTests/Golden/<name>.dot. GRAPHC_RECORD=1 rewrites the files and fails on purpose, so
// that nobody records by accident; review the diff, then run again without it.
import Foundation
import GraphIR
import GraphTestSupport
import Passes
import Testing
import Viz

/// Compares `actual` with golden `name`.dot, or records it when GRAPHC_RECORD=1.
func expectGolden(
    _ actual: String, _ name: String, filePath: String = #filePath,
    sourceLocation: Testing.SourceLocation = #_sourceLocation
) throws {
    if ProcessInfo.processInfo.environment["GRAPHC_RECORD"] == "1" {
        let url = URL(fileURLWithPath: filePath).deletingLastPathComponent()
            .appendingPathComponent("Golden/\(name).dot")
        try actual.write(to: url, atomically: true, encoding: .utf8)
        Issue.record(
            "recorded \(url.path); review the diff and run again without GRAPHC_RECORD",
            sourceLocation: sourceLocation)
        return
    }
    guard let url = Bundle.module.url(forResource: name, withExtension: "dot", subdirectory: "Golden") else {
        Issue.record("no golden file \(name).dot; record it with GRAPHC_RECORD=1", sourceLocation: sourceLocation)
        return
    }
    let expected = try String(contentsOf: url, encoding: .utf8)
    guard expected != actual else { return }
    let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
    let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
    let line = zip(a, e).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, e.count)
    Issue.record(
        """
        \(name).dot differs from the golden file at line \(line + 1):
          golden: \(line < e.count ? String(e[line]) : "<end of file>")
          actual: \(line < a.count ? String(a[line]) : "<end of file>")
        Re-record with GRAPHC_RECORD=1 if the change is intended.
        """, sourceLocation: sourceLocation)
}

@Suite struct DotGoldenTests {
    @Test func residualDefault() throws {
        try expectGolden(DotExport.dot(DotBuilders.residualNet()), "residual")
    }

    @Test func residualUnfoldedParameters() throws {
        try expectGolden(
            DotExport.dot(DotBuilders.residualNet(), options: .init(foldParameters: false)),
            "residual_params")
    }

    @Test func residualCollapsed() throws {
        try expectGolden(
            DotExport.dot(DotBuilders.residualNet(), options: .init(collapseDepth: 0)),
            "residual_collapsed")
    }

    @Test func separableDefault() throws {
        try expectGolden(DotExport.dot(DotBuilders.separableNet()), "separable")
    }

    @Test func separableCollapsedBelowTopLevel() throws {
        try expectGolden(
            DotExport.dot(DotBuilders.separableNet(), options: .init(collapseDepth: 1)),
            "separable_collapse1")
    }

    @Test func separablePlain() throws {
        let options = DotOptions(clusters: false, edgeLabels: false, rankdir: "LR", legend: false)
        try expectGolden(DotExport.dot(DotBuilders.separableNet(), options: options), "separable_plain")
    }

    @Test func resnet50Like() throws {
        try expectGolden(DotExport.dot(DotBuilders.bottleneckResNet()), "resnet50_like")
    }

    @Test func resnet50LikeOverview() throws {
        try expectGolden(
            DotExport.dot(DotBuilders.bottleneckResNet(), options: .init(collapseDepth: 0)),
            "resnet50_like_overview")
    }
}
