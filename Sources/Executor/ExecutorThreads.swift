// How many threads the kernels use: the executor's own splits (`Parallel.forEach`) and OpenBLAS's GEMM
// threads. Set once, before running anything (graphc train --threads); unset, both use every core.
import COpenBLAS

public enum ExecutorThreads {
    /// The limit in effect (nil: every online processor).
    nonisolated(unsafe) public private(set) static var limit: Int?

    /// Runs the kernels on at most `n` threads (n ≥ 1), OpenBLAS included. Not thread-safe: call it
    /// before any run.
    public static func setLimit(_ n: Int) {
        precondition(n >= 1, "ExecutorThreads: \(n) threads")
        limit = n
        openblas_set_num_threads(Int32(n))
    }

    /// The processors online.
    public static var processors: Int { System.cores }
}
