// fuzz-gguf — the GGUF reader and model binding: every architecture's reader,
// the recursive-checkpoint binding (LoRA, gates, plans), the GGUF vocabulary
// and tokenizer construction; a model that loads then runs one short
// evaluation, so tensor shapes the binding accepted are exercised by the kernels.
// Seeds: Tests/hardening/make_seeds.py (tiny models of every architecture written
// by the project's writers, a recursive conversion, and the hostile corpus).
import FuzzSupport
import RTX

let file = MemoryFile(name: "fuzz.gguf")
Fuzz.run { bytes in
    file.write(bytes)
    Fuzz.expectingErrors {
        let model = try Model(path: file.path)
        let ids = model.tokenizer.encode("Hi 12 ä", addBOS: true, parseSpecial: true)
        _ = model.tokenizer.decode(ids)
        let session = try Session(model: model, options: .init(contextLength: 8, batchSize: 4, threads: 1))
        try session.evaluate(Array(ids.prefix(3)).map { min(max($0, 0), Int32(model.vocabularySize - 1)) })
    }
}
