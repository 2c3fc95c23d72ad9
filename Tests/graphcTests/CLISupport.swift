import Foundation

/// Runs the built `graphc` binary (it sits beside the test bundle in the build folder).
struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var stdoutData: Data
}

enum CLI {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static var binary: URL {
        // GRAPHC_BIN runs the CLI tests against another build (e.g. an older one, to see a test fail).
        if let path = ProcessInfo.processInfo.environment["GRAPHC_BIN"] { return URL(fileURLWithPath: path) }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("graphc")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        return packageRoot.appendingPathComponent(".build/debug/graphc")
    }

    static func run(_ arguments: [String], cwd: URL? = nil) throws -> CLIResult {
        try launch(binary, arguments, environment: nil, cwd: cwd)
    }

    /// Runs `script` with bash, `$G` being the graphc binary: for redirections, pipes and other users.
    static func shell(_ script: String, cwd: URL? = nil) throws -> CLIResult {
        var environment = ProcessInfo.processInfo.environment
        environment["G"] = binary.path
        return try launch(URL(fileURLWithPath: "/bin/bash"), ["-c", script], environment: environment, cwd: cwd)
    }

    /// Runs `executable` to its end, its stdout and stderr captured.
    private static func launch(_ executable: URL, _ arguments: [String], environment: [String: String]?, cwd: URL?)
        throws -> CLIResult
    {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.currentDirectoryURL = cwd ?? packageRoot
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes concurrently with the process so large outputs cannot dead-lock it.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return CLIResult(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self), stdoutData: outData)
    }

    /// Runs and parses stdout as a JSON object.
    static func json(_ arguments: [String]) throws -> [String: Any] {
        let r = try run(arguments)
        guard r.status == 0 else { throw CLIFailure(message: "graphc \(arguments) failed: \(r.stderr)") }
        guard let object = try JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any] else {
            throw CLIFailure(message: "not a JSON object")
        }
        return object
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("graphc-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

struct CLIFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
