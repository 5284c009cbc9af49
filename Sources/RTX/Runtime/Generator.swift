// Generator.swift — text generation over a session: prompt, sampling loop, stop
// conditions (EOS / end-of-turn, stop strings, max tokens, full context) and
// streaming of complete UTF-8 text. Pull-style (`next()`), so any front end
// (C callback, Python iterator, CLI) drives it the same way. With drafts
// (`GenerationOptions.draft`) each new token is followed by a speculative round
// (Speculative.swift) that caches it with the accepted drafts and chooses the
// token after them; those are handed out by the next calls, and the session is
// left as plain decoding would leave it when generation ends.
#if canImport(Glibc)
import Glibc
#endif

public enum StopReason: Int32, Sendable {
    case none = 0, maxTokens = 1, endOfGeneration = 2, stopString = 3, callback = 4, contextFull = 5, cancelled = 6
}

public struct GenerationOptions: Sendable {
    public var maxTokens = Defaults.maxTokens
    public var sampling = SamplingParameters()
    public var stop: [String] = []
    public var addBOS = Defaults.addBOS
    public var parseSpecial = Defaults.parseSpecial
    public var stopAtEndOfGeneration = Defaults.stopAtEndOfGeneration
    /// When a generated token stops looping (Session.step(_:policy:)); full depth
    /// evaluates it whole. The prompt always runs at full depth.
    public var exitPolicy = ExitPolicy.fullDepth
    /// Speculative decoding (off by default): same greedy tokens, same sampling
    /// distribution. Drafts are verified at full depth: only with `exitPolicy` full depth.
    public var draft = DraftOptions()
    /// Every pass of this generation, prompt included, with batch-invariant
    /// products (Session.batchInvariant, which stays on): plain decoding that
    /// equals speculative decoding bit for bit. Drafts imply it.
    public var batchInvariant = false
    public init() {}
}

public struct GeneratedToken: Sendable {
    /// nil on the final item (which may still carry held-back text).
    public var token: Int32?
    public var text: [UInt8]
    public var stopReason: StopReason
    public init(token: Int32?, text: [UInt8], stopReason: StopReason) {
        self.token = token; self.text = text; self.stopReason = stopReason
    }
}

/// Monotonic seconds.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

public final class Generator {
    public let session: Session
    public let options: GenerationOptions
    public private(set) var promptTokenCount = 0
    public private(set) var generatedCount = 0
    public private(set) var stopReason = StopReason.none
    public private(set) var promptSeconds = 0.0
    public private(set) var generateSeconds = 0.0
    public private(set) var tokens: [Int32] = []
    /// Loops each token fed back into the model ran (B at full depth).
    public private(set) var loopsRun: [Int] = []

    private var sampler: Sampler
    private var text: TextStream
    private var finished = false
    /// Speculative decoding: the decoder, tokens already chosen and cached
    /// (accepted drafts), the token chosen after them (not cached), and the
    /// session's token count under plain decoding.
    private let speculative: SpeculativeDecoder?
    private var decided: [Int32] = []
    private var chosen: Int32?
    private var plainCount = 0
    /// Rounds, drafts and acceptances of speculative decoding so far.
    public var speculativeStats: SpeculativeStats { speculative?.stats ?? SpeculativeStats() }

    /// Tokenizes and evaluates the prompt (appended to what the session holds).
    public init(session: Session, prompt: String, options: GenerationOptions) throws {
        guard options.maxTokens >= 0 else { throw RTXError.invalid("max_tokens \(options.maxTokens) must be >= 0") }
        try options.exitPolicy.validate(loops: session.model.plan.loops, hasExitGates: session.model.hasExitGates)
        self.session = session
        self.options = options
        self.sampler = try Sampler(options.sampling)
        self.text = TextStream(stop: options.stop)
        try options.draft.validate(for: session.model)
        guard !options.draft.isEnabled || options.exitPolicy == .fullDepth else {
            throw RTXError.invalid("speculative drafts are verified at full depth: they need the full-depth exit policy")
        }
        // The verification pass equals one-token decodes only with row-wise products,
        // so drafts run the whole generation (prompt included) batch-invariant; the
        // session keeps that mode (Session.batchInvariant).
        if options.draft.isEnabled || options.batchInvariant { session.batchInvariant = true }
        self.speculative = options.draft.isEnabled ? SpeculativeDecoder(session: session, options: options.draft) : nil
        let tokenizer = session.model.tokenizer
        // BOS only at the start of a sequence and only if the model asks for it
        // (tokenizer.ggml.add_bos_token), as llama.cpp does.
        let addBOS = options.addBOS && tokenizer.vocabulary.addBOS && session.count == 0
        let promptTokens = tokenizer.encode(prompt, addBOS: addBOS, parseSpecial: options.parseSpecial)
        guard !promptTokens.isEmpty || session.logitRows > 0 else {
            throw RTXError.invalid("the prompt is empty and the model has no BOS token to start from")
        }
        let t0 = monotonicSeconds()
        if !promptTokens.isEmpty { try session.evaluate(promptTokens) }
        promptSeconds = monotonicSeconds() - t0
        promptTokenCount = promptTokens.count
        plainCount = session.count
        for t in session.history.suffix(max(options.sampling.repeatLastN, 0)) { sampler.accept(t) }
    }

    /// The next token and the text it completes, or the final item (token nil) once done.
    public func next() throws -> GeneratedToken? {
        if finished { return nil }
        if stopReason != .none || generatedCount >= options.maxTokens {
            return finish(stopReason == .none ? .maxTokens : stopReason)
        }
        let t0 = monotonicSeconds()
        defer { generateSeconds += monotonicSeconds() - t0 }
        // The next token: chosen ahead and cached, chosen ahead, or sampled now.
        let cached = !decided.isEmpty
        let token: Int32
        if cached {
            token = decided.removeFirst()
        } else if let next = chosen {
            token = next
            chosen = nil
        } else {
            token = sampler.sample(try session.logits())
        }
        if options.stopAtEndOfGeneration && session.model.tokenizer.isEndOfGeneration(token) {
            return finish(.endOfGeneration)
        }
        generatedCount += 1
        tokens.append(token)
        let (piece, hitStop) = text.append(session.model.tokenizer.bytes(of: token, renderSpecial: false))
        if hitStop { stopReason = .stopString }
        if stopReason == .none && generatedCount < options.maxTokens {
            if cached {
                plainCount += 1
            } else if session.count >= session.capacity {
                stopReason = .contextFull
            } else if let speculative {
                (decided, chosen) = try speculative.step(after: token, sampler: &sampler,
                                                         limit: options.maxTokens - generatedCount - 1)
                plainCount += 1
            } else if options.exitPolicy == .fullDepth {
                try session.evaluate([token])
                loopsRun.append(session.model.plan.loops)
                plainCount += 1
            } else {
                // The token it computes is generated token `generatedCount` (the scheduler's index for an oracle replay).
                loopsRun.append(try session.step(token, policy: options.exitPolicy, tokenIndex: generatedCount))
                plainCount += 1
            }
        }
        return GeneratedToken(token: token, text: piece, stopReason: .none)
    }

    /// Stop early (e.g. a callback asked to); the next `next()` returns the final item.
    public func cancel() { if stopReason == .none { stopReason = .callback } }

    private func finish(_ reason: StopReason) -> GeneratedToken {
        // Drafts accepted past the end are forgotten, as plain decoding never cached them.
        if speculative != nil && session.count > plainCount { try? session.truncate(to: plainCount) }
        finished = true
        stopReason = reason
        return GeneratedToken(token: nil, text: text.finish(discard: reason == .stopString), stopReason: reason)
    }
}

/// Incremental detokenized text: emits only complete UTF-8 that cannot be the
/// beginning of a stop string; reports when a stop string appears (the stop
/// string and what follows it are never emitted).
public struct TextStream: Sendable {
    private var pending: [UInt8] = []
    private let stops: [[UInt8]]

    public init(stop: [String]) { stops = stop.filter { !$0.isEmpty }.map { Array($0.utf8) } }

    /// Add a token's bytes; returns the text now safe to emit and whether a stop string was hit.
    public mutating func append(_ bytes: [UInt8]) -> (text: [UInt8], stopped: Bool) {
        pending += bytes
        for stop in stops {
            if let i = firstIndex(of: stop, in: pending) {
                let out = Array(pending[..<i])
                pending.removeAll()
                return (out, true)
            }
        }
        var cut = pending.count - incompleteUTF8Suffix(pending)
        var hold = 0
        for stop in stops {
            var k = min(stop.count - 1, cut)
            while k > hold {
                if pending[(cut - k)..<cut].elementsEqual(stop[0..<k]) { hold = k; break }
                k -= 1
            }
        }
        cut -= hold
        let out = Array(pending[..<cut])
        pending.removeFirst(cut)
        return (out, false)
    }

    /// The held-back rest at the end of generation (nothing after a stop string).
    public mutating func finish(discard: Bool) -> [UInt8] {
        defer { pending.removeAll() }
        return discard ? [] : pending
    }
}

/// Bytes at the end of `b` that begin a UTF-8 sequence not yet complete (0...3).
func incompleteUTF8Suffix(_ b: [UInt8]) -> Int {
    var i = b.count - 1
    var continuation = 0
    while i >= 0 && continuation < 3 && (b[i] & 0xC0) == 0x80 { continuation += 1; i -= 1 }
    guard i >= 0 else { return 0 }
    let lead = b[i]
    let need: Int
    if lead & 0xE0 == 0xC0 { need = 1 } else if lead & 0xF0 == 0xE0 { need = 2 } else if lead & 0xF8 == 0xF0 { need = 3 } else { return 0 }
    return continuation < need ? continuation + 1 : 0
}

func firstIndex(of needle: [UInt8], in hay: [UInt8]) -> Int? {
    guard !needle.isEmpty, hay.count >= needle.count else { return nil }
    for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && hay[i..<(i + needle.count)].elementsEqual(needle) {
        return i
    }
    return nil
}
