// Perplexity.swift — `rtx perplexity`, llama.cpp's method so the figures compare:
// the text is cut into chunks of --ctx tokens, the first token of each chunk is
// replaced by BOS when the model adds BOS, and only the second half of each chunk
// is scored (each token predicted with at least ctx/2 tokens of context).
import ArgumentParser
import RTX
#if canImport(Glibc)
import Glibc
#endif

struct Perplexity: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Perplexity of a model on a text file (llama.cpp's method).")

    @OptionGroup var common: RunOptions

    @Option(name: [.short, .long], help: "Text file.")
    var file: String = "/usr/share/common-licenses/GPL-3"

    @Option(help: "Chunks to score at most (0 = all).")
    var chunks: Int = 0

    @Option(name: .customLong("exit-after"),
            help: "Every token exits after this many loops (its skipped K/V filled by state propagation): the perplexity of the early-exit model. Default: full depth.")
    var exitAfter: Int?

    /// Tokens per chunk without --ctx: llama-perplexity's default, so figures compare.
    static let defaultChunk = 512

    func run() throws {
        let model = try common.load()
        let ctx = common.ctx > 0 ? common.ctx : Perplexity.defaultChunk
        let text = try readTextFile(file)
        let tokens = model.tokenizer.encode(text, addBOS: model.tokenizer.vocabulary.addBOS, parseSpecial: false)
        var nChunks = tokens.count / ctx
        if chunks > 0 { nChunks = min(nChunks, chunks) }
        guard nChunks > 0 else { throw CLIError("\(file) has \(tokens.count) tokens, fewer than one chunk of \(ctx)") }
        let session: Session
        do {
            session = try Session(model: model, options: .init(contextLength: ctx, batchSize: min(common.batch, ctx), threads: common.threads,
                                                                 floatPrompts: common.floatPrompts))
        } catch let e as RTXError { throw CLIError(e.message) }
        if let exitAfter, !(1...model.plan.loops).contains(exitAfter) {
            throw CLIError("--exit-after \(exitAfter) must be in 1...\(model.plan.loops) (the model runs \(model.plan.loops) loops)")
        }
        printErr("perplexity: \(tokens.count) tokens, \(nChunks) chunks of \(ctx), threads \(session.threads)"
                 + (exitAfter.map { ", every token exits after loop \($0) of \(model.plan.loops)" } ?? ""))
        let first = ctx / 2
        var nll = 0.0
        var count = 0
        let t0 = monotonicSeconds()
        for c in 0..<nChunks {
            var chunk = Array(tokens[(c * ctx)..<((c + 1) * ctx)])
            if model.tokenizer.vocabulary.addBOS, let bos = model.tokenizer.vocabulary.bos { chunk[0] = bos }
            session.reset()
            do {
                let scored = try exitAfter.map { try stepped(session, chunk, loops: $0, scoredFrom: first) }
                    ?? evaluated(session, chunk, scoredFrom: first)
                nll += scored.reduce(0, +)
                count += scored.count
            } catch let e as RTXError { throw CLIError(e.message) }
            let ppl = exp(nll / Double(count))
            writeOut(Array("[\(c + 1)]\(fixed(ppl, 4)) ".utf8))
        }
        writeOut(Array("\n".utf8))
        let ppl = exp(nll / Double(count))
        let seconds = monotonicSeconds() - t0
        print("Final estimate: PPL = \(fixed(ppl, 4)) over \(count) scored tokens (\(nChunks) chunks of \(ctx)), \(fixed(seconds, 1)) s, \(fixed(Double(nChunks * ctx) / seconds, 1)) tokens/s")
    }

    /// −log p of each token from `first` + 1 on, the whole chunk evaluated at full depth.
    func evaluated(_ session: Session, _ chunk: [Int32], scoredFrom first: Int) throws -> [Double] {
        try session.evaluate(chunk, allLogits: true)
        return try (first..<(chunk.count - 1)).map { negativeLogLikelihood(try session.logits(at: $0), target: Int(chunk[$0 + 1])) }
    }

    /// The same, token by token, every token exiting after `loops` loops (loop
    /// stepping: the skipped positions' K/V come from state propagation).
    func stepped(_ session: Session, _ chunk: [Int32], loops: Int, scoredFrom first: Int) throws -> [Double] {
        var out: [Double] = []
        for (i, token) in chunk.dropLast().enumerated() {
            try session.beginToken(token)
            for _ in 0..<loops { _ = try session.stepLoop() }
            try session.exitToken()
            if i >= first { out.append(negativeLogLikelihood(try session.logits(), target: Int(chunk[i + 1]))) }
        }
        return out
    }
}
