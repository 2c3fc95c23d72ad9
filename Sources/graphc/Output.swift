import ArgumentParser
import Foundation
import GraphIR
import Viz
import Passes

/// A user-facing failure: printed to stderr as `graphc: error: ...`, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
}

/// Runs a subcommand body, turning graphc's own errors into messages on stderr and exit status 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as DiagnosticError {
        printError(error.diagnostics.map(ModelSource.located).joined(separator: "\n"))
        throw ExitCode(1)
    } catch let error as Diagnostic {
        printError(ModelSource.located(error))
        throw ExitCode(1)
    } catch let error as CLIError {
        printError("graphc: error: \(error)")
        throw ExitCode(1)
    } catch let error as GraphvizError {
        printError("graphc: error: \(error)")
        throw ExitCode(1)
    } catch let error as PassError {
        // A user's impossible request (a rank, a selector) or, when the pass produced an invalid graph, a bug.
        printError(error.producedInvalidGraph ? "graphc: internal error: \(error)"
                   : error.diagnostics.map { "graphc: \(ModelSource.located($0))" }.joined(separator: "\n"))
        throw ExitCode(1)
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Writes `bytes` to `path` atomically (a temporary file renamed into place), so a failure never leaves a
/// half-written output; `-` or nil writes to stdout.
func writeOutput(_ bytes: [UInt8], to path: String?) throws {
    guard let path, path != "-" else {
        FileHandle.standardOutput.write(Data(bytes))
        return
    }
    do {
        try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw CLIError("cannot write '\(path)': \(error.localizedDescription)")
    }
}

func writeOutput(_ text: String, to path: String?) throws { try writeOutput(Array(text.utf8), to: path) }

/// `1,814,073,344`.
func grouped(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return n < 0 ? "-" + out : out
}

/// `11.18 M`, `1.81 G`: a short human form next to exact counts.
func short(_ n: Int) -> String {
    let x = Double(n)
    for (limit, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] where x.magnitude >= limit {
        return String(format: "%.2f %@", x / limit, suffix)
    }
    return String(n)
}

/// `44.6 MiB`.
func bytes(_ n: Int) -> String {
    let x = Double(n)
    for (limit, suffix) in [(1024.0 * 1024 * 1024, "GiB"), (1024.0 * 1024, "MiB"), (1024.0, "KiB")] where x >= limit {
        return String(format: "%.1f %@", x / limit, suffix)
    }
    return "\(n) B"
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
