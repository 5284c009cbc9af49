// Weights.swift — typed views of a model's tensors. Linear weights stay in their
// stored (quantized) format inside the memory map; norm vectors are small and are
// dequantized to f32 once at load.
import CRTXKernels

/// A weight matrix of `rows` output rows × `columns` inputs, in its stored type.
public struct WeightMatrix: @unchecked Sendable {
    public let name: String
    public let data: UnsafeRawPointer
    public let type: TensorType
    public let rows: Int
    public let columns: Int
    public var rowStride: Int { type.rowBytes(columns) }

    /// All rows dequantized to f32, (rows, columns) row-major.
    public func dequantized() -> [Float] {
        var out = [Float](repeating: 0, count: rows * columns)
        out.withUnsafeMutableBufferPointer { o in
            for r in 0..<rows { dequantizeRow(r, into: o.baseAddress! + r * columns) }
        }
        return out
    }

    /// Dequantize row r into out[0..<columns].
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        rtxk_dequantize_row(out, data + r * rowStride, Int32(type.rawValue), Int64(columns))
    }
}

/// The weights of one stored (shared) layer: linear maps in their stored
/// format, norm vectors in f32 (only the roles its architecture has).
public struct LayerWeights: @unchecked Sendable {
    public var linear: [BlockRole: WeightMatrix]
    public var norms: [BlockRole: [Float]]

    public subscript(linear role: BlockRole) -> WeightMatrix {
        guard let w = linear[role] else { preconditionFailure("\(role) is not a linear map of this layer") }
        return w
    }
}

/// A low-rank delta W ≈ B·A of one linear map at one position (the relaxation).
/// Applied unmerged: y = W'x + B(Ax).
public struct LoRA: @unchecked Sendable {
    public let a: WeightMatrix   // (rank, in)
    public let b: WeightMatrix   // (out, rank)
    public var rank: Int { a.rows }
}

/// What is specific to one unrolled position p: its norms (tied: the shared
/// layer's), the LoRA deltas of its linear maps, and its non-weight attributes.
public struct PositionWeights: @unchecked Sendable {
    public var norms: [BlockRole: [Float]]
    public var lora: [BlockRole: LoRA]
    public var attributes: PositionAttributes
}

public struct ModelWeights: @unchecked Sendable {
    public var tokenEmbedding: WeightMatrix   // rows = vocabulary, columns = d
    public var outputNorm: [Float]
    public var output: WeightMatrix           // rows = vocabulary (tied: the embedding)
    public var layers: [LayerWeights]         // stored layers (K of them)
    public var positions: [PositionWeights]   // unrolled positions (L of them)
    public var outputIsTied: Bool

    /// Largest LoRA rank of any module (sizes scratch buffers).
    public var maxLoRARank: Int { positions.flatMap { $0.lora.values.map(\.rank) }.max() ?? 0 }
}

/// Builds typed views from a validated GGUF tensor table, checking shapes and types.
struct WeightBinder {
    let gguf: GGUFFile

    func tensor(_ name: String) throws -> GGUFTensor {
        guard let t = gguf.tensor(name) else { throw RTXError.format("\(gguf.fileName): required tensor '\(name)' is missing") }
        guard t.type.isSupported else {
            throw RTXError.unsupported("\(gguf.fileName): tensor '\(name)' has type \(t.type), which RTX cannot compute with")
        }
        return t
    }

    func matrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
        let t = try tensor(name)
        guard t.dims.count == 2, t.dims[0] == columns, t.dims[1] == rows else {
            throw RTXError.format("\(gguf.fileName): tensor '\(name)' has shape \(t.dims), expected [\(columns), \(rows)]")
        }
        let bad = nonFiniteCount(t)
        if bad > 0 {
            Log.write(.warn, "\(gguf.fileName): tensor '\(name)' has \(bad) NaN/infinite values or block scales; its outputs will be garbage")
        }
        return WeightMatrix(name: name, data: gguf.bytes(of: t), type: t.type, rows: rows, columns: columns)
    }

    /// Values (float types) or block scales (quantized types) that are NaN or infinite.
    func nonFiniteCount(_ t: GGUFTensor) -> Int {
        let p = gguf.bytes(of: t)
        let blocks = t.byteCount / t.type.blockBytes
        // Byte offsets of the f16 scales inside one block, per type.
        let f16Scales: [Int]
        switch t.type {
        case .f32:
            var n = 0
            for i in 0..<t.elementCount where !p.loadUnaligned(fromByteOffset: 4 * i, as: Float.self).isFinite { n += 1 }
            return n
        case .f16: f16Scales = [0]
        case .bf16:
            var n = 0
            for i in 0..<t.elementCount where p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self) & 0x7F80 == 0x7F80 { n += 1 }
            return n
        case .q4_0, .q5_0, .q8_0: f16Scales = [0]
        case .q4_1, .q4_K: f16Scales = [0, 2]
        case .q6_K: f16Scales = [208]
        default:
            if t.type.name == "q5_1" { f16Scales = [0, 2] } else { return 0 }
        }
        var n = 0
        let stride = t.type.blockBytes
        for b in 0..<blocks {
            for o in f16Scales where p.loadUnaligned(fromByteOffset: b * stride + o, as: UInt16.self) & 0x7C00 == 0x7C00 { n += 1 }
        }
        return n
    }

    func vector(_ name: String, length: Int) throws -> [Float] {
        let t = try tensor(name)
        guard t.elementCount == length, t.dims[0] == length else {
            throw RTXError.format("\(gguf.fileName): tensor '\(name)' has shape \(t.dims), expected [\(length)]")
        }
        var out = [Float](repeating: 0, count: length)
        out.withUnsafeMutableBufferPointer { rtxk_dequantize_row($0.baseAddress!, gguf.bytes(of: t), Int32(t.type.rawValue), Int64(length)) }
        if out.contains(where: { !$0.isFinite }) {
            throw RTXError.format("\(gguf.fileName): tensor '\(name)' contains NaN or infinite values")
        }
        return out
    }
}
