// `--help` of graphc and of every subcommand that `graphc --help` lists (so a new subcommand is covered
// as soon as it is registered): exit status 0, an OVERVIEW line first, and an `Examples:` section with at
// least one example of that subcommand.
import Foundation
import Testing

@Suite struct HelpCLITests {
    /// The subcommand names under SUBCOMMANDS in `graphc --help`.
    static func subcommands() throws -> [String] {
        let r = try CLI.run(["--help"])
        guard r.status == 0 else { throw CLIFailure(message: "graphc --help exited \(r.status): \(r.stderr)") }
        var names: [String] = [], inSection = false
        for line in r.stdout.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("SUBCOMMANDS:") { inSection = true; continue }
            guard inSection else { continue }
            if !line.isEmpty && !line.hasPrefix(" ") { break }
            // `  name   abstract`; wrapped abstracts are indented further.
            if let m = line.wholeMatch(of: #/ {2}([a-z][a-z0-9-]*)( +.*)?/#) { names.append(String(m.1)) }
        }
        return names
    }

    @Test func everySubcommandIsListed() throws {
        let names = try Self.subcommands()
        for expected in ["zoo", "inspect", "analyze", "compare", "timeline", "dot", "verify", "ir", "bench", "trace"] {
            #expect(names.contains(expected), "\(expected) not in \(names)")
        }
    }

    @Test func topLevelHelp() throws {
        let r = try CLI.run(["--help"])
        #expect(r.status == 0)
        #expect(r.stdout.hasPrefix("OVERVIEW: "))
        #expect(r.stdout.contains("\nExamples:\n  graphc "))
    }

    @Test(arguments: try HelpCLITests.subcommands())
    func subcommandHelp(name: String) throws {
        let r = try CLI.run([name, "--help"])
        #expect(r.status == 0, "graphc \(name) --help: \(r.stderr)")
        #expect(r.stdout.hasPrefix("OVERVIEW: "), "graphc \(name) --help: no OVERVIEW line")
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let examples = try #require(lines.firstIndex(of: "Examples:"), "graphc \(name) --help: no Examples: section")
        let listed = lines[(examples + 1)...].prefix { $0.hasPrefix("  ") || $0.hasPrefix("--") }
        #expect(listed.contains { $0.hasPrefix("  graphc \(name)") }, "graphc \(name) --help: no example of it")
        #expect(r.stdout.contains("USAGE: graphc \(name)"))
    }
}

/// `graphc trace`'s subcommands, which `graphc --help` does not list.
@Suite struct TraceHelpCLITests {
    @Test(arguments: ["summary", "timeline", "compare"])
    func traceSubcommandHelp(name: String) throws {
        let r = try CLI.run(["trace", name, "--help"])
        #expect(r.status == 0, "graphc trace \(name) --help: \(r.stderr)")
        #expect(r.stdout.hasPrefix("OVERVIEW: "))
        #expect(r.stdout.contains("\nExamples:\n  graphc trace \(name) "))
        #expect(r.stdout.contains("USAGE: graphc trace \(name)"))
    }

    /// Bad traces: one line naming the file and byte offset, exit status 1.
    @Test func badTraceExitsOne() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("graphc-trace-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [(String, String)] = [
            ("", "byte 0: empty file"), (#"{"traceEvents":[{"ph":"X","name":"a","ts":1"#, "event 0: truncated"),
            (#"{"a":1}"#, "not a trace"), (#"[{"ph":"X","name":"a","ts":"x","dur":1}]"#, "event 0"),
        ]
        for (k, (text, message)) in cases.enumerated() {
            let path = dir.appendingPathComponent("t\(k).json").path
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            for command in [["trace", "summary", path], ["trace", "timeline", path, "-o", dir.path + "/o.png"]] {
                let r = try CLI.run(command)
                #expect(r.status == 1, "\(command): \(r.status)")
                #expect(r.stderr.contains(path + ": byte "), "\(command): \(r.stderr)")
                #expect(r.stderr.contains(message), "\(command): \(r.stderr)")
                #expect(r.stderr.split(separator: "\n").count == 1)
            }
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/o.png"))
        // Zero events: a summary, exit 0.
        let empty = dir.appendingPathComponent("empty.json").path
        try Data("[]".utf8).write(to: URL(fileURLWithPath: empty))
        let r = try CLI.run(["trace", "summary", empty, "--format", "json"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("\"op_slices\": 0"))
    }
}
