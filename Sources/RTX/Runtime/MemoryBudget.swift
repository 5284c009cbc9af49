// MemoryBudget.swift — the memory a context or a scheduler may take, checked
// before it allocates: a KV cache or scratch that cannot fit is refused with
// .outOfMemory instead of being mapped lazily and killed by the kernel later.
// The budget is the caller's max_memory, or the machine's physical memory.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct MemoryBudget: Sendable, Equatable {
    /// Bytes allowed; 0 = the machine's physical memory.
    public var limit: Int

    public init(limit: Int = 0) { self.limit = limit }

    /// Physical memory of the machine (sysconf), in bytes.
    public static var physicalMemory: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return Int.max }
        let (bytes, overflow) = pages.multipliedReportingOverflow(by: size)
        return overflow ? Int.max : bytes
    }

    /// The limit in effect: `limit`, or physical memory when it is 0.
    public var bytes: Int { limit > 0 ? limit : MemoryBudget.physicalMemory }

    /// Throws .outOfMemory unless `needed` bytes (nil: the size overflows) fit
    /// beside `used` bytes already taken. `what` names the allocation.
    public func check(_ needed: Int?, used: Int = 0, _ what: @autoclosure () -> String) throws {
        let source = limit > 0 ? "max_memory" : "physical memory"
        guard let needed, case let (total, false) = needed.addingReportingOverflow(used), total <= bytes else {
            let size = needed.map { "\($0) bytes" } ?? "more bytes than a 64-bit size holds"
            let beside = used > 0 ? " beside \(used) bytes already held" : ""
            throw RTXError(.outOfMemory, "\(what()) needs \(size)\(beside), over the \(bytes)-byte budget (\(source))")
        }
    }

    /// Bytes of the K and V caches of `positions` slots × `capacity` tokens × `kvDim` floats (nil: overflow).
    public static func kvCacheBytes(positions: Int, capacity: Int, kvDim: Int) -> Int? {
        product([2, positions, capacity, kvDim, MemoryLayout<Float>.size])
    }

    /// Bytes of the activation scratch of `rows` rows (Scratch in BlockForward.swift),
    /// plus `logitRows` rows of logits (nil: overflow).
    public static func scratchBytes(_ h: HyperParameters, rows: Int, maxLoRARank: Int, logitRows: Int) -> Int? {
        let perRow = 3 * h.embeddingLength + 2 * h.qDim + 2 * h.kvDim + 2 * h.feedForwardLength + max(maxLoRARank, 1)
        return sum(product([rows, perRow, MemoryLayout<Float>.size]), product([logitRows, h.vocabularySize, MemoryLayout<Float>.size]))
    }

    /// The sum of sizes (nil when one is nil or the sum overflows).
    public static func sum(_ parts: Int?...) -> Int? {
        var r = 0
        for part in parts {
            guard let part, case let (s, false) = r.addingReportingOverflow(part) else { return nil }
            r = s
        }
        return r
    }

    private static func product(_ factors: [Int]) -> Int? {
        var r = 1
        for f in factors {
            guard f >= 0, case let (p, false) = r.multipliedReportingOverflow(by: f) else { return nil }
            r = p
        }
        return r
    }
}
