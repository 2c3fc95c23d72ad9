// `set-precision`: stores frozen weights and activations in reduced precision (`--weights`,
// `--activations`), so that liveness, the plan, the timeline and every report count their real bytes.
//
// Ops compute in f32 whatever their operands' storage (`DType.computeType`): the pass changes types
// only, never nodes, so it inserts nothing (no casts) and keeps the schedule. What it retypes:
// - Weights (`--weights f16|bf16|int8`): every frozen learnable parameter. Trainable parameters,
//   BatchNorm's running statistics and optimizer state keep f32 (the master copies mixed-precision
//   training keeps). int8 quantizes conv and linear weights (role `weight`, rank 2 or more) to `qi8`,
//   int8 values with one f32 scale per output channel: numel + 4·C_out bytes. Frozen biases and
//   BatchNorm affine parameters stay f32 under int8, as in PyTorch's quantized modules.
// - Activations (`--activations f16|bf16`): the real-valued graph inputs (the image batch) and every
//   real-valued result of a forward or backward node: saved activations and transients alike. Kept at
//   f32: the parameters' recorded gradients and the sums that build them (they update f32 masters),
//   everything the optimizer computes, and the graph's outputs (the loss; the logits of a forward
//   graph). Labels, pooling indices and masks keep their dtypes. A view (reshape, flatten) takes its
//   operand's storage, since it is that storage.
//
//     %12 = relu(%11) : f32[8, 64, 112, 112] "relu"
//   → (--activations f16)
//     %12 = relu(%11) : f16[8, 64, 112, 112] "relu"
import GraphIR

/// What `--weights` stores frozen weights as.
public enum WeightPrecision: String, Sendable, Hashable, CaseIterable {
    case f32, f16, bf16, int8

    /// The storage of a frozen parameter of `role` and `type`.
    public func dtype(role: ParamRole, type: TensorType) -> DType {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .int8: role == .weight && type.rank >= 2 ? .qi8 : .f32
        }
    }

    /// The dtype reports name: `f32`, `f16`, `bf16`, `qi8`.
    public var reportName: String {
        switch self {
        case .f32, .f16, .bf16: rawValue
        case .int8: DType.qi8.rawValue
        }
    }
}

/// What `--activations` stores saved activations and transients as.
public enum ActivationPrecision: String, Sendable, Hashable, CaseIterable {
    case f32, f16, bf16

    public var dtype: DType {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        }
    }
}

extension TrainingConfig {
    /// Whether anything is stored below f32 (the training pipeline then runs `set-precision`).
    public var reducedPrecision: Bool { weights != .f32 || activations != .f32 }
}

/// `set-precision`: retypes frozen weights and activations to the configured storage dtypes.
public struct SetPrecision: Pass {
    public let name = "set-precision"
    public let summary = "store frozen weights (--weights) and activations (--activations) in reduced precision"
    public var weights: WeightPrecision
    public var activations: ActivationPrecision

    public init(weights: WeightPrecision, activations: ActivationPrecision) {
        self.weights = weights
        self.activations = activations
    }

    public init(_ config: TrainingConfig) { self.init(weights: config.weights, activations: config.activations) }

    public func run(_ graph: Graph) throws -> Graph {
        guard weights != .f32 || activations != .f32 else { return graph }
        var out = graph
        func retype(_ id: ValueID, _ dtype: DType) {
            if out[id].type.dtype != dtype { out[id].type.dtype = dtype }
        }
        for id in graph.parameters {
            guard case let .parameter(role, trainable) = graph[id].kind, role.isLearnable, !trainable,
                graph[id].type.dtype == .f32
            else { continue }
            retype(id, weights.dtype(role: role, type: graph[id].type))
        }
        guard activations != .f32 else { return out }
        let storage = activations.dtype
        // Values that keep f32: outputs, and parameter gradients with the sums feeding them.
        var keep = Array(repeating: false, count: graph.values.count)
        for id in graph.outputs { keep[id.raw] = true }
        for p in graph.parameters { if let g = graph.records.gradient(of: p) { keep[g.raw] = true } }
        for index in graph.nodes.indices.reversed() where graph.nodes[index].phase == .backward {
            guard case .sum = graph.records.origin(ofNode: index),
                graph.nodes[index].outputs.contains(where: { keep[$0.raw] })
            else { continue }
            for id in graph.nodes[index].inputs { keep[id.raw] = true }
        }
        for id in graph.inputs where graph[id].type.dtype == .f32 { retype(id, storage) }
        for node in graph.nodes where node.phase != .optimizer {
            for (k, id) in node.outputs.enumerated() where graph[id].type.dtype == .f32 {
                if let j = node.op.aliasedOperand(ofResult: k), j < node.inputs.count {
                    // A view of a qi8 weight is not its storage (it would dequantize): f32, as computed.
                    let root = out[node.inputs[j]].type.dtype
                    retype(id, root == .qi8 ? .f32 : root)
                } else if !keep[id.raw] {
                    retype(id, storage)
                }
            }
        }
        return out
    }
}
