/// The canonical text form of a graph (docs/ir-format.md).
///
/// Approach: compute one renumbering (inputs, then parameters, then node results, each in list order)
/// and print every line from it with fixed spacing, attributes sorted by key and floats in Swift's
/// shortest round-trip form. Nothing depends on hashing or on the graph's own value numbering, so equal
/// graphs print identical text and golden files diff cleanly. The printer never traps: it also prints
/// graphs that fail verification (undefined operands show as `%?N`, with N the raw id), since that is
/// when people need to look at one.

/// Prints graphs as canonical `.gir` text.
public enum IRPrinter {
    /// The canonical text of `graph`, ending with a newline.
    public static func print(_ graph: Graph) -> String {
        let number = graph.canonicalNumbering()
        func ref(_ id: ValueID) -> String {
            if let n = number[id] { return "%\(n)" }
            return "%?\(id.raw)"
        }
        func type(_ id: ValueID) -> String {
            id.raw >= 0 && id.raw < graph.values.count ? graph[id].type.description : "?"
        }
        func name(_ id: ValueID) -> String {
            id.raw >= 0 && id.raw < graph.values.count ? quote(graph[id].name) : "\"?\""
        }

        var out = "graph \(quote(graph.name)) {\n"
        for id in graph.inputs {
            out += "  input \(ref(id)) \(name(id)) : \(type(id))\n"
        }
        for id in graph.parameters {
            out += "  param \(ref(id)) \(name(id)) : \(type(id))"
            if id.raw >= 0 && id.raw < graph.values.count, case let .parameter(role, trainable) = graph[id].kind {
                out += " \(role.rawValue)"
                if !trainable && !role.isBuffer { out += " frozen" }
            } else {
                out += " ?"
            }
            out += "\n"
        }
        for node in graph.nodes {
            out += "  " + node.outputs.map(ref).joined(separator: ", ") + " = \(node.op.name)("
            out += node.inputs.map(ref).joined(separator: ", ") + ")"
            let attributes = node.op.attributes
            if !attributes.isEmpty {
                out += " {" + attributes.map { "\($0.key) = \($0.value)" }.joined(separator: ", ") + "}"
            }
            out += " : " + node.outputs.map(type).joined(separator: ", ") + " \(quote(node.name))"
            if !node.scope.isEmpty { out += " in \(quote(node.scope))" }
            if node.phase != .forward { out += " \(node.phase.rawValue)" }
            out += "\n"
        }
        out += records(graph, ref)
        for id in graph.outputs {
            out += "  output \(ref(id))\n"
        }
        out += "}\n"
        return out
    }

    /// The record lines (docs/ir-format.md, "Training records"): adapters, then backward origins in node
    /// order, then gradients and optimizer steps in parameter order. A node is referred to by its first
    /// result (`%?nN` when it has none or does not exist).
    static func records(_ graph: Graph, _ ref: (ValueID) -> String) -> String {
        let r = graph.records
        func node(_ i: Int) -> String {
            i >= 0 && i < graph.nodes.count && !graph.nodes[i].outputs.isEmpty
                ? ref(graph.nodes[i].outputs[0]) : "%?n\(i)"
        }
        func adapter(_ a: AdapterRecord) -> String { " of \(node(a.layer)) weight \(ref(a.weight))" }
        var out = ""
        for p in graph.parameters {
            if let a = r.adapter(ofParameter: p) { out += "  adapter \(ref(p))" + adapter(a) + "\n" }
        }
        for i in graph.nodes.indices {
            if let a = r.adapter(ofNode: i) { out += "  adapter \(node(i))" + adapter(a) + "\n" }
        }
        for i in graph.nodes.indices {
            switch r.origin(ofNode: i) {
            case let .node(f)?: out += "  backward \(node(i)) of \(node(f))\n"
            case let .sum(v)?: out += "  backward \(node(i)) sums \(ref(v))\n"
            case nil: break
            }
        }
        for p in graph.parameters {
            if let g = r.gradient(of: p) { out += "  grad \(ref(p)) = \(ref(g))\n" }
        }
        for p in graph.parameters {
            guard let step = r.optimizer(of: p) else { continue }
            out += "  step \(ref(p)) update \(node(step.update))"
            if !step.state.isEmpty { out += " state " + step.state.map(ref).joined(separator: ", ") }
            out += "\n"
        }
        return out
    }

    /// `text` as an IR string literal: quoted, with `\"`, `\\`, `\n`, `\r`, `\t` and `\u{X}` escapes for
    /// other control characters, so a name always stays on one line.
    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\u{" + String(scalar.value, radix: 16) + "}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

extension Graph {
    /// The canonical text form, as `IRPrinter.print` writes it.
    public var irText: String { IRPrinter.print(self) }

    /// Canonical number of each defined value: inputs, then parameters, then node results in node
    /// order. A value defined twice keeps its first number; undefined ids get none.
    func canonicalNumbering() -> [ValueID: Int] {
        var number: [ValueID: Int] = [:]
        var next = 0
        func define(_ id: ValueID) {
            guard id.raw >= 0, id.raw < values.count, number[id] == nil else { return }
            number[id] = next
            next += 1
        }
        inputs.forEach(define)
        parameters.forEach(define)
        for node in nodes { node.outputs.forEach(define) }
        return number
    }

    /// The same graph with values renumbered canonically (inputs, parameters, node results) and values
    /// that nothing defines dropped. Ids that do not name a defined value are moved past the end, so
    /// they stay undefined and the verifier still reports them.
    public func renumbered() -> Graph {
        let number = canonicalNumbering()
        let order = number.sorted { $0.value < $1.value }.map(\.key)
        func map(_ id: ValueID) -> ValueID { ValueID(number[id] ?? order.count + max(id.raw, 0)) }
        var graph = Graph(name: name)
        graph.values = order.map { values[$0.raw] }
        graph.inputs = inputs.map(map)
        graph.parameters = parameters.map(map)
        graph.nodes = nodes.map { node in
            var node = node
            node.inputs = ValueList(node.inputs.lazy.map(map))
            node.outputs = ValueList(node.outputs.lazy.map(map))
            return node
        }
        graph.outputs = outputs.map(map)
        // Nodes keep their order; records of undefined values are dropped.
        graph.records = records.remapped(
            values: { number[$0] != nil ? map($0) : nil },
            nodes: { $0 >= 0 && $0 < nodes.count ? $0 : nil })
        return graph
    }
}
