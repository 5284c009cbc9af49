// main.swift — using RTX from a Swift app: load a model, chat-format a prompt,
// stream a greedy completion.  swift run rtx-swift-example [model.gguf] [prompt]
import RTX

let args = CommandLine.arguments
let path = args.count > 1 ? args[1] : ".models/SmolLM2-135M-Instruct.Q4_1.gguf"
let question = args.count > 2 ? args[2] : "Name three colours of the rainbow."

do {
    let model = try Model(path: path)
    let session = try Session(model: model, options: .init(contextLength: 1024))
    let prompt = model.chat.render([ChatMessage(role: "user", content: question)], addGenerationPrompt: true)
    var options = GenerationOptions()
    options.maxTokens = 64
    options.sampling = .greedy
    let generator = try Generator(session: session, prompt: prompt, options: options)
    var text: [UInt8] = []
    while let item = try generator.next() {
        text += item.text
        print(String(decoding: item.text, as: UTF8.self), terminator: "")
        if item.token == nil { break }
    }
    print("\n[\(generator.generatedCount) tokens, \(generator.stopReason)]")
} catch {
    print("error: \(error)")
    exit(1)
}

#if canImport(Glibc)
import Glibc
#endif
