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
        for expected in ["zoo", "inspect", "analyze", "compare", "timeline", "dot", "verify", "ir", "bench"] {
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
