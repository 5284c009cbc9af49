// Safetensors.swift — the safetensors reader (single file and sharded via
// model.safetensors.index.json). Layout: u64 LE header length N, N bytes of JSON
// ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {…}}), then
// the data. Like the GGUF reader, everything is validated before a tensor byte is
// touched: header cap (100 MB) and bounds, JSON, dtypes, shape × dtype = byte size
// with overflow checks, and tensors covering the data exactly (no gaps, overlaps
// or bytes past the end). Tensors are exposed in GGML order (dims reversed from the
// Hugging Face shape) so the runtime binds them like GGUF tensors.

public struct SafetensorsTensor: Sendable {
    public let name: String
    /// GGML order: dims[0] is the innermost (contiguous) dimension = HF shape.last.
    public let dims: [Int]
    /// The Hugging Face (row-major, outermost first) shape as stored.
    public let shape: [Int]
    public let type: TensorType
    /// Absolute byte offset in `file` and size in bytes.
    public let offset: Int
    public let byteCount: Int
    public let file: MappedFile

    public var elementCount: Int { dims.reduce(1, *) }
    /// The tensor's first byte (valid while `file` lives). Not necessarily aligned
    /// beyond the dtype's natural alignment: safetensors does not promise more.
    public var data: UnsafeRawPointer { file.base + offset }
}

/// One .safetensors file.
public final class SafetensorsFile: @unchecked Sendable {
    public static let maxHeaderBytes = 100_000_000

    public let file: MappedFile
    public let tensors: [SafetensorsTensor]
    public let tensorIndex: [String: Int]
    /// The optional "__metadata__" string map.
    public let metadata: [String: String]
    /// Where the data section starts (8 + header length).
    public let dataOffset: Int

    public var path: String { file.path }
    public var fileName: String { file.path.split(separator: "/").last.map(String.init) ?? file.path }

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        let f = file.path
        let headerLength = try SafetensorsFile.readHeaderLength(file)
        let header = try SafetensorsFile.parseHeader(file, length: headerLength)
        dataOffset = 8 + headerLength
        var metadata: [String: String] = [:]
        var tensors: [SafetensorsTensor] = []
        // One pass in file order, so the first bad entry is the one reported.
        for (name, entry) in header.members {
            if name == "__metadata__" {
                metadata = try SafetensorsFile.readMetadata(entry, file: f)
            } else {
                tensors.append(try SafetensorsFile.readTensor(name, entry, file: file, dataOffset: dataOffset))
            }
        }
        try SafetensorsFile.checkTiling(tensors, dataOffset: dataOffset, dataSize: file.size - dataOffset, file: f)
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.tensors = tensors
        self.tensorIndex = index
        self.metadata = metadata
    }

    /// The u64 LE header length: under the cap, and the header inside the file.
    static func readHeaderLength(_ file: MappedFile) throws -> Int {
        let f = file.path
        guard file.size >= 8 else {
            throw RTXError.format("\(f): \(file.size) bytes is shorter than the 8-byte safetensors header length")
        }
        var headerLength: UInt64 = 0
        for k in 0..<8 { headerLength |= UInt64(file.bytes[k]) << (8 * UInt64(k)) }
        guard headerLength <= UInt64(SafetensorsFile.maxHeaderBytes) else {
            throw RTXError.format("\(f): header length \(headerLength) exceeds the \(SafetensorsFile.maxHeaderBytes)-byte cap")
        }
        let n = Int(headerLength)
        guard n >= 2, 8 + n <= file.size else {
            throw RTXError.format("\(f): header length \(n) does not fit in the file (\(file.size) bytes)")
        }
        return n
    }

    /// The JSON header, which must be an object.
    static func parseHeader(_ file: MappedFile, length n: Int) throws -> JSONObject {
        let f = file.path
        let header = UnsafeRawBufferPointer(rebasing: file.bytes[8..<(8 + n)])
        guard header[0] == UInt8(ascii: "{") else {
            throw RTXError.format("\(f): header does not start with '{'")
        }
        let json = try JSON.parse(header, source: "\(f) (header)")
        guard let object = json.objectValue else {
            throw RTXError.format("\(f): header is a JSON \(json.kind), not an object")
        }
        return object
    }

    /// "__metadata__": an object whose values are all strings.
    static func readMetadata(_ entry: JSONValue, file f: String) throws -> [String: String] {
        guard let m = entry.objectValue else {
            throw RTXError.format("\(f): __metadata__ is a JSON \(entry.kind), not an object")
        }
        var metadata: [String: String] = [:]
        for (key, value) in m.members {
            guard let s = value.stringValue else {
                throw RTXError.format("\(f): __metadata__ key '\(key)' is a \(value.kind), not a string")
            }
            metadata[key] = s
        }
        return metadata
    }

    /// One tensor entry: a usable name, only the three known fields, a supported
    /// dtype, and a shape whose byte size is exactly the span of its data_offsets.
    static func readTensor(_ name: String, _ entry: JSONValue, file: MappedFile, dataOffset: Int) throws -> SafetensorsTensor {
        let f = file.path
        let what = "\(f): tensor '\(name)'"
        guard !name.isEmpty, !name.utf8.contains(0) else { throw RTXError.format("\(f): a tensor has an empty name or one with NUL") }
        guard let info = entry.objectValue else {
            throw RTXError.format("\(what) is a JSON \(entry.kind), not an object")
        }
        for key in info.keys where !["dtype", "shape", "data_offsets"].contains(key) {
            throw RTXError.format("\(what) has unknown field '\(key)'")
        }
        guard let dtype = info["dtype"]?.stringValue else {
            throw RTXError.format("\(what) has no string 'dtype'")
        }
        let type = try SafetensorsFile.tensorType(dtype, what)
        let (shape, elements) = try SafetensorsFile.readShape(info["shape"], what)
        let (begin, end) = try SafetensorsFile.readDataOffsets(info["data_offsets"], what, dataSize: file.size - dataOffset)
        let byteCount = try checkedMul(elements, type.blockBytes, "\(what): byte size")
        guard byteCount == end - begin else {
            throw RTXError.format("\(what) is \(dtype) of shape \(shape) = \(byteCount) bytes, but data_offsets span \(end - begin) bytes")
        }
        return SafetensorsTensor(name: name, dims: shape.isEmpty ? [1] : shape.reversed(), shape: shape,
                                 type: type, offset: dataOffset + begin, byteCount: byteCount, file: file)
    }

    /// "shape": at most 8 positive integers, and their product without overflow.
    static func readShape(_ value: JSONValue?, _ what: String) throws -> (shape: [Int], elements: Int) {
        guard let shapeItems = value?.arrayValue else {
            throw RTXError.format("\(what) has no array 'shape'")
        }
        guard shapeItems.count <= 8 else {
            throw RTXError.format("\(what) has \(shapeItems.count) dimensions (at most 8)")
        }
        var shape: [Int] = []
        var elements = 1
        for item in shapeItems {
            guard let d = item.intValue, case .int = item, d >= 0 else {
                throw RTXError.format("\(what) has shape entry \(item) that is not a non-negative integer")
            }
            guard d > 0 else { throw RTXError.format("\(what) has a zero dimension in shape \(shapeItems.map { $0.intValue ?? -1 })") }
            shape.append(d)
            elements = try checkedMul(elements, d, "\(what): element count")
        }
        return (shape, elements)
    }

    /// "data_offsets": [begin, end] integers with 0 ≤ begin ≤ end ≤ the data size.
    static func readDataOffsets(_ value: JSONValue?, _ what: String, dataSize: Int) throws -> (begin: Int, end: Int) {
        guard let offsets = value?.arrayValue, offsets.count == 2,
              case .int(let begin) = offsets[0], case .int(let end) = offsets[1] else {
            throw RTXError.format("\(what) has no 'data_offsets' [begin, end] of integers")
        }
        guard begin >= 0, begin <= end else {
            throw RTXError.format("\(what) has data_offsets [\(begin), \(end)]: begin must be ≤ end and ≥ 0")
        }
        guard end <= dataSize else {
            throw RTXError.format("\(what) ends at data offset \(end), past the end of the data (\(dataSize) bytes)")
        }
        return (begin, end)
    }

    /// Tensors must tile the data exactly: sorted by begin, each starts where the
    /// previous ended, the first at 0 and the last at the end of the file.
    static func checkTiling(_ tensors: [SafetensorsTensor], dataOffset: Int, dataSize: Int, file f: String) throws {
        var ranges = tensors.enumerated().map { i, t in
            (begin: t.offset - dataOffset, end: t.offset - dataOffset + t.byteCount, index: i)
        }
        ranges.sort { $0.begin != $1.begin ? $0.begin < $1.begin : $0.end < $1.end }
        var position = 0
        var previous: Int? = nil
        for r in ranges {
            let name = tensors[r.index].name
            if r.begin < position, let previous {
                throw RTXError.format("\(f): tensor '\(name)' (data \(r.begin)..<\(r.end)) overlaps tensor '\(tensors[previous].name)' (data ..<\(position))")
            }
            if r.begin > position {
                throw RTXError.format("\(f): bytes \(position)..<\(r.begin) of the data belong to no tensor (before '\(name)')")
            }
            position = r.end
            previous = r.index
        }
        if position != dataSize {
            throw RTXError.format("\(f): bytes \(position)..<\(dataSize) of the data belong to no tensor")
        }
    }

    public func tensor(_ name: String) -> SafetensorsTensor? { tensorIndex[name].map { tensors[$0] } }

    /// The GGML type of a safetensors dtype: F32/F16/BF16 are read; the other
    /// dtypes safetensors defines are unsupported; anything else is malformed.
    static func tensorType(_ dtype: String, _ what: String) throws -> TensorType {
        switch dtype {
        case "F32": return .f32
        case "F16": return .f16
        case "BF16": return .bf16
        case "F64", "I64", "U64", "I32", "U32", "I16", "U16", "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2",
             "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64":
            throw RTXError.unsupported("\(what) has dtype \(dtype); RTX reads F32, F16 and BF16")
        default:
            throw RTXError.format("\(what) has unknown dtype '\(dtype)'")
        }
    }
}

/// A Hugging Face checkpoint's weights: one model.safetensors, or the shards that
/// model.safetensors.index.json names. Tensor names are unique across shards.
public final class SafetensorsCheckpoint: @unchecked Sendable {
    public let files: [SafetensorsFile]
    public let tensors: [SafetensorsTensor]
    public let tensorIndex: [String: Int]

    /// `path`: a .safetensors file, an index .json, or a folder holding
    /// model.safetensors.index.json or model.safetensors.
    public init(path: String) throws {
        var path = path
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        if path.hasSuffix(".json") {
            files = try SafetensorsCheckpoint.openShards(index: path)
        } else if path.hasSuffix(".safetensors") {
            files = [try SafetensorsFile(path: path)]
        } else if isRegularFile("\(path)/model.safetensors.index.json") {
            files = try SafetensorsCheckpoint.openShards(index: "\(path)/model.safetensors.index.json")
        } else if isRegularFile("\(path)/model.safetensors") {
            files = [try SafetensorsFile(path: "\(path)/model.safetensors")]
        } else {
            throw RTXError(.io, "\(path): no model.safetensors or model.safetensors.index.json there")
        }
        var tensors: [SafetensorsTensor] = []
        var index: [String: Int] = [:]
        for file in files {
            for t in file.tensors {
                if let other = index[t.name] {
                    throw RTXError.format("tensor '\(t.name)' is in both \(tensors[other].file.path) and \(file.path)")
                }
                index[t.name] = tensors.count
                tensors.append(t)
            }
        }
        self.tensors = tensors
        self.tensorIndex = index
    }

    public func tensor(_ name: String) -> SafetensorsTensor? { tensorIndex[name].map { tensors[$0] } }

    /// Opens the shards of an index ({"metadata": …, "weight_map": {tensor: shard}})
    /// and checks the map against what each shard holds.
    static func openShards(index path: String) throws -> [SafetensorsFile] {
        let json = try JSON.parse(path: path)
        guard let map = json["weight_map"]?.objectValue else {
            throw RTXError.format("\(path): no 'weight_map' object")
        }
        let folder = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        var shardNames: [String] = []
        var expected: [String: String] = [:]
        for (tensor, value) in map.members {
            guard let shard = value.stringValue else {
                throw RTXError.format("\(path): weight_map entry '\(tensor)' is a \(value.kind), not a file name")
            }
            guard isPlainFileName(shard) else {
                throw RTXError.format("\(path): weight_map entry '\(tensor)' names shard '\(shard)', which is not a plain file name in the index's folder")
            }
            if !shardNames.contains(shard) { shardNames.append(shard) }
            expected[tensor] = shard
        }
        guard !shardNames.isEmpty else { throw RTXError.format("\(path): weight_map is empty") }
        var files: [SafetensorsFile] = []
        for shard in shardNames {
            let file = try SafetensorsFile(path: "\(folder)/\(shard)")
            for t in file.tensors where expected[t.name] != shard {
                throw RTXError.format("\(file.path): tensor '\(t.name)' is not mapped to this shard by \(path)")
            }
            files.append(file)
        }
        for (tensor, shard) in expected where !files.contains(where: { $0.fileName == shard && $0.tensorIndex[tensor] != nil }) {
            throw RTXError.format("\(path): weight_map puts '\(tensor)' in \(shard), which does not hold it")
        }
        return files
    }

    /// A shard name must stay in the index's folder: no separators, no "..", no NUL.
    static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\\")
            && !name.utf8.contains(0) && name.utf8.count <= 255
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func isRegularFile(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
}
