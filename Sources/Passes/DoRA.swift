import GraphIR

/// `dora`: inserts DoRA adapters (Liu et al. 2024) in the weight-space formulation.
///
/// Same targets, plan and rank errors as `lora` (`AdapterPlan`). peft computes DoRA by running the base
/// conv a second time; graphc composes the adapted weight instead and runs one conv per layer:
///
///     ΔW = reshape(matmul(reshape(B, [C_out, r]), reshape(A, [r, n])), W.shape)   n = C_in/g·kh·kw
///     V  = add(W, scale(ΔW, alpha/r))
///     W' = mul(div(V, channel_norm(V)), m)       m = NAME.lora_magnitude_vector [C_out, 1, 1, 1]
///     y  = conv2d(x, W', b)                      (the base node, same name, reading W')
///
/// channel_norm is never differentiated (DoRA's detached norm). Linear targets skip the reshapes (m is
/// [out, 1]). An adapted depthwise conv (`adaptDepthwise`, B grouped) composes ΔW as B's grouped 1x1 conv
/// over A seen as a [1, r, kh, kw] image: reshape(conv2d(reshape(A), B, groups C), W.shape), since B·A is
/// block-diagonal there. Nodes are NAME.dora_B, NAME.dora_A (reshapes), NAME.dora_BA, NAME.dora_delta,
/// NAME.dora_scale, NAME.dora_V, NAME.dora_norm, NAME.dora_direction, NAME.dora_weight, in NAME's scope.
/// A, B, m trainable; W, b frozen. A, B, m and the NAME.dora_* nodes are recorded as NAME's adapter
/// (`AdapterRecord`: the base node and W).
///
/// Before (ResNet-18; `{...}` = dilation [1, 1], groups 1, padding [1, 1], stride [1, 1]):
///
///     %153 = conv2d(%152, %6) {...} : f32[1, 64, 56, 56] "layer1.0.conv1" in "layer1.0"
///
/// After (r = 8; every node in "layer1.0"; A %106, B %107, m %108 f32[64, 1, 1, 1] dora_magnitude):
///
///     %179 = reshape(%107) {shape = [64, 8]} : f32[64, 8] "layer1.0.conv1.dora_B"
///     %180 = reshape(%106) {shape = [8, 576]} : f32[8, 576] "layer1.0.conv1.dora_A"
///     %181 = matmul(%179, %180) {transpose_a = false, transpose_b = false} : f32[64, 576] "layer1.0.conv1.dora_BA"
///     %182 = reshape(%181) {shape = [64, 64, 3, 3]} : f32[64, 64, 3, 3] "layer1.0.conv1.dora_delta"
///     %183 = scale(%182) {factor = 1.0} : f32[64, 64, 3, 3] "layer1.0.conv1.dora_scale"
///     %184 = add(%6, %183) : f32[64, 64, 3, 3] "layer1.0.conv1.dora_V"
///     %185 = channel_norm(%184) : f32[64, 1, 1, 1] "layer1.0.conv1.dora_norm"
///     %186 = div(%184, %185) : f32[64, 64, 3, 3] "layer1.0.conv1.dora_direction"
///     %187 = mul(%186, %108) : f32[64, 64, 3, 3] "layer1.0.conv1.dora_weight"
///     %188 = conv2d(%178, %187) {...} : f32[1, 64, 56, 56] "layer1.0.conv1"
public struct DoRA: Pass {
    public let name = "dora"
    public let summary = "insert DoRA adapters (W' = m·(W + s·BA)/‖W + s·BA‖ in weight space); freeze their bases"
    /// Rank, alpha, head mode and `adaptDepthwise` are read from it.
    public var config: TrainingConfig

    public init(_ config: TrainingConfig) { self.config = config }

    /// The layers DoRA adapts on `graph` and those it leaves out, with reasons; throws rank errors.
    public static func plan(_ graph: Graph, config: TrainingConfig) throws -> AdapterPlan {
        try AdapterPlan.make(graph, config: config, method: .dora)
    }

    public func run(_ graph: Graph) throws -> Graph {
        let plan = try Self.plan(graph, config: config)
        return try plan.rewrite(graph, head: config.head) { r, index, layer in
            let node = graph.nodes[index]
            let name = node.name, scope = node.scope, rank = plan.rank
            let w = r.mapped(node.inputs[1])
            let wShape = graph[node.inputs[1]].type.shape
            let m = wShape[0], n = layer.columns
            var adapterNodes: [Int] = [], adapterParameters: [ValueID] = []
            func emit(_ op: Op, _ inputs: [ValueID], _ part: String) throws -> ValueID {
                let out = try r.emit(op, inputs, name: AdapterNames.dora(name, part), scope: scope)[0]
                adapterNodes.append(r.lastNode)
                return out
            }
            var delta: ValueID
            switch node.op.adaptableLayer {
            case let .conv(base):
                let g = base.groups
                let a = r.addParameter(
                    AdapterNames.a(name) + ".weight", [rank, wShape[1], wShape[2], wShape[3]],
                    role: .loraA, trainable: true)
                let b = r.addParameter(
                    AdapterNames.b(name) + ".weight", [m, rank / g, 1, 1], role: .loraB,
                    trainable: true)
                adapterParameters += [a, b]
                if g == 1 {
                    let b2 = try emit(.reshape(shape: [m, rank]), [b], "B")
                    let a2 = try emit(.reshape(shape: [rank, n]), [a], "A")
                    delta = try emit(.matmul(transposeA: false, transposeB: false), [b2, a2], "BA")
                } else {
                    // Depthwise: channel c's update is B[c] · A[c·r/C ..< (c+1)·r/C], B's grouped 1x1 conv.
                    let image = try emit(.reshape(shape: [1, rank, wShape[2], wShape[3]]), [a], "A")
                    delta = try emit(.conv2d(Conv2dAttrs(groups: g)), [image, b], "BA")
                }
                delta = try emit(.reshape(shape: wShape), [delta], "delta")
            case .linear:
                let a = r.addParameter(AdapterNames.a(name) + ".weight", [rank, n], role: .loraA, trainable: true)
                let b = r.addParameter(AdapterNames.b(name) + ".weight", [m, rank], role: .loraB, trainable: true)
                adapterParameters += [a, b]
                delta = try emit(.matmul(transposeA: false, transposeB: false), [b, a], "BA")
            case nil:
                throw AdapterPlan.notAdaptable(node)
            }
            let magnitudeShape = Shape([m] + Array(repeating: 1, count: wShape.count - 1))
            let magnitude = r.addParameter(
                AdapterNames.magnitude(name), magnitudeShape, role: .doraMagnitude,
                trainable: true)
            adapterParameters.append(magnitude)
            let scaled = try emit(.scale(plan.scale), [delta], "scale")
            let v = try emit(.add, [w, scaled], "V")
            let norm = try emit(.channelNorm, [v], "norm")
            let direction = try emit(.div, [v, norm], "direction")
            let adapted = try emit(.mul, [direction, magnitude], "weight")
            var operands = node.inputs.map(r.mapped)
            operands[1] = adapted
            let outputs = try r.emit(node.op, operands, name: name, scope: scope, phase: node.phase)
            for (old, new) in zip(node.outputs, outputs) { r.replace(old, with: new) }
            r.mapNode(index, to: r.lastNode)
            r.recordAdapter(layer: r.lastNode, weight: w, parameters: adapterParameters, nodes: adapterNodes)
            r.freezeParameters(ofNode: index)
        }
    }
}
