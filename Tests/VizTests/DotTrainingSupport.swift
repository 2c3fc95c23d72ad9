// Hand-built training graphs for the DotExport training tests, and a reader of the DOT text they give.
import GraphIR

@testable import Passes
@testable import Viz

enum DotTrainingBuilders {
    /// A tiny LoRA training step, written out as autodiff and Adam would: a frozen stem (conv, bn,
    /// relu), a block whose conv carries a rank-2 LoRA adapter and a residual add, a trainable head, the
    /// loss, the backward ops (none for the stem or the frozen base conv: they need no gradient) and one
    /// Adam update per trainable parameter. With `headOnly` the adapter is frozen too, so only the head
    /// trains and the backward pass stops at the head.
    static func tinyLoRA(headOnly: Bool = false) throws -> Graph {
        var b = GraphBuilder(name: headOnly ? "tiny_head" : "tiny_lora")
        let x = b.input("input", .f32([1, 3, 8, 8]))
        let labels = b.input("labels", .i64([1]))
        let conv = Conv2dAttrs(padding: Pair(1)), pointwise = Conv2dAttrs()
        let bnAttrs = BatchNormAttrs(training: true)
        let stemW = b.parameter("stem.weight", [4, 3, 3, 3], role: .weight, trainable: false)
        let gamma = b.parameter("stem_bn.weight", [4], role: .bnGamma, trainable: false)
        let beta = b.parameter("stem_bn.bias", [4], role: .bnBeta, trainable: false)
        let mean = b.parameter("stem_bn.running_mean", [4], role: .runningMean)
        let variance = b.parameter("stem_bn.running_var", [4], role: .runningVar)
        let convW = b.parameter("block.conv.weight", [4, 4, 3, 3], role: .weight, trainable: false)
        let loraA = b.parameter("block.conv.lora_A.weight", [2, 4, 3, 3], role: .loraA, trainable: !headOnly)
        let loraB = b.parameter("block.conv.lora_B.weight", [4, 2, 1, 1], role: .loraB, trainable: !headOnly)
        let fcW = b.parameter("fc.weight", [3, 4], role: .weight)
        let fcB = b.parameter("fc.bias", [3], role: .bias)

        let stem = try b.node(.conv2d(conv), [x, stemW], name: "stem")[0]
        let bn = try b.node(.nativeBatchNorm(bnAttrs), [stem, gamma, beta, mean, variance], name: "stem_bn")
        let r0 = try b.node(.relu, [bn[0]], name: "stem_relu")[0]
        let base = try b.node(.conv2d(conv), [r0, convW], name: "block.conv", scope: "block")[0]
        let a = try b.node(.conv2d(conv), [r0, loraA], name: "block.conv.lora_A", scope: "block")[0]
        let bOut = try b.node(.conv2d(pointwise), [a, loraB], name: "block.conv.lora_B", scope: "block")[0]
        let scaled = try b.node(.scale(0.5), [bOut], name: "block.conv.lora_scale", scope: "block")[0]
        let adapted = try b.node(.add, [base, scaled], name: "block.conv.lora_add", scope: "block")[0]
        let r1 = try b.node(.relu, [adapted], name: "block.relu", scope: "block")[0]
        let sum = try b.node(.add, [r1, r0], name: "block.add", scope: "block")[0]
        let gap = try b.node(.adaptiveAvgPool2d(output: Pair(1)), [sum], name: "pool")[0]
        let flat = try b.node(.flatten(startDim: 1), [gap], name: "flatten")[0]
        let logits = try b.node(.linear, [flat, fcW, fcB], name: "fc")[0]
        let loss = try b.node(.softmaxCrossEntropy, [logits, labels], name: "loss")[0]

        // The records lora, autodiff and the optimizer leave: the adapter's layer, each backward node's
        // forward node (`of`: one of its results), the gradients and the updates.
        let layer = b.graph.producer(of: base)!
        for p in [loraA, loraB] { b.records.setAdapter(AdapterRecord(layer: layer, weight: convW), ofParameter: p) }
        for v in [a, bOut, scaled, adapted] {
            b.records.setAdapter(AdapterRecord(layer: layer, weight: convW), ofNode: b.graph.producer(of: v)!)
        }
        func back(_ op: Op, _ inputs: [ValueID], _ name: String, _ scope: String = "", of forward: ValueID) throws
            -> ValueID
        {
            let out = try b.node(op, inputs, name: name, scope: scope, phase: .backward)[0]
            b.records.setOrigin(.node(b.graph.producer(of: forward)!), ofNode: b.graph.nodes.count - 1)
            return out
        }
        let dLogits = try back(.softmaxCrossEntropyGrad, [logits, labels], "loss.grad_input", of: loss)
        let dFcW = try back(.linearGradWeight, [dLogits, flat], "fc.grad_weight", of: logits)
        let dFcB = try back(.biasGrad, [dLogits], "fc.grad_bias", of: logits)
        var grads = [(fcW, dFcW), (fcB, dFcB)]
        if !headOnly {
            let dFlat = try back(.linearGradInput, [dLogits, fcW], "fc.grad_input", of: logits)
            let dGap = try back(.reshape(shape: [1, 4, 1, 1]), [dFlat], "flatten.grad_input", of: flat)
            let dSum = try back(.adaptiveAvgPool2dGrad, [dGap, sum], "pool.grad_input", of: gap)
            let dAdapted = try back(.activationGrad(.relu), [dSum, r1], "block.relu.grad_input", "block", of: r1)
            let dScaled = try back(.scale(0.5), [dAdapted], "block.conv.lora_scale.grad_input", "block", of: scaled)
            let dB = try back(
                .conv2dGradWeight(pointwise, kernel: Pair(1)), [dScaled, a],
                "block.conv.lora_B.grad_weight", "block", of: bOut)
            let dA = try back(
                .conv2dGradInput(pointwise, input: Pair(8)), [dScaled, loraB],
                "block.conv.lora_B.grad_input", "block", of: bOut)
            let dAW = try back(
                .conv2dGradWeight(conv, kernel: Pair(3)), [dA, r0], "block.conv.lora_A.grad_weight",
                "block", of: a)
            grads = [(loraA, dAW), (loraB, dB)] + grads
        }

        let adam = OptimizerAttrs(lr: 1e-3)
        var updated: [ValueID] = []
        for (p, g) in grads {
            let name = b.graph[p].name, shape = b.graph[p].type.shape
            let m = b.parameter(name + ".exp_avg", shape, role: .expAvg)
            let v = b.parameter(name + ".exp_avg_sq", shape, role: .expAvgSq)
            updated += try b.node(.adamUpdate(adam), [p, g, m, v], name: name + ".update", phase: .optimizer)
            b.records.setGradient(g, of: p)
            b.records.setOptimizer(OptimizerRecord(update: b.graph.nodes.count - 1, state: [m, v]), of: p)
        }
        b.output(loss)
        for id in updated { b.output(id) }
        return b.graph
    }
}

/// A training drawing read back: nodes with their attributes, edges with theirs, clusters (any id)
/// with their parents and direct members, and the legend's rows.
struct TrainingDot {
    struct Cluster { var label = "", parent: String?, members: [String] = [] }
    var nodeOrder: [String] = []
    var nodes: [String: String] = [:]
    var edges: [(from: String, to: String, attributes: String)] = []
    var clusters: [String: Cluster] = [:]
    var legend: [String] = []
    var title = ""

    init(_ text: String) {
        var stack: [String] = []
        for raw in text.split(separator: "\n") {
            let line = raw.drop { $0 == " " }
            if let m = line.wholeMatch(of: /subgraph (cluster_\w+) \{/) {
                clusters[String(m.1)] = Cluster(parent: stack.last)
                stack.append(String(m.1))
            } else if line == "}", !stack.isEmpty {
                stack.removeLast()
            } else if let id = stack.last, let m = line.firstMatch(of: /^label=(?:"([^"]*)"|<<b>([^<]*)<\/b>>)/) {
                clusters[id]!.label = String(m.1 ?? m.2!)
            } else if let id = stack.last, line.wholeMatch(of: /([a-z]\d+; ?)+/) != nil {
                clusters[id]!.members += line.split(separator: " ").map { String($0.dropLast()) }
            } else if let m = line.wholeMatch(of: /([a-z]\d+) -> ([a-z]\d+)(?: \[(.*)\])?;/) {
                edges.append((String(m.1), String(m.2), m.3.map(String.init) ?? ""))
            } else if let m = line.wholeMatch(of: /([a-z]\d+) \[(.*)\];/) {
                nodeOrder.append(String(m.1))
                nodes[String(m.1)] = String(m.2)
            } else if let m = line.firstMatch(of: /<td align="left">(.*)<\/td><\/tr>/) {
                legend.append(String(m.1).replacingOccurrences(of: "&amp;", with: "&"))
            } else if let m = line.firstMatch(of: /^label=<(.*)>\];$/) {
                title = String(m.1)
            }
        }
    }

    /// The outermost cluster around `id` (its phase cluster in a training drawing).
    func outermost(of id: String) -> String? {
        guard var c = clusters.first(where: { $0.value.members.contains(id) })?.key else { return nil }
        while let p = clusters[c]?.parent { c = p }
        return c
    }

    /// The outermost cluster containing cluster `id`.
    func outermostCluster(_ id: String) -> String {
        var c = id
        while let p = clusters[c]?.parent { c = p }
        return c
    }

    func fillColor(_ id: String) -> String? {
        nodes[id]?.firstMatch(of: /fillcolor="(#[0-9A-F]{6})"/).map { String($0.1) }
    }

    func isDashed(_ id: String) -> Bool { nodes[id]?.firstMatch(of: /style="[^"]*dashed/) != nil }

    func hasAdapterOutline(_ id: String) -> Bool {
        nodes[id]?.contains("color=\"\(DotMarker.adapterColor)\", penwidth=2.5") == true
    }
}
