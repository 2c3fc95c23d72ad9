// swift-tools-version:6.0
import PackageDescription

// The house, one room per concern (scripts/check-imports enforces the edges):
//   GraphIR   the IR: graph, ops and their rule files, verifier, .gir text format, memory plan. Imports nothing.
//   Frontend  the model language, the zoo and ONNX import/export. Imports GraphIR and SwiftProtobuf (the
//             ONNX reader; the generated onnx.pb.swift is committed, so builds never run protoc).
//   Passes    rewrites, autodiff, optimizer, analyses, planner. Imports GraphIR.
//   Viz       DOT export, styles, charts, in-process rendering through libgvc. Imports GraphIR, Passes.
//   Executor  tensor views, CPU kernels (OpenBLAS GEMM, LAPACK SVD), the reference interpreter, datasets
//             (IDX, gzip through zlib) and safetensors checkpoints. Imports GraphIR.
//   Traces    trace readers (Chrome trace JSON, streamed: PyTorch profiler and graphc executor traces),
//             summaries, predicted-vs-measured comparison. Imports GraphIR, Passes, Glibc; never Executor.
//   Training  the training loop and the study: compiles and plans (Passes), runs (Executor), evaluates.
//             Imports GraphIR, Passes, Executor.
//   graphc    the command-line tool: loads, calls, renders, maps errors to exit codes.
let package = Package(
    name: "graphc",
    products: [
        .executable(name: "graphc", targets: ["graphc"]),
        .library(name: "GraphIR", targets: ["GraphIR"]),
        .library(name: "Frontend", targets: ["Frontend"]),
        .library(name: "Passes", targets: ["Passes"]),
        .library(name: "Viz", targets: ["Viz"]),
        .library(name: "Executor", targets: ["Executor"]),
        .library(name: "Traces", targets: ["Traces"]),
        .library(name: "Training", targets: ["Training"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .target(name: "GraphIR"),
        .target(
            name: "Frontend",
            dependencies: ["GraphIR", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["ONNX/onnx.proto"]
        ),
        .target(name: "Passes", dependencies: ["GraphIR"]),
        // Graphviz (libgvc/cgraph), rendered in-process.
        .systemLibrary(
            name: "CGraphviz",
            pkgConfig: "libgvc",
            providers: [.apt(["libgraphviz-dev", "graphviz"])]
        ),
        .target(name: "Viz", dependencies: ["GraphIR", "Passes", "CGraphviz"]),
        // OpenBLAS (CBLAS sgemm, LAPACK sgesdd_), for the executor's kernels.
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // System zlib, for the executor's gzip-compressed datasets (IDX .gz).
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(name: "Executor", dependencies: ["GraphIR", "COpenBLAS", "CZlib"]),
        .target(name: "Traces", dependencies: ["GraphIR", "Passes"]),
        .target(name: "Training", dependencies: ["GraphIR", "Passes", "Executor"]),
        .executableTarget(
            name: "graphc",
            dependencies: [
                "GraphIR", "Frontend", "Passes", "Viz", "Executor", "Traces", "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "GraphTestSupport", dependencies: ["GraphIR", "Frontend"], path: "Tests/GraphTestSupport"),
        .testTarget(
            name: "GraphIRTests",
            dependencies: ["GraphIR", "GraphTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "FrontendTests",
            dependencies: ["GraphIR", "Frontend", "GraphTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "PassesTests",
            dependencies: ["GraphIR", "Frontend", "Passes", "GraphTestSupport"],
            resources: [.copy("Fixtures"), .copy("PassGolden")]
        ),
        .testTarget(
            name: "VizTests",
            dependencies: ["GraphIR", "Frontend", "Passes", "Viz", "GraphTestSupport"],
            resources: [.copy("Golden")]
        ),
        .testTarget(
            name: "ExecutorTests",
            dependencies: ["GraphIR", "Frontend", "Passes", "Executor", "Traces", "GraphTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TracesTests",
            dependencies: ["GraphIR", "Frontend", "Passes", "Traces", "GraphTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "graphcTests",
            dependencies: ["graphc", "Viz", "Passes", "Executor", "Frontend", "Training", "GraphTestSupport"]
        ),
    ]
)
