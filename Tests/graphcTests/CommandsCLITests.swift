import Foundation
import Testing

/// `dot`, `verify`, `ir` and `zoo` through the binary: exit codes, files, and error reporting.
@Suite struct CommandsCLITests {
    @Test func dotToStdoutIsDOT() throws {
        let r = try CLI.run(["dot", "small_resnet"])
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("digraph"))
        #expect(r.stdout.contains("layer1.0.conv1"))
    }

    @Test func pngAndSVGAreRenderedInProcess() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let png = dir.appendingPathComponent("resnet18.png"), svg = dir.appendingPathComponent("resnet18.svg")
        #expect(try CLI.run(["dot", "resnet18", "-o", png.path]).status == 0)
        #expect(try CLI.run(["dot", "resnet18", "-o", svg.path]).status == 0)
        let pngData = try Data(contentsOf: png)
        #expect(Array(pngData.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(pngData.count > 20_000)
        // IHDR: width and height, big-endian, at bytes 16..<24.
        let width = pngData[16..<20].reduce(0) { $0 << 8 | Int($1) }
        let height = pngData[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(width > 200 && height > 1000)
        let svgText = try String(contentsOf: svg, encoding: .utf8)
        #expect(svgText.contains("<svg") && svgText.contains("</svg>"))
        #expect(svgText.contains("layer4.1.conv2"))
        #expect(svgText.count > 50_000)
    }

    @Test func failedRenderLeavesNoFile() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("missing-dir/out.png")
        let r = try CLI.run(["dot", "small_resnet", "-o", target.path])
        #expect(r.status == 1)
        #expect(!FileManager.default.fileExists(atPath: target.path))
        let unknown = dir.appendingPathComponent("out.gif")
        #expect(try CLI.run(["dot", "small_resnet", "-o", unknown.path]).status == 1)
        #expect(!FileManager.default.fileExists(atPath: unknown.path))
    }

    @Test func verifyAcceptsTheZooFiles() throws {
        let models = try FileManager.default.contentsOfDirectory(
            atPath: CLI.packageRoot.appendingPathComponent("examples/models").path
        ).filter { $0.hasSuffix(".model") }.sorted().map { "examples/models/" + $0 }
        #expect(models.count >= 9)
        let r = try CLI.run(["verify"] + models)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.split(separator: "\n").count == models.count)
    }

    @Test func verifyReportsLocatedErrors() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("bad.model")
        try """
        model bad(input = 3x32x32, classes = 10) {
            stem = conv2d(16, kernel = 3, padding = 1)
            body = conv3d(16, kernel = 3)
        }
        """.write(to: file, atomically: true, encoding: .utf8)
        let r = try CLI.run(["verify", file.path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("bad.model:3:12"), "\(r.stderr)")
        #expect(r.stderr.contains("conv3d"))
        #expect(r.stderr.contains("unknown-op"))
    }

    @Test func irRoundTripsThroughAFile() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let gir = dir.appendingPathComponent("small_resnet.gir")
        #expect(try CLI.run(["ir", "small_resnet", "-o", gir.path]).status == 0)
        let again = try CLI.run(["ir", gir.path])
        #expect(again.status == 0)
        #expect(again.stdout == (try String(contentsOf: gir, encoding: .utf8)))
        let fromIR = try CLI.json(["inspect", gir.path, "--format", "json"])
        #expect(fromIR["params"] as? Int == 77_754)
        #expect(fromIR["macs"] as? Int == 9_345_920)
        #expect(try CLI.run(["verify", gir.path]).status == 0)
    }

    @Test func zooListsEveryModel() throws {
        let r = try CLI.run(["zoo", "--format", "csv"])
        #expect(r.status == 0)
        for name in [
            "resnet18", "resnet34", "resnet50", "mobilenet_v2", "mobilenet_v3_small",
            "mobilenet_v3_large", "efficientnet_b0", "small_resnet", "small_mobilenet",
        ] {
            #expect(r.stdout.contains("\n\(name),"), "\(name)")
        }
    }
}
