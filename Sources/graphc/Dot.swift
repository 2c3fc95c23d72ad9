import ArgumentParser
import Foundation
import GraphIR
import Passes
import Viz

struct Dot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a model: DOT text, or PNG / SVG rendered in-process by Graphviz.",
        discussion: """
            Nodes are coloured by role (input, conv, depthwise conv, norm, activation, pooling, head), \
            block instances are clusters, edges carry tensor shapes, and parameters fold into their op. \
            The output format follows the extension of -o (.dot, .png, .svg) unless --format says otherwise; \
            without -o, DOT goes to stdout. Large models read best as SVG, or collapsed with --collapse-depth.

            Examples:
              graphc dot small_resnet
              graphc dot resnet18 -o resnet18.png
              graphc dot resnet50 --collapse-depth 0 -o resnet50.png   # one node per block
              graphc dot mobilenet_v2 --unfold-params -o mnv2.dot
              graphc dot resnet18 --training --method lora -o step.svg

            With --training (implied by --method), the whole training step is drawn: forward, backward \
            and optimizer parts apart, adapters highlighted, frozen layers grey, and forward layers that \
            need no gradient (pruned from the backward pass) dashed.
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup(title: "Training step (with --training)") var training: TrainingOptions
    @OptionGroup var debug: PassDebugOptions

    @Flag(name: .customLong("training"), help: "Draw the compiled training step instead of the forward graph.")
    var trainingStep = false

    @Option(name: .shortAndLong, help: "Write to FILE (.dot, .png or .svg).")
    var output: String?

    @Option(help: "dot, png or svg (default: from the extension of -o, else dot).")
    var format: Graphviz.Format?

    @Flag(help: "Draw parameters as nodes of their own instead of folding them into their op.")
    var unfoldParams = false

    @Option(help: "Collapse block instances nested deeper than N into one node each (0: one node per top-level block).")
    var collapseDepth: Int?

    @Flag(help: "Leave tensor shapes off the edges.")
    var noEdgeLabels = false

    func validate() throws {
        if let collapseDepth, collapseDepth < 0 { throw ValidationError("--collapse-depth must be 0 or more") }
    }

    func run() throws {
        try reportingErrors {
            var graph = try model.load()
            var options = DotOptions()
            if trainingStep || training.method != nil {
                graph = try TrainingSession.compile(graph, config: training.config, observe: debug.observe).training
                options.subtitle = training.config.memoryModelLabel
            }
            options.foldParameters = !unfoldParams
            options.collapseDepth = collapseDepth
            options.edgeLabels = !noEdgeLabels
            let dot = DotExport.dot(graph, options: options)
            let chosen =
                try format ?? output.map { path in
                    guard let f = Graphviz.Format(pathExtension: URL(fileURLWithPath: path).pathExtension) else {
                        throw CLIError("cannot tell the format of '\(path)': use .dot, .png or .svg, or --format")
                    }
                    return f
                } ?? .dot
            if chosen != .dot && output == nil {
                throw CLIError("\(chosen.rawValue.uppercased()) output needs a file: add -o FILE.\(chosen.rawValue)")
            }
            let bytes: [UInt8]
            do {
                bytes = chosen == .dot ? Array(dot.utf8) : try Graphviz.render(dot: dot, format: chosen)
            } catch let error as GraphvizError where error.kind == .tooLarge {
                let hint =
                    DotExport.fittingCollapseDepth(graph, options: options).map {
                        "draw it with --collapse-depth \($0), or "
                    } ?? ""
                throw CLIError(
                    "\(error.message). To see it, \(hint)write DOT text (-o FILE.dot) and lay it out "
                        + "with a tool made for huge graphs")
            }
            try OutputSet.write(bytes, to: output, inputs: model.inputFiles)
        }
    }
}

extension Graphviz.Format: ExpressibleByArgument {}
