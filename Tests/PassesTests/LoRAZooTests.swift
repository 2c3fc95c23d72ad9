// Every zoo model × {lora, dora} × ranks {1, 8} × head modes: the adapted graph verifies, round-trips
// through the IR text, freezes every adapted base and trains exactly the adapters (plus a trained head).
import Foundation
import GraphIR
import Testing

@testable import Passes

@Suite struct LoRAZooTests {
    static let cases: [(FineTuningMethod, Int)] = [(.lora, 1), (.lora, 8), (.dora, 1), (.dora, 8)]

    @Test(arguments: Adapters.zooNames, cases)
    func adaptVerifyRoundTrip(model: String, method: (FineTuningMethod, Int)) throws {
        let base = try Adapters.zoo(model, input: model.hasPrefix("small_") ? [1, 28, 28] : [3, 224, 224])
        for head in HeadMode.allCases {
            let config = Adapters.config(method.0, rank: method.1, head: head)
            let g = try Adapters.adapt(base, config)
            #expect(Verifier.verify(g).filter { $0.severity == .error }.isEmpty)
            let text = IRPrinter.print(g)
            let parsed = try IRParser.parse(Array(text.utf8), file: "\(model).gir")
            #expect(parsed == g.renumbered(), "\(model) \(config.method) r\(config.rank) head \(head)")
            #expect(IRPrinter.print(parsed) == text)
            // Trainable = adapters, plus the head's own parameters when it is trained.
            let plan =
                try Adapters.pass(config) is DoRA ? DoRA.plan(base, config: config) : LoRA.plan(base, config: config)
            let headParams =
                head == .train
                ? Freeze.headNodes(base).reduce(0) { $0 + base.parameterCount(of: base.nodes[$1]) } : 0
            #expect(g.trainableParameterCount == plan.adapterParameterCount + headParams)
            for layer in plan.adapted {
                #expect(Adapters.param(g, "\(layer.name).weight")?.isTrainable == false)
            }
            #expect(plan.adapted.contains(where: \.isHead) == (head == .lora))
        }
    }
}
