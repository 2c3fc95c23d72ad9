import ArgumentParser
import GraphIR
import Passes

/// `graphc opt`: runs registered passes over a model's IR and prints the result as .gir, as mlir-opt
/// does. The pass list is the registry's to parse (`PassRegistry.pipeline`); the passes read the
/// training options.
struct Opt: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run passes over a model's IR and print the resulting textual IR (.gir), like mlir-opt.",
        discussion: """
            MODEL is loaded as every command loads it (zoo name, .model or .gir file). The passes of \
            --passes run in the order given, each verified after it runs; a failing pass is named. With no \
            --passes the model's canonical IR is printed. The pass options are the training options: each \
            pass reads those listed below. --method defaults to the method a pass implies (lora, dora), \
            else fft.

            \(passListing())

            Examples:
              graphc opt small_resnet --passes freeze,lora,autodiff,optimizer,dce --rank 4
              graphc ir resnet18 --classes 10 -o resnet18.gir
              graphc opt resnet18.gir --passes freeze,dora --rank 8 --head frozen -o adapted.gir
              graphc opt adapted.gir --passes merge-adapters
              graphc opt small_mobilenet --passes freeze,autodiff,optimizer --method galore --rank 4
              graphc opt --list-passes
            """
    )

    @Argument(help: ModelOptions.help)
    var model: String?

    @OptionGroup var instance: InstanceOptions

    @Option(help: ArgumentHelp("Passes to run, in order, comma-separated (see --list-passes).", valueName: "LIST"))
    var passes: String = ""

    @Flag(help: "List the passes, what each does and the options it reads, then exit.")
    var listPasses = false

    @OptionGroup(title: "Pass options") var training: TrainingOptions

    @OptionGroup var debug: PassDebugOptions

    @Option(name: .shortAndLong, help: "Write the IR to FILE instead of stdout.")
    var output: String?

    func validate() throws {
        if model == nil && !listPasses { throw ValidationError("Missing expected argument '<model>'") }
    }

    func run() throws {
        if listPasses {
            printOut(Self.passListing())
            return
        }
        try reportingErrors {
            let list: [RegisteredPass]
            do {
                list = try PassRegistry.parse(passes)
            } catch {
                throw CLIError("--passes: \(error)")
            }
            let config = training.config(defaultMethod: PassRegistry.impliedMethod(of: list) ?? .fft)
            let forward = try instance.load(model!)
            let result: Graph
            do {
                result = try PassPipeline(list.map { $0.make(config) }).run(forward) { pass, graph in
                    debug.observe(pass, graph)
                }
            } catch let error as PassError where !error.producedInvalidGraph {
                // The user chose the passes: say which one failed.
                throw CLIError(error.description)
            }
            try OutputSet.write(IRPrinter.print(result), to: output, inputs: ModelSource.files([model!]))
        }
    }

    /// The registry as help text: each pass, the options it reads, when the training pipeline runs it
    /// and its summary; wrapped to 80 columns, as the help around it.
    static func passListing() -> String {
        var lines = ["Passes:"]
        for pass in PassRegistry.passes {
            let options = pass.options.isEmpty ? "none" : pass.options.map { "--" + $0.name }.joined(separator: ", ")
            lines += wrap("\(pass.name): \(pass.summary)", indent: "  ", then: "      ")
            lines += wrap("options: \(options)", indent: "      ", then: "        ")
            lines.append("      in the training pipeline: \(pass.training)")
        }
        return lines.joined(separator: "\n")
    }

    /// Greedy word wrap: the first line indented by `indent`, the others by `then`.
    private static func wrap(_ text: String, indent: String, then: String, width: Int = 80) -> [String] {
        var lines: [String] = []
        var line = indent
        for word in text.split(separator: " ") {
            if line.count > indent.count && line.count + 1 + word.count > width {
                lines.append(line)
                line = then
            }
            line += (line == indent || line == then ? "" : " ") + word
        }
        return lines + [line]
    }
}
