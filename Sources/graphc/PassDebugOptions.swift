import ArgumentParser
import Foundation
import GraphIR
import Passes

/// `--print-ir-after PASS`: shared by every command that compiles a training step.
struct PassDebugOptions: ParsableArguments {
    @Option(name: .customLong("print-ir-after"), parsing: .singleValue,
            help: ArgumentHelp("Print the IR to stderr after PASS (freeze, lora, dora, autodiff, optimizer, dce, "
                               + "or all); repeatable.", valueName: "PASS"))
    var printIRAfter: [String] = []

    func validate() throws {
        for pass in printIRAfter where pass != "all" && !TrainingCompiler.passNames.contains(pass) {
            throw ValidationError("--print-ir-after: no pass named '\(pass)'; passes: "
                                  + TrainingCompiler.passNames.joined(separator: ", ") + ", all")
        }
    }

    func observe(_ pass: String, _ graph: Graph) {
        guard printIRAfter.contains(pass) || printIRAfter.contains("all") else { return }
        printError("// IR after \(pass)\n" + IRPrinter.print(graph))
    }
}
