// Bench.swift — `rtx bench`: prompt-processing and generation throughput,
// medians over repetitions (timings are noisy: never pass/fail).
import ArgumentParser
import RTX

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (medians and ratios, never pass/fail).",
        subcommands: [BenchThroughput.self, BenchServe.self], defaultSubcommand: BenchThroughput.self)
}

struct BenchThroughput: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "throughput",
        abstract: "Measure prompt (pp) and generation (tg) tokens/s; prints medians.")

    @OptionGroup var common: RunOptions

    @Option(help: "Prompt tokens per pp run.") var pp: Int = 512
    @Option(help: "Generated tokens per tg run.") var tg: Int = 128
    @Option(help: "Repetitions (the median is reported).") var reps: Int = 5

    func run() throws {
        let model = try common.load()
        let session: Session
        do {
            session = try Session(model: model, options: .init(contextLength: max(pp, tg) + 1, batchSize: common.batch, threads: common.threads))
        } catch let e as RTXError { throw CLIError(e.message) }
        var rng = RandomSource(seed: 1234)
        let vocab = model.vocabularySize
        func randomTokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % UInt64(vocab)) } }
        printErr("bench: \(model.hyper.architecture) L=\(model.plan.positions) K=\(model.plan.storedLayers) B=\(model.plan.loops), threads \(session.threads), \(reps) reps")

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
                print("tg\(tg): \(fixed(median(Array(rates.dropFirst())), 1)) tokens/s  (runs: \(rates.dropFirst().map { fixed($0, 1) }.joined(separator: " ")))")
            }
        } catch let e as RTXError { throw CLIError(e.message) }
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return 0 }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
