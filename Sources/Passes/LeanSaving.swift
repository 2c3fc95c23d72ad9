// `lean-saving` (`--saving lean`): a ReLU whose output only its own gradient keeps for backward keeps a
// packed 1-bit mask instead (`relu_mask`, dtype `mask`, ceil(n/8) bytes), and its gradient reads the mask
// (`relu_mask_grad`), so the f32 output dies with its last forward reader.
//
// Runs after autodiff. For every `relu_grad(dy, y)` whose `y` is a forward relu's result, the rewrite
// applies when no other backward node reads y's storage (through views too: a trainable conv that reads
// y for its weight gradient keeps y anyway, and a mask beside it would only add bytes):
//
//     %5 = relu(%4) : f32[8, 64, 56, 56] "relu"                        forward
//     ...
//     %40 = relu_grad(%39, %5) : f32[8, 64, 56, 56] "relu.grad"        backward
//   →
//     %5 = relu(%4) : f32[8, 64, 56, 56] "relu"
//     %6 = relu_mask(%5) : mask[8, 64, 56, 56] "relu.mask"              forward, right after relu
//     ...
//     %41 = relu_mask_grad(%40, %6) : f32[8, 64, 56, 56] "relu.grad"    backward, same origin record
//
// Both gradients are bitwise the same (dy where y > 0, else 0). O(nodes + operands).
import GraphIR

public struct LeanSaving: Pass {
    public let name = "lean-saving"
    public let summary = "keep 1-bit masks instead of ReLU outputs that only their gradient reads"

    public init() {}

    public func run(_ graph: Graph) throws -> Graph {
        let count = graph.values.count
        var root = Array(0..<count)
        var producer = [Int](repeating: -1, count: count)
        for (index, node) in graph.nodes.enumerated() {
            for (k, id) in node.outputs.enumerated() {
                producer[id.raw] = index
                if let j = node.op.aliasedOperand(ofResult: k), j < node.inputs.count {
                    root[id.raw] = root[node.inputs[j].raw]
                }
            }
        }
        func isReluResult(_ v: ValueID) -> Bool {
            let p = producer[v.raw]
            return p >= 0 && graph.nodes[p].op == .relu && graph.nodes[p].phase == .forward && root[v.raw] == v.raw
        }
        // Storages some backward node reads other than as a relu gradient's saved output.
        var keptOtherwise = [Bool](repeating: false, count: count)
        var masked = [Bool](repeating: false, count: count)
        for node in graph.nodes where node.phase == .backward {
            for (k, v) in node.inputs.enumerated() {
                if node.op == .activationGrad(.relu), k == 1, isReluResult(v) {
                    masked[v.raw] = true
                } else {
                    keptOtherwise[root[v.raw]] = true
                }
            }
        }
        for id in graph.outputs { keptOtherwise[root[id.raw]] = true }
        for v in 0..<count where keptOtherwise[v] { masked[v] = false }
        guard masked.contains(true) else { return graph }

        var r = GraphRewriter(graph)
        var mask = [ValueID?](repeating: nil, count: count)
        for (index, node) in graph.nodes.enumerated() {
            if node.op == .activationGrad(.relu), masked[node.inputs[1].raw], let m = mask[node.inputs[1].raw] {
                let out = try r.emit(
                    .reluMaskGrad, [r.mapped(node.inputs[0]), m], name: node.name, scope: node.scope,
                    phase: .backward)
                r.mapNode(index, to: r.lastNode)
                r.replace(node.outputs[0], with: out[0])
                continue
            }
            let out = try r.copy(index)
            if node.op == .relu, masked[node.outputs[0].raw] {
                mask[node.outputs[0].raw] =
                    try r.emit(.reluMask, [out[0]], name: node.name + ".mask", scope: node.scope, phase: .forward)[0]
            }
        }
        return r.finish()
    }
}
