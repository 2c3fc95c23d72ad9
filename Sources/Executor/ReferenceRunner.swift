// The unplanned reference run: walks a graph's nodes in schedule order, every value in its own
// allocation, through `Kernels.run`. It is what a planned (arena) run is checked against
// (`--check-plan`), and what the tests compare with PyTorch.
//
// State: every parameter (learnable, buffer, optimizer state) lives in a `HostTensor` owned by the
// runner across steps, zero-initialised until set (zero momentum and Adam moments are PyTorch's initial
// state). Results that overwrite an operand at run time (GraphIR's `Op.storage(ofResult:)` says `.inPlace`: optimizer updates,
// the GaLore projector) are bound to that operand's storage, so a step leaves the updated parameters
// and state in place, as the training graph's contract says; native_batch_norm updates the running
// statistics in place. Views (reshape, flatten) get their own copy. All values of a run are kept, so a
// caller can read any activation or gradient. Kernel scratch is one buffer of the largest node need
// (`Kernels.workspaceBytes`), allocated at init and passed to every call.
import GraphIR

/// Runs a graph node by node with one allocation per value; keeps the parameters across steps.
public struct ReferenceRunner {
    public let graph: Graph
    /// Parameter storage by `ValueID.raw` (nil for values that are not parameters).
    private var state: [HostTensor?]
    /// The next step's 1-based number; `run` advances it.
    public var step = 1
    /// Seed of dropout streams.
    public var seed: UInt64
    /// The workspace size: the largest scratch need of any node.
    public let workspaceBytes: Int
    private let workspace: WorkspaceBuffer

    /// Why a run cannot start: inputs of the wrong number, dtype or shape, or an unknown parameter.
    public struct InputError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public init(_ graph: Graph, seed: UInt64 = 0) {
        self.graph = graph
        self.seed = seed
        state = Array(repeating: nil, count: graph.values.count)
        for p in graph.parameters { state[p.raw] = HostTensor(graph[p].type) }
        workspaceBytes = graph.nodes.map { Kernels.workspaceBytes($0, in: graph) }.max() ?? 0
        workspace = WorkspaceBuffer(byteCount: workspaceBytes)
    }

    /// The storage of parameter `id`.
    func parameter(_ id: ValueID) -> HostTensor? { state[id.raw] }

    /// The storage of the parameter named `name` (weights, buffers, optimizer state), if any.
    public func parameter(named name: String) -> HostTensor? {
        graph.parameters.first { graph[$0].name == name }.flatMap { state[$0.raw] }
    }

    /// Overwrites the parameter named `name` with `values`.
    public func setParameter(_ name: String, _ values: [Float]) throws(InputError) {
        guard let t = parameter(named: name) else { throw InputError(description: "no parameter '\(name)'") }
        guard t.view.count == values.count, t.view.dtype == .f32 else {
            throw InputError(
                description: "parameter '\(name)' \(graph.values.first { $0.name == name }?.type.description ?? "") "
                    + "cannot take \(values.count) values")
        }
        t.set(values)
    }

    /// One run of the graph on `inputs` (in `graph.inputs` order). Advances `step`.
    public mutating func run(_ inputs: [HostTensor]) throws(InputError) -> ReferenceRun {
        if let refusal = ExecutorPrecision.refusal(graph) { throw InputError(description: refusal) }
        guard inputs.count == graph.inputs.count else {
            throw InputError(description: "'\(graph.name)' takes \(graph.inputs.count) inputs, got \(inputs.count)")
        }
        var values = state
        for (id, t) in zip(graph.inputs, inputs) {
            let type = graph[id].type
            guard t.view.dtype == type.dtype, t.view.shape == type.shape else {
                throw InputError(
                    description: "input '\(graph[id].name)' must be \(type), got "
                        + "\(t.view.dtype.rawValue)\(t.view.shape)")
            }
            values[id.raw] = t
        }
        let context = KernelContext(step: step, seed: seed, workspace: workspace.workspace)
        var operands: [TensorView] = [], results: [TensorView] = []
        for node in graph.nodes {
            operands.removeAll(keepingCapacity: true)
            results.removeAll(keepingCapacity: true)
            for id in node.inputs {
                guard let t = values[id.raw] else {
                    preconditionFailure("'\(node.name)' reads \(id) before it is defined (unverified graph)")
                }
                operands.append(t.view)
            }
            for (i, id) in node.outputs.enumerated() {
                let t: HostTensor
                if case let .inPlace(k) = node.op.storage(ofResult: i), let target = values[node.inputs[k].raw] {
                    t = target
                } else {
                    t = HostTensor(graph[id].type)
                }
                values[id.raw] = t
                results.append(t.view)
            }
            Kernels.run(node, inputs: operands, outputs: results, context: context)
        }
        step += 1
        return ReferenceRun(graph: graph, values: values)
    }
}

/// The values of one reference run, by value id or name.
public struct ReferenceRun {
    public let graph: Graph
    public let values: [HostTensor?]

    public subscript(id: ValueID) -> HostTensor? { values[id.raw] }

    /// The value named `name` (a node's result, an input or a parameter).
    public subscript(name: String) -> HostTensor? {
        graph.values.firstIndex { $0.name == name }.flatMap { values[$0] }
    }

    /// The graph outputs, in order.
    public var outputs: [HostTensor] { graph.outputs.compactMap { values[$0.raw] } }
}

/// A heap workspace owned by a runner.
final class WorkspaceBuffer: @unchecked Sendable {
    let workspace: Workspace

    init(byteCount: Int) {
        workspace = Workspace(
            UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: Workspace.alignment),
            byteCount: byteCount)
    }

    deinit { workspace.base.deallocate() }
}
