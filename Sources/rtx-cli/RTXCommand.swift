// RTXCommand.swift — the `rtx` command line tool (inspect, convert, export,
// generate, perplexity, bench) and the options and helpers its commands share.
import ArgumentParser
import RTX
#if canImport(Glibc)
import Glibc
#endif

@main
struct RTXCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rtx",
        abstract: "RTX — run (relaxed) recursive transformers on CPUs.",
        version: "0.2.0",
        subcommands: [Inspect.self, Convert.self, Export.self, Generate.self, Perplexity.self, Bench.self])
}

/// Options every model-running command shares.
struct RunOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Path to a GGUF model.")
    var model: String = defaultModelPath()

    @Option(name: [.short, .long], help: "Threads (0 = physical cores).")
    var threads: Int = Defaults.threads

    @Option(name: .long, help: "Context (KV cache) length in tokens (0 = min(trained, \(Defaults.automaticContextLimit))).")
    var ctx: Int = Defaults.contextLength

    @Option(name: .long, help: "Tokens per forward pass for prompts.")
    var batch: Int = Defaults.batchSize

    @Flag(name: .customLong("float-prompts"), help: "Prompts in float (dequantized weights + sgemm) instead of the integer GEMM over 8-bit activations: slower, exact to float rounding.")
    var floatPrompts = Defaults.floatPrompts

    func load() throws -> Model { try loadModel(model) }

    var sessionOptions: Session.Options {
        Session.Options(contextLength: ctx, batchSize: batch, threads: threads, floatPrompts: floatPrompts)
    }
}

func defaultModelPath() -> String {
    if let env = getenv("RTX_MODEL") { return String(cString: env) }
    return ".models/SmolLM2-135M-Instruct.Q4_1.gguf"
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func writeOut(_ bytes: [UInt8]) {
    bytes.withUnsafeBufferPointer { _ = fwrite($0.baseAddress, 1, $0.count, stdout) }
    fflush(stdout)
}

func printErr(_ s: String) { fputs(s + "\n", stderr) }

func readTextFile(_ path: String) throws -> String {
    guard let f = fopen(path, "rb") else { throw CLIError("cannot open '\(path)'") }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        bytes += buf[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

func formatCount(_ n: Int) -> String {
    if n >= 1_000_000_000 { return "\(Double(n / 10_000_000) / 100)B" }
    if n >= 1_000_000 { return "\(Double(n / 10_000) / 100)M" }
    if n >= 1_000 { return "\(Double(n / 10) / 100)K" }
    return "\(n)"
}

func fixed(_ x: Double, _ digits: Int = 2) -> String {
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    let r = (x * p).rounded() / p
    var s = "\(r)"
    if let dot = s.firstIndex(of: ".") {
        let decimals = s.distance(from: dot, to: s.endIndex) - 1
        if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
    } else if digits > 0 {
        s += "." + String(repeating: "0", count: digits)
    }
    return s
}
