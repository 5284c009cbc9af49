// fuzz-tokenizer — both tokenizers (byte-level BPE: SmolLM2; SentencePiece:
// Gemma 3, from the real models in RTX_FUZZ_MODELS) and the chat formats.
// The first byte picks the operation, the rest is its input:
//   0  encode as text (specials parsed or not); BPE must round-trip it when
//      every byte of it has a token (SmolLM2's vocabulary lacks 21 of the 256
//      byte tokens; like llama.cpp, RTX drops such bytes)
//   1  decode the rest as little-endian u16 ids (mod the vocabulary)
//   2  render the rest as chat messages (split at NUL) in every format, and
//      detect a format from it as a template
import FuzzSupport
import RTX

let models = ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m.Q4_K_M.gguf"].map {
    do { return try Model(path: Fuzz.modelsDirectory + "/" + $0) } catch { fatalError("\(error) (run make models)") }
}
/// Bytes whose GPT-2 byte-level character is a token of the BPE vocabulary.
let bpeBytes: Set<UInt8> = {
    let tokens = Set(models[0].tokenizer.vocabulary.tokens)
    var next: UInt32 = 256
    var have = Set<UInt8>()
    for byte in 0..<256 {
        let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
        let scalar = printable ? Unicode.Scalar(UInt8(byte)) : Unicode.Scalar(next)!
        if !printable { next += 1 }
        if tokens.contains(String(scalar)) { have.insert(UInt8(byte)) }
    }
    return have
}()
let formats: [ChatFormat] = [.chatML, .gemma, .llama3, .plain]
let roles = ["system", "user", "assistant", "tool"]

Fuzz.run { bytes in
    guard let op = bytes.first else { return }
    let rest = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
    let text = String(decoding: rest, as: UTF8.self)
    switch op % 3 {
    case 0:
        for (i, model) in models.enumerated() {
            let special = model.tokenizer.encode(text, addBOS: true, parseSpecial: true)
            precondition(special.allSatisfy { $0 >= 0 && Int($0) < model.vocabularySize })
            let plain = model.tokenizer.encode(text, addBOS: false, parseSpecial: false)
            if i == 0 && text.utf8.allSatisfy(bpeBytes.contains) {   // byte-level BPE is lossless
                precondition(model.tokenizer.decode(plain) == Array(text.utf8), "BPE round trip differs")
            }
        }
    case 1:
        for model in models {
            let n = UInt32(model.vocabularySize)
            var ids: [Int32] = []
            var i = 0
            while i + 1 < rest.count {
                ids.append(Int32((UInt32(rest[i]) | UInt32(rest[i + 1]) << 8) % n))
                i += 2
            }
            _ = model.tokenizer.decode(ids, renderSpecial: op & 0x80 != 0)
        }
    default:
        let pieces = text.split(separator: "\0", omittingEmptySubsequences: false)
        let messages = pieces.enumerated().map { ChatMessage(role: roles[$0.offset % roles.count], content: String($0.element)) }
        for format in formats {
            _ = ChatTemplate(format: format).render(messages, addGenerationPrompt: true)
        }
        // The text as a chat template (format markers, ChatML's default system
        // prompt). SmolLM2's vocabulary only: a template without markers makes
        // detection scan the vocabulary, 262k tokens for Gemma 3 (once per load
        // in the product, per input here).
        _ = ChatTemplate(template: text, vocabulary: models[0].tokenizer.vocabulary).render(messages)
    }
}
