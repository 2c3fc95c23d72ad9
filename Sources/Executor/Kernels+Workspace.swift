// Kernel scratch space: what a kernel needs beyond its operands and results for the length of one
// call, as a pure function of the op and its shapes (`Kernels.workspaceBytes`, one exhaustive switch
// over Op), and the one buffer the kernels take it from (`Workspace`, in `KernelContext`).
//
// A runner computes every node's need once, allocates one workspace of the largest, and passes it to
// every call: the kernels carve their buffers out of it (`ScratchCarver`) instead of allocating. A
// context without a workspace gets one of the node's size for that call only (one-off calls, tests).
//
// Needs (f32 unless noted; every buffer rounded up to `Workspace.alignment` bytes):
// - conv2d, conv2d_grad_input, conv2d_grad_weight on the GEMM path with a kernel that is not 1x1/stride
//   1/no padding: one image-group's column matrix, Cg·kh·kw × OH·OW (im2col's output, col2im's input),
//   per lane (`convLanes`: the batch split over the cores when the conv is big enough); the weight
//   gradient also C_out·Cg·kh·kw partial sums per chunk of the batch but the first
//   (`convGradWeightChunks`, pointwise too), per chunk when it runs transposed (fewer than 64 output
//   channels per group, `convGradWeightTransposed`).
//   A stride-1 ungrouped conv's input gradient, computed as a conv of dy, needs the flipped weight
//   (C·C_out·kh·kw) and dy's column matrix per lane, C_out·kh·kw × H·W, instead.
//   Depthwise convs need nothing.
// - batch_norm in training mode (without its saved outputs): the batch mean and inverse std, C each.
// - sum_to to a smaller shape: one f64 accumulator per output element.
// - svd_projector: G in column-major order (m·n), the singular values (k = min(m, n)), U (m·k), Vᵀ
//   (k·n), LAPACK's integer workspace (8k, i32) and its float workspace, whose size is LAPACK's own
//   answer to a workspace query for (m, n) (sgesdd_ with lwork = −1: deterministic in m and n), so the
//   kernel and the plan agree on it and the blocked algorithm runs as it would with its own buffer.
// - Everything else: 0. (What is left per call is O(rank) or O(kernel width) index arrays: broadcast
//   strides, a depthwise kernel's valid-column ranges and per-tap accumulators, under 100 bytes.)
import COpenBLAS
import GraphIR

/// Scratch memory for one kernel call: contents undefined on entry and dead on return.
public struct Workspace: @unchecked Sendable, Hashable {
    /// Every buffer carved out of a workspace starts at a multiple of this (from an aligned base).
    public static let alignment = 64

    public let base: UnsafeMutableRawPointer
    public let byteCount: Int

    /// `byteCount` bytes at `base`, which must be `alignment`-aligned.
    public init(_ base: UnsafeMutableRawPointer, byteCount: Int) {
        precondition(Int(bitPattern: base) % Self.alignment == 0, "Workspace: base not \(Self.alignment)-byte aligned")
        self.base = base
        self.byteCount = byteCount
    }

    /// `bytes` rounded up to `alignment`.
    static func rounded(_ bytes: Int) -> Int { (bytes + alignment - 1) / alignment * alignment }
}

/// Hands out consecutive aligned buffers of a workspace; traps if the workspace is too small.
struct ScratchCarver {
    let workspace: Workspace
    private(set) var used = 0

    init(_ workspace: Workspace) { self.workspace = workspace }

    mutating func take<T>(_: T.Type, _ count: Int) -> UnsafeMutablePointer<T> {
        let bytes = Workspace.rounded(count * MemoryLayout<T>.stride)
        precondition(
            used + bytes <= workspace.byteCount,
            "workspace of \(workspace.byteCount) bytes too small: \(used + bytes) needed")
        defer { used += bytes }
        return (workspace.base + used).bindMemory(to: T.self, capacity: count)
    }
}

/// Sums buffer sizes the way `ScratchCarver` lays them out.
struct ScratchLayout {
    private(set) var bytes = 0
    mutating func add<T>(_: T.Type, _ count: Int) { bytes += Workspace.rounded(count * MemoryLayout<T>.stride) }
}

extension Kernels {
    /// The scratch bytes a node of `op` needs, from its operand and result shapes (as the graph types
    /// them). A pure function: the same op and shapes always need the same bytes.
    public static func workspaceBytes(_ op: Op, operands x: [Shape], results y: [Shape]) -> Int {
        switch op {
        case let .conv2d(a):
            return convColumnBytes(ConvGeometry(x: x[0], weight: x[1], y: y[0], a))
        case let .conv2dGradInput(a, _):
            let g = ConvGeometry(x: y[0], weight: x[1], y: x[0], a)
            if g.isDepthwise { return 0 }
            if let t = g.transposedForGradInput {
                return Workspace.rounded(g.c * t.k * MemoryLayout<Float>.stride)
                    + Workspace.rounded(convLanes(g) * t.k * t.outPlane * MemoryLayout<Float>.stride)
            }
            return convColumnBytes(g)
        case let .conv2dGradWeight(a, _):
            let g = ConvGeometry(x: x[1], weight: y[0], y: x[0], a)
            if g.isDepthwise { return 0 }
            return convColumnBytes(g)
                + Workspace.rounded(convGradWeightPartials(g) * g.co * g.k * MemoryLayout<Float>.stride)
        case let .batchNorm(a):
            return a.training ? batchNormScratch(channels: x[0][1]).bytes : 0
        case .sumTo:
            return x[0] == y[0] ? 0 : sumToScratch(y[0].reduce(1, *)).bytes
        case .svdProjector:
            return svdScratch(m: x[0][0], n: x[0][1]).bytes
        case .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul, .maxPool2d, .avgPool2d,
            .adaptiveAvgPool2d, .flatten, .linear, .dropout, .softmaxCrossEntropy, .nativeBatchNorm,
            .maxPool2dWithIndices, .nativeDropout, .scale, .div, .channelNorm, .matmul, .reshape, .biasGrad,
            .batchNormGrad, .activationGrad, .maxPool2dGrad, .avgPool2dGrad, .adaptiveAvgPool2dGrad,
            .linearGradInput, .linearGradWeight, .dropoutGrad, .softmaxCrossEntropyGrad, .sgdUpdate,
            .momentumUpdate, .adamUpdate, .adamDirection, .applyUpdate, .activationMask, .reluMaskGrad,
            .batchNormFrozenGrad, .concat, .slice:
            return 0
        }
    }

    /// The scratch bytes of `node` in `graph`.
    public static func workspaceBytes(_ node: Node, in graph: Graph) -> Int {
        workspaceBytes(
            node.op, operands: node.inputs.map { graph[$0].type.shape },
            results: node.outputs.map { graph[$0].type.shape })
    }

    /// One image-group's column matrix per lane on the GEMM path; 0 on the depthwise and pointwise paths.
    static func convColumnBytes(_ g: ConvGeometry) -> Int {
        g.isDepthwise || g.isPointwise
            ? 0 : Workspace.rounded(convLanes(g) * g.k * g.outPlane * MemoryLayout<Float>.stride)
    }

    static func batchNormScratch(channels c: Int) -> ScratchLayout {
        var layout = ScratchLayout()
        layout.add(Float.self, c)
        layout.add(Float.self, c)
        return layout
    }

    static func sumToScratch(_ outCount: Int) -> ScratchLayout {
        var layout = ScratchLayout()
        layout.add(Double.self, outCount)
        return layout
    }

    /// LAPACK's float workspace for the thin SVD (jobz "S") of an m×n matrix, by its workspace query.
    static func sgesddWorkCount(m: Int, n: Int) -> Int {
        let k = min(m, n)
        guard k > 0 else { return 1 }
        var jobz = CChar(UInt8(ascii: "S"))
        var mm = Int32(m), nn = Int32(n), lda = Int32(m), ldu = Int32(m), ldvt = Int32(k)
        var info: Int32 = 0, query: Float = 0, lwork: Int32 = -1, idummy: Int32 = 0
        var a: Float = 0, s: Float = 0, u: Float = 0, vt: Float = 0
        sgesdd_(&jobz, &mm, &nn, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &query, &lwork, &idummy, &info)
        precondition(info == 0, "sgesdd_ workspace query failed (info \(info))")
        return max(Int(query), 1)
    }

    /// The buffers of `svdProjector` for an m×n gradient, in the order the kernel carves them.
    static func svdScratch(m: Int, n: Int) -> ScratchLayout {
        let k = min(m, n)
        var layout = ScratchLayout()
        layout.add(Float.self, m * n)
        layout.add(Float.self, k)
        layout.add(Float.self, m * k)
        layout.add(Float.self, k * n)
        layout.add(Int32.self, 8 * k)
        layout.add(Float.self, sgesddWorkCount(m: m, n: n))
        return layout
    }
}
