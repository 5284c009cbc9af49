// ExitPolicy.swift — when a token stops looping. The one place a row's exit is
// decided: LoopStep asks `needsGate` (whether to run the exit gate after a loop),
// then `needsHead` (whether to run the exit head) and `decide`; Session's manual
// loop stepping leaves the decision to its caller.

public enum ExitPolicy: Sendable, Equatable {
    /// Run all B loops (the vanilla computation).
    case fullDepth
    /// Exit after loop b (1-based count of loops run) once max softmax probability ≥ threshold and b ≥ minLoops.
    case confidence(threshold: Float, minLoops: Int)
    /// Exit after loop b (1-based count of loops run) once the learned exit gate's
    /// λ ≥ threshold and b ≥ minLoops. Needs a model with exit gates; a row that
    /// goes on never runs the LM head.
    case gate(threshold: Float, minLoops: Int)
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

    /// Whether `decide` needs the exit gate's λ after `loopsRun` of `totalLoops`
    /// loops (the gate policy, where it may exit; no gate follows the last loop).
    public func needsGate(loopsRun: Int, totalLoops: Int) -> Bool {
        guard case .gate(_, let minLoops) = self else { return false }
        return loopsRun < totalLoops && loopsRun >= max(minLoops, 1)
    }

    /// Whether the exit head must run after `loopsRun` of `totalLoops` loops: at
    /// the last loop (the token's logits), where the policy reads the confidence,
    /// or where it exits without it (`gate`: λ, when `needsGate` asked for it).
    public func needsHead(loopsRun: Int, totalLoops: Int, tokenIndex: Int, gate: Float? = nil) -> Bool {
        loopsRun >= totalLoops || needsConfidence(loopsRun: loopsRun)
            || decide(loopsRun: loopsRun, totalLoops: totalLoops, tokenIndex: tokenIndex, estimate: nil, gate: gate)
    }

    /// Exit decision after `loopsRun` loops for generated token `tokenIndex`, from
    /// the exit head's estimate and the exit gate's λ where the policy reads them.
    public func decide(loopsRun: Int, totalLoops: Int, tokenIndex: Int, estimate: ExitEstimate?, gate: Float? = nil) -> Bool {
        if loopsRun >= totalLoops { return true }
        switch self {
        case .fullDepth, .measureOracle: return false
        case .confidence(let threshold, let minLoops):
            guard loopsRun >= max(minLoops, 1), let estimate else { return false }
            return estimate.confidence >= threshold
        case .gate(let threshold, let minLoops):
            guard loopsRun >= max(minLoops, 1), let gate else { return false }
            return gate >= threshold
        case .fixedLoops(let n): return loopsRun >= max(n, 1)
        case .oracle(let loops): return tokenIndex < loops.count && loopsRun >= loops[tokenIndex]
        }
    }

    /// Whether this policy can run on a model of `loops` loops (`hasExitGates`: the
    /// model carries learned exit gates).
    public func validate(loops: Int, hasExitGates: Bool) throws {
        switch self {
        case .confidence(let t, let m):
            guard t.isFinite, t > 0, t <= 1 else { throw RTXError.invalid("exit threshold \(t) must be in (0, 1]") }
            guard m >= 0 else { throw RTXError.invalid("minimum loops \(m) must be >= 0") }
        case .gate(let t, let m):
            guard hasExitGates else {
                throw RTXError.invalid("this model has no exit gates (train them with python -m rtx.train --train gates)")
            }
            guard t.isFinite, t > 0, t <= 1 else { throw RTXError.invalid("exit gate threshold \(t) must be in (0, 1]") }
            guard m >= 0 else { throw RTXError.invalid("minimum loops \(m) must be >= 0") }
        case .fixedLoops(let n):
            guard n >= 1, n <= loops else { throw RTXError.invalid("fixed exit loop \(n) must be in 1...\(loops)") }
        case .oracle(let l):
            guard l.allSatisfy({ $0 >= 1 && $0 <= loops }) else { throw RTXError.invalid("oracle loops must be in 1...\(loops)") }
        case .fullDepth, .measureOracle: break
        }
    }
}
