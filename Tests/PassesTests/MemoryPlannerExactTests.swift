// Small memory plans computed by hand: offsets, arena and lower bound, including a case where best fit
// beats first fit, one where greedy cannot reach the bound, and the MemoryPlan queries.
import GraphIR
import Passes
import Testing

/// Intervals from (bytes, first, last) triples, value ids 0, 1, 2, ...
func intervals(_ specs: [(Int, Int, Int)]) -> [LiveInterval] {
    specs.enumerated().map {
        LiveInterval(value: ValueID($0.offset), bytes: $0.element.0, first: $0.element.1, last: $0.element.2)
    }
}

/// Offsets in value-id order.
func offsets(_ plan: MemoryPlan) -> [Int] { plan.placements.map(\.offset) }

@Suite struct MemoryPlannerExactTests {
    /// Live at different steps: everything shares offset 0; sizes round up to 64.
    @Test func disjointShareOffsetZero() {
        let plan = MemoryPlanner.plan(intervals([(100, 0, 0), (200, 1, 1), (50, 2, 2)]))
        #expect(offsets(plan) == [0, 0, 0])
        #expect(plan.arenaBytes == 256 && plan.lowerBoundBytes == 256 && plan.gapBytes == 0)
        #expect(plan.strategy == "greedy-by-size" && plan.alignment == 64)
    }

    /// All live at step 1: the largest goes first, then equal sizes by first step (value 2 before 0).
    @Test func overlappingStackBySizeThenFirstStep() {
        let plan = MemoryPlanner.plan(intervals([(64, 1, 2), (100, 0, 3), (10, 0, 1)]))
        #expect(offsets(plan) == [192, 0, 128])
        #expect(plan.arenaBytes == 256 && plan.lowerBoundBytes == 256)
    }

    /// Ending at step 1 and starting at step 1 are live together (intervals are inclusive).
    @Test func touchingIntervalsConflict() {
        let plan = MemoryPlanner.plan(intervals([(64, 0, 1), (64, 1, 2), (64, 2, 3)]))
        #expect(offsets(plan) == [0, 64, 0])
        #expect(plan.arenaBytes == 128 && plan.lowerBoundBytes == 128)
    }

    /// Zero-byte tensors sit at offset 0 and count for nothing; the rest plan as if they were absent.
    @Test func zeroByteTensors() {
        let plan = MemoryPlanner.plan(intervals([(0, 0, 5), (64, 0, 5), (0, 2, 2), (64, 1, 1)]))
        #expect(offsets(plan) == [0, 0, 0, 64])
        #expect(plan.arenaBytes == 128 && plan.lowerBoundBytes == 128)
        #expect(MemoryPlanner.plan([]).arenaBytes == 0)
        #expect(MemoryPlanner.plan(intervals([(0, 0, 0)])).arenaBytes == 0)
    }

    /// Best fit 23 bytes (the lower bound), first fit 26. Order: v1(7), v2(6), v4, v5, v3 (5, by first
    /// step), v0(3). v1 -> 0, v2 -> 7, v4 -> 13, v5 -> 18. v3 over [4,7] meets v2 (7..<13) and v5
    /// (18..<23), leaving gaps 0..<7 and 13..<18: best fit takes the exact 13; first fit would take 0.
    /// v0 over [3,5] meets v2, v3, v4, v5: with v3 at 13 the gap 0..<7 holds it; with v3 at 0 only
    /// 5..<7 is left, too small, and v0 would go on top at 23.
    @Test func bestFitBeatsFirstFit() {
        let set = intervals([(3, 3, 5), (7, 1, 2), (6, 2, 4), (5, 4, 7), (5, 0, 3), (5, 1, 4)])
        let plan = MemoryPlanner.plan(set, alignment: 1)
        #expect(offsets(plan) == [0, 0, 7, 13, 13, 18])
        #expect(plan.arenaBytes == 23 && plan.lowerBoundBytes == 23)
        // With the fast path everywhere (no gap search at all) everything stacks: v3 at 23, v0 at 28.
        let stacked = MemoryPlanner.plan(set, strategy: GreedyBySize(bestFitLimit: 0), alignment: 1)
        #expect(offsets(stacked) == [28, 0, 7, 23, 13, 18])
        #expect(stacked.arenaBytes == 31)
    }

    /// Greedy is not optimal: v0 -> 0, v3 -> 0, v2 over v0 -> 2, v1 meets v3 (0..<2) and v2 (2..<3) -> 3,
    /// arena 4; the bound is 3 (steps 0 and 2), reached by v3 at 1, v1 at 0, v2 at 2.
    @Test func greedyLeavesAGap() {
        let plan = MemoryPlanner.plan(intervals([(2, 0, 0), (1, 1, 2), (1, 0, 1), (2, 2, 4)]), alignment: 1)
        #expect(offsets(plan) == [0, 3, 2, 0])
        #expect(plan.arenaBytes == 4 && plan.lowerBoundBytes == 3 && plan.gapBytes == 1)
    }

    /// Naive stacks in input order; zero-byte tensors stay at 0.
    @Test func naiveStacksInInputOrder() {
        let plan = MemoryPlanner.plan(intervals([(100, 0, 0), (0, 0, 9), (1, 5, 5), (64, 1, 1)]), strategy: Naive())
        #expect(offsets(plan) == [0, 0, 128, 192])
        #expect(plan.arenaBytes == 256 && plan.lowerBoundBytes == 128 && plan.strategy == "naive")
    }

    @Test func lowerBoundRoundsSizes() {
        let set = intervals([(1, 0, 2), (65, 1, 1), (1, 2, 3)])
        #expect(MemoryPlanner.lowerBound(set, alignment: 1) == 66)
        #expect(MemoryPlanner.lowerBound(set, alignment: 64) == 192)
        #expect(MemoryPlanner.lowerBound([], alignment: 64) == 0)
    }

    @Test func offsetOfAndFirstConflict() {
        var plan = MemoryPlanner.plan(
            [
                LiveInterval(value: ValueID(7), bytes: 64, first: 0, last: 1),
                LiveInterval(value: ValueID(3), bytes: 64, first: 1, last: 2),
                LiveInterval(value: ValueID(5), bytes: 64, first: 3, last: 3),
            ])
        #expect(plan.placements.map(\.value) == [ValueID(3), ValueID(5), ValueID(7)])
        #expect(plan.offset(of: ValueID(7)) == 0 && plan.offset(of: ValueID(3)) == 64)
        #expect(plan.offset(of: ValueID(5)) == 0 && plan.offset(of: ValueID(4)) == nil)
        #expect(plan.firstConflict() == nil)
        plan.placements[2].offset = 32  // %7 now overlaps %3 at step 1
        let conflict = plan.firstConflict()
        #expect(conflict?.0.value == ValueID(7) && conflict?.1.value == ValueID(3))
    }
}
