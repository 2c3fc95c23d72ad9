// `Liveness.savedActivationBytes` under `--saving pytorch` against PyTorch autograd by method
// (Fixtures/saved_activations_by_method.json: resnet18 and mobilenet_v2, batch 8, 3x224x224, 1000
// classes, fft / bnh / lora r8 / dora r8 with the head adapted, BN train and eval). The fixture counts
// the batch and labels apart (saved_input_bytes) and DoRA's weight-derived tensors apart; so does graphc.
import Foundation
import GraphIR
import Passes
import Testing

@Suite struct AnalysisSavedActivationTests {
    struct Row: Sendable, CustomStringConvertible {
        var model: String, method: String, bn: String
        var activation: Int, input: Int, weightDerived: Int
        var description: String { "\(model) \(method) bn=\(bn)" }
    }

    static let rows: [Row] = {
        guard let json = try? Training.fixture("saved_activations_by_method") as? [String: Any],
            let configs = json["configs"] as? [[String: Any]]
        else { return [] }
        return configs.compactMap { c in
            guard let model = c["model"] as? String, let method = c["method"] as? String, let bn = c["bn"] as? String,
                let a = c["saved_activation_bytes"] as? Int, let i = c["saved_input_bytes"] as? Int,
                let w = c["saved_weight_derived_bytes"] as? Int
            else { return nil }
            return Row(model: model, method: method, bn: bn, activation: a, input: i, weightDerived: w)
        }
    }()

    static func config(_ row: Row) throws -> TrainingConfig {
        var c: TrainingConfig
        switch row.method {
        case "fft": c = TrainingConfig(method: .fft)
        case "bnh": c = TrainingConfig(method: .bnh)
        case "lora_r8": c = TrainingConfig(method: .lora)
        case "dora_r8": c = TrainingConfig(method: .dora)
        default: throw Training.FixtureMissing(name: "method \(row.method)")
        }
        c.rank = 8
        c.head = row.method.hasSuffix("_r8") ? .lora : .train
        c.bn = row.bn == "eval" ? .frozen : .train
        c.saving = .pytorch
        return c
    }

    @Test func fixtureHasEveryRow() { #expect(Self.rows.count == 16) }

    @Test(arguments: rows)
    func savedBytesMatchPyTorch(_ row: Row) throws {
        let step = try TrainingCompiler.compile(
            Training.forward(row.model, classes: 1000, batch: 8), config: Self.config(row))
        let live = Liveness(step, saving: .pytorch)
        let a = live.savedActivationBytes
        #expect(abs(Double(a - row.activation)) <= 0.005 * Double(row.activation), "\(row): \(a) vs \(row.activation)")
        #expect(live.savedInputBytes == row.input, "\(row)")
        #expect(live.savedWeightDerivedBytes == row.weightDerived, "\(row)")
        // Exact but for DoRA, whose fixture counts one per-output-channel tensor (Σ C_out floats) as an
        // activation that graphc computes from the weights alone.
        if !row.method.hasPrefix("dora") { #expect(a == row.activation, "\(row)") }
        print("saved activations \(row): \(a) (PyTorch \(row.activation))")
    }
}
