// The kernel dispatch: one exhaustive switch over `Op` (no `default:`), so adding an op makes the
// compiler point here. Each case reads its operands as Op.swift documents them and calls one kernel
// (Kernels+*.swift); outputs are written, never read first.
//
// Scratch space comes from the context's workspace (Kernels+Workspace.swift): the node's need is
// computed from its shapes and checked against it; a context without one gets one for the call.
//
// Views (reshape, flatten) and inference dropout copy their operand unless the output already shares
// its storage. In-place results (optimizer updates, svd_projector) may share storage with the operand
// they overwrite; native_batch_norm updates the running statistics in its operands 3 and 4.
import GraphIR

/// What a kernel needs beyond its operands: the optimizer step, the seed of random streams and the
/// scratch space.
public struct KernelContext: Sendable, Hashable {
    /// The 1-based training step (Adam's bias correction, GaLore's projector refresh, dropout streams).
    public var step: Int
    /// Seed of dropout's random streams; with the step and the node's first result it keys each mask.
    public var seed: UInt64
    /// Scratch space for every call, at least `Kernels.workspaceBytes` of the node; nil: `run`
    /// allocates the node's need for the call.
    public var workspace: Workspace?

    public init(step: Int = 1, seed: UInt64 = 0, workspace: Workspace? = nil) {
        self.step = step
        self.seed = seed
        self.workspace = workspace
    }

    /// The random stream of `node` at this step.
    func streamKey(_ node: Node) -> UInt64 {
        var z = seed &+ UInt64(truncatingIfNeeded: step) &* 0xD1B5_4A32_D192_ED03
        z &+= UInt64(truncatingIfNeeded: node.outputs.first?.raw ?? 0) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 31)) &* 0xBF58_476D_1CE4_E5B9
        return z ^ (z >> 29)
    }
}

/// The CPU kernels: plain functions over `TensorView`s, and `run`, which picks one per node.
public enum Kernels {
    /// Runs `node` on `inputs` (one view per operand) into `outputs` (one per result), shaped as the
    /// graph types them.
    public static func run(
        _ node: Node, inputs x: [TensorView], outputs y: [TensorView],
        context: KernelContext = KernelContext()
    ) {
        precondition(
            node.op.arity.contains(x.count) && y.count == node.op.outputCount,
            "\(node.op.name) '\(node.name)': \(x.count) operands and \(y.count) results")
        let need = workspaceBytes(node.op, operands: x.map(\.shape), results: y.map(\.shape))
        if let workspace = context.workspace {
            precondition(
                workspace.byteCount >= need,
                "\(node.op.name) '\(node.name)': workspace of \(workspace.byteCount) bytes, \(need) needed")
            dispatch(node, x, y, context, workspace)
        } else {
            let base = UnsafeMutableRawPointer.allocate(byteCount: max(need, 1), alignment: Workspace.alignment)
            defer { base.deallocate() }
            dispatch(node, x, y, context, Workspace(base, byteCount: need))
        }
    }

    private static func dispatch(
        _ node: Node, _ x: [TensorView], _ y: [TensorView], _ context: KernelContext,
        _ scratch: Workspace
    ) {
        switch node.op {
        case let .conv2d(a):
            conv2d(x: x[0], weight: x[1], bias: x.count > 2 ? x[2] : nil, y: y[0], a, scratch: scratch)
        case let .batchNorm(a):
            if a.training {
                // Batch statistics, running ones updated: the training forward without its saved outputs.
                let c = Shape([x[0].shape[1]])
                var carver = ScratchCarver(scratch)
                let mean = TensorView(carver.take(Float.self, c[0]), .f32, c)
                let invstd = TensorView(carver.take(Float.self, c[0]), .f32, c)
                nativeBatchNorm(
                    x: x[0], gamma: x[1], beta: x[2], runningMean: x[3], runningVar: x[4], y: y[0],
                    mean: mean, invstd: invstd, a)
            } else {
                batchNormInference(
                    x: x[0], gamma: x[1], beta: x[2], runningMean: x[3], runningVar: x[4], y: y[0],
                    eps: a.eps)
            }
        case .relu: activation(.relu, x: x[0], y: y[0])
        case .relu6: activation(.relu6, x: x[0], y: y[0])
        case .hardswish: activation(.hardswish, x: x[0], y: y[0])
        case .hardsigmoid: activation(.hardsigmoid, x: x[0], y: y[0])
        case .silu: activation(.silu, x: x[0], y: y[0])
        case .sigmoid: activation(.sigmoid, x: x[0], y: y[0])
        case .add: add(a: x[0], b: x[1], out: y[0])
        case .mul: mul(a: x[0], b: x[1], out: y[0])
        case .div: div(a: x[0], b: x[1], out: y[0])
        case let .scale(factor): scale(x: x[0], y: y[0], factor: factor)
        case let .maxPool2d(a): maxPool2d(x: x[0], y: y[0], indices: nil, a)
        case let .maxPool2dWithIndices(a): maxPool2d(x: x[0], y: y[0], indices: y[1], a)
        case let .avgPool2d(a): avgPool2d(x: x[0], y: y[0], a)
        case .adaptiveAvgPool2d: adaptiveAvgPool2d(x: x[0], y: y[0])
        case .flatten, .reshape: copy(x[0], to: y[0])
        case let .concat(axis): concat(x, y: y[0], axis: axis)
        case let .slice(axis, start, _): slice(x: x[0], y: y[0], axis: axis, start: start)
        case .linear: linear(x: x[0], weight: x[1], bias: x.count > 2 ? x[2] : nil, y: y[0])
        case .dropout: copy(x[0], to: y[0])
        case let .nativeDropout(p):
            nativeDropout(x: x[0], y: y[0], mask: y[1], p: p, key: context.streamKey(node))
        case .softmaxCrossEntropy: softmaxCrossEntropy(logits: x[0], labels: x[1], loss: y[0])
        case let .nativeBatchNorm(a):
            nativeBatchNorm(
                x: x[0], gamma: x[1], beta: x[2], runningMean: x[3], runningVar: x[4], y: y[0],
                mean: y[1], invstd: y[2], a)
        case .channelNorm: channelNorm(w: x[0], norm: y[0])
        case let .matmul(ta, tb): matmul(a: x[0], b: x[1], c: y[0], transposeA: ta, transposeB: tb)

        case let .conv2dGradInput(a, _): conv2dGradInput(dy: x[0], weight: x[1], dx: y[0], a, scratch: scratch)
        case let .conv2dGradWeight(a, _): conv2dGradWeight(dy: x[0], x: x[1], dw: y[0], a, scratch: scratch)
        case .biasGrad: biasGrad(dy: x[0], db: y[0])
        case let .batchNormGrad(a):
            batchNormGrad(
                dy: x[0], x: x[1], gamma: x[2], runningMean: x[3], runningVar: x[4], mean: x[5],
                invstd: x[6], dx: y[0], dgamma: y[1], dbeta: y[2], a)
        case let .activationGrad(act): activationGrad(act, dy: x[0], saved: x[1], dx: y[0])
        case let .activationMask(a): activationMask(a, saved: x[0], mask: y[0])
        case .reluMaskGrad: reluMaskGrad(dy: x[0], mask: x[1], dx: y[0])
        case let .batchNormFrozenGrad(a):
            batchNormFrozenGrad(
                dy: x[0], gamma: x[1], runningMean: x[2], runningVar: x[3], x: x.count > 4 ? x[4] : nil, dx: y[0],
                dgamma: y[1], dbeta: y[2], a)
        case .maxPool2dGrad: maxPool2dGrad(dy: x[0], indices: x[2], dx: y[0])
        case let .avgPool2dGrad(a): avgPool2dGrad(dy: x[0], dx: y[0], a)
        case .adaptiveAvgPool2dGrad: adaptiveAvgPool2dGrad(dy: x[0], dx: y[0])
        case .linearGradInput: linearGradInput(dy: x[0], weight: x[1], dx: y[0])
        case .linearGradWeight: linearGradWeight(dy: x[0], x: x[1], dw: y[0])
        case let .dropoutGrad(p): dropoutGrad(dy: x[0], mask: x[1], dx: y[0], p: p)
        case .softmaxCrossEntropyGrad: softmaxCrossEntropyGrad(logits: x[0], labels: x[1], dlogits: y[0])
        case .sumTo: sumTo(x: x[0], out: y[0], scratch: scratch)

        case let .sgdUpdate(a): sgdUpdate(p: x[0], g: x[1], out: y[0], a)
        case let .momentumUpdate(a):
            momentumUpdate(p: x[0], g: x[1], buffer: x[2], out: y[0], bufferOut: y[1], a)
        case let .adamUpdate(a):
            adamUpdate(p: x[0], g: x[1], m: x[2], v: x[3], out: y[0], mOut: y[1], vOut: y[2], a, step: context.step)
        case let .adamDirection(a):
            adamDirection(g: x[0], m: x[1], v: x[2], direction: y[0], mOut: y[1], vOut: y[2], a, step: context.step)
        case let .applyUpdate(a): applyUpdate(p: x[0], u: x[1], out: y[0], a)
        case let .svdProjector(a):
            svdProjector(g: x[0], stored: x[1], out: y[0], a, step: context.step, scratch: scratch)
        }
    }
}
