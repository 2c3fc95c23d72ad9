/// Checks a graph's invariants and returns every problem found, not only the first:
/// - each value is defined exactly once, by the list or node its kind names;
/// - nodes are in topological order (an operand defined by a later node is a cycle or a misordering);
/// - each node's operand count fits its op and its result types equal what shape inference gives;
/// - node, input and parameter names are unique; outputs exist.
/// Unused parameters and inputs are warnings.
public enum Verifier {
    public static func verify(_ graph: Graph) -> [Diagnostic] {
        var diags: [Diagnostic] = []
        func error(_ id: String, _ message: String, node: String? = nil) {
            diags.append(.error(id, message, node: node))
        }
        let count = graph.values.count
        func valid(_ id: ValueID) -> Bool { id.raw >= 0 && id.raw < count }

        // Definitions: who claims each value.
        var definedBy = Array(repeating: 0, count: count)
        for id in graph.inputs {
            guard valid(id) else { error("undefined-value", "input \(id) does not exist"); continue }
            definedBy[id.raw] += 1
            if graph[id].kind != .input { error("bad-definition", "input \(id) '\(graph[id].name)' is not of kind input") }
        }
        for id in graph.parameters {
            guard valid(id) else { error("undefined-value", "parameter \(id) does not exist"); continue }
            definedBy[id.raw] += 1
            if !graph[id].isParameter {
                error("bad-definition", "parameter \(id) '\(graph[id].name)' is not of kind parameter")
            }
        }
        for (index, node) in graph.nodes.enumerated() {
            for (k, id) in node.outputs.enumerated() {
                guard valid(id) else { error("undefined-value", "result \(id) does not exist", node: node.name); continue }
                definedBy[id.raw] += 1
                if graph[id].kind != .result(node: index, index: k) {
                    error("bad-definition", "value \(id) is listed as result \(k) of '\(node.name)' but says otherwise",
                          node: node.name)
                }
            }
        }
        for (raw, n) in definedBy.enumerated() where n != 1 {
            let v = graph.values[raw]
            error(n == 0 ? "undefined-value" : "duplicate-definition",
                  n == 0 ? "value %\(raw) '\(v.name)' has no definition" : "value %\(raw) '\(v.name)' is defined \(n) times")
        }

        // Order and types.
        var available = Array(repeating: false, count: count)
        for id in graph.inputs + graph.parameters where valid(id) { available[id.raw] = true }
        for node in graph.nodes {
            var operandsOK = true
            for id in node.inputs {
                guard valid(id) else {
                    error("undefined-value", "operand \(id) of '\(node.name)' does not exist", node: node.name)
                    operandsOK = false
                    continue
                }
                if !available[id.raw] {
                    let later = graph.producer(of: id).map { "'\(graph.nodes[$0].name)'" } ?? "nothing"
                    error("cycle", "'\(node.name)' uses \(id) '\(graph[id].name)' before it is defined (by \(later)): "
                          + "a cycle or nodes out of topological order", node: node.name)
                    operandsOK = false
                }
            }
            if node.outputs.count != node.op.outputCount {
                error("arity", "'\(node.name)' (\(node.op.name)) has \(node.outputs.count) results, "
                      + "expected \(node.op.outputCount)", node: node.name)
            }
            if operandsOK {
                do {
                    let expected = try node.op.inferTypes(node.inputs.map { graph[$0].type })
                    let actual = node.outputs.filter(valid).map { graph[$0].type }
                    if expected != actual {
                        error("type-mismatch", "'\(node.name)' (\(node.op.name)) declares "
                              + actual.map(\.description).joined(separator: ", ") + " but its operands give "
                              + expected.map(\.description).joined(separator: ", "), node: node.name)
                    }
                } catch {
                    diags.append(.error(error.id, "'\(node.name)': \(error.message)", node: node.name))
                }
            }
            for id in node.outputs where valid(id) { available[id.raw] = true }
        }

        // Names.
        func unique(_ names: [String], what: String) {
            var seen = Set<String>(minimumCapacity: names.count)
            for name in names where !seen.insert(name).inserted {
                error("duplicate-name", "\(what) name '\(name)' is used more than once", node: name)
            }
        }
        unique(graph.nodes.map(\.name), what: "node")
        unique((graph.inputs + graph.parameters).filter(valid).map { graph[$0].name }, what: "input or parameter")

        if graph.outputs.isEmpty { error("no-output", "graph '\(graph.name)' has no outputs") }
        for id in graph.outputs where !valid(id) { error("undefined-value", "output \(id) does not exist") }

        // Unused parameters and inputs are legal but usually a mistake.
        let users = graph.users()
        let outputs = Set(graph.outputs)
        for id in graph.inputs + graph.parameters where valid(id) && users[id.raw].isEmpty && !outputs.contains(id) {
            diags.append(Diagnostic(id: "unused-value", severity: .warning,
                                    message: "'\(graph[id].name)' (\(id)) is never used", node: graph[id].name))
        }
        return diags
    }

    /// Throws the diagnostics when any is an error.
    public static func check(_ graph: Graph) throws(DiagnosticError) {
        let diags = verify(graph)
        if diags.contains(where: { $0.severity == .error }) { throw DiagnosticError(diags) }
    }
}
