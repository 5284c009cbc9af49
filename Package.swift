// swift-tools-version: 6.1
// RTX — an embeddable inference engine for (relaxed) recursive transformers.
//
// Data flow, one target each:
//   CRTXKernels (C, OpenMP, OpenBLAS)  ← tensors, shapes, threads; no models
//   RTX         (Swift engine)         ← checkpoint → architecture → recursion plan → runtime
//   RTXCAPI     (@_cdecl layer)        ← librtx.so, declared in include/rtx.h
//   rtx-cli     (the `rtx` tool)       ← inspect, generate, perplexity, bench
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
        .executable(name: "rtx-swift-example", targets: ["RTXSwiftExample"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
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
