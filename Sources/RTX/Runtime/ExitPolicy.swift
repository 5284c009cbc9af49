// ExitPolicy.swift — when a token stops looping. The one place a row's exit is
// decided: LoopStep asks `needsGate` (whether to run the exit gate after a loop),
// then `needsHead` (whether to run the exit head) and `decide`; Session's manual
// loop stepping leaves the decision to its caller (Session.step(_:policy:) applies
// a policy). Ouro's rule reads the exit distribution its gates accumulate over the
// loops run so far (ExitDistribution), which the driver keeps per token.

public enum ExitPolicy: Sendable, Equatable {
    /// Run all B loops (the vanilla computation).
    case fullDepth
    /// Exit after loop b (1-based count of loops run) once max softmax probability ≥ threshold and b ≥ minLoops.
    case confidence(threshold: Float, minLoops: Int)
    /// Exit after loop b (1-based count of loops run) once the learned exit gate's
    /// λ ≥ threshold and b ≥ minLoops. Needs a model with exit gates; a row that
    /// goes on never runs the LM head.
    case gate(threshold: Float, minLoops: Int)
    /// Ouro's rule (OuroForCausalLM's exit_threshold): with λ_t the exit gate after
    /// loop t, the token exits after the first loop where the cumulative exit
    /// probability Σ_{s≤t} λ_s Π_{j<s}(1 − λ_j) reaches `threshold` (ExitDistribution);
    /// the last loop takes the remaining mass, so every token exits by then. Needs a
    /// model with exit gates; a row that goes on never runs the LM head.
    case ouro(threshold: Float)
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
        switch self {
        case .gate(_, let minLoops): return loopsRun < totalLoops && loopsRun >= max(minLoops, 1)
        // Every loop's λ enters the exit distribution.
        case .ouro: return loopsRun < totalLoops
        default: return false
        }
    }

    /// Whether the exit head must run after `loopsRun` of `totalLoops` loops: at
    /// the last loop (the token's logits), where the policy reads the confidence,
    /// or where it exits without it (`gate`: λ, when `needsGate` asked for it;
    /// `exitMass`: the token's cumulative exit probability after this loop).
    public func needsHead(loopsRun: Int, totalLoops: Int, tokenIndex: Int, gate: Float? = nil, exitMass: Float? = nil) -> Bool {
        loopsRun >= totalLoops || needsConfidence(loopsRun: loopsRun)
            || decide(loopsRun: loopsRun, totalLoops: totalLoops, tokenIndex: tokenIndex, estimate: nil, gate: gate,
                      exitMass: exitMass)
    }

    /// Exit decision after `loopsRun` loops for generated token `tokenIndex`, from
    /// the exit head's estimate, the exit gate's λ and the token's cumulative exit
    /// probability (ExitDistribution.cumulative) where the policy reads them.
    public func decide(loopsRun: Int, totalLoops: Int, tokenIndex: Int, estimate: ExitEstimate?, gate: Float? = nil,
                       exitMass: Float? = nil) -> Bool {
        if loopsRun >= totalLoops { return true }
        switch self {
        case .fullDepth, .measureOracle: return false
        case .confidence(let threshold, let minLoops):
            guard loopsRun >= max(minLoops, 1), let estimate else { return false }
            return estimate.confidence >= threshold
        case .gate(let threshold, let minLoops):
            guard loopsRun >= max(minLoops, 1), let gate else { return false }
            return gate >= threshold
        case .ouro(let threshold):
            guard let exitMass else { return false }
            return exitMass >= threshold
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
        case .ouro(let q):
            guard hasExitGates || loops == 1 else {
                throw RTXError.invalid("Ouro's exit rule needs the model's exit gate (a looped checkpoint's early_exit_gate, or rtx.gate.* tensors)")
            }
            guard q.isFinite, q > 0, q <= 1 else { throw RTXError.invalid("Ouro exit threshold \(q) must be in (0, 1]") }
        case .fixedLoops(let n):
            guard n >= 1, n <= loops else { throw RTXError.invalid("fixed exit loop \(n) must be in 1...\(loops)") }
        case .oracle(let l):
            guard l.allSatisfy({ $0 >= 1 && $0 <= loops }) else { throw RTXError.invalid("oracle loops must be in 1...\(loops)") }
        case .fullDepth, .measureOracle: break
        }
    }
}

/// Ouro's exit distribution over the loops one token has run, accumulated as
/// OuroForCausalLM.forward does: after loop t with gate λ_t (every loop but the
/// last), p_t = λ_t · Π_{j<t}(1 − λ_j) is added to `cumulative` (in loop order, as
/// torch.cumsum sums) and `remaining` becomes Π_{j≤t}(1 − λ_j). The last loop takes
/// what remains, p = remaining, so the cumulative mass there is 1 (in exact
/// arithmetic) and every token has exited by then: `decide` exits at the last loop
/// whatever the sum.
public struct ExitDistribution: Sendable, Equatable {
    public private(set) var remaining: Float = 1
    public private(set) var cumulative: Float = 0
    public init() {}

    /// The gate λ after the next loop (not the last).
    public mutating func record(gate lambda: Float) {
        cumulative += lambda * remaining
        remaining *= 1 - lambda
    }
}
