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
// Which of (a), (b) and (c) a tensor can take depends only on the intervals and the visiting order, not
// on offsets: a first sweep counts each tensor's k and its conflicts starting in (a, b], so the placing
// sweep knows in advance which tensors will read coalesced blocks, and at which step.
//
// Indexes (steps compressed to the sorted distinct endpoints, T <= 2n of them; overlap depends only on
// the order of endpoints, so compression changes nothing), in MemoryPlanner+Index.swift:
//  - Fenwick trees counting placed tensors by first and by last step: k = #(first <= b) - #(last < a)
//    (first sweep);
//  - a max tree over tensors in first-step order holding each placed tensor's last step: lists the
//    conflicts (first <= b, last >= a) or those starting in (a, b] in O((k + 1) log n);
//  - a stab index: a segment tree over steps storing each placed range at the O(log T) canonical nodes
//    of its interval, as sorted coalesced blocks per node (a node past L blocks stops being tracked);
//    the tensors live at step a are those on a root-to-leaf path. A node keeps ranges only until the
//    last visit that reads it (known from the first sweep): later ones would never be read;
//  - a skyline over steps (range chmax, range max) giving the top of the highest conflict in O(log T).
// Visiting order: a counting sort by size rank over the tensors in first-step order, then runs of equal
// size and first step sorted by value id. Steps are ranked through a table over their span when it is
// dense (a schedule's steps are), else by sorting.
// Complexity: O(n log n) to sort and index. Per tensor, the counts, skyline and max tree cost O(log n);
// a gap search reads at most L ranges, each found in O(log n), and sorts them; recording a range in the
// stab index touches O(log n) nodes, each a binary search and an insert into a list of at most L blocks.
// So O(n log n (log n + L)) in all, and O(n log^2 n) when block lists stay short, as in training graphs.
// Memory O(n log n) for the stab index, O(n) otherwise.
//
// Naive gives each tensor its own slot, back to back in input order: the no-reuse upper bound.
// The lower bound is a sweep over start and end events by step (starts before ends at one step, since
// intervals are inclusive): through per-step tables when steps are dense, O(n + span), else sorted,
// O(n log n).
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
        var result = Array(repeating: 0, count: intervals.count), paths = PathCounts()
        // The tensors that take space, numbered 0 ..< n ("items"); every array below is indexed by item.
        var items: [Int] = [], size: [Int] = []
        items.reserveCapacity(intervals.count)
        size.reserveCapacity(intervals.count)
        for (i, t) in intervals.enumerated() {
            let s = MemoryPlanner.rounded(t.bytes, to: alignment)
            if s > 0 {
                items.append(i)
                size.append(s)
            }
        }
        let n = items.count
        guard n > 0 else { return (result, paths) }
        precondition(2 * n < Int(Int32.max), "memory planner: too many tensors")

        let (lo, hi, stepCount) = compressedSteps(intervals, items)
        // Positions in first-step order (a counting sort): those with first <= b are 0 ..< startOf[b + 1].
        var startOf = Array(repeating: 0, count: stepCount + 1)
        for j in 0..<n { startOf[lo[j] + 1] += 1 }
        for c in 0..<stepCount { startOf[c + 1] += startOf[c] }
        var position = Array(repeating: 0, count: n), itemAt = position, fill = startOf
        for j in 0..<n {
            position[j] = fill[lo[j]]
            itemAt[position[j]] = j
            fill[lo[j]] += 1
        }
        let order = visitingOrder(size, lo, itemAt) { intervals[items[$0]].value.raw }

        // The path of step 3 a tensor can take depends only on the intervals and the visiting order, not on
        // offsets. A first sweep counts each tensor's conflicts (k) and those starting in (a, b], so that the
        // second knows which tensors will stab the block index, and where.
        var route = Array(repeating: Route.direct, count: n), probes: [(visit: Int, step: Int)] = []
        var byFirst = Fenwick(count: stepCount), byLast = Fenwick(count: stepCount)
        for (t, j) in order.enumerated() {
            let a = lo[j], b = hi[j]
            let firstAtMostB = byFirst.count(below: b + 1)
            if firstAtMostB - byLast.count(below: a) > bestFitLimit {
                let startsInside = firstAtMostB - byFirst.count(below: a + 1)
                if startsInside <= bestFitLimit {
                    route[t] = .blocks(startsInside: startsInside)
                    probes.append((t, a))
                } else {
                    route[t] = .stacked
                }
            }
            byFirst.add(a)
            byLast.add(b)
        }

        var offsets = Array(repeating: 0, count: n)
        var skyline = Skyline(count: stepCount)
        var lastIndex = MaxLastIndex(count: n)
        var stab = StabIndex(count: stepCount, cap: bestFitLimit, probes: probes)
        var found: [Int] = [], ranges: [Block] = []
        for (t, j) in order.enumerated() {
            let a = lo[j], b = hi[j], s = size[j]
            found.removeAll(keepingCapacity: true)
            ranges.removeAll(keepingCapacity: true)
            var offset: Int
            if case .direct = route[t] {
                lastIndex.collect(below: startOf[b + 1], lastAtLeast: a, into: &found)
                offset = bestFit(s, found, &ranges, offsets, size, itemAt)
                paths.direct += 1
            } else if case let .blocks(startsInside) = route[t],
                stab.collect(at: a, budget: bestFitLimit - startsInside, into: &ranges)
            {
                lastIndex.collect(from: startOf[a + 1], below: startOf[b + 1], lastAtLeast: a, into: &found)
                offset = bestFit(s, found, &ranges, offsets, size, itemAt)
                paths.blocks += 1
            } else {
                offset = skyline.top(a, b)
                paths.stacked += 1
            }
            offsets[j] = offset
            skyline.raise(a, b, to: offset + s)
            lastIndex.insert(at: position[j], last: b)
            stab.insert(a, b, Block(start: offset, end: offset + s), visit: t)
        }
        for j in 0..<n { result[items[j]] = offsets[j] }
        return (result, paths)
    }
}

/// The path of step 3 a tensor takes, as far as it is known before any offset is: (a) direct, (b) through
/// coalesced blocks if the tensors live at its first step form few enough of them, (c) stacked.
private enum Route {
    case direct
    case blocks(startsInside: Int)
    case stacked
}

/// The items' first and last steps as ranks among the distinct endpoints (`lo`, `hi`), and how many
/// distinct endpoints there are. Steps that span little more than the endpoints themselves (a schedule's
/// steps do) are ranked through a table over the span in O(n + span); others by sorting, O(n log n).
private func compressedSteps(_ intervals: [LiveInterval], _ items: [Int]) -> (lo: [Int], hi: [Int], count: Int) {
    var lo = Array(repeating: 0, count: items.count), hi = lo
    var least = Int.max, most = Int.min
    for i in items {
        least = min(least, intervals[i].first)
        most = max(most, intervals[i].last)
    }
    let (span, overflow) = most.subtractingReportingOverflow(least)
    if !overflow, span < 4 * items.count {
        // rank[x - least] = how many distinct endpoints are below x.
        var rank = Array(repeating: Int32(0), count: span + 2)
        for i in items {
            rank[intervals[i].first - least + 1] = 1
            rank[intervals[i].last - least + 1] = 1
        }
        for x in 0...span { rank[x + 1] += rank[x] }
        for (j, i) in items.enumerated() {
            lo[j] = Int(rank[intervals[i].first - least])
            hi[j] = Int(rank[intervals[i].last - least])
        }
        return (lo, hi, Int(rank[span + 1]))
    }
    var endpoints: [Int] = []
    endpoints.reserveCapacity(2 * items.count)
    for i in items {
        endpoints.append(intervals[i].first)
        endpoints.append(intervals[i].last)
    }
    let steps = distinctSorted(endpoints)
    for (j, i) in items.enumerated() {
        lo[j] = lowerBoundIndex(steps, intervals[i].first)
        hi[j] = lowerBoundIndex(steps, intervals[i].last)
    }
    return (lo, hi, steps.count)
}

/// The items in the order greedy visits them: by `size`, largest first; ties by earlier first step
/// (`lo`), then smaller value id. `itemAt` already lists the items by first step, so a counting sort by
/// size rank over it (stable) leaves only runs of equal size and first step to order by value id.
/// O(n log d) for d distinct sizes (O(n log n) past 64 of them), plus the runs' sorts.
private func visitingOrder(_ size: [Int], _ lo: [Int], _ itemAt: [Int], valueID: (Int) -> Int) -> [Int] {
    let n = size.count
    let sizes = distinctSizes(size)
    var bucket = Array(repeating: 0, count: n), fill = Array(repeating: 0, count: sizes.count + 1)
    for j in 0..<n {
        bucket[j] = sizes.count - 1 - lowerBoundIndex(sizes, size[j])
        fill[bucket[j] + 1] += 1
    }
    for r in 0..<sizes.count { fill[r + 1] += fill[r] }
    var order = Array(repeating: 0, count: n)
    for j in itemAt {
        order[fill[bucket[j]]] = j
        fill[bucket[j]] += 1
    }
    var run = 0
    for p in 1...n where p == n || bucket[order[p]] != bucket[order[run]] || lo[order[p]] != lo[order[run]] {
        if p - run > 1 {
            order[run..<p].sort { (valueID($0), $0) < (valueID($1), $1) }
        }
        run = p
    }
    return order
}

/// The distinct elements of `sizes`, ascending. Tensors come in few distinct sizes, as a rule: while
/// there are at most 64, they are kept sorted as they come (O(n log 64)); past that, all are sorted.
private func distinctSizes(_ sizes: [Int]) -> [Int] {
    var distinct: [Int] = []
    for s in sizes {
        let i = lowerBoundIndex(distinct, s)
        if i < distinct.count, distinct[i] == s { continue }
        if distinct.count == 64 { return distinctSorted(sizes) }
        distinct.insert(s, at: i)
    }
    return distinct
}

/// TFLite's gap search over the conflicts' byte ranges: `ranges` plus those of the items at `found`
/// positions. Walking up by start, the smallest gap that holds `s` (lowest on ties), else the top.
private func bestFit(
    _ s: Int, _ found: [Int], _ ranges: inout [Block], _ offsets: [Int], _ size: [Int],
    _ itemAt: [Int]
) -> Int {
    for p in found {
        let c = itemAt[p]
        ranges.append(Block(start: offsets[c], end: offsets[c] + size[c]))
    }
    sortByStart(&ranges)
    var current = 0, best = -1, bestGap = Int.max
    for r in ranges {
        if r.start >= current, r.start - current >= s, r.start - current < bestGap {
            (best, bestGap) = (current, r.start - current)
        }
        current = max(current, r.end)
    }
    return best >= 0 ? best : current
}

/// Sorts `ranges` by start, then end. A gap search reads a few dozen ranges at most, as a rule: they are
/// sorted by insertion in place, and only longer lists by the library's sort.
private func sortByStart(_ ranges: inout [Block]) {
    func before(_ x: Block, _ y: Block) -> Bool { x.start != y.start ? x.start < y.start : x.end < y.end }
    guard ranges.count <= 32 else { return ranges.sort(by: before) }
    ranges.withUnsafeMutableBufferPointer { ranges in
        for i in ranges.indices.dropFirst() {
            let x = ranges[i]
            var j = i
            while j > 0, before(x, ranges[j - 1]) {
                ranges[j] = ranges[j - 1]
                j -= 1
            }
            ranges[j] = x
        }
    }
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
    /// Steps that span little more than the intervals (a schedule's steps do) are swept through a table
    /// of bytes starting and ending at each step, O(n + span); others as sorted start and end events.
    public static func lowerBound(_ intervals: [LiveInterval], alignment: Int = 64) -> Int {
        var least = Int.max, most = Int.min
        for t in intervals {
            least = min(least, t.first)
            most = max(most, t.last)
        }
        let (span, overflow) = most.subtractingReportingOverflow(least)
        guard !overflow, span < 4 * intervals.count else { return sortedLowerBound(intervals, alignment: alignment) }
        var starting = Array(repeating: 0, count: span + 1), ending = starting
        for t in intervals {
            let bytes = rounded(t.bytes, to: alignment)
            starting[t.first - least] += bytes
            ending[t.last - least] += bytes
        }
        // Intervals are inclusive: at one step, the starts count before the ends.
        var live = 0, peak = 0
        for step in 0...span {
            live += starting[step]
            peak = max(peak, live)
            live -= ending[step]
        }
        return peak
    }

    /// `lowerBound` for sparse steps: start and end events sorted by step.
    private static func sortedLowerBound(_ intervals: [LiveInterval], alignment: Int) -> Int {
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
    public static func plan(
        _ intervals: [LiveInterval], strategy: some PlacementStrategy = GreedyBySize(),
        alignment: Int = 64
    ) -> MemoryPlan {
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
        let plan = MemoryPlan(
            placements: placements, arenaBytes: arena,
            lowerBoundBytes: lowerBound(intervals, alignment: alignment),
            alignment: alignment, strategy: strategy.name)
        assert(plan.firstConflict() == nil, "\(strategy.name) placed two co-live tensors on common bytes")
        return plan
    }
}
