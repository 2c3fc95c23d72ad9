import GraphIR

// Measured against predicted: what a planned run actually occupied, read from the OS, beside the plan's
// figure. Nothing here restates the plan except `plannedArenaBytes`, kept for comparison.
//
// - Arena: pages resident in the arena's mapping after the steps, by `mincore` (4 KiB pages; huge pages
//   declined). The mapping is anonymous and nothing releases pages while it lives, so this is the run's
//   high-water. A page counts once something wrote to it; a placement's tail shares its last page
//   with whatever follows, so the figure is page-granular: at most `plannedArenaBytes` rounded up to a
//   page when the plan holds.
// - Workspace: the buffer's size (the largest node need) and its resident pages, alike.
// - Process: the peak resident set over the steps (VmHWM, reset by /proc/self/clear_refs just before
//   the runner allocates its arena, workspace and parameters) minus the resident set at that moment
//   (VmRSS). This counts everything the process touched meanwhile: the runner's bookkeeping, OpenBLAS's
//   own buffers, malloc's arenas, and anything other threads of the process allocate (in a test
//   process, other tests). Where the peak cannot be reset the delta is nil.
#if canImport(Glibc)
    import Glibc
#endif

/// Memory a planned run occupied, as the OS reports it.
public struct MemoryMeasurement: Sendable, Hashable {
    public var pageSize: Int
    public var steps: Int
    /// The plan's arena, for comparison (not measured).
    public var plannedArenaBytes: Int
    /// The arena mapping: `plannedArenaBytes` rounded up to pages.
    public var arenaMappedBytes: Int
    /// Arena pages resident after the steps (mincore).
    public var arenaTouchedPages: Int
    /// The end of the highest resident arena page, in bytes from the arena's start.
    public var arenaHighWaterBytes: Int
    /// The workspace buffer (the largest scratch need of any node) and its resident pages.
    public var workspaceBytes: Int
    public var workspaceTouchedPages: Int
    /// Bytes of the runner's own allocations for parameters, buffers, optimizer state and unplanned
    /// results (their types' sizes; what malloc makes of them is in the RSS figures).
    public var ownedBytes: Int
    /// VmRSS just before the runner allocated anything.
    public var rssBeforeBytes: Int
    /// VmHWM after the steps.
    public var peakRSSBytes: Int
    /// Whether /proc/self/clear_refs reset the peak; without it `peakRSSBytes` may predate the run.
    public var peakWasReset: Bool

    /// Arena bytes in resident pages.
    public var arenaTouchedBytes: Int { arenaTouchedPages * pageSize }
    public var workspaceTouchedBytes: Int { workspaceTouchedPages * pageSize }
    /// Peak RSS over the steps minus RSS before: nil when the peak could not be reset.
    public var peakRSSDeltaBytes: Int? { peakWasReset ? peakRSSBytes - rssBeforeBytes : nil }
}

/// The process's resident set just before a runner allocates: what `PlannedRunner.measurement` subtracts.
public struct MemoryBaseline: Sendable, Hashable {
    /// VmRSS at the moment of the baseline.
    public var rssBytes: Int
    /// Whether the peak (VmHWM) was reset to it.
    public var peakWasReset: Bool

    /// Resets the peak (/proc/self/clear_refs) and reads the resident set: call it just before making
    /// the runner to measure.
    public static func now() -> MemoryBaseline {
        let reset = ProcessMemory.resetPeak()
        let before = ProcessMemory.status()
        return MemoryBaseline(rssBytes: before?.rss ?? 0, peakWasReset: reset && before != nil)
    }
}

extension PlannedRunner {
    /// Runs `steps` steps of `graph` planned by `plan` and measures them (see the file comment).
    /// `initialize` fills each parameter once; `inputs(step)` gives the inputs of 1-based step `step` (make
    /// them beforehand: tensors it allocates count in the RSS delta).
    public static func measure(
        _ graph: Graph, plan: MemoryPlan, steps: Int = 1, seed: UInt64 = 0,
        initialize: (ValueID, TensorView) throws -> Void = { _, _ in },
        inputs: (Int) throws -> [HostTensor]
    ) throws -> MemoryMeasurement {
        let baseline = MemoryBaseline.now()
        let runner = try PlannedRunner(graph, plan: plan, seed: seed)
        for p in graph.parameters { try initialize(p, runner.ownedTensor(p)!.view) }
        for s in 1...max(steps, 1) { try runner.run(try inputs(s)) }
        return runner.measurement(steps: max(steps, 1), since: baseline)
    }

    /// This runner's memory as the OS reports it now, after `steps` steps: the arena's and workspace's
    /// resident pages, and the peak RSS since `baseline` (taken just before the runner was made) minus
    /// the RSS then. A long-lived runner (graphc train) measures itself with this.
    public func measurement(steps: Int, since baseline: MemoryBaseline) -> MemoryMeasurement {
        let after = ProcessMemory.status()
        let touchedArena = arena.touched(), scratch = workspace.touched()
        var owned = 0
        for v in graph.values.indices where root[v] == v {
            if case .parameter = graph.values[v].kind { owned += graph.values[v].type.byteCount }
            if case .result = graph.values[v].kind, placementIndex[v] == nil {
                owned += graph.values[v].type.byteCount
            }
        }
        return MemoryMeasurement(
            pageSize: MappedRegion.pageSize, steps: steps, plannedArenaBytes: plan.arenaBytes,
            arenaMappedBytes: arena.mappedBytes, arenaTouchedPages: touchedArena.pages,
            arenaHighWaterBytes: touchedArena.highWater, workspaceBytes: workspaceBytes,
            workspaceTouchedPages: scratch.pages, ownedBytes: owned,
            rssBeforeBytes: baseline.rssBytes, peakRSSBytes: after?.peak ?? 0,
            peakWasReset: baseline.peakWasReset && after != nil)
    }
}
