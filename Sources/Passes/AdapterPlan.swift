import GraphIR

// Target selection and the report shared by `lora` and `dora` (one implementation for both).
//
// A layer is a target when it is
// - a conv2d with groups == 1;
// - a depthwise conv2d (groups == C_in == C_out) when `adaptDepthwise` is set, and the rank is a multiple
//   of C (otherwise the error `depthwise-rank`, with the adapter's parameter count against the layer's);
// - the head (`Freeze.headNodes`: the linear that feeds the graph output through parameter-free ops) when
//   `head == .lora`.
// Everything else that has weights (depthwise convs by default, other grouped convs, linears that are not
// the head, the head under `train`/`frozen`) is listed as excluded, with the reason.
//
// For a target with m = C_out and n = C_in/groups·kh·kw (linear: out, in), the rank must satisfy
// 1 ≤ r ≤ max(m, n) (`bad-rank`); r ≥ min(m, n) adapts, but the adapter is no longer low-rank.
// Adapter parameters: A r·n, B m·r/groups, plus DoRA's magnitude m.

/// Which layers LoRA or DoRA adapts and what that costs: what `graphc` prints before training.
public struct AdapterPlan: Sendable, Hashable, CustomStringConvertible {
    /// The kind of a layer with weights.
    public enum LayerKind: String, Sendable, Hashable {
        case conv
        case depthwiseConv = "depthwise_conv"
        case groupedConv = "grouped_conv"
        case linear
    }

    /// One adapted layer.
    public struct Layer: Sendable, Hashable {
        /// Node name (`layer1.0.conv1`); its parameters are `NAME.weight`, `NAME.lora_A.weight`, ...
        public var name: String
        /// Index of the base node in the planned graph's `nodes`.
        public var node: Int
        public var kind: LayerKind
        public var isHead: Bool
        /// m: output channels (linear: out features).
        public var rows: Int
        /// n: C_in/groups·kh·kw (linear: in features).
        public var columns: Int
        /// The layer's own learnable parameters (weight and bias).
        public var baseParameters: Int
        /// The parameters the adapter adds (A, B and, for DoRA, the magnitude).
        public var adapterParameters: Int
        /// r < min(m, n): the update is genuinely low-rank.
        public var lowRank: Bool
    }

    /// A layer with weights that is not adapted.
    public struct Exclusion: Sendable, Hashable {
        public var name: String
        public var kind: LayerKind
        public var reason: Reason
    }

    /// Why a layer with weights is not adapted.
    public enum Reason: Sendable, Hashable, CustomStringConvertible {
        case groupedConv(groups: Int)
        /// A depthwise conv without `adaptDepthwise`: its rank must be a multiple of `channels`, and the
        /// smallest adapter adds `smallestAdapter` parameters against the layer's `baseParameters`.
        case depthwiseByDefault(channels: Int, smallestAdapter: Int, baseParameters: Int)
        case linearNotHead
        /// The head under `--head train`.
        case headTrained
        /// The head under `--head frozen`.
        case headFrozen

        /// The reason without its particulars, for counting exclusions.
        public var group: ReasonGroup {
            switch self {
            case .groupedConv: .groupedConv
            case .depthwiseByDefault: .depthwiseByDefault
            case .linearNotHead: .linearNotHead
            case .headTrained: .headTrained
            case .headFrozen: .headFrozen
            }
        }

        /// The reason in full, as the plan's report prints it.
        public var description: String {
            switch self {
            case let .groupedConv(groups): "grouped conv (groups \(groups)) is not adapted"
            case let .depthwiseByDefault(channels, smallest, base):
                "depthwise conv excluded by default (--adapt-depthwise adapts it with rank a multiple of "
                    + "\(channels), adding at least \(NumberFormat.grouped(smallest)) parameters against its "
                    + "\(NumberFormat.grouped(base)))"
            case .linearNotHead: "linear layer that is not the head (adapters target convs and the head)"
            case .headTrained: "head, trained fully (--head train)"
            case .headFrozen: "head, frozen (--head frozen)"
            }
        }
    }

    /// A `Reason` without its particulars; the raw value is its short text (`head, trained fully`).
    public enum ReasonGroup: String, Sendable, Hashable, CaseIterable {
        case groupedConv = "grouped conv"
        case depthwiseByDefault = "depthwise conv excluded by default"
        case linearNotHead = "linear layer that is not the head"
        case headTrained = "head, trained fully"
        case headFrozen = "head, frozen"
    }

    /// `lora` or `dora`.
    public var method: FineTuningMethod
    public var rank: Int
    public var alpha: Double
    public var adapted: [Layer]
    public var excluded: [Exclusion]

    /// alpha / rank, the factor on B·A.
    public var scale: Double { alpha / Double(rank) }

    /// Parameters all adapters add.
    public var adapterParameterCount: Int { adapted.reduce(0) { $0 + $1.adapterParameters } }

    /// The excluded layers counted by reason group, in the order each group first appears.
    public var exclusionCounts: [(group: ReasonGroup, count: Int)] {
        var counts: [(group: ReasonGroup, count: Int)] = []
        for group in excluded.map(\.reason.group) {
            if let i = counts.firstIndex(where: { $0.group == group }) {
                counts[i].count += 1
            } else {
                counts.append((group, 1))
            }
        }
        return counts
    }

    /// The report: one line per adapted and per excluded layer, then the totals.
    public var description: String {
        var lines = [
            "\(method.rawValue): rank \(rank), alpha \(NumberFormat.shortest(alpha)) (scale \(NumberFormat.shortest(scale))), "
                + "\(adapted.count) layers adapted, \(NumberFormat.grouped(adapterParameterCount)) adapter parameters"
        ]
        let width = max(adapted.map(\.name.count).max() ?? 0, excluded.map(\.name.count).max() ?? 0)
        func pad(_ s: String) -> String { s + String(repeating: " ", count: max(0, width - s.count)) }
        for layer in adapted {
            var line =
                "  adapted   \(pad(layer.name))  \(layer.kind.rawValue)\(layer.isHead ? " (head)" : ""), "
                + "\(layer.rows)x\(layer.columns): \(NumberFormat.grouped(layer.baseParameters)) params, "
                + "+\(NumberFormat.grouped(layer.adapterParameters)) adapter"
            if !layer.lowRank { line += "; not low-rank (r \(rank) >= min(m, n) = \(min(layer.rows, layer.columns)))" }
            lines.append(line)
        }
        for layer in excluded {
            lines.append("  excluded  \(pad(layer.name))  \(layer.kind.rawValue): \(layer.reason)")
        }
        return lines.joined(separator: "\n")
    }

    /// Plans `method` (lora or dora) on `graph` for `config`; throws `bad-rank`, `depthwise-rank`,
    /// `no-head`, `already-adapted` or `adapt-training-graph` diagnostics (all rank problems at once).
    static func make(_ graph: Graph, config: TrainingConfig, method: FineTuningMethod) throws(DiagnosticError)
        -> AdapterPlan
    {
        do { try config.validate() } catch { throw DiagnosticError([error]) }
        let r = config.rank
        var plan = AdapterPlan(method: method, rank: r, alpha: config.alpha ?? Double(r), adapted: [], excluded: [])
        var problems: [Diagnostic] = []
        if let adapter = graph.parameters.first(where: { graph[$0].role?.isAdapter ?? false }) {
            throw DiagnosticError([
                .error(
                    "already-adapted",
                    "the graph already has adapters ('\(graph[adapter].name)'); "
                        + "merge them (merge-adapters) before adapting again")
            ])
        }
        if let node = graph.nodes.first(where: { $0.phase != .forward }) {
            throw DiagnosticError([
                .error(
                    "adapt-training-graph",
                    "\(method.rawValue) takes a forward graph (run it "
                        + "before autodiff); '\(node.name)' is a \(node.phase.rawValue) node",
                    node: node.name)
            ])
        }
        guard r >= 1 else {
            throw DiagnosticError([.error("bad-rank", "\(method.rawValue) rank must be at least 1, got \(r)")])
        }
        let heads = Set(Freeze.headNodes(graph))
        if config.head == .lora && heads.isEmpty {
            problems.append(
                .error(
                    "no-head",
                    "--head lora: the graph has no head (a linear layer feeding the output "
                        + "through parameter-free ops)"))
        }
        let magnitude = method == .dora
        for (index, node) in graph.nodes.enumerated() where node.phase == .forward {
            guard let layer = node.op.adaptableLayer else { continue }
            let weight = graph[node.inputs[1]].type.shape
            let base = node.inputs.dropFirst().reduce(0) { $0 + graph[$1].type.elementCount }
            let m = weight[0], n = weight.dropFirst().reduce(1, *)
            var kind = LayerKind.linear, groups = 1, isHead = false
            if case let .conv(a) = layer {
                let cin = graph[node.inputs[0]].type.shape[1]
                groups = a.groups
                kind = a.groups == 1 ? .conv : (a.groups == cin && a.groups == m ? .depthwiseConv : .groupedConv)
            } else {
                isHead = heads.contains(index)
            }
            func exclude(_ reason: Reason) {
                plan.excluded.append(Exclusion(name: node.name, kind: kind, reason: reason))
            }
            switch kind {
            case .conv: break
            case .groupedConv:
                exclude(.groupedConv(groups: groups))
                continue
            case .depthwiseConv:
                guard config.adaptDepthwise else {
                    exclude(
                        .depthwiseByDefault(
                            channels: m, smallestAdapter: m * (n + 1) + (magnitude ? m : 0),
                            baseParameters: base))
                    continue
                }
                if r % m != 0 {
                    let smallest = m * (n + 1) + (magnitude ? m : 0)
                    let asked = r * n + r + (magnitude ? m : 0)
                    problems.append(
                        Diagnostic(
                            id: "depthwise-rank",
                            message: "depthwise conv '\(node.name)' (\(m) channels, \(weight[2])x\(weight[3])): "
                                + "--adapt-depthwise needs a rank that is a multiple of \(m), got \(r)",
                            node: node.name,
                            notes: [
                                "the layer has \(NumberFormat.grouped(base)) parameters; its adapter would add "
                                    + "\(NumberFormat.grouped(asked)) at rank \(r), and "
                                    + "\(NumberFormat.grouped(smallest)) at the smallest valid rank \(m)"
                            ]))
                    continue
                }
            case .linear:
                guard isHead else {
                    exclude(.linearNotHead)
                    continue
                }
                switch config.head {
                case .lora: break
                case .train:
                    exclude(.headTrained)
                    continue
                case .frozen:
                    exclude(.headFrozen)
                    continue
                }
            }
            if r > max(m, n) {
                problems.append(
                    .error(
                        "bad-rank",
                        "rank \(r) exceeds max(m, n) = \(max(m, n)) of layer '\(node.name)' "
                            + "(\(m)x\(n))", node: node.name))
                continue
            }
            let adapter = r * n + m * r / groups + (magnitude ? m : 0)
            plan.adapted.append(
                Layer(
                    name: node.name, node: index, kind: kind, isHead: isHead, rows: m, columns: n,
                    baseParameters: base, adapterParameters: adapter, lowRank: r < min(m, n)))
        }
        if !problems.isEmpty { throw DiagnosticError(problems) }
        return plan
    }

    /// The error of an adapter pass asked to adapt a node `make` never plans (not `Op.adaptableLayer`):
    /// a graphc bug, reported rather than adapting the node as some other layer.
    static func notAdaptable(_ node: Node) -> DiagnosticError {
        DiagnosticError([
            .error(
                "not-adaptable",
                "cannot adapt '\(node.name)' (\(node.op.name)): adapters adapt "
                    + "conv2d and linear only (a graphc bug)", node: node.name)
        ])
    }
}

/// The parameter and node names of an adapted layer (docs/training.md), shared by the passes that insert
/// adapters. Names are labels only: the structure is in `AdapterRecord`s.
enum AdapterNames {
    static func a(_ layer: String) -> String { "\(layer).lora_A" }
    static func b(_ layer: String) -> String { "\(layer).lora_B" }
    static func magnitude(_ layer: String) -> String { "\(layer).lora_magnitude_vector" }
    static func loraScale(_ layer: String) -> String { "\(layer).lora_scale" }
    static func loraAdd(_ layer: String) -> String { "\(layer).lora_add" }
    /// DoRA's weight-space nodes are `NAME.dora_*`; the last one produces W'.
    static func dora(_ layer: String, _ part: String) -> String { "\(layer).dora_\(part)" }
}

extension GraphRewriter {
    /// Records that adapter parameters `parameters` and the nodes `nodes` (new-graph ids and indices)
    /// belong to base layer `layer` with base weight `weight`: what merge-adapters and the drawings read.
    mutating func recordAdapter(layer: Int, weight: ValueID, parameters: [ValueID], nodes: [Int]) {
        let record = AdapterRecord(layer: layer, weight: weight)
        for p in parameters { records.setAdapter(record, ofParameter: p) }
        for n in nodes { records.setAdapter(record, ofNode: n) }
    }

    /// Freezes the (already copied) weight and bias of source node `index`.
    mutating func freezeParameters(ofNode index: Int) {
        for old in source.nodes[index].inputs.dropFirst() where source[old].isParameter {
            setTrainable(mapped(old), false)
        }
    }
}
