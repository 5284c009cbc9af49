// BenchServe.swift — `rtx bench serve`: one fixed workload of requests built from
// real text, run side by side in one process through the same scheduler on
//   (a) the vanilla model (continuous sequence-wise batching, B = 1),
//   (b) its recursive conversion at full depth,
//   (c) with confidence exits at several thresholds,
//   (d) with oracle exits (measured at full depth, then replayed),
//   (e) with learned exit gates at several thresholds, when the model has gates,
//   (f) with Ouro's exit rule (cumulative exit probability of the gates ≥ q) at
//       several q, by default when the model is a looped checkpoint (Ouro).
// Reports tokens/s, mean loops per token, the exit histogram, the fraction of
// tokens equal to the full-depth output, and perplexity under each policy
// (teacher-forced on held-out text, each token scored by the exit head it used).
import ArgumentParser
import RTX
#if canImport(Glibc)
import Glibc
#endif

struct BenchServe: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve",
        abstract: "Depth-wise batching with early exit vs the vanilla model, side by side.")

    @Option(help: "Vanilla GGUF.") var vanilla: String = defaultModelPath()
    @Option(help: "Recursive GGUF (from `rtx convert`).") var recursive: String
    @Option(help: "Text the workload is cut from.") var text: String = "/usr/share/common-licenses/GPL-3"
    @Option(help: "Requests in the workload.") var requests: Int = 16
    @Option(name: .customLong("prompt-tokens"), help: "Prompt tokens per request.") var promptTokens: Int = 48
    @Option(name: .customLong("max-tokens"), help: "Generated tokens per request.") var maxTokens: Int = 32
    @Option(help: "Rows in flight.") var rows: Int = 16
    @Option(help: "Confidence thresholds, comma-separated.") var thresholds: String = "0.9,0.7,0.5"
    @Option(help: "Exit-gate thresholds, comma-separated (default 0.9,0.7,0.5 when the recursive model has exit gates; none otherwise).")
    var gates: String?
    @Option(help: "Ouro exit-rule thresholds q, comma-separated (default 0.9,0.7,0.5 when the recursive model is a looped checkpoint with a gate, such as Ouro; none otherwise).")
    var ouro: String?
    @Option(name: .customLong("ppl-tokens"), help: "Teacher-forced tokens per perplexity request.") var pplTokens: Int = 128
    @Option(name: [.short, .long], help: "Threads (0 = physical cores).") var threads: Int = 0
    @Flag(name: .customLong("no-batch-invariant"), help: "The scheduler's fast products (batch_invariant = false) instead of its batch-invariant default.")
    var noBatchInvariant = false

    struct Outcome {
        var name: String
        var seconds: Double
        var tokens: Int
        var stats: SchedulerStats
        var outputs: [[Int32]]
        var oracle: [[Int]]
    }

    func run() throws {
        let vanillaModel = try loadModel(vanilla)
        let recursiveModel = try loadModel(recursive)
        guard vanillaModel.tokenizer.vocabulary.tokens == recursiveModel.tokenizer.vocabulary.tokens else {
            throw CLIError("--vanilla and --recursive must share a tokenizer (for a looped checkpoint such as Ouro, pass the same model as both: (a) is then its full depth, one request a row)")
        }
        let corpus = model(vanillaModel).tokenizer.encode(try readTextFile(text), addBOS: false, parseSpecial: false)
        let stride = max(promptTokens + pplTokens + 1, corpus.count / max(requests, 1))
        guard corpus.count >= requests * (promptTokens + 1) else { throw CLIError("\(text) is too short for \(requests) requests") }
        let prompts = (0..<requests).map { i in Array(corpus[(i * stride % max(corpus.count - promptTokens, 1))...].prefix(promptTokens)) }
        let options = SchedulerOptions(maxRows: rows, prefillChunk: 32, threads: threads, batchInvariant: !noBatchInvariant)
        let gateTaus = try gateThresholds(recursiveModel)
        let ouroQs = try ouroThresholds(recursiveModel)

        func serve(_ m: Model, _ name: String, _ policies: [ExitPolicy]) throws -> Outcome {
            let s = try Scheduler(model: m, options: options)
            var ids: [Int] = []
            let t0 = monotonicSeconds()
            for (p, policy) in zip(prompts, policies) {
                ids.append(try s.submit(prompt: p, options: RequestOptions(maxTokens: maxTokens, exitPolicy: policy, stopAtEndOfGeneration: false)))
            }
            _ = try s.runToCompletion()
            let seconds = monotonicSeconds() - t0
            let results = ids.map { s.takeResult($0)! }
            return Outcome(name: name, seconds: seconds, tokens: results.reduce(0) { $0 + $1.tokens.count }, stats: s.stats,
                           outputs: results.map(\.tokens), oracle: results.map(\.oracleLoops))
        }

        func perplexity(_ m: Model, _ policy: ExitPolicy) throws -> Double {
            let s = try Scheduler(model: m, options: options)
            var ids: [Int] = []
            for i in 0..<requests {
                let start = (i * stride) % max(corpus.count - pplTokens - 2, 1)
                let chunk = Array(corpus[start..<min(start + pplTokens + 1, corpus.count)])
                ids.append(try s.submit(prompt: [chunk[0]], options: RequestOptions(
                    maxTokens: chunk.count - 1, exitPolicy: policy, stopAtEndOfGeneration: false, forcedTokens: Array(chunk.dropFirst()))))
            }
            _ = try s.runToCompletion()
            let nll = ids.flatMap { s.takeResult($0)!.negativeLogLikelihood }
            return exp(nll.reduce(0, +) / Double(max(nll.count, 1)))
        }

        let all = Array(repeating: ExitPolicy.fullDepth, count: requests)
        printErr("bench serve: \(requests) requests × (\(promptTokens) prompt + \(maxTokens) generated) tokens, \(rows) rows; recursive K=\(recursiveModel.plan.storedLayers) B=\(recursiveModel.plan.loops) rank \(recursiveModel.recursion.fullRank ? "full" : "\(recursiveModel.recursion.loraRank)")")
        var outcomes: [(Outcome, Double)] = []
        let base = try serve(vanillaModel, "(a) vanilla, sequence-wise batching", all)
        outcomes.append((base, try perplexity(vanillaModel, .fullDepth)))
        let full = try serve(recursiveModel, "(b) recursive, full depth", all)
        outcomes.append((full, try perplexity(recursiveModel, .fullDepth)))
        for t in thresholds.split(separator: ",").compactMap({ Float($0) }) {
            let policy = ExitPolicy.confidence(threshold: t, minLoops: 1)
            let o = try serve(recursiveModel, "(c) confidence τ=\(t)", Array(repeating: policy, count: requests))
            outcomes.append((o, try perplexity(recursiveModel, policy)))
        }
        let measured = try serve(recursiveModel, "oracle measurement", Array(repeating: .measureOracle, count: requests))
        let replay = try serve(recursiveModel, "(d) oracle exits", measured.oracle.map { ExitPolicy.oracle(loops: $0) })
        outcomes.append((replay, .nan))
        for t in gateTaus {
            let policy = ExitPolicy.gate(threshold: t, minLoops: 1)
            let o = try serve(recursiveModel, "(e) exit gate τ=\(t)", Array(repeating: policy, count: requests))
            outcomes.append((o, try perplexity(recursiveModel, policy)))
        }
        for q in ouroQs {
            let policy = ExitPolicy.ouro(threshold: q)
            let o = try serve(recursiveModel, "(f) Ouro exits q=\(q)", Array(repeating: policy, count: requests))
            outcomes.append((o, try perplexity(recursiveModel, policy)))
        }

        print("| system | tokens/s | × vanilla | mean loops/token | exit histogram (loops 1…B) | same as full depth | PPL (teacher-forced) |")
        print("|---|---|---|---|---|---|---|")
        let baseRate = Double(base.tokens) / base.seconds
        for (o, ppl) in outcomes {
            let rate = Double(o.tokens) / o.seconds
            var same = 0, total = 0
            for (a, b) in zip(o.outputs, full.outputs) {
                for (x, y) in zip(a, b) { total += 1; if x == y { same += 1 } }
            }
            let sameText = o.name.hasPrefix("(a)") ? "—" : "\(fixed(100 * Double(same) / Double(max(total, 1)), 1))%"
            print("| \(o.name) | \(fixed(rate, 1)) | \(fixed(rate / baseRate, 2)) | \(fixed(o.stats.meanLoopsPerToken, 2)) | \(o.stats.exitHistogram.map(String.init).joined(separator: " / ")) | \(sameText) | \(ppl.isNaN ? "—" : fixed(ppl, 2)) |")
        }
        // What each exit signal costs: LM-head rows (d × vocab MACs each) and gate rows (d MACs) per generated token.
        print("exit-head rows / gate rows per generated token: " + outcomes.map { o, _ in
            let n = Double(max(o.stats.generatedTokens, 1))
            return "\(o.name.prefix(3)) \(fixed(Double(o.stats.headRows) / n, 2)) / \(fixed(Double(o.stats.gateRows) / n, 2))"
        }.joined(separator: ", "))
    }

    private func model(_ m: Model) -> Model { m }

    /// Ouro's exit-rule thresholds to run: --ouro, else the defaults for a looped
    /// checkpoint with a gate. Asking for them on a model without gates is an error.
    private func ouroThresholds(_ m: Model) throws -> [Float] {
        guard let ouro else { return m.plan.loopEndNorm && m.hasExitGates ? [0.9, 0.7, 0.5] : [] }
        let values = try ouro.split(separator: ",").map { part -> Float in
            guard let q = Float(String(part.filter { !$0.isWhitespace })) else { throw CLIError("--ouro: '\(part)' is not a number") }
            return q
        }
        do {
            for q in values { try ExitPolicy.ouro(threshold: q).validate(loops: m.plan.loops, hasExitGates: m.hasExitGates) }
        } catch let e as RTXError { throw CLIError("--ouro: \(e.message)") }
        return values
    }

    /// The exit-gate thresholds to run: --gates, else the defaults when the model
    /// has gates. Asking for gates on a model without them is an error.
    private func gateThresholds(_ m: Model) throws -> [Float] {
        guard let gates else { return m.hasExitGates ? [0.9, 0.7, 0.5] : [] }
        let values = try gates.split(separator: ",").map { part -> Float in
            guard let t = Float(String(part.filter { !$0.isWhitespace })) else { throw CLIError("--gates: '\(part)' is not a number") }
            return t
        }
        for t in values { try ExitPolicy.gate(threshold: t, minLoops: 1).validate(loops: m.plan.loops, hasExitGates: m.hasExitGates) }
        return values
    }
}
