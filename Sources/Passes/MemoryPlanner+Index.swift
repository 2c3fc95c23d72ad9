// The indexes behind GreedyBySize (see MemoryPlanner.swift): all over compressed schedule steps or over
// tensors in first-step order, all O(log n) per update and query.
//
// They are flat arrays of plain integers, read and written through unsafe buffers in their loops: a
// planner of a few hundred thousand tensors makes millions of updates, so what matters is touching
// few cache lines per update and allocating nothing per tensor. Counts and compressed steps are
// `Int32` (the planner checks that tensors and steps fit); byte offsets stay `Int`.

/// Counts of placed tensors by a step index (a Fenwick tree).
struct Fenwick {
    private var tree: [Int32]

    init(count: Int) { tree = Array(repeating: 0, count: count + 1) }

    mutating func add(_ index: Int) {
        tree.withUnsafeMutableBufferPointer { tree in
            var i = index + 1
            while i < tree.count {
                tree[i] += 1
                i += i & -i
            }
        }
    }

    /// How many were added at indices `0 ..< end`.
    func count(below end: Int) -> Int {
        tree.withUnsafeBufferPointer { tree in
            var i = min(end, tree.count - 1), sum = 0
            while i > 0 {
                sum += Int(tree[i])
                i -= i & -i
            }
            return sum
        }
    }
}

/// The highest top (offset + size) in use at each step: range chmax update, range max query.
/// `top` of a node is the maximum over the node's range including raises applied to the whole node
/// (`whole`), which are not pushed down; a query adds them back from the ancestors.
/// Both operations work bottom-up without recursion: a range's canonical nodes are visited from the
/// leaves, and the nodes that partly overlap it are exactly the ancestors of its two end leaves. A
/// node's two fields sit side by side, so each node visited is one cache line.
struct Skyline {
    private struct Node {
        var top = 0
        var whole = 0
    }

    private var size = 1
    private var nodes: [Node]

    init(count: Int) {
        while size < count { size <<= 1 }
        nodes = Array(repeating: Node(), count: 2 * size)
    }

    /// Raises steps `l ... r` to at least `v`.
    mutating func raise(_ l: Int, _ r: Int, to v: Int) {
        let size = size
        nodes.withUnsafeMutableBufferPointer { nodes in
            var a = l + size, b = r + size + 1
            while a < b {
                if a & 1 == 1 {
                    nodes[a].top = max(nodes[a].top, v)
                    nodes[a].whole = max(nodes[a].whole, v)
                    a += 1
                }
                if b & 1 == 1 {
                    b -= 1
                    nodes[b].top = max(nodes[b].top, v)
                    nodes[b].whole = max(nodes[b].whole, v)
                }
                a >>= 1
                b >>= 1
            }
            // Every node that partly overlaps l ... r is an ancestor of leaf l or leaf r. (Raising the
            // ancestors that lie inside the range too keeps `top` exact: the raise covers them.) The two
            // paths meet at the leaves' lowest common ancestor and go up together from there.
            var i = (l + size) >> 1, j = (r + size) >> 1
            while i != j {
                nodes[i].top = max(nodes[i].top, v)
                nodes[j].top = max(nodes[j].top, v)
                i >>= 1
                j >>= 1
            }
            while i >= 1 {
                nodes[i].top = max(nodes[i].top, v)
                i >>= 1
            }
        }
    }

    /// The highest top over steps `l ... r` (0 when nothing is placed there).
    func top(_ l: Int, _ r: Int) -> Int {
        let size = size
        return nodes.withUnsafeBufferPointer { nodes in
            var result = 0
            var a = l + size, b = r + size + 1
            while a < b {
                if a & 1 == 1 {
                    result = max(result, nodes[a].top)
                    a += 1
                }
                if b & 1 == 1 {
                    b -= 1
                    result = max(result, nodes[b].top)
                }
                a >>= 1
                b >>= 1
            }
            // Raises applied to a whole ancestor of a canonical node: those ancestors all contain l or r.
            var i = (l + size) >> 1, j = (r + size) >> 1
            while i != j {
                result = max(result, nodes[i].whole, nodes[j].whole)
                i >>= 1
                j >>= 1
            }
            while i >= 1 {
                result = max(result, nodes[i].whole)
                i >>= 1
            }
            return result
        }
    }
}

/// Placed tensors by position in first-step order, each holding its last step; a node holds the
/// maximum last step below it (`Int32.min` where nothing is placed).
struct MaxLastIndex {
    private var size = 1
    private var maxLast: [Int32]

    init(count: Int) {
        while size < count { size <<= 1 }
        maxLast = Array(repeating: Int32.min, count: 2 * size)
    }

    mutating func insert(at position: Int, last: Int) {
        let last = Int32(last)
        maxLast.withUnsafeMutableBufferPointer { maxLast in
            // Ancestors hold at least what their descendants hold: stop at the first that needs nothing.
            var i = position + size
            while i >= 1, maxLast[i] < last {
                maxLast[i] = last
                i >>= 1
            }
        }
    }

    /// Appends the positions in `start ..< end` of placed tensors whose last step is `>= a`, in order.
    /// The range's canonical nodes are found bottom-up, and only those holding a match are descended.
    func collect(from start: Int = 0, below end: Int, lastAtLeast a: Int, into out: inout [Int]) {
        let a = Int32(a), size = size
        maxLast.withUnsafeBufferPointer { maxLast in
            func descend(_ node: Int) {
                if node >= size { return out.append(node - size) }
                if maxLast[2 * node] >= a { descend(2 * node) }
                if maxLast[2 * node + 1] >= a { descend(2 * node + 1) }
            }
            // The right-hand canonical nodes come up in reverse order: kept until the left ones are done.
            withUnsafeTemporaryAllocation(of: Int.self, capacity: Int.bitWidth) { right in
                var l = start + size, r = end + size, pending = 0
                while l < r {
                    if l & 1 == 1 {
                        if maxLast[l] >= a { descend(l) }
                        l += 1
                    }
                    if r & 1 == 1 {
                        r -= 1
                        if maxLast[r] >= a { right[pending] = r; pending += 1 }
                    }
                    l >>= 1
                    r >>= 1
                }
                while pending > 0 {
                    pending -= 1
                    descend(right[pending])
                }
            }
        }
    }
}

/// The distinct elements of `xs`, ascending.
func distinctSorted(_ xs: [Int]) -> [Int] {
    var out: [Int] = []
    out.reserveCapacity(xs.count)
    for x in xs.sorted() where out.last != x { out.append(x) }
    return out
}

/// The index of the first element of sorted `xs` that is `>= x`.
func lowerBoundIndex(_ xs: [Int], _ x: Int) -> Int {
    xs.withUnsafeBufferPointer { xs in
        var lo = 0, hi = xs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if xs[mid] < x { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

/// A byte range `start ..< end` in the arena.
struct Block {
    var start: Int
    var end: Int
}

/// Placed tensors' byte ranges, stored at the canonical nodes of their step intervals (a segment tree
/// over steps), so the tensors live at step t are those stored on the path from the root to leaf t.
/// Tensors stored at one node are live together, hence disjoint; each node keeps their union as sorted,
/// coalesced blocks, which stays short when tensors stack (nested activations form one block). A node
/// whose block list grows past `cap` stops being tracked (`dense`) and makes stabbing it fail.
///
/// Storage: every node's blocks are one contiguous run of `pool` with room for a power of two of them
/// (at least 2); a run that fills up moves to the end of the pool with twice the room, and its old
/// place is left unused. The pool holds at most twice the blocks ever stored, and nothing is allocated
/// per node.
struct StabIndex {
    /// Where a node's blocks start in `pool`, how many it has (`dense`: -1), and the last visit that
    /// stabs the node (-1: none).
    private struct Slot {
        var first: Int32 = 0
        var count: Int32 = 0
        var lastProbe: Int32 = -1
    }

    private static let dense: Int32 = -1
    private var size = 1
    private var slots: [Slot]
    private var pool: [Block] = []
    private let cap: Int

    /// An empty index over `count` steps; `probes` lists, by increasing visit, the steps that `collect`
    /// will be asked about. Ranges recorded after a node's last probe are never read, so they are not kept.
    init(count: Int, cap: Int, probes: [(visit: Int, step: Int)]) {
        while size < count { size <<= 1 }
        slots = Array(repeating: Slot(), count: 2 * size)
        // Latest probes first: a node already marked has its ancestors marked, by a later visit.
        for (visit, step) in probes.reversed() {
            var i = step + size
            while i >= 1, slots[i].lastProbe < 0 {
                slots[i].lastProbe = Int32(visit)
                i >>= 1
            }
        }
        // Room for a few blocks per step up front: pages the pool never reaches are never touched,
        // while growing by doubling would copy it and touch twice the memory.
        pool.reserveCapacity(8 * count)
        self.cap = cap
    }

    /// Records `range` as occupied over steps `l ... r` by the tensor placed at `visit`.
    mutating func insert(_ l: Int, _ r: Int, _ range: Block, visit: Int) {
        var l = l + size, r = r + size + 1
        while l < r {
            if l & 1 == 1 { add(l, range, visit); l += 1 }
            if r & 1 == 1 { r -= 1; add(r, range, visit) }
            l >>= 1
            r >>= 1
        }
    }

    /// Appends the blocks occupied at step `t`, unless there are more than `budget` of them: then
    /// appends nothing and returns false.
    func collect(at t: Int, budget: Int, into out: inout [Block]) -> Bool {
        slots.withUnsafeBufferPointer { slots in
            var i = t + size, total = 0
            while i >= 1 {
                if slots[i].count == Self.dense { return false }
                total += Int(slots[i].count)
                i >>= 1
            }
            guard total <= budget else { return false }
            out.reserveCapacity(out.count + total)
            // From the root down: blocks recorded higher up belong to longer-lived tensors, placed earlier
            // and lower in the arena as a rule, so they come out nearly sorted for the gap search.
            pool.withUnsafeBufferPointer { pool in
                var shift = size.trailingZeroBitCount
                while shift >= 0 {
                    let node = (t + size) >> shift, first = Int(slots[node].first)
                    for j in first..<first + Int(slots[node].count) { out.append(pool[j]) }
                    shift -= 1
                }
            }
            return true
        }
    }

    /// The blocks a run of `count` blocks has room for.
    private static func room(_ count: Int) -> Int {
        count <= 2 ? 2 : 1 << (Int.bitWidth - (count - 1).leadingZeroBitCount)
    }

    private mutating func add(_ node: Int, _ range: Block, _ visit: Int) {
        var slot = slots[node]
        if slot.count == Self.dense || slot.lastProbe <= visit { return }
        var count = Int(slot.count)
        // Join the blocks that end at range.start or start at range.end; otherwise find where it goes.
        let insertAt: Int? = pool.withUnsafeMutableBufferPointer { pool in
            let first = Int(slot.first)
            let blocks = UnsafeMutableBufferPointer(rebasing: pool[first..<first + count])
            var lo = 0, hi = count  // the first block starting after range.start
            while lo < hi {
                let mid = (lo + hi) / 2
                if blocks[mid].start <= range.start { lo = mid + 1 } else { hi = mid }
            }
            let joinsLeft = lo > 0 && blocks[lo - 1].end == range.start
            let joinsRight = lo < count && blocks[lo].start == range.end
            switch (joinsLeft, joinsRight) {
            case (true, true):
                blocks[lo - 1].end = blocks[lo].end
                for j in lo..<count - 1 { blocks[j] = blocks[j + 1] }
                count -= 1
            case (true, false): blocks[lo - 1].end = range.end
            case (false, true): blocks[lo].start = range.start
            case (false, false): return lo
            }
            return nil
        }
        if let lo = insertAt {
            if count == 0 || count == Self.room(count) {
                // No run yet, or a full one: move to the end of the pool with twice the room.
                let first = Int(slot.first), room = Self.room(count + 1)
                precondition(pool.count + room <= Int32.max, "memory planner: too many blocks")
                slot.first = Int32(pool.count)
                for j in 0..<count { pool.append(pool[first + j]) }
                pool.append(contentsOf: repeatElement(Block(start: 0, end: 0), count: room - count))
            }
            pool.withUnsafeMutableBufferPointer { pool in
                let first = Int(slot.first)
                var j = first + count
                while j > first + lo {
                    pool[j] = pool[j - 1]
                    j -= 1
                }
                pool[first + lo] = range
            }
            count += 1
        }
        slot.count = count > cap ? Self.dense : Int32(count)
        slots[node] = slot
    }
}
