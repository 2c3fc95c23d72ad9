import ArgumentParser
import GraphIR

struct PrintIR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ir",
        abstract: "Print a model's canonical textual IR (the .gir format).",
        discussion: """
            The text round-trips: parsing it and printing again gives the same text, and every \
            graphc command accepts a .gir file where it takes a MODEL.

            Examples:
              graphc ir small_resnet
              graphc ir resnet18 --classes 10 -o resnet18.gir && graphc inspect resnet18.gir
            """
    )

    @OptionGroup var model: ModelOptions

    @Option(name: .shortAndLong, help: "Write to FILE instead of stdout.")
    var output: String?

    func run() throws {
        try reportingErrors {
            try OutputSet.write(IRPrinter.print(try model.load()), to: output, inputs: model.inputFiles)
        }
    }
}
