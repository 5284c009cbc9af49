// swift-tools-version: 6.1
// RTX — an embeddable inference engine for (relaxed) recursive transformers.
//
// Data flow, one target each:
//   CRTXKernels (C, OpenMP, OpenBLAS)  ← tensors, shapes, threads; no models
//   RTX         (Swift engine)         ← checkpoint → architecture → recursion plan → runtime
//   RTXCAPI     (@_cdecl layer)        ← librtx.so, declared in include/rtx.h
//   rtx-cli     (the `rtx` tool)       ← inspect, generate, perplexity, bench
//   rtx-server  (HTTP, OpenAI API)     ← the Scheduler behind Hummingbird; the only
//                                        target that links SwiftNIO
import PackageDescription

let package = Package(
    name: "RTX",
    products: [
        // librtx.so. Build it for C/Python consumers with `make lib`, which links
        // the Swift runtime statically (-static-stdlib) and applies the export map.
        .library(name: "rtx", type: .dynamic, targets: ["RTXCAPI"]),
        // The engine as a Swift module for Swift apps.
        .library(name: "RTXEngine", targets: ["RTX"]),
        .executable(name: "rtx-cli", targets: ["RTXCLI"]),
        .executable(name: "rtx-server", targets: ["RTXServer"]),
        .executable(name: "rtx-swift-example", targets: ["RTXSwiftExample"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // rtx-server only: librtx.so, the C ABI and the CLI never link these.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(
            name: "CRTXKernels",
            path: "Sources/CRTXKernels",
            cSettings: [
                // Portable baseline: AVX2/AVX-512 code paths carry their own
                // target attributes and are chosen at run time (threads.c).
                .unsafeFlags(["-O3", "-fopenmp", "-fno-math-errno", "-ffp-contract=fast"]),
            ],
            linkerSettings: [
                .linkedLibrary(":libomp.so.5"),
                .linkedLibrary("openblas"),
                .linkedLibrary("lapacke"),
                .linkedLibrary("m"),
            ]
        ),
        .target(
            name: "RTX",
            dependencies: ["CRTXKernels"],
            path: "Sources/RTX"
        ),
        // include/rtx.h as a C module (a symlink in Sources/CRTXABI/include), plus
        // compile-time layout checks of the public structs.
        .target(
            name: "CRTXABI",
            path: "Sources/CRTXABI"
        ),
        .target(
            name: "RTXCAPI",
            dependencies: ["RTX", "CRTXABI"],
            path: "Sources/RTXCAPI"
        ),
        .executableTarget(
            name: "RTXCLI",
            dependencies: [
                "RTX",
                "CRTXKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/rtx-cli"
        ),
        // The OpenAI-compatible HTTP server: one loop thread owns the Scheduler,
        // handlers talk to it through async streams.
        .executableTarget(
            name: "RTXServer",
            dependencies: [
                "RTX",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/rtx-server"
        ),
        .executableTarget(
            name: "RTXSwiftExample",
            dependencies: ["RTX"],
            path: "examples/swift"
        ),
        .testTarget(
            name: "RTXTests",
            dependencies: ["RTX", "RTXCAPI", "CRTXKernels"],
            path: "Tests/RTXTests"
        ),
    ],
    // Swift 5 mode: the engine manages its own thread-safety (immutable models,
    // one thread per session) and talks to C globals (stderr) freely.
    swiftLanguageModes: [.v5]
)
