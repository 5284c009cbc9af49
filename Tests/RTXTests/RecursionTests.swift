// RecursionTests.swift — conversion to recursive models on tiny random Llamas:
// exact full-rank recovery, rank 0 = a vanilla model of repeated shared layers,
// unrolled export = recursive runtime, zero residual = zero delta, and loader
// rejection of inconsistent recursive files.
import Testing
@testable import RTX

@Suite struct RecursionTests {
    let tokens: [Int32] = [5, 17, 260, 99, 100, 3, 42, 255, 258, 7]

    func allLogits(_ path: String) throws -> [[Float]] {
        let s = try Session(model: try Model(path: path), options: .init(contextLength: 32))
        try s.evaluate(tokens, allLogits: true)
        return try tokens.indices.map { Array(try s.logits(at: $0)) }
    }

    func maxRelativeDifference(_ a: [[Float]], _ b: [[Float]]) -> Float {
        var worst: Float = 0
        for (x, y) in zip(a, b) {
            let scale = max(x.map(abs).max()!, 1)
            for (u, v) in zip(x, y) { worst = max(worst, abs(u - v) / scale) }
        }
        return worst
    }

    func convert(_ source: String, _ tag: String, configure: (inout ConversionOptions) -> Void) throws -> String {
        var o = ConversionOptions()
        configure(&o)
        let out = temporaryPath("\(tag).gguf")
        try Converter.convert(try Model(path: source), to: out, options: o)
        return out
    }

    @Test func fullRankWithPerPositionNormsReproducesTheSourceLogits() throws {
        let source = try TinyLlama(layers: 6).write("rec-src")
        for strategy in RecursionPlan.Strategy.allCases {
            let out = try convert(source, "full-\(strategy)") {
                $0.loops = 2; $0.strategy = strategy; $0.rank = .full; $0.perPositionNorms = true
            }
            let diff = maxRelativeDifference(try allLogits(source), try allLogits(out))
            #expect(diff < 1e-4, "\(strategy): max relative logit difference \(diff)")
        }
    }

    @Test func rankZeroEqualsAVanillaModelOfRepeatedSharedLayers() throws {
        let tiny = TinyLlama(layers: 4)
        let source = try tiny.write("rank0-src")
        let recursive = try convert(source, "rank0") { $0.loops = 2; $0.initMethod = .stepwise }
        // Independently: stepwise with L = 4, K = 2 keeps layers round(linspace(0, 3, 2)) = [0, 3],
        // and CYCLE runs them as 0, 3, 0, 3.
        let original = try GGUFFile(path: source)
        var w = GGUFWriter()
        for key in original.keys { w.set(key, original.metadata[key]!) }
        let picks = [0, 3, 0, 3]
        for t in original.tensors {
            let raw = Array(UnsafeRawBufferPointer(start: original.bytes(of: t), count: t.byteCount))
            if !t.name.hasPrefix("blk.") { try w.addTensor(t.name, dims: t.dims, type: t.type, data: raw); continue }
            let parts = t.name.split(separator: ".")
            let layer = Int(parts[1])!
            for (p, src) in picks.enumerated() where src == layer {
                try w.addTensor("blk.\(p)." + parts[2...].joined(separator: "."), dims: t.dims, type: t.type, data: raw)
            }
        }
        let repeated = temporaryPath("repeated.gguf")
        try w.write(to: repeated)
        let diff = maxRelativeDifference(try allLogits(repeated), try allLogits(recursive))
        #expect(diff < 1e-5, "max relative logit difference \(diff)")
    }

    @Test func unrolledExportGivesTheRecursiveRuntimesLogits() throws {
        let source = try TinyLlama(layers: 6).write("export-src")
        let recursive = try convert(source, "export-rec") { $0.loops = 3; $0.rank = .rank(3) }
        let unrolled = temporaryPath("export-unrolled.gguf")
        try Exporter.exportUnrolled(try Model(path: recursive), to: unrolled)
        let model = try Model(path: unrolled)
        #expect(model.plan.isVanilla && model.weights.layers.count == 6)
        let diff = maxRelativeDifference(try allLogits(recursive), try allLogits(unrolled))
        #expect(diff < 1e-4, "max relative logit difference \(diff)")
    }

    @Test func zeroResidualGivesAZeroDelta() throws {
        let source = try TinyLlama(layers: 4).write("zero-src")
        // lower init: shared j = layer j, so positions 0 and 1 equal their shared layer.
        let out = try convert(source, "zero") { $0.loops = 2; $0.initMethod = .lower; $0.rank = .rank(4) }
        let f = try GGUFFile(path: out)
        for p in 0..<4 {
            for short in ["attn_q", "ffn_down"] {
                let a = try #require(f.tensor("rtx.lora.\(p).\(short).a"))
                let values = WeightMatrix(name: a.name, data: f.bytes(of: a), type: a.type, rows: a.rows, columns: a.columns).dequantized()
                let zero = values.allSatisfy { $0 == 0 }
                #expect(zero == (p < 2), "position \(p) \(short): zero delta \(zero)")
            }
        }
    }

    @Test func inspectValuesOfAConvertedModel() throws {
        let source = try TinyLlama(layers: 6).write("meta-src")
        let out = try convert(source, "meta") { $0.loops = 3; $0.strategy = .sequence; $0.initMethod = .stepwise; $0.rank = .rank(2) }
        let m = try Model(path: out)
        #expect(m.plan.storedLayers == 2 && m.plan.loops == 3 && m.plan.strategy == .sequence)
        #expect(m.recursion.initMethod == .stepwise && m.recursion.loraRank == 2 && !m.recursion.perPositionNorms)
        #expect(m.weights.positions[5].lora[.attnQ]?.rank == 2)
    }

    /// Rewrite a GGUF with changed metadata and without some tensors.
    func rewrite(_ path: String, _ tag: String, set: [String: GGUFValue] = [:], drop: Set<String> = []) throws -> String {
        let f = try GGUFFile(path: path)
        var w = GGUFWriter()
        for key in f.keys { w.set(key, set[key] ?? f.metadata[key]!) }
        for (k, v) in set where f.metadata[k] == nil { w.set(k, v) }
        for t in f.tensors where !drop.contains(t.name) {
            try w.addTensor(t.name, dims: t.dims, type: t.type,
                            data: Array(UnsafeRawBufferPointer(start: f.bytes(of: t), count: t.byteCount)))
        }
        let out = temporaryPath("\(tag).gguf")
        try w.write(to: out)
        return out
    }

    @Test func inconsistentRecursiveFilesAreRejectedWithClearErrors() throws {
        let source = try TinyLlama(layers: 6).write("bad-src")
        let good = try convert(source, "bad-good") { $0.loops = 2; $0.rank = .rank(2) }
        let cases: [(String, [String: GGUFValue], Set<String>, RTXErrorCode, String)] = [
            ("kb", [RecursiveKeys.uniqueLayers: .uint32(4)], [], .format, "K·B must equal L"),
            ("loops", [RecursiveKeys.loops: .uint32(4)], [], .format, "do not divide"),
            ("strategy", [RecursiveKeys.strategy: .string("spiral")], [], .format, "unknown recursion strategy"),
            ("rank", [RecursiveKeys.loraRank: .uint32(3)], [], .format, "LoRA rank 3"),
            ("missing", [:], ["rtx.lora.4.ffn_up.b"], .format, "rtx.lora.4.ffn_up.b"),
            ("version", [RecursiveKeys.formatVersion: .uint32(99)], [], .unsupported, "version 99"),
            ("source", [RecursiveKeys.sourceLayers: .uint32(8)], [], .format, "source_layers"),
        ]
        for (tag, set, drop, code, text) in cases {
            let path = try rewrite(good, "bad-\(tag)", set: set, drop: drop)
            let e = try #require(throws: RTXError.self, "\(tag)") { _ = try Model(path: path) }
            #expect(e.code == code, "\(tag): \(e.message)")
            #expect(e.message.contains(text), "\(tag): \(e.message)")
        }
    }

    @Test func stepwiseInitPicksNumPysRoundedLinspace() throws {
        // np.round(np.linspace(0, 29, 15)) = 0 2 4 6 8 10 12 15 17 19 21 23 25 27 29: NumPy computes
        // 7 × (29 / 14) = 14.500000000000002, which rounds up.
        let plan = try RecursionPlan(strategy: .cycle, positions: 30, loops: 2)
        #expect((0..<15).map { Converter.initSources(plan: plan, method: .stepwise, layer: $0)[0] }
                == [0, 2, 4, 6, 8, 10, 12, 15, 17, 19, 21, 23, 25, 27, 29])
        let six = try RecursionPlan(strategy: .cycle, positions: 6, loops: 2)
        #expect((0..<3).map { Converter.initSources(plan: six, method: .stepwise, layer: $0)[0] } == [0, 2, 5])
        #expect(Converter.initSources(plan: six, method: .average, layer: 1) == [1, 4])
    }
}
