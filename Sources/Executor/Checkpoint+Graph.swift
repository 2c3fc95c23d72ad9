// Checkpoints of a graph's parameters. Tensor names are the graph's parameter names, which are PyTorch's
// state_dict keys (conv1.weight, bn1.running_mean, layer1.0.conv1.lora_A.weight, ...), so a file loads
// into the PyTorch original with load_state_dict(strict=True). What a checkpoint holds is what a PyTorch
// state_dict holds: the learnable parameters and BN's running statistics (no optimizer state), plus, for
// every BN layer, `PREFIX.num_batches_tracked` (I64, shape []): the number of training steps run.
//
// Loading is strict both ways: every state parameter of the graph must be in the file with its exact
// dtype and shape, and every tensor of the file must be one of them (or a BN layer's
// num_batches_tracked, which the graph has no value for).
import GraphIR

extension Checkpoint {
    /// The parameters a checkpoint of `graph` holds, in graph order: all but optimizer state.
    public static func stateParameters(of graph: Graph) -> [ValueID] {
        graph.parameters.filter { !(graph[$0].role?.isOptimizerState ?? true) }
    }

    /// The step counter of every BN layer of `graph`: the layer's running variance and the state_dict key
    /// of its `num_batches_tracked`, `NODE.num_batches_tracked` with NODE the forward norm node that reads
    /// that running variance (its module's name, as PyTorch names the buffer). In parameter order.
    public static func stepCounters(of graph: Graph) -> [(runningVar: ValueID, key: String)] {
        var layer: [ValueID: String] = [:]
        for node in graph.nodes where node.phase == .forward {
            for id in node.inputs where graph[id].role == .runningVar && layer[id] == nil { layer[id] = node.name }
        }
        return graph.parameters.compactMap { id in layer[id].map { (id, $0 + ".num_batches_tracked") } }
    }

    /// The largest `num_batches_tracked` among `graph`'s step counters in this checkpoint, or nil.
    public func steps(for graph: Graph) -> Int? {
        let keys = Set(Self.stepCounters(of: graph).map(\.key))
        return tensors.filter { keys.contains($0.name) }.compactMap { $0.integers.first.map(Int.init) }.max()
    }

    /// A checkpoint of `graph`'s state parameters, read from `storage`, with `num_batches_tracked` =
    /// `steps` after every BN layer's running variance. Metadata: `format` = pt (what PyTorch tools
    /// expect), `producer` = graphc, `model` = the graph's name, plus `metadata`.
    public init(graph: Graph, steps: Int, metadata: [String: String] = [:], storage: (ValueID) -> TensorView) {
        precondition(steps >= 0, "Checkpoint: \(steps) steps")
        var tensors: [Tensor] = []
        let counters = Dictionary(Self.stepCounters(of: graph), uniquingKeysWith: { a, _ in a })
        for id in Self.stateParameters(of: graph) {
            let view = storage(id)
            precondition(
                view.dtype == graph[id].type.dtype && view.shape == graph[id].type.shape,
                "Checkpoint: storage of '\(graph[id].name)' is \(view.dtype.rawValue)\(view.shape)")
            tensors.append(Tensor(name: graph[id].name, view: view))
            if let key = counters[id] { tensors.append(Tensor(name: key, shape: [], integers: [Int64(steps)])) }
        }
        var m = metadata
        m["format"] = m["format"] ?? "pt"
        m["producer"] = m["producer"] ?? "graphc"
        m["model"] = m["model"] ?? graph.name
        self.init(tensors: tensors, metadata: m)
    }

    /// What `load` found besides the parameters.
    public struct Loaded: Sendable, Equatable {
        /// The largest `num_batches_tracked` in the file (nil when it has none).
        public var steps: Int?
    }

    /// Checks that this checkpoint (read from `file`) holds exactly `graph`'s state parameters, then
    /// copies each into `storage(id)`. Nothing is copied unless everything matches.
    @discardableResult
    public func load(into graph: Graph, file: String, storage: (ValueID) -> TensorView) throws(CheckpointError)
        -> Loaded
    {
        let pairs = try bind(to: graph, file: file)
        for (id, t) in pairs { t.copy(into: storage(id)) }
        return Loaded(steps: steps(for: graph))
    }

    /// The graph parameter each tensor loads into; throws, naming the tensors, when names, dtypes or
    /// shapes do not match.
    public func bind(to graph: Graph, file: String) throws(CheckpointError) -> [(ValueID, Tensor)] {
        let wanted = Self.stateParameters(of: graph)
        var byName: [String: ValueID] = [:]
        for id in wanted { byName[graph[id].name] = id }
        let counterKeys = Set(Self.stepCounters(of: graph).map(\.key))
        var pairs: [(ValueID, Tensor)] = []
        var unexpected: [String] = [], found = Set<String>()
        for t in tensors {
            if let id = byName[t.name] {
                let type = graph[id].type
                guard t.dtype == type.dtype, t.shape == type.shape.array else {
                    throw CheckpointError(
                        "'\(file)': tensor '\(t.name)' is \(t.typeDescription) in the checkpoint but "
                            + "\(Self.fileDType(type.dtype)) \(type.shape) in '\(graph.name)'")
                }
                pairs.append((id, t))
                found.insert(t.name)
            } else if counterKeys.contains(t.name) {
                guard t.dtype == .i64, t.shape.isEmpty else {
                    throw CheckpointError(
                        "'\(file)': tensor '\(t.name)' is \(t.typeDescription) in the checkpoint but "
                            + "num_batches_tracked is I64 []")
                }
            } else {
                unexpected.append(t.name)
            }
        }
        let missing = wanted.filter { !found.contains(graph[$0].name) }.map { graph[$0].name }
        if !missing.isEmpty || !unexpected.isEmpty {
            func list(_ names: [String]) -> String {
                let shown = names.prefix(3).map { "'\($0)'" }.joined(separator: ", ")
                return names.count > 3 ? shown + " and \(names.count - 3) more" : shown
            }
            var parts: [String] = []
            if !missing.isEmpty {
                parts.append("\(missing.count) of its \(wanted.count) parameters are missing (\(list(missing)))")
            }
            if !unexpected.isEmpty {
                parts.append("\(unexpected.count) tensors are not parameters of it (\(list(unexpected)))")
            }
            var why = parts.joined(separator: ", and ")
            if let model = metadata["model"], model != graph.name {
                why += "; the checkpoint was written for '\(model)'"
            } else if found.count * 2 < wanted.count {
                why += "; is it another model's checkpoint?"
            }
            throw CheckpointError("'\(file)' does not fit '\(graph.name)': \(why)")
        }
        return pairs
    }
}
