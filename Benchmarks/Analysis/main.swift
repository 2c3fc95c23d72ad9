// Times the training-graph analyses (FlopReport + Liveness + MemoryPlanner.plan) in a release build.
// Not a package target; run Benchmarks/Analysis/run.sh, which builds GraphIR, Passes and Zoo in release
// and links this file.   usage: analysis-bench [model ...]   (default: resnet18 resnet50 mobilenet_v2)
import GraphIR
import Passes
import Zoo

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }

func time(_ label: String, _ graph: Graph) {
    let clock = ContinuousClock()
    var best = Duration.seconds(1000)
    var report: TrainingReport?
    for _ in 0 ..< 5 {
        let t = clock.measure { report = TrainingReport(graph) }
        best = min(best, t)
    }
    let m = report!.memory
    let ms = (seconds(best) * 100_000).rounded() / 100
    let size = "\(graph.nodes.count) nodes, \(graph.values.count) values"
    let memory = "peak \(m.peakBytes) arena \(m.arenaBytes) bound \(m.lowerBoundBytes)"
    print("\(label): \(size): \(ms) ms (best of 5); \(memory)")
}

let args = Array(CommandLine.arguments.dropFirst())
for model in args.isEmpty ? ["resnet18", "resnet50", "mobilenet_v2"] : args {
    let forward = try Zoo.compile(model, overrides: ModelOverrides(input: [3, 224, 224], classes: 10, batch: 1)).graph
    let config = TrainingConfig(method: .fft)
    let graph = try PassPipeline([Freeze(config), Autodiff(), OptimizerPass(config), DeadCodeElimination()]).run(forward)
    time("\(model) fft adam b1", graph)
}

var b = GraphBuilder(name: "chain")
var x = b.input("input", .f32([1, 64]))
for i in 0 ..< 100_000 { x = try b.node(i % 2 == 0 ? .relu : .scale(0.5), [x], name: "n\(i)")[0] }
b.output(x)
time("chain", b.graph)
