// Seeded property tests of the memory planner over thousands of interval sets of every family: plans
// never overlap co-live tensors (checked pairwise, independently of the planner and of firstConflict),
// never beat the lower bound, are aligned and independent of input order; Naive is the sum of sizes; the fast path
// (bestFitLimit) changes nothing while conflicts are few; chain training graphs stay within 2%.
import GraphIR
import GraphTestSupport
import Testing

@testable import Passes

/// Checks every property a plan of `intervals` must have, whatever made it.
func expectValid(
    _ plan: MemoryPlan, of intervals: [LiveInterval], alignment: Int,
    sourceLocation: Testing.SourceLocation = #_sourceLocation
) {
    #expect(plan.placements.count == intervals.count, sourceLocation: sourceLocation)
    #expect(plan.placements.map(\.value) == intervals.map(\.value).sorted(), sourceLocation: sourceLocation)
    let offsets = intervals.map { plan.offset(of: $0.value) ?? -1 }
    var top = 0, sum = 0
    for (t, offset) in zip(intervals, offsets) {
        let size = MemoryPlanner.rounded(t.bytes, to: alignment)
        #expect(offset >= 0 && offset % alignment == 0, "unaligned \(offset)", sourceLocation: sourceLocation)
        if size == 0 { #expect(offset == 0, sourceLocation: sourceLocation) }
        top = max(top, offset + size)
        sum += size
    }
    if let (i, j) = pairwiseConflict(intervals, offsets, alignment: alignment) {
        Issue.record(
            "\(plan.strategy): \(intervals[i]) at \(offsets[i]) overlaps \(intervals[j]) at \(offsets[j])",
            sourceLocation: sourceLocation)
    }
    #expect(plan.firstConflict() == nil, sourceLocation: sourceLocation)
    #expect(plan.arenaBytes == top, sourceLocation: sourceLocation)
    #expect(plan.lowerBoundBytes == bruteLowerBound(intervals, alignment: alignment), sourceLocation: sourceLocation)
    #expect(plan.arenaBytes >= plan.lowerBoundBytes, sourceLocation: sourceLocation)
    #expect(plan.arenaBytes <= sum, sourceLocation: sourceLocation)
    #expect(plan.gapBytes == plan.arenaBytes - plan.lowerBoundBytes, sourceLocation: sourceLocation)
}

@Suite struct MemoryPlannerPropertyTests {
    static let casesPerFamily = 600
    static let alignments = [1, 8, 64, 256]

    /// Mostly small sets (n <= 40, all on the exact best-fit path), every 20th one up to 300 intervals.
    static func size(_ seed: Int, _ rng: inout SplitMix64) -> Int {
        seed % 20 == 0 ? Int.random(in: 41...300, using: &rng) : Int.random(in: 1...40, using: &rng)
    }

    @Test(arguments: IntervalFamily.allCases)
    func plansAreValid(_ family: IntervalFamily) {
        var worst = (ratio: 1.0, seed: -1)
        for seed in 0..<Self.casesPerFamily {
            var rng = SplitMix64(seed: UInt64(seed) << 8 | UInt64(IntervalFamily.allCases.firstIndex(of: family)!))
            let intervals = family.make(Self.size(seed, &rng), &rng)
            let alignment = Self.alignments[seed % Self.alignments.count]
            let greedy = MemoryPlanner.plan(intervals, alignment: alignment)
            expectValid(greedy, of: intervals, alignment: alignment)
            for strategy in [
                GreedyBySize(bestFitLimit: 0), GreedyBySize(bestFitLimit: 3), GreedyBySize(bestFitLimit: .max),
            ] {
                expectValid(
                    MemoryPlanner.plan(intervals, strategy: strategy, alignment: alignment),
                    of: intervals, alignment: alignment)
            }
            let naive = MemoryPlanner.plan(intervals, strategy: Naive(), alignment: alignment)
            expectValid(naive, of: intervals, alignment: alignment)
            #expect(naive.arenaBytes == intervals.reduce(0) { $0 + MemoryPlanner.rounded($1.bytes, to: alignment) })
            #expect(greedy.arenaBytes <= naive.arenaBytes)
            if greedy.lowerBoundBytes > 0 {
                let ratio = Double(greedy.arenaBytes) / Double(greedy.lowerBoundBytes)
                if ratio > worst.ratio { worst = (ratio, seed) }
            }
        }
        print("memory planner: \(family.rawValue): worst arena / lower bound \(worst.ratio) (seed \(worst.seed))")
    }

    @Test(arguments: IntervalFamily.allCases)
    func orderIndependent(_ family: IntervalFamily) {
        for seed in 0..<200 {
            var rng = SplitMix64(
                seed: UInt64(seed) << 8 | 0x80 | UInt64(IntervalFamily.allCases.firstIndex(of: family)!))
            let intervals = family.make(Self.size(seed, &rng), &rng)
            let plan = MemoryPlanner.plan(intervals)
            // The visiting order depends only on (size, first step, value id), not on input order.
            #expect(MemoryPlanner.plan(intervals.shuffled(using: &rng)) == plan)
        }
    }

    /// With at most bestFitLimit conflicts per tensor (65 tensors, limit 64), every search is direct.
    @Test(arguments: IntervalFamily.allCases)
    func fastPathUnusedWhenConflictsAreFew(_ family: IntervalFamily) {
        for seed in 0..<300 {
            var rng = SplitMix64(
                seed: UInt64(seed) << 8 | 0x40 | UInt64(IntervalFamily.allCases.firstIndex(of: family)!))
            let intervals = family.make(Int.random(in: 1...65, using: &rng), &rng)
            #expect(
                MemoryPlanner.plan(intervals, strategy: GreedyBySize(bestFitLimit: 64))
                    == MemoryPlanner.plan(intervals, strategy: GreedyBySize(bestFitLimit: .max)))
        }
    }

    /// firstConflict finds a conflict exactly when the pairwise check does, in plans broken on purpose.
    @Test(arguments: IntervalFamily.allCases)
    func firstConflictAgreesWithPairwiseCheck(_ family: IntervalFamily) {
        var found = 0
        for seed in 0..<300 {
            var rng = SplitMix64(
                seed: UInt64(seed) << 8 | 0xC0 | UInt64(IntervalFamily.allCases.firstIndex(of: family)!))
            let intervals = family.make(Int.random(in: 1...40, using: &rng), &rng)
            var plan = MemoryPlanner.plan(intervals, alignment: 1)
            let victim = Int.random(in: 0..<intervals.count, using: &rng)
            plan.placements[victim].offset = Int.random(in: 0...max(0, plan.arenaBytes), using: &rng)
            let conflict = plan.firstConflict()
            let pairwise = pairwiseConflict(
                plan.placements.map { LiveInterval(value: $0.value, bytes: $0.bytes, first: $0.first, last: $0.last) },
                plan.placements.map(\.offset), alignment: 1)
            #expect((conflict == nil) == (pairwise == nil))
            if let (p, q) = conflict {
                found += 1
                #expect(p.first <= q.last && q.first <= p.last && p.bytes > 0 && q.bytes > 0)
                #expect(p.offset < q.offset + q.bytes && q.offset < p.offset + p.bytes)
            }
        }
        #expect(found > 0 || family == .disjoint)
    }

    /// Reading coalesced blocks (path b) gives the same offsets as reading every conflict: whenever no
    /// tensor went on top unsearched, the plan equals TFLite's exact best fit.
    @Test(arguments: IntervalFamily.allCases)
    func blocksPathMatchesExactBestFit(_ family: IntervalFamily) {
        var total = GreedyBySize.PathCounts(), compared = 0
        for seed in 0..<300 {
            var rng = SplitMix64(
                seed: UInt64(seed) << 8 | 0x20 | UInt64(IntervalFamily.allCases.firstIndex(of: family)!))
            let intervals = family.make(Int.random(in: 1...120, using: &rng), &rng)
            let alignment = Self.alignments[seed % Self.alignments.count]
            let exact = GreedyBySize(bestFitLimit: .max).place(intervals, alignment: alignment)
            let (offsets, paths) = GreedyBySize(bestFitLimit: [1, 2, 4, 8][seed % 4])
                .placeCounting(intervals, alignment: alignment)
            total.direct += paths.direct
            total.blocks += paths.blocks
            total.stacked += paths.stacked
            if paths.stacked == 0 {
                #expect(offsets == exact, "seed \(seed)")
                compared += 1
            }
        }
        print("memory planner: \(family.rawValue): paths \(total), \(compared) sets compared with exact best fit")
        if family == .nested || family == .chain { #expect(total.blocks > 0 && compared > 0) }
    }

    /// Chain training graphs, nested activations and short gradients, stay within 2% of the bound from
    /// 30 layers on, whether sizes are equal within a stage or vary from layer to layer.
    @Test(arguments: [3, 10, 30, 100, 300, 1000])
    func chainTrainingWithinTwoPercent(_ layers: Int) {
        var worst = 1.0
        for seed in 0..<(layers >= 300 ? 4 : 20) {
            var rng = SplitMix64(seed: UInt64(layers * 1000 + seed))
            let intervals = chainTraining(layers: layers, jitter: seed % 2 == 1, &rng)
            let plan = MemoryPlanner.plan(intervals)
            if layers <= 300 {
                expectValid(plan, of: intervals, alignment: 64)
            } else {
                #expect(plan.firstConflict() == nil)
            }
            let ratio = Double(plan.arenaBytes) / Double(plan.lowerBoundBytes)
            // A handful of tensors leaves greedy little room: only realistic depths are held to 2%.
            #expect(ratio <= (layers >= 30 ? 1.02 : 1.05), "chain of \(layers) layers, seed \(seed): ratio \(ratio)")
            worst = max(worst, ratio)
        }
        print("memory planner: chain training, \(layers) layers: worst arena / lower bound \(worst)")
    }

    /// A long chain with stage-wise sizes reaches the bound; its backward gradients overlap thousands of
    /// saved activations but find their holes through coalesced blocks.
    @Test func longChainReachesTheBound() {
        var rng = SplitMix64(seed: 42)
        let intervals = chainTraining(layers: 20_000, jitter: false, &rng)
        let (_, paths) = GreedyBySize().placeCounting(intervals, alignment: 64)
        let plan = MemoryPlanner.plan(intervals)
        #expect(plan.firstConflict() == nil)
        #expect(plan.arenaBytes == plan.lowerBoundBytes)
        #expect(paths.blocks > 10_000)
    }

    /// With sizes jittered, a long chain's holes scatter and some tensors go on top unsearched: still valid.
    @Test func longJitteredChainIsValid() {
        var rng = SplitMix64(seed: 43)
        let intervals = chainTraining(layers: 5_000, &rng)
        let plan = MemoryPlanner.plan(intervals)
        #expect(plan.firstConflict() == nil)
        let (_, paths) = GreedyBySize().placeCounting(intervals, alignment: 64)
        print(
            "memory planner: jittered chain, 5000 layers: arena / lower bound \(Double(plan.arenaBytes) / Double(plan.lowerBoundBytes)), paths \(paths)"
        )
    }

    /// The skyline (range raise, range max, no recursion) agrees with a plain array on random operations.
    @Test func skylineMatchesAPlainArray() {
        var rng = SplitMix64(seed: 44)
        for _ in 0..<2_000 {
            let n = Int.random(in: 1...70, using: &rng)
            var skyline = Skyline(count: n), plain = Array(repeating: 0, count: n)
            for _ in 0..<40 {
                let l = Int.random(in: 0..<n, using: &rng), r = Int.random(in: l..<n, using: &rng)
                if Bool.random(using: &rng) {
                    let v = Int.random(in: 0...1_000, using: &rng)
                    skyline.raise(l, r, to: v)
                    for i in l...r { plain[i] = max(plain[i], v) }
                } else {
                    #expect(skyline.top(l, r) == plain[l...r].max()!)
                }
            }
        }
    }
}
