import GraphIR

// The planned run: every transient tensor at the offset a static `MemoryPlan` (GraphIR, plain data)
// gives it in one arena, through the same `Kernels.run` as the reference run.
//
// Storage, decided once at init, per value:
// - Placed values (the plan's placements: a training graph's gradients, activations and temporaries)
//   live in the arena at `offset`: an anonymous `MappedRegion` (MAP_PRIVATE | MAP_ANONYMOUS |
//   MAP_NORESERVE) of `arenaBytes`, so pages the run never touches cost nothing.
// - Parameters (learnable, buffers, optimizer state) and results the plan does not place (persistent
//   ones, such as gradients kept across steps) get their own `HostTensor`, kept across steps.
// - Inputs are the caller's tensors, bound per run.
// - Views (`Op.storage(ofResult:)` says `.view`: reshape, flatten) share their operand's bytes, and
//   in-place results (`.inPlace`: optimizer updates, svd_projector) bind to the operand they overwrite:
//   both resolve to the same root storage, seen with their own shape.
// - Kernel scratch: one `MappedRegion` of the largest `Kernels.workspaceBytes` over the nodes, passed to
//   every call in the context.
//
// The plan is checked against the graph before anything runs (`PlanError`): a placement must name a
// result that owns storage, with the value's byte size, inside the arena, aligned for its dtype. Whether
// the intervals are right (no tensor read after its `last`, no two live tensors overlapping) is what
// `checkPlan` (PlanCheck.swift) tests, statically and by poisoning each tensor when its interval ends.
#if canImport(Glibc)
    import Glibc
#endif

/// Why a plan cannot drive a graph's run, or a run cannot start.
public struct PlanError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a training graph with its transient tensors in one planned arena; keeps the parameters and the
/// unplanned results across steps.
public final class PlannedRunner {
    /// Where a value's bytes are.
    enum Location {
        /// At this offset of the arena.
        case arena(Int)
        /// In `owned[root]`.
        case owned(Int)
        /// The caller's input number `k`.
        case input(Int)
    }

    public let graph: Graph
    public let plan: MemoryPlan
    /// The next step's 1-based number; `run` advances it.
    public var step = 1
    /// Seed of dropout streams.
    public var seed: UInt64
    /// The workspace size: the largest scratch need of any node.
    public let workspaceBytes: Int
    /// Told before and after every node `run` executes (a `TraceRecorder`, Trace.swift). Nil, the
    /// default, costs one branch per node and no clock reading.
    public var observer: (any NodeObserver)?

    let arena: MappedRegion
    let workspace: MappedRegion
    /// Storage of parameters and unplanned results, by root value raw.
    private var owned: [HostTensor?]
    /// Each value's storage root (itself unless it is a view or an in-place result).
    let root: [Int]
    /// Each root's location.
    private let location: [Location?]
    /// The plan's placement index of each value, if placed.
    let placementIndex: [Int?]
    /// Each node's scratch need.
    let nodeWorkspace: [Int]
    /// When set (one entry per node), each run adds every node's wall time in seconds to its entry:
    /// a per-op profile for benchmarks. nil (the default) times nothing.
    public var nodeSeconds: [Double]?

    /// Binds `graph`'s values to `plan` (see the file comment); throws if the plan does not fit the graph.
    public init(_ graph: Graph, plan: MemoryPlan, seed: UInt64 = 0) throws(PlanError) {
        if let refusal = ExecutorPrecision.refusal(graph) { throw PlanError(refusal) }
        self.graph = graph
        self.plan = plan
        self.seed = seed
        let count = graph.values.count
        var root = Array(0..<count)
        for node in graph.nodes {
            for (k, id) in node.outputs.enumerated() {
                if let j = node.op.aliasedOperand(ofResult: k), j < node.inputs.count {
                    root[id.raw] = root[node.inputs[j].raw]
                }
            }
        }
        self.root = root

        var placementIndex = [Int?](repeating: nil, count: count)
        let steps = max(graph.nodes.count, 1)
        guard plan.alignment > 0 else { throw PlanError("plan alignment \(plan.alignment) is not positive") }
        for (i, p) in plan.placements.enumerated() {
            guard p.value.raw >= 0, p.value.raw < count else {
                throw PlanError("plan places \(p.value), which '\(graph.name)' does not have")
            }
            let value = graph[p.value]
            guard placementIndex[p.value.raw] == nil else { throw PlanError("plan places '\(value.name)' twice") }
            guard case .result = value.kind else {
                throw PlanError(
                    "plan places '\(value.name)', which is \(value.kind == .input ? "an input" : "a parameter")")
            }
            guard root[p.value.raw] == p.value.raw else {
                throw PlanError(
                    "plan places '\(value.name)', which shares the storage of '\(graph.values[root[p.value.raw]].name)'"
                )
            }
            guard p.bytes == value.type.byteCount else {
                throw PlanError(
                    "plan gives '\(value.name)' \(p.bytes) bytes; \(value.type) has \(value.type.byteCount)")
            }
            guard p.offset >= 0, p.offset + p.bytes <= plan.arenaBytes else {
                throw PlanError(
                    "plan puts '\(value.name)' at \(p.offset) ..< \(p.offset + p.bytes), outside the arena of "
                        + "\(plan.arenaBytes) bytes")
            }
            guard p.offset % value.type.dtype.size == 0 else {
                throw PlanError(
                    "plan puts '\(value.name)' at \(p.offset), not aligned for \(value.type.dtype.rawValue)")
            }
            guard p.first >= 0, p.first <= p.last, p.last < steps else {
                throw PlanError("plan gives '\(value.name)' steps \(p.first) ... \(p.last); the schedule has \(steps)")
            }
            placementIndex[p.value.raw] = i
        }
        self.placementIndex = placementIndex

        var owned = [HostTensor?](repeating: nil, count: count)
        var location = [Location?](repeating: nil, count: count)
        for (k, id) in graph.inputs.enumerated() { location[id.raw] = .input(k) }
        for v in 0..<count where root[v] == v {
            switch graph.values[v].kind {
            case .input: break
            case .parameter:
                owned[v] = HostTensor(graph.values[v].type)
                location[v] = .owned(v)
            case .result:
                if let i = placementIndex[v] {
                    location[v] = .arena(plan.placements[i].offset)
                } else {
                    owned[v] = HostTensor(graph.values[v].type)
                    location[v] = .owned(v)
                }
            }
        }
        self.owned = owned
        self.location = location

        nodeWorkspace = graph.nodes.map { Kernels.workspaceBytes($0, in: graph) }
        workspaceBytes = nodeWorkspace.max() ?? 0
        do {
            arena = try MappedRegion(byteCount: plan.arenaBytes)
            workspace = try MappedRegion(byteCount: workspaceBytes)
        } catch {
            throw PlanError(error.description)
        }
    }

    /// The arena's first byte (placements are offsets from it).
    public var arenaBase: UnsafeMutableRawPointer { arena.base }

    /// The view of `id`'s storage with its own type, or nil for an input (bound only during a run).
    /// Arena bytes hold whatever the last run left there: a value's bytes are its own only within its
    /// planned interval.
    public func storage(of id: ValueID) -> TensorView? {
        view(id, inputs: [])
    }

    /// The storage of the parameter named `name` (weights, buffers, optimizer state), if any.
    public func parameter(named name: String) -> HostTensor? {
        graph.parameters.first { graph[$0].name == name }.flatMap { owned[$0.raw] }
    }

    /// The storage of parameter (or unplanned result) `id`.
    func ownedTensor(_ id: ValueID) -> HostTensor? { owned[root[id.raw]] }

    /// Overwrites the parameter named `name` with `values`.
    public func setParameter(_ name: String, _ values: [Float]) throws(PlanError) {
        guard let t = parameter(named: name) else { throw PlanError("no parameter '\(name)'") }
        guard t.view.count == values.count, t.view.dtype == .f32 else {
            throw PlanError(
                "parameter '\(name)' \(t.view.dtype.rawValue)\(t.view.shape) cannot take \(values.count) values")
        }
        t.set(values)
    }

    func view(_ id: ValueID, inputs: [HostTensor]) -> TensorView? {
        let type = graph[id].type
        switch location[root[id.raw]] {
        case let .arena(offset): return TensorView(arena.base + offset, type.dtype, type.shape)
        case let .owned(r): return owned[r].map { TensorView($0.view.base, type.dtype, type.shape) }
        case let .input(k): return k < inputs.count ? TensorView(inputs[k].view.base, type.dtype, type.shape) : nil
        case nil: return nil
        }
    }

    /// What a checking run does besides running: poison dead tensors, look at every node's results.
    struct Checking {
        /// Fill the arena with NaN before each step, each placement's bytes after its last step (but the
        /// schedule's last), and each node's scratch before it runs.
        var poison: Bool
        /// Called after each node with its schedule step and result views, before any poisoning; false
        /// stops the run.
        var observe: (Int, Node, [TensorView]) -> Bool
    }

    /// One step on `inputs` (in `graph.inputs` order); returns the graph outputs' views, valid until the
    /// next run. Advances `step`.
    @discardableResult
    public func run(_ inputs: [HostTensor]) throws(PlanError) -> [TensorView] {
        try run(inputs, checking: nil).outputs
    }

    func run(_ inputs: [HostTensor], checking: Checking?) throws(PlanError) -> (outputs: [TensorView], completed: Bool)
    {
        guard inputs.count == graph.inputs.count else {
            throw PlanError("'\(graph.name)' takes \(graph.inputs.count) inputs, got \(inputs.count)")
        }
        for (id, t) in zip(graph.inputs, inputs) {
            let type = graph[id].type
            guard t.view.dtype == type.dtype, t.view.shape == type.shape else {
                throw PlanError(
                    "input '\(graph[id].name)' must be \(type), got \(t.view.dtype.rawValue)\(t.view.shape)")
            }
        }
        let poison = checking?.poison ?? false
        var endingAt: [[Int]] = []
        if poison {
            arena.poison(offset: 0, count: arena.mappedBytes)
            endingAt = Array(repeating: [], count: graph.nodes.count)
            for (i, p) in plan.placements.enumerated() where p.bytes > 0 && p.last < graph.nodes.count {
                endingAt[p.last].append(i)
            }
        }
        let context = KernelContext(
            step: step, seed: seed,
            workspace: Workspace(workspace.base, byteCount: workspace.byteCount))
        var operands: [TensorView] = [], results: [TensorView] = []
        var completed = true
        let observer = self.observer
        for (t, node) in graph.nodes.enumerated() {
            operands.removeAll(keepingCapacity: true)
            results.removeAll(keepingCapacity: true)
            for id in node.inputs { operands.append(view(id, inputs: inputs)!) }
            for id in node.outputs { results.append(view(id, inputs: inputs)!) }
            if poison { MappedRegion.poison(workspace.base, count: nodeWorkspace[t]) }
            observer?.willRun(node: t, step: step)
            if nodeSeconds != nil {
                let start = Self.now()
                Kernels.run(node, inputs: operands, outputs: results, context: context)
                nodeSeconds![t] += Self.now() - start
            } else {
                Kernels.run(node, inputs: operands, outputs: results, context: context)
            }
            observer?.didRun(node: t, step: step)
            if let checking {
                if !checking.observe(t, node, results) {
                    completed = false
                    break
                }
                if poison, t < graph.nodes.count - 1 {
                    for i in endingAt[t] {
                        arena.poison(offset: plan.placements[i].offset, count: plan.placements[i].bytes)
                    }
                }
            }
        }
        step += 1
        return (graph.outputs.map { view($0, inputs: inputs)! }, completed)
    }

    /// The monotonic clock in seconds.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
