// GGUF.swift — the GGUF v3 reader: header, metadata, tensor table. Every count,
// length, dimension, type and offset is validated here, before any tensor byte
// is touched (README, "Hostile input"; Tests/data/make_bad_gguf.py is the corpus).
// Numeric metadata arrays stay as the file's bytes (GGUFArray): what the metadata
// costs in memory is bounded by a small multiple of the file's size.

/// A metadata value.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
    case array(GGUFArray)

    /// An array built from values of `elementType` (writers; each item must be of that type).
    public static func array(_ elementType: GGUFValueType, _ items: [GGUFValue]) -> GGUFValue {
        .array(GGUFArray(elementType, items))
    }

    /// Integer value of any integer type (nil for others or when out of Int range).
    public var intValue: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        case .bool(let v): return v ? 1 : 0
        default: return nil
        }
    }

    public var floatValue: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return intValue.map(Double.init)
        }
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: GGUFArray? { if case .array(let a) = self { return a } else { return nil } }

    public var typeName: String {
        switch self {
        case .array(let a): return "array<\(a.elementType)>"
        default: return "\(valueType)"
        }
    }

    public var valueType: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        }
    }

    /// Human-readable rendering (arrays summarised).
    public var rendered: String {
        switch self {
        case .string(let s): return s
        case .array(let a): return "[\(a.count) items]"
        case .bool(let b): return b ? "true" : "false"
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        default: return "\(intValue ?? 0)"
        }
    }
}

/// A metadata array. Numeric and bool elements are kept as packed little-endian
/// bytes — a slice of the file's map when read, an owned buffer when built — and
/// decoded on access; string elements are decoded once, at reading.
public struct GGUFArray: @unchecked Sendable, Equatable {
    public let elementType: GGUFValueType
    private enum Storage {
        /// `count` elements at `offset` in a mapped file (the reference keeps the map alive).
        case mapped(MappedFile, offset: Int)
        case owned([UInt8])
        case strings([String])
    }
    private let storage: Storage
    public let count: Int

    /// Elements of a fixed-size type read in place: the caller checked that they lie inside `file`.
    init(mapped file: MappedFile, offset: Int, elementType: GGUFValueType, count: Int) {
        precondition(elementType != .string && elementType != .array, "GGUFArray(mapped:) holds fixed-size elements only")
        self.elementType = elementType
        self.storage = .mapped(file, offset: offset)
        self.count = count
    }

    init(strings: [String]) {
        self.elementType = .string
        self.storage = .strings(strings)
        self.count = strings.count
    }

    /// From values; each must be of `elementType` (a programming error otherwise).
    public init(_ elementType: GGUFValueType, _ items: [GGUFValue]) {
        self.elementType = elementType
        self.count = items.count
        if elementType == .string {
            storage = .strings(items.map {
                guard let s = $0.stringValue else { preconditionFailure("GGUFArray: \($0.typeName) in an array of strings") }
                return s
            })
            return
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(items.count * elementType.minimumSize)
        for item in items {
            precondition(item.valueType == elementType, "GGUFArray: \(item.typeName) in an array of \(elementType)")
            GGUFArray.append(item, to: &bytes)
        }
        storage = .owned(bytes)
    }

    /// The packed little-endian bytes of a fixed-size element array (empty for strings).
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .mapped(let file, let offset):
            return try body(UnsafeRawBufferPointer(start: file.base + offset, count: count * elementType.minimumSize))
        case .owned(let bytes): return try bytes.withUnsafeBytes(body)
        case .strings: return try body(UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    /// The elements of an array of strings (nil for other element types).
    public var strings: [String]? { if case .strings(let s) = storage { return s } else { return nil } }

    public subscript(i: Int) -> GGUFValue {
        precondition(i >= 0 && i < count, "GGUFArray index \(i) out of 0..<\(count)")
        if case .strings(let s) = storage { return .string(s[i]) }
        let size = elementType.minimumSize
        return withBytes { b in
            func load<T: FixedWidthInteger>(_: T.Type) -> T { T(littleEndian: b.loadUnaligned(fromByteOffset: i * size, as: T.self)) }
            switch elementType {
            case .uint8: return .uint8(load(UInt8.self))
            case .int8: return .int8(load(Int8.self))
            case .uint16: return .uint16(load(UInt16.self))
            case .int16: return .int16(load(Int16.self))
            case .uint32: return .uint32(load(UInt32.self))
            case .int32: return .int32(load(Int32.self))
            case .float32: return .float32(Float(bitPattern: load(UInt32.self)))
            case .bool: return .bool(load(UInt8.self) != 0)
            case .uint64: return .uint64(load(UInt64.self))
            case .int64: return .int64(load(Int64.self))
            case .float64: return .float64(Double(bitPattern: load(UInt64.self)))
            case .string, .array: preconditionFailure("unreachable: strings are stored decoded, arrays never nest")
            }
        }
    }

    /// Every element as a value (small arrays; large ones are read through withBytes or the typed accessors).
    public var values: [GGUFValue] { (0..<count).map { self[$0] } }

    /// Integer elements as Int (nil for non-integer types; a u64 above Int.max gives nil too).
    public func ints() -> [Int]? {
        switch elementType {
        case .uint8, .int8, .uint16, .int16, .uint32, .int32, .int64:
            return (0..<count).map { self[$0].intValue! }
        case .uint64:
            var out: [Int] = []
            out.reserveCapacity(count)
            for i in 0..<count { guard let v = self[i].intValue else { return nil }; out.append(v) }
            return out
        default: return nil
        }
    }

    /// Real elements as Float (nil for other types).
    public func floats() -> [Float]? {
        guard elementType == .float32 || elementType == .float64 else { return nil }
        return (0..<count).map { Float(self[$0].floatValue!) }
    }

    /// `v`'s packed little-endian bytes (fixed-size types only).
    static func append(_ v: GGUFValue, to out: inout [UInt8]) {
        switch v {
        case .uint8(let x): out.append(x)
        case .int8(let x): out.append(UInt8(bitPattern: x))
        case .uint16(let x): withUnsafeBytes(of: x.littleEndian) { out += $0 }
        case .int16(let x): withUnsafeBytes(of: x.littleEndian) { out += $0 }
        case .uint32(let x): withUnsafeBytes(of: x.littleEndian) { out += $0 }
        case .int32(let x): withUnsafeBytes(of: x.littleEndian) { out += $0 }
        case .float32(let x): withUnsafeBytes(of: x.bitPattern.littleEndian) { out += $0 }
        case .bool(let x): out.append(x ? 1 : 0)
        case .uint64(let x): withUnsafeBytes(of: x.littleEndian) { out += $0 }
        case .int64(let x): withUnsafeBytes(of: x.littleEndian) { out += $0 }
        case .float64(let x): withUnsafeBytes(of: x.bitPattern.littleEndian) { out += $0 }
        case .string, .array: preconditionFailure("GGUFArray.append: \(v.typeName) has no fixed size")
        }
    }

    public static func == (a: GGUFArray, b: GGUFArray) -> Bool {
        guard a.elementType == b.elementType, a.count == b.count else { return false }
        if let x = a.strings { return x == b.strings }
        return a.withBytes { x in b.withBytes { y in x.elementsEqual(y) } }
    }
}

public enum GGUFValueType: UInt32, Sendable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6
    case bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes of one value of this type (strings: their minimum, the u64 length).
    var minimumSize: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64, .string: return 8
        case .array: return 12
        }
    }

    public var description: String {
        switch self {
        case .uint8: return "u8"
        case .int8: return "i8"
        case .uint16: return "u16"
        case .int16: return "i16"
        case .uint32: return "u32"
        case .int32: return "i32"
        case .float32: return "f32"
        case .bool: return "bool"
        case .string: return "string"
        case .array: return "array"
        case .uint64: return "u64"
        case .int64: return "i64"
        case .float64: return "f64"
        }
    }
}

/// One entry of the tensor table, validated: its bytes lie inside the file.
public struct GGUFTensor: Sendable {
    public let name: String
    /// GGML order: dims[0] is the contiguous (row) dimension.
    public let dims: [Int]
    public let type: TensorType
    /// Absolute byte offset in the file, and byte size.
    public let offset: Int
    public let byteCount: Int

    public var elementCount: Int { dims.reduce(1, *) }
    /// Row length (dims[0]) and number of rows (product of the other dims).
    public var columns: Int { dims[0] }
    public var rows: Int { elementCount / dims[0] }
    public var rowBytes: Int { type.rowBytes(dims[0]) }
}

public struct GGUFFile: @unchecked Sendable {
    public static let magic: UInt32 = 0x4655_4747  // "GGUF" little-endian
    public static let defaultAlignment = 32
    // Limits on untrusted sizes (generous for real files, fatal for hostile ones).
    static let maxStringBytes = 1 << 26
    static let maxKeyBytes = 1 << 16
    static let maxDims = 4

    public let file: MappedFile
    public let version: UInt32
    /// Metadata in file order, and by key.
    public let keys: [String]
    public let metadata: [String: GGUFValue]
    public let tensors: [GGUFTensor]
    public let tensorIndex: [String: Int]
    public let alignment: Int
    public let dataOffset: Int

    public var path: String { file.path }

    public init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        let name = file.path.split(separator: "/").last.map(String.init) ?? file.path
        var c = ByteCursor(file.bytes, source: name)
        let header = try GGUFFile.readHeader(&c, fileSize: file.size, name: name)
        self.version = header.version
        (self.keys, self.metadata) = try GGUFFile.readMetadata(&c, count: header.kvCount, file: file)
        self.alignment = try GGUFFile.alignment(metadata, name: name)
        let infos = try GGUFFile.readTensorInfos(&c, count: header.tensorCount, alignment: alignment, name: name)
        // A file without tensors (a vocabulary-only GGUF) may end without the data section's padding.
        self.dataOffset = infos.isEmpty ? min(c.offset + (alignment - c.offset % alignment) % alignment, file.size)
                                        : try GGUFFile.dataSectionStart(c, alignment: alignment, fileSize: file.size, name: name)
        self.tensors = try GGUFFile.placeTensors(infos, dataOffset: dataOffset, fileSize: file.size, name: name)
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.tensorIndex = index
    }

    /// A tensor-table entry as read, before its bytes are placed in the data section.
    struct TensorInfo { let name: String; let dims: [Int]; let type: TensorType; let relOffset: Int; let bytes: Int }

    /// Magic, version and the two counts, each count checked against the bytes left.
    static func readHeader(_ c: inout ByteCursor, fileSize: Int, name: String) throws -> (version: UInt32, tensorCount: Int, kvCount: Int) {
        guard fileSize >= 24 else { throw RTXError.format("\(name): \(fileSize) bytes is shorter than a GGUF header (24 bytes)") }
        let magic = try c.read(UInt32.self, "magic")
        guard magic == GGUFFile.magic else {
            throw RTXError.format("\(name): not a GGUF file (magic 0x\(String(magic, radix: 16)), expected 0x46554747 \"GGUF\")")
        }
        let version = try c.read(UInt32.self, "version")
        guard version == 3 else {
            if version == 0x0300_0000 { throw RTXError.format("\(name): byte-swapped (big-endian) GGUF is not supported") }
            if version == 1 || version == 2 { throw RTXError.unsupported("\(name): GGUF version \(version) is not supported (only v3)") }
            throw RTXError.format("\(name): unknown GGUF version \(version)")
        }
        let tensorCount = try c.read(UInt64.self, "tensor count")
        let kvCount = try c.read(UInt64.self, "metadata count")
        // Each KV needs >= 8 (key length) + 4 (type) + 1 bytes; each tensor info >= 8+4+8+4+8.
        guard kvCount <= UInt64(c.remaining / 13) else {
            throw RTXError.format("\(name): metadata count \(kvCount) cannot fit in the \(c.remaining) bytes left")
        }
        guard tensorCount <= UInt64(c.remaining / 32) else {
            throw RTXError.format("\(name): tensor count \(tensorCount) cannot fit in the \(c.remaining) bytes left")
        }
        return (version, Int(tensorCount), Int(kvCount))
    }

    /// The key-value section: keys in file order, and values by key.
    static func readMetadata(_ c: inout ByteCursor, count: Int, file: MappedFile) throws -> (keys: [String], metadata: [String: GGUFValue]) {
        var keys: [String] = []
        var metadata: [String: GGUFValue] = [:]
        keys.reserveCapacity(count)
        for i in 0..<count {
            let key = try c.readString("metadata key #\(i)", maxLength: GGUFFile.maxKeyBytes)
            guard !key.isEmpty else { throw c.fail("metadata key #\(i) is empty") }
            guard metadata[key] == nil else { throw c.fail("duplicate metadata key '\(key)'") }
            let rawType = try c.read(UInt32.self, "type of '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw c.fail("metadata '\(key)' has unknown value type \(rawType)")
            }
            metadata[key] = try GGUFFile.readValue(&c, type: type, key: key, nested: false, file: file)
            keys.append(key)
        }
        return (keys, metadata)
    }

    /// general.alignment (a power of two, u32), or the default.
    static func alignment(_ metadata: [String: GGUFValue], name: String) throws -> Int {
        guard let a = metadata["general.alignment"] else { return GGUFFile.defaultAlignment }
        guard case .uint32(let v) = a else { throw RTXError.format("\(name): general.alignment must be u32, found \(a.typeName)") }
        guard v > 0, v <= 1 << 20, v & (v - 1) == 0 else {
            throw RTXError.format("\(name): general.alignment \(v) is not a power of two in 1...1048576")
        }
        return Int(v)
    }

    /// The tensor table: unique names, dims, known types, whole blocks per row,
    /// aligned offsets, and byte sizes computed without overflow.
    static func readTensorInfos(_ c: inout ByteCursor, count: Int, alignment: Int, name: String) throws -> [TensorInfo] {
        var infos: [TensorInfo] = []
        infos.reserveCapacity(count)
        var seen = Set<String>()
        for i in 0..<count {
            let tname = try c.readString("name of tensor #\(i)", maxLength: GGUFFile.maxKeyBytes)
            guard !tname.isEmpty else { throw c.fail("tensor #\(i) has an empty name") }
            guard seen.insert(tname).inserted else { throw c.fail("duplicate tensor name '\(tname)'") }
            let dims = try readDims(&c, tensor: tname, name: name)
            let elements = dims.reduce(1, *)
            let rawType = try c.read(UInt32.self, "type of '\(tname)'")
            guard let type = TensorType(rawValue: rawType) else {
                throw c.fail("tensor '\(tname)' has unknown type id \(rawType)")
            }
            guard dims[0] % type.blockElements == 0 else {
                throw c.fail("tensor '\(tname)' row length \(dims[0]) is not a multiple of the \(type) block (\(type.blockElements))")
            }
            let offset = try c.read(UInt64.self, "offset of '\(tname)'")
            guard offset <= UInt64(Int.max / 2) else { throw c.fail("tensor '\(tname)' offset \(offset) is absurd") }
            guard Int(offset) % alignment == 0 else {
                throw c.fail("tensor '\(tname)' offset \(offset) is not aligned to \(alignment)")
            }
            let bytes = try checkedMul(elements / type.blockElements, type.blockBytes, "\(name): byte size of '\(tname)'")
            infos.append(TensorInfo(name: tname, dims: dims, type: type, relOffset: Int(offset), bytes: bytes))
        }
        return infos
    }

    /// A tensor's dimension count and dimensions, with the element count checked.
    static func readDims(_ c: inout ByteCursor, tensor tname: String, name: String) throws -> [Int] {
        let nDims = try c.read(UInt32.self, "dimension count of '\(tname)'")
        guard nDims >= 1, nDims <= UInt32(GGUFFile.maxDims) else {
            throw c.fail("tensor '\(tname)' has \(nDims) dimensions (must be 1...\(GGUFFile.maxDims))")
        }
        var dims: [Int] = []
        var elements = 1
        for d in 0..<Int(nDims) {
            let v = try c.read(UInt64.self, "dimension \(d) of '\(tname)'")
            guard v >= 1, v <= UInt64(1) << 40 else { throw c.fail("tensor '\(tname)' dimension \(d) is \(v)") }
            dims.append(Int(v))
            elements = try checkedMul(elements, Int(v), "\(name): element count of '\(tname)'")
        }
        guard elements <= 1 << 40 else { throw c.fail("tensor '\(tname)' has \(elements) elements, over the limit") }
        return dims
    }

    /// The data section starts at the next multiple of the alignment after the table.
    static func dataSectionStart(_ c: ByteCursor, alignment: Int, fileSize: Int, name: String) throws -> Int {
        let (padded, overflow) = c.offset.addingReportingOverflow(alignment - 1)
        guard !overflow else { throw c.fail("data offset overflows") }
        let dataOffset = padded / alignment * alignment
        guard dataOffset <= fileSize else {
            throw RTXError.format("\(name): truncated: the tensor data section would start at \(dataOffset), past the end (\(fileSize) bytes)")
        }
        return dataOffset
    }

    /// Every tensor inside the data section, and no two overlapping.
    static func placeTensors(_ infos: [TensorInfo], dataOffset: Int, fileSize: Int, name: String) throws -> [GGUFTensor] {
        let dataSize = fileSize - dataOffset
        var tensors: [GGUFTensor] = []
        tensors.reserveCapacity(infos.count)
        for info in infos {
            let end = try checkedAdd(info.relOffset, info.bytes, "\(name): end of tensor '\(info.name)'")
            guard end <= dataSize else {
                throw RTXError.format("\(name): tensor '\(info.name)' (offset \(info.relOffset), \(info.bytes) bytes) lies past the end of the data section (\(dataSize) bytes): file truncated or corrupt")
            }
            tensors.append(GGUFTensor(name: info.name, dims: info.dims, type: info.type,
                                      offset: dataOffset + info.relOffset, byteCount: info.bytes))
        }
        let byOffset = tensors.sorted { $0.offset < $1.offset }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where a.offset + a.byteCount > b.offset && a.byteCount > 0 {
            throw RTXError.format("\(name): tensors '\(a.name)' and '\(b.name)' overlap")
        }
        return tensors
    }

    /// One value of `type`; arrays of fixed-size elements stay in `file`'s map.
    static func readValue(_ c: inout ByteCursor, type: GGUFValueType, key: String, nested: Bool, file: MappedFile) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try c.read(UInt8.self, key))
        case .int8: return .int8(try c.read(Int8.self, key))
        case .uint16: return .uint16(try c.read(UInt16.self, key))
        case .int16: return .int16(try c.read(Int16.self, key))
        case .uint32: return .uint32(try c.read(UInt32.self, key))
        case .int32: return .int32(try c.read(Int32.self, key))
        case .float32: return .float32(try c.readF32(key))
        case .uint64: return .uint64(try c.read(UInt64.self, key))
        case .int64: return .int64(try c.read(Int64.self, key))
        case .float64: return .float64(try c.readF64(key))
        case .bool:
            let b = try c.read(UInt8.self, key)
            guard b <= 1 else { throw c.fail("bool '\(key)' has value \(b)") }
            return .bool(b == 1)
        case .string: return .string(try c.readString("string '\(key)'", maxLength: GGUFFile.maxStringBytes))
        case .array:
            guard !nested else { throw c.fail("'\(key)' is a nested array (not supported)") }
            let rawType = try c.read(UInt32.self, "element type of '\(key)'")
            guard let et = GGUFValueType(rawValue: rawType) else {
                throw c.fail("array '\(key)' has unknown element type \(rawType)")
            }
            guard et != .array else { throw c.fail("'\(key)' is a nested array (not supported)") }
            let count = try c.read(UInt64.self, "length of array '\(key)'")
            guard count <= UInt64(c.remaining / et.minimumSize) else {
                throw c.fail("array '\(key)' claims \(count) elements of \(et), more than the \(c.remaining) bytes left")
            }
            let n = Int(count)
            if et == .string {
                // At least 8 file bytes per string (checked above), at most ~3× that in memory.
                var items: [String] = []
                items.reserveCapacity(n)
                for _ in 0..<n { items.append(try c.readString("string in '\(key)'", maxLength: GGUFFile.maxStringBytes)) }
                return .array(GGUFArray(strings: items))
            }
            let start = c.offset
            try c.skip(n * et.minimumSize, "array '\(key)'")
            if et == .bool, let bad = c.bytes[start..<c.offset].first(where: { $0 > 1 }) {
                throw c.fail("bool array '\(key)' holds the value \(bad)")
            }
            return .array(GGUFArray(mapped: file, offset: start, elementType: et, count: n))
        }
    }

    // MARK: Typed access (check before every cast)

    public func tensor(_ name: String) -> GGUFTensor? { tensorIndex[name].map { tensors[$0] } }

    public func bytes(of tensor: GGUFTensor) -> UnsafeRawPointer { file.base + tensor.offset }

    var fileName: String { file.path.split(separator: "/").last.map(String.init) ?? file.path }

    public func string(_ key: String) throws -> String? {
        guard let v = metadata[key] else { return nil }
        guard let s = v.stringValue else { throw RTXError.format("\(fileName): '\(key)' must be a string, found \(v.typeName)") }
        return s
    }

    public func int(_ key: String) throws -> Int? {
        guard let v = metadata[key] else { return nil }
        guard let i = v.intValue, !(v.valueType == .bool) else {
            throw RTXError.format("\(fileName): '\(key)' must be an integer, found \(v.typeName)")
        }
        return i
    }

    public func float(_ key: String) throws -> Double? {
        guard let v = metadata[key] else { return nil }
        guard let f = v.floatValue, v.valueType != .bool else {
            throw RTXError.format("\(fileName): '\(key)' must be a number, found \(v.typeName)")
        }
        return f
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let v = metadata[key] else { return nil }
        guard let b = v.boolValue else { throw RTXError.format("\(fileName): '\(key)' must be a bool, found \(v.typeName)") }
        return b
    }

    public func requireInt(_ key: String) throws -> Int {
        guard let v = try int(key) else { throw RTXError.format("\(fileName): required key '\(key)' is missing") }
        return v
    }

    public func stringArray(_ key: String) throws -> [String]? {
        guard let v = metadata[key] else { return nil }
        guard let items = v.arrayValue?.strings else {
            throw RTXError.format("\(fileName): '\(key)' must be an array of strings, found \(v.typeName)")
        }
        return items
    }

    public func intArray(_ key: String) throws -> [Int]? {
        guard let v = metadata[key] else { return nil }
        guard let a = v.arrayValue, a.elementType != .bool else {
            throw RTXError.format("\(fileName): '\(key)' must be an array of integers, found \(v.typeName)")
        }
        guard let items = a.ints() else {
            if a.elementType == .uint64 { throw RTXError.format("\(fileName): '\(key)' holds an out-of-range integer") }
            throw RTXError.format("\(fileName): '\(key)' must be an array of integers, found \(v.typeName)")
        }
        return items
    }

    public func floatArray(_ key: String) throws -> [Float]? {
        guard let v = metadata[key] else { return nil }
        guard let items = v.arrayValue?.floats() else {
            throw RTXError.format("\(fileName): '\(key)' must be an array of floats, found \(v.typeName)")
        }
        return items
    }
}
