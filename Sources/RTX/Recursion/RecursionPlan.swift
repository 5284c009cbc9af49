// RecursionPlan.swift — the map from unrolled depth positions to shared layers.
// Everything that needs to know "which weights run at position p" asks the plan;
// a vanilla model is the plan with K = L unique layers and B = 1 loop.

public struct RecursionPlan: Sendable, Equatable {
    public enum Strategy: String, Sendable, CaseIterable {
        case cycle, sequence, middleCycle = "middle-cycle"
    }

    public let strategy: Strategy
    /// L: positions in the unrolled depth.
    public let positions: Int
    /// B: times the block runs.
    public let loops: Int
    /// K: layers stored (for middle-cycle: the looped K' plus the unique first and last).
    public let storedLayers: Int
    /// After the last position of every loop the state goes through the model's
    /// final norm, and that normed state is the next loop's input (Ouro's
    /// OuroModel.forward). The exit head and the exit gates then read the state as
    /// it is: the final norm has already been applied. Only for plans whose loops
    /// are contiguous (`supportsLoopStepping`).
    public var loopEndNorm = false

    public init(strategy: Strategy, positions: Int, loops: Int) throws {
        guard positions > 0 else { throw RTXError.invalid("recursion plan: depth must be positive, got \(positions)") }
        guard loops > 0 else { throw RTXError.invalid("recursion plan: loops must be positive, got \(loops)") }
        switch strategy {
        case .cycle, .sequence:
            guard positions % loops == 0 else {
                throw RTXError.invalid("recursion plan: \(loops) loops do not divide \(positions) layers")
            }
            storedLayers = positions / loops
        case .middleCycle:
            guard positions > 2, (positions - 2) % loops == 0 else {
                throw RTXError.invalid("recursion plan: middle-cycle needs \(loops) loops to divide the \(positions - 2) middle layers")
            }
            storedLayers = (positions - 2) / loops + 2
        }
        self.strategy = strategy
        self.positions = positions
        self.loops = loops
    }

    /// B for a given number of stored layers K (the inverse of `storedLayers`).
    public static func loops(forStoredLayers k: Int, positions: Int, strategy: Strategy) throws -> Int {
        let looped = strategy == .middleCycle ? positions - 2 : positions
        let kLooped = strategy == .middleCycle ? k - 2 : k
        guard kLooped > 0, looped > 0, looped % kLooped == 0 else {
            throw RTXError.invalid("recursion plan: \(k) unique layers do not divide \(positions) layers (\(strategy.rawValue))")
        }
        return looped / kLooped
    }

    /// The vanilla model of depth L: K = L, B = 1.
    public static func vanilla(depth: Int) -> RecursionPlan {
        try! RecursionPlan(strategy: .cycle, positions: depth, loops: 1)
    }

    public var isVanilla: Bool { loops == 1 }

    /// Layers looped in the block (K for cycle/sequence, K' for middle-cycle).
    var loopedLayers: Int { strategy == .middleCycle ? storedLayers - 2 : storedLayers }

    /// s(p): the stored layer that runs at position p.
    public func sharedLayer(of position: Int) -> Int {
        precondition(position >= 0 && position < positions)
        switch strategy {
        case .cycle: return position % storedLayers
        case .sequence: return position / loops
        case .middleCycle:
            if position == 0 { return 0 }
            if position == positions - 1 { return storedLayers - 1 }
            return 1 + (position - 1) % loopedLayers
        }
    }

    /// The loop (0..<B) that position p belongs to.
    public func loop(of position: Int) -> Int {
        switch strategy {
        case .cycle: return position / storedLayers
        case .sequence: return position % loops
        case .middleCycle:
            if position == 0 { return 0 }
            if position == positions - 1 { return loops - 1 }
            return (position - 1) / loopedLayers
        }
    }

    /// Whether a token can stop after a loop: the loops are contiguous runs of
    /// positions (CYCLE, MIDDLE-CYCLE, or any vanilla plan), not SEQUENCE's interleaving.
    public var supportsLoopStepping: Bool { strategy != .sequence || loops == 1 }

    /// The positions loop b runs, in order (CYCLE: bK ..< (b+1)K; MIDDLE-CYCLE:
    /// the unique first layer belongs to loop 0 and the unique last one to loop B−1).
    public func positions(inLoop b: Int) -> Range<Int> {
        precondition(supportsLoopStepping && b >= 0 && b < loops)
        switch strategy {
        case .cycle, .sequence: return (b * storedLayers)..<((b + 1) * storedLayers)
        case .middleCycle:
            let k = loopedLayers
            let start = b == 0 ? 0 : 1 + b * k
            let end = b == loops - 1 ? positions : 1 + (b + 1) * k
            return start..<end
        }
    }

    /// Whether position p is the last of its loop (where a loop-end norm applies).
    public func endsLoop(_ p: Int) -> Bool {
        supportsLoopStepping && positions(inLoop: loop(of: p)).upperBound == p + 1
    }

    /// The positions a token skips when it exits after `loopsRun` loops: every
    /// position of the later loops (empty at full depth). Its K/V there is owed
    /// by state propagation.
    public func positions(skippedAfter loopsRun: Int) -> Range<Int> {
        precondition(supportsLoopStepping && loopsRun >= 1 && loopsRun <= loops)
        return loopsRun == loops ? positions..<positions : positions(inLoop: loopsRun).lowerBound..<positions
    }

    /// Positions tied to stored layer j: T(j) = { p : s(p) = j }.
    public func positions(tiedTo layer: Int) -> [Int] {
        (0..<positions).filter { sharedLayer(of: $0) == layer }
    }
}
