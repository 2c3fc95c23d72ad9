import ArgumentParser
import Frontend
import GraphIR
import Passes

struct ZooCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zoo",
        abstract: "List the built-in models with their parameters and MACs at their default input.",
        discussion: """
            The zoo's description files live in examples/models; graphc carries them inside the binary.

            Examples:
              graphc zoo
              graphc zoo --show resnet18 > my_resnet.model
            """
    )

    @Option(help: "Print the description source of a zoo model.")
    var show: String?

    @Option(help: "Output format: table, json or csv.")
    var format: OutputFormat = .table

    func run() throws {
        try reportingErrors {
            if let show {
                guard let text = Zoo.source(named: show) else {
                    throw CLIError("no zoo model named '\(show)'; the zoo has: " + Zoo.names.joined(separator: ", "))
                }
                printOut(text, terminator: text.hasSuffix("\n") ? "" : "\n")
                return
            }
            var rows: [(name: String, input: [Int], classes: Int?, params: Int, macs: Int)] = []
            for name in Zoo.names {
                let graph = try Zoo.compile(name).graph
                let sig = ModelSignature(graph)
                rows.append((name, sig.input, sig.classes, graph.parameterCount, graph.macs))
            }
            switch format {
            case .table:
                var table = TextTable(
                    headers: ["Model", "Input", "Classes", "Params", "MACs"], rightAligned: [2, 3, 4])
                table.rows = rows.map {
                    [
                        $0.name, Shape.compact($0.input), $0.classes.map(String.init) ?? "-",
                        NumberFormat.grouped($0.params), NumberFormat.grouped($0.macs),
                    ]
                }
                printOut(table.render(), terminator: "")
            case .json:
                printOut(
                    JSON.array(
                        rows.map {
                            .object([
                                ("model", .string($0.name)), ("input", .array($0.input.map(JSON.int))),
                                ("classes", $0.classes.map(JSON.int) ?? .null), ("params", .int($0.params)),
                                ("macs", .int($0.macs)),
                            ])
                        }
                    ).rendered())
            case .csv:
                printOut(
                    csv(
                        [["model", "input", "classes", "params", "macs"]]
                            + rows.map {
                                [
                                    $0.name, Shape.compact($0.input), $0.classes.map(String.init) ?? "",
                                    String($0.params), String($0.macs),
                                ]
                            }), terminator: "")
            }
        }
    }
}
