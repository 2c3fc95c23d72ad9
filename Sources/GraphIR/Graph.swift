/// Index of a value in `Graph.values`.
public struct ValueID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let raw: Int
    public init(_ raw: Int) { self.raw = raw }
    public static func < (a: ValueID, b: ValueID) -> Bool { a.raw < b.raw }
    public var description: String { "%\(raw)" }
}

/// What a parameter is, in PyTorch's terms. Learnable parameters (weights, biases, BN affine, adapters)
/// count in parameter totals; buffers (BN running statistics) and optimizer state are state: never
/// trainable and not counted. Names follow PyTorch: `conv1.weight`, `bn1.running_mean`,
/// `conv1.lora_A.weight`, `conv1.weight.exp_avg` (the optimizer's `state[p]` keys).
public enum ParamRole: String, Sendable, Hashable, CaseIterable {
    case weight
    case bias
    case bnGamma = "bn_gamma"
    case bnBeta = "bn_beta"
    case runningMean = "running_mean"
    case runningVar = "running_var"
    case loraA = "lora_a"
    case loraB = "lora_b"
    case doraMagnitude = "dora_magnitude"
    case momentumBuffer = "momentum_buffer"
    case expAvg = "exp_avg"
    case expAvgSq = "exp_avg_sq"
    case galoreProjector = "galore_projector"

    /// Learnable parameters: what `model.parameters()` yields.
    public var isLearnable: Bool {
        switch self {
        case .weight, .bias, .bnGamma, .bnBeta, .loraA, .loraB, .doraMagnitude: true
        case .runningMean, .runningVar, .momentumBuffer, .expAvg, .expAvgSq, .galoreProjector: false
        }
    }

    /// Any state that is not a learnable parameter (BN running statistics and optimizer state).
    public var isBuffer: Bool { !isLearnable }

    public var isOptimizerState: Bool {
        switch self {
        case .momentumBuffer, .expAvg, .expAvgSq, .galoreProjector: true
        case .weight, .bias, .bnGamma, .bnBeta, .runningMean, .runningVar, .loraA, .loraB, .doraMagnitude: false
        }
    }

    /// Adapter parameters inserted by LoRA and DoRA.
    public var isAdapter: Bool {
        switch self {
        case .loraA, .loraB, .doraMagnitude: true
        case .weight, .bias, .bnGamma, .bnBeta, .runningMean, .runningVar, .momentumBuffer, .expAvg, .expAvgSq,
            .galoreProjector:
            false
        }
    }
}

/// Where a value comes from.
public enum ValueKind: Sendable, Hashable {
    /// A graph input: the image batch, or the labels of a training graph.
    case input
    /// A parameter or buffer, named as PyTorch's `state_dict` (or an ONNX initializer) names it.
    case parameter(role: ParamRole, trainable: Bool)
    /// Output `index` of node `node` (an index into `Graph.nodes`).
    case result(node: Int, index: Int)
}

/// One SSA value: every value has exactly one definition and a static type.
public struct Value: Sendable, Hashable {
    public var name: String
    public var type: TensorType
    public var kind: ValueKind

    public init(name: String, type: TensorType, kind: ValueKind) {
        self.name = name
        self.type = type
        self.kind = kind
    }

    public var isParameter: Bool {
        if case .parameter = kind { return true }
        return false
    }

    public var role: ParamRole? {
        if case let .parameter(role, _) = kind { return role }
        return nil
    }

    public var isTrainable: Bool {
        if case let .parameter(_, trainable) = kind { return trainable }
        return false
    }
}

/// The part of a training step a node belongs to. Forward graphs are all `forward`.
public enum Phase: String, Sendable, Hashable, CaseIterable, Comparable {
    case forward
    case backward
    case optimizer

    public static func < (a: Phase, b: Phase) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// A node's operands or results, stored inline: no op takes more than `ValueList.capacity` operands
/// (batch_norm_grad's seven) or produces more results, so a node is plain data but for its two names,
/// and copying one (every pass copies most of a graph) neither allocates nor counts references. The IR
/// parser reports a longer list as an arity error.
public struct ValueList: Sendable, Hashable, RandomAccessCollection, MutableCollection, ExpressibleByArrayLiteral,
    CustomStringConvertible
{
    public static let capacity = 7

    private var ids: (Int32, Int32, Int32, Int32, Int32, Int32, Int32) = (0, 0, 0, 0, 0, 0, 0)
    private var length: UInt8 = 0

    public init() {}

    /// The ids in order; at most `capacity` of them, each below 2^31.
    public init(_ ids: some Sequence<ValueID>) {
        for id in ids { append(id) }
    }

    public init(arrayLiteral elements: ValueID...) { self.init(elements) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { Int(length) }

    public subscript(position: Int) -> ValueID {
        get {
            precondition(position >= 0 && position < Int(length), "ValueList index out of range")
            let raw = withUnsafeBytes(of: ids) { $0.load(fromByteOffset: position * 4, as: Int32.self) }
            return ValueID(Int(raw))
        }
        set {
            precondition(position >= 0 && position < Int(length), "ValueList index out of range")
            guard let raw = Int32(exactly: newValue.raw) else {
                preconditionFailure("ValueList: id \(newValue) out of range")
            }
            withUnsafeMutableBytes(of: &ids) { $0.storeBytes(of: raw, toByteOffset: position * 4, as: Int32.self) }
        }
    }

    public mutating func append(_ id: ValueID) {
        precondition(Int(length) < Self.capacity, "ValueList: more than \(Self.capacity) values")
        length += 1
        self[Int(length) - 1] = id
    }

    /// Removes and returns the last id.
    @discardableResult
    public mutating func removeLast() -> ValueID {
        precondition(length > 0, "ValueList: removeLast of an empty list")
        let last = self[Int(length) - 1]
        self[Int(length) - 1] = ValueID(0)
        length -= 1
        return last
    }

    /// The ids as an array.
    public var array: [ValueID] { Array(self) }

    // Element-wise: the tuple's unused slots do not take part.
    public static func == (a: ValueList, b: ValueList) -> Bool { a.elementsEqual(b) }
    public func hash(into hasher: inout Hasher) { hasher.combine(array) }

    public var description: String { "[" + map(\.description).joined(separator: ", ") + "]" }
}

/// One operation. `name` is the layer's dotted path (`layer1.0.conv1`); `scope` is the path of the
/// block instance that contains it (`layer1.0`, empty at top level), used to draw clusters.
public struct Node: Sendable, Hashable {
    public var op: Op
    public var inputs: ValueList
    public var outputs: ValueList
    public var name: String
    public var scope: String
    public var phase: Phase

    public init(
        op: Op, inputs: ValueList, outputs: ValueList, name: String, scope: String = "",
        phase: Phase = .forward
    ) {
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
        self.name = name
        self.scope = scope
        self.phase = phase
    }

    @_disfavoredOverload
    public init(
        op: Op, inputs: [ValueID], outputs: [ValueID], name: String, scope: String = "",
        phase: Phase = .forward
    ) {
        self.init(
            op: op, inputs: ValueList(inputs), outputs: ValueList(outputs), name: name, scope: scope,
            phase: phase)
    }
}

/// A typed SSA graph, as a value. Nodes are kept in topological order: every operand of a node is an
/// input, a parameter, or an output of an earlier node. `Verifier` checks this and every type.
public struct Graph: Sendable, Hashable {
    public var name: String
    public var values: [Value]
    public var inputs: [ValueID]
    public var parameters: [ValueID]
    public var nodes: [Node]
    public var outputs: [ValueID]
    /// Training structure (gradients, what backward nodes differentiate, optimizer state, adapters'
    /// base layers), set by the passes that create it; see `TrainingRecords`.
    public var records: TrainingRecords

    public init(name: String) {
        self.name = name
        values = []
        inputs = []
        parameters = []
        nodes = []
        outputs = []
        records = TrainingRecords()
    }

    /// The value `id`, borrowed in place (reading `graph[id].type` copies no name).
    public subscript(id: ValueID) -> Value {
        _read { yield values[id.raw] }
        _modify { yield &values[id.raw] }
    }

    /// Appends a value and returns its id. Callers keep `inputs` / `parameters` / `nodes` in step.
    public mutating func appendValue(_ value: Value) -> ValueID {
        values.append(value)
        return ValueID(values.count - 1)
    }

    /// Parameters only (buffers excluded), as PyTorch's `parameters()`.
    public var learnableParameters: [ValueID] {
        parameters.filter { !(self[$0].role?.isBuffer ?? true) }
    }

    /// Total parameter count (buffers excluded), as `sum(p.numel() for p in model.parameters())`.
    public var parameterCount: Int { learnableElements(trainableOnly: false) }

    public var trainableParameterCount: Int { learnableElements(trainableOnly: true) }

    /// Elements of the learnable (optionally only the trainable) parameters, values read in place.
    private func learnableElements(trainableOnly: Bool) -> Int {
        var total = 0
        for id in parameters {
            guard case let .parameter(role, trainable) = values[id.raw].kind, role.isLearnable,
                trainable || !trainableOnly
            else { continue }
            total += values[id.raw].type.elementCount
        }
        return total
    }

    /// Whether `other` is this very graph, unchanged: the same name and interface, and value and node
    /// arrays in the same storage. Arrays copy on write, so two graphs share storage only while neither
    /// has been changed since one was copied from the other. O(interface size), not O(graph).
    public func sharesStorage(with other: Graph) -> Bool {
        func same<T>(_ a: [T], _ b: [T]) -> Bool {
            a.withUnsafeBufferPointer { x in
                b.withUnsafeBufferPointer { y in x.baseAddress == y.baseAddress && x.count == y.count }
            }
        }
        return name == other.name && inputs == other.inputs && parameters == other.parameters
            && outputs == other.outputs && same(values, other.values) && same(nodes, other.nodes)
            && records.sharesStorage(with: other.records)
    }

    /// For each value, the nodes that read it, in schedule order. Operands that name no value are
    /// skipped (the verifier runs this on graphs it is about to reject).
    public func users() -> [[Int]] {
        var users = Array(repeating: [Int](), count: values.count)
        for (index, node) in nodes.enumerated() {
            for input in node.inputs where input.raw >= 0 && input.raw < values.count && users[input.raw].last != index
            {
                users[input.raw].append(index)
            }
        }
        return users
    }

    /// The node that defines `id`, if it is a node result.
    public func producer(of id: ValueID) -> Int? {
        if case let .result(node, _) = self[id].kind { return node }
        return nil
    }
}
