// BatchInvarianceTests.swift — the scheduler's batch-invariant mode on the real
// model: a request's logits are bit-identical whether it runs alone or beside 2 or
// 15 others, whoever they are, with their prompt chunks entering beside its decode
// rows (integer products, Sources/CRTXKernels/internal.h). Runs on the active
// kernel path; `RTX_KERNEL_PATH=avx2` or `=scalar` forces the others.
import Testing
@testable import RTX

@Suite(.serialized) struct BatchInvarianceTests {
    /// The target request: a prompt, then teacher-forced tokens (the same tokens in
    /// every run, so every run's logits rows are for the same inputs).
    let prompt: [Int32] = [1, 504, 3458, 282, 4372, 314, 253, 1789]
    let forced: [Int32] = [28, 357, 253, 2373, 30]

    final class Rows: @unchecked Sendable { var bits: [[UInt32]] = [] }

    /// Neighbour prompts of 3-20 tokens from a seeded generator.
    func neighbours(_ n: Int, seed: UInt64, vocab: Int) -> [[Int32]] {
        var rng = RandomSource(seed: seed)
        return (0..<n).map { _ in (0..<(3 + Int(rng.next() % 18))).map { _ in Int32(1 + rng.next() % UInt64(vocab - 1)) } }
    }

    /// The target's logits rows (as bits) through a scheduler of `maxRows` rows; the
    /// neighbours arrive after its first step, so their prompt chunks run beside its
    /// decode rows and the rows in flight change from step to step.
    func targetLogits(_ model: Model, maxRows: Int, neighbours: [[Int32]], invariant: Bool = true) throws -> [[UInt32]] {
        let s = try Scheduler(model: model, options: .init(maxRows: maxRows, prefillChunk: 8, threads: 2, batchInvariant: invariant))
        let rows = Rows()
        let id = try s.submit(prompt: prompt, options: .init(maxTokens: forced.count, exitPolicy: .fullDepth,
                                                              stopAtEndOfGeneration: false, forcedTokens: forced))
        s.logitsTap = { request, logits in if request == id { rows.bits.append(logits.map(\.bitPattern)) } }
        _ = try s.step()
        for n in neighbours {
            _ = try s.submit(prompt: n, options: .init(maxTokens: 4, exitPolicy: .fullDepth, stopAtEndOfGeneration: false))
        }
        while !s.isIdle { _ = try s.step() }
        return rows.bits
    }

    /// Returns the target's logits rows alone.
    @discardableResult
    func checkInvariance(_ model: Model, _ name: String) throws -> [[UInt32]] {
        let vocab = model.hyper.vocabularySize
        let alone = try targetLogits(model, maxRows: 1, neighbours: [])
        #expect(alone.count == forced.count)
        let runs: [(String, Int, [[Int32]])] = [
            ("3 rows", 3, neighbours(2, seed: 1, vocab: vocab)),
            ("16 rows", 16, neighbours(15, seed: 2, vocab: vocab)),
            ("16 rows, other neighbours", 16, neighbours(15, seed: 3, vocab: vocab)),
        ]
        for (label, maxRows, others) in runs {
            let rows = try targetLogits(model, maxRows: maxRows, neighbours: others)
            #expect(rows.count == alone.count)
            for (i, (a, b)) in zip(alone, rows).enumerated() {
                let differ = zip(a, b).filter { $0 != $1 }.count
                #expect(differ == 0, "\(name), \(label): token \(i): \(differ) of \(a.count) logits differ from the run alone")
            }
        }
        return alone
    }

    @Test func vanillaLogitsDoNotDependOnTheBatch() throws {
        guard let path = realModelPath() else { return }
        let model = try Model(path: path)
        let alone = try checkInvariance(model, "vanilla")
        // The check sees batch effects where they exist: without invariance the rows
        // beside the target change its products' rounding (GEMV alone, GEMM among 16).
        let fast = try targetLogits(model, maxRows: 16, neighbours: neighbours(15, seed: 2, vocab: model.hyper.vocabularySize),
                                    invariant: false)
        #expect(fast != alone)
    }

    @Test func recursiveLogitsDoNotDependOnTheBatch() throws {
        guard let path = realModelPath() else { return }
        var o = ConversionOptions()
        o.loops = 2; o.rank = .rank(8); o.perPositionNorms = true; o.sharedType = .q8_0
        let out = temporaryPath("invariance-b2-r8.gguf")
        try Converter.convert(try Model(path: path), to: out, options: o)
        try checkInvariance(try Model(path: out), "recursive B=2 r8")
    }
}
