// Generate.swift — `rtx generate`: stream a completion and report tokens/s.
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
    var maxTokens: Int = 128

    @Option(help: "Temperature (0 = greedy).") var temp: Float = 0.8
    @Option(name: .customLong("top-k")) var topK: Int = 40
    @Option(name: .customLong("top-p")) var topP: Float = 0.95
    @Option(name: .customLong("min-p")) var minP: Float = 0.05
    @Option(name: .customLong("repeat-penalty")) var repeatPenalty: Float = 1.0
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Option(help: "Stop string (repeatable).") var stop: [String] = []

    func run() throws {
        let model = try common.load()
        let session: Session
        do {
            session = try Session(model: model, options: .init(contextLength: common.ctx, batchSize: common.batch, threads: common.threads,
                                                                 floatPrompts: common.floatPrompts))
        } catch let e as RTXError { throw CLIError(e.message) }
        var text = prompt
        if chat {
            text = model.chat.render([ChatMessage(role: "user", content: prompt)], addGenerationPrompt: true)
        }
        var options = GenerationOptions()
        options.maxTokens = maxTokens
        options.sampling = SamplingParameters(temperature: temp, topK: topK, topP: topP, minP: minP,
                                              repeatPenalty: repeatPenalty, seed: seed)
        options.stop = stop
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
        } catch let e as RTXError { throw CLIError(e.message) }
    }
}
