// The indexes behind GreedyBySize (see MemoryPlanner.swift): all over compressed schedule steps or over
// tensors in first-step order, all O(log n) per update and query.

/// Counts of placed tensors by a step index (a Fenwick tree).
struct Fenwick {
    private var tree: [Int]

    init(count: Int) { tree = Array(repeating: 0, count: count + 1) }

    mutating func add(_ index: Int) {
        var i = index + 1
        while i < tree.count {
            tree[i] += 1
            i += i & -i
        }
    }

    /// How many were added at indices `0 ..< end`.
    func count(below end: Int) -> Int {
        var i = min(end, tree.count - 1), sum = 0
        while i > 0 {
            sum += tree[i]
            i -= i & -i
        }
        return sum
    }
}

/// The highest top (offset + size) in use at each step: range chmax update, range max query.
/// `top[node]` is the maximum over the node's range including raises applied to the whole node
/// (`whole[node]`), which are not pushed down; a query adds them back from the ancestors.
/// Both operations work bottom-up without recursion: a range's canonical nodes are visited from the
/// leaves, and the nodes that partly overlap it are exactly the ancestors of its two end leaves.
struct Skyline {
    private var size = 1
    private var top: [Int]
    private var whole: [Int]

    init(count: Int) {
        while size < count { size <<= 1 }
        top = Array(repeating: 0, count: 2 * size)
        whole = top
    }

    /// Raises steps `l ... r` to at least `v`.
    mutating func raise(_ l: Int, _ r: Int, to v: Int) {
        var a = l + size, b = r + size + 1
        while a < b {
            if a & 1 == 1 {
                top[a] = max(top[a], v)
                whole[a] = max(whole[a], v)
                a += 1
            }
            if b & 1 == 1 {
                b -= 1
                top[b] = max(top[b], v)
                whole[b] = max(whole[b], v)
            }
            a >>= 1
            b >>= 1
        }
        // Every node that partly overlaps l ... r is an ancestor of leaf l or leaf r. (Raising the
        // ancestors that lie inside the range too keeps `top` exact: the raise covers them.)
        var i = (l + size) >> 1
        while i >= 1 {
            top[i] = max(top[i], v)
            i >>= 1
        }
        i = (r + size) >> 1
        while i >= 1 {
            top[i] = max(top[i], v)
            i >>= 1
        }
    }

    /// The highest top over steps `l ... r` (0 when nothing is placed there).
    func top(_ l: Int, _ r: Int) -> Int {
        var result = 0
        var a = l + size, b = r + size + 1
        while a < b {
            if a & 1 == 1 {
                result = max(result, top[a])
                a += 1
            }
            if b & 1 == 1 {
                b -= 1
                result = max(result, top[b])
            }
            a >>= 1
            b >>= 1
        }
        // Raises applied to a whole ancestor of a canonical node: those ancestors all contain l or r.
        var i = (l + size) >> 1
        while i >= 1 {
            result = max(result, whole[i])
            i >>= 1
        }
        i = (r + size) >> 1
        while i >= 1 {
            result = max(result, whole[i])
            i >>= 1
        }
        return result
    }
}

/// Placed tensors by position in first-step order, each holding its last step; a node holds the
/// maximum last step below it (Int.min where nothing is placed).
struct MaxLastIndex {
    private var size = 1
    private var maxLast: [Int]

    init(count: Int) {
        while size < count { size <<= 1 }
        maxLast = Array(repeating: Int.min, count: 2 * size)
    }

    mutating func insert(at position: Int, last: Int) {
        var i = position + size
        while i >= 1 {
            maxLast[i] = max(maxLast[i], last)
            i >>= 1
        }
    }

    /// Appends the positions in `start ..< end` of placed tensors whose last step is `>= a`, in order.
    func collect(from start: Int = 0, below end: Int, lastAtLeast a: Int, into out: inout [Int]) {
        collect(1, 0, size - 1, start, end, a, &out)
    }

    private func collect(_ node: Int, _ nl: Int, _ nr: Int, _ start: Int, _ end: Int, _ a: Int,
                         _ out: inout [Int]) {
        if nl >= end || nr < start || maxLast[node] < a { return }
        if nl == nr {
            out.append(nl)
            return
        }
        let mid = (nl + nr) / 2
        collect(2 * node, nl, mid, start, end, a, &out)
        collect(2 * node + 1, mid + 1, nr, start, end, a, &out)
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
    var lo = 0, hi = xs.count
    while lo < hi {
        let mid = (lo + hi) / 2
        if xs[mid] < x { lo = mid + 1 } else { hi = mid }
    }
    return lo
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
struct StabIndex {
    private var size = 1
    private var blocks: [[Block]]
    private var dense: [Bool]
    private let cap: Int

    init(count: Int, cap: Int) {
        while size < count { size <<= 1 }
        blocks = Array(repeating: [], count: 2 * size)
        dense = Array(repeating: false, count: 2 * size)
        self.cap = cap
    }

    /// Records `range` as occupied over steps `l ... r`.
    mutating func insert(_ l: Int, _ r: Int, _ range: Block) {
        var l = l + size, r = r + size + 1
        while l < r {
            if l & 1 == 1 { add(l, range); l += 1 }
            if r & 1 == 1 { r -= 1; add(r, range) }
            l >>= 1
            r >>= 1
        }
    }

    /// Appends the blocks occupied at step `t`, unless there are more than `budget` of them: then
    /// appends nothing and returns false.
    func collect(at t: Int, budget: Int, into out: inout [Block]) -> Bool {
        var i = t + size, total = 0
        while i >= 1 {
            if dense[i] { return false }
            total += blocks[i].count
            i >>= 1
        }
        guard total <= budget else { return false }
        i = t + size
        while i >= 1 {
            out += blocks[i]
            i >>= 1
        }
        return true
    }

    private mutating func add(_ node: Int, _ range: Block) {
        if dense[node] { return }
        var lo = 0, hi = blocks[node].count  // the first block starting after range.start
        while lo < hi {
            let mid = (lo + hi) / 2
            if blocks[node][mid].start <= range.start { lo = mid + 1 } else { hi = mid }
        }
        let joinsLeft = lo > 0 && blocks[node][lo - 1].end == range.start
        let joinsRight = lo < blocks[node].count && blocks[node][lo].start == range.end
        switch (joinsLeft, joinsRight) {
        case (true, true):
            blocks[node][lo - 1].end = blocks[node][lo].end
            blocks[node].remove(at: lo)
        case (true, false): blocks[node][lo - 1].end = range.end
        case (false, true): blocks[node][lo].start = range.start
        case (false, false): blocks[node].insert(range, at: lo)
        }
        if blocks[node].count > cap {
            dense[node] = true
            blocks[node] = []
        }
    }
}
