// Speculative.swift — speculative decoding over a session: cheap drafts, one
// full-depth verification pass over the chosen token and its k drafts, the
// longest agreeing prefix kept, the rest rolled back (`Session.truncate`).
//
// Two kinds of draft:
//   self-speculative   the first b of the B loops of a recursive model, read
//                      through the exit head (Session.draft); where the model
//                      has a learned exit gate after loop b, drafting stops once
//                      the gate says λ < DraftOptions.gateThreshold
//   prompt lookup      the tokens that followed the last n-gram of the context
//                      where it last occurred earlier (llama.cpp's lookup
//                      decoding; training-free, any model, vanilla included)
//
// Exactness: the verification pass runs `.rowwise` products (KernelOptions), so
// each row's logits equal those of a one-token `evaluate` in a batch-invariant
// session (Session.batchInvariant, which the Generator turns on with drafts), and
// that is what plain decoding runs in such a session: greedy output is identical
// token for token. (Fast-mode plain decoding folds a row's block sums in another
// order: the same tokens but for near-ties, not the same bits.) The draft's K/V (its
// loops' slots at the drafted positions) are all overwritten by the verification
// pass, which recomputes every loop for the k + 1 rows, and the rejected rows are
// truncated: afterwards the cache is exactly plain decoding's.
// Sampling keeps the target distribution by the speculative-sampling rule
// (Leviathan et al. 2023; Chen et al. 2023): draft d ~ q is accepted with
// probability min(1, p(d)/q(d)); on rejection the token is drawn from
// norm(max(0, p − q)); after k acceptances a bonus token comes from p. Both p and q
// are the sampler's own distributions (penalty, temperature, top-k/p, min-p);
// lookup drafts are deterministic (q is one-hot). Greedy is the same rule with
// one-hot p and q.
//
// Cost model (README "Speculative decoding"): a loop-b draft of a B-loop model
// reads b/B of the weights, so k drafts and one verification cost k·b/B + 1
// weight reads for an expected (1 − α^(k+1)) / (1 − α) tokens at acceptance α.

/// How generation drafts tokens (off unless `loops` or `lookupNGram` is set).
public struct DraftOptions: Sendable, Equatable {
    /// Self-speculative drafts from the first `loops` loops (0: off; 1..<B).
    public var loops = 0
    /// Tokens drafted per verification pass (k).
    public var length = Defaults.draftLength
    /// Prompt-lookup drafts: the longest of the last `lookupNGram`…1 tokens found
    /// earlier in the context proposes what followed it (0: off). Tried before
    /// loop drafts; where nothing matches, loop drafts (if on) are used.
    public var lookupNGram = 0
    /// Where the model has an exit gate after loop `loops`: drafting stops once
    /// its λ is below this (the draft would likely be rejected). 0: never.
    public var gateThreshold = Defaults.draftGateThreshold

    public init(loops: Int = 0, length: Int = Defaults.draftLength, lookupNGram: Int = 0,
                gateThreshold: Float = Defaults.draftGateThreshold) {
        self.loops = loops; self.length = length; self.lookupNGram = lookupNGram; self.gateThreshold = gateThreshold
    }

    public var isEnabled: Bool { loops > 0 || lookupNGram > 0 }

    /// Whether these drafts can run on `model`.
    public func validate(for model: Model) throws {
        let plan = model.plan
        guard loops >= 0 else { throw RTXError.invalid("draft loops \(loops) must be >= 0") }
        if loops > 0 {
            guard plan.loops >= 2 else {
                throw RTXError.invalid("draft loops \(loops): self-speculative drafts need a recursive model (B >= 2) and this one has B = 1; prompt-lookup drafts (lookup n-gram size) work on any model")
            }
            guard loops < plan.loops else {
                throw RTXError.invalid("draft loops \(loops) must be in 1..<\(plan.loops): the draft must run fewer loops than the model's \(plan.loops)")
            }
            guard plan.supportsLoopStepping else {
                throw RTXError.unsupported("self-speculative drafts need contiguous loops (cycle or middle-cycle); this model uses \(plan.strategy.rawValue)")
            }
        }
        guard lookupNGram >= 0, lookupNGram <= 64 else { throw RTXError.invalid("lookup n-gram size \(lookupNGram) must be in 0...64") }
        guard !isEnabled || (length >= 1 && length <= 256) else { throw RTXError.invalid("draft length \(length) must be in 1...256") }
        guard gateThreshold.isFinite, gateThreshold >= 0, gateThreshold <= 1 else {
            throw RTXError.invalid("draft gate threshold \(gateThreshold) must be in [0, 1]")
        }
    }
}

/// What speculative decoding did so far.
public struct SpeculativeStats: Sendable, Equatable {
    /// Verification passes that checked at least one draft.
    public var rounds = 0
    /// Drafts proposed, and accepted, over those rounds.
    public var drafted = 0
    public var accepted = 0
    /// Drafts proposed by prompt lookup (the rest came from early loops).
    public var lookupDrafted = 0

    public init() {}

    /// Accepted / drafted (0 before any draft).
    public var acceptanceRate: Double { drafted == 0 ? 0 : Double(accepted) / Double(drafted) }
    /// Accepted drafts per round: each round also yields one token of its own.
    public var meanAcceptedLength: Double { rounds == 0 ? 0 : Double(accepted) / Double(rounds) }
}

/// Drafts, verifies and rolls back on one session.
final class SpeculativeDecoder {
    let session: Session
    let options: DraftOptions
    private(set) var stats = SpeculativeStats()

    /// `options` must have passed `validate(for: session.model)`.
    init(session: Session, options: DraftOptions) {
        self.session = session
        self.options = options
    }

    /// One round after `token` was chosen (it is not yet cached; `sampler` has
    /// accepted it): draft up to `limit` tokens, verify `token` and the drafts in
    /// one full-depth pass, keep `token` and the accepted drafts in the cache, and
    /// choose the token after them from the target (correction or bonus). Returns
    /// the accepted drafts and that next token (not cached), all accepted by `sampler`.
    func step(after token: Int32, sampler: inout Sampler, limit: Int) throws -> (accepted: [Int32], next: Int32) {
        let start = session.count
        let room = max(0, min(limit, options.length, session.capacity - start - 1))
        var drafts: [Int32] = []
        var draftDistributions: [TokenDistribution] = []  // empty: deterministic (lookup) drafts
        if options.lookupNGram > 0 && room > 0 {
            drafts = promptLookup(session.history + [token], maxNGram: options.lookupNGram, count: room)
            stats.lookupDrafted += drafts.count
        }
        if drafts.isEmpty && options.loops > 0 {
            var input = token
            for i in 0..<room {
                let (logits, gate) = try session.draft(input, at: start + i, loops: options.loops)
                if let gate, gate < options.gateThreshold { break }
                let q = sampler.distribution(logits, after: drafts)
                input = sampler.draw(q)
                drafts.append(input)
                draftDistributions.append(q)
            }
        }
        try session.evaluate([token] + drafts, allLogits: true, kernels: KernelOptions(threads: session.threads, products: .rowwise))

        var accepted: [Int32] = []
        var next: Int32?
        for (i, d) in drafts.enumerated() {
            let p = sampler.distribution(try session.logits(at: i))
            let pd = p.probability(of: d)
            let qd = draftDistributions.isEmpty ? 1 : draftDistributions[i].probability(of: d)
            if pd >= qd || (pd > 0 && sampler.uniform() * qd < pd) {
                accepted.append(d)
                sampler.accept(d)
                continue
            }
            let q = draftDistributions.isEmpty ? TokenDistribution(ids: [d], weights: [1]) : draftDistributions[i]
            let token = sampler.draw(residual(p, minus: q))
            sampler.accept(token)
            next = token
            break
        }
        let chosen = try next ?? sampler.sample(session.logits(at: drafts.count))
        try session.truncate(to: start + 1 + accepted.count)
        if !drafts.isEmpty {
            stats.rounds += 1
            stats.drafted += drafts.count
            stats.accepted += accepted.count
        }
        return (accepted, chosen)
    }
}

/// norm(max(0, p − q)) over p's tokens (q's tokens outside p's support add
/// nothing; a greedy p has one token, which stays greedy); p itself where nothing is left (p ≤ q everywhere
/// only when p = q, where no rejection happens; kept as a guard against rounding).
func residual(_ p: TokenDistribution, minus q: TokenDistribution) -> TokenDistribution {
    var qOf: [Int32: Double] = [:]
    qOf.reserveCapacity(q.ids.count)
    for (id, w) in zip(q.ids, q.weights) where q.total > 0 { qOf[id] = w / q.total }
    let weights = zip(p.ids, p.weights).map { id, w in max(0, w / p.total - (qOf[id] ?? 0)) }
    let r = TokenDistribution(ids: p.ids, weights: weights, greedy: p.greedy)
    return r.total > 0 ? r : p
}

/// Prompt-lookup drafts: for n = maxNGram down to 1, the last occurrence of the
/// context's last n tokens earlier in it, and up to `count` tokens that followed.
func promptLookup(_ context: [Int32], maxNGram: Int, count: Int) -> [Int32] {
    guard count > 0 else { return [] }
    for n in stride(from: min(maxNGram, context.count - 1), through: 1, by: -1) {
        let suffix = context[(context.count - n)...]
        var i = context.count - n - 1
        while i >= 0 {
            if context[i..<(i + n)].elementsEqual(suffix) {
                let from = i + n
                return Array(context[from..<min(from + count, context.count)])
            }
            i -= 1
        }
    }
    return []
}
