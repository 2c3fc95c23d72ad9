// The memory plan of a training step and the report `graphc analyze` prints.
//
// `Liveness` gives every value a category and an interval; the values of the non-persistent categories
// (gradients, activations, temporaries; aliases excluded, they own no storage) become `LiveInterval`s
// that `MemoryPlanner.plan` places in one arena (greedy by size, best fit) beside the lower bound (the
// largest live total at any step, sizes rounded to the alignment). Persistent state (parameters,
// buffers, optimizer state, inputs) lives outside the arena for the whole step, so the planned total is
// persistent bytes + arena. `TrainingReport` gathers parameter counts, FLOPs by group, saved activation
// bytes, the memory figures with the breakdown at the peak, the ops around it and the timeline.
// O(n) beyond the planner's O(n log² n).
import GraphIR

extension Liveness {
    /// The live intervals of the storage the arena holds: non-alias gradients, activations and
    /// temporaries, in value order.
    public func transientIntervals() -> [LiveInterval] {
        var intervals: [LiveInterval] = []
        for (v, entry) in entries.enumerated() where entry.aliasOf == nil && !entry.category.isPersistent {
            intervals.append(LiveInterval(value: ValueID(v), bytes: entry.bytes, first: entry.first, last: entry.last))
        }
        return intervals
    }

    /// Bytes live for the whole step: parameters, buffers, optimizer state and inputs.
    public var persistentBytes: Int {
        atPeak.parameters + atPeak.buffer + atPeak.optimizerState + atPeak.input
    }
}

/// Everything `graphc analyze` prints about a training graph, as plain data.
public struct TrainingReport: Sendable, Hashable {
    /// Memory at the peak, grouped as the report prints it.
    public struct AtPeak: Sendable, Hashable {
        public var parameters: Int
        public var buffers: Int
        public var gradients: Int
        public var optimizerState: Int
        public var activations: Int
        public var temporaries: Int
        public var input: Int

        /// Groups `bytes` (frozen and trainable parameters together).
        public init(_ bytes: CategoryBytes) {
            parameters = bytes.parameters
            buffers = bytes.buffer
            gradients = bytes.gradient
            optimizerState = bytes.optimizerState
            activations = bytes.activation
            temporaries = bytes.temporary
            input = bytes.input
        }

        public var total: Int { parameters + buffers + gradients + optimizerState + activations + temporaries + input }
    }

    /// Memory figures in bytes.
    public struct Memory: Sendable, Hashable {
        /// The largest simultaneous total over the step (persistent + transient).
        public var peakBytes: Int
        /// Parameters, buffers, optimizer state and inputs: live for the whole step, outside the arena.
        public var persistentBytes: Int
        /// `peakBytes` − `persistentBytes`: the transient storage at the peak, unaligned.
        public var transientPeakBytes: Int
        /// The planner's lower bound for the transient storage (sizes rounded to `alignment`).
        public var lowerBoundBytes: Int
        /// The planned arena for the transient storage.
        public var arenaBytes: Int
        public var alignment: Int
        /// The study profiler's figure: each category's own maximum, summed (compatibility only).
        public var categoryMaxTotalBytes: Int
        public var atPeak: AtPeak

        /// Arena − lower bound: bytes lost to fragmentation.
        public var gapBytes: Int { arenaBytes - lowerBoundBytes }
        /// `gapBytes` against the lower bound, in percent (0 without transient storage).
        public var gapPercent: Double { lowerBoundBytes > 0 ? Double(gapBytes) / Double(lowerBoundBytes) * 100 : 0 }
        /// What the step needs when planned: persistent state + arena.
        public var plannedTotalBytes: Int { persistentBytes + arenaBytes }
    }

    /// MACs, FLOPs and elementwise work per group and in total.
    public struct Costs: Sendable, Hashable {
        public var convention: FlopConvention
        public var forward: Cost
        public var backward: Cost
        public var optimizer: Cost
        public var svd: Cost
        public var total: Cost
        /// Where a count stopped fitting 64 bits (see `FlopReport.overflowingNode`); nil when all are counts.
        public var overflowingNode: CostOverflow? = nil
    }

    /// The first step of a phase in the schedule.
    public struct PhaseStart: Sendable, Hashable {
        public var phase: Phase
        public var step: Int
    }

    /// A node near the peak.
    public struct PeakOp: Sendable, Hashable {
        public var step: Int
        public var name: String
        public var op: String
    }

    /// The graph's name.
    public var model: String
    /// Learnable parameters (buffers and optimizer state excluded), and the trainable ones among them.
    public var params: Int
    public var trainableParams: Int
    /// MACs and FLOPs per group under the report's convention.
    public var flops: Costs
    /// The saving policy of the saved bytes and the timeline.
    public var saving: SavingPolicy
    /// See `Liveness.savedActivationBytes`.
    public var savedActivationBytes: Int
    /// See `Liveness.savedInputBytes`.
    public var savedInputBytes: Int
    /// See `Liveness.savedWeightDerivedBytes`.
    public var savedWeightDerivedBytes: Int
    public var memory: Memory
    /// The step with the peak and the nodes around it (two either side), in schedule order.
    public var peakStep: Int
    public var peakOps: [PeakOp]
    /// The largest transient storages (activations, gradients, temporaries) live at the peak.
    public var largestAtPeak: [Liveness.LiveValue]
    /// Bytes per category at each step.
    public var timeline: [CategoryBytes]
    /// Where each phase first appears in the schedule, in step order (a chart's phase labels).
    public var phaseStarts: [PhaseStart]

    /// The trainable share of the learnable parameters, in percent (0 without parameters).
    public var trainablePercent: Double { params > 0 ? Double(trainableParams) / Double(params) * 100 : 0 }

    /// The nodes running at the peak step itself (of `peakOps`, which also lists its neighbours).
    public var opsAtPeak: [PeakOp] { peakOps.filter { $0.step == peakStep } }

    /// The bytes of `category` at each step (one chart series).
    public func series(_ category: MemoryCategory) -> [Int] { timeline.map { $0[category] } }

    /// Analyses `graph` (node order = schedule): FLOPs under `convention`, liveness, and a plan of the
    /// transient storage with `strategy` at `alignment`.
    public init(
        _ graph: Graph, saving: SavingPolicy = .pytorch, convention: FlopConvention = .exact,
        strategy: some PlacementStrategy = GreedyBySize(), alignment: Int = 64
    ) {
        let cost = FlopReport(graph, convention: convention, listingNodes: false)
        let live = Liveness(graph, saving: saving)
        let plan = MemoryPlanner.plan(live.transientIntervals(), strategy: strategy, alignment: alignment)
        self.init(graph, flops: cost, liveness: live, plan: plan)
    }

    /// Assembles a report from analyses already run.
    public init(_ graph: Graph, flops cost: FlopReport, liveness live: Liveness, plan: MemoryPlan) {
        model = graph.name
        params = graph.parameterCount
        trainableParams = graph.trainableParameterCount
        flops = Costs(cost)
        saving = live.saving
        savedActivationBytes = live.savedActivationBytes
        savedInputBytes = live.savedInputBytes
        savedWeightDerivedBytes = live.savedWeightDerivedBytes
        let persistent = live.persistentBytes
        memory = Memory(
            peakBytes: live.peakBytes, persistentBytes: persistent,
            transientPeakBytes: live.peakBytes - persistent, lowerBoundBytes: plan.lowerBoundBytes,
            arenaBytes: plan.arenaBytes, alignment: plan.alignment,
            categoryMaxTotalBytes: live.categoryMaxTotal, atPeak: AtPeak(live.atPeak))
        peakStep = live.peakStep
        let window =
            graph.nodes.isEmpty ? [] : Array(max(0, live.peakStep - 2)...min(graph.nodes.count - 1, live.peakStep + 2))
        peakOps = window.map { PeakOp(step: $0, name: graph.nodes[$0].name, op: graph.nodes[$0].op.name) }
        largestAtPeak = live.largestLiveAtPeak(graph) { !$0.isPersistent }
        timeline = live.timeline
        var seen = Set<Phase>(), previous: Phase?
        var starts: [PhaseStart] = []
        // Nodes are read in place; a phase is looked up only where it changes.
        graph.nodes.withUnsafeBufferPointer { nodes in
            for step in nodes.indices where nodes[step].phase != previous {
                previous = nodes[step].phase
                if seen.insert(nodes[step].phase).inserted {
                    starts.append(PhaseStart(phase: nodes[step].phase, step: step))
                }
            }
        }
        phaseStarts = starts
    }
}

extension TrainingReport.Costs {
    /// The groups of a FLOP report.
    public init(_ report: FlopReport) {
        self.init(
            convention: report.convention, forward: report.forward, backward: report.backward,
            optimizer: report.optimizer, svd: report.svd, total: report.total,
            overflowingNode: report.overflowingNode)
    }
}

extension TrainingReport {
    /// The report, or `count-overflow` naming the node where a FLOP count stopped fitting 64 bits: its
    /// numbers are then not counts and must not be printed as such.
    public func checked() throws(Diagnostic) -> TrainingReport {
        if let overflow = flops.overflowingNode { throw overflow.diagnostic }
        return self
    }
}
