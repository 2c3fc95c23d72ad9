// Writes a graph as Graphviz DOT text, for `graphc dot` and for reading a model at a glance.
//
// Algorithm:
// 1. Scopes: the distinct non-empty `Node.scope`s, in order of first use. A scope's parent is the
//    longest other scope that is a proper dotted prefix of it (`features.1.0.block.1` lies in
//    `features.1.0` when that is a scope too); depth 1 is the top level.
// 2. Each node has a representative: itself, or, when its scope is deeper than `collapseDepth`, the
//    summary node of its ancestor scope at depth `collapseDepth + 1`.
// 3. Entities are declared in a fixed order with stable ids: inputs `i<k>`, parameters `p<k>`
//    (index into `Graph.parameters`; only with `foldParameters: false`), nodes `n<k>` (index into
//    `Graph.nodes`) with each block summary `b<k>` (index of its scope) at its first member, outputs
//    `o<k>`. Clusters then list their members by id, nested as the scopes are.
// 4. Edges run from the representative of each operand's definition to each consumer, once per
//    (source, consumer, value), skipping edges inside a collapsed block; they are labelled with the
//    value's shape.
// Everything is in schedule order, numbers are formatted by hand, and strings escaped, so the same
// graph always gives the same bytes and golden files diff cleanly.
import GraphIR
import Passes

/// How `DotExport` draws a graph.
public struct DotOptions: Sendable, Hashable {
    /// Summarise parameters in their op's label (`params 73,728`) instead of drawing them as nodes.
    public var foldParameters: Bool
    /// Draw block instances (`Node.scope`) as nested clusters.
    public var clusters: Bool
    /// Label data edges with their tensor shape (`1x64x56x56`).
    public var edgeLabels: Bool
    /// Collapse block instances nested deeper than this many levels into one summary node each
    /// (0: every top-level block becomes one node); nil draws every node.
    public var collapseDepth: Int?
    /// Graphviz's rank direction: `TB` (top to bottom) or `LR`, `BT`, `RL`.
    public var rankdir: String
    /// Add a legend listing the roles drawn.
    public var legend: Bool
    /// Draw as a training graph (phase clusters, adapter / frozen / no-gradient marks) even when the
    /// graph has no backward or optimizer nodes; graphs that have them are always drawn so.
    public var training: Bool
    /// In training drawings, label backward and optimizer edges with their shapes too (off by
    /// default: they repeat the forward shapes and clutter large graphs).
    public var gradientEdgeLabels: Bool
    /// A line under the title (the training step's memory model), if any.
    public var subtitle: String? = nil

    /// Options with the defaults: parameters folded, clusters, edge labels, nothing collapsed, `TB`, a
    /// legend, training drawing only for training graphs, no shapes on gradient edges.
    public init(
        foldParameters: Bool = true, clusters: Bool = true, edgeLabels: Bool = true,
        collapseDepth: Int? = nil, rankdir: String = "TB", legend: Bool = true, training: Bool = false,
        gradientEdgeLabels: Bool = false
    ) {
        self.foldParameters = foldParameters
        self.clusters = clusters
        self.edgeLabels = edgeLabels
        self.collapseDepth = collapseDepth
        self.rankdir = rankdir
        self.legend = legend
        self.training = training
        self.gradientEdgeLabels = gradientEdgeLabels
    }
}

/// Graphviz DOT export of graphs.
public enum DotExport {
    /// The graph as DOT text (render it with `Graphviz.render`). Deterministic: the same graph and
    /// options always give the same text.
    public static func dot(_ graph: Graph, options: DotOptions = .init()) -> String {
        Drawing(graph, options).text()
    }

    /// The roles of the nodes `dot` draws for these options, in legend order.
    public static func roles(_ graph: Graph, options: DotOptions = .init()) -> [DotRole] {
        Drawing(graph, options).presentRoles
    }

    /// The markers (adapter, frozen, ...) `dot` draws for these options, in legend order; empty unless
    /// the drawing is a training one.
    public static func markers(_ graph: Graph, options: DotOptions = .init()) -> [DotMarker] {
        Drawing(graph, options).presentMarkers
    }

    /// The role of every node, in node order (one pass over the graph).
    public static func nodeRoles(_ graph: Graph) -> [DotRole] { LayerKind.of(graph).map(DotRole.init) }

    /// The role `graph.nodes[index]` is drawn with (when not collapsed).
    public static func role(ofNode index: Int, in graph: Graph) -> DotRole {
        DotRole(LayerKind.kind(of: graph.nodes[index], feedsOutput: LayerKind.outputFeeders(graph)[index]))
    }
}

/// Something drawn as one DOT node.
enum Entity: Hashable {
    case input(Int)
    case parameter(Int)
    case node(Int)
    case block(Int)
    /// The backward (or optimizer) nodes of a collapsed block instance, in that phase's cluster.
    case stepBlock(Phase, Int)
    case output(Int)

    var id: String {
        switch self {
        case let .input(k): "i\(k)"
        case let .parameter(k): "p\(k)"
        case let .node(k): "n\(k)"
        case let .block(k): "b\(k)"
        case let .stepBlock(phase, k): (phase == .optimizer ? "u" : "g") + "\(k)"
        case let .output(k): "o\(k)"
        }
    }
}

/// The scopes that occur in a graph, as a tree.
struct ScopeTree {
    /// Distinct non-empty scopes in order of first use.
    var scopes: [String] = []
    var index: [String: Int] = [:]
    var parent: [Int?] = []
    var depth: [Int] = []

    init(_ graph: Graph) {
        for node in graph.nodes where !node.scope.isEmpty && index[node.scope] == nil {
            index[node.scope] = scopes.count
            scopes.append(node.scope)
        }
        parent = scopes.map { scope in
            let parts = scope.split(separator: ".", omittingEmptySubsequences: false)
            for length in stride(from: parts.count - 1, through: 1, by: -1) {
                if let p = index[parts[..<length].joined(separator: ".")] { return p }
            }
            return nil
        }
        // Parents are shorter strings, so visiting by length sets each parent's depth first.
        depth = Array(repeating: 1, count: scopes.count)
        for k in scopes.indices.sorted(by: { scopes[$0].count < scopes[$1].count }) {
            if let p = parent[k] { depth[k] = depth[p] + 1 }
        }
    }

    /// The ancestor of `k` (or `k` itself) at depth `level`; `k` must be at least that deep.
    func ancestor(_ k: Int, atDepth level: Int) -> Int {
        var k = k
        while depth[k] > level, let p = parent[k] { k = p }
        return k
    }

    /// `name` without the `scope.` prefix when it has it, but never starting with a bare index, which
    /// says little: `downsample.0` for `layer2.0.downsample.0` in `layer2.0.downsample`.
    static func relative(_ name: String, to scope: String) -> String {
        guard !scope.isEmpty, name.hasPrefix(scope + "."), name.count > scope.count + 1 else { return name }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        var start = scope.split(separator: ".", omittingEmptySubsequences: false).count
        while start > 0 && parts[start].allSatisfy(\.isNumber) { start -= 1 }
        return parts[start...].joined(separator: ".")
    }
}

/// One export: the decisions of steps 1–4 above, then the text.
struct Drawing {
    let graph: Graph
    let options: DotOptions
    let tree: ScopeTree
    let feeds: [Bool]
    /// Representative of each node.
    var rep: [Entity] = []
    /// Entities in declaration order, and the cluster (scope index) each lives in directly.
    var entities: [Entity] = []
    var home: [Entity: Int] = [:]
    /// Members of each collapsed block, in schedule order: forward nodes, and backward ones in a
    /// training drawing.
    var members: [Int: [Int]] = [:]
    var stepMembers: [Phase: [Int: [Int]]] = [:]
    var drawnParameters: Set<Int> = []
    /// Training drawings only: the node marks, each entity's phase cluster, and the scope clusters
    /// each phase cluster holds (a scope and its ancestors, once anything lives in it).
    let marks: TrainingMarks?
    var section: [Entity: Phase] = [:]
    var occupied: [Phase: Set<Int>] = [:]
    var hasSavedEdges = false

    init(_ graph: Graph, _ options: DotOptions) {
        self.graph = graph
        self.options = options
        tree = ScopeTree(graph)
        feeds = LayerKind.outputFeeders(graph)
        marks = DotExport.isTraining(graph, options: options) ? TrainingMarks(graph) : nil

        let collapseAt = options.collapseDepth.map { max($0, 0) }
        for (i, node) in graph.nodes.enumerated() {
            if let level = collapseAt, let k = tree.index[node.scope], tree.depth[k] > level,
                node.phase == .forward || marks != nil
            {
                let root = tree.ancestor(k, atDepth: level + 1)
                if node.phase == .forward {
                    rep.append(.block(root))
                    members[root, default: []].append(i)
                } else {
                    rep.append(.stepBlock(node.phase, root))
                    stepMembers[node.phase, default: [:]][root, default: []].append(i)
                }
            } else {
                rep.append(.node(i))
            }
        }

        let parameterIndex = Dictionary(uniqueKeysWithValues: graph.parameters.enumerated().map { ($1, $0) })
        var parameterHome: [Int: Int?] = [:]
        var parameterPhase: [Int: Phase] = [:]
        if !options.foldParameters {
            // A parameter is drawn beside its first consumer drawn as itself; parameters read only
            // inside collapsed blocks are summarised there.
            var readByCollapsed = Set<Int>()
            for (i, node) in graph.nodes.enumerated() {
                for id in node.inputs {
                    guard let p = parameterIndex[id] else { continue }
                    if case .node = rep[i] {
                        if parameterHome[p] == nil {
                            parameterHome[p] = .some(node.phase == .optimizer ? nil : tree.index[node.scope])
                            parameterPhase[p] = node.phase
                        }
                    } else {
                        readByCollapsed.insert(p)
                    }
                }
            }
            drawnParameters = Set(
                graph.parameters.indices.filter {
                    parameterHome[$0] != nil || !readByCollapsed.contains($0)
                })
        }

        entities = graph.inputs.indices.map { .input($0) }
        entities += graph.parameters.indices.filter { drawnParameters.contains($0) }.map { .parameter($0) }
        var declared = Set<Entity>()
        for r in rep where declared.insert(r).inserted { entities.append(r) }
        // Updated parameters and state are outputs; their update nodes say so.
        entities += graph.outputs.indices.filter { k in
            marks == nil || graph.producer(of: graph.outputs[k]).map { graph.nodes[$0].phase != .optimizer } ?? true
        }.map { .output($0) }

        if marks != nil {
            for entity in entities {
                switch entity {
                case let .node(i): section[entity] = graph.nodes[i].phase
                case .block: section[entity] = .forward
                case let .stepBlock(phase, _): section[entity] = phase
                case let .parameter(p): section[entity] = parameterPhase[p] ?? .forward
                case .input, .output: break
                }
            }
            hasSavedEdges = graph.nodes.contains { node in
                node.phase == .backward
                    && node.inputs.contains { id in
                        switch graph[id].kind {
                        case .input: true
                        case .parameter: false
                        case let .result(p, _): graph.nodes[p].phase == .forward
                        }
                    }
            }
        }

        guard options.clusters else { return }
        for entity in entities {
            switch entity {
            // The backward cluster is flat: scope clusters there would each need their own column, and
            // its nodes already lie level with the forward blocks they differentiate.
            case let .node(i):
                home[entity] = graph.nodes[i].phase == .forward ? tree.index[graph.nodes[i].scope] : nil
            case let .block(k): home[entity] = tree.parent[k]
            case .stepBlock: break
            case let .parameter(p): home[entity] = parameterHome[p] ?? nil
            case .input, .output: break
            }
            if marks != nil, case let .parameter(p) = entity, parameterPhase[p] != .forward { home[entity] = nil }
            if let phase = section[entity], var k = home[entity] {
                occupied[phase, default: []].insert(k)
                while let p = tree.parent[k] {
                    occupied[phase, default: []].insert(p)
                    k = p
                }
            }
        }
    }

    func role(_ entity: Entity) -> DotRole {
        switch entity {
        case .input: .input
        case .parameter: .parameter
        case let .node(i): DotRole(LayerKind.kind(of: graph.nodes[i], feedsOutput: feeds[i]))
        case .block, .stepBlock: .block
        case .output: .output
        }
    }

    var presentRoles: [DotRole] {
        let present = Set(entities.map(role))
        return DotRole.allCases.filter(present.contains)
    }

    /// Whether scope `k` is drawn as a cluster (not folded into a summary node).
    func isCluster(_ k: Int) -> Bool {
        options.clusters && (options.collapseDepth.map { tree.depth[k] <= max($0, 0) } ?? true)
    }

    // MARK: Text

    func text() -> String {
        var out: [String] = []
        out.append("digraph \(DotExport.quoted(graph.name)) {")
        out.append(
            "  graph [rankdir=\(DotExport.quoted(options.rankdir)), fontname=\"Helvetica\", fontsize=11, "
                + "labelloc=t, labeljust=l, newrank=true, nodesep=0.25, ranksep=0.3,")
        out.append("         label=<\(title())>];")
        out.append(
            "  node [shape=box, style=filled, fontname=\"Helvetica\", fontsize=10, margin=\"0.1,0.04\", "
                + "height=0.3, color=\"#444444\"];")
        out.append("  edge [fontname=\"Helvetica\", fontsize=8, color=\"#555555\", arrowsize=0.6];")
        if options.legend { out += legend() }
        for entity in entities { out.append("  " + declaration(entity)) }
        if marks != nil {
            out += phaseClusters()
        } else if options.clusters {
            for k in tree.scopes.indices where tree.parent[k] == nil && isCluster(k) {
                out += cluster(k, indent: "  ")
            }
        }
        out += edges()
        out.append("}")
        return out.joined(separator: "\n") + "\n"
    }

    /// `resnet18 · 60 ops · params 11,689,512`, then what was collapsed.
    /// For training drawings: `resnet18 · forward 60 · backward 90 · optimizer 40 ops · params … ·
    /// optimizer state … · 12 forward ops need no gradient (dashed)`.
    func title() -> String {
        var parts = ["<b>\(DotExport.html(graph.name))</b>", "\(graph.nodes.count) ops"]
        if let subtitle = options.subtitle { parts.append(DotExport.html(subtitle)) }
        if marks != nil {
            parts[1] =
                Phase.allCases.map { phase in "\(phase.rawValue) \(graph.nodes.count { $0.phase == phase })" }
                .joined(separator: " · ") + " ops"
        }
        let total = graph.parameterCount, trainable = graph.trainableParameterCount
        if let params = DotExport.paramText(total: total, trainable: trainable) { parts.append(params) }
        if let marks {
            let state = graph.parameters.filter { graph[$0].role?.isOptimizerState == true }
                .reduce(0) { $0 + graph[$1].type.elementCount }
            if state > 0 { parts.append("optimizer state \(NumberFormat.grouped(state))") }
            let pruned = marks.noGradient.count { $0 }
            if pruned > 0 {
                parts.append(
                    "\(pruned) forward op\(pruned == 1 ? "" : "s") need\(pruned == 1 ? "s" : "") no gradient (dashed)")
            }
        }
        if let level = options.collapseDepth {
            parts.append("blocks deeper than \(max(level, 0)) collapsed")
        }
        return parts.joined(separator: " · ")
    }

    func legend() -> [String] {
        var rows = [
            "  legend [shape=plaintext, style=\"\", margin=0, label=<",
            "    <table border=\"0\" cellborder=\"1\" cellspacing=\"0\" cellpadding=\"2\">",
            "    <tr><td colspan=\"2\"><b>legend</b></td></tr>",
        ]
        for role in presentRoles {
            rows.append(
                "    <tr><td bgcolor=\"\(role.fillColor)\" width=\"18\"></td>"
                    + "<td align=\"left\">\(DotExport.html(role.title))</td></tr>")
        }
        for marker in presentMarkers {
            rows.append("    <tr>\(marker.legendCell)<td align=\"left\">\(DotExport.html(marker.title))</td></tr>")
        }
        rows.append("    </table>>];")
        return rows
    }

    func declaration(_ entity: Entity) -> String {
        let role = role(entity)
        var lines: [String]
        var tooltip: String
        switch entity {
        case let .input(k):
            let value = graph[graph.inputs[k]]
            lines = ["<b>\(DotExport.html(value.name))</b>", DotExport.typeText(value.type)]
            tooltip = "input \(value.name)"
        case let .parameter(p):
            let value = graph[graph.parameters[p]]
            var note = DotExport.typeText(value.type)
            if value.role?.isBuffer == true { note += " buffer" } else if !value.isTrainable { note += " frozen" }
            let scope = home[entity].map { tree.scopes[$0] } ?? ""
            lines = [DotExport.html(ScopeTree.relative(value.name, to: scope)), note]
            tooltip = value.name
        case let .node(i) where marks != nil && graph.nodes[i].phase != .forward:
            lines = trainingLabel(i)
            tooltip = "\(graph.nodes[i].name): \(graph.nodes[i].op.name)"
        case let .node(i):
            let node = graph.nodes[i]
            let name = ScopeTree.relative(node.name, to: node.scope), op = DotExport.opText(node, in: graph)
            // `relu` named `relu` says it once.
            lines = ["<b>\(DotExport.html(name))</b>"] + (name == op ? [] : [DotExport.html(op)])
            if let params = parameterText([i]) { lines.append(small(params)) }
            tooltip = "\(node.name): \(node.op.name)"
        case let .block(k):
            let nodes = members[k] ?? []
            let name =
                options.clusters
                ? tree.parent[k].map { ScopeTree.relative(tree.scopes[k], to: tree.scopes[$0]) }
                    ?? tree.scopes[k] : tree.scopes[k]
            lines = ["<b>\(DotExport.html(name))</b>"] + opSummary(nodes).map(DotExport.html)
            if let params = parameterText(nodes) { lines.append(small(params)) }
            if let marks {
                let adapters = nodes.count { marks.adapter[$0] }, pruned = nodes.count { marks.noGradient[$0] }
                if adapters > 0 { lines.append(small("\(adapters) adapter op\(adapters == 1 ? "" : "s")")) }
                if pruned > 0 { lines.append(small("\(pruned) need\(pruned == 1 ? "s" : "") no gradient")) }
            }
            tooltip = "\(tree.scopes[k]): \(nodes.count) ops"
        case let .stepBlock(phase, k):
            let nodes = stepMembers[phase]?[k] ?? []
            let scope = DotExport.html(tree.scopes[k])
            lines =
                [phase == .backward ? "<b>∇ \(scope)</b>" : "<b>\(scope) updates</b>"]
                + opSummary(nodes).map(DotExport.html)
            if phase == .optimizer, let state = stateText(nodes) { lines.append(small(state)) }
            tooltip = "\(tree.scopes[k]) \(phase.rawValue): \(nodes.count) ops"
        case let .output(k):
            let value = graph[graph.outputs[k]]
            let drawn =
                marks == nil ? graph.outputs.count : entities.count { if case .output = $0 { true } else { false } }
            lines = [
                "<b>" + (drawn == 1 ? "output" : "output \(k)") + "</b>",
                DotExport.typeText(value.type),
            ]
            tooltip = "output \(value.name)"
        }
        return "\(entity.id) [label=<\(lines.joined(separator: "<br/>"))>, \(attributes(entity, role)), "
            + "tooltip=\(DotExport.quoted(tooltip))];"
    }

    func small(_ text: String) -> String { "<font point-size=\"8\">\(DotExport.html(text))</font>" }

    /// Learnable parameters read by `nodes`, each counted once; nil when there are none, or when
    /// parameters are drawn as nodes of their own.
    func parameterText(_ nodes: [Int]) -> String? {
        var seen = Set<ValueID>()
        var total = 0, trainable = 0
        for i in nodes {
            for id in graph.nodes[i].inputs where seen.insert(id).inserted {
                let value = graph[id]
                guard let role = value.role, !role.isBuffer else { continue }
                if !options.foldParameters, let p = graph.parameters.firstIndex(of: id), drawnParameters.contains(p) {
                    continue
                }
                total += value.type.elementCount
                if value.isTrainable { trainable += value.type.elementCount }
            }
        }
        return DotExport.paramText(total: total, trainable: trainable)
    }

    /// `7 ops: conv×2 bn×2`, then `relu×2 add` (four kinds a line), for a collapsed block.
    func opSummary(_ nodes: [Int]) -> [String] {
        var order: [String] = []
        var counts: [String: Int] = [:]
        for i in nodes {
            let node = graph.nodes[i]
            let name =
                (node.phase == .backward ? DotExport.gradientShortName(node.op) : nil)
                ?? (node.phase == .optimizer ? DotExport.trainingOpText(node, in: graph) : nil)
                ?? DotExport.shortName(node, in: graph)
            if counts[name] == nil { order.append(name) }
            counts[name, default: 0] += 1
        }
        let items = order.map { counts[$0]! == 1 ? $0 : "\($0)×\(counts[$0]!)" }
        var lines: [String] = []
        for start in stride(from: 0, to: items.count, by: 4) {
            lines.append(items[start..<min(start + 4, items.count)].joined(separator: " "))
        }
        lines[0] = "\(nodes.count) ops: " + lines[0]
        return lines
    }

    /// Scope cluster `k`; in a training drawing, the part of it inside `phase`'s cluster (forward's).
    func cluster(_ k: Int, indent: String, phase: Phase? = nil) -> [String] {
        let name = tree.parent[k].map { ScopeTree.relative(tree.scopes[k], to: tree.scopes[$0]) } ?? tree.scopes[k]
        let fill = tree.depth[k] % 2 == 1 ? "#F2F2F2" : "#FFFFFF"
        var out = [
            "\(indent)subgraph cluster_\(k) {",
            "\(indent)  label=\(DotExport.quoted(name)); tooltip=\(DotExport.quoted(tree.scopes[k])); "
                + "style=\"rounded,filled\"; fillcolor=\"\(fill)\"; color=\"#999999\"; fontsize=10;",
        ]
        let direct = entities.filter { home[$0] == k && (phase == nil || section[$0] == phase) }.map { $0.id + ";" }
        if !direct.isEmpty { out.append(indent + "  " + direct.joined(separator: " ")) }
        for child in tree.scopes.indices
        where tree.parent[child] == k && isCluster(child)
            && (phase == nil || occupied[phase!]?.contains(child) == true)
        {
            out += cluster(child, indent: indent + "  ", phase: phase)
        }
        out.append("\(indent)}")
        return out
    }

    func edges() -> [String] {
        let inputIndex = Dictionary(graph.inputs.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let parameterIndex = Dictionary(graph.parameters.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        func source(_ id: ValueID) -> Entity? {
            switch graph[id].kind {
            case .input: return inputIndex[id].map { .input($0) }
            case .parameter:
                guard let p = parameterIndex[id], drawnParameters.contains(p) else { return nil }
                return .parameter(p)
            case let .result(node, _): return rep[node]
            }
        }
        struct Key: Hashable { var from: Entity, to: Entity, value: ValueID }
        /// Parameter to op; data (forward, and everything in forward drawings); a saved activation
        /// (forward or input → backward); a gradient (backward → backward); into or out of the optimizer.
        enum EdgeKind { case parameter, data, saved, gradient, step }
        var seen = Set<Key>()
        var out: [String] = []
        for consumer in entities {
            let operands: [ValueID]
            switch consumer {
            case .input, .parameter: continue
            case let .node(i): operands = graph.nodes[i].inputs.array
            case let .block(k): operands = (members[k] ?? []).flatMap { graph.nodes[$0].inputs }
            case let .stepBlock(phase, k): operands = (stepMembers[phase]?[k] ?? []).flatMap { graph.nodes[$0].inputs }
            case let .output(k): operands = [graph.outputs[k]]
            }
            for id in operands {
                guard let from = source(id), from != consumer else { continue }
                let kind: EdgeKind
                if case .parameter = from {
                    kind = .parameter
                } else if marks == nil {
                    kind = .data
                } else if phase(consumer) == .backward {
                    kind = phase(from) == .backward ? .gradient : .saved
                } else {
                    kind =
                        [.backward, .optimizer].contains(phase(from)) || phase(consumer) == .optimizer ? .step : .data
                }
                // Unlabelled edges between two drawn nodes say the same thing once.
                let labelled = kind == .data || (kind != .saved && kind != .parameter && options.gradientEdgeLabels)
                guard
                    seen.insert(Key(from: from, to: consumer, value: labelled || kind == .parameter ? id : ValueID(-1)))
                        .inserted
                else { continue }
                var line = "  \(from.id) -> \(consumer.id)"
                let label = options.edgeLabels ? "label=\(DotExport.quoted(DotExport.typeText(graph[id].type)))" : nil
                switch kind {
                case .parameter:
                    line += " [color=\"#999999\", arrowsize=0.4]"
                case .saved:
                    // A saved activation: forward value (or input) kept for the backward pass.
                    line += " [style=dashed, color=\"\(DotMarker.savedColor)\", arrowsize=0.5]"
                case .gradient:
                    // Gradients flow against the forward pass: drawn reversed, so each backward node
                    // lies level with the forward layer it differentiates.
                    line =
                        "  \(consumer.id) -> \(from.id) [dir=back"
                        + (options.gradientEdgeLabels ? label.map { ", " + $0 } ?? "" : "") + "]"
                case .step:
                    if options.gradientEdgeLabels, let label { line += " [\(label)]" }
                case .data:
                    if let label { line += " [\(label)]" }
                }
                out.append(line + ";")
            }
        }
        return out
    }
}
