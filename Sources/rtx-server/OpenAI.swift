// OpenAI.swift — the wire format: request bodies parsed (RTX's strict JSON
// parser) and checked field by field into a GenerationRequest, errors as
// OpenAI's {"error": {"message", "type", "param", "code"}}, and a small JSON
// writer for the responses and stream chunks.
import Hummingbird
import RTX

// MARK: Errors

struct APIError: Error {
    var status: HTTPResponse.Status
    var message: String
    var type: String
    var param: String?
    var code: String?
    /// Seconds, for 503.
    var retryAfter: Int?
    /// Close the connection after the response (a body left unread).
    var closeConnection = false

    static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: code)
    }

    var outcome: String {
        switch status.code {
        case 401: return "unauthorized"
        case 503: return "overloaded"
        case 400..<500: return "invalid"
        default: return "error"
        }
    }

    var body: JSONOut {
        .object([("error", .object([
            ("message", .string(message)), ("type", .string(type)),
            ("param", param.map(JSONOut.string) ?? .null), ("code", code.map(JSONOut.string) ?? .null),
        ]))])
    }

    func response() -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = "\(retryAfter)" }
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if closeConnection { headers[.connection] = "close" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body.bytes)))
    }
}

// MARK: Requests

enum Endpoint: Sendable { case completions, chat }

/// A completion or chat request, checked.
struct GenerationRequest: Sendable {
    var endpoint: Endpoint
    var model: String
    /// Completions: the prompt text or its token ids; chat: the messages.
    var prompt: Prompt
    var stream = false
    var includeUsage = false
    var maxTokens: Int?
    var temperature: Float?
    var topP: Float?
    var seed: UInt64?
    var stop: [String] = []
    /// llama-server's extension: generate max_tokens even past end-of-generation.
    var ignoreEOS = false
    /// RTX's extension: this request's exit policy.
    var exit: ExitPolicy?

    enum Prompt: Sendable {
        case text(String)
        case tokens([Int32])
        case messages([ChatMessage])
    }

    /// Parses and checks a request body: every error names the field (param).
    init(body: [UInt8], endpoint: Endpoint, loops: Int) throws {
        let json: JSONValue
        do {
            json = try body.withUnsafeBytes { try JSON.parse($0, source: "request body") }
        } catch let e as RTXError {
            throw APIError.invalid("malformed JSON: \(e.message)")
        }
        guard let object = json.objectValue else { throw APIError.invalid("the request body must be a JSON object, not \(json.kind)") }
        let fields = Fields(object: object)
        self.endpoint = endpoint
        guard let model = try fields.string("model") else { throw APIError.invalid("'model' is required", param: "model") }
        self.model = model
        switch endpoint {
        case .completions:
            guard let p = object["prompt"] else { throw APIError.invalid("'prompt' is required", param: "prompt") }
            prompt = try Self.completionPrompt(p)
            if try fields.bool("echo") == true { throw APIError.invalid("'echo' is not supported", param: "echo") }
            if let bestOf = try fields.int("best_of"), bestOf != 1 {
                throw APIError.invalid("only best_of = 1 is supported", param: "best_of")
            }
            if let logprobs = object["logprobs"], !logprobs.isNull {
                throw APIError.invalid("'logprobs' is not supported", param: "logprobs")
            }
        case .chat:
            guard let m = object["messages"] else { throw APIError.invalid("'messages' is required", param: "messages") }
            prompt = .messages(try Self.messages(m))
            if try fields.bool("logprobs") == true { throw APIError.invalid("'logprobs' is not supported", param: "logprobs") }
        }
        if let n = try fields.int("n"), n != 1 {
            throw APIError.invalid("only n = 1 is supported (one choice per request); got n = \(n)", param: "n")
        }
        stream = try fields.bool("stream") ?? false
        if let options = object["stream_options"], !options.isNull {
            guard let o = options.objectValue else { throw APIError.invalid("'stream_options' must be an object", param: "stream_options") }
            includeUsage = try Fields(object: o, prefix: "stream_options.").bool("include_usage") ?? false
        }
        // Chat's newer name first; both are "tokens to generate at most".
        let maxKey = endpoint == .chat && object["max_completion_tokens"] != nil ? "max_completion_tokens" : "max_tokens"
        if let maxTokens = try fields.int(maxKey) {
            guard maxTokens >= 1 else { throw APIError.invalid("'\(maxKey)' must be >= 1, got \(maxTokens)", param: maxKey) }
            self.maxTokens = maxTokens
        }
        if let t = try fields.number("temperature") {
            guard t >= 0, t <= 2 else { throw APIError.invalid("'temperature' must be in [0, 2], got \(t)", param: "temperature") }
            temperature = Float(t)
        }
        if let p = try fields.number("top_p") {
            guard p > 0, p <= 1 else { throw APIError.invalid("'top_p' must be in (0, 1], got \(p)", param: "top_p") }
            topP = Float(p)
        }
        if let s = try fields.int("seed") { seed = UInt64(bitPattern: Int64(s)) }
        if let s = object["stop"], !s.isNull {
            switch s {
            case .string(let one): stop = [one]
            case .array(let items):
                guard items.count <= 4 else { throw APIError.invalid("'stop' takes at most 4 strings", param: "stop") }
                stop = try items.map {
                    guard let t = $0.stringValue else { throw APIError.invalid("'stop' must be a string or an array of strings", param: "stop") }
                    return t
                }
            default: throw APIError.invalid("'stop' must be a string or an array of strings, not \(s.kind)", param: "stop")
            }
        }
        ignoreEOS = try fields.bool("ignore_eos") ?? false
        if let e = object["rtx_exit"], !e.isNull {
            guard let o = e.objectValue else { throw APIError.invalid("'rtx_exit' must be an object", param: "rtx_exit") }
            exit = try ExitSpec.parse(object: o, loops: loops)
        }
    }

    private static func completionPrompt(_ value: JSONValue) throws -> Prompt {
        switch value {
        case .string(let s): return .text(s)
        case .array(let items):
            if items.count == 1, let s = items[0].stringValue { return .text(s) }
            if !items.isEmpty, items.allSatisfy({ if case .int = $0 { return true } else { return false } }) {
                return .tokens(try items.map {
                    guard let t = $0.intValue, let id = Int32(exactly: t) else { throw APIError.invalid("token id out of range", param: "prompt") }
                    return id
                })
            }
            throw APIError.invalid("'prompt' must be a string, one string in an array, or an array of token ids (one prompt per request)", param: "prompt")
        default:
            throw APIError.invalid("'prompt' must be a string, not \(value.kind)", param: "prompt")
        }
    }

    private static func messages(_ value: JSONValue) throws -> [ChatMessage] {
        guard let items = value.arrayValue, !items.isEmpty else {
            throw APIError.invalid("'messages' must be a non-empty array", param: "messages")
        }
        return try items.enumerated().map { i, item in
            let param = "messages[\(i)]"
            guard let o = item.objectValue else { throw APIError.invalid("'\(param)' must be an object", param: param) }
            let f = Fields(object: o, prefix: param + ".")
            guard let role = try f.string("role") else { throw APIError.invalid("'\(param).role' is required", param: param + ".role") }
            guard ["system", "developer", "user", "assistant"].contains(role) else {
                throw APIError.invalid("'\(param).role' must be system, developer, user or assistant; got '\(role)'", param: param + ".role")
            }
            let content: String
            switch o["content"] {
            case .string(let s)?: content = s
            case .array(let parts)?:
                // Text parts, concatenated (the only kind a text model reads).
                content = try parts.map {
                    guard $0["type"]?.stringValue == "text", let text = $0["text"]?.stringValue else {
                        throw APIError.invalid("'\(param).content' parts must be {\"type\": \"text\", \"text\": ...}", param: param + ".content")
                    }
                    return text
                }.joined()
            case .null?, nil:
                content = ""
            case let other?:
                throw APIError.invalid("'\(param).content' must be a string or an array of text parts, not \(other.kind)", param: param + ".content")
            }
            return ChatMessage(role: role == "developer" ? "system" : role, content: content)
        }
    }
}

/// Typed getters over a request object: a field of the wrong type is a 400 that names it.
struct Fields {
    let object: JSONObject
    var prefix = ""

    private func value(_ key: String) -> JSONValue? {
        guard let v = object[key], !v.isNull else { return nil }
        return v
    }
    private func wrongType(_ key: String, _ want: String, _ got: JSONValue) -> APIError {
        .invalid("'\(prefix)\(key)' must be \(want), not \(got.kind)", param: prefix + key)
    }
    func string(_ key: String) throws -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.stringValue else { throw wrongType(key, "a string", v) }
        return s
    }
    func bool(_ key: String) throws -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.boolValue else { throw wrongType(key, "a boolean", v) }
        return b
    }
    func int(_ key: String) throws -> Int? {
        guard let v = value(key) else { return nil }
        guard case .int(let i) = v else {
            if case .double = v { throw APIError.invalid("'\(prefix)\(key)' must be an integer", param: prefix + key) }
            throw wrongType(key, "an integer", v)
        }
        return i
    }
    func number(_ key: String) throws -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.doubleValue else { throw wrongType(key, "a number", v) }
        return d
    }
}

// MARK: Exit policies (the `rtx_exit` extension field and `--exit`)

/// `{"policy": "full" | "confidence" | "gate" | "fixed", "threshold": τ, "min_loops": m, "loops": n}`
/// in a request, or `full`, `confidence:τ[:m]`, `gate:τ[:m]`, `fixed:n` on the command line.
enum ExitSpec {
    static func parse(object o: JSONObject, loops: Int) throws -> ExitPolicy {
        let f = Fields(object: o, prefix: "rtx_exit.")
        let known = Set(["policy", "threshold", "min_loops", "loops"])
        if let unknown = o.keys.first(where: { !known.contains($0) }) {
            throw APIError.invalid("unknown field 'rtx_exit.\(unknown)' (policy, threshold, min_loops, loops)", param: "rtx_exit.\(unknown)")
        }
        let policy = try f.string("policy") ?? "full"
        let threshold = try f.number("threshold").map(Float.init)
        let minLoops = try f.int("min_loops") ?? 1
        let result: ExitPolicy
        switch policy {
        case "full": result = .fullDepth
        case "confidence", "gate":
            guard let threshold else { throw APIError.invalid("rtx_exit policy '\(policy)' needs 'threshold'", param: "rtx_exit.threshold") }
            result = policy == "gate" ? .gate(threshold: threshold, minLoops: minLoops) : .confidence(threshold: threshold, minLoops: minLoops)
        case "fixed":
            guard let n = try f.int("loops") else { throw APIError.invalid("rtx_exit policy 'fixed' needs 'loops'", param: "rtx_exit.loops") }
            result = .fixedLoops(n)
        default:
            throw APIError.invalid("rtx_exit.policy must be full, confidence, gate or fixed; got '\(policy)'", param: "rtx_exit.policy")
        }
        return result
    }

    /// `full`, `confidence:τ[:m]`, `gate:τ[:m]`, `fixed:n`.
    static func parse(_ spec: String) -> ExitPolicy? {
        let parts = spec.split(separator: ":").map(String.init)
        switch (parts.first, parts.count) {
        case ("full"?, 1): return .fullDepth
        case ("confidence"?, 2...3), ("gate"?, 2...3):
            guard let t = Float(parts[1]) else { return nil }
            let m = parts.count == 3 ? Int(parts[2]) : 1
            guard let m else { return nil }
            return parts[0] == "gate" ? .gate(threshold: t, minLoops: m) : .confidence(threshold: t, minLoops: m)
        case ("fixed"?, 2): return Int(parts[1]).map { .fixedLoops($0) }
        default: return nil
        }
    }
}

// MARK: JSON out

/// A JSON value to write: objects keep their member order.
indirect enum JSONOut {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONOut])
    case object([(String, JSONOut)])

    var bytes: [UInt8] {
        var out: [UInt8] = []
        write(into: &out)
        return out
    }

    func write(into out: inout [UInt8]) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .int(let i): out += Array(String(i).utf8)
        case .double(let d): out += Array((d.isFinite ? "\(d)" : "null").utf8)
        case .string(let s): Self.writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                value.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func writeString(_ s: String, into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\n"): out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case UInt8(ascii: "\t"): out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20: out += Array("\\u00".utf8) + [hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
