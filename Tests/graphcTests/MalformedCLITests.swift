import Foundation
import Testing

/// Every kind of malformed description file gives a located error (file:line:col) and exit status 1.
@Suite struct MalformedCLITests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var bytes: [UInt8]
        var id: String
        var line: Int
        var description: String { name }

        init(_ name: String, _ text: String, id: String, line: Int) {
            self.name = name
            bytes = Array(text.utf8)
            self.id = id
            self.line = line
        }

        init(_ name: String, bytes: [UInt8], id: String, line: Int) {
            self.name = name
            self.bytes = bytes
            self.id = id
            self.line = line
        }
    }

    static let header = "model m(input = 3x16x16, classes = 10) {\n"
    static let cases: [Case] = [
        Case("unknown-op", header + "    a = conv3d(8, 3)\n}\n", id: "unknown-op", line: 2),
        Case("wrong-arity", header + "    a = conv2d(8, 3)\n    b = add <- a\n}\n", id: "arity", line: 3),
        Case("channel-mismatch", header + "    a = conv2d(8, 3, in = 4)\n}\n", id: "channel-mismatch", line: 2),
        Case("zero-size", header + "    a = conv2d(0, 3)\n}\n", id: "bad-size", line: 2),
        Case(
            "negative-size", header + "    a = conv2d(8, 3)\n    f = flatten\n    b = linear(-4)\n}\n",
            id: "bad-size", line: 4),
        Case(
            "undefined-name", header + "    a = conv2d(8, 3)\n    b = add <- a, nowhere\n}\n",
            id: "undefined-name", line: 3),
        Case("duplicate-name", header + "    a = conv2d(8, 3)\n    a = relu\n}\n", id: "duplicate-name", line: 3),
        Case("cycle", header + "    a = add <- b, b\n    b = relu <- a\n}\n", id: "cycle", line: 2),
        Case("empty", "", id: "empty-file", line: 1),
        Case("only-comments", "# nothing here\n\n", id: "empty-file", line: 1),
        Case("truncated", header + "    a = conv2d(8, 3, stride = ", id: "syntax", line: 2),
        Case(
            "invalid-utf8", bytes: Array(header.utf8) + [0x20, 0x61, 0xFF, 0xFE, 0x0A, 0x7D, 0x0A],
            id: "invalid-utf8", line: 2),
    ]

    @Test(arguments: cases)
    func locatedErrorAndExitStatus1(_ c: Case) throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("\(c.name).model")
        try Data(c.bytes).write(to: file)
        for command in [["verify", file.path], ["inspect", file.path], ["dot", file.path]] {
            let r = try CLI.run(command)
            #expect(r.status == 1, "\(command[0]) \(c.name): \(r.stderr)")
            #expect(r.stderr.contains("\(file.path):\(c.line):"), "\(command[0]) \(c.name): \(r.stderr)")
            #expect(r.stderr.contains("[\(c.id)]"), "\(command[0]) \(c.name): \(r.stderr)")
            #expect(r.stdout.isEmpty || command[0] == "verify")
        }
    }
}
