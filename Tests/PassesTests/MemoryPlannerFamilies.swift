// Families of live-interval sets for the memory planner's property tests, and checkers that share no
// code with the planner: an O(n^2) pairwise overlap check and a per-step lower bound.
import GraphIR
import GraphTestSupport
import Passes

/// Shapes of interval sets, from adversarial to training-graph-like.
enum IntervalFamily: String, CaseIterable, Sendable {
    case random, nested, chain, disjoint, overlapping, equalSizes, mixedWithZeros

    /// A set of about `n` intervals of this shape.
    func make(_ n: Int, _ rng: inout SplitMix64) -> [LiveInterval] {
        func size(_ rng: inout SplitMix64) -> Int { Int.random(in: 1...4096, using: &rng) }
        var out: [LiveInterval] = []
        func add(_ bytes: Int, _ first: Int, _ last: Int) {
            out.append(LiveInterval(value: ValueID(out.count), bytes: bytes, first: first, last: last))
        }
        switch self {
        case .random:
            for _ in 0..<n {
                let first = Int.random(in: 0..<2 * n, using: &rng)
                add(size(&rng), first, first + Int.random(in: 0...n / 2, using: &rng))
            }
        case .nested:
            for i in 0..<n { add(size(&rng), i, 2 * n - i) }
        case .chain:
            out = chainTraining(layers: max(2, n / 3), &rng)
        case .disjoint:
            for i in 0..<n { add(size(&rng), 3 * i, 3 * i + Int.random(in: 0...2, using: &rng)) }
        case .overlapping:
            for _ in 0..<n {
                add(size(&rng), Int.random(in: 0...10, using: &rng), Int.random(in: 10...20, using: &rng))
            }
        case .equalSizes:
            for _ in 0..<n {
                let first = Int.random(in: 0..<n, using: &rng)
                add(1000, first, first + Int.random(in: 0...n / 3, using: &rng))
            }
        case .mixedWithZeros:
            for _ in 0..<n {
                let first = Int.random(in: 0..<n, using: &rng)
                let bytes = Int.random(in: 0..<4, using: &rng) == 0 ? 0 : 1 << Int.random(in: 0...20, using: &rng)
                add(
                    bytes + Int.random(in: 0...bytes / 2, using: &rng), first,
                    first + Int.random(in: 0...n / 2, using: &rng))
            }
        }
        return out
    }
}

/// The intervals of a chain of `layers` layers trained with backpropagation, scheduled forward then
/// backward. Forward step i computes activation a_i, kept until the backward of layer i + 1 (nested
/// intervals); backward step 2L-1-i computes the input gradient of layer i (used by the next backward
/// step) and its weight gradient (consumed by the update at once). Sizes are CNN-like: four stages,
/// each with activations half the size of the one before, weight gradients growing. With `jitter`,
/// every size varies by up to 10%, so activations of a stage are no longer placed in step order.
func chainTraining(layers n: Int, jitter jittered: Bool = true, _ rng: inout SplitMix64) -> [LiveInterval] {
    var out: [LiveInterval] = []
    func add(_ bytes: Int, _ first: Int, _ last: Int) {
        out.append(LiveInterval(value: ValueID(out.count), bytes: bytes, first: first, last: last))
    }
    func jitter(_ x: Int, _ rng: inout SplitMix64) -> Int {
        jittered ? x + Int.random(in: -x / 10...x / 10, using: &rng) : x
    }
    for i in 0..<n {
        let stage = 4 * i / n
        add(jitter(1 << (22 - stage), &rng), i, max(i + 1, 2 * n - 2 - i))  // activation a_i
    }
    for i in 0..<n {
        let stage = 4 * i / n, step = 2 * n - 1 - i
        if i > 0 { add(jitter(1 << (22 - stage), &rng), step, step + 1) }  // gradient wrt a_(i-1)
        add(jitter(1 << (14 + 2 * stage), &rng), step, step)  // weight gradient
    }
    return out
}

/// The first pair of intervals live at a common step whose rounded byte ranges overlap, checked pairwise.
func pairwiseConflict(_ intervals: [LiveInterval], _ offsets: [Int], alignment: Int) -> (Int, Int)? {
    for i in intervals.indices {
        let a = intervals[i], sa = MemoryPlanner.rounded(a.bytes, to: alignment)
        guard sa > 0 else { continue }
        for j in intervals.indices where j > i {
            let b = intervals[j], sb = MemoryPlanner.rounded(b.bytes, to: alignment)
            if sb > 0 && a.first <= b.last && b.first <= a.last
                && offsets[i] < offsets[j] + sb && offsets[j] < offsets[i] + sa
            {
                return (i, j)
            }
        }
    }
    return nil
}

/// The lower bound by brute force: the rounded bytes live at each step that starts an interval.
func bruteLowerBound(_ intervals: [LiveInterval], alignment: Int) -> Int {
    intervals.map { t in
        intervals.filter { $0.first <= t.first && t.first <= $0.last }
            .reduce(0) { $0 + MemoryPlanner.rounded($1.bytes, to: alignment) }
    }.max() ?? 0
}
