// Folding trained adapters into their base weights, numerically: what `merge-adapters` (a graph
// rewrite in Passes) does to the graph, done to the values, so the merged graph computes the adapted
// model's logits.
//
// Everything is found through the graph's training records (`AdapterRecord`: each adapter parameter and
// adapter node names its base layer and base weight), never through names:
// - LoRA:  W' = W + s·B·A, with s the adapter's `scale` node; per group of a grouped base layer
//          (g = r / B's columns), output row o of group k sums B[o, j]·A[k·r/g + j, ...].
// - DoRA:  V = W + s·B·A as above, then W' = m · V / ‖V‖ row by row (m the magnitude), as DoRA's
//          `channel_norm` and `mul` compute the adapted weight.
import GraphIR

/// The merged value of one base weight.
public struct MergedWeight {
    /// The base weight parameter (in the adapted graph).
    public var weight: ValueID
    public var values: [Float]
}

/// Why adapters could not be merged.
public struct AdapterMergeError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public enum AdapterMerge {
    /// The merged value of every adapted base weight of `graph`, reading parameters through `value`.
    public static func mergedWeights(_ graph: Graph, value: (ValueID) -> TensorView?)
        throws(AdapterMergeError) -> [MergedWeight]
    {
        // Per base weight, in parameter order: its adapter parameters by role, and its scale.
        struct Parts {
            var a: ValueID?, b: ValueID?, magnitude: ValueID?, scale: Float?
        }
        var parts: [ValueID: Parts] = [:]
        var order: [ValueID] = []
        for id in graph.parameters {
            guard let record = graph.records.adapter(ofParameter: id) else { continue }
            if parts[record.weight] == nil { order.append(record.weight) }
            var p = parts[record.weight] ?? Parts()
            switch graph[id].role {
            case .loraA: p.a = id
            case .loraB: p.b = id
            case .doraMagnitude: p.magnitude = id
            case .weight, .bias, .bnGamma, .bnBeta, .runningMean, .runningVar, .momentumBuffer, .expAvg, .expAvgSq,
                .galoreProjector, nil:
                break
            }
            parts[record.weight] = p
        }
        for (index, node) in graph.nodes.enumerated() {
            guard let record = graph.records.adapter(ofNode: index), case let .scale(f) = node.op else { continue }
            parts[record.weight]?.scale = Float(f)
        }
        var merged: [MergedWeight] = []
        for weight in order {
            let p = parts[weight]!
            let name = graph[weight].name
            guard let a = p.a, let b = p.b, let scale = p.scale else {
                throw AdapterMergeError("the adapter of '\(name)' lacks its A or B factor or its scale")
            }
            guard let w = value(weight), let av = value(a), let bv = value(b) else {
                throw AdapterMergeError("no values for the adapter of '\(name)'")
            }
            var v = try deltaMerged(w: w, a: av, b: bv, scale: scale, name: name)
            if let magnitude = p.magnitude {
                guard let m = value(magnitude), m.count == w.shape[0] else {
                    throw AdapterMergeError("the DoRA magnitude of '\(name)' does not have one entry per output row")
                }
                let rows = w.shape[0], inner = v.count / rows
                for r in 0..<rows {
                    var s: Double = 0
                    for i in 0..<inner { s += Double(v[r * inner + i]) * Double(v[r * inner + i]) }
                    guard s > 0 else {
                        throw AdapterMergeError(
                            "row \(r) of '\(name)' + its LoRA update is zero: DoRA's direction is undefined")
                    }
                    let factor = m.f32[r] / Float(s.squareRoot())
                    for i in 0..<inner { v[r * inner + i] *= factor }
                }
            }
            merged.append(MergedWeight(weight: weight, values: v))
        }
        return merged
    }

    /// W + scale·B·A, per group of the base layer (see the file comment).
    static func deltaMerged(w: TensorView, a: TensorView, b: TensorView, scale: Float, name: String)
        throws(AdapterMergeError) -> [Float]
    {
        let rows = w.shape[0], inner = w.count / max(rows, 1)
        let r = a.shape[0], perGroup = b.count / max(rows, 1)  // r/g
        guard rows > 0, perGroup > 0, r % perGroup == 0, a.count == r * inner else {
            throw AdapterMergeError(
                "the LoRA factors of '\(name)' (A \(a.shape), B \(b.shape)) do not fit its "
                    + "weight \(w.shape)")
        }
        let g = r / perGroup
        guard g > 0, rows % g == 0 else {
            throw AdapterMergeError("the LoRA factors of '\(name)' do not split into its weight's groups")
        }
        let rowsPerGroup = rows / g
        var v = Array(UnsafeBufferPointer(start: w.f32, count: w.count))
        let ap = a.f32, bp = b.f32
        for o in 0..<rows {
            let k = o / rowsPerGroup
            for j in 0..<perGroup {
                let coefficient = scale * bp[o * perGroup + j]
                let arow = ap + (k * perGroup + j) * inner
                for i in 0..<inner { v[o * inner + i] += coefficient * arow[i] }
            }
        }
        return v
    }
}
