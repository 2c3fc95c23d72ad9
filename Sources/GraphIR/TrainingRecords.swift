/// The structure of a training graph, as data: which value is each parameter's gradient, which forward
/// node each backward node differentiates, each parameter's optimizer state and update, and the base
/// layer each adapter belongs to. The passes that create the structure set these records and every
/// consumer reads them; names are labels (PyTorch's state_dict keys), so renaming a node or a value
/// changes no structure.
///
/// Every table is an array indexed by `ValueID.raw` or node index, so a lookup is one load and a rewrite
/// remaps a table in one sweep. A table is empty until something is recorded in it and may be shorter
/// than the graph (entries past its end are nil): equality and hashing compare the recorded entries
/// only, so a graph that grew values after a record was set equals its parsed text.

/// What a backward node computes the gradient through.
public enum GradientOrigin: Sendable, Hashable {
    /// A gradient op of the VJP rule of forward node `node` (an index into `Graph.nodes`).
    case node(Int)
    /// The sum that adds a further contribution to the gradient of `value` (autograd's accumulation).
    case sum(of: ValueID)
}

/// A parameter's optimizer step.
public struct OptimizerRecord: Sendable, Hashable {
    /// The node whose result 0 is the updated parameter (its other results the updated state).
    public var update: Int
    /// The parameter's optimizer state (momentum_buffer; exp_avg, exp_avg_sq; GaLore's projector), in
    /// the order the update reads them.
    public var state: ValueList

    public init(update: Int, state: ValueList) {
        self.update = update
        self.state = state
    }
}

/// The base layer an adapter parameter or adapter node belongs to.
public struct AdapterRecord: Sendable, Hashable {
    /// The adapted conv2d or linear node.
    public var layer: Int
    /// The layer's base weight parameter (what merging folds the adapter into).
    public var weight: ValueID

    public init(layer: Int, weight: ValueID) {
        self.layer = layer
        self.weight = weight
    }
}

/// The records of one graph (see the file comment).
public struct TrainingRecords: Sendable, Hashable {
    /// Per value: a trainable parameter's complete gradient.
    public private(set) var gradients: [ValueID?] = []
    /// Per node: what a backward node differentiates.
    public private(set) var origins: [GradientOrigin?] = []
    /// Per value: a parameter's optimizer step.
    public private(set) var optimizer: [OptimizerRecord?] = []
    /// Per value: the base layer of an adapter parameter.
    public private(set) var adapterParameters: [AdapterRecord?] = []
    /// Per node: the base layer of an adapter node.
    public private(set) var adapterNodes: [AdapterRecord?] = []

    public init() {}

    /// Whether nothing is recorded.
    public var isEmpty: Bool {
        gradients.allSatisfy { $0 == nil } && origins.allSatisfy { $0 == nil } && optimizer.allSatisfy { $0 == nil }
            && adapterParameters.allSatisfy { $0 == nil } && adapterNodes.allSatisfy { $0 == nil }
    }

    // MARK: Lookups (nil past a table's end)

    public func gradient(of parameter: ValueID) -> ValueID? { Self.entry(gradients, parameter.raw) ?? nil }
    public func origin(ofNode node: Int) -> GradientOrigin? { Self.entry(origins, node) ?? nil }
    public func optimizer(of parameter: ValueID) -> OptimizerRecord? { Self.entry(optimizer, parameter.raw) ?? nil }
    public func adapter(ofParameter parameter: ValueID) -> AdapterRecord? {
        Self.entry(adapterParameters, parameter.raw) ?? nil
    }
    public func adapter(ofNode node: Int) -> AdapterRecord? { Self.entry(adapterNodes, node) ?? nil }

    private static func entry<T>(_ table: [T], _ index: Int) -> T? {
        index >= 0 && index < table.count ? table[index] : nil
    }

    // MARK: Setting (tables grow on demand; nil clears)

    public mutating func setGradient(_ gradient: ValueID?, of parameter: ValueID) {
        Self.set(&gradients, parameter.raw, gradient)
    }
    public mutating func setOrigin(_ origin: GradientOrigin?, ofNode node: Int) { Self.set(&origins, node, origin) }
    public mutating func setOptimizer(_ record: OptimizerRecord?, of parameter: ValueID) {
        Self.set(&optimizer, parameter.raw, record)
    }
    public mutating func setAdapter(_ record: AdapterRecord?, ofParameter parameter: ValueID) {
        Self.set(&adapterParameters, parameter.raw, record)
    }
    public mutating func setAdapter(_ record: AdapterRecord?, ofNode node: Int) {
        Self.set(&adapterNodes, node, record)
    }

    private static func set<T>(_ table: inout [T?], _ index: Int, _ value: T?) {
        precondition(index >= 0, "TrainingRecords: negative index \(index)")
        if index >= table.count {
            guard value != nil else { return }
            // `append` grows the storage geometrically (a pass records one entry per node it emits); an
            // explicit `reserveCapacity` here would reallocate on every call.
            table.append(contentsOf: repeatElement(nil, count: index + 1 - table.count))
        }
        table[index] = value
    }

    // MARK: Rewrites

    /// The records after a rewrite: `value(old)` and `node(old)` give the new id or index, nil when the
    /// rewrite dropped it. A record is kept only when everything it refers to is kept.
    public func remapped(values value: (ValueID) -> ValueID?, nodes node: (Int) -> Int?) -> TrainingRecords {
        var out = TrainingRecords()
        for (raw, g) in gradients.enumerated() {
            guard let g, let p = value(ValueID(raw)), let ng = value(g) else { continue }
            out.setGradient(ng, of: p)
        }
        for (index, o) in origins.enumerated() {
            guard let o, let n = node(index) else { continue }
            switch o {
            case let .node(f): if let nf = node(f) { out.setOrigin(.node(nf), ofNode: n) }
            case let .sum(v): if let nv = value(v) { out.setOrigin(.sum(of: nv), ofNode: n) }
            }
        }
        for (raw, r) in optimizer.enumerated() {
            guard let r, let p = value(ValueID(raw)), let u = node(r.update) else { continue }
            let state = r.state.compactMap(value)
            guard state.count == r.state.count else { continue }
            out.setOptimizer(OptimizerRecord(update: u, state: ValueList(state)), of: p)
        }
        func adapter(_ r: AdapterRecord) -> AdapterRecord? {
            guard let l = node(r.layer), let w = value(r.weight) else { return nil }
            return AdapterRecord(layer: l, weight: w)
        }
        for (raw, r) in adapterParameters.enumerated() {
            guard let r, let p = value(ValueID(raw)), let a = adapter(r) else { continue }
            out.setAdapter(a, ofParameter: p)
        }
        for (index, r) in adapterNodes.enumerated() {
            guard let r, let n = node(index), let a = adapter(r) else { continue }
            out.setAdapter(a, ofNode: n)
        }
        return out
    }

    /// Adds `other`'s entries where these records have none (these win).
    public mutating func fill(from other: TrainingRecords) {
        for (i, e) in other.gradients.enumerated() where e != nil && gradient(of: ValueID(i)) == nil {
            setGradient(e, of: ValueID(i))
        }
        for (i, e) in other.origins.enumerated() where e != nil && origin(ofNode: i) == nil { setOrigin(e, ofNode: i) }
        for (i, e) in other.optimizer.enumerated() where e != nil && optimizer(of: ValueID(i)) == nil {
            setOptimizer(e, of: ValueID(i))
        }
        for (i, e) in other.adapterParameters.enumerated() where e != nil && adapter(ofParameter: ValueID(i)) == nil {
            setAdapter(e, ofParameter: ValueID(i))
        }
        for (i, e) in other.adapterNodes.enumerated() where e != nil && adapter(ofNode: i) == nil {
            setAdapter(e, ofNode: i)
        }
    }

    /// Whether `other` holds these very tables, unchanged (see `Graph.sharesStorage`).
    func sharesStorage(with other: TrainingRecords) -> Bool {
        func same<T>(_ a: [T], _ b: [T]) -> Bool {
            a.withUnsafeBufferPointer { x in
                b.withUnsafeBufferPointer { y in x.baseAddress == y.baseAddress && x.count == y.count }
            }
        }
        return same(gradients, other.gradients) && same(origins, other.origins) && same(optimizer, other.optimizer)
            && same(adapterParameters, other.adapterParameters) && same(adapterNodes, other.adapterNodes)
    }

    // MARK: Equality of the recorded entries (trailing nils do not count)

    private static func equal<T: Equatable>(_ a: [T?], _ b: [T?]) -> Bool {
        let n = Swift.max(a.count, b.count)
        for i in 0..<n where entry(a, i) ?? nil != entry(b, i) ?? nil { return false }
        return true
    }

    private static func hash<T: Hashable>(_ table: [T?], into hasher: inout Hasher) {
        for (i, e) in table.enumerated() {
            guard let e else { continue }
            hasher.combine(i)
            hasher.combine(e)
        }
        hasher.combine(-1)
    }

    public static func == (a: TrainingRecords, b: TrainingRecords) -> Bool {
        equal(a.gradients, b.gradients) && equal(a.origins, b.origins) && equal(a.optimizer, b.optimizer)
            && equal(a.adapterParameters, b.adapterParameters) && equal(a.adapterNodes, b.adapterNodes)
    }

    public func hash(into hasher: inout Hasher) {
        Self.hash(gradients, into: &hasher)
        Self.hash(origins, into: &hasher)
        Self.hash(optimizer, into: &hasher)
        Self.hash(adapterParameters, into: &hasher)
        Self.hash(adapterNodes, into: &hasher)
    }
}
