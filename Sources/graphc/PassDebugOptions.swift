import ArgumentParser
import Foundation
import GraphIR
import Passes

/// `--print-ir-after PASS`: shared by every command that runs passes. The accepted names are the
/// registry's (`PassRegistry`).
struct PassDebugOptions: ParsableArguments {
    @Option(
        name: .customLong("print-ir-after"), parsing: .singleValue,
        help: ArgumentHelp(
            "Print the IR to stderr after PASS (" + PassRegistry.names.joined(separator: ", ")
                + ", or all); repeatable.", valueName: "PASS"))
    var printIRAfter: [String] = []

    func validate() throws {
        for pass in printIRAfter where pass != "all" && PassRegistry.pass(named: pass) == nil {
            throw ValidationError(
                "--print-ir-after: no pass named '\(pass)'; passes: "
                    + PassRegistry.names.joined(separator: ", ") + ", all")
        }
    }

    func observe(_ pass: String, _ graph: Graph) {
        guard printIRAfter.contains(pass) || printIRAfter.contains("all") else { return }
        printError("// IR after \(pass)\n" + IRPrinter.print(graph))
    }
}
