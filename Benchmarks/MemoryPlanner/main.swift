// Times MemoryPlanner.plan on chain training graphs in a release build. Not a package target; run
// Benchmarks/MemoryPlanner/run.sh, which builds GraphIR and Passes in release and links this file.
//   usage: bench <layers> <uniform|stages|jitter> [bestFitLimit]
// A chain of L layers gives 3L - 1 intervals: activations a_i over [i, 2L-2-i] (nested), the input
// gradient of each layer over two backward steps, and each weight gradient over one step.
import GraphIR
import Passes

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

let args = CommandLine.arguments
let n = Int(args[1])!, shape = args[2]
let strategy = args.count > 3 ? GreedyBySize(bestFitLimit: Int(args[3])!) : GreedyBySize()
var rng = SplitMix64(state: 1)
func bytes(_ base: Int, _ stage: Int, _ shift: Int) -> Int {
    switch shape {
    case "uniform": return 1 << 20
    case "stages": return (base << shift) >> stage
    default:
        let x = (base << shift) >> stage
        return x + Int.random(in: -x / 10...x / 10, using: &rng)
    }
}
var intervals: [LiveInterval] = []
func add(_ b: Int, _ first: Int, _ last: Int) {
    intervals.append(LiveInterval(value: ValueID(intervals.count), bytes: b, first: first, last: last))
}
for i in 0..<n { add(bytes(1 << 22, 4 * i / n, 0), i, max(i + 1, 2 * n - 2 - i)) }
for i in 0..<n {
    let stage = 4 * i / n, step = 2 * n - 1 - i
    if i > 0 { add(bytes(1 << 22, stage, 0), step, step + 1) }
    add(bytes(1 << 14, 0, 2 * stage), step, step)
}
let clock = ContinuousClock()
var plan: MemoryPlan?
var best = Duration.seconds(1000)
for _ in 0..<3 {
    let t = clock.measure { plan = MemoryPlanner.plan(intervals, strategy: strategy) }
    best = min(best, t)
}
let s = Double(best.components.seconds) + Double(best.components.attoseconds) * 1e-18
let ratio = Double(plan!.arenaBytes) / Double(plan!.lowerBoundBytes)
print("layers \(n) intervals \(intervals.count) shape \(shape) limit \(strategy.bestFitLimit): \(s) s (best of 3), arena/bound \(ratio)")
