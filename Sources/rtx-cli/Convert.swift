// Convert.swift — `rtx convert` (vanilla → recursive; a looped Hugging Face
// checkpoint such as Ouro → the recursive GGUF of its own plan) and
// `rtx export --unroll` (recursive → plain GGUF that llama.cpp runs).
import ArgumentParser
import RTX
#if canImport(Glibc)
import Glibc
#endif

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Convert a vanilla GGUF into a (relaxed) recursive GGUF.")

    @Argument(help: "Source model: a vanilla GGUF file or Hugging Face folder (config.json + safetensors), or a looped Hugging Face checkpoint (Ouro: written with its own K, B, loop-end norm and exit gate; --loops/--unique-layers then must match or be left out).") var source: String
    @Option(name: [.short, .long], help: "Output GGUF.") var output: String
    @Option(help: "B: times the shared block runs (must divide the layer count).") var loops: Int?
    @Option(name: .customLong("unique-layers"), help: "K: layers in the shared block (alternative to --loops).") var uniqueLayers: Int?
    @Option(help: "cycle | sequence | middle-cycle") var strategy: String = "cycle"
    @Option(name: .customLong("init"), help: "stepwise | average | lower | regmean (needs --calibration)") var initMethod: String = "average"
    @Option(name: .customLong("lora-rank"), help: "LoRA rank: 0 (pure recursive), N, or 'full' (= min(in, out)).") var loraRank: String = "0"
    @Flag(name: .customLong("per-position-norms"), help: "Keep each position's norm weights (and biases) instead of tying them.") var perPositionNorms = false
    @Option(name: .customLong("shared-type"), help: "Storage of the shared block: f32 | f16 | bf16 | q8_0 | q4_0 | q4_1 | q5_0") var sharedType: String = "f32"
    @Option(name: .customLong("lora-type"), help: "Storage of LoRA factors: f32 | f16 | bf16") var loraType: String = "f32"
    @Option(help: "Calibration text: LoRA factors from the SVD whitened by each map's input Gram matrix (SVD-LLM); enables --init regmean.")
    var calibration: String?
    @Option(name: .customLong("calibration-tokens"), help: "Tokens of the calibration text to use.")
    var calibrationTokens = CalibrationOptions.defaultTokens
    @Option(name: .customLong("calibration-lambda"), help: "Ridge λ of the calibrated solves, relative to the mean diagonal of each Gram matrix.")
    var calibrationLambda = 1e-3
    @Flag(help: "Sequential calibration: each position's inputs come from the recursive model converted up to it.")
    var sequential = false
    @Option(name: [.short, .long], help: "Threads of the calibration passes (0: physical cores).") var threads = 0

    func run() throws {
        let model = try loadModel(source)
        var o = ConversionOptions()
        let L = model.hyper.layerCount
        guard let strat = RecursionPlan.Strategy(rawValue: strategy) else { throw CLIError("unknown --strategy '\(strategy)' (cycle, sequence, middle-cycle)") }
        o.strategy = strat
        let looped = model.format == .huggingFace && model.plan.loopEndNorm
        switch (loops, uniqueLayers) {
        case _ where looped:
            let p = model.plan
            if let b = loops, b != p.loops { throw CLIError("--loops \(b): this looped checkpoint runs its \(p.storedLayers) layers \(p.loops) times, and converts as it is") }
            if let k = uniqueLayers, k != p.storedLayers { throw CLIError("--unique-layers \(k): this looped checkpoint stores \(p.storedLayers) layers, and converts as it is") }
            o.loops = p.loops
        case (let b?, nil): o.loops = b
        case (nil, let k?):
            do { o.loops = try RecursionPlan.loops(forStoredLayers: k, positions: L, strategy: strat) }
            catch let e as RTXError { throw CLIError(e.message) }
        case (nil, nil): throw CLIError("give --loops B or --unique-layers K")
        default: throw CLIError("give either --loops or --unique-layers, not both")
        }
        guard let im = InitMethod(rawValue: initMethod) else { throw CLIError("unknown --init '\(initMethod)' (stepwise, average, lower, regmean)") }
        o.initMethod = im
        if loraRank == "full" { o.rank = .full } else if let r = Int(loraRank), r >= 0 { o.rank = r == 0 ? .none : .rank(r) } else {
            throw CLIError("--lora-rank must be a number >= 0 or 'full'")
        }
        o.perPositionNorms = perPositionNorms
        guard let st = TensorType(name: sharedType) else { throw CLIError("unknown --shared-type '\(sharedType)'") }
        guard let lt = TensorType(name: loraType) else { throw CLIError("unknown --lora-type '\(loraType)'") }
        o.sharedType = st
        o.loraType = lt
        if let calibration {
            do {
                var c = try CalibrationOptions(textFile: calibration, model: model, maxTokens: calibrationTokens)
                c.lambda = calibrationLambda
                c.sequential = sequential
                c.threads = threads
                o.calibration = c
                printErr("calibration: \(c.tokens.count) tokens of \(calibration)\(sequential ? ", sequential" : "")")
            } catch let e as RTXError { throw CLIError(e.message) }
        } else if sequential {
            throw CLIError("--sequential needs --calibration FILE")
        }
        let bar = ProgressBar(label: "convert")
        do {
            let r = try Converter.convert(model, to: output, options: o, progress: bar.update)
            bar.finish()
            print("wrote \(output): \(formatCount(r.bytesWritten)) bytes, shared \(formatCount(r.sharedParameters)) + LoRA \(formatCount(r.loraParameters)) parameters, \(fixed(r.seconds, 1)) s")
        } catch let e as RTXError { bar.finish(); throw CLIError(e.message) }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Export a recursive GGUF unrolled into a plain GGUF (llama.cpp can run it).")

    @Argument(help: "Recursive GGUF.") var source: String
    @Option(name: [.short, .long], help: "Output GGUF.") var output: String
    @Flag(help: "Unroll: merge W' + B·A per position (required; the only export mode).") var unroll = false
    @Option(help: "Storage of merged weights: f32 | f16 | bf16 | q8_0 | q4_0 | q4_1 | q5_0") var type: String = "f32"

    func run() throws {
        guard unroll else { throw CLIError("only --unroll export exists: pass --unroll") }
        guard let t = TensorType(name: type) else { throw CLIError("unknown --type '\(type)'") }
        let model = try loadModel(source)
        let bar = ProgressBar(label: "export")
        do {
            try Exporter.exportUnrolled(model, to: output, type: t, progress: bar.update)
            bar.finish()
            print("wrote \(output)")
        } catch let e as RTXError { bar.finish(); throw CLIError(e.message) }
    }
}

func loadModel(_ path: String) throws -> Model {
    do { return try Model(path: path) } catch let e as RTXError { throw CLIError(e.message) }
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
final class ProgressBar {
    let label: String
    let enabled = isatty(2) != 0
    let start = monotonicSeconds()
    var lastDrawn = -1

    init(label: String) { self.label = label }

    func update(_ f: Float) -> Bool {
        guard enabled else { return true }
        let pct = Int(f * 100)
        if pct != lastDrawn {
            lastDrawn = pct
            let width = 30, filled = Int(f * Float(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            fputs("\r\(label) [\(bar)] \(pct)%  \(fixed(monotonicSeconds() - start, 1)) s", stderr)
        }
        return true
    }

    func finish() { if enabled { fputs("\n", stderr) } }
}
