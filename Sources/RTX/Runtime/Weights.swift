// Weights.swift — typed views of a model's tensors. Linear weights stay in their
// stored (quantized) format inside the memory map (Q4_0 / Q4_1 / Q8_0 maps also get
// a copy repacked at load for decode, packForProducts); norm vectors are small and
// are dequantized to f32 once at load.
import CRTXKernels
#if canImport(Glibc)
import Glibc
#endif

/// A weight matrix of `rows` output rows × `columns` inputs, in its stored type.
public struct WeightMatrix: @unchecked Sendable {
    public let name: String
    public let data: UnsafeRawPointer
    public let type: TensorType
    public let rows: Int
    public let columns: Int
    public var rowStride: Int { type.rowBytes(columns) }
    /// The rows repacked at load for the integer product's decode kernel
    /// (rtxk_pack: 8 rows interleaved per block, as many bytes as `data`), owned by
    /// the model; nil when the type or the CPU's kernel path has no packed layout.
    /// Products of a few rows read it instead of `data` (ModelWeights.packForProducts).
    public var packed: UnsafeRawPointer? = nil

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
    /// Biases of linear maps and LayerNorms, by role (GPT-NeoX), in f32.
    public var biases: [BlockRole: [Float]] = [:]

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
    /// Biases of LayerNorms and linear maps by role (GPT-NeoX): the shared layer's,
    /// or this position's own when the checkpoint keeps norms per position.
    public var biases: [BlockRole: [Float]] = [:]
}

public struct ModelWeights: @unchecked Sendable {
    public var tokenEmbedding: WeightMatrix   // rows = vocabulary, columns = d
    public var outputNorm: [Float]
    public var output: WeightMatrix           // rows = vocabulary (tied: the embedding)
    public var layers: [LayerWeights]         // stored layers (K of them)
    public var positions: [PositionWeights]   // unrolled positions (L of them)
    public var outputIsTied: Bool
    /// The final LayerNorm's bias (GPT-NeoX).
    public var outputNormBias: [Float]? = nil
    /// exitGates[b]: the learned exit gate after loop b, for b < B − 1; empty when
    /// the file has none.
    public var exitGates: [ExitGate] = []

    /// Largest LoRA rank of any module (sizes scratch buffers).
    public var maxLoRARank: Int { positions.flatMap { $0.lora.values.map(\.rank) }.max() ?? 0 }
}

extension ModelWeights {
    /// Packs every linear map of the stored layers and the LM head whose type the
    /// active kernel path reads packed (Q4_0, Q4_1, Q8_0 on the AVX2 path) into
    /// buffers `owned` keeps: decode and small batches then read each weight once,
    /// 8 rows per vector instruction (Sources/CRTXKernels/x86_qpacked.h). The stored
    /// rows stay in the memory map for prompts, the embedding and conversion.
    /// Packing only speeds products up, so it never risks memory: it is skipped when
    /// the copies would take more than a quarter of physical memory, and a map whose
    /// buffer cannot be allocated stays unpacked. `RTX_PACK_WEIGHTS=0` in the
    /// environment turns it off (to measure the difference). Returns the bytes allocated.
    @discardableResult
    mutating func packForProducts(owned: OwnedTensors, threads: Int) -> Int {
        if let v = getenv("RTX_PACK_WEIGHTS"), String(cString: v) == "0" { return 0 }
        let exec = rtxk_exec(threads: Int32(clamping: max(threads, 1)), products: Int32(RTXK_PRODUCTS_FAST))
        func packedBytes(_ w: WeightMatrix) -> Int {
            guard w.packed == nil, rtxk_pack_used(Int32(w.type.rawValue)) != 0 else { return 0 }
            return max(0, rtxk_pack_bytes(Int32(w.type.rawValue), Int64(w.rows), Int64(w.columns)))
        }
        let planned = layers.reduce(packedBytes(output)) { sum, layer in
            layer.linear.values.reduce(sum) { total, w in
                let (next, overflow) = total.addingReportingOverflow(packedBytes(w))
                return overflow ? Int.max : next
            }
        }
        guard planned > 0, planned <= MemoryBudget.physicalMemory / 4 else { return 0 }
        var total = 0
        func pack(_ w: inout WeightMatrix) {
            let bytes = packedBytes(w)
            guard bytes > 0, let buffer = owned.tryAllocate(bytes: bytes) else { return }
            rtxk_pack(buffer, w.data, Int32(w.type.rawValue), w.rowStride, Int64(w.rows), Int64(w.columns), exec)
            w.packed = UnsafeRawPointer(buffer)
            total += bytes
        }
        for j in layers.indices {
            for role in Array(layers[j].linear.keys) {
                pack(&layers[j].linear[role]!)
            }
        }
        pack(&output)
        return total
    }
}

/// A learned exit gate after one loop: λ = σ(w · norm(h) + c), norm being the
/// exit head's final norm. d multiply-adds per row instead of the LM head's d·vocab.
public struct ExitGate: @unchecked Sendable {
    /// w as a (1, d) f32 matrix in the memory map, so rows go through the products.
    public let weight: WeightMatrix
    public let bias: Float
}

/// Tensors RTX had to build at load (rows regrouped from a fused tensor), owned
/// by the model for its lifetime; every other weight points into the memory map.
final class OwnedTensors: @unchecked Sendable {
    private(set) var buffers: [UnsafeMutableRawPointer] = []

    func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
        buffers.append(p)
        return p
    }

    private var optional: [UnsafeMutableRawPointer] = []

    /// A 64-byte aligned buffer, or nil when the allocator has none (for buffers
    /// the model can do without, such as packed copies).
    func tryAllocate(bytes: Int) -> UnsafeMutableRawPointer? {
        var p: UnsafeMutableRawPointer?
        guard bytes > 0, posix_memalign(&p, 64, bytes) == 0, let p else { return nil }
        optional.append(p)
        return p
    }

    deinit {
        for p in buffers { p.deallocate() }
        for p in optional { free(p) }
    }
}

/// Builds typed views from a validated tensor table (GGUF or safetensors),
/// checking shapes and types.
struct WeightBinder {
    let source: any TensorSource
    let owned: OwnedTensors

    func tensor(_ name: String) throws -> SourceTensor {
        guard let t = source.sourceTensor(name) else { throw RTXError.format("\(source.sourceName): required tensor '\(name)' is missing") }
        guard t.type.isSupported else {
            throw RTXError.unsupported("\(source.sourceName): tensor '\(name)' has type \(t.type), which RTX cannot compute with")
        }
        return t
    }

    func matrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
        let t = try tensor(name)
        guard t.dims.count == 2, t.dims[0] == columns, t.dims[1] == rows else {
            throw RTXError.format("\(source.sourceName): tensor '\(name)' has shape \(t.dims), expected [\(columns), \(rows)]")
        }
        let bad = nonFiniteCount(t)
        if bad > 0 {
            Log.write(.warn, "\(source.sourceName): tensor '\(name)' has \(bad) NaN/infinite values or block scales; its outputs will be garbage")
        }
        return WeightMatrix(name: name, data: t.data, type: t.type, rows: rows, columns: columns)
    }

    /// The matrix made of rows `rows` (in order) of tensor `name`, whose rows have
    /// `columns` values: how fused Q/K/V tensors are split. Rows are copied in their
    /// stored type (whole rows: any type works).
    func matrix(_ name: String, gathering rows: [Int], columns: Int) throws -> WeightMatrix {
        let t = try tensor(name)
        guard t.dims.count == 2, t.dims[0] == columns, rows.allSatisfy({ $0 >= 0 && $0 < t.dims[1] }) else {
            throw RTXError.format("\(source.sourceName): tensor '\(name)' has shape \(t.dims), expected [\(columns), ≥ \((rows.max() ?? 0) + 1)]")
        }
        let stride = t.rowBytes
        let out = owned.allocate(bytes: rows.count * stride)
        for (i, r) in rows.enumerated() { (out + i * stride).copyMemory(from: t.data + r * stride, byteCount: stride) }
        let m = WeightMatrix(name: name, data: UnsafeRawPointer(out), type: t.type, rows: rows.count, columns: columns)
        let bad = nonFiniteCount(SourceTensor(name: name, dims: [columns, rows.count], type: t.type, data: m.data, byteCount: rows.count * stride))
        if bad > 0 { Log.write(.warn, "\(source.sourceName): tensor '\(name)' has \(bad) NaN/infinite values or block scales") }
        return m
    }

    /// Elements `indices` of vector `name` (a fused bias split like its matrix).
    func vector(_ name: String, gathering indices: [Int], length: Int) throws -> [Float] {
        let all = try vector(name, length: length)
        return indices.map { all[$0] }
    }

    /// The exit gates after loops 0..<loops − 1 (RecursiveTensorNames.gateWeight/
    /// gateBias): none when the file has no gate tensor, else every one, f32, of
    /// shape [width] and [1], finite. A partial set, a stray gate, a wrong type or
    /// shape, or a non-finite value is a format error naming the tensor.
    func exitGates(loops: Int, width d: Int) throws -> [ExitGate] {
        let present = source.sourceTensors.map(\.name).filter { $0.hasPrefix(RecursiveTensorNames.gatePrefix) }
        guard !present.isEmpty else { return [] }
        let boundaries = 0..<max(loops - 1, 0)
        let expected = Set(boundaries.flatMap { [RecursiveTensorNames.gateWeight(afterLoop: $0), RecursiveTensorNames.gateBias(afterLoop: $0)] })
        if let stray = present.first(where: { !expected.contains($0) }) {
            throw RTXError.format("\(source.sourceName): tensor '\(stray)' is not an exit gate of this \(loops)-loop model (gates follow loops 0..<\(loops - 1))")
        }
        return try boundaries.map { b in
            let w = try gateTensor(RecursiveTensorNames.gateWeight(afterLoop: b), length: d, loops: loops)
            let c = try gateTensor(RecursiveTensorNames.gateBias(afterLoop: b), length: 1, loops: loops)
            return ExitGate(weight: WeightMatrix(name: w.name, data: w.data, type: .f32, rows: 1, columns: d),
                            bias: c.data.loadUnaligned(as: Float.self))
        }
    }

    /// A looped checkpoint's one exit gate (Ouro's early_exit_gate: weight (1, d),
    /// bias (1), any float type), used after each of loops 0..<loops − 1 (no gate
    /// follows the last loop), copied to f32 so that it runs like a GGUF file's
    /// gates. Missing, mis-shaped or non-finite tensors are format errors naming them.
    func sharedExitGate(_ native: NativeLoops, loops: Int, width d: Int) throws -> [ExitGate] {
        let w = try matrix(native.gateWeight, rows: 1, columns: d)
        let bias = try vector(native.gateBias, length: 1)
        let values = w.dequantized()
        guard values.allSatisfy(\.isFinite) else {
            throw RTXError.format("\(source.sourceName): exit gate tensor '\(native.gateWeight)' contains NaN or infinite values")
        }
        let buffer = owned.allocate(bytes: d * MemoryLayout<Float>.size)
        values.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let gate = ExitGate(weight: WeightMatrix(name: native.gateWeight, data: UnsafeRawPointer(buffer), type: .f32, rows: 1, columns: d),
                            bias: bias[0])
        return Array(repeating: gate, count: max(loops - 1, 0))
    }

    /// One gate tensor, checked: present, f32, dims [length], finite.
    private func gateTensor(_ name: String, length: Int, loops: Int) throws -> SourceTensor {
        let f = source.sourceName
        guard let t = source.sourceTensor(name) else {
            throw RTXError.format("\(f): exit gate tensor '\(name)' is missing (gates are all or none: one after each of loops 0..<\(loops - 1))")
        }
        guard t.type == .f32 else { throw RTXError.format("\(f): exit gate tensor '\(name)' has type \(t.type), expected f32") }
        guard t.dims == [length] else { throw RTXError.format("\(f): exit gate tensor '\(name)' has shape \(t.dims), expected [\(length)]") }
        guard nonFiniteCount(t) == 0 else { throw RTXError.format("\(f): exit gate tensor '\(name)' contains NaN or infinite values") }
        return t
    }

    /// Values (float types) or block scales (quantized types) that are NaN or infinite.
    func nonFiniteCount(_ t: SourceTensor) -> Int {
        let p = t.data
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

    /// A vector in f32, plus `offset` on every element (the format's norm convention).
    func vector(_ name: String, length: Int, offset: Float = 0) throws -> [Float] {
        let t = try tensor(name)
        guard t.elementCount == length, t.dims[0] == length else {
            throw RTXError.format("\(source.sourceName): tensor '\(name)' has shape \(t.dims), expected [\(length)]")
        }
        var out = [Float](repeating: 0, count: length)
        out.withUnsafeMutableBufferPointer { rtxk_dequantize_row($0.baseAddress!, t.data, Int32(t.type.rawValue), Int64(length)) }
        if out.contains(where: { !$0.isFinite }) {
            throw RTXError.format("\(source.sourceName): tensor '\(name)' contains NaN or infinite values")
        }
        if offset != 0 { for i in out.indices { out[i] += offset } }
        return out
    }
}
