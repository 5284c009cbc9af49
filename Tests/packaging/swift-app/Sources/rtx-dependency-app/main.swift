// main.swift — greedy continuation of a prompt through RTXEngine, as an app that
// depends on RTX by URL would write it. Prints only the generated text.
//   rtx-dependency-app model.gguf prompt max-tokens
import RTX

let arguments = CommandLine.arguments
guard arguments.count == 4, let maxTokens = Int(arguments[3]) else {
    fatalError("usage: rtx-dependency-app model.gguf prompt max-tokens")
}
let model = try Model(path: arguments[1])
let session = try Session(model: model, options: .init(contextLength: 256))
var options = GenerationOptions()
options.maxTokens = maxTokens
options.sampling = .greedy
options.stopAtEndOfGeneration = false
let generator = try Generator(session: session, prompt: arguments[2], options: options)
var text: [UInt8] = []
while let item = try generator.next() {
    text += item.text
    if item.token == nil { break }
}
print(String(decoding: text, as: UTF8.self), terminator: "")
