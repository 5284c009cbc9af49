// ByteCursor.swift — checked little-endian reads over untrusted bytes. Every
// read checks the bytes left first; every size arithmetic is overflow-checked.
// This is where a hostile length or count is stopped before it touches memory.

public struct ByteCursor {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var offset: Int
    /// Prefix for error messages ("model.gguf").
    let source: String

    public init(_ bytes: UnsafeRawBufferPointer, source: String, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
        self.source = source
    }

    public var remaining: Int { bytes.count - offset }

    func fail(_ what: String) -> RTXError {
        RTXError.format("\(source): \(what) at byte offset \(offset) (file has \(bytes.count) bytes)")
    }

    public mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, n <= remaining else { throw fail("truncated: \(what()) needs \(n) bytes, \(remaining) left") }
    }

    public mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    public mutating func readF32(_ what: @autoclosure () -> String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    public mutating func readF64(_ what: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    /// A length-prefixed (u64) UTF-8 string of at most `maxLength` bytes.
    public mutating func readString(_ what: @autoclosure () -> String, maxLength: Int) throws -> String {
        let n = try read(UInt64.self, "length of \(what())")
        guard n <= UInt64(maxLength) else { throw fail("\(what()) has length \(n), over the limit of \(maxLength)") }
        let len = Int(n)
        try need(len, what())
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + len)])
        guard let s = String(validating: slice, as: UTF8.self) else { throw fail("\(what()) is not valid UTF-8") }
        if slice.contains(0) { throw fail("\(what()) contains a NUL byte") }
        offset += len
        return s
    }

    public mutating func skip(_ n: Int, _ what: @autoclosure () -> String) throws {
        try need(n, what())
        offset += n
    }

    public mutating func seek(to newOffset: Int) throws {
        guard newOffset >= 0, newOffset <= bytes.count else { throw fail("seek to \(newOffset) past the end") }
        offset = newOffset
    }
}

/// Overflow-checked arithmetic on untrusted sizes.
@inline(__always)
func checkedMul(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws -> Int {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    if o { throw RTXError.format("\(what()): size overflows (\(a) × \(b))") }
    return r
}

@inline(__always)
func checkedAdd(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws -> Int {
    let (r, o) = a.addingReportingOverflow(b)
    if o { throw RTXError.format("\(what()): size overflows (\(a) + \(b))") }
    return r
}
