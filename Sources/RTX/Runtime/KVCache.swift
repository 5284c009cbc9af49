// KVCache.swift — keys and values of every unrolled position: one slot per
// position p (not per stored layer), because a shared layer sees different
// inputs at each of its positions.

public final class KVCache: @unchecked Sendable {
    public let positions: Int      // L
    public let capacity: Int       // tokens
    public let kvDim: Int          // n_kv_heads * head_dim
    /// keys[p] and values[p]: (capacity, kvDim) each, row = token position.
    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>

    public init(positions: Int, capacity: Int, kvDim: Int, headDim: Int) throws {
        precondition(headDim > 0 && kvDim % headDim == 0, "kvDim must be a multiple of headDim")
        let (perSlot, o1) = capacity.multipliedReportingOverflow(by: kvDim)
        let (total, o2) = perSlot.multipliedReportingOverflow(by: positions)
        guard !o1, !o2, total <= 1 << 34 else {
            throw RTXError(.outOfMemory, "KV cache of \(capacity) tokens × \(positions) positions × \(kvDim) is too large")
        }
        guard let k = malloc(total * 4), let v = malloc(total * 4) else {
            throw RTXError(.outOfMemory, "cannot allocate a KV cache of \(2 * total * 4) bytes")
        }
        self.keys = k.bindMemory(to: Float.self, capacity: total)
        self.values = v.bindMemory(to: Float.self, capacity: total)
        self.positions = positions
        self.capacity = capacity
        self.kvDim = kvDim
        self.headDim = headDim
        KVCache.account(byteCount)
    }

    deinit {
        free(keys); free(values)
        KVCache.account(-byteCount)
    }

    // Live caches and their bytes, process-wide (leak checks and memory reports).
    nonisolated(unsafe) private static var live = (count: 0, bytes: 0)
    nonisolated(unsafe) private static var lock = pthread_mutex_t()
    private static let lockReady: Bool = { pthread_mutex_init(&lock, nil); return true }()
    private static func account(_ bytes: Int) {
        _ = lockReady
        pthread_mutex_lock(&lock)
        live.count += bytes > 0 ? 1 : -1
        live.bytes += bytes
        pthread_mutex_unlock(&lock)
    }
    /// KV caches alive in this process, and their bytes.
    public static var liveCaches: (count: Int, bytes: Int) {
        _ = lockReady
        pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }
        return live
    }

    public var byteCount: Int { 2 * positions * capacity * kvDim * 4 }

    // Layout: per position p, per KV head g, `capacity` rows of headDim floats, so
    // that attention streams one head's keys and values contiguously.
    let headDim: Int
    var headCount: Int { kvDim / headDim }
    /// Floats between two KV heads of one position.
    var headStride: Int { capacity * headDim }

    /// Position p's block: its heads, each `capacity` rows of headDim.
    @inline(__always) func keys(position p: Int) -> UnsafeMutablePointer<Float> { keys + p * capacity * kvDim }
    @inline(__always) func values(position p: Int) -> UnsafeMutablePointer<Float> { values + p * capacity * kvDim }

    /// Store `count` tokens' K and V rows (each kvDim floats, heads side by side)
    /// at position p from token `token` on.
    func store(position p: Int, token: Int, count: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>) {
        let kb = keys(position: p), vb = values(position: p)
        for t in 0..<count {
            for g in 0..<headCount {
                let at = g * headStride + (token + t) * headDim, from = t * kvDim + g * headDim
                (kb + at).update(from: k + from, count: headDim)
                (vb + at).update(from: v + from, count: headDim)
            }
        }
    }

    /// The K (or V) row of `token` at position p, heads side by side (tests, inspection).
    func row(keys wantKeys: Bool, position p: Int, token: Int) -> [Float] {
        let base = wantKeys ? keys(position: p) : values(position: p)
        return (0..<headCount).flatMap { g in
            Array(UnsafeBufferPointer(start: base + g * headStride + token * headDim, count: headDim))
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
