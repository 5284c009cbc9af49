// ExitGateTests.swift — learned exit gates: the rtx.gate.* tensors (read, validated,
// refused when malformed), λ_b = σ(w_b · norm(h) + c_b) against a direct
// computation, and the gate exit policy in the scheduler (exits where λ says,
// batch-invariant, the LM head skipped for rows that go on). No trained gates
// exist in the test data, so each test writes its own into a copy of a model.
@testable import RTX
import CRTXKernels
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A tensor to add to a copied GGUF: f32 values, or raw bytes of another type.
struct ExtraTensor {
    var name: String
    var dims: [Int]
    var type: TensorType = .f32
    var values: [Float]
}

/// A copy of the GGUF at `path` (metadata and tensors byte for byte) without the
/// tensors in `dropping`, plus `extra`.
func rewrittenGGUF(_ path: String, adding extra: [ExtraTensor], dropping: Set<String> = [], tag: String) throws -> String {
    let gguf = try GGUFFile(path: path)
    var w = GGUFWriter()
    w.alignment = gguf.alignment
    for key in gguf.keys where key != "general.alignment" { w.set(key, gguf.metadata[key]!) }
    for t in gguf.tensors where !dropping.contains(t.name) {
        try w.addTensor(t.name, dims: t.dims, type: t.type, data: Array(UnsafeRawBufferPointer(start: gguf.bytes(of: t), count: t.byteCount)))
    }
    for t in extra { try w.addTensor(t.name, dims: t.dims, values: t.values, as: t.type) }
    let out = temporaryPath("\(tag).gguf")
    try w.write(to: out)
    return out
}

/// Gate tensors for loops 0..<weights.count: rtx.gate.{b}.weight (d) and .bias (1).
func gateTensors(weights: [[Float]], biases: [Float]) -> [ExtraTensor] {
    zip(weights, biases).enumerated().flatMap { b, gate in
        [ExtraTensor(name: RecursiveTensorNames.gateWeight(afterLoop: b), dims: [gate.0.count], values: gate.0),
         ExtraTensor(name: RecursiveTensorNames.gateBias(afterLoop: b), dims: [1], values: [gate.1])]
    }
}

/// The tiny B-loop recursive model (d = 64) with a gate after every loop but the
/// last: random weights in ±weightScale (seeded), and `bias` on every gate.
func tinyGated(loops: Int = 3, weightScale: Float = 0.5, bias: Float = 0, tag: String) throws -> Model {
    let base = try tinyRecursive(loops: loops, tag: tag)
    let d = base.hyper.embeddingLength
    var rng = RandomSource(seed: 7)
    let weights = (0..<(loops - 1)).map { _ in (0..<d).map { _ in Float(rng.uniform() * 2 - 1) * weightScale } }
    let path = try rewrittenGGUF(base.gguf!.path, adding: gateTensors(weights: weights, biases: Array(repeating: bias, count: loops - 1)),
                                 tag: "\(tag)-gated")
    return try Model(path: path)
}

/// λ computed directly: RMSNorm with the final norm's weights, dot with w, + c, sigmoid.
func directGate(_ model: Model, hidden: [Float], afterLoop b: Int) -> Float {
    let g = model.weights.exitGates[b]
    let w = g.weight.dequantized()
    let ms = hidden.reduce(Float(0)) { $0 + $1 * $1 } / Float(hidden.count)
    let scale = 1 / (ms + model.hyper.normEpsilon).squareRoot()
    var z = Double(g.bias)
    for i in hidden.indices { z += Double(hidden[i] * scale * model.weights.outputNorm[i]) * Double(w[i]) }
    return Float(1 / (1 + exp(-z)))
}

@Suite struct ExitGateFormatTests {
    @Test func gatesAreReadAfterEveryLoopButTheLastAndOldFilesHaveNone() throws {
        let model = try tinyGated(tag: "gate-read")
        #expect(model.hasExitGates && model.weights.exitGates.count == 2)
        #expect(model.weights.exitGates.map(\.bias) == [0, 0])
        #expect(model.weights.exitGates.allSatisfy { $0.weight.rows == 1 && $0.weight.columns == 64 && $0.weight.type == .f32 })
        #expect(!(try tinyRecursive(tag: "gate-none")).hasExitGates)
    }

    /// Each malformed set is refused with a format error naming the culprit tensor.
    @Test(arguments: ["missing", "dims", "nan", "type", "stray"])
    func malformedGatesAreFormatErrorsNamingTheTensor(_ defect: String) throws {
        let base = try tinyRecursive(loops: 3, tag: "gate-bad-\(defect)")
        let d = base.hyper.embeddingLength
        let w = [Float](repeating: 0.1, count: d)
        var extra = gateTensors(weights: [w, w], biases: [0, 0])
        let culprit: String
        switch defect {
        case "missing":
            culprit = RecursiveTensorNames.gateBias(afterLoop: 1)
            extra.removeAll { $0.name == culprit }
        case "dims":
            culprit = RecursiveTensorNames.gateWeight(afterLoop: 1)
            extra[2] = ExtraTensor(name: culprit, dims: [d / 2], values: Array(w.prefix(d / 2)))
        case "nan":
            culprit = RecursiveTensorNames.gateWeight(afterLoop: 0)
            extra[0].values[5] = .nan
        case "type":
            culprit = RecursiveTensorNames.gateWeight(afterLoop: 0)
            extra[0].type = .f16
        default:
            culprit = RecursiveTensorNames.gateWeight(afterLoop: 2)  // B = 3: no gate follows the last loop
            extra += gateTensors(weights: [w, w, w], biases: [0, 0, 0]).suffix(2)
        }
        let path = try rewrittenGGUF(base.gguf!.path, adding: extra, tag: "gate-bad-\(defect)")
        do {
            _ = try Model(path: path)
            Issue.record("\(defect): the model loaded")
        } catch let e as RTXError {
            #expect(e.code == .format && e.message.contains("'\(culprit)'"), "\(defect): \(e.code) \(e.message)")
        }
    }

    @Test func gatePolicyNeedsGatesAndAThresholdInZeroOne() throws {
        let plain = try tinyRecursive(tag: "gate-policy")
        let s = try Scheduler(model: plain, options: .init(maxRows: 2))
        do {
            _ = try s.submit(prompt: [5, 6], options: .init(exitPolicy: .gate(threshold: 0.5, minLoops: 1)))
            Issue.record("a gate policy was accepted for a model without gates")
        } catch let e as RTXError {
            #expect(e.code == .invalidArgument && e.message.contains("this model has no exit gates (train them with python -m rtx.train --train gates)"))
        }
        for t: Float in [0, -0.1, 1.5, .nan] {
            #expect(throws: RTXError.self, "threshold \(t)") {
                try ExitPolicy.gate(threshold: t, minLoops: 1).validate(loops: 3, hasExitGates: true)
            }
        }
        try ExitPolicy.gate(threshold: 1, minLoops: 1).validate(loops: 3, hasExitGates: true)
    }
}

@Suite struct ExitGateTests {
    @Test func steppedLoopsReportTheGateOfADirectNormDotSigmoid() throws {
        let model = try tinyGated(weightScale: 0.1, bias: 0.3, tag: "gate-step")
        let s = try Session(model: model, options: .init(contextLength: 32))
        try s.evaluate([5, 17, 260, 99])
        try s.beginToken(42)
        for b in 0..<2 {
            let r = try s.stepLoop()
            let lambda = try #require(r.gate, "loop \(b)")
            let direct = directGate(model, hidden: s.pendingHiddenState(), afterLoop: b)
            #expect(abs(lambda - direct) < 1e-5, "loop \(b): engine \(lambda), direct \(direct)")
            #expect(lambda > 0.01 && lambda < 0.99, "a gate in its sensitive range: \(lambda)")
        }
        let last = try s.stepLoop()
        #expect(last.isLast && last.gate == nil)
        let plain = try Session(model: try tinyRecursive(tag: "gate-step-plain"), options: .init(contextLength: 32))
        try plain.evaluate([5, 17])
        try plain.beginToken(42)
        #expect(try plain.stepLoop().gate == nil)
    }

    /// Several rows after different loops in one call: each equals the direct λ.
    @Test func gatesOfManyRowsAfterDifferentLoopsEqualTheDirectComputation() throws {
        let model = try tinyGated(bias: -0.2, tag: "gate-rows")
        let d = model.hyper.embeddingLength
        let core = LoopStep(model: model, rows: 6, fillRows: 0)
        var rng = RandomSource(seed: 5)
        let hidden = (0..<6).map { _ in (0..<d).map { _ in Float(rng.uniform() * 4 - 2) } }
        for (i, h) in hidden.enumerated() { h.withUnsafeBufferPointer { (core.scratch.x + i * d).update(from: $0.baseAddress!, count: d) } }
        let rows = [0, 2, 3, 5, 1], loops = [0, 0, 1, 1, 0]
        var out = [Float](repeating: 0, count: rows.count)
        for products in [KernelOptions.Products.fast, .rowwise] {
            out.withUnsafeMutableBufferPointer {
                core.exitGates(rows: rows, afterLoops: loops, kernels: KernelOptions(threads: 2, products: products), into: $0.baseAddress!)
            }
            for i in rows.indices {
                let direct = directGate(model, hidden: hidden[rows[i]], afterLoop: loops[i])
                #expect(abs(out[i] - direct) < 1e-5, "\(products) row \(rows[i]) after loop \(loops[i]): \(out[i]) vs \(direct)")
            }
        }
    }

    func run(_ model: Model, _ policy: ExitPolicy, maxTokens: Int = 8) throws -> (Scheduler.RequestResult, SchedulerStats) {
        let s = try Scheduler(model: model, options: .init(maxRows: 4))
        let id = try s.submit(prompt: [5, 17, 260, 99], options: .init(maxTokens: maxTokens, exitPolicy: policy, stopAtEndOfGeneration: false))
        _ = try s.runToCompletion()
        return (try #require(s.takeResult(id)), s.stats)
    }

    /// Bias +20 (λ ≈ 1): every generated token leaves after loop 1 and the LM head
    /// runs once per token; bias −20 (λ ≈ 0): none leaves early, and the head still
    /// runs once per token — never for a row that goes on — while the gate runs
    /// after loops 1 and 2.
    @Test func gateBiasDecidesTheExitAndContinuingRowsNeverRunTheLMHead() throws {
        let open = try tinyGated(bias: 20, tag: "gate-open")
        let (early, earlyStats) = try run(open, .gate(threshold: 0.5, minLoops: 1))
        // The first token comes from the prompt at full depth.
        #expect(early.exitLoops.first == 3 && early.exitLoops.dropFirst().allSatisfy { $0 == 1 }, "\(early.exitLoops)")
        #expect(earlyStats.headRows == 8 && earlyStats.gateRows == 7, "head \(earlyStats.headRows), gate \(earlyStats.gateRows)")
        let (late, _) = try run(open, .gate(threshold: 0.5, minLoops: 2))
        #expect(late.exitLoops.dropFirst().allSatisfy { $0 == 2 }, "minLoops 2: \(late.exitLoops)")

        let shut = try tinyGated(bias: -20, tag: "gate-shut")
        let (full, fullStats) = try run(shut, .gate(threshold: 0.5, minLoops: 1))
        #expect(full.exitLoops.allSatisfy { $0 == 3 }, "\(full.exitLoops)")
        #expect(fullStats.headRows == 8 && fullStats.gateRows == 14, "head \(fullStats.headRows), gate \(fullStats.gateRows)")
        // The same tokens as full depth; oracle measurement, which reads the head
        // after every loop, runs it 1 + 7 × 3 times.
        let (reference, _) = try run(shut, .fullDepth)
        #expect(full.tokens == reference.tokens)
        let (measured, measuredStats) = try run(shut, .measureOracle)
        #expect(measured.exitLoops.allSatisfy { $0 == 3 })
        #expect(measuredStats.headRows == 22 && measuredStats.gateRows == 0, "head \(measuredStats.headRows)")
    }
}

extension SchedulerTests {
    /// Gates near their threshold (bias 0, λ spread around 0.5) make a mix of exits;
    /// every request's tokens and exit loops equal its solo run for any batch size
    /// and arrival order, and the scheduler's exit histogram is theirs.
    @Test func withGateExitsEveryRequestEqualsItsSoloRunAndTheHistogramMatches() throws {
        let model = try tinyGated(weightScale: 0.5, bias: 0, tag: "gate-sched")
        let o = RequestOptions(maxTokens: 6, sampling: .greedy, exitPolicy: .gate(threshold: 0.5, minLoops: 1), stopAtEndOfGeneration: false)
        let all = prompts(8, seed: 3)
        let solo = try all.map { try runAlone(model, $0, o) }
        var soloHistogram = [0, 0, 0]
        for r in solo { for l in r.exitLoops { soloHistogram[l - 1] += 1 } }
        #expect(soloHistogram.filter { $0 > 0 }.count >= 2, "the gates must make a mix of exits: \(soloHistogram)")
        var rng = RandomSource(seed: 11)
        for maxRows in [2, 5, 16] {
            let (results, stats) = try runWithRandomArrivals(model, all, o, maxRows: maxRows, rng: &rng)
            #expect(results.count == all.count)
            for (i, r) in results {
                #expect(r.tokens == solo[i].tokens && r.exitLoops == solo[i].exitLoops, "maxRows \(maxRows), request \(i)")
            }
            #expect(stats.exitHistogram == soloHistogram, "maxRows \(maxRows)")
        }
    }
}
