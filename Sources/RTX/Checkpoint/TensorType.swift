// TensorType.swift — GGML tensor element types: block geometry of every type a
// GGUF file may name, and which of them RTX computes with.

public struct TensorType: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public let name: String
    /// Elements per block and bytes per block.
    public let blockElements: Int
    public let blockBytes: Int
    /// RTX has kernels for it (dequantize + matmul).
    public let isSupported: Bool

    public var description: String { name }

    public static let f32 = known[0]!
    public static let f16 = known[1]!
    public static let q4_0 = known[2]!
    public static let q4_1 = known[3]!
    public static let q5_0 = known[6]!
    public static let q8_0 = known[8]!
    public static let q4_K = known[12]!
    public static let q6_K = known[14]!
    public static let bf16 = known[30]!

    /// Every type id ggml defines (so an unknown-to-RTX type is "unsupported",
    /// while an id ggml never defined is a format error).
    static let known: [UInt32: TensorType] = {
        let table: [(UInt32, String, Int, Int, Bool)] = [
            (0, "f32", 1, 4, true), (1, "f16", 1, 2, true), (2, "q4_0", 32, 18, true),
            (3, "q4_1", 32, 20, true), (6, "q5_0", 32, 22, true), (7, "q5_1", 32, 24, true),
            (8, "q8_0", 32, 34, true), (9, "q8_1", 32, 36, false), (10, "q2_K", 256, 84, false),
            (11, "q3_K", 256, 110, false), (12, "q4_K", 256, 144, true), (13, "q5_K", 256, 176, false),
            (14, "q6_K", 256, 210, true), (15, "q8_K", 256, 292, false), (16, "iq2_xxs", 256, 66, false),
            (17, "iq2_xs", 256, 74, false), (18, "iq3_xxs", 256, 98, false), (19, "iq1_s", 256, 50, false),
            (20, "iq4_nl", 32, 18, false), (21, "iq3_s", 256, 110, false), (22, "iq2_s", 256, 82, false),
            (23, "iq4_xs", 256, 136, false), (24, "i8", 1, 1, false), (25, "i16", 1, 2, false),
            (26, "i32", 1, 4, false), (27, "i64", 1, 8, false), (28, "f64", 1, 8, false),
            (29, "iq1_m", 256, 56, false), (30, "bf16", 1, 2, true), (34, "tq1_0", 256, 54, false),
            (35, "tq2_0", 256, 66, false), (39, "mxfp4", 32, 17, false),
        ]
        var d: [UInt32: TensorType] = [:]
        for (id, name, be, bb, ok) in table {
            d[id] = TensorType(rawValue: id, name: name, blockElements: be, blockBytes: bb, isSupported: ok)
        }
        return d
    }()

    public init?(rawValue: UInt32) {
        guard let t = TensorType.known[rawValue] else { return nil }
        self = t
    }

    private init(rawValue: UInt32, name: String, blockElements: Int, blockBytes: Int, isSupported: Bool) {
        self.rawValue = rawValue; self.name = name
        self.blockElements = blockElements; self.blockBytes = blockBytes; self.isSupported = isSupported
    }

    public init?(name: String) {
        guard let t = TensorType.known.values.first(where: { $0.name == name.lowercased() }) else { return nil }
        self = t
    }

    /// Bytes of a row of `elements` values (elements must be a multiple of blockElements).
    public func rowBytes(_ elements: Int) -> Int { elements / blockElements * blockBytes }
}
