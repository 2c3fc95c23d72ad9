import ArgumentParser
import Foundation
import GraphIR
import Passes

/// `--print-ir-after PASS`: shared by every command that runs passes. The accepted names are the
/// registry's (`PassRegistry`).
struct PassDebugOptions: ParsableArguments {
    @Option(name: .customLong("print-ir-after"), parsing: .singleValue,
            help: ArgumentHelp("Print the IR to stderr after PASS (" + PassRegistry.names.joined(separator: ", ")
                               + ", or all); repeatable.", valueName: "PASS"))
    var printIRAfter: [String] = []

    func validate() throws {
        for pass in printIRAfter where pass != "all" && PassRegistry.pass(named: pass) == nil {
            throw ValidationError("--print-ir-after: no pass named '\(pass)'; passes: "
                                  + PassRegistry.names.joined(separator: ", ") + ", all")
        }
    }

    func observe(_ pass: String, _ graph: Graph) {
        guard printIRAfter.contains(pass) || printIRAfter.contains("all") else { return }
        printError("// IR after \(pass)\n" + IRPrinter.print(graph))
    }
}

/// A compiled training step and what it was compiled from.
struct TrainingSession {
    var forward: Graph
    var training: Graph
    var config: TrainingConfig
    /// The adapter plan, for LoRA and DoRA.
    var adapters: AdapterPlan?

    static func compile(_ forward: Graph, config: TrainingConfig, debug: PassDebugOptions? = nil) throws
        -> TrainingSession
    {
        var adapters: AdapterPlan?
        switch config.method {
        case .lora: adapters = try LoRA.plan(forward, config: config)
        case .dora: adapters = try DoRA.plan(forward, config: config)
        case .fft, .bnh, .head, .galore: break
        }
        let training = try TrainingCompiler.compile(forward, config: config) { pass, graph in
            debug?.observe(pass, graph)
        }
        return TrainingSession(forward: forward, training: training, config: config, adapters: adapters)
    }

    /// `lora r8`, `fft`, `galore r4`.
    static func label(_ config: TrainingConfig) -> String {
        switch config.method {
        case .lora, .dora, .galore: "\(config.method.rawValue) r\(config.rank)"
        case .fft, .bnh, .head: config.method.rawValue
        }
    }
}
