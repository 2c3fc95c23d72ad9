import ArgumentParser
import Foundation
import GraphIR
import Passes
import Viz

struct Timeline: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a training step's memory over its schedule: bytes stacked by category, the peak marked.",
        discussion: """
            Schedule steps run along x (forward, backward, optimizer), live bytes stack along y by \
            category (parameters, buffers, optimizer state, input, activations, gradients, temporaries), \
            and the peak is marked and labelled with the ops running there and its breakdown. The format \
            follows the extension of -o: PNG or SVG rendered in-process by Graphviz, or DOT; --csv writes \
            the numbers behind the picture.

            Examples:
              graphc timeline resnet18 --method lora --rank 8 -o resnet18-lora.png
              graphc timeline resnet18 --method fft --release-grads -o fft-release.svg
              graphc timeline mobilenet_v2 --method fft --csv timeline.csv -o mnv2.png
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var training: TrainingOptions
    @OptionGroup var debug: PassDebugOptions

    @Option(name: .shortAndLong, help: "The picture: FILE.png, FILE.svg or FILE.dot.")
    var output: String

    @Option(help: "Also write bytes per category per step as CSV.")
    var csv: String?

    func validate() throws {
        if Graphviz.Format(pathExtension: URL(fileURLWithPath: output).pathExtension) == nil {
            throw ValidationError("-o takes a .png, .svg or .dot file, got '\(output)'")
        }
    }

    /// Categories bottom to top: persistent state first, then what comes and goes.
    static let categories: [(MemoryCategory, String, String)] = [
        (.parameterFrozen, "frozen parameters", "#BBBBBB"),
        (.parameterTrainable, "trainable parameters", "#77AADD"),
        (.buffer, "buffers", "#99DDFF"),
        (.optimizerState, "optimizer state", "#AA4499"),
        (.input, "input", "#EEDD88"),
        (.activation, "activations (saved)", "#EE8866"),
        (.gradient, "gradients", "#44BB99"),
        (.temporary, "temporaries", "#FFAABB"),
    ]

    func run() throws {
        try reportingErrors {
            let session = try TrainingSession.compile(try model.load(), config: training.config, observe: debug.observe)
            let report = try TrainingReport(session.training, saving: session.config.saving).checked()
            let sig = ModelSignature(session.forward)
            var chart = TimelineChart(
                title: "\(report.model) · \(session.config.label) · \(session.config.optimizer.rawValue)"
                    + (session.config.releaseGrads ? " · release-grads" : "") + " · batch \(sig.batch) · "
                    + session.config.memoryModelLabel,
                series: Self.categories.map { .init(name: $0.1, color: $0.2, values: report.series($0.0)) })
            chart.phases = report.phaseStarts.map { ($0.phase.rawValue, $0.step) }
            let running = report.opsAtPeak.map { "\($0.name) (\($0.op))" }
            chart.peakNotes =
                ["running: " + running.joined(separator: ", ")]
                + report.largestAtPeak.prefix(3)
                .map { "live: \($0.name) \(NumberFormat.compactBytes($0.bytes)) (\($0.category.rawValue))" }
            let format = Graphviz.Format(pathExtension: URL(fileURLWithPath: output).pathExtension) ?? .png
            let dot = chart.dot()
            let outputs = OutputSet(inputs: model.inputFiles)
            try outputs.stage(
                output, format == .dot ? Array(dot.utf8) : try Graphviz.render(dot: dot, format: format, layout: "nop"))
            if let csv {
                let header = ["step", "node", "phase"] + Self.categories.map(\.0.rawValue) + ["total"]
                let rows = report.timeline.enumerated().map { step, bytes -> [String] in
                    let node = session.training.nodes[step]
                    return [String(step), node.name, node.phase.rawValue]
                        + Self.categories.map { String(bytes[$0.0]) } + [String(bytes.total)]
                }
                try outputs.stage(csv, graphc.csv([header] + rows))
            }
            try outputs.commit()
            printOut(
                "\(output): peak \(NumberFormat.bytes(report.memory.peakBytes)) at step \(report.peakStep) of \(report.timeline.count)"
            )
        }
    }
}
