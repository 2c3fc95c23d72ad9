// Liveness of every value over one training step, with PyTorch's memory categories.
//
// The schedule is the node order: step i executes node i. One forward sweep over the nodes:
// 1. Aliases: a result that reuses an operand's storage (`Op.aliasedOperand(ofResult:)`, GraphIR's
//    Op+Memory.swift: optimizer updates and GaLore's `svd_projector` write their parameter and state in
//    place; `reshape` and `flatten` are views, as in PyTorch) gets that operand's root value and no
//    storage of its own; reading an alias reads its root.
// 2. Last uses: each operand's root is used at the reading node's step; a graph output lives to the end.
// 3. Categories: inputs and parameters by their kind and role; the root of a parameter's gradient as
//    autodiff recorded it (`Graph.records`; the optimizer reads it, GaLore through a reshape view) is a
//    `gradient`; a forward-phase result read by a backward-phase node is an `activation`; anything
//    else a `temporary`.
// 4. Intervals: persistent categories (parameters, buffers, optimizer state, inputs) span every step;
//    the others run from their definition to their last use.
// 5. Timeline: a difference array per category over steps (+bytes at `first`, −bytes after `last`), then
//    prefix sums; the peak is the step with the largest total, the compatibility "category-max total"
//    the sum of each category's own maximum (the study profiler's figure, ≥ the peak).
// O(values + operands + 8 · steps) time and memory.
import GraphIR

/// Memory categories, named as PyTorch's memory tools name them.
public enum MemoryCategory: String, Sendable, Hashable, CaseIterable {
    case parameterFrozen = "parameter_frozen"
    case parameterTrainable = "parameter_trainable"
    /// BatchNorm running statistics.
    case buffer
    case optimizerState = "optimizer_state"
    /// The batch and the labels.
    case input
    /// A parameter's complete gradient (what the optimizer update reads).
    case gradient
    /// A forward result read by the backward pass (saved for backward).
    case activation
    /// Everything else produced and consumed within the step.
    case temporary

    /// Live for the whole step: parameters, buffers, optimizer state and inputs.
    public var isPersistent: Bool {
        switch self {
        case .parameterFrozen, .parameterTrainable, .buffer, .optimizerState, .input: true
        case .gradient, .activation, .temporary: false
        }
    }
}

/// Bytes per memory category.
public struct CategoryBytes: Sendable, Hashable {
    public var parameterFrozen = 0
    public var parameterTrainable = 0
    public var buffer = 0
    public var optimizerState = 0
    public var input = 0
    public var gradient = 0
    public var activation = 0
    public var temporary = 0

    public init() {}

    /// The bytes of `category`.
    public subscript(category: MemoryCategory) -> Int {
        get {
            switch category {
            case .parameterFrozen: parameterFrozen
            case .parameterTrainable: parameterTrainable
            case .buffer: buffer
            case .optimizerState: optimizerState
            case .input: input
            case .gradient: gradient
            case .activation: activation
            case .temporary: temporary
            }
        }
        set {
            switch category {
            case .parameterFrozen: parameterFrozen = newValue
            case .parameterTrainable: parameterTrainable = newValue
            case .buffer: buffer = newValue
            case .optimizerState: optimizerState = newValue
            case .input: input = newValue
            case .gradient: gradient = newValue
            case .activation: activation = newValue
            case .temporary: temporary = newValue
            }
        }
    }

    /// All categories together.
    public var total: Int {
        parameterFrozen + parameterTrainable + buffer + optimizerState + input + gradient + activation + temporary
    }

    /// Frozen and trainable parameters.
    public var parameters: Int { parameterFrozen + parameterTrainable }
}

extension CategoryBytes {
    /// Adds `other`'s bytes category by category.
    mutating func add(_ other: CategoryBytes) {
        parameterFrozen += other.parameterFrozen
        parameterTrainable += other.parameterTrainable
        buffer += other.buffer
        optimizerState += other.optimizerState
        input += other.input
        gradient += other.gradient
        activation += other.activation
        temporary += other.temporary
    }

    /// Raises each category to at least `other`'s bytes.
    mutating func raise(to other: CategoryBytes) {
        parameterFrozen = max(parameterFrozen, other.parameterFrozen)
        parameterTrainable = max(parameterTrainable, other.parameterTrainable)
        buffer = max(buffer, other.buffer)
        optimizerState = max(optimizerState, other.optimizerState)
        input = max(input, other.input)
        gradient = max(gradient, other.gradient)
        activation = max(activation, other.activation)
        temporary = max(temporary, other.temporary)
    }
}

/// Every value's category and live interval over one training step, the per-step memory timeline and
/// its peak.
public struct Liveness: Sendable, Hashable {
    /// One value's memory.
    public struct Entry: Sendable, Hashable {
        public var category: MemoryCategory
        /// dtype size · elements; 0 for an alias.
        public var bytes: Int
        /// First and last step the storage is live (for an alias, its root's).
        public var first: Int
        public var last: Int
        /// The value whose storage this one reuses (in-place update, view), if any.
        public var aliasOf: ValueID?
    }

    /// One value at the peak.
    public struct LiveValue: Sendable, Hashable {
        public var value: ValueID
        public var name: String
        public var category: MemoryCategory
        public var bytes: Int
    }

    /// Number of steps (nodes; at least 1, so that persistent state has a step to live in).
    public var steps: Int
    /// One entry per value, indexed by `ValueID.raw`.
    public var entries: [Entry]
    /// Bytes live per category at each step.
    public var timeline: [CategoryBytes]
    /// The first step with the largest total.
    public var peakStep: Int
    /// The bytes live at `peakStep`, by category.
    public var atPeak: CategoryBytes
    /// Sum over categories of each category's own maximum over steps (the study profiler's "peak";
    /// compatibility only: it is never below `peakBytes`).
    public var categoryMaxTotal: Int
    /// Each category's own maximum over steps.
    public var categoryMax: CategoryBytes
    /// The saving policy the saved bytes and the activations' lifetimes follow (`SavingPolicy`).
    public var saving: SavingPolicy
    /// Bytes of the distinct storages kept for backward (under `saving`) that are forward results computed
    /// from the batch: PyTorch's saved activations, as the fixture counts them (parameters, BN buffers,
    /// the batch and the labels, and tensors computed from weights alone left out; see
    /// `savedInputBytes`, `savedWeightDerivedBytes`). Under `pytorch` it adds the tensors PyTorch makes
    /// that the graph has no value for (`SavedTensor.extra`: log_softmax's result, CPU dropout's noise).
    public var savedActivationBytes: Int
    /// The saved graph inputs: the batch (when a layer that needs it saves it) and the labels.
    public var savedInputBytes: Int
    /// Saved forward results that depend on parameters only (DoRA's merged weight and its norm).
    public var savedWeightDerivedBytes: Int

    /// The largest simultaneous total.
    public var peakBytes: Int { atPeak.total }

    /// The entry of `value`.
    public subscript(value: ValueID) -> Entry { entries[value.raw] }

    /// Analyses `graph`, whose node order is the schedule. Under `saving: .pytorch` a tensor PyTorch
    /// saves lives until the last backward node of the forward node that saved it, as autograd keeps it
    /// until that node's backward has run; under `.lean`, until its last reader.
    public init(_ graph: Graph, saving: SavingPolicy = .pytorch) {
        self.saving = saving
        let n = graph.nodes.count, lastStep = max(n - 1, 0)
        steps = lastStep + 1
        let count = graph.values.count
        var root = Array(0..<count)
        var defStep = Array(repeating: 0, count: count)
        var lastUse = Array(repeating: -1, count: count)
        var isGradient = Array(repeating: false, count: count)
        var readByBackward = Array(repeating: false, count: count)
        var savedForBackward = Array(repeating: false, count: count)
        // Whether a value is computed from a graph input (the batch, the labels); forward results that are
        // not are weight-derived.
        var fromInput = Array(repeating: false, count: count)
        for id in graph.inputs where id.raw < count { fromInput[id.raw] = true }
        var lossValues: [ValueID] = []
        // Each node's phase, gathered by the sweep so that the pass over values need not read nodes again.
        var phase = Array(repeating: Phase.forward, count: n)

        // Nodes are read in place, not copied (a copy retains the node's names).
        graph.nodes.withUnsafeBufferPointer { nodes in
            for step in nodes.indices {
                phase[step] = nodes[step].phase
                let backward = phase[step] == .backward
                let op = nodes[step].op
                if case .softmaxCrossEntropy = op, !backward { lossValues.append(nodes[step].outputs[0]) }
                var computedFromInput = false
                for i in 0..<nodes[step].inputs.count {
                    let r = root[nodes[step].inputs[i].raw]
                    lastUse[r] = step
                    if fromInput[nodes[step].inputs[i].raw] { computedFromInput = true }
                    if backward {
                        readByBackward[r] = true
                        savedForBackward[r] = true
                    }
                }
                for k in 0..<nodes[step].outputs.count {
                    let id = nodes[step].outputs[k]
                    defStep[id.raw] = step
                    fromInput[id.raw] = computedFromInput
                    if let j = op.aliasedOperand(ofResult: k), j < nodes[step].inputs.count {
                        root[id.raw] = root[nodes[step].inputs[j].raw]
                    }
                }
            }
        }
        var extraSaved = 0
        if saving == .pytorch {
            // PyTorch's rule per forward node replaces "read by a backward node"; a saved tensor lives
            // until the last backward node its saver's rule emitted.
            savedForBackward = Array(repeating: false, count: count)
            let requires = graph.needsGradient(losses: lossValues)
            var lastBackward = Array(repeating: -1, count: n)
            for step in 0..<n where phase[step] == .backward {
                if case let .node(f) = graph.records.origin(ofNode: step), f >= 0, f < n {
                    lastBackward[f] = max(lastBackward[f], step)
                }
            }
            for f in 0..<n where phase[f] == .forward {
                let node = graph.nodes[f]
                let rules = node.op.savedByPyTorch(
                    requiresGrad: node.inputs.map { requires[$0.raw] }, operands: node.inputs.map { graph[$0].type })
                for rule in rules {
                    let id: ValueID?
                    switch rule {
                    case let .operand(i): id = i < node.inputs.count ? node.inputs[i] : nil
                    case let .result(k): id = k < node.outputs.count ? node.outputs[k] : nil
                    case let .extra(bytes):
                        extraSaved += bytes
                        id = nil
                    }
                    guard let id else { continue }
                    let r = root[id.raw]
                    savedForBackward[r] = true
                    readByBackward[r] = true
                    lastUse[r] = max(lastUse[r], lastBackward[f])
                }
            }
        }
        for id in graph.outputs { lastUse[root[id.raw]] = lastStep }
        // Gradients: the storage of each parameter's recorded gradient (GaLore's reshape of it is a view).
        for p in graph.parameters {
            if let g = graph.records.gradient(of: p), g.raw >= 0, g.raw < count { isGradient[root[g.raw]] = true }
        }

        var entries: [Entry] = []
        entries.reserveCapacity(count)
        var saved = extraSaved, savedInputs = 0, savedWeightDerived = 0
        // Values are read in place; copying a value would retain its name.
        graph.values.withUnsafeBufferPointer { values in
            for v in 0..<count {
                let bytes = values[v].type.byteCount
                let kind = values[v].kind
                let category: MemoryCategory
                var first = 0, last = lastStep
                switch kind {
                case .input:
                    category = .input
                case let .parameter(role, trainable):
                    category =
                        role.isOptimizerState
                        ? .optimizerState
                        : role.isBuffer ? .buffer : trainable ? .parameterTrainable : .parameterFrozen
                case let .result(node, _):
                    category =
                        isGradient[v]
                        ? .gradient
                        : phase[node] == .forward && readByBackward[v] ? .activation : .temporary
                    first = defStep[v]
                    last = max(first, lastUse[v])
                }
                if savedForBackward[v], root[v] == v {
                    switch kind {
                    case .input: savedInputs += bytes
                    case .parameter: break
                    case let .result(node, _):
                        if phase[node] == .forward {
                            if fromInput[v] { saved += bytes } else { savedWeightDerived += bytes }
                        }
                    }
                }
                entries.append(Entry(category: category, bytes: bytes, first: first, last: last, aliasOf: nil))
            }
        }
        // Aliases take their root's category and interval and no bytes of their own.
        for v in 0..<count where root[v] != v {
            var entry = entries[root[v]]
            entry.bytes = 0
            entry.aliasOf = ValueID(root[v])
            entries[v] = entry
        }

        // The timeline starts as the difference array (the −bytes after the last step are left out) and
        // becomes its prefix sums in place.
        var timeline = Array(repeating: CategoryBytes(), count: steps)
        for entry in entries where entry.bytes > 0 {
            timeline[entry.first][entry.category] += entry.bytes
            if entry.last + 1 < steps { timeline[entry.last + 1][entry.category] -= entry.bytes }
        }
        var running = CategoryBytes(), best = CategoryBytes(), maxima = CategoryBytes()
        var bestStep = 0, bestTotal = -1
        timeline.withUnsafeMutableBufferPointer { timeline in
            for step in timeline.indices {
                running.add(timeline[step])
                maxima.raise(to: running)
                timeline[step] = running
                let total = running.total
                if total > bestTotal {
                    bestTotal = total
                    bestStep = step
                    best = running
                }
            }
        }
        self.entries = entries
        self.timeline = timeline
        peakStep = bestStep
        atPeak = best
        categoryMax = maxima
        categoryMaxTotal = maxima.total
        savedActivationBytes = saved
        savedInputBytes = savedInputs
        savedWeightDerivedBytes = savedWeightDerived
    }

    /// The `limit` largest storages live at the peak step, largest first (ties by value id).
    public func largestLiveAtPeak(
        _ graph: Graph, limit: Int = 8,
        where include: (MemoryCategory) -> Bool = { _ in true }
    ) -> [LiveValue] {
        var live: [LiveValue] = []
        for (v, entry) in entries.enumerated()
        where entry.bytes > 0 && entry.first <= peakStep && peakStep <= entry.last && include(entry.category) {
            live.append(
                LiveValue(
                    value: ValueID(v), name: graph.values[v].name, category: entry.category,
                    bytes: entry.bytes))
        }
        live.sort { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.value < $1.value }
        return Array(live.prefix(limit))
    }
}
