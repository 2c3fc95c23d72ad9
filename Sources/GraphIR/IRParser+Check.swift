/// Phases 3 to 5 of `IRParser`: from statements to a verified `Graph`.
///
/// Approach: labels (`%N` as written) are only names; the graph gets canonical ids (inputs, then
/// parameters, then node results, each in text order), so a parsed graph equals `renumbered()` of the
/// graph that was printed. Types flow from declarations: a node is checked against its operands'
/// *declared* types, so one wrong line yields one error, not a cascade. The verifier runs last on the
/// built graph; when this file already reported errors, the verifier's reports of the same kinds are
/// dropped as echoes, and the rest (names, outputs, unused values) are placed on their lines.

struct GraphChecker {
    let file: FileSyntax
    let map: IRSourceMap
    var diagnostics: [Diagnostic] = []

    init(file: FileSyntax, map: IRSourceMap) {
        self.file = file
        self.map = map
    }

    /// A label's definition: its statement, its position among that statement's results, its span.
    private struct Definition {
        var statement: Int
        var index: Int
        var span: IRSpan
    }

    /// Ids the checks here own; the verifier's reports of these are echoes once this file has errors.
    private static let ownedIDs: Set<String> = [
        "undefined-value", "duplicate-definition", "cycle", "type-mismatch", "arity", "rank", "channel-mismatch",
        "shape-mismatch", "dtype", "bad-size", "bad-attribute", "bad-definition", "unknown-op",
        "unknown-attribute", "missing-attribute", "attribute-type", "bad-record",
    ]

    private mutating func report(
        _ id: String, _ message: String, _ span: IRSpan, node: String? = nil,
        notes: [String] = []
    ) {
        diagnostics.append(map.diagnostic(id, message, at: span, node: node, notes: notes))
    }

    mutating func run() -> Graph? {
        // Phase 3: definitions, then references.
        var definitions: [String: Definition] = [:]
        func define(_ label: IRLocated<String>, _ statement: Int, _ index: Int, node: String?) {
            if let first = definitions[label.value] {
                report(
                    "duplicate-definition", "%\(label.value) is already defined", label.span, node: node,
                    notes: ["first defined on \(map.lineDescription(first.span.start))"])
            } else {
                definitions[label.value] = Definition(statement: statement, index: index, span: label.span)
            }
        }
        for (s, statement) in file.statements.enumerated() {
            switch statement {
            case let .input(label, name, _), let .param(label, name, _, _, _):
                define(label, s, 0, node: name.value)
            case let .node(n):
                for (k, label) in n.results.enumerated() { define(label, s, k, node: n.name.value) }
            case .output, .record:
                break
            }
        }
        func resolve(_ label: IRLocated<String>, from statement: Int, node: String?) -> Definition? {
            guard let def = definitions[label.value] else {
                report("undefined-value", "%\(label.value) is not defined", label.span, node: node)
                return nil
            }
            guard def.statement < statement else {
                report(
                    "cycle",
                    "%\(label.value) is used before it is defined (on \(map.lineDescription(def.span.start))): "
                        + "a cycle or lines out of order", label.span, node: node)
                return nil
            }
            return def
        }
        var operandDefinitions: [Int: [Definition]] = [:]
        var outputDefinitions: [Definition] = []
        var referencesOK = diagnostics.isEmpty
        for (s, statement) in file.statements.enumerated() {
            switch statement {
            case .input, .param:
                break
            case let .node(n):
                let defs = n.operands.compactMap { resolve($0, from: s, node: n.name.value) }
                if defs.count == n.operands.count { operandDefinitions[s] = defs } else { referencesOK = false }
            case let .output(label):
                if let def = resolve(label, from: s, node: nil) {
                    outputDefinitions.append(def)
                } else {
                    referencesOK = false
                }
            case let .record(r):
                // Records refer to values anywhere in the file (they state facts, they compute nothing).
                for label in r.labels where definitions[label.value] == nil {
                    report("undefined-value", "%\(label.value) is not defined", label.span)
                    referencesOK = false
                }
            }
        }

        // Phase 4: ops, attributes and types, against declared operand types.
        func declaredType(_ def: Definition) -> TensorType {
            switch file.statements[def.statement] {
            case let .input(_, _, type), let .param(_, _, type, _, _): type.value
            case let .node(n): n.types[min(def.index, n.types.count - 1)].value
            case .output, .record: TensorType(.f32, [])
            }
        }
        var ops: [Int: Op] = [:]
        for (s, statement) in file.statements.enumerated() {
            guard case let .node(n) = statement else { continue }
            guard let op = makeOp(n) else { continue }
            ops[s] = op
            guard let defs = operandDefinitions[s] else { continue }
            checkTypes(n, op, defs.map(declaredType))
        }
        // No op takes or gives more than `ValueList.capacity` values; a longer list was reported as an arity
        // error by the type check above and cannot be represented.
        let fits = file.statements.allSatisfy {
            guard case let .node(n) = $0 else { return true }
            return n.operands.count <= ValueList.capacity && n.results.count <= ValueList.capacity
        }
        guard referencesOK, fits,
            ops.count == file.statements.filter({ if case .node = $0 { true } else { false } }).count
        else { return nil }

        // Build: canonical ids.
        var graph = Graph(name: file.name)
        var id: [Int: [ValueID]] = [:]  // statement → its value ids
        for pass in 0..<2 {
            for (s, statement) in file.statements.enumerated() {
                switch statement {
                case let .input(_, name, type) where pass == 0:
                    let v = graph.appendValue(Value(name: name.value, type: type.value, kind: .input))
                    graph.inputs.append(v)
                    id[s] = [v]
                case let .param(_, name, type, role, trainable) where pass == 1:
                    let v = graph.appendValue(
                        Value(
                            name: name.value, type: type.value,
                            kind: .parameter(role: role, trainable: trainable)))
                    graph.parameters.append(v)
                    id[s] = [v]
                default:
                    break
                }
            }
        }
        for (s, statement) in file.statements.enumerated() {
            guard case let .node(n) = statement, let op = ops[s], let defs = operandDefinitions[s] else { continue }
            let index = graph.nodes.count
            let outputs = n.types.enumerated().map { k, type in
                graph.appendValue(
                    Value(
                        name: n.types.count == 1 ? n.name.value : "\(n.name.value).\(k)",
                        type: type.value, kind: .result(node: index, index: k)))
            }
            id[s] = outputs
            let inputs = defs.map { id[$0.statement]?[$0.index] ?? ValueID(-1) }
            graph.nodes.append(
                Node(
                    op: op, inputs: inputs, outputs: outputs, name: n.name.value,
                    scope: n.scope?.value ?? "", phase: n.phase))
        }
        graph.outputs = outputDefinitions.map { id[$0.statement]?[$0.index] ?? ValueID(-1) }
        for statement in file.statements {
            if case let .record(r) = statement {
                let ids = r.labels.map { label in
                    definitions[label.value].flatMap { id[$0.statement]?[$0.index] } ?? ValueID(-1)
                }
                setRecord(r, ids, in: &graph)
            }
        }

        // Phase 5: the verifier, placed on lines.
        let hadErrors = !diagnostics.isEmpty
        for d in Verifier.verify(graph) where !(hadErrors && Self.ownedIDs.contains(d.id)) {
            diagnostics.append(place(d))
        }
        return graph
    }

    /// Sets record `r` (its labels resolved to `ids`) after the checks the verifier makes of it
    /// (`RecordCheck`), reporting a problem on the record's line instead.
    private mutating func setRecord(_ r: RecordSyntax, _ ids: [ValueID], in graph: inout Graph) {
        func node(_ k: Int) -> Int? {
            guard let n = graph.producer(of: ids[k]) else {
                report(
                    "bad-record",
                    "%\(r.labels[k].value) is not a node result: a record names a node by one of "
                        + "its results", r.labels[k].span)
                return nil
            }
            return n
        }
        func check(_ problem: String?, duplicate: Bool) -> Bool {
            if let problem {
                report("bad-record", problem, r.span)
                return false
            }
            if duplicate {
                report("bad-record", "%\(r.labels[0].value) already has a record of this kind", r.span)
                return false
            }
            return true
        }
        switch r.kind {
        case .grad:
            let p = ids[0], g = ids[1]
            if check(
                RecordCheck.gradient(graph, parameter: p, gradient: g),
                duplicate: graph.records.gradient(of: p) != nil)
            {
                graph.records.setGradient(g, of: p)
            }
        case .backwardOf, .backwardSums:
            guard let n = node(0) else { return }
            var origin = GradientOrigin.sum(of: ids[1])
            if r.kind == .backwardOf {
                guard let f = node(1) else { return }
                origin = .node(f)
            }
            if check(
                RecordCheck.origin(graph, node: n, origin: origin), duplicate: graph.records.origin(ofNode: n) != nil)
            {
                graph.records.setOrigin(origin, ofNode: n)
            }
        case .step:
            let p = ids[0]
            guard let u = node(1) else { return }
            let record = OptimizerRecord(update: u, state: ValueList(ids.dropFirst(2)))
            if ids.count - 2 > ValueList.capacity {
                report("bad-record", "more than \(ValueList.capacity) state values", r.span)
                return
            }
            if check(
                RecordCheck.optimizer(graph, parameter: p, record: record),
                duplicate: graph.records.optimizer(of: p) != nil)
            {
                graph.records.setOptimizer(record, of: p)
            }
        case .adapter:
            guard let layer = node(1) else { return }
            let record = AdapterRecord(layer: layer, weight: ids[2])
            if graph.values[ids[0].raw].isParameter {
                if check(
                    RecordCheck.adapter(graph, parameter: ids[0], record: record),
                    duplicate: graph.records.adapter(ofParameter: ids[0]) != nil)
                {
                    graph.records.setAdapter(record, ofParameter: ids[0])
                }
            } else if let n = node(0) {
                if check(
                    RecordCheck.adapter(graph, node: n, record: record),
                    duplicate: graph.records.adapter(ofNode: n) != nil)
                {
                    graph.records.setAdapter(record, ofNode: n)
                }
            }
        }
    }

    /// The op of a node line, or nil after reporting its name and attribute problems.
    private mutating func makeOp(_ n: NodeSyntax) -> Op? {
        var attributes: [String: AttributeValue] = [:]
        for (key, value) in n.attributes where attributes[key.value] == nil { attributes[key.value] = value.value }
        do {
            return try Op(name: n.op.value, attributes: attributes)
        } catch {
            for problem in error.problems {
                var span = n.op.span
                if let key = problem.key, let a = n.attributes.first(where: { $0.key.value == key }) {
                    span = problem.id == "attribute-type" ? a.value.span : a.key.span
                }
                var notes: [String] = []
                if problem.id == "unknown-op" {
                    notes = ["known ops: " + Op.allNames.joined(separator: ", ")]
                } else if problem.id == "unknown-attribute" {
                    let keys = Self.keys(of: n.op.value)
                    notes = [keys.isEmpty ? "\(n.op.value) takes no attributes" : "\(n.op.value) takes " + keys]
                }
                report(problem.id, problem.message, span, node: n.name.value, notes: notes)
            }
            return nil
        }
    }

    /// `dilation, groups, padding, stride`: the keys an op name takes, from the attribute table.
    private static func keys(of op: String) -> String {
        do {
            return try Op(name: op, attributes: [:]).attributes.map(\.key).joined(separator: ", ")
        } catch {
            return error.problems.compactMap(\.key).sorted().joined(separator: ", ")
        }
    }

    private mutating func checkTypes(_ n: NodeSyntax, _ op: Op, _ operandTypes: [TensorType]) {
        let inferred: [TensorType]
        do {
            inferred = try op.inferTypes(operandTypes)
        } catch {
            let span = IRSpan(start: n.op.span.start, end: n.op.span.end)
            report(error.id, "'\(n.name.value)': \(error.message)", span, node: n.name.value)
            return
        }
        guard inferred.count == n.types.count else {
            let span = IRSpan(start: n.results[0].span.start, end: n.results[n.results.count - 1].span.end)
            report(
                "arity",
                "'\(n.name.value)' declares \(n.types.count) results but \(op.name) produces \(inferred.count)",
                span, node: n.name.value)
            return
        }
        for (declared, expected) in zip(n.types, inferred) where !declared.value.stores(expected) {
            report(
                "type-mismatch",
                "'\(n.name.value)' (\(op.name)) declares \(declared.value) but its operands give \(expected)",
                declared.span, node: n.name.value)
        }
    }

    /// A verifier diagnostic with the location of the line it concerns: the node or value it names
    /// (the second one for `duplicate-name`), or the closing brace for graph-level problems.
    private func place(_ d: Diagnostic) -> Diagnostic {
        var spans: [IRSpan] = []
        if let name = d.node {
            for statement in file.statements {
                switch statement {
                case let .input(_, n, _), let .param(_, n, _, _, _):
                    if n.value == name { spans.append(n.span) }
                case let .node(n):
                    if n.name.value == name { spans.append(n.name.span) }
                case .output, .record:
                    break
                }
            }
        }
        let span = d.id == "duplicate-name" && spans.count > 1 ? spans[1] : spans.first ?? file.close
        return map.diagnostic(d.id, d.message, at: span, node: d.node, severity: d.severity, notes: d.notes)
    }
}
