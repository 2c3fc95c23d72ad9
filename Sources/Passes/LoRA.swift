import GraphIR

/// `lora`: inserts LoRA adapters (Hu et al. 2021, as HF peft builds them for Conv2d and Linear).
///
/// Runs after `freeze`, on a forward graph. `AdapterPlan` picks the targets (every conv with groups 1,
/// depthwise convs with `adaptDepthwise`, the head with `head == .lora`). For each target node NAME with
/// output y = conv2d(x, W, b):
///
///     a = conv2d(x, A)   A = NAME.lora_A.weight [r, C_in/g, kh, kw], base stride/padding/dilation, groups g
///     d = conv2d(a, B)   B = NAME.lora_B.weight [C_out, r/g, 1, 1], groups g
///     s = scale(d, alpha/r)
///     y' = add(y, s)     every former use of y reads y'
///
/// where g = 1, or C for an adapted depthwise conv. Linear targets use linear A [r, in] and B [out, r].
/// The nodes are NAME.lora_A, NAME.lora_B, NAME.lora_scale, NAME.lora_add, in NAME's scope; A and B are
/// trainable (roles lora_a, lora_b), W and b frozen; the head is frozen with `head == .frozen` and left as
/// `freeze` set it with `.train`. Unlike peft, A keeps the base conv's dilation (so the shapes agree).
/// A, B and the four nodes are recorded as NAME's adapter (`AdapterRecord`: the base node and W).
///
/// Before (ResNet-18; `{...}` = dilation [1, 1], groups 1, padding [1, 1], stride [1, 1]):
///
///     param %6 "layer1.0.conv1.weight" : f32[64, 64, 3, 3] weight frozen
///     %153 = conv2d(%152, %6) {...} : f32[1, 64, 56, 56] "layer1.0.conv1" in "layer1.0"
///     %154 = batch_norm(%153, ...) ...
///
/// After (r = 8):
///
///     param %105 "layer1.0.conv1.lora_A.weight" : f32[8, 64, 3, 3] lora_a
///     param %106 "layer1.0.conv1.lora_B.weight" : f32[64, 8, 1, 1] lora_b
///     %153 = conv2d(%152, %6) {...} : f32[1, 64, 56, 56] "layer1.0.conv1" in "layer1.0"
///     %154 = conv2d(%152, %105) {...} : f32[1, 8, 56, 56] "layer1.0.conv1.lora_A" in "layer1.0"
///     %155 = conv2d(%154, %106) {..., padding = [0, 0]} : f32[1, 64, 56, 56] "layer1.0.conv1.lora_B" in "layer1.0"
///     %156 = scale(%155) {factor = 1.0} : f32[1, 64, 56, 56] "layer1.0.conv1.lora_scale" in "layer1.0"
///     %157 = add(%153, %156) : f32[1, 64, 56, 56] "layer1.0.conv1.lora_add" in "layer1.0"
///     %158 = batch_norm(%157, ...) ...
public struct LoRA: Pass {
    public let name = "lora"
    public let summary = "insert LoRA adapters (A, B, scale, add) on convs and optionally the head; freeze their bases"
    /// Rank, alpha, head mode and `adaptDepthwise` are read from it.
    public var config: TrainingConfig

    public init(_ config: TrainingConfig) { self.config = config }

    /// The layers LoRA adapts on `graph` and those it leaves out, with reasons; throws rank errors.
    public static func plan(_ graph: Graph, config: TrainingConfig) throws -> AdapterPlan {
        try AdapterPlan.make(graph, config: config, method: .lora)
    }

    public func run(_ graph: Graph) throws -> Graph {
        let plan = try Self.plan(graph, config: config)
        return try plan.rewrite(graph, head: config.head) { r, index, layer in
            let node = graph.nodes[index]
            let y = try r.copy(index)[0]
            let base = r.lastNode
            r.freezeParameters(ofNode: index)
            let x = r.mapped(node.inputs[0])
            let name = node.name, scope = node.scope
            let wShape = graph[node.inputs[1]].type.shape
            let (opA, opB, shapeA, shapeB): (Op, Op, Shape, Shape)
            switch node.op.adaptableLayer {
            case let .conv(base):
                let g = base.groups
                opA = .conv2d(base)
                opB = .conv2d(Conv2dAttrs(groups: g))
                shapeA = [plan.rank, wShape[1], wShape[2], wShape[3]]
                shapeB = [wShape[0], plan.rank / g, 1, 1]
            case .linear:
                (opA, opB, shapeA, shapeB) = (.linear, .linear, [plan.rank, wShape[1]], [wShape[0], plan.rank])
            case nil:
                throw AdapterPlan.notAdaptable(node)
            }
            let a = r.addParameter(AdapterNames.a(name) + ".weight", shapeA, role: .loraA, trainable: true)
            let b = r.addParameter(AdapterNames.b(name) + ".weight", shapeB, role: .loraB, trainable: true)
            let ya = try r.emit(opA, [x, a], name: AdapterNames.a(name), scope: scope)[0]
            let yb = try r.emit(opB, [ya, b], name: AdapterNames.b(name), scope: scope)[0]
            let scaled = try r.emit(.scale(plan.scale), [yb], name: AdapterNames.loraScale(name), scope: scope)[0]
            let sum = try r.emit(.add, [y, scaled], name: AdapterNames.loraAdd(name), scope: scope)[0]
            r.replace(node.outputs[0], with: sum)
            // The four nodes just emitted, A, B, scale and add, are the adapter's.
            r.recordAdapter(
                layer: base, weight: r.mapped(node.inputs[1]), parameters: [a, b],
                nodes: Array(r.lastNode - 3...r.lastNode))
        }
    }
}

extension AdapterPlan {
    /// Copies `graph`, letting `adapt` rewrite each planned layer (it must define the layer's outputs),
    /// and applies the head mode's freezing (`frozen`: the head's parameters frozen).
    func rewrite(
        _ graph: Graph, head: HeadMode,
        adapt: (inout GraphRewriter, Int, Layer) throws -> Void
    ) throws -> Graph {
        let layers = Dictionary(uniqueKeysWithValues: adapted.map { ($0.node, $0) })
        let heads = head == .frozen ? Set(Freeze.headNodes(graph)) : []
        var r = GraphRewriter(graph)
        for index in graph.nodes.indices {
            if let layer = layers[index] {
                try adapt(&r, index, layer)
            } else {
                try r.copy(index)
                if heads.contains(index) { r.freezeParameters(ofNode: index) }
            }
        }
        return r.finish()
    }
}
