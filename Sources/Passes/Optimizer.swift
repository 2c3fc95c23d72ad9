// `optimizer`: appends one optimizer step to a graph `autodiff` produced.
//
// Preconditions: forward and backward nodes, no optimizer nodes yet. The gradient of each trainable
// parameter P is the one autodiff recorded (`Graph.records`); parameters without a gradient are left
// alone (PyTorch skips a parameter whose `.grad` is None).
//
// Algorithm:
// 1. State, per trainable parameter with a gradient, in parameter order, added after the existing
//    parameters: momentum `P.momentum_buffer`; Adam/AdamW `P.exp_avg`, `P.exp_avg_sq` (P's shape, or
//    the projected shape under GaLore) and, for GaLore-projected weights, `P.galore_projector`.
// 2. Updates (phase optimizer, in the scope of P's first forward consumer), final node `P.update`:
//    sgd_update / momentum_update / adam_update (AdamW: decoupled weight decay). GaLore (Adam or AdamW)
//    projects each conv or linear weight viewed as m×n = (C_out, C_in/groups·kh·kw) with min(m, n) >
//    rank (depthwise kernels only with `adaptDepthwise`): G = reshape(grad); P = svd_projector(G, P)
//    (left m×r if m < n, else right r×n; refreshes the stored projector); R = PᵀG or GPᵀ; (N, m, v) = adam_direction(R, exp_avg,
//    exp_avg_sq); U = reshape(scale(PN or NP)); apply_update(W, U). Everything else takes plain Adam.
// 3. Schedule: by default every update follows the whole backward pass, in parameter order
//    (`loss.backward(); opt.step()`). With `releaseGrads` each update comes right after its gradient is
//    complete and after the last backward node that reads P, so each gradient dies at once. Both orders
//    are topological; the node multiset is the same.
// 4. The updated parameter and state values are appended to the outputs (in parameter order); at run
//    time they overwrite their inputs in place.
// 5. Records: per parameter, its state values and its update node (`OptimizerRecord`).
//
//     %40 = conv2d_grad_weight(%39, %0) {...} : f32[64, 3, 7, 7] "conv1.grad_weight" backward
//     output %30
//   →   (sgd)
//     %40 = conv2d_grad_weight(%39, %0) {...} : f32[64, 3, 7, 7] "conv1.grad_weight" backward
//     %41 = sgd_update(%1, %40) {...} : f32[64, 3, 7, 7] "conv1.weight.update" optimizer
//     output %30
//     output %41
import GraphIR

/// `optimizer`: the optimizer step (SGD, momentum, Adam, AdamW; GaLore's projected Adam), its state, and
/// the update schedule.
public struct OptimizerPass: Pass {
    public let name = "optimizer"
    public let summary = "append the optimizer updates and their state"
    /// Optimizer, hyper-parameters, method (GaLore), rank and schedule.
    public var config: TrainingConfig

    public init(_ config: TrainingConfig) { self.config = config }

    /// GaLore's view of a weight: an m×n matrix, and whether it is projected at this rank.
    public struct GaloreMatrix: Sendable, Hashable {
        public var m: Int
        public var n: Int
        public var projected: Bool
        /// Left projector (m×r) when m < n, else right (r×n).
        public var left: Bool { m < n }
    }

    public func run(_ graph: Graph) throws -> Graph {
        try config.validate()
        if let index = graph.nodes.indices.first(where: { graph.nodes[$0].phase == .optimizer }) {
            let node = graph.nodes[index]
            throw Diagnostic.error(
                "already-optimized", "'\(graph.name)' already has optimizer nodes ('\(node.name)')",
                node: node.name)
        }
        let gradients = graph.records
        let params = graph.parameters.filter { gradients.gradient(of: $0) != nil }
        let matrices = config.method == .galore ? try galoreMatrices(graph, params) : [:]

        // The scope of each parameter's first forward reader: where its update is drawn. One pass, not one
        // search per parameter.
        // Per-value tables are arrays indexed by `ValueID.raw`, not dictionaries.
        var scopes = [String?](repeating: nil, count: graph.values.count)
        for index in graph.nodes.indices where graph.nodes[index].phase == .forward {
            for id in graph.nodes[index].inputs where scopes[id.raw] == nil && graph.values[id.raw].isParameter {
                scopes[id.raw] = graph.nodes[index].scope
            }
        }

        var r = GraphRewriter(graph)
        // Per parameter: up to three state tensors and three results (GaLore: seven nodes).
        r.reserveAdditional(values: 10 * params.count, nodes: (matrices.isEmpty ? 1 : 8) * params.count)
        // 1. State, in parameter order, so both schedules add the same parameters.
        var state = [ValueList](repeating: [], count: graph.values.count)
        for p in params {
            let name = graph[p].name, shape = graph[p].type.shape
            func add(_ suffix: String, _ shape: Shape, _ role: ParamRole) {
                state[p.raw].append(r.addParameter(name + suffix, shape, role: role, trainable: false))
            }
            if let mat = matrices[p], mat.projected {
                let moments: Shape = mat.left ? [config.rank, mat.n] : [mat.m, config.rank]
                add(".exp_avg", moments, .expAvg)
                add(".exp_avg_sq", moments, .expAvgSq)
                add(".galore_projector", mat.left ? [mat.m, config.rank] : [config.rank, mat.n], .galoreProjector)
            } else {
                switch config.optimizer {
                case .sgd: break
                case .momentum: add(".momentum_buffer", shape, .momentumBuffer)
                case .adam, .adamw:
                    add(".exp_avg", shape, .expAvg)
                    add(".exp_avg_sq", shape, .expAvgSq)
                }
            }
        }

        // 3. Where each update goes: after node `slot[p]` (release) or after everything (default).
        var after: [Int: [ValueID]] = [:]
        if config.releaseGrads {
            var lastRead = [Int?](repeating: nil, count: graph.values.count)
            for index in graph.nodes.indices where graph.nodes[index].phase == .backward {
                for id in graph.nodes[index].inputs where graph.values[id.raw].isParameter { lastRead[id.raw] = index }
            }
            for p in params {
                let complete = graph.producer(of: gradients.gradient(of: p)!) ?? graph.nodes.count - 1
                after[max(complete, lastRead[p.raw] ?? -1), default: []].append(p)
            }
        }
        var results = [ValueList](repeating: [], count: graph.values.count)
        for index in graph.nodes.indices {
            try r.copy(index)
            if after.isEmpty { continue }
            for p in after[index] ?? [] {
                results[p.raw] = try emitUpdate(
                    &r, graph, p, r.mapped(gradients.gradient(of: p)!), state[p.raw],
                    matrices[p], scope: scopes[p.raw] ?? "")
                r.records.setOptimizer(OptimizerRecord(update: r.lastNode, state: state[p.raw]), of: r.mapped(p))
            }
        }
        if !config.releaseGrads {
            for p in params {
                results[p.raw] = try emitUpdate(
                    &r, graph, p, r.mapped(gradients.gradient(of: p)!), state[p.raw],
                    matrices[p], scope: scopes[p.raw] ?? "")
                r.records.setOptimizer(OptimizerRecord(update: r.lastNode, state: state[p.raw]), of: r.mapped(p))
            }
        }
        // 4. Outputs.
        let outputs = graph.outputs.map(r.mapped) + params.flatMap { results[$0.raw] }
        return r.finish(outputs: outputs)
    }

    /// The attributes of every update node.
    var attributes: OptimizerAttrs {
        OptimizerAttrs(
            lr: config.learningRate, momentum: config.optimizer == .momentum ? config.momentum : 0,
            weightDecay: config.weightDecay, decoupled: config.optimizer == .adamw)
    }

    /// Emits the update of `p` (a source-graph parameter) from its gradient `g` and state (new-graph
    /// values); returns the updated parameter and state values.
    private func emitUpdate(
        _ r: inout GraphRewriter, _ source: Graph, _ p: ValueID, _ g: ValueID,
        _ state: ValueList, _ matrix: GaloreMatrix?, scope: String
    ) throws -> ValueList {
        let name = source[p].name
        let w = r.mapped(p)
        func emit(_ op: Op, _ inputs: ValueList, _ suffix: String) throws -> ValueList {
            try r.emit(op, inputs, name: name + suffix, scope: scope, phase: .optimizer)
        }
        guard let mat = matrix, mat.projected else {
            var operands: ValueList = [w, g]
            for s in state { operands.append(s) }
            switch config.optimizer {
            case .sgd: return try emit(.sgdUpdate(attributes), operands, ".update")
            case .momentum: return try emit(.momentumUpdate(attributes), operands, ".update")
            case .adam, .adamw: return try emit(.adamUpdate(attributes), operands, ".update")
            }
        }
        let shape = source[p].type.shape
        let matrixShape: Shape = [mat.m, mat.n]
        let grad = shape == matrixShape ? g : try emit(.reshape(shape: matrixShape), [g], ".galore.grad")[0]
        let projector = ProjectorAttrs(rank: config.rank, left: mat.left, gap: config.galoreGap)
        let pr = try emit(.svdProjector(projector), [grad, state[2]], ".galore.projector")[0]
        let projected =
            mat.left
            ? try emit(.matmul(transposeA: true, transposeB: false), [pr, grad], ".galore.project")[0]
            : try emit(.matmul(transposeA: false, transposeB: true), [grad, pr], ".galore.project")[0]
        let direction = try emit(.adamDirection(attributes), [projected, state[0], state[1]], ".galore.adam")
        let back =
            mat.left
            ? try emit(.matmul(transposeA: false, transposeB: false), [pr, direction[0]], ".galore.back")[0]
            : try emit(.matmul(transposeA: false, transposeB: false), [direction[0], pr], ".galore.back")[0]
        var update = try emit(.scale(config.galoreScale), [back], ".galore.scale")[0]
        if shape != matrixShape { update = try emit(.reshape(shape: shape), [update], ".galore.reshape")[0] }
        let updated = try emit(.applyUpdate(attributes), [w, update], ".update")[0]
        return [updated, direction[1], direction[2], pr]
    }

    /// GaLore's matrix view of each parameter in `params` that is a conv or linear weight, viewed as
    /// (C_out, C_in/groups·kh·kw) as the reference GaLore reshapes it; depthwise kernels (n = kh·kw) only
    /// with `adaptDepthwise` (the study keeps them in plain Adam: they save next to nothing; the PyTorch
    /// fixture projects them). Checks the optimizer and the rank.
    public func galoreMatrices(_ graph: Graph, _ params: [ValueID]) throws -> [ValueID: GaloreMatrix] {
        guard config.optimizer == .adam || config.optimizer == .adamw else {
            throw Diagnostic.error(
                "galore-needs-adam",
                "GaLore projects Adam's moments; it needs --optimizer adam "
                    + "or adamw, not \(config.optimizer.rawValue)")
        }
        guard config.rank >= 1 else {
            throw Diagnostic.error("bad-rank", "GaLore rank must be at least 1, got \(config.rank)")
        }
        var consumers: [ValueID: [(Op, Int)]] = [:]
        for node in graph.nodes where node.phase == .forward {
            for (i, id) in node.inputs.enumerated() { consumers[id, default: []].append((node.op, i)) }
        }
        var matrices: [ValueID: GaloreMatrix] = [:]
        for p in params {
            let shape = graph[p].type.shape
            guard shape.count >= 2, let uses = consumers[p], !uses.isEmpty else { continue }
            // Depthwise: one input channel per group (weight [C, 1, kh, kw]), so n = kh·kw.
            let depthwise = shape[1] == 1
            let isMatrix = uses.allSatisfy { op, i in
                if case let .conv2d(a) = op { return i == 1 && (a.groups == 1 || !depthwise || config.adaptDepthwise) }
                return op == .linear && i == 1
            }
            guard isMatrix else { continue }
            let m = shape[0], n = shape.dropFirst().reduce(1, *)
            matrices[p] = GaloreMatrix(m: m, n: n, projected: min(m, n) > config.rank)
        }
        guard !matrices.isEmpty else {
            throw Diagnostic.error(
                "galore-no-weights",
                "GaLore found no trainable conv or linear weight "
                    + "with a gradient in '\(graph.name)'")
        }
        if !matrices.values.contains(where: \.projected) {
            // The weight with the largest min(m, n), first in value order among equals: the one to name.
            let widest = matrices.sorted { $0.key.raw < $1.key.raw }.max {
                min($0.value.m, $0.value.n) < min($1.value.m, $1.value.n)
            }
            let largest = widest.map { min($0.value.m, $0.value.n) } ?? 0
            let name = widest.map { graph[$0.key].name }
            throw Diagnostic.error(
                "rank-too-large",
                "GaLore rank \(config.rank) projects no weight of '\(graph.name)': "
                    + "the largest min(m, n) of its weight matrices is \(largest) ('\(name ?? "")'); "
                    + "use a rank below it", node: name)
        }
        return matrices
    }
}
