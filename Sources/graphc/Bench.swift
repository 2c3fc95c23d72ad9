import ArgumentParser
import Foundation
import Frontend
import GraphIR
import Passes
import Viz

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time graphc's own work: the front end, DOT export and the training compiler.",
        discussion: """
            Reports the median of several runs per task, and for synthetic chains of growing length the \
            time per node, so that linear scaling is visible. The training chain is timed whole (every \
            pass verified, then the analyses) and pass by pass. Build in release mode to measure \
            (scripts/bench does); results are recorded in BENCHMARKS.md.

            Examples:
              scripts/bench --repeats 5
              graphc bench --filter "train chain" --chain 100000
            """
    )

    @Option(help: "Runs per measurement (the median is reported).")
    var repeats: Int = 9

    @Option(help: "Largest synthetic chain, in nodes.")
    var chain: Int = 100_000

    @Option(help: "Run only the tasks whose name contains this text (e.g. 'train chain', 'resnet50').")
    var filter: String?

    func validate() throws {
        if repeats < 1 { throw ValidationError("--repeats must be at least 1") }
        if chain < 1_000 { throw ValidationError("--chain must be at least 1000") }
    }

    func run() throws {
        try reportingErrors {
            #if DEBUG
                printError("graphc bench: this is a debug build; build with -c release to measure.")
            #endif
            var table = TextTable(headers: ["Task", "Nodes", "Median", "Per node"], rightAligned: [1, 2, 3])
            func add(_ task: String, nodes: Int, _ body: () throws -> Void) rethrows {
                if let filter, !task.contains(filter) { return }
                let t = try median(repeats, body)
                table.rows.append([task, NumberFormat.grouped(nodes), format(t), format(t / Double(max(nodes, 1)))])
            }
            for name in ["resnet18", "resnet50", "mobilenet_v2", "efficientnet_b0"] where Zoo.source(named: name) != nil
            {
                let graph = try Zoo.compile(name).graph
                let text = IRPrinter.print(graph)
                try add("compile \(name)", nodes: graph.nodes.count) { _ = try Zoo.compile(name) }
                add("verify \(name)", nodes: graph.nodes.count) { _ = Verifier.verify(graph) }
                add("print IR \(name)", nodes: graph.nodes.count) { _ = IRPrinter.print(graph) }
                try add("parse IR \(name)", nodes: graph.nodes.count) {
                    _ = try IRParser.parse(Array(text.utf8), file: name)
                }
                add("DOT export \(name)", nodes: graph.nodes.count) { _ = DotExport.dot(graph) }
            }
            // The training compiler: freeze → autodiff → Adam → dce, then FLOPs + liveness + plan.
            var adam = TrainingConfig(method: .fft)
            adam.optimizer = .adam
            for name in ["resnet18", "resnet50", "mobilenet_v2"] where Zoo.source(named: name) != nil {
                let forward = try Zoo.compile(name).graph
                let step = try TrainingCompiler.compile(forward, config: adam)
                try add("train step \(name) (compile)", nodes: step.nodes.count) {
                    _ = try TrainingCompiler.compile(forward, config: adam)
                }
                add("train step \(name) (analyse)", nodes: step.nodes.count) { _ = TrainingReport(step) }
                try add("train step \(name) (both)", nodes: step.nodes.count) {
                    _ = TrainingReport(try TrainingCompiler.compile(forward, config: adam))
                }
            }
            var n = chain / 100
            while n <= chain {
                let graph = try Self.chain(n)
                try add("build chain", nodes: n) { _ = try Self.chain(n) }
                add("verify chain", nodes: n) { _ = Verifier.verify(graph) }
                try add("print+parse chain", nodes: n) {
                    _ = try IRParser.parse(Array(IRPrinter.print(graph).utf8), file: "chain")
                }
                let step = try TrainingCompiler.compile(graph, config: adam)
                try add("train chain (compile)", nodes: n) { _ = try TrainingCompiler.compile(graph, config: adam) }
                try add("train chain (compile+analyse)", nodes: n) {
                    _ = TrainingReport(try TrainingCompiler.compile(graph, config: adam))
                }
                add("train chain (analyse \(NumberFormat.grouped(step.nodes.count)) nodes)", nodes: n) {
                    _ = TrainingReport(step)
                }
                var g = graph
                for pass in TrainingCompiler.passes(for: adam) {
                    let input = g
                    try add("  pass \(pass.name)", nodes: n) { _ = try pass.run(input) }
                    g = try pass.run(input)
                    let output = g
                    add("  verify after \(pass.name)", nodes: n) { _ = Verifier.verify(output) }
                }
                n *= 10
            }
            printOut(table.render(), terminator: "")
        }
    }

    /// A conv → BN → ReLU → add chain of about `nodes` forward nodes on a small tensor, ending in a
    /// linear classifier.
    static func chain(_ nodes: Int) throws -> Graph {
        var b = GraphBuilder(name: "chain")
        var x = b.input("input", .f32([1, 8, 4, 4]))
        var i = 0
        while b.graph.nodes.count + 7 <= nodes {
            let y = try b.conv2d(x, out: 8, kernel: Pair(3), padding: Pair(1), name: "c\(i)")
            let z = try b.batchNorm(y, name: "n\(i)")
            let r = try b.apply(.relu, z, name: "r\(i)")
            x = try b.apply(.add, r, x, name: "a\(i)")
            i += 1
        }
        let pooled = try b.apply(.adaptiveAvgPool2d(output: Pair(1)), x, name: "pool")
        let flat = try b.apply(.flatten(startDim: 1), pooled, name: "flatten")
        b.output(try b.linear(flat, out: 10, name: "fc"))
        return b.graph
    }

    private func median(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
        var times: [Double] = []
        for _ in 0..<runs {
            let start = ContinuousClock.now
            try body()
            let d = ContinuousClock.now - start
            times.append(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
        }
        return times.sorted()[runs / 2]
    }

    private func format(_ seconds: Double) -> String {
        if seconds >= 1 { return NumberFormat.fixed(seconds, decimals: 2) + " s" }
        if seconds >= 1e-3 { return NumberFormat.fixed(seconds * 1e3, decimals: 2) + " ms" }
        if seconds >= 1e-6 { return NumberFormat.fixed(seconds * 1e6, decimals: 2) + " µs" }
        return NumberFormat.fixed(seconds * 1e9, decimals: 0) + " ns"
    }
}
