import ArgumentParser
import Executor
import Foundation
import Frontend
import GraphIR
import Passes
import Training
import Viz

/// A user-facing failure: printed to stderr as `graphc: error: ...`, exit status 1. The message is one
/// line: names in it come from user files (models, checkpoints' tensor names, paths), so its control
/// characters are printed escaped (`\u{1b}`), never raw to the terminal.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
}

/// The libraries' one-line errors (a checkpoint, a dataset, a plan check, a training run, an ONNX file),
/// printed as `graphc: error: ...` like the CLI's own.
protocol LibraryError: Error, CustomStringConvertible {}
extension CheckpointError: LibraryError {}
extension DataError: LibraryError {}
extension PlanError: LibraryError {}
extension TrainingError: LibraryError {}
extension ONNXError: LibraryError {}

/// Runs a subcommand body, turning graphc's own errors into messages on stderr and exit status 1.
/// Diagnostics keep their line breaks (the source line and its caret) and tabs (the caret's alignment);
/// every other control character a name brought in is escaped.
func reportingErrors(_ body: () throws -> Void) throws {
    func shown(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.split(separator: "\t", omittingEmptySubsequences: false).map { String($0).escapingControlCharacters }
                .joined(separator: "\t")
        }.joined(separator: "\n")
    }
    do {
        try body()
    } catch let error as DiagnosticError {
        printError(shown(error.diagnostics.map(ModelSource.located).joined(separator: "\n")))
        throw ExitCode(1)
    } catch let error as Diagnostic {
        printError(shown(ModelSource.located(error)))
        throw ExitCode(1)
    } catch let error as CLIError {
        printError("graphc: error: \(error.description.escapingControlCharacters)")
        throw ExitCode(1)
    } catch let error as any LibraryError {
        printError("graphc: error: \(error.description.escapingControlCharacters)")
        throw ExitCode(1)
    } catch let error as GraphvizError {
        printError(shown("graphc: error: \(error)"))
        throw ExitCode(1)
    } catch let error as PassError {
        // A user's impossible request (a rank, a selector) or, when the pass produced an invalid graph, a bug.
        printError(
            shown(
                error.producedInvalidGraph
                    ? "graphc: internal error: \(error)"
                    : error.diagnostics.map { "graphc: \(ModelSource.located($0))" }.joined(separator: "\n")))
        throw ExitCode(1)
    }
}

/// A plain-text table with right-aligned numeric columns.
struct TextTable {
    var headers: [String]
    var rightAligned: Set<Int>
    var rows: [[String]] = []

    /// Control characters in cells (names from user files) are written `\u{1b}`.
    func render() -> String {
        let rows = rows.map { $0.map(\.escapingControlCharacters) }
        var widths = headers.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return rightAligned.contains(i) ? pad + cell : cell + pad
            }.joined(separator: "  ").replacing(/\s+$/, with: "")
        }
        var out = [line(headers), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        out += rows.map(line)
        return out.joined(separator: "\n") + "\n"
    }
}

/// CSV with RFC 4180 quoting; control characters (names from user files) are written `\u{1b}`, so every
/// record is one line.
func csv(_ rows: [[String]]) -> String {
    rows.map { row in
        row.map(\.escapingControlCharacters).map { cell in
            cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
                ? "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : cell
        }.joined(separator: ",")
    }.joined(separator: "\n") + "\n"
}
