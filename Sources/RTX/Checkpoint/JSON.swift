// JSON.swift — a small strict JSON parser (RFC 8259) for safetensors headers,
// config.json and tokenizer.json, without Foundation. Strict: no comments, no
// trailing commas, no NaN/Infinity, no duplicate keys, valid UTF-8 and escapes
// only, nesting capped; every error names the source and the byte offset.

public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// An integer literal (no fraction or exponent) that fits in Int.
    case int(Int)
    /// Any other number.
    case double(Double)
    case string(String)
    case array([JSONValue])
    /// Members in file order (keys are unique).
    case object(JSONObject)

    public var intValue: Int? {
        switch self {
        case .int(let v): return v
        case .double(let d): return d.rounded() == d && abs(d) < 9.0e15 ? Int(d) : nil
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .double(let d): return d
        default: return nil
        }
    }
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    public var isNull: Bool { self == .null }

    /// "null", "bool", "number", "string", "array" or "object", for messages.
    public var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "bool"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// Member `key` of an object (nil for a missing key or a non-object).
    public subscript(key: String) -> JSONValue? { objectValue?[key] }
}

public struct JSONObject: Sendable, Equatable {
    public private(set) var members: [(key: String, value: JSONValue)] = []
    private var index: [String: Int] = [:]

    public init() {}

    public var keys: [String] { members.map(\.key) }
    public var count: Int { members.count }

    public subscript(key: String) -> JSONValue? { index[key].map { members[$0].value } }

    /// Adds a member; false when the key is already present.
    mutating func insert(_ key: String, _ value: JSONValue) -> Bool {
        guard index[key] == nil else { return false }
        index[key] = members.count
        members.append((key, value))
        return true
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.members.count == b.members.count
            && zip(a.members, b.members).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

public enum JSON {
    /// Deepest nesting of arrays/objects accepted (the parser recurses).
    public static let maxDepth = 128

    /// Parses one JSON value filling `bytes` (surrounding whitespace allowed).
    /// `source` names the file (and part) in error messages.
    public static func parse(_ bytes: UnsafeRawBufferPointer, source: String) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes, source: source)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.offset == bytes.count else { throw parser.fail("unexpected data after the JSON value") }
        return value
    }

    public static func parse(_ text: String, source: String) throws -> JSONValue {
        var copy = Array(text.utf8)
        return try copy.withUnsafeMutableBytes { try parse(UnsafeRawBufferPointer($0), source: source) }
    }

    /// Reads and parses a whole file (mapped, then released).
    public static func parse(path: String) throws -> JSONValue {
        let file = try MappedFile(path: path)
        return try parse(file.bytes, source: path)
    }
}

private struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    let source: String
    var offset = 0

    init(bytes: UnsafeRawBufferPointer, source: String) {
        self.bytes = bytes
        self.source = source
    }

    func fail(_ what: String) -> RTXError {
        RTXError.format("\(source): invalid JSON at byte \(offset): \(what)")
    }

    var atEnd: Bool { offset >= bytes.count }
    var current: UInt8 { bytes[offset] }

    mutating func skipWhitespace() {
        while !atEnd, current == 0x20 || current == 0x0A || current == 0x0D || current == 0x09 { offset += 1 }
    }

    mutating func expect(_ literal: StaticString, _ value: JSONValue) throws -> JSONValue {
        let n = literal.utf8CodeUnitCount
        guard offset + n <= bytes.count else { throw fail("truncated literal") }
        for k in 0..<n where bytes[offset + k] != literal.utf8Start[k] { throw fail("invalid literal") }
        offset += n
        return value
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard !atEnd else { throw fail("unexpected end of input") }
        switch current {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail("unexpected character '\(Unicode.Scalar(current))'")
        }
    }

    mutating func parseObject(depth: Int) throws -> JSONValue {
        guard depth <= JSON.maxDepth else { throw fail("nesting deeper than \(JSON.maxDepth)") }
        offset += 1
        var object = JSONObject()
        skipWhitespace()
        if !atEnd, current == UInt8(ascii: "}") {
            offset += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard !atEnd, current == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let keyOffset = offset
            let key = try parseString()
            skipWhitespace()
            guard !atEnd, current == UInt8(ascii: ":") else { throw fail("expected ':' after key \"\(key)\"") }
            offset += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            guard object.insert(key, value) else {
                offset = keyOffset
                throw fail("duplicate key \"\(key)\"")
            }
            skipWhitespace()
            guard !atEnd else { throw fail("unterminated object") }
            if current == UInt8(ascii: ",") { offset += 1; continue }
            if current == UInt8(ascii: "}") { offset += 1; return .object(object) }
            throw fail("expected ',' or '}' in object")
        }
    }

    mutating func parseArray(depth: Int) throws -> JSONValue {
        guard depth <= JSON.maxDepth else { throw fail("nesting deeper than \(JSON.maxDepth)") }
        offset += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if !atEnd, current == UInt8(ascii: "]") {
            offset += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            guard !atEnd else { throw fail("unterminated array") }
            if current == UInt8(ascii: ",") { offset += 1; continue }
            if current == UInt8(ascii: "]") { offset += 1; return .array(items) }
            throw fail("expected ',' or ']' in array")
        }
    }

    mutating func parseHex4() throws -> UInt32 {
        guard offset + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = current
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail("bad hex digit in \\u escape")
            }
            v = v << 4 | d
            offset += 1
        }
        return v
    }

    mutating func parseString() throws -> String {
        offset += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard !atEnd else { throw fail("unterminated string") }
            let c = current
            switch c {
            case UInt8(ascii: "\""):
                offset += 1
                // Validate UTF-8 (raw bytes were copied as they were).
                guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
                return s
            case UInt8(ascii: "\\"):
                offset += 1
                guard !atEnd else { throw fail("unterminated escape") }
                let e = current
                offset += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard offset + 2 <= bytes.count, bytes[offset] == UInt8(ascii: "\\"),
                              bytes[offset + 1] == UInt8(ascii: "u") else { throw fail("unpaired surrogate") }
                        offset += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw fail("unpaired surrogate")
                    }
                    out += Array(String(Unicode.Scalar(scalar)!).utf8)
                default: throw fail("bad escape '\\\(Unicode.Scalar(e))'")
                }
            default:
                guard c >= 0x20 else { throw fail("control character in string") }
                out.append(c)
                offset += 1
            }
        }
    }

    mutating func parseNumber() throws -> JSONValue {
        let start = offset
        var isInteger = true
        if current == UInt8(ascii: "-") { offset += 1 }
        func digits(_ p: inout JSONParser) -> Int {
            var n = 0
            while !p.atEnd, p.current >= 0x30, p.current <= 0x39 { p.offset += 1; n += 1 }
            return n
        }
        guard !atEnd else { throw fail("truncated number") }
        if current == UInt8(ascii: "0") {
            offset += 1
            if !atEnd, current >= 0x30, current <= 0x39 { throw fail("leading zero in number") }
        } else if digits(&self) == 0 {
            throw fail("expected digits")
        }
        if !atEnd, current == UInt8(ascii: ".") {
            isInteger = false
            offset += 1
            guard digits(&self) > 0 else { throw fail("expected digits after '.'") }
        }
        if !atEnd, current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isInteger = false
            offset += 1
            if !atEnd, current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset += 1 }
            guard digits(&self) > 0 else { throw fail("expected digits in exponent") }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
        if isInteger, let v = Int(text) { return .int(v) }
        guard let d = Double(text), d.isFinite else { throw fail("number '\(text)' is out of range") }
        return .double(d)
    }
}
