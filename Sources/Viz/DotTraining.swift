// What DotExport adds for training graphs: which nodes are adapters, frozen, or get no gradient, and
// the compact labels of gradient and optimizer ops.
//
// - Adapter nodes (structural, whatever pass inserted them): a node reading an adapter parameter
//   (`ParamRole.isAdapter`) is a seed and its results are adapter values; a node reading adapter values
//   but no other activation (LoRA's scale, DoRA's matmul, `W + ΔW`, norm, div) continues the adapter
//   path; the first node that also reads a non-adapter activation (LoRA's add, DoRA's conv) is where
//   the adapter joins the base model: it is an adapter node, its results are not. A backward node takes
//   the mark of the forward node autodiff recorded as its origin; an accumulation of the gradient of V
//   that of V's producer, or, for a parameter V, whether V is an adapter parameter.
// - Labels of backward and optimizer nodes name what they serve from the records too: the origin's
//   name (relative to the node's scope), the updated parameter's name for an update node.
// - Frozen: a forward node that reads learnable parameters, none trainable, and is not an adapter node.
// - No gradient ("pruned"): a forward node none of whose results needs a gradient, where a value needs
//   one iff it depends on a trainable parameter and the loss depends on it, along differentiable edges
//   (not labels, running statistics, `channel_norm`: DoRA's detached norm). The loss is the result of
//   the loss op, else the graph's forward outputs. The rule is `Graph.needsGradient(losses:)`, the one
//   autodiff uses, so the dashed nodes are exactly those autodiff emits no backward node for.
import GraphIR

/// What a training drawing marks besides roles: an outline, a grey fill, a dashed border, an edge style.
public enum DotMarker: String, Sendable, Hashable, CaseIterable {
    /// Adapter nodes: a strong outline.
    case adapter
    /// Forward nodes whose learnable parameters are all frozen: grey fill.
    case frozen
    /// Forward nodes that get no gradient: dashed border.
    case noGradient = "no_gradient"
    /// Edges from forward values to backward nodes (the saved activations): dashed, coloured.
    case savedActivation = "saved_activation"

    /// The legend's text.
    public var title: String {
        switch self {
        case .adapter: "adapter (outline)"
        case .frozen: "frozen (all parameters)"
        case .noGradient: "no gradient needed (dashed)"
        case .savedActivation: "saved activation (edge)"
        }
    }

    static let adapterColor = "#CC3311"
    static let frozenFill = "#CFCFCF"
    static let savedColor = "#009988"

    /// The legend row's sample cell.
    var legendCell: String {
        switch self {
        case .adapter: "<td bgcolor=\"#FFFFFF\" color=\"\(Self.adapterColor)\" border=\"3\" width=\"18\"></td>"
        case .frozen: "<td bgcolor=\"\(Self.frozenFill)\" width=\"18\"></td>"
        case .noGradient: "<td width=\"18\"><font color=\"#444444\"><b>- - -</b></font></td>"
        case .savedActivation: "<td width=\"18\"><font color=\"\(Self.savedColor)\"><b>- - ›</b></font></td>"
        }
    }
}

/// Per-node marks of a training graph (see the file comment).
struct TrainingMarks {
    var adapter: [Bool]
    var frozen: [Bool]
    var noGradient: [Bool]
    /// Per node: the parameter an update node updates (from the optimizer records).
    var updated: [ValueID?]

    init(_ graph: Graph) {
        adapter = DotExport.adapterNodes(graph)
        updated = Array(repeating: nil, count: graph.nodes.count)
        for p in graph.parameters {
            if let u = graph.records.optimizer(of: p)?.update, updated.indices.contains(u) { updated[u] = p }
        }
        noGradient = DotExport.noGradientNodes(graph)
        frozen = graph.nodes.indices.map { _ in false }
        for (i, node) in graph.nodes.enumerated() where node.phase == .forward && !adapter[i] {
            let learnable = node.inputs.filter { graph[$0].role?.isLearnable == true }
            frozen[i] = !learnable.isEmpty && !learnable.contains { graph[$0].isTrainable }
        }
    }
}

extension DotExport {
    /// Whether `dot` draws `graph` as a training graph: it has backward or optimizer nodes, or the
    /// options ask for it.
    public static func isTraining(_ graph: Graph, options: DotOptions = .init()) -> Bool {
        options.training || graph.nodes.contains { $0.phase != .forward }
    }

    /// For each node, whether it belongs to an adapter (LoRA, DoRA), by the structural rule above.
    public static func adapterNodes(_ graph: Graph) -> [Bool] {
        var adapterValue = Array(repeating: false, count: graph.values.count)
        for id in graph.parameters where graph[id].role?.isAdapter == true { adapterValue[id.raw] = true }
        var marks = Array(repeating: false, count: graph.nodes.count)
        for (i, node) in graph.nodes.enumerated() {
            guard node.phase == .forward else { continue }
            let readsAdapter = node.inputs.contains { adapterValue[$0.raw] }
            guard readsAdapter else { continue }
            marks[i] = true
            let seed = node.inputs.contains { graph[$0].role?.isAdapter == true }
            let joinsBase = node.inputs.contains { !adapterValue[$0.raw] && !graph[$0].isParameter }
            if seed || !joinsBase { for id in node.outputs { adapterValue[id.raw] = true } }
        }
        let nodeCount = graph.nodes.count
        func forward(_ f: Int) -> Int? { f >= 0 && f < nodeCount && graph.nodes[f].phase == .forward ? f : nil }
        for (i, node) in graph.nodes.enumerated() where node.phase != .forward {
            if node.inputs.contains(where: { graph[$0].role?.isAdapter == true }) {
                marks[i] = true
            } else if node.phase == .backward, let origin = graph.records.origin(ofNode: i) {
                switch origin {
                case let .node(f):
                    if let f = forward(f) { marks[i] = marks[f] }
                case let .sum(v):
                    guard v.raw >= 0, v.raw < graph.values.count else { continue }
                    if let f = graph.producer(of: v).flatMap(forward) {
                        marks[i] = marks[f]
                    } else {
                        marks[i] = graph[v].role?.isAdapter == true
                    }
                }
            }
        }
        return marks
    }

    /// The name of what backward node `i` serves, as its label shows it: its origin's name (the forward
    /// node, or the value whose gradient it sums) relative to the node's scope, empty when that is the
    /// scope itself; nil without a recorded origin.
    static func gradientSubject(_ i: Int, in graph: Graph) -> String? {
        let scope = graph.nodes[i].scope
        let subject: String
        switch graph.records.origin(ofNode: i) {
        case let .node(f)?:
            guard f >= 0, f < graph.nodes.count else { return nil }
            subject = graph.nodes[f].name
        case let .sum(v)?:
            guard v.raw >= 0, v.raw < graph.values.count else { return nil }
            subject = graph[v].name
        case nil:
            return nil
        }
        return !scope.isEmpty && subject == scope ? "" : ScopeTree.relative(subject, to: scope)
    }

    /// For each node, whether it is a forward node none of whose results needs a gradient.
    public static func noGradientNodes(_ graph: Graph) -> [Bool] {
        let forward = graph.nodes.indices.filter { graph.nodes[$0].phase == .forward }
        var losses = forward.filter { graph.nodes[$0].op.category == .loss }.flatMap { graph.nodes[$0].outputs }
        if losses.isEmpty {
            losses = graph.outputs.filter { id in
                guard let p = graph.producer(of: id) else { return true }
                return graph.nodes[p].phase == .forward
            }
        }
        // Autodiff's own rule (GraphIR), so the drawing cannot disagree with the backward graph.
        let needs = graph.needsGradient(losses: losses)
        var marks = Array(repeating: false, count: graph.nodes.count)
        for i in forward {
            marks[i] = !graph.nodes[i].outputs.contains { needs[$0.raw] }
        }
        return marks
    }

    /// Compact text of gradient and optimizer ops: `∇in conv 3x3 /2`, `∇w dw 3x3`, `∇bn`, `adam`; nil
    /// for the others (they keep `opText`).
    static func trainingOpText(_ node: Node, in graph: Graph) -> String? {
        func shape(_ i: Int) -> Shape { graph[node.inputs[i]].type.shape }
        func convKind(_ a: Conv2dAttrs, channels: Int) -> String {
            a.groups == 1 ? "conv" : a.groups == channels ? "dw" : "gconv"
        }
        switch node.op {
        case let .conv2dGradInput(a, _):
            let w = shape(1), channels = graph[node.outputs[0]].type.shape[1]
            return "∇in \(convKind(a, channels: channels)) \(w[2])x\(w[3])" + pair(a.stride, prefix: " /")
        case let .conv2dGradWeight(a, kernel):
            return "∇w \(convKind(a, channels: shape(1)[1])) \(kernel.h)x\(kernel.w)" + pair(a.stride, prefix: " /")
        case let .maxPool2dGrad(a):
            return "∇maxpool \(a.kernel.h)x\(a.kernel.w)" + pair(a.stride, prefix: " /")
        case let .sumTo(s):
            return "sum to \(Shape.compact(s))"
        case let .adamUpdate(a):
            return a.decoupled ? "adamw" : "adam"
        case .sgdUpdate:
            return "sgd"
        case .momentumUpdate:
            return "sgd momentum"
        case .linearGradInput:
            return "∇in linear"
        case .linearGradWeight:
            return "∇w linear"
        case .biasGrad, .batchNormGrad, .activationGrad, .avgPool2dGrad, .adaptiveAvgPool2dGrad, .dropoutGrad,
            .softmaxCrossEntropyGrad, .reluMaskGrad, .batchNormFrozenGrad:
            return gradientShortName(node.op)
        case .conv2d, .batchNorm, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul, .maxPool2d,
            .avgPool2d, .adaptiveAvgPool2d, .flatten, .linear, .dropout, .softmaxCrossEntropy, .nativeBatchNorm,
            .maxPool2dWithIndices, .nativeDropout, .scale, .div, .channelNorm, .matmul, .reshape, .adamDirection,
            .applyUpdate, .svdProjector, .activationMask, .concat, .slice:
            return nil
        }
    }

    /// A short name of a gradient op for summaries: `∇in`, `∇w`, `∇bn`, `∇relu`; nil for other ops.
    static func gradientShortName(_ op: Op) -> String? {
        switch op {
        case .conv2dGradInput, .linearGradInput: "∇in"
        case .conv2dGradWeight, .linearGradWeight: "∇w"
        case .biasGrad: "∇b"
        case .batchNormGrad: "∇bn"
        case .batchNormFrozenGrad: "∇bn frozen"
        case .reluMaskGrad: "∇activation mask"
        case let .activationGrad(a): "∇\(a.rawValue)"
        case .maxPool2dGrad: "∇maxpool"
        case .avgPool2dGrad: "∇avgpool"
        case .adaptiveAvgPool2dGrad: "∇gap"
        case .dropoutGrad: "∇dropout"
        case .softmaxCrossEntropyGrad: "∇loss"
        case .sumTo: "sum_to"
        case .conv2d, .batchNorm, .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul, .maxPool2d,
            .avgPool2d, .adaptiveAvgPool2d, .flatten, .linear, .dropout, .softmaxCrossEntropy, .nativeBatchNorm,
            .maxPool2dWithIndices, .nativeDropout, .scale, .div, .channelNorm, .matmul, .reshape, .sgdUpdate,
            .momentumUpdate, .adamUpdate, .adamDirection, .applyUpdate, .svdProjector, .activationMask, .concat, .slice:
            nil
        }
    }

    /// `state 2 × 36,864` for the optimizer state an update reads; nil when it reads none.
    static func stateText(_ node: Node, in graph: Graph) -> String? {
        let sizes = node.inputs.filter { graph[$0].role?.isOptimizerState == true }.map { graph[$0].type.elementCount }
        guard let first = sizes.first else { return nil }
        if sizes.allSatisfy({ $0 == first }) {
            return "state " + (sizes.count == 1 ? "" : "\(sizes.count) × ") + NumberFormat.grouped(first)
        }
        return "state " + sizes.map(NumberFormat.grouped).joined(separator: " + ")
    }
}

/// The training parts of a drawing: marks, phase clusters, labels of backward and optimizer nodes.
extension Drawing {
    /// What the entity is marked with in a training drawing.
    func flags(_ entity: Entity) -> (adapter: Bool, frozen: Bool, noGradient: Bool) {
        guard let marks else { return (false, false, false) }
        switch entity {
        case let .node(i):
            return (marks.adapter[i], marks.frozen[i], marks.noGradient[i])
        case let .block(k):
            let nodes = members[k] ?? []
            let adapter = nodes.contains { marks.adapter[$0] }
            let learnable = Set(nodes.flatMap { graph.nodes[$0].inputs }.filter { graph[$0].role?.isLearnable == true })
            let frozen = !adapter && !learnable.isEmpty && !learnable.contains { graph[$0].isTrainable }
            return (adapter, frozen, nodes.allSatisfy { marks.noGradient[$0] })
        case let .stepBlock(phase, k):
            return ((stepMembers[phase]?[k] ?? []).contains { marks.adapter[$0] }, false, false)
        case .input, .parameter, .output:
            return (false, false, false)
        }
    }

    var presentMarkers: [DotMarker] {
        guard marks != nil else { return [] }
        var present: Set<DotMarker> = hasSavedEdges ? [.savedActivation] : []
        for entity in entities {
            let f = flags(entity)
            if f.adapter { present.insert(.adapter) }
            if f.frozen { present.insert(.frozen) }
            if f.noGradient { present.insert(.noGradient) }
        }
        return DotMarker.allCases.filter(present.contains)
    }

    /// The phase an entity's node runs in; nil for inputs, parameters and outputs.
    func phase(_ entity: Entity) -> Phase? {
        switch entity {
        case let .node(i): graph.nodes[i].phase
        case .block: .forward
        case let .stepBlock(phase, _): phase
        case .input, .parameter, .output: nil
        }
    }

    /// Fill, shape and border: the role's, then in training drawings grey for frozen, a dashed border
    /// for no gradient (dropout's own dashes become diagonals there) and the adapter outline.
    func attributes(_ entity: Entity, _ role: DotRole) -> String {
        guard marks != nil else { return "fillcolor=\"\(role.fillColor)\", \(role.shapeAttributes)" }
        let f = flags(entity)
        var styles = role.styles.map { $0 == "dashed" ? "diagonals" : $0 }
        if f.noGradient { styles.append("dashed") }
        var extras = role.extras
        if f.adapter {
            extras =
                extras.filter { !$0.hasPrefix("penwidth=") && !$0.hasPrefix("color=") }
                + ["color=\"\(DotMarker.adapterColor)\"", "penwidth=2.5"]
        }
        let fill = f.frozen ? DotMarker.frozenFill : role.fillColor
        return "fillcolor=\"\(fill)\", " + DotRole.attributes(shape: role.shape, styles: styles, extras: extras)
    }

    /// A backward or optimizer node: the layer or parameter it serves, then the compact op
    /// (`<b>conv1</b>`, `∇in conv 3x3`); updates add the optimizer state they fold in.
    func trainingLabel(_ i: Int) -> [String] {
        let node = graph.nodes[i]
        var op = DotExport.trainingOpText(node, in: graph) ?? DotExport.opText(node, in: graph)
        // Updates sit in one flat cluster: their full names say which layer they serve.
        var name = node.phase == .optimizer ? node.name : ScopeTree.relative(node.name, to: node.scope)
        // Autodiff's accumulation of a further contribution to a gradient.
        if node.phase == .backward, node.op == .add, case .sum? = graph.records.origin(ofNode: i) { op = "∇ sum" }
        if node.phase == .backward, let subject = DotExport.gradientSubject(i, in: graph) {
            name = subject
        } else if node.phase == .optimizer, let p = marks?.updated[i] {
            name = graph[p].name
        }
        var lines = ["<b>\(DotExport.html(name))</b>", DotExport.html(op)]
        if name.isEmpty || op == "∇" + name { lines = ["<b>\(DotExport.html(op))</b>"] }
        if let state = stateText([i]) { lines.append(small(state)) }
        return lines
    }

    /// `state 2 × 36,864` for one update; `params 21,504 · state 43,008` for a collapsed group.
    func stateText(_ nodes: [Int]) -> String? {
        if nodes.count == 1 { return DotExport.stateText(graph.nodes[nodes[0]], in: graph) }
        var seen = Set<ValueID>()
        var params = 0, state = 0
        for i in nodes {
            for id in graph.nodes[i].inputs where seen.insert(id).inserted {
                guard let role = graph[id].role else { continue }
                if role.isOptimizerState { state += graph[id].type.elementCount }
                if role.isLearnable { params += graph[id].type.elementCount }
            }
        }
        let parts =
            (params > 0 ? ["params \(NumberFormat.grouped(params))"] : [])
            + (state > 0 ? ["state \(NumberFormat.grouped(state))"] : [])
        return parts.isEmpty ? nil : parts.joined(separator: " · ")
    }

    /// Training drawings: one cluster per phase, each holding its part of the scope clusters.
    func phaseClusters() -> [String] {
        var out: [String] = []
        for phase in Phase.allCases {
            let inside = entities.filter { section[$0] == phase }
            guard !inside.isEmpty else { continue }
            let (fill, border) =
                switch phase {
                case .forward: ("#FFFFFF", "#777777")
                case .backward: ("#FAF2FA", "#AA77AA")
                case .optimizer: ("#FBF6EA", "#BBAA77")
                }
            out.append("  subgraph cluster_\(phase.rawValue) {")
            out.append(
                "    label=<<b>\(phase.rawValue)</b>>; tooltip=\"\(phase.rawValue)\"; style=\"rounded,filled\"; "
                    + "fillcolor=\"\(fill)\"; color=\"\(border)\"; penwidth=1.5; fontsize=12;")
            let direct = inside.filter { home[$0] == nil }.map { $0.id + ";" }
            if !direct.isEmpty { out.append("    " + direct.joined(separator: " ")) }
            if options.clusters && phase == .forward {
                for k in tree.scopes.indices
                where tree.parent[k] == nil && isCluster(k)
                    && occupied[phase]?.contains(k) == true
                {
                    out += cluster(k, indent: "    ", phase: phase)
                }
            }
            out.append("  }")
        }
        return out
    }
}
