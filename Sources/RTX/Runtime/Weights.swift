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

    /// Dequantize row r into out[0..<columns].
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        rtxk_dequantize_row(out, data + r * rowStride, Int32(type.rawValue), Int64(columns))
    }
}

/// The weights of one stored (shared) layer.
public struct LayerWeights: @unchecked Sendable {
    public var attnNorm: [Float]
    public var ffnNorm: [Float]
    public var attnQ, attnK, attnV, attnOutput: WeightMatrix
    public var ffnGate, ffnUp, ffnDown: WeightMatrix

    public subscript(linear role: BlockRole) -> WeightMatrix {
        switch role {
        case .attnQ: return attnQ
        case .attnK: return attnK
        case .attnV: return attnV
        case .attnOutput: return attnOutput
        case .ffnGate: return ffnGate
        case .ffnUp: return ffnUp
        case .ffnDown: return ffnDown
        case .attnNorm, .ffnNorm: preconditionFailure("\(role) is a norm, not a linear map")
        }
    }
}

public struct ModelWeights: @unchecked Sendable {
    public var tokenEmbedding: WeightMatrix   // rows = vocabulary, columns = d
    public var outputNorm: [Float]
    public var output: WeightMatrix           // rows = vocabulary (tied: the embedding)
    public var layers: [LayerWeights]         // stored layers (K of them)
    public var outputIsTied: Bool
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
        return WeightMatrix(name: name, data: gguf.bytes(of: t), type: t.type, rows: rows, columns: columns)
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
