// swift-tools-version:6.0
// Coverage-guided fuzz targets (libFuzzer) over graphc's front ends. Built only by scripts/fuzz, with
// `-sanitize=fuzzer,address`; the main package and CI's test build never see it.
import PackageDescription

let package = Package(
    name: "graphc-fuzz",
    dependencies: [.package(name: "graphc", path: "..")],
    targets: [
        .target(name: "FuzzDriver"),
        // The model language: bytes → tokens → declarations → a run → a verified graph.
        .executableTarget(
            name: "FuzzModel",
            dependencies: [
                "FuzzDriver", .product(name: "Frontend", package: "graphc"),
                .product(name: "GraphIR", package: "graphc"),
            ]
        ),
        // The .gir text format: parse, verify, print, parse again.
        .executableTarget(name: "FuzzIR", dependencies: ["FuzzDriver", .product(name: "GraphIR", package: "graphc")]),
    ]
)
