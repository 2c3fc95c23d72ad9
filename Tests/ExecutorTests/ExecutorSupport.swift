// Helpers of the executor tests: running one op on host tensors, random operands, central finite
// differences of a double-accumulated loss, and the PyTorch fixture.
import Executor
import Foundation
import GraphIR
import GraphTestSupport
import Testing

enum Exec {
    /// Runs `op` on `inputs` through the dispatch and returns its results (types from shape inference).
    static func apply(_ op: Op, _ inputs: [HostTensor], context: KernelContext = KernelContext()) throws -> [HostTensor]
    {
        let types = try op.inferTypes(inputs.map { TensorType($0.view.dtype, $0.view.shape) })
        let outputs = types.map { HostTensor($0) }
        let node = Node(
            op: op, inputs: (0..<inputs.count).map(ValueID.init),
            outputs: (0..<types.count).map { ValueID(inputs.count + $0) }, name: op.name)
        Kernels.run(node, inputs: inputs.map(\.view), outputs: outputs.map(\.view), context: context)
        return outputs
    }

    static func apply1(_ op: Op, _ inputs: HostTensor..., context: KernelContext = KernelContext()) throws -> HostTensor
    {
        try apply(op, inputs, context: context)[0]
    }

    /// Uniform values in [lo, hi).
    static func random(_ shape: Shape, _ rng: inout SplitMix64, _ lo: Float = -1, _ hi: Float = 1) -> HostTensor {
        let n = shape.reduce(1, *)
        return HostTensor(shape, (0..<n).map { _ in Float.random(in: lo..<hi, using: &rng) })
    }

    /// Σ out·weights in Double: the scalar loss whose gradient with respect to `out` is `weights`.
    static func dot(_ out: HostTensor, _ weights: HostTensor) -> Double {
        zip(out.floats, weights.floats).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// Central differences of `loss` with respect to every element of `x` (or `limit` evenly spread ones),
    /// compared with `analytic`: the largest |fd − analytic| relative to the largest |analytic|.
    static func finiteDifferenceError(
        _ x: HostTensor, _ analytic: HostTensor, h: Float = 1e-2, limit: Int = 96,
        loss: () throws -> Double
    ) rethrows -> Double {
        let n = x.view.count, a = analytic.floats
        let stride = max(1, n / limit)
        var worst = 0.0
        let scale = max(a.map { Double(abs($0)) }.max() ?? 0, 1e-3)
        for i in Swift.stride(from: 0, to: n, by: stride) {
            let saved = x.view.f32[i]
            x.view.f32[i] = saved + h
            let up = try loss()
            x.view.f32[i] = saved - h
            let down = try loss()
            x.view.f32[i] = saved
            let fd = (up - down) / (2 * Double(h))
            worst = max(worst, abs(fd - Double(a[i])) / scale)
        }
        return worst
    }

    /// The largest |a − e| relative to the largest |e| (a per-tensor relative error).
    static func relativeError(_ actual: [Float], _ expected: [Double]) -> Double {
        precondition(actual.count == expected.count, "relativeError: \(actual.count) vs \(expected.count) values")
        let scale = max(expected.map(abs).max() ?? 0, 1e-12)
        return zip(actual, expected).map { abs(Double($0) - $1) }.max().map { $0 / scale } ?? 0
    }
}

/// Tests/ExecutorTests/Fixtures/tiny_convnet_pytorch.json (PyTorch 1.13, see its "conventions").
struct TinyConvnetFixture {
    let root: [String: Any]

    init() throws {
        guard
            let url = Bundle.module.url(
                forResource: "tiny_convnet_pytorch", withExtension: "json",
                subdirectory: "Fixtures")
        else {
            throw FixtureError.missing
        }
        root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    enum FixtureError: Error { case missing, key(String) }

    /// The float32 section, or a nested dictionary of it along `path`.
    func section(_ path: String...) throws -> [String: Any] {
        var d = try #require(root["float32"] as? [String: Any])
        for key in path {
            guard let next = d[key] as? [String: Any] else { throw FixtureError.key(key) }
            d = next
        }
        return d
    }

    /// The data of a tensor entry `{shape, dtype, data}`.
    static func data(_ entry: Any?) throws -> [Double] {
        let d = try #require(entry as? [String: Any])
        return try #require(d["data"] as? [NSNumber]).map(\.doubleValue)
    }

    static func shape(_ entry: Any?) throws -> [Int] {
        let d = try #require(entry as? [String: Any])
        return try #require(d["shape"] as? [Int])
    }
}
