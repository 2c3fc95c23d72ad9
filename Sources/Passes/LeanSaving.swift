// `lean-saving` (`--saving lean`): a ReLU or ReLU6 whose saved value (ReLU's output, ReLU6's input)
// only its own gradient keeps for backward keeps a packed 1-bit mask instead (`relu_mask` / `relu6_mask`,
// dtype `mask`, ceil(n/8) bytes), and its gradient reads the mask (`relu_mask_grad`: dy where the bit is
// set), so the f32 value dies with its last forward reader.
//
// Runs after autodiff. For every `relu_grad(dy, s)` / `relu6_grad(dy, s)` whose `s` is the value its
// forward node's rule saves, the rewrite applies when no other backward node reads s's storage (through
// views too: a trainable conv that reads s for its weight gradient keeps it anyway, and a mask beside it
// would only add bytes):
//
//     %5 = relu(%4) : f32[8, 64, 56, 56] "relu"                        forward
//     ...
//     %40 = relu_grad(%39, %5) : f32[8, 64, 56, 56] "relu.grad"        backward
//   →
//     %5 = relu(%4) : f32[8, 64, 56, 56] "relu"
//     %6 = relu_mask(%5) : mask[8, 64, 56, 56] "relu.mask"              forward, right after relu
//                                           (relu6: relu6_mask(x) of its input x, 0 < x < 6)
//     ...
//     %41 = relu_mask_grad(%40, %6) : f32[8, 64, 56, 56] "relu.grad"    backward, same origin record
//
// Both gradients are bitwise the same (dy where y > 0, else 0). O(nodes + operands).
import GraphIR

public struct LeanSaving: Pass {
    public let name = "lean-saving"
    public let summary = "keep 1-bit masks instead of ReLU / ReLU6 values that only their gradient reads"

    public init() {}

    public func run(_ graph: Graph) throws -> Graph {
        let count = graph.values.count
        var root = Array(0..<count)
        for node in graph.nodes {
            for (k, id) in node.outputs.enumerated() {
                if let j = node.op.aliasedOperand(ofResult: k), j < node.inputs.count {
                    root[id.raw] = root[node.inputs[j].raw]
                }
            }
        }
        /// The forward activation whose gradient node `index` is, when its saved operand is the value that
        /// activation's rule saves (relu its result, relu6 its input) and that value owns its storage.
        func maskable(_ index: Int) -> (forward: Int, act: Activation)? {
            let node = graph.nodes[index]
            guard case let .activationGrad(act) = node.op, act.hasMask, node.inputs.count == 2,
                case let .node(f) = graph.records.origin(ofNode: index), f >= 0, f < graph.nodes.count,
                graph.nodes[f].op == act.op, graph.nodes[f].phase == .forward
            else { return nil }
            let saved = node.inputs[1]
            let expected = act.gradientUsesOutput ? graph.nodes[f].outputs[0] : graph.nodes[f].inputs[0]
            guard saved == expected, root[saved.raw] == saved.raw else { return nil }
            return (f, act)
        }
        // Storages some backward node reads other than as an activation gradient's saved value.
        var keptOtherwise = [Bool](repeating: false, count: count)
        var owner = [(forward: Int, act: Activation)?](repeating: nil, count: count)
        for index in graph.nodes.indices where graph.nodes[index].phase == .backward {
            let node = graph.nodes[index]
            let m = maskable(index)
            for (k, v) in node.inputs.enumerated() {
                if k == 1, let m {
                    if let o = owner[v.raw], o.forward != m.forward { keptOtherwise[v.raw] = true }
                    owner[v.raw] = m
                } else {
                    keptOtherwise[root[v.raw]] = true
                }
            }
        }
        for id in graph.outputs { keptOtherwise[root[id.raw]] = true }
        // Per forward node: the value to mask after it.
        var maskAfter = [(value: ValueID, act: Activation)?](repeating: nil, count: graph.nodes.count)
        for v in 0..<count where !keptOtherwise[v] {
            if let o = owner[v] { maskAfter[o.forward] = (ValueID(v), o.act) }
        }
        guard maskAfter.contains(where: { $0 != nil }) else { return graph }

        var r = GraphRewriter(graph)
        var mask = [ValueID?](repeating: nil, count: count)
        for (index, node) in graph.nodes.enumerated() {
            if node.phase == .backward, maskable(index) != nil, let m = mask[node.inputs[1].raw] {
                let out = try r.emit(
                    .reluMaskGrad, [r.mapped(node.inputs[0]), m], name: node.name, scope: node.scope,
                    phase: .backward)
                r.mapNode(index, to: r.lastNode)
                r.replace(node.outputs[0], with: out[0])
                continue
            }
            try r.copy(index)
            if let (v, act) = maskAfter[index] {
                mask[v.raw] =
                    try r.emit(
                        .activationMask(act), [r.mapped(v)], name: node.name + ".mask", scope: node.scope,
                        phase: .forward)[0]
            }
        }
        return r.finish()
    }
}
