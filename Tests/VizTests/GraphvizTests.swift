// Tests of in-process rendering through libgvc: output formats, errors, determinism, serialisation,
// and the golden DOT exports of Tests/VizTests/Golden rendered for real.
import Foundation
import Testing
import Viz

/// A small graph with HTML-like labels and a cluster, like the ones DotExport writes.
let smallDOT = """
    digraph g {
      rankdir=TB; node [shape=box, style=filled, fontname="Helvetica", fontsize=11];
      i0 [label="input\\n1x3x32x32", shape=invhouse, fillcolor="#EEDD88"];
      subgraph cluster_0 { label="block"; n0; n1; }
      n0 [label=<<b>conv</b><br/><font point-size="9">conv2d 3x3 3→16</font>>, fillcolor="#77AADD"];
      n1 [label="relu", fillcolor="#EE8866"];
      n2 [label="linear 16→10", fillcolor="#CC6677"];
      i0 -> n0 [label="1x3x32x32"]; n0 -> n1 [label="1x16x30x30"]; n1 -> n2 [label="1x16"];
    }
    """

/// Runs `body` with stdout and stderr redirected to files; returns what each received.
func capturingOutput(_ body: () throws -> Void) rethrows -> (stdout: String, stderr: String) {
    fflush(nil)
    func redirect(_ fd: Int32) -> (saved: Int32, path: String, fd: Int32) {
        var template = Array("/tmp/graphc-capture-XXXXXX".utf8CString)
        let tmp = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let saved = dup(fd)
        dup2(tmp, fd)
        return (saved, path, tmp)
    }
    let out = redirect(STDOUT_FILENO), err = redirect(STDERR_FILENO)
    func restore() {
        fflush(nil)
        for (fd, r) in [(STDOUT_FILENO, out), (STDERR_FILENO, err)] {
            dup2(r.saved, fd)
            close(r.saved)
            close(r.fd)
        }
    }
    do {
        try body()
    } catch {
        restore()
        throw error
    }
    restore()
    let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
    defer { for path in [out.path, err.path] { unlink(path) } }
    return (read(out.path), read(err.path))
}

func bigEndian32(_ bytes: [UInt8], at offset: Int) -> Int {
    bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// The golden DOT exports of DotGoldenTests, read through this file's path.
func goldenDOT(_ name: String) throws -> String {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("VizTests/Golden/\(name).dot")
    return try String(contentsOf: url, encoding: .utf8)
}

/// `text` without the lines Swift Testing prints for test events (`◇ Test … started.`, `✔ Suite … passed`).
private func withoutRunnerEvents(_ text: String) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false)
        .filter { line in !["◇", "✔", "✘", "↳"].contains { line.hasPrefix($0) } }
        .joined(separator: "\n").trimmingCharacters(in: .newlines)
}

// Serialized: one test redirects the process's stdout and stderr, which must not catch others' output.
@Suite(.serialized) struct GraphvizRenderTests {
    @Test func rendersPNG() throws {
        let png = try Graphviz.render(dot: smallDOT, format: .png)
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(text(Array(png[12..<16])) == "IHDR")
        #expect(bigEndian32(png, at: 16) > 100)
        #expect(bigEndian32(png, at: 20) > 100)
        #expect(png.count > 1024)
    }

    @Test func rendersSVG() throws {
        let svg = text(try Graphviz.render(dot: smallDOT, format: .svg))
        #expect(svg.hasPrefix("<?xml") || svg.contains("<svg"))
        #expect(svg.contains("</svg>"))
        #expect(svg.utf8.count > 1024)
        #expect(svg.contains("conv2d 3x3 3→16"))
    }

    @Test func rendersLaidOutDOT() throws {
        let dot = text(try Graphviz.render(dot: smallDOT, format: .dot))
        #expect(dot.hasPrefix("digraph g {"))
        #expect(dot.contains("pos="))
        #expect(dot.contains("bb="))
    }

    @Test func syntaxErrorThrowsQuietly() throws {
        var caught: GraphvizError?
        let output = capturingOutput {
            do {
                _ = try Graphviz.render(dot: "digraph { a -> ; }", format: .svg)
            } catch let error as GraphvizError {
                caught = error
            } catch {}
        }
        let error = try #require(caught)
        #expect(error.kind == .syntax)
        #expect(error.messages.contains { $0.contains("syntax error") })
        // Other suites run meanwhile, and the test runner reports their events on the same descriptors.
        #expect(withoutRunnerEvents(output.stdout).isEmpty)
        #expect(withoutRunnerEvents(output.stderr).isEmpty)
        // Graphviz's lexer recovers: the next call works.
        #expect(try Graphviz.render(dot: smallDOT, format: .svg).count > 1024)
    }

    @Test func unknownLayoutEngineNamesTheAvailableOnes() throws {
        var caught: GraphvizError?
        let output = capturingOutput {
            do {
                _ = try Graphviz.render(dot: smallDOT, format: .svg, layout: "no-such-engine")
            } catch let error as GraphvizError {
                caught = error
            } catch {}
        }
        let error = try #require(caught)
        #expect(error.kind == .layout)
        #expect(error.message.contains("no-such-engine"))
        #expect(error.message.contains("dot"))
        #expect(withoutRunnerEvents(output.stderr).isEmpty)
    }

    @Test func otherLayoutEnginesWork() throws {
        let svg = text(try Graphviz.render(dot: smallDOT, format: .svg, layout: "neato"))
        #expect(svg.contains("</svg>"))
    }

    @Test func concurrentCallsAreSerialised() async throws {
        let inputs = (0..<8).map { smallDOT.replacingOccurrences(of: "block", with: "block \($0)") }
        let expected = try inputs.map { try Graphviz.render(dot: $0, format: .svg) }
        let results = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            for (i, dot) in inputs.enumerated() {
                group.addTask { (i, try Graphviz.render(dot: dot, format: i.isMultiple(of: 2) ? .svg : .png)) }
            }
            var results: [Int: [UInt8]] = [:]
            for try await (i, bytes) in group { results[i] = bytes }
            return results
        }
        #expect(results.count == inputs.count)
        for (i, bytes) in results {
            if i.isMultiple(of: 2) {
                #expect(bytes == expected[i])
            } else {
                #expect(Array(bytes.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
            }
        }
    }

    /// The DotExport goldens render; GRAPHC_RENDER_DIR=<dir> also writes the PNGs there to look at.
    @Test(arguments: [
        "residual", "residual_params", "residual_collapsed", "separable", "separable_collapse1",
        "separable_plain", "resnet50_like", "resnet50_like_overview",
    ])
    func rendersGoldenDotExport(name: String) throws {
        let dot = try goldenDOT(name)
        let png = try Graphviz.render(dot: dot, format: .png)
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(bigEndian32(png, at: 16) > 100 && bigEndian32(png, at: 20) > 100)
        let svg = text(try Graphviz.render(dot: dot, format: .svg))
        #expect(svg.contains("</svg>"))
        #expect(svg.contains("legend") == dot.contains("legend ["))
        if let dir = ProcessInfo.processInfo.environment["GRAPHC_RENDER_DIR"] {
            try Data(png).write(to: URL(fileURLWithPath: dir).appendingPathComponent("\(name).png"))
            try Data(svg.utf8).write(to: URL(fileURLWithPath: dir).appendingPathComponent("\(name).svg"))
        }
    }

    @Test(arguments: [("png", Graphviz.Format.png), ("SVG", .svg), (".dot", .dot), ("gv", .dot)])
    func formatFromPathExtension(ext: String, format: Graphviz.Format) {
        #expect(Graphviz.Format(pathExtension: ext) == format)
    }

    @Test func unknownPathExtension() {
        #expect(Graphviz.Format(pathExtension: "pdf") == nil)
        #expect(Graphviz.Format(pathExtension: "") == nil)
    }

    @Test func errorDescriptionIncludesGraphvizMessages() {
        let error = GraphvizError(.syntax, "the DOT text does not parse", messages: ["syntax error in line 1"])
        #expect(error.description == "graphviz: the DOT text does not parse\n  syntax error in line 1")
    }
}
