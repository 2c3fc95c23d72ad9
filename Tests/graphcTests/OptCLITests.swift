import Foundation
import Testing

/// `graphc opt` through the binary: pass lists in, .gir out; unknown and failing passes named, exit 1.
@Suite struct OptCLITests {
    static let registered = [
        "freeze", "lora", "dora", "autodiff", "optimizer", "dce", "set-precision", "merge-adapters",
    ]

    @Test func runsTheTrainingPassesAndPrintsIRThatRoundTrips() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let gir = dir.appendingPathComponent("step.gir")
        let args = ["opt", "small_resnet", "--passes", "freeze,lora,autodiff,optimizer,dce", "--rank", "2"]
        let r = try CLI.run(args)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty)
        #expect(r.stdout.hasPrefix("graph \"small_resnet\" {"))
        #expect(r.stdout.contains("lora_A") && r.stdout.contains(" backward") && r.stdout.contains("adam_update"))
        // -o writes the same bytes; the file verifies and prints back unchanged with no passes.
        #expect(try CLI.run(args + ["-o", gir.path]).status == 0)
        #expect(try Data(contentsOf: gir) == r.stdoutData)
        #expect(try CLI.run(["verify", gir.path]).status == 0)
        #expect(try CLI.run(["opt", gir.path]).stdout == r.stdout)
        // The same step as analyze compiles (its --print-ir-after dce).
        let analyze = try CLI.run([
            "analyze", "small_resnet", "--method", "lora", "--rank", "2",
            "--print-ir-after", "dce", "--format", "json",
        ])
        #expect(analyze.stderr == "// IR after dce\n" + r.stdout + "\n")
    }

    @Test func readsGIRAndMergesAdaptersBack() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let forward = dir.appendingPathComponent("forward.gir"), adapted = dir.appendingPathComponent("adapted.gir")
        #expect(try CLI.run(["ir", "small_mobilenet", "-o", forward.path]).status == 0)
        let dora = try CLI.run([
            "opt", forward.path, "--passes", "dora", "--rank", "4", "--head", "frozen",
            "-o", adapted.path,
        ])
        #expect(dora.status == 0, "\(dora.stderr)")
        #expect(try String(contentsOf: adapted, encoding: .utf8).contains("dora_magnitude"))
        let merged = try CLI.run(["opt", adapted.path, "--passes", "merge-adapters"])
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(!merged.stdout.contains("dora_"))
        #expect(
            merged.stdout.split(separator: "\n").count
                == (try String(contentsOf: forward, encoding: .utf8)).split(separator: "\n").count)
    }

    @Test func unknownPassListsTheRegisteredOnes() throws {
        let r = try CLI.run(["opt", "small_resnet", "--passes", "freeze,inline"])
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.contains("no pass named 'inline'"), "\(r.stderr)")
        for name in Self.registered { #expect(r.stderr.contains(name), "\(name)") }
    }

    @Test func aFailingPassIsNamed() throws {
        let r = try CLI.run(["opt", "small_resnet", "--passes", "freeze,autodiff,merge-adapters"])
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.contains("pass 'merge-adapters' failed (after freeze, autodiff)"), "\(r.stderr)")
        #expect(r.stderr.contains("merge-training-graph"))
        let rank = try CLI.run(["opt", "small_resnet", "--passes", "lora", "--rank", "100"])
        #expect(rank.status == 1)
        #expect(rank.stderr.contains("pass 'lora' failed") && rank.stderr.contains("bad-rank"), "\(rank.stderr)")
    }

    @Test func printIRAfterShowsTheListedPasses() throws {
        let r = try CLI.run(["opt", "small_resnet", "--passes", "freeze,autodiff", "--print-ir-after", "freeze"])
        #expect(r.status == 0)
        #expect(r.stderr.hasPrefix("// IR after freeze\ngraph \"small_resnet\""))
        #expect(!r.stderr.contains("// IR after autodiff"))
    }

    @Test func helpAndListPassesShowTheRegistry() throws {
        let help = try CLI.run(["opt", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("Examples:") && help.stdout.contains("--passes"))
        #expect(help.stdout.contains("--rank") && help.stdout.contains("--release-grads"))
        let list = try CLI.run(["opt", "--list-passes"])
        #expect(list.status == 0)
        for name in Self.registered {
            #expect(help.stdout.contains("  \(name): "), "\(name)")
            #expect(list.stdout.contains("  \(name): "), "\(name)")
        }
        #expect(list.stdout.contains("never (graphc opt only)"))
        // Every command that runs passes accepts every registered name after --print-ir-after.
        let analyzeHelp = try CLI.run(["analyze", "--help"])
        #expect(analyzeHelp.stdout.contains("merge-adapters"))
    }

    @Test func aModelIsRequiredUnlessListing() throws {
        let r = try CLI.run(["opt", "--passes", "dce"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("<model>"))
    }
}
