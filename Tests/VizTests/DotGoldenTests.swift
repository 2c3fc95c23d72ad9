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
    try Golden.expect(
        actual, name, ext: "dot", folder: "Golden", bundle: .module, filePath: filePath,
        sourceLocation: sourceLocation)
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
