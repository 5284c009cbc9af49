// Inspect.swift — `rtx inspect`: metadata, hyper-parameters, recursion plan, tensors.
import ArgumentParser
import RTX

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a model's metadata, structure and tensors.")

    @Argument(help: "Path to a GGUF file.")
    var path: String = defaultModelPath()

    @Flag(help: "List every tensor.")
    var tensors = false

    func run() throws {
        let gguf: GGUFFile
        do { gguf = try GGUFFile(path: path) } catch let e as RTXError { throw CLIError(e.message) }
        print("file: \(path)  (\(formatCount(gguf.file.size)) bytes, GGUF v\(gguf.version), \(gguf.tensors.count) tensors, alignment \(gguf.alignment))")
        print("metadata:")
        for key in gguf.keys {
            let v = gguf.metadata[key]!
            var text = v.rendered
            if text.count > 120 { text = String(text.prefix(117)) + "..." }
            text = text.replacingNewlines()
            print("  \(key) = \(text)")
        }
        do {
            let model = try Model(path: path)
            let h = model.hyper
            let plan = model.plan
            print("model: \(h.architecture), \(h.layerCount) layers, d=\(h.embeddingLength), ffn=\(h.feedForwardLength), heads=\(h.headCount) (kv \(h.headCountKV)), head_dim=\(h.headDim), vocab=\(h.vocabularySize), rope base \(h.ropeFreqBase)")
            let rec = model.recursion
            print("recursion: strategy \(plan.strategy.rawValue), K=\(plan.storedLayers) stored layers, B=\(plan.loops) loops, L=\(plan.positions) positions\(rec.isRecursive ? "" : " (vanilla)")\(plan.loopEndNorm ? ", final norm at every loop end" : "")\(model.hasExitGates ? ", exit gates" : "")")
            if rec.isRecursive {
                let rank = rec.fullRank ? "full (min(in, out) per module)" : "\(rec.loraRank)"
                print("  init \(rec.initMethod?.rawValue ?? "?"), LoRA rank \(rank), norms \(rec.perPositionNorms ? "per position" : "tied")")
                var shared = 0, lora = 0, norms = 0, embeddings = 0, other = 0
                for t in gguf.tensors {
                    if t.name.hasPrefix("blk.") { shared += t.elementCount }
                    else if t.name.hasPrefix("rtx.lora.") { lora += t.elementCount }
                    else if t.name.hasPrefix("rtx.norm.") { norms += t.elementCount }
                    else if t.name == model.architecture.ggufName(.tokenEmbedding) || t.name == model.architecture.ggufName(.output) { embeddings += t.elementCount }
                    else { other += t.elementCount }
                }
                let total = shared + lora + norms + embeddings + other
                print("  parameters: shared block \(formatCount(shared)), LoRA \(formatCount(lora)), per-position norms \(formatCount(norms)), embeddings/head \(formatCount(embeddings)), other \(formatCount(other)), total \(formatCount(total))")
                if let src = rec.sourceParameters, src > 0 {
                    print("  vs source model (\(formatCount(src)) parameters): \(fixed(Double(total) / Double(src), 3))x total, \(fixed(Double(shared + lora + norms) / Double(max(src - embeddings - other, 1)), 3))x of the non-embedding parameters")
                }
            }
            print("tokenizer: \(model.tokenizer.vocabulary.model) (\(model.tokenizer.vocabulary.preTokenizer)), chat format \(model.chat.format)")
        } catch let e as RTXError {
            print("model: cannot be loaded: \(e.message)")
        }
        var byType: [String: (count: Int, params: Int, bytes: Int)] = [:]
        for t in gguf.tensors {
            var e = byType[t.type.name] ?? (0, 0, 0)
            e.count += 1; e.params += t.elementCount; e.bytes += t.byteCount
            byType[t.type.name] = e
        }
        let total = gguf.tensors.reduce(0) { $0 + $1.elementCount }
        let bytes = gguf.tensors.reduce(0) { $0 + $1.byteCount }
        print("parameters: \(formatCount(total)) in \(formatCount(bytes)) bytes (\(fixed(Double(bytes * 8) / Double(max(total, 1)))) bits/param)")
        for (name, e) in byType.sorted(by: { $0.value.bytes > $1.value.bytes }) {
            print("  \(name): \(e.count) tensors, \(formatCount(e.params)) params, \(formatCount(e.bytes)) bytes")
        }
        if tensors {
            print("tensors:")
            for t in gguf.tensors {
                print("  \(t.name)  \(t.type)  \(t.dims)  offset \(t.offset)  \(t.byteCount) bytes")
            }
        }
    }
}

extension String {
    func replacingNewlines() -> String {
        var out = ""
        for c in self { out += c == "\n" ? "\\n" : String(c) }
        return out
    }
}
