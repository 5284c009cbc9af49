// LoopStep.swift — the one loop-step core. One call of `run` is one pass of the
// shared block over row groups that may sit at different loops, positions and
// sequences: each group runs its run of positions in order, and groups go side by
// side through each stored layer they share (CYCLE: every group in every pass).
// Session (whole-depth evaluation, loop stepping) and the Scheduler (continuous
// depth-wise batching) both drive it. It asks the plan for positions and skipped
// slots, runs the exit gates and the exit head, applies the exit policy, and
// carries the K/V fills that early exits owe (StatePropagation) in the passes
// that follow.
import CRTXKernels

/// Rows of one sequence that advance together: `count` consecutive tokens from
/// `firstToken`, running `positions` in order. Their hidden states are rows of the
/// core's scratch.x, group after group from row 0 in the order the groups are given.
struct RowGroup {
    var cache: KVCache
    var firstToken: Int
    var count: Int
    var positions: Range<Int>
}

final class LoopStep {
    let model: Model
    /// Full rows of a pass (the groups' rows) plus room for fill rows.
    let scratch: Scratch
    private var fills = FillQueue()
    private var fillRunner = FillRunner()
    /// Where a pass over groups that are not a prefix of the layout gathers its rows
    /// (MIDDLE-CYCLE with groups at the first or last loop beside others).
    private var gathered: Scratch?
    /// Fill rows carried by passes so far.
    private(set) var fillRowsCarried = 0

    /// A core for up to `rows` full rows a pass, with room for `fillRows` fill rows.
    init(model: Model, rows: Int, fillRows: Int) {
        self.model = model
        scratch = Scratch(hyper: model.hyper, batch: rows + fillRows, maxLoRARank: model.weights.maxLoRARank)
    }

    /// Forget every owed fill (the sequences were reset).
    func reset() { fills = FillQueue() }

    /// Forget what is owed to one sequence (it was cancelled or finished).
    func drop(cache: KVCache) { fills.drop(cache: cache) }

    /// Forget what is owed to one sequence's tokens from `token` on (it was truncated).
    func drop(cache: KVCache, fromToken token: Int) { fills.drop(cache: cache, fromToken: token) }

    // MARK: Passes

    /// Run every group through its positions. Each layer pass takes the groups whose
    /// next position runs the lowest stored layer any of them needs next, so the
    /// positions of each group run in order and groups at matching positions share
    /// one pass. `checkAbort(p)` is called before each layer pass.
    func run(_ groups: [RowGroup], kernels: KernelOptions, tap: InputTap? = nil,
             checkAbort: (Int) throws -> Void = { _ in }) throws {
        let plan = model.plan
        var next = groups.map(\.positions.lowerBound)
        var firstRow: [Int] = []
        var rows = 0
        for g in groups { firstRow.append(rows); rows += g.count }
        precondition(rows <= scratch.batch, "\(rows) rows exceed the core's \(scratch.batch)")
        while true {
            let waiting = groups.indices.filter { next[$0] < groups[$0].positions.upperBound }
            guard let layer = waiting.map({ plan.sharedLayer(of: next[$0]) }).min() else { return }
            let members = waiting.filter { plan.sharedLayer(of: next[$0]) == layer }
            try checkAbort(next[members[0]])
            let segments = members.map { (group: groups[$0], position: next[$0], row: firstRow[$0]) }
            pass(layer: layer, segments, kernels: kernels, tap: tap)
            for i in members { next[i] += 1 }
        }
    }

    /// One pass of stored layer `layer` over the given groups at their positions,
    /// carrying the fills owed to that layer.
    private func pass(layer: Int, _ segments: [(group: RowGroup, position: Int, row: Int)], kernels: KernelOptions,
                      tap: InputTap?) {
        let d = model.hyper.embeddingLength
        // The pass's rows must be rows 0..<n of its scratch: gather them when the
        // groups taking part are not the leading ones.
        var leading = 0
        for seg in segments where seg.row == leading { leading += seg.group.count }
        let inPlace = leading == segments.reduce(0) { $0 + $1.group.count }
        let s = inPlace ? scratch : gatherScratch()
        var batch = LayerBatch()
        for seg in segments {
            if !inPlace { (s.x + batch.rows * d).update(from: scratch.x + seg.row * d, count: seg.group.count * d) }
            batch.add(position: seg.position, count: seg.group.count, cache: seg.group.cache,
                      firstToken: seg.group.firstToken, fill: false)
        }
        let room = s.batch - batch.rows
        fillRunner.settle(&fills, layer: layer, room: room, model: model, kernels: kernels)
        let before = batch.rows
        fills.attach(layer: layer, limit: room, to: &batch, scratch: s, model: model)
        fillRowsCarried += batch.rows - before
        BlockForward(model: model, s: s, exec: kernels.exec, tap: tap).run(layer: layer, batch: batch)
        guard !inPlace else { return }
        var row = 0
        for seg in segments {
            (scratch.x + seg.row * d).update(from: s.x + row * d, count: seg.group.count * d)
            row += seg.group.count
        }
    }

    private func gatherScratch() -> Scratch {
        if let gathered { return gathered }
        let s = Scratch(hyper: model.hyper, batch: scratch.batch, maxLoRARank: model.weights.maxLoRARank)
        gathered = s
        return s
    }

    // MARK: Exits

    /// Exit-head logits (rows.count, vocab) of the given rows of scratch.x, in one
    /// product. The rows are gathered into scratch.xn (free between passes).
    func exitHead(rows: [Int], kernels: KernelOptions, into logits: UnsafeMutablePointer<Float>) {
        guard !rows.isEmpty else { return }
        gatherIntoXn(rows)
        BlockForward(model: model, s: scratch, exec: kernels.exec).exitHead(scratch.xn, rows: rows.count, logits: logits)
    }

    /// Exit-gate probabilities λ (rows.count values) of the given rows of scratch.x,
    /// row i after its 0-based loop `afterLoops[i]` (< B − 1: no gate follows the
    /// last loop). Rows are gathered into scratch.xn (free between passes); each run
    /// of consecutive rows after the same loop shares one product.
    func exitGates(rows: [Int], afterLoops loops: [Int], kernels: KernelOptions, into out: UnsafeMutablePointer<Float>) {
        guard !rows.isEmpty else { return }
        precondition(rows.count == loops.count, "one loop per row")
        let gates = model.weights.exitGates
        gatherIntoXn(rows)
        var runs: [(gate: ExitGate, rows: Range<Int>)] = []
        var start = 0
        for i in 1...loops.count where i == loops.count || loops[i] != loops[start] {
            precondition(loops[start] < gates.count, "no exit gate after loop \(loops[start]) (the model has \(gates.count))")
            runs.append((gates[loops[start]], start..<i))
            start = i
        }
        BlockForward(model: model, s: scratch, exec: kernels.exec).exitGates(scratch.xn, rows: rows.count, runs: runs, into: out)
    }

    /// Copy the given rows of scratch.x to rows 0… of scratch.xn (free between passes),
    /// where the exit head and the gates normalise them in place.
    private func gatherIntoXn(_ rows: [Int]) {
        let d = model.hyper.embeddingLength
        for (i, r) in rows.enumerated() { (scratch.xn + i * d).update(from: scratch.x + r * d, count: d) }
    }

    /// A token exits after `loopsRun` loops: the positions it skips are owed K/V,
    /// computed from its exit hidden state (d floats at `hidden`) in later passes.
    func exit(hidden: UnsafePointer<Float>, token: Int, cache: KVCache, loopsRun: Int) {
        let skipped = model.plan.positions(skippedAfter: loopsRun)
        fills.add(hidden: hidden, dim: model.hyper.embeddingLength, token: token, cache: cache, positions: Array(skipped))
    }

    /// After a token's loop `loopsRun`: whether it exits under `policy`, judged from
    /// its exit-head logits, exit-gate λ and cumulative exit probability (Ouro's
    /// rule) where the policy reads them (nil: the head or the gate did not run).
    /// An exit before the last loop records the fills it owes.
    func conclude(loopsRun: Int, policy: ExitPolicy, tokenIndex: Int, logits: UnsafeBufferPointer<Float>?, gate: Float?,
                  exitMass: Float? = nil, hidden: UnsafePointer<Float>, token: Int, cache: KVCache) -> (exits: Bool, estimate: ExitEstimate?) {
        let loops = model.plan.loops
        let estimate = loopsRun < loops && policy.needsConfidence(loopsRun: loopsRun) ? logits.map(ExitEstimate.init) : nil
        let exits = policy.decide(loopsRun: loopsRun, totalLoops: loops, tokenIndex: tokenIndex, estimate: estimate, gate: gate,
                                  exitMass: exitMass)
        if exits && loopsRun < loops { exit(hidden: hidden, token: token, cache: cache, loopsRun: loopsRun) }
        return (exits, estimate)
    }
}
