// Splitting kernel work over the cores.
//
// `DispatchQueue.concurrentPerform` pays off only for chunks of about 100 µs or more (PLATFORM.md:
// 0.5x at 1.3 µs, 1.6x at 130 µs), so work is split only when each chunk gets at least
// `Parallel.minChunkWork` units (one unit ≈ one simple floating-point operation, about 0.3–1 ns): below
// that everything runs on the calling thread. OpenBLAS runs single-threaded (Kernels+Linear.swift):
// GEMMs are split here, over a conv's images or a large product's rows, never nested in a chunk.
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

enum Parallel {
    /// Work units (≈ flops) a chunk should have before a split pays: ~200k is ~100 µs of simple loops.
    static let minChunkWork = 200_000

    /// Cores this process may use: `ExecutorThreads.limit` when set, else every online processor.
    static var cores: Int { ExecutorThreads.limit ?? System.cores }

    /// Runs `body(range)` over `0..<count` in contiguous chunks, in parallel when `count * unitWork`
    /// gives every chunk at least `minChunkWork`. Chunks are disjoint; `body` must only write what its
    /// range owns.
    static func forEach(_ count: Int, unitWork: Int, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let total = count.multipliedReportingOverflow(by: max(unitWork, 1))
        let byWork = total.overflow ? cores : total.partialValue / minChunkWork
        let chunks = min(cores, count, max(1, byWork))
        if chunks == 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = count * c / chunks, hi = count * (c + 1) / chunks
                box.value(lo..<hi)
            }
        }
    }
}

extension Parallel {
    /// Runs `body(lane, range)` for `lanes` contiguous chunks of `0..<count` (lane k gets
    /// `count·k/lanes ..< count·(k+1)/lanes`), in parallel when `lanes > 1`. For kernels that give each
    /// lane its own scratch (conv's column matrices); `body` must only write what its lane owns.
    static func lanes(_ count: Int, _ lanes: Int, _ body: (Int, Range<Int>) -> Void) {
        guard count > 0 else { return }
        let lanes = max(1, min(lanes, count))
        if lanes == 1 {
            body(0, 0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: lanes) { c in
                box.value(c, (count * c / lanes)..<(count * (c + 1) / lanes))
            }
        }
    }
}

extension Parallel {
    /// Runs `body(lane, item)` for every item of `0..<count` on `lanes` threads, each taking the next
    /// item when it is done with one (so a lane whose core is taken by another process leaves its
    /// share to the others). Which lane runs an item varies from run to run: `body`'s result for an
    /// item must not depend on the lane, only its scratch may.
    static func dynamicLanes(_ count: Int, _ lanes: Int, _ body: (Int, Int) -> Void) {
        guard count > 0 else { return }
        let lanes = max(1, min(lanes, count))
        if lanes == 1 {
            for item in 0..<count { body(0, item) }
            return
        }
        let next = Atomic<Int>(0)
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: lanes) { lane in
                while true {
                    let item = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if item >= count { break }
                    box.value(lane, item)
                }
            }
        }
    }
}

/// Carries a value into `concurrentPerform`'s `@Sendable` closure: kernels hand disjoint ranges of
/// raw memory to each chunk, which Swift cannot prove.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// The processor count, read once (no Foundation in the executor).
enum System {
    static let activeProcessorCount = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    static let cores = max(1, activeProcessorCount)
}
