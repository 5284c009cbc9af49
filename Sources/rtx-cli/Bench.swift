// Bench.swift — `rtx bench`: prompt-processing and generation throughput,
// medians over repetitions (timings are noisy: never pass/fail).
import ArgumentParser
import CRTXKernels
import RTX

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (medians and ratios, never pass/fail).",
        subcommands: [BenchThroughput.self, BenchServe.self, BenchSpeculative.self], defaultSubcommand: BenchThroughput.self)
}

struct BenchThroughput: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "throughput",
        abstract: "Measure prompt (pp) and generation (tg) tokens/s; prints medians.")

    @OptionGroup var common: RunOptions

    @Option(help: "Prompt tokens per pp run.") var pp: Int = 512
    @Option(help: "Generated tokens per tg run.") var tg: Int = 128
    @Option(help: "Repetitions (the median is reported).") var reps: Int = 5
    @Option(help: "Batched decode: sequences (at most 32) with 128-token prompts, prefilled together, then generating --tg tokens each in lockstep through the scheduler (0 = skip).") var parallel: Int = 0
    @Flag(name: .customLong("no-limits"), help: "Skip measuring the machine's bandwidth and sgemm limits.") var noLimits = false
    @Flag(help: "With --parallel: also decode in the scheduler's batch-invariant mode (its default), each repetition right after the lockstep one, and print its ratio to it.")
    var invariant = false

    func run() throws {
        guard (0...32).contains(parallel) else { throw CLIError("--parallel must be in 0...32 (got \(parallel))") }
        let model = try common.load()
        let session: Session
        do {
            session = try Session(model: model, options: .init(contextLength: max(pp, tg) + 1, batchSize: common.batch, threads: common.threads,
                                                                 floatPrompts: common.floatPrompts))
        } catch let e as RTXError { throw CLIError(e.message) }
        var rng = RandomSource(seed: 1234)
        let vocab = model.vocabularySize
        func randomTokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % UInt64(vocab)) } }
        printErr("bench: \(model.hyper.architecture) L=\(model.plan.positions) K=\(model.plan.storedLayers) B=\(model.plan.loops), threads \(session.threads), \(reps) reps")

        var ppMedian: Double?, tgMedian: Double?
        do {
            if pp > 0 {
                var rates: [Double] = []
                for _ in 0..<(reps + 1) {   // first run warms caches and pages in weights
                    session.reset()
                    let tokens = randomTokens(pp)
                    let t0 = monotonicSeconds()
                    try session.evaluate(tokens)
                    rates.append(Double(pp) / (monotonicSeconds() - t0))
                }
                ppMedian = median(Array(rates.dropFirst()))
                print("pp\(pp): \(fixed(median(Array(rates.dropFirst())), 1)) tokens/s  (runs: \(rates.dropFirst().map { fixed($0, 1) }.joined(separator: " ")))")
            }
            if tg > 0 {
                var rates: [Double] = []
                for _ in 0..<(reps + 1) {
                    session.reset()
                    let tokens = randomTokens(tg)
                    let t0 = monotonicSeconds()
                    for t in tokens { try session.evaluate([t]) }
                    rates.append(Double(tg) / (monotonicSeconds() - t0))
                }
                tgMedian = median(Array(rates.dropFirst()))
                print("tg\(tg): \(fixed(median(Array(rates.dropFirst())), 1)) tokens/s  (runs: \(rates.dropFirst().map { fixed($0, 1) }.joined(separator: " ")))")
            }
            if parallel > 0 {
                // llama-batched-bench's shape: every 128-token prompt prefilled together
                // (rows for all of them), then the sequences decode in lockstep; tokens/s of the decode.
                func batched(invariant: Bool) throws -> Double {
                    let sched = try Scheduler(model: model, options: .init(maxRows: parallel * 128, prefillChunk: 128,
                                                                           threads: common.threads, batchInvariant: invariant))
                    for _ in 0..<parallel {
                        try sched.submit(prompt: randomTokens(128), options: .init(maxTokens: tg, stopAtEndOfGeneration: false))
                    }
                    // Prefill until every sequence has its first token, then time the decode steps.
                    var started = Set<Int>()
                    while started.count < parallel {
                        for case .token(let id, _, _, _) in try sched.step() { started.insert(id) }
                    }
                    let before = sched.stats.generatedTokens
                    let t0 = monotonicSeconds()
                    _ = try sched.runToCompletion()
                    return Double(sched.stats.generatedTokens - before) / (monotonicSeconds() - t0)
                }
                var rates: [Double] = [], invariantRates: [Double] = []
                for _ in 0..<max(reps / 2, 1) {
                    rates.append(try batched(invariant: false))
                    if invariant { invariantRates.append(try batched(invariant: true)) }
                }
                print("batched\(parallel): \(fixed(median(rates), 1)) tokens/s  (decode of \(parallel) sequences, runs: \(rates.map { fixed($0, 1) }.joined(separator: " ")))")
                if invariant {
                    let ratios = zip(invariantRates, rates).map { $0 / $1 }
                    print("batched\(parallel) batch-invariant: \(fixed(median(invariantRates), 1)) tokens/s, \(fixed(median(ratios), 2))× lockstep  (runs: \(invariantRates.map { fixed($0, 1) }.joined(separator: " ")))")
                }
            }
            if !noLimits { printLimits(model, session.threads, ppRate: ppMedian, tgRate: tgMedian) }
        } catch let e as RTXError { throw CLIError(e.message) }
    }

    /// The machine's limits, measured here, and the fraction of them achieved.
    func printLimits(_ model: Model, _ threads: Int, ppRate: Double?, tgRate: Double?) {
        let bandwidth = rtxk_measure_read_bandwidth(1 << 28, Int32(threads), 5)
        let gflops = rtxk_measure_sgemm_gflops(1024, Int32(threads), 3)
        let int8 = common.floatPrompts ? 0 : rtxk_measure_int8_gops(Int32(threads), 3)
        // Decode reads every linear weight of every position once per token (a shared
        // layer once per position it runs at), plus its LoRA and the LM head. Prompt
        // products of quantized weights take the integer GEMM (when int8 > 0), the rest
        // (float weights, LoRA) sgemm.
        var bytes = model.weights.output.rows * model.weights.output.rowStride
        var macs = 0, intMacs = 0
        for p in 0..<model.plan.positions {
            let layer = model.weights.layers[model.plan.sharedLayer(of: p)]
            for role in BlockRole.linear where layer.linear[role] != nil {
                let w = layer[linear: role]
                bytes += w.rows * w.rowStride
                macs += w.rows * w.columns
                if int8 > 0, KernelOptions(threads: threads).roundsActivations(weight: w.type, rows: min(pp, common.batch)) { intMacs += w.rows * w.columns }
                if let l = model.weights.positions[p].lora[role] {
                    bytes += l.a.rows * l.a.rowStride + l.b.rows * l.b.rowStride
                    macs += l.rank * (w.rows + w.columns)
                }
            }
        }
        let decodeBound = bandwidth * 1e9 / Double(bytes)
        let promptBound = gflops * 1e9 / Double(2 * macs)
        print("limits: read bandwidth \(fixed(bandwidth, 1)) GB/s, sgemm \(fixed(gflops, 1)) GFLOP/s"
              + (int8 > 0 ? ", 8-bit multiply-add peak \(fixed(int8, 1)) GOP/s" : "") + " (\(threads) threads, measured now)")
        if let tgRate {
            print("  decode: \(fixed(Double(bytes) / 1e6, 1)) MB of weights per token -> bound \(fixed(decodeBound, 1)) tokens/s; achieved \(fixed(100 * tgRate / decodeBound, 1))%")
        }
        if let ppRate {
            print("  prompt: \(fixed(Double(2 * macs) / 1e9, 3)) GFLOP per token -> sgemm bound \(fixed(promptBound, 1)) tokens/s; achieved \(fixed(100 * ppRate / promptBound, 1))%")
            if intMacs > 0 {
                // Seconds per token at each unit's peak: integer products at the 8-bit peak, the rest at sgemm's.
                let seconds = Double(2 * intMacs) / (int8 * 1e9) + Double(2 * (macs - intMacs)) / (gflops * 1e9)
                print("    \(fixed(100 * Double(intMacs) / Double(macs), 1))% of it on the integer GEMM -> bound \(fixed(1 / seconds, 1)) tokens/s at the 8-bit peak; achieved \(fixed(100 * ppRate * seconds, 1))%")
            }
        }
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return 0 }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
