// ExitHead.swift — the exit head (final norm + LM head, after any loop) and what
// its logits say: the top token, its softmax probability (the confidence an exit
// policy thresholds) and the top-1/top-2 margin.
import CRTXKernels

extension BlockForward {
    /// Exit-head logits (n, vocab) of `n` contiguous hidden states at `input`,
    /// which are normalised in place.
    func exitHead(_ input: UnsafeMutablePointer<Float>, rows n: Int, logits: UnsafeMutablePointer<Float>) {
        let d = model.hyper.embeddingLength
        normRows(input, input, model.weights.outputNorm, bias: model.weights.outputNormBias, rows: n, width: d)
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
