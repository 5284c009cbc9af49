// swift-tools-version: 6.1
// RTX hardening: libFuzzer targets and a ThreadSanitizer stress program, built
// against the engine (../..) with sanitizers. Not part of the product: the flags
// come from Tests/hardening/run-fuzz.sh and run-sanitizers.sh (`make fuzz`,
// `make test-sanitizers`), e.g.
//   swift build --package-path Tests/hardening -Xswiftc -sanitize=fuzzer,address ...
import PackageDescription

let package = Package(
    name: "RTXHardening",
    dependencies: [.package(name: "RTX", path: "../..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "RTXEngine", package: "RTX")]),
        // One executable per libFuzzer target (README "Hardening").
        .executableTarget(name: "fuzz-gguf", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "fuzz-hf", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "fuzz-json", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "fuzz-tokenizer", dependencies: ["FuzzSupport"]),
        // Several threads sharing one model (own sessions) beside scheduler drivers.
        .executableTarget(name: "tsan-stress", dependencies: [.product(name: "RTXEngine", package: "RTX")]),
    ],
    swiftLanguageModes: [.v5]
)
