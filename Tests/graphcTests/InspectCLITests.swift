import Foundation
import Testing

/// The acceptance numbers of `graphc inspect`, end to end through the binary.
@Suite struct InspectCLITests {
    struct Case: Sendable, CustomStringConvertible {
        var model: String
        var input: String
        var classes: Int
        var params: Int?
        var macs: Int
        var description: String { "\(model) \(input) \(classes)" }
    }

    static let cases: [Case] = [
        Case(model: "resnet18", input: "3x224x224", classes: 1000, params: 11_689_512, macs: 1_814_073_344),
        Case(model: "resnet18", input: "3x224x224", classes: 10, params: 11_181_642, macs: 1_813_566_464),
        Case(model: "mobilenet_v2", input: "3x224x224", classes: 1000, params: 3_504_872, macs: 300_774_272),
        Case(model: "mobilenet_v2", input: "3x224x224", classes: 10, params: 2_236_682, macs: 299_507_072),
        Case(model: "resnet18", input: "3x32x32", classes: 1000, params: 11_689_512, macs: 37_523_456),
        Case(model: "mobilenet_v2", input: "3x32x32", classes: 1000, params: 3_504_872, macs: 7_392_128),
        Case(model: "small_resnet", input: "1x28x28", classes: 10, params: 77_754, macs: 9_345_920),
    ]

    @Test(arguments: cases)
    func jsonTotals(_ c: Case) throws {
        let json = try CLI.json([
            "inspect", c.model, "--input", c.input, "--classes", String(c.classes),
            "--format", "json",
        ])
        #expect(json["model"] as? String == c.model)
        #expect(json["input"] as? [Int] == c.input.split(separator: "x").map { Int($0)! })
        #expect(json["classes"] as? Int == c.classes)
        #expect(json["batch"] as? Int == 1)
        if let params = c.params { #expect(json["params"] as? Int == params) }
        #expect(json["macs"] as? Int == c.macs)
        #expect(json["flops"] as? Int == 2 * c.macs)
        let layers = try #require(json["layers"] as? [[String: Any]])
        #expect(layers.reduce(0) { $0 + ($1["macs"] as? Int ?? 0) } == c.macs)
        if let params = c.params { #expect(layers.reduce(0) { $0 + ($1["params"] as? Int ?? 0) } == params) }
        for layer in layers {
            #expect(layer["name"] is String && layer["op"] is String && layer["output_shape"] is [Int])
        }
    }

    @Test func batchScalesMACsNotParams() throws {
        let one = try CLI.json(["inspect", "small_resnet", "--format", "json"])
        let eight = try CLI.json(["inspect", "small_resnet", "--batch", "8", "--format", "json"])
        #expect(eight["batch"] as? Int == 8)
        #expect(eight["macs"] as? Int == 8 * (one["macs"] as? Int ?? 0))
        #expect(eight["params"] as? Int == one["params"] as? Int)
    }

    @Test func tableAndCSV() throws {
        let table = try CLI.run(["inspect", "small_resnet"])
        #expect(table.status == 0)
        #expect(table.stdout.contains("77,754"))
        #expect(table.stdout.contains("9,345,920"))
        #expect(table.stdout.contains("layer1.0.conv1"))
        let csv = try CLI.run(["inspect", "small_resnet", "--format", "csv"])
        let lines = csv.stdout.split(separator: "\n")
        #expect(lines.first == "name,op,kind,scope,output_shape,params,macs")
        let macs = lines.dropFirst().map { Int($0.split(separator: ",").last!)! }.reduce(0, +)
        #expect(macs == 9_345_920)
    }

    @Test func unknownModelIsAnErrorNotACrash() throws {
        let r = try CLI.run(["inspect", "resnet19"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("resnet19"))
        #expect(r.stderr.contains("resnet18"))  // the zoo is listed
        #expect(r.stdout.isEmpty)
    }

    @Test func badOptionsAreUsageErrors() throws {
        for args in [["--input", "3x0x224"], ["--classes", "0"], ["--batch", "-1"], ["--input", "abc"]] {
            let r = try CLI.run(["inspect", "resnet18"] + args)
            #expect(r.status != 0, "\(args)")
            #expect(!r.stderr.isEmpty)
        }
    }

    @Test func impossibleInputSizeIsLocated() throws {
        // A per-sample shape without height and width cannot feed conv1.
        let r = try CLI.run(["inspect", "resnet18", "--input", "3x224"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("zoo:resnet18.model:"))
        #expect(r.stderr.contains("conv1"))
    }
}
