// HyperKeys.swift — hyper-parameters as a table. Each entry ties one field of
// HyperParameters to its GGUF key(s), its config.json key(s), its default and its
// check; one reader per format and one GGUF writer walk the table, so every key is
// spelled once. An architecture's table is the common decoder keys, or its declared
// base's table, with its own entries on top (Architecture.hyperKeyTable).

/// One hyper-parameter: where each format keeps it, what it is when absent, which
/// values are valid. Values travel as Double between formats and fields (integers
/// up to 2^53 are exact; every checked range is far below). Unchecked Sendable: the
/// tables are immutable statics whose closures capture nothing mutable.
public struct HyperKey: @unchecked Sendable {
    /// The field, by type: GGUF stores integers as u32, reals as f32.
    public enum Field {
        case int(WritableKeyPath<HyperParameters, Int>)
        case float(WritableKeyPath<HyperParameters, Float>)
        /// nil = not set: nothing is written, and the reader takes the fallback.
        case optionalFloat(WritableKeyPath<HyperParameters, Float?>)
        case bool(WritableKeyPath<HyperParameters, Bool>)
    }

    /// What the reader takes when the checkpoint does not name the value.
    public enum Fallback {
        case required
        /// A constant (bool: 0 or 1).
        case value(Double)
        /// A rule over the fields read before this one, described for messages. Where
        /// it gives nil, an optional field stays unset and any other is required.
        case derived(String, (HyperParameters) -> Double?)
        /// The field stays nil (optionalFloat only).
        case unset
    }

    /// A config.json key, and how its JSON value becomes the field's value.
    public struct HFKey {
        public var name: String
        /// nil: the JSON number (or bool) itself. A converter may read fields before this one.
        public var convert: ((JSONValue, HyperParameters) throws -> Double)?

        public init(_ name: String, convert: ((JSONValue, HyperParameters) throws -> Double)? = nil) {
            self.name = name
            self.convert = convert
        }
    }

    /// Thrown by an HFKey converter: why the JSON value cannot be used (the reader
    /// adds the file and the key).
    public struct InvalidValue: Error {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
    }

    /// A test of a value against the fields read before it: nil when valid, else
    /// what the value must be ("must be in 1...4096"), for the message.
    public struct Check {
        public var failure: (Double, HyperParameters) -> String?
        public init(_ failure: @escaping (Double, HyperParameters) -> String?) { self.failure = failure }
    }

    public var field: Field
    /// Names after "{architecture}.", e.g. "attention.head_count". The value is
    /// written under every name; on reading, the names present must agree. Empty:
    /// GGUF does not store the value (the reader derives it).
    public var gguf: [String]
    /// config.json names, aliases in order: the first present wins. Empty: derived.
    public var hf: [HFKey]
    public var fallback: Fallback
    /// What a JSON null means (configs write null to switch a feature off); nil: as if absent.
    public var hfNull: Double?
    public var check: Check

    public init(_ field: Field, gguf: [String], hf: [HFKey], fallback: Fallback, hfNull: Double? = nil, check: Check) {
        self.field = field
        self.gguf = gguf
        self.hf = hf
        self.fallback = fallback
        self.hfNull = hfNull
        self.check = check
    }

    /// The key a message names for a value a GGUF file lacks: the first GGUF name.
    func ggufName(architecture: String) -> String {
        gguf.first.map { architecture + "." + $0 } ?? hf.first?.name ?? "\(field.keyPath)"
    }

    /// The key a message names for a value a config.json lacks: the first HF name.
    func hfName(architecture: String) -> String {
        hf.first?.name ?? ggufName(architecture: architecture)
    }
}

extension HyperKey.Field {
    var keyPath: AnyKeyPath {
        switch self {
        case .int(let k): return k
        case .float(let k): return k
        case .optionalFloat(let k): return k
        case .bool(let k): return k
        }
    }

    func get(_ h: HyperParameters) -> Double? {
        switch self {
        case .int(let k): return Double(h[keyPath: k])
        case .float(let k): return Double(h[keyPath: k])
        case .optionalFloat(let k): return h[keyPath: k].map(Double.init)
        case .bool(let k): return h[keyPath: k] ? 1 : 0
        }
    }

    /// v as the field holds it (a real rounded to f32), which is what is checked.
    func representable(_ v: Double) -> Double {
        switch self {
        case .float, .optionalFloat: return Double(Float(v))
        case .int, .bool: return v
        }
    }

    /// Only after `check` accepted v (integers are integral and in range by then).
    func set(_ v: Double, in h: inout HyperParameters) {
        switch self {
        case .int(let k): h[keyPath: k] = Int(v)
        case .float(let k): h[keyPath: k] = Float(v)
        case .optionalFloat(let k): h[keyPath: k] = Float(v)
        case .bool(let k): h[keyPath: k] = v != 0
        }
    }

    func render(_ v: Double) -> String {
        switch self {
        case .int: return v.rounded() == v && abs(v) < 9e15 ? "\(Int(v))" : "\(v)"
        case .float, .optionalFloat: return "\(Float(v))"
        case .bool: return v != 0 ? "true" : "false"
        }
    }
}

// MARK: Checks

extension HyperKey.Check {
    /// An integer count in `range`.
    public static func count(_ range: ClosedRange<Int>) -> Self {
        Self { v, _ in
            v.rounded() == v && v >= Double(range.lowerBound) && v <= Double(range.upperBound)
                ? nil : "must be an integer in \(range.lowerBound)...\(range.upperBound)"
        }
    }
    public static let positive = Self { v, _ in v.isFinite && v > 0 ? nil : "must be a positive number" }
    public static let nonNegative = Self { v, _ in v.isFinite && v >= 0 ? nil : "must be a number ≥ 0" }
    /// In the open interval (0, 1): norm epsilons.
    public static let fraction = Self { v, _ in v.isFinite && v > 0 && v < 1 ? nil : "must be in (0, 1)" }
    public static let any = Self { _, _ in nil }

    /// Both checks; the first failure is reported.
    public func and(_ other: Self) -> Self {
        let first = failure, second = other.failure
        return Self { v, h in first(v, h) ?? second(v, h) }
    }
    /// An even integer (a non-integral or out-of-range value is not, and does not trap).
    public static let even = Self { v, _ in
        v.rounded() == v && abs(v) < 9e15 && Int(v) % 2 == 0 ? nil : "must be an even integer"
    }
}

// MARK: The keys every decoder shares

extension HyperKey {
    /// llama.cpp's keys of a decoder-only transformer, with Llama's config.json names
    /// and defaults. Order matters: defaults and checks see only the fields above them.
    public static let decoder: [HyperKey] = [
        HyperKey(.int(\.layerCount), gguf: ["block_count"], hf: [HFKey("num_hidden_layers")],
                 fallback: .required, check: .count(1...4096)),
        HyperKey(.int(\.embeddingLength), gguf: ["embedding_length"], hf: [HFKey("hidden_size")],
                 fallback: .required, check: .count(1...(1 << 16))),
        HyperKey(.int(\.feedForwardLength), gguf: ["feed_forward_length"], hf: [HFKey("intermediate_size")],
                 fallback: .required, check: .count(1...(1 << 18))),
        HyperKey(.int(\.headCount), gguf: ["attention.head_count"], hf: [HFKey("num_attention_heads")],
                 fallback: .required, check: .count(1...1024)),
        HyperKey(.int(\.headCountKV), gguf: ["attention.head_count_kv"], hf: [HFKey("num_key_value_heads")],
                 fallback: .derived("head_count (multi-head attention)") { Double($0.headCount) },
                 check: .count(1...1024).and(.dividing(\.headCount, "head_count"))),
        // llama.cpp reads key and value widths apart; RTX's attention needs them equal.
        HyperKey(.int(\.headDim), gguf: ["attention.key_length", "attention.value_length"], hf: [HFKey("head_dim")],
                 fallback: .derived("embedding_length / head_count") { h in
                     h.embeddingLength % h.headCount == 0 ? Double(h.embeddingLength / h.headCount) : nil
                 },
                 check: .count(2...1024).and(.even)),
        HyperKey(.int(\.ropeDimensions), gguf: ["rope.dimension_count"], hf: [],
                 fallback: .derived("the head dimension (all of each head rotates)") { Double($0.headDim) },
                 check: .count(2...1024).and(.even).and(.atMost(\.headDim, "the head dimension"))),
        HyperKey(.float(\.ropeFreqBase), gguf: ["rope.freq_base"], hf: [HFKey("rope_theta")],
                 fallback: .value(10000), check: .positive),
        HyperKey(.float(\.normEpsilon), gguf: ["attention.layer_norm_rms_epsilon"], hf: [HFKey("rms_norm_eps")],
                 fallback: .value(1e-5), check: .fraction),
        HyperKey(.int(\.contextLength), gguf: ["context_length"], hf: [HFKey("max_position_embeddings")],
                 fallback: .value(2048), check: .count(1...(1 << 24))),
        HyperKey(.int(\.vocabularySize), gguf: ["vocab_size"], hf: [HFKey("vocab_size")],
                 fallback: .required, check: .count(1...(1 << 24))),
        // Softmax scale of the scores; unset = 1/√head_dim.
        HyperKey(.optionalFloat(\.attentionScale), gguf: ["attention.scale"], hf: [],
                 fallback: .unset, check: .positive),
    ]
}

extension HyperKey.Check {
    /// An integer that divides the (earlier) field `other`.
    static func dividing(_ other: KeyPath<HyperParameters, Int>, _ name: String) -> Self {
        Self { v, h in
            guard v.rounded() == v, v >= 1, v <= Double(h[keyPath: other]) else { return "must divide \(name) \(h[keyPath: other])" }
            return h[keyPath: other] % Int(v) == 0 ? nil : "must divide \(name) \(h[keyPath: other])"
        }
    }
    /// Equal to the (earlier) field `other`.
    static func equal(_ other: KeyPath<HyperParameters, Int>, _ name: String) -> Self {
        Self { v, h in v == Double(h[keyPath: other]) ? nil : "must equal \(name) \(h[keyPath: other])" }
    }
    /// At most the (earlier) field `other`.
    static func atMost(_ other: KeyPath<HyperParameters, Int>, _ name: String) -> Self {
        Self { v, h in v <= Double(h[keyPath: other]) ? nil : "must be at most \(name) \(h[keyPath: other])" }
    }
}

// MARK: Tables by inheritance

extension Array where Element == HyperKey {
    /// This table with `own` on top: an own entry for a field the table already has
    /// replaces that entry in place (so its position, and what it may read, stays);
    /// the others are appended.
    public func extended(with own: [HyperKey]) -> [HyperKey] {
        var table = self
        for key in own {
            if let i = table.firstIndex(where: { $0.field.keyPath == key.field.keyPath }) {
                table[i] = key
            } else {
                table.append(key)
            }
        }
        return table
    }
}

// MARK: Reading

enum HyperKeyReader {
    /// Walk `table` in order: the value the checkpoint names (through `lookup`: the
    /// value and the key it came from), else the fallback; check it; set it.
    static func read(_ table: [HyperKey], architecture: String, source: String, missingName: (HyperKey) -> String,
                     lookup: (HyperKey, HyperParameters) throws -> (value: Double, key: String)?) throws -> HyperParameters {
        var h = HyperParameters(architecture: architecture)
        for key in table {
            // `origin` names where the value came from, for messages.
            let value: Double, origin: String
            if let named = try lookup(key, h) {
                (value, origin) = (named.value, "'\(named.key)'")
            } else {
                let name = missingName(key)
                switch key.fallback {
                case .unset: continue
                case .value(let v): (value, origin) = (v, "'\(name)' (default)")
                case .required:
                    throw RTXError.format("\(source): required key '\(name)' is missing")
                case .derived(let rule, let derive):
                    guard let v = derive(h) else {
                        if case .optionalFloat = key.field { continue }
                        throw RTXError.format("\(source): required key '\(name)' is missing (\(rule) does not give it)")
                    }
                    (value, origin) = (v, "'\(name)' (derived: \(rule))")
                }
            }
            let stored = key.field.representable(value)
            if let why = key.check.failure(stored, h) {
                throw RTXError.format("\(source): \(origin) \(key.field.render(value)) \(why)")
            }
            key.field.set(stored, in: &h)
        }
        return h
    }

    /// GGUF metadata keys "{architecture}.{name}": every name present must agree.
    static func gguf(_ metadata: [String: GGUFValue], table: [HyperKey], architecture: String,
                     source: String) throws -> HyperParameters {
        try read(table, architecture: architecture, source: source,
                 missingName: { $0.ggufName(architecture: architecture) }) { key, _ in
            var found: (value: Double, key: String)?
            for name in key.gguf {
                let full = architecture + "." + name
                guard let raw = metadata[full] else { continue }
                let v = try number(raw, as: key.field, key: full, source: source)
                if let found, found.value != v {
                    throw RTXError.format("\(source): '\(found.key)' \(key.field.render(found.value)) and '\(full)' "
                                          + "\(key.field.render(v)) disagree (RTX needs them equal)")
                }
                found = found ?? (v, full)
            }
            return found
        }
    }

    /// config.json: the first alias present; JSON null is `hfNull` or absent.
    static func hf(_ config: HFConfig, table: [HyperKey], architecture: String, source: String) throws -> HyperParameters {
        try read(table, architecture: architecture, source: source,
                 missingName: { $0.hfName(architecture: architecture) }) { key, h in
            for alias in key.hf {
                guard let raw = config.raw[alias.name] else { continue }
                if raw.isNull {
                    if let off = key.hfNull { return (off, alias.name) }
                    continue
                }
                if let convert = alias.convert {
                    do {
                        return (try convert(raw, h), alias.name)
                    } catch let why as HyperKey.InvalidValue {
                        throw RTXError.format("\(source): '\(alias.name)' \(why.reason)")
                    }
                }
                return (try number(raw, as: key.field, key: alias.name, source: source), alias.name)
            }
            return nil
        }
    }

    static func number(_ v: GGUFValue, as field: HyperKey.Field, key: String, source: String) throws -> Double {
        let n: Double?
        switch field {
        case .int: n = v.valueType == .bool ? nil : v.intValue.map(Double.init)
        case .float, .optionalFloat: n = v.valueType == .bool ? nil : v.floatValue
        case .bool: n = v.boolValue.map { $0 ? 1 : 0 }
        }
        guard let n else { throw RTXError.format("\(source): '\(key)' must be \(field.kindName), found \(v.typeName)") }
        return n
    }

    static func number(_ v: JSONValue, as field: HyperKey.Field, key: String, source: String) throws -> Double {
        let n: Double?
        switch field {
        case .int: n = v.intValue.map(Double.init)
        case .float, .optionalFloat: n = v.doubleValue
        case .bool: n = v.boolValue.map { $0 ? 1 : 0 }
        }
        guard let n else { throw RTXError.format("\(source): '\(key)' is a JSON \(v.kind) (\(v)), expected \(field.kindName)") }
        return n
    }
}

extension HyperKey.Field {
    var kindName: String {
        switch self {
        case .int: return "an integer"
        case .float, .optionalFloat: return "a number"
        case .bool: return "true or false"
        }
    }
}

// MARK: Writing

enum HyperKeyWriter {
    /// Every set field under each of its GGUF names ("{architecture}." + name).
    static func write(_ h: HyperParameters, table: [HyperKey], architecture: String, to w: inout GGUFWriter) {
        for key in table {
            guard let v = key.field.get(h) else { continue }
            let value: GGUFValue
            switch key.field {
            case .int: value = .uint32(UInt32(v))   // validated on reading: 0 ≤ v ≤ 2^24
            case .float, .optionalFloat: value = .float32(Float(v))
            case .bool: value = .bool(v != 0)
            }
            for name in key.gguf { w.set(architecture + "." + name, value) }
        }
    }
}
