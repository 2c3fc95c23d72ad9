// The command line under hostile input (issue "Never clobber, never crash"): a doubling model is
// rejected quickly under a small address-space limit; non-finite and negative option values are
// rejected by name; names with control characters are escaped in every report.
import Foundation
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

@Suite struct RobustnessCLITests {
    /// Runs `graphc ARGS` through `sh -c` with the address space limited to `kilobytes`.
    static func limited(_ kilobytes: Int, _ arguments: [String]) throws -> CLIResult {
        let quoted = ([CLI.binary.path] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -v \(kilobytes) && exec " + quoted.joined(separator: " ")]
        process.currentDirectoryURL = CLI.packageRoot
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CLIResult(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self), stdoutData: outData)
    }

    @Test(arguments: [
        "let s = \"ab\"\n    for i in 0..<64 { let s = s + s }",
        "let s = [1, 2]\n    for i in 0..<64 { let s = s + s }",
    ])
    func doublingModelUnderMemoryLimit(_ body: String) throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("double.model")
        try Data("model m(input = 3x8x8) {\n    \(body)\n    a = relu\n}\n".utf8).write(to: file)
        let start = Date()
        let r = try Self.limited(512 * 1024, ["verify", file.path])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("double.model:3:"), "\(r.stderr)")
        #expect(r.stderr.contains("error[value-too-large]"), "\(r.stderr)")
        #expect(r.stderr.contains("65536"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(start) < 5)
    }

    static let badOptions: [(command: [String], option: String)] = [
        (["analyze", "resnet18", "--method", "lora", "--alpha", "inf"], "--alpha"),
        (["analyze", "resnet18", "--method", "lora", "--alpha", "-1"], "--alpha"),
        (["analyze", "resnet18", "--method", "lora", "--alpha", "nan"], "--alpha"),
        (["analyze", "resnet18", "--method", "galore", "--galore-scale", "nan"], "--galore-scale"),
        (["analyze", "resnet18", "--method", "galore", "--galore-scale", "-inf"], "--galore-scale"),
        (["analyze", "resnet18", "--method", "galore", "--galore-gap", "-5"], "--galore-gap"),
        (["analyze", "resnet18", "--classes", "-1"], "--classes"),
        (["analyze", "resnet18", "--batch", "-2"], "--batch"),
        (["analyze", "resnet18", "--method", "lora", "--rank", "-1"], "--rank"),
        (["inspect", "resnet18", "--classes", "-1"], "--classes"),
        (["compare", "resnet18", "--classes", "-1"], "--classes"),
        (["compare", "resnet18", "--ranks", "-4"], "--ranks"),
    ]

    @Test(arguments: 0..<badOptions.count)
    func badOptionValuesNameTheOption(_ index: Int) throws {
        let (command, option) = Self.badOptions[index]
        let r = try CLI.run(command)
        #expect(r.status == 1)
        #expect(r.stderr.contains(option), "\(r.stderr)")
        #expect(!r.stderr.contains("Missing value"), "\(r.stderr)")
    }

    @Test func controlCharactersInNamesAreEscaped() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("ctl.gir")
        let ir = """
            graph "g\\u{1b}[2J" {
              input %0 "in\\u{7}put" : f32[1, 4]
              %1 = relu(%0) : f32[1, 4] "r\\u{1b}[31m,x\\r\\ny"
              output %1
            }

            """
        try Data(ir.utf8).write(to: file)
        for format in ["table", "csv", "json"] {
            let r = try CLI.run(["inspect", file.path, "--format", format])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(
                !r.stdout.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0 == "\r" },
                "\(format): \(r.stdout)")
            if format != "json" { #expect(r.stdout.contains("\\u{1b}[31m"), "\(format): \(r.stdout)") }
        }
        let csv = try CLI.run(["inspect", file.path, "--format", "csv"])
        #expect(csv.stdout.split(separator: "\n").count == 2, "\(csv.stdout)")
        let dot = try CLI.run(["dot", file.path])
        #expect(dot.status == 0, "\(dot.stderr)")
        #expect(!dot.stdout.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "\(dot.stdout)")
        #expect(dot.stdout.contains("\\\\u{1b}"), "\(dot.stdout)")
        let svg = dir.appendingPathComponent("g.svg")
        let r = try CLI.run(["dot", file.path, "-o", svg.path])
        #expect(r.status == 0, "\(r.stderr)")
        let data = try Data(contentsOf: svg)
        #expect(!data.contains { $0 < 0x20 && $0 != 0x0A && $0 != 0x09 && $0 != 0x0D })
        #expect(try XMLDocument(data: data).rootElement()?.name == "svg")
    }

    /// train and run errors name the model and the files the user gave: their control characters are
    /// escaped on stderr too.
    @Test func errorsEscapeControlCharactersInNames() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("ctl\u{1b}[2J.gir")
        let ir = """
            graph "g\\u{1b}[31m" {
              input %0 "x" : f32[1, 4]
              %1 = relu(%0) : f32[1, 4] "r"
              output %1
            }

            """
        try Data(ir.utf8).write(to: file)
        let input = dir.appendingPathComponent("short.f32")
        try Data([0, 0, 0]).write(to: input)
        let out = dir.appendingPathComponent("out.f32")
        let run = try CLI.run(["run", file.path, "--seed", "1", "--input", input.path, "-o", out.path])
        let train = try CLI.run(["train", file.path])
        for r in [run, train] {
            #expect(r.status == 1)
            #expect(!r.stderr.unicodeScalars.contains { $0.value == 0x1B }, "\(r.stderr)")
            #expect(r.stderr.contains("\\u{1b}["), "\(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test func passErrorsNameTheFile() throws {
        let r = try CLI.run(["analyze", "resnet18", "--method", "galore", "--rank", "100000"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("resnet18.model: error[rank-too-large]"), "\(r.stderr)")
        #expect(r.stderr.contains("'layer4.0.conv1.weight'"), "\(r.stderr)")
    }
}
