// TensorSource.swift — what the weight binder needs from a checkpoint, whatever
// its format: tensors by name, in GGML dimension order (dims[0] contiguous), as a
// type and a pointer into the memory map. GGUFFile and SafetensorsCheckpoint
// conform; their readers have validated every offset and size before this point.

/// One tensor of a checkpoint, format-independent.
public struct SourceTensor: @unchecked Sendable {
    public let name: String
    /// GGML order: dims[0] is the contiguous (row) dimension.
    public let dims: [Int]
    public let type: TensorType
    public let data: UnsafeRawPointer
    public let byteCount: Int

    public var elementCount: Int { dims.reduce(1, *) }
    public var columns: Int { dims[0] }
    public var rows: Int { elementCount / dims[0] }
    public var rowBytes: Int { type.rowBytes(dims[0]) }
}

public protocol TensorSource: Sendable {
    /// For messages: the file (or folder) name.
    var sourceName: String { get }
    func sourceTensor(_ name: String) -> SourceTensor?
    var sourceTensors: [SourceTensor] { get }
    /// Bytes of all files mapped.
    var sourceBytes: Int { get }
}

extension GGUFFile: TensorSource {
    public var sourceName: String { fileName }
    public func sourceTensor(_ name: String) -> SourceTensor? { tensor(name).map(source) }
    public var sourceTensors: [SourceTensor] { tensors.map(source) }
    public var sourceBytes: Int { file.size }

    private func source(_ t: GGUFTensor) -> SourceTensor {
        SourceTensor(name: t.name, dims: t.dims, type: t.type, data: bytes(of: t), byteCount: t.byteCount)
    }
}

extension SafetensorsCheckpoint: TensorSource {
    /// "folder/model.safetensors", or "folder (N shards)".
    public var sourceName: String {
        let parts = (files.first?.path ?? "?").split(separator: "/").suffix(2)
        if files.count == 1 { return parts.joined(separator: "/") }
        return "\(parts.count == 2 ? String(parts.first!) : ".") (\(files.count) shards)"
    }
    public func sourceTensor(_ name: String) -> SourceTensor? { tensor(name).map(Self.source) }
    public var sourceTensors: [SourceTensor] { tensors.map(Self.source) }
    public var sourceBytes: Int { files.reduce(0) { $0 + $1.file.size } }

    private static func source(_ t: SafetensorsTensor) -> SourceTensor {
        SourceTensor(name: t.name, dims: t.dims, type: t.type, data: t.data, byteCount: t.byteCount)
    }
}
