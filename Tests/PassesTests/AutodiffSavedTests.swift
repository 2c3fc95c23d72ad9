// Saved activations against PyTorch autograd (Fixtures/saved_activations.json): the bytes of the
// distinct non-parameter values backward nodes read, for resnet18 and mobilenet_v2 at 3x224x224 with
// 1000 classes. The fixture backpropagates `out.sum()`, so the loss gradient's reads (the logits and
// the labels) are set aside; PyTorch's cross entropy would save a same-sized log_softmax instead.
import Foundation
import GraphIR
import Passes
import Testing

@Suite struct AutodiffSavedTests {
    struct Case: Sendable, CustomStringConvertible {
        var model: String, method: FineTuningMethod, batch: Int, key: String
        var description: String { "\(model) \(key)" }
    }

    static let cases: [Case] = ["resnet18", "mobilenet_v2"].flatMap { model in
        [
            Case(model: model, method: .fft, batch: 1, key: "saved_act_bytes_full_bs1"),
            Case(model: model, method: .fft, batch: 8, key: "saved_act_bytes_full_bs8"),
            Case(model: model, method: .head, batch: 8, key: "saved_act_bytes_headonly_bs8"),
        ]
    }

    static func expected(_ c: Case) throws -> Int {
        let json = try Training.fixture("saved_activations") as? [String: Any]
        let models = json?["models"] as? [String: [String: Int]]
        return try #require(models?[c.model]?[c.key])
    }

    /// Bytes our graph saves, without the loss gradient's reads.
    static func measured(_ c: Case) throws -> (graph: Graph, bytes: Int) {
        let g = try Training.graph(Training.forward(c.model, classes: 1000, batch: c.batch), Training.config(c.method))
        let loss = try #require(g.nodes.first { $0.op == .softmaxCrossEntropyGrad })
        let saved = Set(Autodiff.savedValues(g))
        #expect(saved.isSuperset(of: loss.inputs))
        return (g, Training.bytes(g, Array(saved.subtracting(loss.inputs))))
    }

    @Test(arguments: cases)
    func savedBytesMatchPyTorch(_ c: Case) throws {
        let expected = try Self.expected(c)
        let (g, bytes) = try Self.measured(c)
        #expect(abs(Double(bytes - expected)) <= 0.02 * Double(expected), "\(c): \(bytes) vs \(expected)")
        // Exactly, once two documented differences of PyTorch 1.13 on CPU are put back (mobilenet_v2 FFT):
        // - adaptive_avg_pool2d to 1x1 runs as `mean`, which saves no tensor; our adaptive_avg_pool2d_grad
        //   reads its input (for the shape), which mobilenet_v2's last relu6 output is saved for only;
        // - CPU dropout multiplies by an f32 noise tensor and saves it; native_dropout's mask is bool.
        var correction = 0
        if c.model == "mobilenet_v2" && c.method == .fft {
            let pool = try #require(g.nodes.first { $0.op == .adaptiveAvgPool2dGrad })
            correction -= g[pool.inputs[1]].type.byteCount
            let dropout = try #require(g.nodes.first { $0.op == .dropoutGrad(p: 0.2) })
            correction += g[dropout.inputs[1]].type.elementCount * 3
        }
        #expect(bytes + correction == expected, "\(c): \(bytes) + \(correction) vs \(expected)")
    }

    /// The hand derivation for resnet18 FFT at batch 1: conv inputs, BN inputs with both statistics pairs,
    /// relu outputs, max pool input and indices, the pooled input, the linear input.
    @Test func resnet18ByKind() throws {
        let c = Self.cases[0]
        let (g, bytes) = try Self.measured(c)
        var byKind: [String: Int] = [:]
        for id in Autodiff.savedValues(g) {
            let kind: String
            switch g[id].kind {
            case .input: kind = g[id].name
            case .parameter: kind = "bn running stats"
            case let .result(n, k): kind = "\(g.nodes[n].op.name).\(k)"
            }
            byKind[kind, default: 0] += g[id].type.byteCount
        }
        #expect(byKind["input"] == 3 * 224 * 224 * 4)
        #expect(byKind["max_pool2d_with_indices.1"] == 64 * 56 * 56 * 8)
        #expect(byKind["bn running stats"] == byKind["native_batch_norm.1"].map { $0 * 2 })
        #expect(byKind["add.0"] == nil)
        #expect(bytes == 22_256_640)
    }
}
