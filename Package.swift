// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "graphc",
    products: [
        .executable(name: "graphc", targets: ["graphc"]),
        .library(name: "GraphIR", targets: ["GraphIR"]),
        .library(name: "Passes", targets: ["Passes"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // The IR, its text formats, shapes and verifier. No I/O dependencies.
        .target(name: "GraphIR"),
        // Analyses and rewrites over GraphIR.
        .target(name: "Passes", dependencies: ["GraphIR"]),
        // The built-in model zoo: the description files of examples/models, embedded.
        .target(name: "Zoo", dependencies: ["GraphIR"]),
        // Graphviz (libgvc/cgraph), rendered in-process.
        .systemLibrary(
            name: "CGraphviz",
            pkgConfig: "libgvc",
            providers: [.apt(["libgraphviz-dev", "graphviz"])]
        ),
        .target(name: "Graphviz", dependencies: ["CGraphviz"]),
        .executableTarget(
            name: "graphc",
            dependencies: [
                "GraphIR", "Passes", "Zoo", "Graphviz",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "GraphTestSupport", dependencies: ["GraphIR", "Zoo"], path: "Tests/GraphTestSupport"),
        .testTarget(
            name: "GraphIRTests",
            dependencies: ["GraphIR", "Zoo", "GraphTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "PassesTests",
            dependencies: ["GraphIR", "Passes", "Zoo", "GraphTestSupport"],
            resources: [.copy("Golden"), .copy("Fixtures")]
        ),
        .testTarget(name: "GraphvizTests", dependencies: ["Graphviz"]),
        .testTarget(
            name: "graphcTests",
            dependencies: ["graphc", "Graphviz", "GraphTestSupport"]
        ),
    ]
)
