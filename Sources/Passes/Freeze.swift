// `freeze`: sets every learnable parameter's trainable flag from a fine-tuning method and selectors.
//
// Algorithm:
// 1. The method's set: fft and galore every learnable parameter; bnh the BatchNorm affine parameters
//    (roles bn_gamma, bn_beta) and the head; head the head only; lora and dora nothing but adapter
//    parameters already present and the head when `config.head == .train` (the adapter passes add and
//    train their adapters afterwards). The head is every `linear` node that feeds a graph output through
//    parameter-free ops (the same test `DotExport` colours the head with); its weight and bias.
// 2. Each `config.train` glob (`*` matches any run of characters, dots included) adds the learnable
//    parameters whose name matches it or that are read by a node whose name matches it. A glob that
//    selects no learnable parameter is an error (`selector-matches-nothing`) naming it.
// 3. Every other learnable parameter is frozen. Buffers and optimizer state are never trainable.
// The graph's nodes are untouched; only parameter kinds change.
//
//     param %1 "conv1.weight" : f32[64, 3, 7, 7] weight          (method head)
//     param %6 "fc.weight" : f32[10, 512] weight
//   →
//     param %1 "conv1.weight" : f32[64, 3, 7, 7] weight frozen
//     param %6 "fc.weight" : f32[10, 512] weight
import GraphIR

/// `freeze`: marks the parameters a fine-tuning method trains (plus `--train` selectors) trainable and
/// freezes the rest.
public struct Freeze: Pass {
    public let name = "freeze"
    public let summary = "mark the method's parameters trainable and freeze the rest"
    /// The method, head mode and selectors to apply.
    public var config: TrainingConfig

    public init(_ config: TrainingConfig) { self.config = config }

    public func run(_ graph: Graph) throws -> Graph {
        try config.validate()
        let selected = try trainableSet(graph)
        var out = graph
        for id in graph.parameters {
            guard case let .parameter(role, trainable) = graph[id].kind else { continue }
            let train = role.isLearnable && selected.contains(id)
            // Only changed flags are written: an unchanged graph keeps its storage (no copy of every value).
            if train != trainable { out[id].kind = .parameter(role: role, trainable: train) }
        }
        return out
    }

    /// The learnable parameters this configuration trains.
    public func trainableSet(_ graph: Graph) throws -> Set<ValueID> {
        let learnable = graph.learnableParameters
        let head = Set(Self.headNodes(graph).flatMap { graph.nodes[$0].inputs.filter { graph[$0].isParameter } })
        var selected = Set<ValueID>()
        switch config.method {
        case .fft, .galore:
            selected = Set(learnable)
        case .bnh, .head:
            guard !head.isEmpty else {
                throw Diagnostic.error(
                    "no-head",
                    "method \(config.method.rawValue) trains the head, but "
                        + "'\(graph.name)' has no linear layer feeding its output")
            }
            selected = head
            if config.method == .bnh {
                let affine = learnable.filter { graph[$0].role == .bnGamma || graph[$0].role == .bnBeta }
                guard !affine.isEmpty else {
                    throw Diagnostic.error(
                        "no-batch-norm",
                        "method bnh trains the BatchNorm affine parameters, but '\(graph.name)' has no batch_norm")
                }
                selected.formUnion(affine)
            }
        case .lora, .dora:
            selected = Set(learnable.filter { graph[$0].role?.isAdapter ?? false })
            if config.head == .train { selected.formUnion(head) }
        }
        selected.formIntersection(learnable)
        for glob in config.train {
            let matches = Self.select(glob, in: graph)
            guard !matches.isEmpty else {
                throw Diagnostic.error(
                    "selector-matches-nothing",
                    "--train '\(glob)' matches no learnable parameter or layer with parameters "
                        + "in '\(graph.name)'")
            }
            selected.formUnion(matches)
        }
        return selected
    }

    /// The learnable parameters `glob` selects: by parameter name, or by the name of a node reading them.
    public static func select(_ glob: String, in graph: Graph) -> Set<ValueID> {
        var found = Set<ValueID>()
        let learnable = Set(graph.learnableParameters)
        for id in learnable where globMatches(glob, graph[id].name) { found.insert(id) }
        for node in graph.nodes where globMatches(glob, node.name) {
            found.formUnion(node.inputs.filter { learnable.contains($0) })
        }
        return found
    }

    /// The head: indices of the `linear` nodes that feed a graph output through parameter-free ops.
    public static func headNodes(_ graph: Graph) -> [Int] { LayerKind.headNodes(graph) }

    /// Whether `text` matches `glob`, where `*` matches any run of characters (dots included) and every
    /// other character matches itself.
    public static func globMatches(_ glob: String, _ text: String) -> Bool {
        let p = Array(glob.unicodeScalars), t = Array(text.unicodeScalars)
        // Iterative wildcard matching with backtracking to the last star: linear in practice.
        var i = 0, j = 0, star = -1, mark = 0
        while j < t.count {
            if i < p.count, p[i] != "*", p[i] == t[j] {
                i += 1
                j += 1
            } else if i < p.count, p[i] == "*" {
                star = i
                mark = j
                i += 1
            } else if star >= 0 {
                i = star + 1
                mark += 1
                j = mark
            } else {
                return false
            }
        }
        while i < p.count, p[i] == "*" { i += 1 }
        return i == p.count
    }
}
