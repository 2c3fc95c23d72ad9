// Test helpers for the model zoo: find the package root from this file's path, read description
// files from examples/models, compile them, and compare a compiled graph layer by layer with the
// torchvision counts fixture (any model: pass the file name and the fixture key).
import Foundation
import Frontend
import GraphIR

/// Loading and compiling the zoo's `.model` files.
public enum Models {
    /// The package root (three levels above this file).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `examples/models` in the package.
    public static var directory: URL { packageRoot.appendingPathComponent("examples/models") }

    /// File names of every `.model` file in `examples/models`, sorted.
    public static func files() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".model") }.sorted()
    }

    /// The bytes of `examples/models/<file>`.
    public static func source(_ file: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(file)))
    }

    /// Compiles `examples/models/<file>` with `overrides`.
    public static func compile(_ file: String, overrides: ModelOverrides = .init()) throws -> CompiledModel {
        try ModelDescription.compile(source: try source(file), file: file, overrides: overrides)
    }
}

/// torchvision's per-layer counts (Tests/GraphIRTests/Fixtures/torchvision_counts.json).
public struct TorchvisionFixture: Decodable, Sendable {
    /// One torchvision module, as a forward hook saw it (batch 1).
    public struct Layer: Decodable, Sendable {
        /// torchvision's module name, e.g. `layer1.0.conv1`.
        public var name: String
        /// Module class: `Conv2d`, `BatchNorm2d`, `Linear`, `ReLU`, ...
        public var type: String
        /// Output shape at batch 1.
        public var out: [Int]
        /// Multiply-accumulates (conv and linear only).
        public var macs: Int?
        /// Learnable parameters of the module itself.
        public var params: Int?
    }

    /// One model at one input size and class count.
    public struct Model: Decodable, Sendable {
        /// torchvision constructor name, e.g. `resnet18`.
        public var model: String
        /// Per-sample input shape.
        public var input: [Int]
        /// Class count of the classifier.
        public var classes: Int
        /// Total learnable parameters.
        public var params: Int
        /// Total MACs at batch 1.
        public var macs: Int
        /// Every module, in forward-hook order.
        public var layers: [Layer]
    }

    /// Entries keyed like `resnet18_224_nc10`.
    public var models: [String: Model]

    /// Decodes the fixture file at `url`.
    public static func load(_ url: URL) throws -> TorchvisionFixture {
        try JSONDecoder().decode(TorchvisionFixture.self, from: Data(contentsOf: url))
    }

    /// Compiles `file` at the fixture's input size and class count and lists every difference from
    /// fixture entry `key`: totals, and for each layer of `types`, its presence, output shape, MACs and
    /// parameters. Empty means the graph matches torchvision.
    public func mismatches(
        file: String, key: String,
        types: Set<String> = ["Conv2d", "BatchNorm2d", "Linear"]
    ) throws -> [String] {
        guard let expected = models[key] else { return ["fixture has no entry '\(key)'"] }
        let compiled = try Models.compile(
            file, overrides: ModelOverrides(input: expected.input, classes: expected.classes))
        let graph = compiled.graph
        var problems: [String] = []
        if graph.parameterCount != expected.params {
            problems.append("\(key): \(graph.parameterCount) parameters, torchvision has \(expected.params)")
        }
        if graph.macs != expected.macs {
            problems.append("\(key): \(graph.macs) MACs, torchvision has \(expected.macs)")
        }
        let nodes = Dictionary(graph.nodes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var checked = 0
        for layer in expected.layers where types.contains(layer.type) {
            checked += 1
            guard let node = nodes[layer.name] else {
                problems.append("\(key): no node '\(layer.name)' (\(layer.type))")
                continue
            }
            let shape = graph[node.outputs[0]].type.shape
            if shape.array != layer.out {
                problems.append("\(key): '\(layer.name)' has shape \(shape), torchvision \(layer.out)")
            }
            if let macs = layer.macs, graph.macs(of: node) != macs {
                problems.append("\(key): '\(layer.name)' has \(graph.macs(of: node)) MACs, torchvision \(macs)")
            }
            if let params = layer.params, graph.parameterCount(of: node) != params {
                problems.append(
                    "\(key): '\(layer.name)' has \(graph.parameterCount(of: node)) parameters, torchvision \(params)")
            }
        }
        if checked == 0 { problems.append("\(key): no layers of types \(types.sorted()) in the fixture") }
        return problems
    }
}
