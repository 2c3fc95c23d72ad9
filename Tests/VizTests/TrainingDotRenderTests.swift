// The training drawings of Tests/VizTests/Golden (training_*.dot) rendered for real: Graphviz accepts
// the phase clusters, reversed gradient edges and the legend's marker cells.
import Foundation
import Testing
import Viz

@Suite struct TrainingDotRenderTests {
    /// GRAPHC_RENDER_DIR=<dir> also writes the PNGs and SVGs there to look at.
    @Test(arguments: ["training_tiny", "training_tiny_collapsed", "training_small_resnet_lora"])
    func rendersTrainingGolden(name: String) throws {
        let dot = try goldenDOT(name)
        let png = try Graphviz.render(dot: dot, format: .png)
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(bigEndian32(png, at: 16) > 100 && bigEndian32(png, at: 20) > 100)
        let svg = text(try Graphviz.render(dot: dot, format: .svg))
        #expect(svg.contains("</svg>"))
        for cluster in ["cluster_forward", "cluster_backward", "cluster_optimizer"] { #expect(svg.contains(cluster)) }
        if let dir = ProcessInfo.processInfo.environment["GRAPHC_RENDER_DIR"] {
            try Data(png).write(to: URL(fileURLWithPath: dir).appendingPathComponent("\(name).png"))
            try Data(svg.utf8).write(to: URL(fileURLWithPath: dir).appendingPathComponent("\(name).svg"))
        }
    }
}
