// Sampler.swift — token selection from logits: repetition penalty, then greedy or
// temperature with top-k, top-p and min-p filters. Seeded, so reproducible.

public struct SamplingParameters: Sendable, Equatable {
    public var temperature = Defaults.temperature       // <= 0: greedy
    public var topK = Defaults.topK                     // <= 0: off
    public var topP = Defaults.topP                     // >= 1: off
    public var minP = Defaults.minP                     // <= 0: off
    public var repeatPenalty = Defaults.repeatPenalty   // 1: off
    public var repeatLastN = Defaults.repeatLastN
    public var seed = Defaults.seed                     // randomSeed: a fresh one per sampler

    /// The seed value that asks for a fresh seed from the system's entropy
    /// (C: RTX_SEED_RANDOM).
    public static let randomSeed = UInt64.max

    public init(temperature: Float = Defaults.temperature, topK: Int = Defaults.topK, topP: Float = Defaults.topP,
                minP: Float = Defaults.minP, repeatPenalty: Float = Defaults.repeatPenalty,
                repeatLastN: Int = Defaults.repeatLastN, seed: UInt64 = Defaults.seed) {
        self.temperature = temperature; self.topK = topK; self.topP = topP; self.minP = minP
        self.repeatPenalty = repeatPenalty; self.repeatLastN = repeatLastN; self.seed = seed
    }

    public static let greedy = SamplingParameters(temperature: 0)

    public func validate() throws {
        guard temperature.isFinite else { throw RTXError.invalid("temperature \(temperature) is not finite") }
        guard topP.isFinite, topP > 0 else { throw RTXError.invalid("top_p \(topP) must be > 0") }
        guard minP.isFinite, minP < 1 else { throw RTXError.invalid("min_p \(minP) must be < 1") }
        guard repeatPenalty.isFinite, repeatPenalty > 0 else { throw RTXError.invalid("repeat_penalty \(repeatPenalty) must be > 0") }
        guard repeatLastN >= 0 else { throw RTXError.invalid("repeat_last_n \(repeatLastN) must be >= 0") }
    }
}

/// SplitMix64-seeded xoshiro256** generator.
public struct RandomSource: Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func next() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (next(), next(), next(), next())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3; s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

/// The tokens a sampler may draw and their weights (unnormalised; `total` is
/// their sum), in the sampler's order. Greedy: the argmax alone.
public struct TokenDistribution: Sendable {
    public var ids: [Int32]
    public var weights: [Double]
    public var total: Double
    /// The argmax of greedy decoding: drawn without randomness.
    public var greedy = false

    public init(ids: [Int32], weights: [Double], total: Double? = nil, greedy: Bool = false) {
        self.ids = ids; self.weights = weights; self.total = total ?? weights.reduce(0, +); self.greedy = greedy
    }

    /// The probability of `token` (0 if it cannot be drawn).
    public func probability(of token: Int32) -> Double {
        guard let i = ids.firstIndex(of: token), total > 0 else { return 0 }
        return weights[i] / total
    }
}

public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var rng: RandomSource
    /// Recent tokens (prompt and generated), for the repetition penalty.
    public private(set) var history: [Int32] = []
    private var candidates: [(id: Int32, logit: Float)] = []

    public init(_ parameters: SamplingParameters) throws {
        try parameters.validate()
        self.parameters = parameters
        let seed = parameters.seed == SamplingParameters.randomSeed ? UInt64.random(in: 0..<UInt64.max) : parameters.seed
        self.rng = RandomSource(seed: seed)
    }

    public mutating func accept(_ token: Int32) {
        history.append(token)
        let keep = max(parameters.repeatLastN, 1) * 4
        if history.count > keep * 2 { history.removeFirst(history.count - keep) }
    }

    /// Choose a token from `logits` and add it to the history.
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        let token = draw(distribution(logits))
        accept(token)
        return token
    }

    /// What `sample` draws from for `logits`: the repetition penalty over the
    /// history followed by `pending` (tokens decided but not yet accepted: a
    /// speculative draft), then greedy's argmax alone, or the tokens that survive
    /// top-k / min-p / top-p with their softmax weights at the temperature.
    public mutating func distribution(_ logits: UnsafeBufferPointer<Float>, after pending: [Int32] = []) -> TokenDistribution {
        let p = parameters
        candidates.removeAll(keepingCapacity: true)
        candidates.reserveCapacity(logits.count)
        for (i, l) in logits.enumerated() { candidates.append((Int32(i), l)) }
        if p.repeatPenalty != 1, p.repeatLastN > 0 {
            for t in Set((history + pending).suffix(p.repeatLastN)) where Int(t) < candidates.count {
                let l = candidates[Int(t)].logit
                candidates[Int(t)].logit = l > 0 ? l / p.repeatPenalty : l * p.repeatPenalty
            }
        }
        if p.temperature <= 0 {
            var best = 0
            for i in 1..<candidates.count where candidates[i].logit > candidates[best].logit { best = i }
            return TokenDistribution(ids: [candidates[best].id], weights: [1], greedy: true)
        }
        return stochastic(p)
    }

    /// A token drawn from `d` (greedy: its one token, without using the random source).
    public mutating func draw(_ d: TokenDistribution) -> Int32 {
        if d.greedy { return d.ids[0] }
        var r = rng.uniform() * d.total
        for (i, q) in d.weights.enumerated() {
            r -= q
            if r < 0 { return d.ids[i] }
        }
        return d.ids[d.weights.count - 1]
    }

    /// Uniform in [0, 1) from this sampler's random source (speculative acceptance).
    mutating func uniform() -> Double { rng.uniform() }

    private mutating func stochastic(_ p: SamplingParameters) -> TokenDistribution {
        // Top-k (and a sort that top-p needs anyway).
        let k = p.topK > 0 ? min(p.topK, candidates.count) : candidates.count
        if k < candidates.count {
            candidates = Array(partialTopK(candidates, k))
        } else {
            candidates.sort { $0.logit > $1.logit }
        }
        // Softmax with temperature.
        let maxLogit = candidates[0].logit
        var probs = candidates.map { Double(($0.logit - maxLogit) / p.temperature) }.map { exp($0) }
        var total = probs.reduce(0, +)
        // Min-p: drop tokens below min_p × the top probability.
        if p.minP > 0 {
            let floor = probs[0] * Double(p.minP)
            var keep = probs.count
            while keep > 1 && probs[keep - 1] < floor { keep -= 1 }
            probs.removeLast(probs.count - keep)
            total = probs.reduce(0, +)
        }
        // Top-p: smallest prefix whose mass reaches top_p.
        if p.topP < 1 {
            var acc = 0.0
            var keep = probs.count
            for (i, q) in probs.enumerated() {
                acc += q / total
                if acc >= Double(p.topP) { keep = i + 1; break }
            }
            probs.removeLast(probs.count - keep)
            total = probs.reduce(0, +)
        }
        return TokenDistribution(ids: candidates[..<probs.count].map(\.id), weights: probs, total: total)
    }

    private func partialTopK(_ c: [(id: Int32, logit: Float)], _ k: Int) -> [(id: Int32, logit: Float)] {
        // Keep a sorted buffer of the k largest (k is small in practice).
        var top: [(id: Int32, logit: Float)] = []
        top.reserveCapacity(k + 1)
        for e in c {
            if top.count == k, let last = top.last, e.logit <= last.logit { continue }
            var lo = 0, hi = top.count
            while lo < hi { let mid = (lo + hi) / 2; if top[mid].logit >= e.logit { lo = mid + 1 } else { hi = mid } }
            top.insert(e, at: lo)
            if top.count > k { top.removeLast() }
        }
        return top
    }
}

#if canImport(Glibc)
import Glibc
#endif
