// ExitPolicy.swift — when a token stops looping. The one place a row's exit is
// decided: LoopStep asks `needsHead` (whether to run the exit head after a loop)
// and `decide`; Session's manual loop stepping leaves the decision to its caller.

public enum ExitPolicy: Sendable, Equatable {
    /// Run all B loops (the vanilla computation).
    case fullDepth
    /// Exit after loop b (1-based count of loops run) once max softmax probability ≥ threshold and b ≥ minLoops.
    case confidence(threshold: Float, minLoops: Int)
    /// Always exit after this many loops.
    case fixedLoops(Int)
    /// Replay an oracle trajectory: token i exits after loops[i] loops (full depth past its end).
    /// `Scheduler.oracleTrajectory` measures one: the first loop whose argmax equals the final loop's.
    case oracle(loops: [Int])
    /// Run full depth while reading every loop's argmax, and report the oracle
    /// trajectory (first loop whose argmax equals the final loop's) per token.
    case measureOracle

    /// Whether `decide` needs the exit head's estimate after `loopsRun` loops
    /// (only the confidence policy reads it; the others decide without the head).
    public func needsConfidence(loopsRun: Int) -> Bool {
        switch self {
        case .confidence(_, let minLoops): return loopsRun >= max(minLoops, 1)
        case .measureOracle: return true
        default: return false
        }
    }

    /// Whether the exit head must run after `loopsRun` of `totalLoops` loops: at
    /// the last loop (the token's logits), where the policy reads the confidence,
    /// or where it exits regardless of it.
    public func needsHead(loopsRun: Int, totalLoops: Int, tokenIndex: Int) -> Bool {
        loopsRun >= totalLoops || needsConfidence(loopsRun: loopsRun)
            || decide(loopsRun: loopsRun, totalLoops: totalLoops, tokenIndex: tokenIndex, estimate: nil)
    }

    /// Exit decision after `loopsRun` loops for generated token `tokenIndex`.
    public func decide(loopsRun: Int, totalLoops: Int, tokenIndex: Int, estimate: ExitEstimate?) -> Bool {
        if loopsRun >= totalLoops { return true }
        switch self {
        case .fullDepth, .measureOracle: return false
        case .confidence(let threshold, let minLoops):
            guard loopsRun >= max(minLoops, 1), let estimate else { return false }
            return estimate.confidence >= threshold
        case .fixedLoops(let n): return loopsRun >= max(n, 1)
        case .oracle(let loops): return tokenIndex < loops.count && loopsRun >= loops[tokenIndex]
        }
    }

    public func validate(loops: Int) throws {
        switch self {
        case .confidence(let t, let m):
            guard t.isFinite, t > 0, t <= 1 else { throw RTXError.invalid("exit threshold \(t) must be in (0, 1]") }
            guard m >= 0 else { throw RTXError.invalid("minimum loops \(m) must be >= 0") }
        case .fixedLoops(let n):
            guard n >= 1, n <= loops else { throw RTXError.invalid("fixed exit loop \(n) must be in 1...\(loops)") }
        case .oracle(let l):
            guard l.allSatisfy({ $0 >= 1 && $0 <= loops }) else { throw RTXError.invalid("oracle loops must be in 1...\(loops)") }
        case .fullDepth, .measureOracle: break
        }
    }
}
