// Static memory planning: give every tensor an offset in one arena so that two tensors live at a common
// schedule step never share a byte, and report how far the arena is from the lower bound.
//
// Input: one `LiveInterval` per tensor: its size and the schedule steps [first, last] (inclusive) from
// its definition to its last use. Preconditions: first <= last, bytes >= 0, alignment > 0, value ids
// distinct. Sizes are rounded up to a multiple of `alignment` before placing, and the lower bound uses
// the same rounded sizes, so `arenaBytes >= lowerBoundBytes` always holds and the gap is pure
// fragmentation. Zero-byte tensors get offset 0 and occupy nothing.
//
// GreedyBySize (TFLite's ArenaPlanner, XLA's GlobalDecreasingSizeBestFitHeap):
//  1. Visit the tensors by rounded size, largest first; ties by earlier first step, then smaller value id.
//  2. Tensor t of size s over [a, b] conflicts with the placed tensors whose intervals overlap [a, b].
//     Best fit: take the conflicts' byte ranges sorted by start and walk up from offset 0, keeping
//     `current` = the highest end so far; a range starting at or above `current` leaves the gap
//     current ..< its start. t goes into the smallest gap that holds s (the lowest on ties), else on top
//     of the highest conflict (current at the end). This is exactly TFLite's best fit.
//  3. A gap search reads at most L = bestFitLimit (256) ranges, by the first of these that applies:
//     a. k <= L conflicts (k counted exactly): read the k conflicts themselves.
//     b. The conflicts are those live at step a plus those starting in (a, b]. If at most L start in
//        (a, b], and the tensors live at a form at most L - that many coalesced blocks (adjacent ranges
//        merged), read those blocks and ranges instead. The union of bytes is the same as in (a), so the
//        result is too. Stacked tensors (nested activations) coalesce into few blocks, so this covers
//        the short tensors of a backward pass that overlap many saved activations.
//     c. Otherwise place t on top of the highest conflict, without a gap search. This is the only
//        departure from TFLite's result; `bestFitLimit: .max` never takes it.
//     L = 256 keeps training graphs of a few thousand tensors at exact best fit even when sizes vary
//     from layer to layer; deeper ones whose freed holes are scattered fall back to (c) more often.
//
// Indexes (steps compressed to the sorted distinct endpoints, T <= 2n of them; overlap depends only on
// the order of endpoints, so compression changes nothing), in MemoryPlanner+Index.swift:
//  - Fenwick trees counting placed tensors by first and by last step: k = #(first <= b) - #(last < a);
//  - a max tree over tensors in first-step order holding each placed tensor's last step: lists the
//    conflicts (first <= b, last >= a) or those starting in (a, b] in O((k + 1) log n);
//  - a stab index: a segment tree over steps storing each placed range at the O(log T) canonical nodes
//    of its interval, as sorted coalesced blocks per node (a node past L blocks stops being tracked);
//    the tensors live at step a are those on a root-to-leaf path;
//  - a skyline over steps (range chmax, range max) giving the top of the highest conflict in O(log T).
// Complexity: O(n log n) to sort and index. Per tensor, the counts, skyline and max tree cost O(log n);
// a gap search reads at most L ranges, each found in O(log n), and sorts them; recording a range in the
// stab index touches O(log n) nodes, each a binary search and an insert into a list of at most L blocks.
// So O(n log n (log n + L)) in all, and O(n log^2 n) when block lists stay short, as in training graphs.
// Memory O(n log n) for the stab index, O(n) otherwise.
//
// Naive gives each tensor its own slot, back to back in input order: the no-reuse upper bound.
// The lower bound is a sweep over start and end events sorted by step (starts before ends at one step,
// since intervals are inclusive): O(n log n).
import GraphIR

/// Chooses arena offsets for live intervals; the planner wraps its answer in a `MemoryPlan`.
public protocol PlacementStrategy {
    /// The strategy's name, recorded in the plan.
    var name: String { get }
    /// One offset per interval, in the same order; offsets must be multiples of `alignment`, and tensors
    /// live at a common step must not overlap when sizes are rounded up to `alignment`.
    func place(_ intervals: [LiveInterval], alignment: Int) -> [Int]
}

/// Greedy by size with best-fit offsets; gap searches read at most `bestFitLimit` ranges.
public struct GreedyBySize: PlacementStrategy {
    /// The most byte ranges a gap search reads; a tensor whose conflicts need more goes on top of them.
    public var bestFitLimit: Int
    public var name: String { "greedy-by-size" }

    /// A greedy planner; `bestFitLimit: .max` gives TFLite's exact best fit, O(n^2 log n) worst case.
    public init(bestFitLimit: Int = 256) {
        self.bestFitLimit = bestFitLimit
    }

    public func place(_ intervals: [LiveInterval], alignment: Int) -> [Int] {
        placeCounting(intervals, alignment: alignment).offsets
    }

    /// How many tensors took each path of step 3: conflicts read directly, through coalesced blocks, or
    /// none (placed on top).
    struct PathCounts: Equatable {
        var direct = 0, blocks = 0, stacked = 0
    }

    /// The offsets, and how many tensors took each path of step 3.
    func placeCounting(_ intervals: [LiveInterval], alignment: Int) -> (offsets: [Int], paths: PathCounts) {
        var offsets = Array(repeating: 0, count: intervals.count), paths = PathCounts()
        let size = intervals.map { MemoryPlanner.rounded($0.bytes, to: alignment) }
        let items = intervals.indices.filter { size[$0] > 0 }
        guard !items.isEmpty else { return (offsets, paths) }

        var endpoints: [Int] = []
        endpoints.reserveCapacity(2 * items.count)
        for i in items { endpoints += CollectionOfOne(intervals[i].first); endpoints += CollectionOfOne(intervals[i].last) }
        let steps = distinctSorted(endpoints)
        var lo = Array(repeating: 0, count: intervals.count), hi = lo
        for i in items {
            lo[i] = lowerBoundIndex(steps, intervals[i].first)
            hi[i] = lowerBoundIndex(steps, intervals[i].last)
        }
        // Positions in first-step order (a counting sort): those with first <= b are 0 ..< startOf[b + 1].
        var startOf = Array(repeating: 0, count: steps.count + 1)
        for i in items { startOf[lo[i] + 1] += 1 }
        for c in 0..<steps.count { startOf[c + 1] += startOf[c] }
        var position = lo, itemAt = Array(repeating: 0, count: items.count), fill = startOf
        for i in items {
            position[i] = fill[lo[i]]
            itemAt[position[i]] = i
            fill[lo[i]] += 1
        }

        let order = items.sorted {
            (-size[$0], intervals[$0].first, intervals[$0].value.raw)
                < (-size[$1], intervals[$1].first, intervals[$1].value.raw)
        }
        var byFirst = Fenwick(count: steps.count), byLast = Fenwick(count: steps.count)
        var skyline = Skyline(count: steps.count)
        var lastIndex = MaxLastIndex(count: items.count)
        var stab = StabIndex(count: steps.count, cap: bestFitLimit)
        var found: [Int] = [], ranges: [Block] = []
        for i in order {
            let a = lo[i], b = hi[i], s = size[i]
            let k = byFirst.count(below: b + 1) - byLast.count(below: a)
            found.removeAll(keepingCapacity: true)
            ranges.removeAll(keepingCapacity: true)
            var offset: Int
            if k <= bestFitLimit {
                lastIndex.collect(below: startOf[b + 1], lastAtLeast: a, into: &found)
                offset = bestFit(s, found, &ranges, offsets, size, itemAt)
                paths.direct += 1
            } else if case let startsInside = byFirst.count(below: b + 1) - byFirst.count(below: a + 1),
                      startsInside <= bestFitLimit,
                      stab.collect(at: a, budget: bestFitLimit - startsInside, into: &ranges) {
                lastIndex.collect(from: startOf[a + 1], below: startOf[b + 1], lastAtLeast: a, into: &found)
                offset = bestFit(s, found, &ranges, offsets, size, itemAt)
                paths.blocks += 1
            } else {
                offset = skyline.top(a, b)
                paths.stacked += 1
            }
            offsets[i] = offset
            byFirst.add(a)
            byLast.add(b)
            skyline.raise(a, b, to: offset + s)
            lastIndex.insert(at: position[i], last: b)
            stab.insert(a, b, Block(start: offset, end: offset + s))
        }
        return (offsets, paths)
    }
}

/// TFLite's gap search over the conflicts' byte ranges: `ranges` plus those of the tensors at `found`
/// positions. Walking up by start, the smallest gap that holds `s` (lowest on ties), else the top.
private func bestFit(_ s: Int, _ found: [Int], _ ranges: inout [Block], _ offsets: [Int], _ size: [Int],
                     _ itemAt: [Int]) -> Int {
    for p in found {
        let c = itemAt[p]
        ranges.append(Block(start: offsets[c], end: offsets[c] + size[c]))
    }
    ranges.sort { ($0.start, $0.end) < ($1.start, $1.end) }
    var current = 0, best = -1, bestGap = Int.max
    for r in ranges {
        if r.start >= current, r.start - current >= s, r.start - current < bestGap {
            (best, bestGap) = (current, r.start - current)
        }
        current = max(current, r.end)
    }
    return best >= 0 ? best : current
}

/// Every tensor in its own slot, back to back in input order: the arena is the sum of rounded sizes.
public struct Naive: PlacementStrategy {
    public var name: String { "naive" }

    public init() {}

    public func place(_ intervals: [LiveInterval], alignment: Int) -> [Int] {
        var top = 0
        return intervals.map {
            let s = MemoryPlanner.rounded($0.bytes, to: alignment)
            defer { top += s }
            return s == 0 ? 0 : top
        }
    }
}

/// Plans memory for live intervals and computes the no-fragmentation lower bound.
public enum MemoryPlanner {
    /// `bytes` rounded up to a multiple of `alignment`.
    public static func rounded(_ bytes: Int, to alignment: Int) -> Int {
        (bytes + alignment - 1) / alignment * alignment
    }

    /// The maximum over steps of the bytes live at that step, sizes rounded up to `alignment`.
    public static func lowerBound(_ intervals: [LiveInterval], alignment: Int = 64) -> Int {
        let starts = intervals.map { ($0.first, rounded($0.bytes, to: alignment)) }.sorted { $0.0 < $1.0 }
        let ends = intervals.map { ($0.last, rounded($0.bytes, to: alignment)) }.sorted { $0.0 < $1.0 }
        var live = 0, peak = 0, j = 0
        for (step, bytes) in starts {
            while ends[j].0 < step {
                live -= ends[j].1
                j += 1
            }
            live += bytes
            peak = max(peak, live)
        }
        return peak
    }

    /// Places `intervals` with `strategy` and returns the plan, its arena size and lower bound.
    public static func plan(_ intervals: [LiveInterval], strategy: some PlacementStrategy = GreedyBySize(),
                            alignment: Int = 64) -> MemoryPlan {
        precondition(alignment > 0, "alignment must be positive")
        precondition(intervals.allSatisfy { $0.bytes >= 0 && $0.first <= $0.last }, "malformed live interval")
        let offsets = strategy.place(intervals, alignment: alignment)
        precondition(offsets.count == intervals.count, "\(strategy.name) returned \(offsets.count) offsets")
        var arena = 0
        var placements: [MemoryPlan.Placement] = []
        placements.reserveCapacity(intervals.count)
        for (t, offset) in zip(intervals, offsets) {
            precondition(offset >= 0 && offset % alignment == 0, "\(strategy.name): unaligned offset \(offset)")
            arena = max(arena, offset + rounded(t.bytes, to: alignment))
            placements.append(.init(value: t.value, offset: offset, bytes: t.bytes, first: t.first, last: t.last))
        }
        placements.sort { $0.value < $1.value }
        let plan = MemoryPlan(placements: placements, arenaBytes: arena,
                              lowerBoundBytes: lowerBound(intervals, alignment: alignment),
                              alignment: alignment, strategy: strategy.name)
        assert(plan.firstConflict() == nil, "\(strategy.name) placed two co-live tensors on common bytes")
        return plan
    }
}
