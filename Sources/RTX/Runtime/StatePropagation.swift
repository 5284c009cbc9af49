// StatePropagation.swift — the K/V an early-exited token still owes. When a
// token exits after loop b, later tokens will attend to it at every position it
// skipped; its exit hidden state is fed through the K/V projections (with that
// position's norm and LoRA) of each skipped position. Those fill rows ride in
// the next pass through the matching stored layer (BlockForward's K/V GEMMs),
// not in a separate serial pass.

struct FillQueue {
    struct Fill {
        var hidden: [Float]     // (d) the exit hidden state
        var token: Int          // its token position in the sequence
        var cache: KVCache      // the sequence it belongs to
        var positions: [Int]    // skipped positions still owed
    }

    private(set) var fills: [Fill] = []

    /// Fill rows one pass reserves room for (beyond its full rows).
    static func rowsPerPass(_ plan: RecursionPlan) -> Int { max(plan.loops - 1, 1) * 8 }

    var isEmpty: Bool { fills.isEmpty }
    /// Owed (token, position) pairs in total.
    var owed: Int { fills.reduce(0) { $0 + $1.positions.count } }

    mutating func add(hidden: UnsafePointer<Float>, dim: Int, token: Int, cache: KVCache, positions: [Int]) {
        guard !positions.isEmpty else { return }
        fills.append(Fill(hidden: Array(UnsafeBufferPointer(start: hidden, count: dim)), token: token,
                          cache: cache, positions: positions))
    }

    /// Owed rows whose position runs stored layer `layer`.
    func count(layer: Int, plan: RecursionPlan) -> Int {
        fills.reduce(0) { $0 + $1.positions.filter { plan.sharedLayer(of: $0) == layer }.count }
    }

    /// Move up to `limit` fill rows for `layer` into `batch` (rows after its full
    /// rows in s.x), as K/V-only segments grouped by position.
    mutating func attach(layer: Int, limit: Int, to batch: inout LayerBatch, scratch s: Scratch, model: Model) {
        let d = model.hyper.embeddingLength
        var taken: [(fill: Int, position: Int)] = []
        for (i, f) in fills.enumerated() {
            for p in f.positions where model.plan.sharedLayer(of: p) == layer && taken.count < limit {
                taken.append((i, p))
            }
        }
        // Group by position so one LoRA GEMM serves each position's rows.
        taken.sort { ($0.position, $0.fill) < ($1.position, $1.fill) }
        for (i, p) in taken {
            let row = batch.rows
            fills[i].hidden.withUnsafeBufferPointer { (s.x + row * d).update(from: $0.baseAddress!, count: d) }
            batch.add(position: p, count: 1, cache: fills[i].cache, firstToken: fills[i].token, fill: true)
            fills[i].positions.removeAll { $0 == p }
        }
        fills.removeAll { $0.positions.isEmpty }
    }

    /// Drop what is owed to one sequence (it was cancelled or finished).
    mutating func drop(cache: KVCache) { fills.removeAll { $0.cache === cache } }

    /// Drop what is owed to one sequence's tokens from `token` on (it was truncated).
    mutating func drop(cache: KVCache, fromToken token: Int) { fills.removeAll { $0.cache === cache && $0.token >= token } }
}

/// Runs fill-only passes, so that no attention reads a slot still owed.
struct FillRunner {
    private var scratch: Scratch?

    /// Before a pass through `layer` that can take `room` fill rows: run
    /// fill-only passes (in a scratch of their own) until what is left fits.
    mutating func settle(_ queue: inout FillQueue, layer: Int, room: Int, model: Model, kernels: KernelOptions) {
        while queue.count(layer: layer, plan: model.plan) > room {
            runFillOnly(&queue, layer: layer, model: model, kernels: kernels)
        }
    }

    private mutating func runFillOnly(_ queue: inout FillQueue, layer: Int, model: Model, kernels: KernelOptions) {
        let rows = FillQueue.rowsPerPass(model.plan)
        let s = scratch ?? Scratch(hyper: model.hyper, batch: rows, maxLoRARank: model.weights.maxLoRARank)
        scratch = s
        var batch = LayerBatch()
        queue.attach(layer: layer, limit: rows, to: &batch, scratch: s, model: model)
        BlockForward(model: model, s: s, exec: kernels.exec).run(layer: layer, batch: batch)
    }
}
