// A static memory plan as plain data: every tensor's offset in one arena, with the no-fragmentation
// lower bound beside it. The planner (Passes) produces it and an executor reads it; neither depends on
// the other, only on this file.
//
// `firstConflict()` re-checks a plan independently of how it was made, in O(n log n): a sweep over
// schedule steps keeps, for every elementary memory segment, how many live placements cover it (a
// segment tree with range add and range max); a placement that starts where the count is already
// positive overlaps a live one.

/// One tensor's lifetime: `bytes` live from schedule step `first` through `last`, inclusive.
public struct LiveInterval: Sendable, Hashable {
    public var value: ValueID
    public var bytes: Int
    public var first: Int
    public var last: Int

    public init(value: ValueID, bytes: Int, first: Int, last: Int) {
        self.value = value
        self.bytes = bytes
        self.first = first
        self.last = last
    }
}

/// Where each tensor lives in one arena, how big the arena is, and how far it is from the lower bound.
public struct MemoryPlan: Sendable, Hashable {
    /// One tensor's bytes at `offset ..< offset + bytes`, live over steps `first ... last`.
    public struct Placement: Sendable, Hashable {
        public var value: ValueID
        public var offset: Int
        public var bytes: Int
        public var first: Int
        public var last: Int

        public init(value: ValueID, offset: Int, bytes: Int, first: Int, last: Int) {
            self.value = value
            self.offset = offset
            self.bytes = bytes
            self.first = first
            self.last = last
        }
    }

    /// Placements sorted by value id; `bytes` is the tensor's own size, not rounded to `alignment`.
    public var placements: [Placement]
    /// Bytes the arena needs: the highest offset + size rounded up to `alignment`.
    public var arenaBytes: Int
    /// The maximum over steps of the bytes live at that step (sizes rounded up to `alignment`).
    public var lowerBoundBytes: Int
    /// Every offset and every rounded size is a multiple of this.
    public var alignment: Int
    /// The name of the placement strategy that made the plan.
    public var strategy: String

    public init(placements: [Placement], arenaBytes: Int, lowerBoundBytes: Int, alignment: Int, strategy: String) {
        self.placements = placements
        self.arenaBytes = arenaBytes
        self.lowerBoundBytes = lowerBoundBytes
        self.alignment = alignment
        self.strategy = strategy
    }

    /// Bytes lost to fragmentation: arena minus lower bound.
    public var gapBytes: Int { arenaBytes - lowerBoundBytes }

    /// The offset of `value`, or nil if the plan does not place it.
    public func offset(of value: ValueID) -> Int? {
        var lo = 0, hi = placements.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if placements[mid].value < value { lo = mid + 1 } else { hi = mid }
        }
        return lo < placements.count && placements[lo].value == value ? placements[lo].offset : nil
    }

    /// The first pair of placements live at a common step whose bytes overlap, or nil if the plan is valid.
    /// "First" is in sweep order: the pair found at the earliest step, the earlier-starting one first.
    /// Zero-byte placements never conflict.
    public func firstConflict() -> (Placement, Placement)? {
        let live = placements.filter { $0.bytes > 0 }
        guard live.count > 1 else { return nil }
        var cuts = live.flatMap { [$0.offset, $0.offset + $0.bytes] }
        cuts.sort()
        cuts = cuts.enumerated().filter { $0.offset == 0 || cuts[$0.offset - 1] != $0.element }.map(\.element)
        // Segment j is cuts[j] ..< cuts[j+1]; placement p covers segments index(p.offset) ..< index(p.end).
        func index(_ x: Int) -> Int {
            var lo = 0, hi = cuts.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if cuts[mid] < x { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        // Events (step, isEnd, index): at one step, starts come before ends since intervals are inclusive.
        var events: [(step: Int, isEnd: Bool, index: Int)] = []
        events.reserveCapacity(2 * live.count)
        for (i, p) in live.enumerated() {
            events.append((p.first, false, i))
            events.append((p.last, true, i))
        }
        events.sort { ($0.step, $0.isEnd ? 1 : 0, $0.index) < ($1.step, $1.isEnd ? 1 : 0, $1.index) }
        var cover = CoverCounts(segments: cuts.count - 1)
        for e in events {
            let p = live[e.index]
            let lo = index(p.offset), hi = index(p.offset + p.bytes) - 1
            if e.isEnd {
                cover.add(lo, hi, -1)
                continue
            }
            if cover.max(lo, hi) > 0 {
                // Some placement that started before p and is still live overlaps it; find it directly.
                let q = live.enumerated().first { j, q in
                    (q.first, j) < (p.first, e.index) && q.last >= p.first
                        && q.offset < p.offset + p.bytes && p.offset < q.offset + q.bytes
                }!.element
                return (q, p)
            }
            cover.add(lo, hi, 1)
        }
        return nil
    }
}

/// How many placements cover each memory segment: range add, range max (lazy tags kept in place).
private struct CoverCounts {
    private var size = 1
    private var peak: [Int]  // max over the node's range, including the node's own tag
    private var tag: [Int]  // added to the node's whole range

    init(segments: Int) {
        while size < segments { size <<= 1 }
        peak = Array(repeating: 0, count: 2 * size)
        tag = peak
    }

    mutating func add(_ l: Int, _ r: Int, _ v: Int) { add(1, 0, size - 1, l, r, v) }
    func max(_ l: Int, _ r: Int) -> Int { max(1, 0, size - 1, l, r) }

    private mutating func add(_ node: Int, _ nl: Int, _ nr: Int, _ l: Int, _ r: Int, _ v: Int) {
        if r < nl || nr < l { return }
        if l <= nl && nr <= r {
            tag[node] += v
            peak[node] += v
            return
        }
        let mid = (nl + nr) / 2
        add(2 * node, nl, mid, l, r, v)
        add(2 * node + 1, mid + 1, nr, l, r, v)
        peak[node] = tag[node] + Swift.max(peak[2 * node], peak[2 * node + 1])
    }

    private func max(_ node: Int, _ nl: Int, _ nr: Int, _ l: Int, _ r: Int) -> Int {
        if r < nl || nr < l { return Int.min }
        if l <= nl && nr <= r { return peak[node] }
        let mid = (nl + nr) / 2
        return tag[node] + Swift.max(max(2 * node, nl, mid, l, r), max(2 * node + 1, mid + 1, nr, l, r))
    }
}
