// fuzz-hf — the Hugging Face folder loader: config.json (every family's keys),
// model.safetensors (header JSON, dtypes, offsets, shapes) and tokenizer.json.
// One input carries the three files, split at Parts.separator; an empty part
// means the file is absent. A model that loads runs one short evaluation.
import FuzzSupport
import RTX

let folder = ScratchFolder(name: "hf")
let names = ["config.json", "model.safetensors", "tokenizer.json"]
Fuzz.run { bytes in
    for (name, part) in zip(names, Parts.split(bytes, count: names.count)) {
        if part.isEmpty { folder.remove(name) } else { folder.write(name, part) }
    }
    Fuzz.expectingErrors {
        let model = try Model(path: folder.path)
        // Letters, digits, apostrophes, punctuation, CJK, emoji and whitespace runs for
        // the tokenizer.json pre_tokenizer pipelines and regexes to split; decomposed
        // letters and a singleton (U+212B) for an NFC normalizer to compose.
        let ids = model.tokenizer.encode("Hi 12345 it'S x,y!! 中文 🙂 e\u{301}\u{212B}\r\n\n  z ", addBOS: true, parseSpecial: false)
        let session = try Session(model: model, options: .init(contextLength: 8, batchSize: 4, threads: 1))
        try session.evaluate(Array(ids.prefix(2)).map { min(max($0, 0), Int32(model.vocabularySize - 1)) })
    }
}
