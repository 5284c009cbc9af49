// Generate.swift — `rtx generate`: stream a completion and report tokens/s.
// Option defaults come from RTX's `Defaults`, the same values the C API and
// Python bindings use; --print-params shows the values a run would use.
import ArgumentParser
import RTX

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text from a prompt, streaming it to stdout.")

    @OptionGroup var common: RunOptions

    @Option(name: [.short, .long], help: "The prompt.")
    var prompt: String = "Tell me a short story about a robot who learns to paint."

    @Flag(help: "Wrap the prompt as a user message in the model's chat format.")
    var chat = false

    @Option(name: [.customShort("n"), .long], help: "Tokens to generate at most.")
    var maxTokens: Int = Defaults.maxTokens

    @Option(help: "Temperature (0 = greedy).") var temp: Float = Defaults.temperature
    @Option(name: .customLong("top-k"), help: "Top-k filter (0 = off).") var topK: Int = Defaults.topK
    @Option(name: .customLong("top-p"), help: "Top-p (nucleus) filter (1 = off).") var topP: Float = Defaults.topP
    @Option(name: .customLong("min-p"), help: "Min-p filter (0 = off).") var minP: Float = Defaults.minP
    @Option(name: .customLong("repeat-penalty"), help: "Repetition penalty (1 = off).") var repeatPenalty: Float = Defaults.repeatPenalty
    @Option(name: .customLong("repeat-last-n"), help: "Recent tokens the repetition penalty looks at.") var repeatLastN: Int = Defaults.repeatLastN
    @Option(help: "Random seed (default: a fresh one each run).") var seed: UInt64?
    @Option(help: "Stop string (repeatable).") var stop: [String] = []
    @Option(help: "When a generated token stops looping: full (depth), confidence (max softmax prob >= --exit-threshold), gate (learned exit gate λ >= --exit-threshold), ouro (Ouro's rule: cumulative exit probability >= --exit-threshold).")
    var exit: String = "full"
    @Option(name: .customLong("exit-threshold"), help: "Threshold of --exit confidence | gate | ouro, in (0, 1].")
    var exitThreshold: Float?

    @Option(name: .customLong("draft-loops"), help: "Speculative decoding: draft with the first N loops of a recursive model (1..B-1; 0 = off). Greedy output is identical to plain decoding.")
    var draftLoops = 0
    @Option(name: .customLong("draft-len"), help: "Drafts per verification pass.") var draftLen = Defaults.draftLength
    @Option(name: .customLong("lookup"), help: "Prompt-lookup drafts: match up to the last N tokens earlier in the context and propose what followed (0 = off; any model).")
    var lookup = 0
    @Option(name: .customLong("draft-gate"), help: "Models with exit gates: stop drafting once the gate after the draft's last loop is below this (0 = never).")
    var draftGate = Defaults.draftGateThreshold
    @Flag(name: .customLong("batch-invariant"), help: "Batch-invariant products for every pass (drafts imply it): plain decoding that speculative decoding equals bit for bit.")
    var batchInvariant = false

    @Flag(name: .customLong("print-params"), help: "Print the sampling, generation and context parameters this run would use, as JSON with the C API's field names, and exit without loading the model.")
    var printParams = false

    var generationOptions: GenerationOptions {
        var options = GenerationOptions()
        options.maxTokens = maxTokens
        options.sampling = SamplingParameters(temperature: temp, topK: topK, topP: topP, minP: minP,
                                              repeatPenalty: repeatPenalty, repeatLastN: repeatLastN,
                                              seed: seed ?? Defaults.seed)
        options.stop = stop
        options.draft = DraftOptions(loops: draftLoops, length: draftLen, lookupNGram: lookup, gateThreshold: draftGate)
        options.batchInvariant = batchInvariant
        return options
    }

    /// --exit and --exit-threshold as a policy.
    func exitPolicy() throws -> ExitPolicy {
        let threshold = { () throws -> Float in
            guard let exitThreshold else { throw CLIError("--exit \(exit) needs --exit-threshold q") }
            return exitThreshold
        }
        switch exit {
        case "full": return .fullDepth
        case "confidence": return .confidence(threshold: try threshold(), minLoops: 1)
        case "gate": return .gate(threshold: try threshold(), minLoops: 1)
        case "ouro": return .ouro(threshold: try threshold())
        default: throw CLIError("unknown --exit '\(exit)' (full, confidence, gate, ouro)")
        }
    }

    func run() throws {
        if printParams {
            print(parametersJSON(generationOptions, common.sessionOptions))
            return
        }
        var options = generationOptions
        options.exitPolicy = try exitPolicy()
        let model = try common.load()
        let session: Session
        do { session = try Session(model: model, options: common.sessionOptions) } catch let e as RTXError { throw CLIError(e.message) }
        var text = prompt
        if chat {
            text = model.chat.render([ChatMessage(role: "user", content: prompt)], addGenerationPrompt: true)
        }
        do {
            if !chat { writeOut(Array(prompt.utf8)) }
            let g = try Generator(session: session, prompt: text, options: options)
            while let item = try g.next() {
                writeOut(item.text)
                if item.token == nil { break }
            }
            writeOut(Array("\n".utf8))
            let pp = Double(g.promptTokenCount) / max(g.promptSeconds, 1e-9)
            let tg = Double(g.generatedCount) / max(g.generateSeconds, 1e-9)
            printErr("prompt: \(g.promptTokenCount) tokens in \(fixed(g.promptSeconds, 3)) s (\(fixed(pp, 1)) tokens/s)")
            printErr("generation: \(g.generatedCount) tokens in \(fixed(g.generateSeconds, 3)) s (\(fixed(tg, 1)) tokens/s), stop: \(g.stopReason), threads \(session.threads)")
            if model.plan.loops > 1, !g.loopsRun.isEmpty {
                let mean = Double(g.loopsRun.reduce(0, +)) / Double(g.loopsRun.count)
                printErr("loops/token: \(fixed(mean, 2)) of \(model.plan.loops) (exit \(exit)), per token: \(g.loopsRun.map(String.init).joined(separator: " "))")
            }
            if generationOptions.draft.isEnabled {
                let st = g.speculativeStats
                printErr("speculative: \(st.rounds) verification rounds with drafts, \(st.drafted) drafted (\(st.lookupDrafted) by prompt lookup), \(st.accepted) accepted: acceptance \(fixed(100 * st.acceptanceRate, 1))%, mean accepted length \(fixed(st.meanAcceptedLength, 2))")
            }
        } catch let e as RTXError { throw CLIError(e.message) }
    }
}

/// The parameters as one JSON object named like rtx_generate_params (its
/// sampling fields flattened) and rtx_context_params.
func parametersJSON(_ g: GenerationOptions, _ s: Session.Options) -> String {
    let p = g.sampling
    let fields: [(String, String)] = [
        ("temperature", "\(p.temperature)"), ("top_k", "\(p.topK)"), ("top_p", "\(p.topP)"), ("min_p", "\(p.minP)"),
        ("repeat_penalty", "\(p.repeatPenalty)"), ("repeat_last_n", "\(p.repeatLastN)"), ("seed", "\(p.seed)"),
        ("max_tokens", "\(g.maxTokens)"), ("add_bos", "\(g.addBOS)"), ("parse_special", "\(g.parseSpecial)"),
        ("stop_at_eos", "\(g.stopAtEndOfGeneration)"),
        ("draft_loops", "\(g.draft.loops)"), ("draft_len", "\(g.draft.length)"), ("lookup_ngram", "\(g.draft.lookupNGram)"),
        ("draft_gate", "\(g.draft.gateThreshold)"), ("batch_invariant", "\(g.batchInvariant)"),
        ("n_ctx", "\(s.contextLength)"), ("n_batch", "\(s.batchSize)"), ("n_threads", "\(s.threads)"),
        ("float_prompts", "\(s.floatPrompts)"),
    ]
    return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
}
