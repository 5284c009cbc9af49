// BenchSpeculative.swift — `rtx bench speculative`: batch-1 greedy decode of one
// prompt, plain vs speculative (self-speculative loop drafts on a recursive
// model, prompt lookup on any model), side by side in one run: median tokens/s
// over interleaved repetitions, acceptance and mean accepted length, and the
// cost model's prediction from the measured acceptance. Every speculative run's
// tokens are checked against plain decoding's.
import ArgumentParser
import RTX

struct BenchSpeculative: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "speculative",
        abstract: "Batch-1 decode tokens/s: plain vs speculative (loop drafts, prompt lookup); medians, acceptance.")

    @OptionGroup var common: RunOptions

    @Option(help: "User message (chat format); the default quotes a paragraph, which prompt lookup can draft from.")
    var prompt = "Repeat the following text exactly: " + BenchSpeculative.paragraph
    @Option(help: "Generated tokens per run at most (runs stop at end of generation, like a chat reply).") var tg = 64
    @Option(help: "Repetitions (the median is reported).") var reps = 3
    @Option(name: .customLong("draft-loops"), help: "Self-speculative drafts from the first N loops (recursive models; 0 = skip).")
    var draftLoops = 1
    @Option(name: .customLong("draft-len"), help: "Drafts per verification pass.") var draftLen = Defaults.draftLength
    @Option(help: "Prompt-lookup n-gram size (0 = skip).") var lookup = 3
    @Option(name: .customLong("lookup-len"), help: "Drafts per verification pass for prompt lookup.") var lookupLen = 8

    static let paragraph = "The lighthouse keeper climbed the spiral stairs every evening at dusk, trimmed the wick, "
        + "polished the great lens, and wrote the weather in a small brown book. Ships passed in the night without "
        + "knowing his name, but every one of them steered by the light he kept."

    func run() throws {
        let model = try common.load()
        // Plain decoding twice: fast products (what `rtx generate` runs; the × column's
        // base) and batch-invariant (the reference drafts equal bit for bit).
        var configs: [(name: String, draft: DraftOptions)] = [("plain", DraftOptions()),
                                                              ("plain, batch-invariant", DraftOptions())]
        if draftLoops > 0 && model.plan.loops > 1 {
            configs.append(("loop-\(draftLoops) drafts, k=\(draftLen)", DraftOptions(loops: draftLoops, length: draftLen)))
        }
        if lookup > 0 { configs.append(("prompt lookup n=\(lookup), k=\(lookupLen)", DraftOptions(length: lookupLen, lookupNGram: lookup))) }
        let text = model.chat.render([ChatMessage(role: "user", content: prompt)], addGenerationPrompt: true)
        printErr("bench speculative: \(model.hyper.architecture) L=\(model.plan.positions) K=\(model.plan.storedLayers) B=\(model.plan.loops), tg \(tg), \(reps) reps, greedy")
        var rates = Array(repeating: [Double](), count: configs.count)
        var stats = Array(repeating: SpeculativeStats(), count: configs.count)
        var reference: [Int32]?
        var fastTokens: [Int32] = []
        do {
            let session = try Session(model: model, options: common.sessionOptions)
            // Repetitions interleave the configurations, so that a busy machine slows all alike;
            // the first round warms caches and pages the weights in.
            for rep in 0...reps {
                for (i, c) in configs.enumerated() {
                    session.reset()
                    session.batchInvariant = i > 0
                    var o = GenerationOptions()
                    o.maxTokens = tg; o.sampling = .greedy; o.draft = c.draft
                    let g = try Generator(session: session, prompt: text, options: o)
                    while let item = try g.next(), item.token != nil {}
                    if i == 0 {
                        fastTokens = g.tokens
                    } else {
                        if reference == nil { reference = g.tokens }
                        guard g.tokens == reference else { throw CLIError("\(c.name): the tokens differ from plain decoding's") }
                    }
                    if rep > 0 {
                        rates[i].append(Double(g.generatedCount) / g.generateSeconds)
                        stats[i] = g.speculativeStats
                    }
                }
            }
        } catch let e as RTXError { throw CLIError(e.message) }
        let base = median(rates[0])
        print("| decode | tokens/s (median) | × plain | acceptance | mean accepted length | cost model × plain |")
        print("|---|---|---|---|---|---|")
        for (i, c) in configs.enumerated() {
            let r = median(rates[i]), s = stats[i]
            let drafted = i > 1
            let predicted = drafted ? fixed(costModelSpeedup(c.draft, s, loops: model.plan.loops), 2) + "×" : "—"
            print("| \(c.name) | \(fixed(r, 1)) | \(fixed(r / base, 2)) | "
                  + (drafted ? "\(fixed(100 * s.acceptanceRate, 1))% (\(s.accepted)/\(s.drafted))" : "—") + " | "
                  + (drafted ? fixed(s.meanAcceptedLength, 2) : "—") + " | \(predicted) |")
        }
        print("fast-mode plain decoding gives " + (fastTokens == reference ? "the same tokens" : "other tokens (a near-tie flipped)"))
        print("runs (tokens/s): " + configs.indices.map { "\(configs[$0].name): \(rates[$0].map { fixed($0, 1) }.joined(separator: " "))" }.joined(separator: "; "))
    }

    /// README "Speculative decoding": a round of k drafts from b of B loops costs
    /// k·b/B + 1 weight reads (prompt lookup: 1) and yields (1 − α^(k+1)) / (1 − α)
    /// tokens at acceptance α; k is the mean drafts per round measured.
    func costModelSpeedup(_ d: DraftOptions, _ s: SpeculativeStats, loops: Int) -> Double {
        guard s.rounds > 0 else { return 1 }
        let k = Double(s.drafted) / Double(s.rounds), a = s.acceptanceRate
        let tokens = a < 1 ? (1 - pow(a, k + 1)) / (1 - a) : k + 1
        let cost = d.lookupNGram > 0 ? 1 : k * Double(d.loops) / Double(loops) + 1
        return tokens / cost
    }
}

#if canImport(Glibc)
import Glibc
#endif
