// GGUFWriter.swift — writes GGUF v3 files: metadata in insertion order, tensors
// aligned. Used by conversion and by tests that build tiny models.
#if canImport(Glibc)
import Glibc
#endif

public struct GGUFWriter {
    public struct Tensor {
        public var name: String
        public var dims: [Int]        // GGML order: dims[0] contiguous
        public var type: TensorType
        public var data: [UInt8]
    }

    public private(set) var metadata: [(key: String, value: GGUFValue)] = []
    public private(set) var tensors: [Tensor] = []
    public var alignment = GGUFFile.defaultAlignment

    public init() {}

    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.key == key }) { metadata[i].value = value } else { metadata.append((key, value)) }
    }

    public mutating func addTensor(_ name: String, dims: [Int], type: TensorType, data: [UInt8]) throws {
        let elements = dims.reduce(1, *)
        guard elements % type.blockElements == 0, dims[0] % type.blockElements == 0,
              data.count == elements / type.blockElements * type.blockBytes else {
            throw RTXError.invalid("tensor '\(name)': \(data.count) bytes do not match \(dims) of \(type)")
        }
        tensors.append(Tensor(name: name, dims: dims, type: type, data: data))
    }

    /// Add f32 values, stored as `type` (quantized by the kernels).
    public mutating func addTensor(_ name: String, dims: [Int], values: [Float], as type: TensorType = .f32) throws {
        let rowLen = dims[0]
        let rows = values.count / max(rowLen, 1)
        guard rows * rowLen == values.count, dims.reduce(1, *) == values.count else {
            throw RTXError.invalid("tensor '\(name)': \(values.count) values do not match \(dims)")
        }
        let rowBytes = type.rowBytes(rowLen)
        var data = [UInt8](repeating: 0, count: rows * rowBytes)
        data.withUnsafeMutableBytes { out in
            values.withUnsafeBufferPointer { src in
                for r in 0..<rows {
                    _ = rtxk_quantize_row(out.baseAddress! + r * rowBytes, src.baseAddress! + r * rowLen,
                                          Int32(type.rawValue), Int64(rowLen))
                }
            }
        }
        try addTensor(name, dims: dims, type: type, data: data)
    }

    /// The header: magic, counts, metadata, tensor table, padding to the data section.
    func header() -> [UInt8] {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); out += s.utf8 }
        func value(_ v: GGUFValue) {
            switch v {
            case .string(let s): str(s)
            case .array(let a):
                u32(a.elementType.rawValue); u64(UInt64(a.count))
                if let strings = a.strings { strings.forEach(str) } else { a.withBytes { out += $0 } }
            default: GGUFArray.append(v, to: &out)
            }
        }
        u32(GGUFFile.magic); u32(3); u64(UInt64(tensors.count))
        var meta = metadata
        if alignment != GGUFFile.defaultAlignment, !meta.contains(where: { $0.key == "general.alignment" }) {
            meta.append(("general.alignment", .uint32(UInt32(alignment))))
        }
        u64(UInt64(meta.count))
        for (k, v) in meta { str(k); u32(v.valueType.rawValue); value(v) }
        var offset = 0
        for t in tensors {
            str(t.name); u32(UInt32(t.dims.count))
            for d in t.dims { u64(UInt64(d)) }
            u32(t.type.rawValue); u64(UInt64(offset))
            offset += padded(t.data.count)
        }
        while out.count % alignment != 0 { out.append(0) }
        return out
    }

    private func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// Bytes `write` produces.
    public var serializedSize: Int { header().count + tensors.reduce(0) { $0 + padded($1.data.count) } }

    /// The whole file in memory (tests; large models go through `write`).
    public func serialize() -> [UInt8] {
        var out = header()
        for t in tensors {
            out += t.data
            out += [UInt8](repeating: 0, count: padded(t.data.count) - t.data.count)
        }
        return out
    }

    /// Stream the file to `path` (header, then each tensor, aligned).
    public func write(to path: String) throws {
        guard let f = fopen(path, "wb") else { throw RTXError(.io, "cannot create '\(path)'") }
        defer { fclose(f) }
        func put(_ bytes: [UInt8]) throws {
            let n = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
            guard n == bytes.count else { throw RTXError(.io, "short write to '\(path)' (disk full?)") }
        }
        try put(header())
        for t in tensors {
            try put(t.data)
            try put([UInt8](repeating: 0, count: padded(t.data.count) - t.data.count))
        }
        guard fflush(f) == 0 else { throw RTXError(.io, "cannot write '\(path)'") }
    }
}

import CRTXKernels
