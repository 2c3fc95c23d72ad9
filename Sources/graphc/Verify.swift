import ArgumentParser
import Frontend
import GraphIR

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check model descriptions and IR files; print every diagnostic.",
        discussion: """
            A .model file is compiled with its default parameters (every layer shape-checked); a .gir file \
            is parsed and verified (types, topological order, unique names). Each diagnostic names the \
            file, line and column, the offending text and the layer. Exit status 1 when any is an error.

            Examples:
              graphc verify examples/models/small_resnet.model
              graphc verify my_net.model other.gir
            """
    )

    @Argument(help: "Files to check (.model, .gir or .onnx), or zoo model names.")
    var files: [String]

    func run() throws {
        var failed = false
        for file in files {
            do {
                let source = try ModelSource.resolve(file)
                let graph = try source.graph(ModelOverrides())
                let diagnostics = Verifier.verify(graph)
                for d in diagnostics { printError("\(source.file): \(d)") }
                if diagnostics.contains(where: { $0.severity == .error }) {
                    failed = true
                } else {
                    printOut(
                        "\(source.file): ok (\(graph.nodes.count) nodes, \(NumberFormat.grouped(graph.parameterCount)) parameters"
                            + (diagnostics.isEmpty ? ")" : ", \(diagnostics.count) warnings)"))
                }
            } catch let error as DiagnosticError {
                printError(error.description)
                failed = true
            } catch {
                printError("graphc: error: \(error)")
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}
