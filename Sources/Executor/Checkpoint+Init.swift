// PyTorch's default initialisation of a graph's parameters, for running or fine-tuning a model that has
// no checkpoint yet. As torch.nn does it, with graphc's random numbers (DataRandom, one stream per
// parameter, keyed by its position among the graph's parameters), so the values are reproducible but
// not PyTorch's own draws:
//   conv2d / linear weight   kaiming_uniform(a = √5): U(−1/√fan_in, 1/√fan_in), fan_in = in/groups·kh·kw
//   their bias               U(−1/√fan_in, 1/√fan_in), fan_in of the layer's weight
//   batch norm               γ = 1, β = 0, running mean 0, running variance 1
//   LoRA A                   kaiming_uniform(a = √5) as a weight (peft); LoRA B zero (so ΔW = 0)
//   DoRA magnitude           ‖W‖ per output channel of the base weight (peft), so W' = W at the start
import GraphIR

extension Checkpoint {
    /// PyTorch's default initialisation of `graph`'s state parameters (see the file's header), seeded.
    public static func pytorchDefault(_ graph: Graph, seed: UInt64) -> Checkpoint {
        // fan_in of each weight from the nodes that read it (a bias gets its layer's weight's).
        var fanIn: [ValueID: Int] = [:]
        for node in graph.nodes {
            // The layers whose weight is a matrix the forward pass multiplies by (conv2d, linear).
            guard node.op.adaptableLayer != nil, node.inputs.count > 1 else { continue }
            let w = graph[node.inputs[1]].type.shape
            let fan = w.dropFirst().reduce(1, *)
            fanIn[node.inputs[1]] = fanIn[node.inputs[1]] ?? fan
            if node.inputs.count > 2 { fanIn[node.inputs[2]] = fanIn[node.inputs[2]] ?? fan }
        }
        var values: [ValueID: [Float]] = [:]
        for (index, id) in graph.parameters.enumerated() {
            let v = graph[id], n = v.type.elementCount
            guard let role = v.role, !role.isOptimizerState, v.type.dtype == .f32 else { continue }
            var rng = DataRandom(seed: seed, stream: UInt64(index))
            func uniform(_ fan: Int) -> [Float] {
                let bound = 1 / Double(max(fan, 1)).squareRoot()
                return (0..<n).map { _ in Float((2 * rng.unit() - 1) * bound) }
            }
            let shapeFan = v.type.shape.dropFirst().reduce(1, *)
            switch role {
            case .weight, .loraA: values[id] = uniform(fanIn[id] ?? shapeFan)
            case .bias: values[id] = uniform(fanIn[id] ?? n)
            case .bnGamma, .runningVar: values[id] = [Float](repeating: 1, count: n)
            case .bnBeta, .runningMean, .loraB, .doraMagnitude: values[id] = [Float](repeating: 0, count: n)
            case .momentumBuffer, .expAvg, .expAvgSq, .galoreProjector: continue
            }
        }
        // DoRA magnitudes: the norms of their base weights' rows (the base weight from the adapter record).
        for id in graph.parameters where graph[id].role == .doraMagnitude {
            guard let base = graph.records.adapter(ofParameter: id)?.weight, let w = values[base] else { continue }
            let rows = graph[id].type.elementCount, inner = w.count / max(rows, 1)
            values[id] = (0..<rows).map { r in
                Float(w[r * inner..<(r + 1) * inner].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
            }
        }
        var tensors: [Tensor] = []
        let counters = Dictionary(stepCounters(of: graph), uniquingKeysWith: { a, _ in a })
        for id in stateParameters(of: graph) {
            guard let v = values[id] else { continue }
            tensors.append(Tensor(name: graph[id].name, shape: graph[id].type.shape.array, floats: v))
            if let key = counters[id] { tensors.append(Tensor(name: key, shape: [], integers: [0])) }
        }
        return Checkpoint(
            tensors: tensors,
            metadata: [
                "format": "pt", "producer": "graphc", "model": graph.name,
                "init": "pytorch-default seed \(seed)",
            ])
    }
}

extension Checkpoint {
    /// This checkpoint with `graph`'s missing adapter parameters added at their starting values: LoRA's
    /// A as PyTorch initialises it (seeded), B zero, DoRA's magnitude the row norms of this checkpoint's
    /// own base weight (found through the adapter record). A base model's checkpoint then starts a LoRA or
    /// DoRA fine-tune, and the adapted layers compute the base model exactly at step 0. Tensors already
    /// present are kept; a checkpoint without the base weight gets no magnitude (loading then names it).
    public func addingAdapters(of graph: Graph, seed: UInt64) -> Checkpoint {
        let missing = graph.parameters.filter { graph[$0].role?.isAdapter == true && self[graph[$0].name] == nil }
        guard !missing.isEmpty else { return self }
        let defaults = Checkpoint.pytorchDefault(graph, seed: seed)
        var out = self
        for id in missing {
            let name = graph[id].name
            if graph[id].role == .doraMagnitude {
                guard let base = graph.records.adapter(ofParameter: id)?.weight, let w = self[graph[base].name],
                    w.dtype == .f32
                else { continue }
                let v = w.floats, rows = graph[id].type.elementCount
                guard rows > 0, v.count % rows == 0 else { continue }
                let inner = v.count / rows
                let norms = (0..<rows).map { r in
                    Float(v[r * inner..<(r + 1) * inner].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
                }
                out.tensors.append(Tensor(name: name, shape: graph[id].type.shape.array, floats: norms))
            } else if let t = defaults[name] {
                out.tensors.append(t)
            }
        }
        return out
    }
}
