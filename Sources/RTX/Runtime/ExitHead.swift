// ExitHead.swift — the exit head (final norm + LM head, after any loop) and what
// its logits say: the top token, its softmax probability (the confidence an exit
// policy thresholds) and the top-1/top-2 margin; and beside it the learned exit
// gates, the cheap exit signal: λ_b = σ(w_b · norm(h) + c_b) after loop b, the
// same final norm, then d multiply-adds per row instead of the LM head. With the
// plan's loop-end norm (Ouro) the state already left its loop through the final
// norm: head and gates read it as it is (logits = lm_head(norm(h)), not norm twice).
import CRTXKernels

extension Model {
    /// Whether the checkpoint carries learned exit gates (one after each loop but the last).
    public var hasExitGates: Bool { !weights.exitGates.isEmpty }
}

extension BlockForward {
    /// Exit-gate probabilities λ of `n` contiguous hidden states at `input`, which
    /// are normalised in place (the exit head's final norm; already applied with a
    /// loop-end norm). `runs` covers rows
    /// 0..<n: each run of rows after the same loop goes through that loop's gate
    /// in one (rows, d) · (d) product; λ[i] lands in `out[i]`.
    func exitGates(_ input: UnsafeMutablePointer<Float>, rows n: Int, runs: [(gate: ExitGate, rows: Range<Int>)],
                   into out: UnsafeMutablePointer<Float>) {
        let d = model.hyper.embeddingLength
        if !model.plan.loopEndNorm {
            normRows(input, input, model.weights.outputNorm, bias: model.weights.outputNormBias, rows: n, width: d)
        }
        for (gate, rows) in runs where !rows.isEmpty {
            linear(out + rows.lowerBound, input + rows.lowerBound * d, rows: rows.count, gate.weight)
            for i in rows { out[i] = 1 / (1 + expf(-(out[i] + gate.bias))) }
        }
    }

    /// Exit-head logits (n, vocab) of `n` contiguous hidden states at `input`,
    /// which are normalised in place (unless a loop-end norm already did).
    func exitHead(_ input: UnsafeMutablePointer<Float>, rows n: Int, logits: UnsafeMutablePointer<Float>) {
        let d = model.hyper.embeddingLength
        if !model.plan.loopEndNorm {
            normRows(input, input, model.weights.outputNorm, bias: model.weights.outputNormBias, rows: n, width: d)
        }
        linear(logits, input, rows: n, model.weights.output)
        if model.hyper.finalSoftcap > 0 {
            rtxk_softcap(logits, Int64(n * model.weights.output.rows), model.hyper.finalSoftcap, exec)
        }
    }
}

public struct ExitEstimate: Sendable, Equatable {
    public var top: Int32
    /// max softmax probability, in (0, 1].
    public var confidence: Float
    /// top-1 minus top-2 probability.
    public var margin: Float

    public init(logits: UnsafeBufferPointer<Float>) {
        var best = 0, second = -1
        for i in 1..<logits.count {
            if logits[i] > logits[best] { second = best; best = i } else if second < 0 || logits[i] > logits[second] { second = i }
        }
        if second < 0 { second = best }
        let m = logits[best]
        var sum: Float = 0
        for l in logits { sum += expf(l - m) }
        top = Int32(best)
        confidence = 1 / sum
        margin = (1 - expf(logits[second] - m)) / sum
    }
}

/// −log softmax(logits)[target], accumulated in double.
public func negativeLogLikelihood(_ logits: UnsafeBufferPointer<Float>, target: Int) -> Double {
    var m = -Float.infinity
    for l in logits where l > m { m = l }
    var sum = 0.0
    for l in logits { sum += exp(Double(l - m)) }
    return log(sum) - Double(logits[target] - m)
}

#if canImport(Glibc)
import Glibc
#endif
