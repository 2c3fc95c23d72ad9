/// Checks a graph's invariants and returns every problem found, not only the first:
/// - each value is defined exactly once, by the list or node its kind names;
/// - nodes are in topological order (an operand defined by a later node is a cycle or a misordering);
/// - each node's operand count fits its op and its result types equal what shape inference gives (or
///   store it: `TensorType.stores`);
/// - node, input and parameter names are unique; outputs exist;
/// - a parameter read by an op that takes parameters sits in a slot for its role (`operand-role`): batch
///   norm's γ, β, running mean and variance in slots 1-4, conv and linear weight and bias in 1 and 2,
///   optimizer state where its update reads it, LoRA / DoRA parameters only where adapters use them.
///   Swapped slots would type-check (γ and β have one shape) yet train the wrong tensors.
/// - training records (`Graph.records`) refer to existing values and nodes of the right kind and type
///   (`RecordCheck`, `bad-record`).
/// - reduced-precision storage (`f16`, `bf16`, `qi8`) only on frozen learnable parameters, node results
///   and inputs (`bad-precision`); a node result may be stored narrower than the f32 it is computed in.
/// Unused parameters and inputs are warnings.
public enum Verifier {
    public static func verify(_ graph: Graph) -> [Diagnostic] {
        let verification = Verification(graph)
        return verification.finish((0..<verification.taskCount).map(verification.run))
    }

    /// Throws the diagnostics when any is an error.
    public static func check(_ graph: Graph) throws(DiagnosticError) {
        let diags = verify(graph)
        if diags.contains(where: { $0.severity == .error }) { throw DiagnosticError(diags) }
    }
}

/// `Verifier.verify` in parts that may run on several threads: `init` checks the definitions, each of
/// the `taskCount` tasks checks a run of nodes (operands defined earlier, arity, types) or the names,
/// and `finish` puts their diagnostics together in the order a single sweep reports them. Tasks only
/// read, so any number may run at once.
public struct Verification: Sendable {
    public let graph: Graph
    /// Nodes per type-checking task.
    static let chunk = 4096
    /// Diagnostics of the definitions check, reported first.
    private let definitionDiagnostics: [Diagnostic]
    /// Per value: the index of the first node that defines it, -1 for inputs and parameters, `Int.max` if
    /// nothing does. An operand is in order when its definition comes before its reader.
    private let definedAt: [Int]
    /// Per value: whether some node reads it or it is an output (for the unused-value warnings).
    private let used: [Bool]

    public init(_ graph: Graph) {
        self.graph = graph
        var diags: [Diagnostic] = []
        func error(_ id: String, _ message: String, node: String? = nil) {
            diags.append(.error(id, message, node: node))
        }
        let count = graph.values.count
        func valid(_ id: ValueID) -> Bool { id.raw >= 0 && id.raw < count }
        var definedAt = Array(repeating: Int.max, count: count)
        var used = Array(repeating: false, count: count)
        // Nodes are read in place (through a buffer pointer), never copied.
        graph.values.withUnsafeBufferPointer { values in
            graph.nodes.withUnsafeBufferPointer { nodes in
                // Definitions: who claims each value.
                var definedBy = Array(repeating: 0, count: count)
                for id in graph.inputs {
                    guard valid(id) else { error("undefined-value", "input \(id) does not exist"); continue }
                    definedBy[id.raw] += 1
                    definedAt[id.raw] = -1
                    if values[id.raw].kind != .input {
                        error("bad-definition", "input \(id) '\(graph[id].name)' is not of kind input")
                    }
                }
                for id in graph.parameters {
                    guard valid(id) else { error("undefined-value", "parameter \(id) does not exist"); continue }
                    definedBy[id.raw] += 1
                    definedAt[id.raw] = -1
                    if !values[id.raw].isParameter {
                        error("bad-definition", "parameter \(id) '\(graph[id].name)' is not of kind parameter")
                    } else if let problem = Self.precisionProblem(values[id.raw]) {
                        error("bad-precision", "parameter \(id) '\(graph[id].name)' \(problem)", node: graph[id].name)
                    }
                }
                for index in nodes.indices {
                    for id in nodes[index].inputs where valid(id) { used[id.raw] = true }
                    for k in nodes[index].outputs.indices {
                        let id = nodes[index].outputs[k]
                        guard valid(id) else {
                            error("undefined-value", "result \(id) does not exist", node: nodes[index].name)
                            continue
                        }
                        definedBy[id.raw] += 1
                        definedAt[id.raw] = min(definedAt[id.raw], index)
                        if values[id.raw].kind != .result(node: index, index: k) {
                            error(
                                "bad-definition",
                                "value \(id) is listed as result \(k) of '\(nodes[index].name)' but says "
                                    + "otherwise", node: nodes[index].name)
                        }
                    }
                }
                for (raw, n) in definedBy.enumerated() where n != 1 {
                    let v = graph.values[raw]
                    error(
                        n == 0 ? "undefined-value" : "duplicate-definition",
                        n == 0
                            ? "value %\(raw) '\(v.name)' has no definition"
                            : "value %\(raw) '\(v.name)' is defined \(n) times")
                }
            }
        }
        for id in graph.outputs where valid(id) { used[id.raw] = true }
        definitionDiagnostics = diags
        self.definedAt = definedAt
        self.used = used
    }

    /// What is wrong with a parameter's storage dtype, or nil: reduced precision is for frozen learnable
    /// parameters (trainable ones, buffers and optimizer state keep f32, as mixed-precision training keeps
    /// master copies), and `qi8`'s per-output-channel scales need a dimension 0.
    static func precisionProblem(_ v: Value) -> String? {
        guard v.type.dtype.isReducedPrecision, case let .parameter(role, trainable) = v.kind else { return nil }
        if trainable || !role.isLearnable {
            return "is \(v.type.dtype.rawValue), but only frozen weights are stored in reduced precision"
        }
        if v.type.dtype == .qi8 && v.type.rank == 0 {
            return "is a qi8 scalar; qi8 needs a dimension 0 for its per-channel scales"
        }
        return nil
    }

    private var nodeTasks: Int { (graph.nodes.count + Self.chunk - 1) / Self.chunk }

    /// The node-checking tasks and, last, the two name checks (nodes; inputs and parameters).
    public var taskCount: Int { nodeTasks + 2 }

    /// Runs task `task` (`0 ..< taskCount`) and returns its diagnostics.
    public func run(_ task: Int) -> [Diagnostic] {
        if task < nodeTasks {
            let first = task * Self.chunk
            return checkNodes(first..<min(first + Self.chunk, graph.nodes.count))
        }
        return task == nodeTasks ? checkNodeNames() : checkDeclaredNames()
    }

    /// Order and types of the nodes in `range`.
    private func checkNodes(_ range: Range<Int>) -> [Diagnostic] {
        var diags: [Diagnostic] = []
        func error(_ id: String, _ message: String, node: String? = nil) {
            diags.append(.error(id, message, node: node))
        }
        let graph = graph, count = graph.values.count
        func valid(_ id: ValueID) -> Bool { id.raw >= 0 && id.raw < count }
        graph.values.withUnsafeBufferPointer { values in
            graph.nodes.withUnsafeBufferPointer { nodes in
                var operandTypes: [TensorType] = []
                for index in range {
                    let node = UnsafePointer(nodes.baseAddress! + index)
                    var operandsOK = true
                    for id in node.pointee.inputs {
                        guard valid(id) else {
                            error(
                                "undefined-value", "operand \(id) of '\(node.pointee.name)' does not exist",
                                node: node.pointee.name)
                            operandsOK = false
                            continue
                        }
                        if definedAt[id.raw] >= index {
                            let later = graph.producer(of: id).map { "'\(graph.nodes[$0].name)'" } ?? "nothing"
                            error(
                                "cycle",
                                "'\(node.pointee.name)' uses \(id) '\(graph[id].name)' before it is defined "
                                    + "(by \(later)): a cycle or nodes out of topological order",
                                node: node.pointee.name)
                            operandsOK = false
                        }
                    }
                    let op = node.pointee.op
                    if node.pointee.outputs.count != op.outputCount {
                        error(
                            "arity",
                            "'\(node.pointee.name)' (\(op.name)) has \(node.pointee.outputs.count) results, "
                                + "expected \(op.outputCount)", node: node.pointee.name)
                    }
                    guard operandsOK else { continue }
                    for (slot, id) in node.pointee.inputs.enumerated() {
                        guard let role = values[id.raw].role, values[id.raw].isParameter,
                            let problem = Self.roleProblem(op, slot, role)
                        else { continue }
                        error(
                            "operand-role",
                            "'\(node.pointee.name)' (\(op.name)) reads \(role.rawValue) '\(values[id.raw].name)' "
                                + "as operand \(slot), \(problem)", node: node.pointee.name)
                    }
                    operandTypes.removeAll(keepingCapacity: true)
                    for id in node.pointee.inputs { operandTypes.append(values[id.raw].type) }
                    do throws(ShapeError) {
                        let expected = try op.inferTypes(operandTypes)
                        // Compare with the valid results' types in place; build the lists only to report.
                        var matches = true, k = 0
                        for id in node.pointee.outputs where valid(id) {
                            if k >= expected.count || !values[id.raw].type.stores(expected[k]) {
                                matches = false
                                break
                            }
                            k += 1
                        }
                        if !matches || k != expected.count {
                            let actual = node.pointee.outputs.filter(valid).map { graph[$0].type }
                            error(
                                "type-mismatch",
                                "'\(node.pointee.name)' (\(op.name)) declares "
                                    + actual.map(\.description).joined(separator: ", ") + " but its operands give "
                                    + expected.map(\.description).joined(separator: ", "), node: node.pointee.name)
                        }
                    } catch {
                        diags.append(
                            .error(error.id, "'\(node.pointee.name)': \(error.message)", node: node.pointee.name))
                    }
                }
            }
        }
        return diags
    }

    /// What is wrong with a parameter of `role` in operand `slot` of `op`, or nil (`Op+Operands.swift`).
    static func roleProblem(_ op: Op, _ slot: Int, _ role: ParamRole) -> String? {
        if let required = op.requiredRoles(operand: slot) {
            guard !required.contains(role) else { return nil }
            return "where it takes " + required.names.joined(separator: " or ")
        }
        guard role.isAdapter, !op.adapterRoles(operand: slot).contains(role) else { return nil }
        return "which is not where \(role == .doraMagnitude ? "DoRA" : "LoRA") uses it"
    }

    /// Node names: every later occurrence of a name already seen is reported, in order.
    private func checkNodeNames() -> [Diagnostic] {
        graph.nodes.withUnsafeBufferPointer { nodes in
            NameTable.repeats(nodes.count, { nodes[$0].name }).map { index in
                .error(
                    "duplicate-name", "node name '\(nodes[index].name)' is used more than once", node: nodes[index].name
                )
            }
        }
    }

    /// Input and parameter names, the same way.
    private func checkDeclaredNames() -> [Diagnostic] {
        var diags: [Diagnostic] = []
        let graph = graph, count = graph.values.count
        graph.values.withUnsafeBufferPointer { values in
            let declared = (graph.inputs + graph.parameters).filter { $0.raw >= 0 && $0.raw < count }
            for k in NameTable.repeats(declared.count, { values[declared[$0].raw].name }) {
                let name = values[declared[k].raw].name
                diags.append(
                    .error(
                        "duplicate-name", "input or parameter name '\(name)' is used more than once",
                        node: name))
            }
        }
        return diags
    }

    /// All diagnostics, from the results of tasks `0 ..< taskCount` in task order.
    public func finish(_ results: [[Diagnostic]]) -> [Diagnostic] {
        precondition(results.count == taskCount, "Verification.finish: one result per task")
        var diags = definitionDiagnostics
        for r in results { diags += r }
        let count = graph.values.count
        func valid(_ id: ValueID) -> Bool { id.raw >= 0 && id.raw < count }
        if graph.outputs.isEmpty { diags.append(.error("no-output", "graph '\(graph.name)' has no outputs")) }
        for id in graph.outputs where !valid(id) {
            diags.append(.error("undefined-value", "output \(id) does not exist"))
        }

        // Records (only when the definitions are sound: the checks follow producers).
        if definitionDiagnostics.isEmpty {
            for (message, subject) in RecordCheck.all(graph) {
                diags.append(.error("bad-record", message, node: subject))
            }
        }

        // Unused parameters and inputs are legal but usually a mistake.
        for ids in [graph.inputs, graph.parameters] {
            for id in ids where valid(id) && !used[id.raw] {
                diags.append(
                    Diagnostic(
                        id: "unused-value", severity: .warning,
                        message: "'\(graph[id].name)' (\(id)) is never used", node: graph[id].name))
            }
        }
        return diags
    }
}

/// Finds repeated names fast: an open-addressing table of indices keyed by a cheap hash of the UTF-8
/// bytes. Byte equality is String equality only for ASCII (Swift compares canonical equivalence, and a
/// non-ASCII name can equal an ASCII one, e.g. U+212A KELVIN SIGN and "K"), so any non-ASCII name sends
/// the whole check to `Set<String>`. Either way the result is the same.
enum NameTable {
    /// The indices `i` in `0 ..< count`, ascending, whose `name(i)` equals that of an earlier index.
    static func repeats(_ count: Int, _ name: (Int) -> String) -> [Int] {
        guard count < Int(UInt32.max) else { return slowRepeats(count, name) }
        var capacity = 16
        while capacity < 2 * count { capacity <<= 1 }
        let mask = capacity - 1
        // A slot holds the upper half of the name's hash and its index + 1 (0: empty), so a probe reads
        // one word: names are compared only when the tags agree. Tables this size live outside the cache.
        var slots = [UInt64](repeating: 0, count: capacity)
        var found: [Int] = []
        for i in 0..<count {
            var text = name(i)
            guard let h = text.withUTF8({ ASCIIHash.fnv1a($0) }) else { return slowRepeats(count, name) }
            let tag = h & 0xffff_ffff_0000_0000
            var slot = Int(truncatingIfNeeded: h) & mask
            var repeated = false
            while slots[slot] != 0 {
                if slots[slot] & 0xffff_ffff_0000_0000 == tag, name(Int(slots[slot] & 0xffff_ffff) - 1) == text {
                    repeated = true
                    break
                }
                slot = (slot + 1) & mask
            }
            if repeated { found.append(i) } else { slots[slot] = tag | UInt64(i + 1) }
        }
        return found
    }

    private static func slowRepeats(_ count: Int, _ name: (Int) -> String) -> [Int] {
        var seen = Set<String>(minimumCapacity: count)
        return (0..<count).filter { !seen.insert(name($0)).inserted }
    }
}

/// The checks of `Graph.records`, one function per kind of record, shared by the verifier and the IR
/// parser (which reports each problem on the record's line). Each returns what is wrong, or nil.
public enum RecordCheck {
    static func valid(_ graph: Graph, _ id: ValueID) -> Bool { id.raw >= 0 && id.raw < graph.values.count }
    static func validNode(_ graph: Graph, _ index: Int) -> Bool { index >= 0 && index < graph.nodes.count }
    static func describe(_ graph: Graph, _ id: ValueID) -> String {
        valid(graph, id) ? "\(id) '\(graph[id].name)'" : "\(id)"
    }

    /// `gradient` is the gradient of `parameter`: a trainable parameter, and a node result of its type.
    public static func gradient(_ graph: Graph, parameter p: ValueID, gradient g: ValueID) -> String? {
        guard valid(graph, p), graph[p].isParameter else {
            return "gradient record on \(describe(graph, p)), which is not a parameter"
        }
        guard graph[p].isTrainable else { return "gradient record on \(describe(graph, p)), which is not trainable" }
        guard valid(graph, g), graph.producer(of: g) != nil else {
            return "the gradient of \(describe(graph, p)) is \(describe(graph, g)), which is not a node result"
        }
        guard graph[g].type == graph[p].type else {
            return "the gradient of \(describe(graph, p)) (\(graph[p].type)) is \(describe(graph, g)) of type "
                + "\(graph[g].type)"
        }
        return nil
    }

    /// Backward node `node` differentiates forward node `.node(f)` or sums the gradient of `.sum(v)`.
    public static func origin(_ graph: Graph, node i: Int, origin: GradientOrigin) -> String? {
        guard validNode(graph, i), graph.nodes[i].phase == .backward else {
            return "origin record on node \(i)" + (validNode(graph, i) ? " '\(graph.nodes[i].name)'" : "")
                + ", which is not a backward node"
        }
        switch origin {
        case let .node(f):
            guard validNode(graph, f), graph.nodes[f].phase == .forward else {
                return "'\(graph.nodes[i].name)' is recorded as differentiating node \(f)"
                    + (validNode(graph, f) ? " '\(graph.nodes[f].name)'" : "") + ", which is not a forward node"
            }
        case let .sum(v):
            guard valid(graph, v) else {
                return "'\(graph.nodes[i].name)' sums the gradient of \(v), which does not exist"
            }
            if let f = graph.producer(of: v), graph.nodes[f].phase != .forward {
                return
                    "'\(graph.nodes[i].name)' sums the gradient of \(describe(graph, v)), which is not a forward value"
            }
        }
        return nil
    }

    /// `record` is the optimizer step of parameter `p`: an optimizer node, state values of state roles.
    public static func optimizer(_ graph: Graph, parameter p: ValueID, record: OptimizerRecord) -> String? {
        guard valid(graph, p), graph[p].isParameter else {
            return "optimizer record on \(describe(graph, p)), which is not a parameter"
        }
        guard validNode(graph, record.update), graph.nodes[record.update].phase == .optimizer else {
            return "the update of \(describe(graph, p)) is node \(record.update), which is not an optimizer node"
        }
        for s in record.state where !(valid(graph, s) && graph[s].role?.isOptimizerState == true) {
            return "optimizer state \(describe(graph, s)) of \(describe(graph, p)) is not an optimizer-state parameter"
        }
        return nil
    }

    /// `record` names the base layer of an adapter parameter (`parameter`) or adapter node (`node`).
    public static func adapter(
        _ graph: Graph, parameter: ValueID? = nil, node: Int? = nil,
        record: AdapterRecord
    ) -> String? {
        if let p = parameter, !(valid(graph, p) && graph[p].role?.isAdapter == true) {
            return "adapter record on \(describe(graph, p)), which is not an adapter parameter"
        }
        if let n = node, !(validNode(graph, n) && graph.nodes[n].phase == .forward) {
            return "adapter record on node \(n), which is not a forward node"
        }
        guard validNode(graph, record.layer), graph.nodes[record.layer].phase == .forward else {
            return "the base layer of an adapter is node \(record.layer), which is not a forward node"
        }
        guard valid(graph, record.weight), graph[record.weight].isParameter,
            graph[record.weight].role?.isAdapter != true
        else {
            return "the base weight of an adapter is \(describe(graph, record.weight)), which is not a base parameter"
        }
        return nil
    }

    /// Every problem with `graph.records`, with the name of the value or node each concerns.
    public static func all(_ graph: Graph) -> [(message: String, subject: String?)] {
        var out: [(String, String?)] = []
        let r = graph.records
        func name(_ id: ValueID) -> String? { valid(graph, id) ? graph[id].name : nil }
        func name(_ i: Int) -> String? { validNode(graph, i) ? graph.nodes[i].name : nil }
        for (raw, g) in r.gradients.enumerated() {
            if let g, let m = gradient(graph, parameter: ValueID(raw), gradient: g) {
                out.append((m, name(ValueID(raw))))
            }
        }
        for (i, o) in r.origins.enumerated() {
            if let o, let m = origin(graph, node: i, origin: o) { out.append((m, name(i))) }
        }
        for (raw, rec) in r.optimizer.enumerated() {
            if let rec, let m = optimizer(graph, parameter: ValueID(raw), record: rec) {
                out.append((m, name(ValueID(raw))))
            }
        }
        for (raw, rec) in r.adapterParameters.enumerated() {
            if let rec, let m = adapter(graph, parameter: ValueID(raw), record: rec) {
                out.append((m, name(ValueID(raw))))
            }
        }
        for (i, rec) in r.adapterNodes.enumerated() {
            if let rec, let m = adapter(graph, node: i, record: rec) { out.append((m, name(i))) }
        }
        return out
    }
}
