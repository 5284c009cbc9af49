// Routes.swift — the HTTP surface: OpenAI's /v1/completions, /v1/chat/completions
// and /v1/models, plus /health and /metrics. A handler checks the request,
// tokenizes it (chat through the model's chat template), submits it to the
// Engine and turns the request's events into one JSON body or an SSE stream.
// A client that goes away cancels its request (consumeWithInboundCloseHandler),
// which frees its rows before the next scheduler step.
import Foundation
import Hummingbird
import RTX

struct ServerConfig: Sendable {
    var modelID: String
    /// Prompt + max_tokens of one request, at most.
    var contextLimit: Int
    var maxBodyBytes: Int
    var apiKey: String?
    var defaultExit: ExitPolicy
}

struct Routes: Sendable {
    let engine: Engine
    let metrics: ServerMetrics
    let config: ServerConfig
    let created = Int(Date().timeIntervalSince1970)
    /// Of a body over the limit, this much more is read (and dropped) before the 413.
    static let maxDroppedBytes = 64 << 20

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.middlewares.add(ErrorMiddleware(metrics: metrics))
        if let key = config.apiKey { router.middlewares.add(BearerMiddleware(key: key)) }
        router.get("/health") { _, _ in
            jsonResponse(.object([("status", .string("ok"))]))
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: metrics.text())))
        }
        router.get("/v1/models") { _, _ in
            jsonResponse(.object([("object", .string("list")), ("data", .array([modelObject]))]))
        }
        router.get("/v1/models/{id}") { _, context in
            guard context.parameters.get("id") == config.modelID else { throw unknownModel(context.parameters.get("id") ?? "") }
            return jsonResponse(modelObject)
        }
        router.post("/v1/completions") { request, _ in try await generate(request, endpoint: .completions) }
        router.post("/v1/chat/completions") { request, _ in try await generate(request, endpoint: .chat) }
        return router
    }

    private var modelObject: JSONOut {
        .object([("id", .string(config.modelID)), ("object", .string("model")), ("created", .int(created)),
                 ("owned_by", .string("rtx"))])
    }

    private func unknownModel(_ name: String) -> APIError {
        APIError(status: .notFound, message: "the model '\(name)' does not exist; this server serves '\(config.modelID)'",
                 type: "invalid_request_error", param: "model", code: "model_not_found")
    }

    // MARK: Generation

    private func generate(_ request: Request, endpoint: Endpoint) async throws -> Response {
        let arrival = monotonicSeconds()
        var request = request
        let body = try await collectBody(&request)
        let model = engine.model
        let g = try GenerationRequest(body: Array(buffer: body), endpoint: endpoint, loops: model.plan.loops)
        guard g.model == config.modelID else { throw unknownModel(g.model) }
        let prompt = try tokens(of: g.prompt, model: model)
        let maxTokens = g.maxTokens ?? Defaults.maxTokens
        guard prompt.count + maxTokens <= config.contextLimit else {
            throw APIError.invalid("prompt (\(prompt.count) tokens) + max_tokens (\(maxTokens)) exceeds this server's context of \(config.contextLimit) tokens",
                                   param: g.maxTokens == nil ? "prompt" : "max_tokens", code: "context_length_exceeded")
        }
        let sampling = SamplingParameters(temperature: g.temperature ?? Defaults.temperature, topP: g.topP ?? Defaults.topP,
                                          seed: g.seed ?? Defaults.seed)
        if let exit = g.exit {
            do { try exit.validate(loops: model.plan.loops, hasExitGates: model.hasExitGates) } catch let e as RTXError {
                throw APIError.invalid(e.message, param: "rtx_exit")
            }
        }
        let options = RequestOptions(maxTokens: maxTokens, sampling: sampling, exitPolicy: g.exit ?? config.defaultExit, stop: g.stop,
                                     stopAtEndOfGeneration: !g.ignoreEOS)
        let submission: Submission
        do {
            submission = try await engine.submit(prompt: prompt, options: options, arrival: arrival)
        } catch EngineRejection.overloaded {
            throw APIError(status: .serviceUnavailable, message: "the server is at capacity (\(engine.capacity) requests); retry later",
                           type: "server_error", code: "overloaded", retryAfter: 1)
        } catch EngineRejection.draining {
            throw APIError(status: .serviceUnavailable, message: "the server is shutting down", type: "server_error",
                           code: "shutting_down", retryAfter: 5)
        } catch let e as RTXError {
            // What the Scheduler's own checks refuse (the handler checked the rest).
            let full = e.code == .contextFull
            throw APIError.invalid(e.message, param: full ? "max_tokens" : nil, code: full ? "context_length_exceeded" : nil)
        }
        let reply = Reply(endpoint: endpoint, id: (endpoint == .chat ? "chatcmpl-" : "cmpl-") + "\(submission.ticket)",
                          created: Int(Date().timeIntervalSince1970), model: config.modelID)
        // Watching the connection for the client's close (to cancel) consumes it:
        // it cannot carry another request, and the response says so.
        let engine = self.engine, collected = request
        if g.stream {
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", .connection: "close"],
                            body: .init { writer in
                try await collected.body.consumeWithInboundCloseHandler { _ in
                    try await reply.stream(submission, includeUsage: g.includeUsage, to: &writer)
                } onInboundClosed: {
                    engine.cancel(submission.ticket)
                }
                try await writer.finish(nil)
            })
        }
        let whole = try await collected.body.consumeWithInboundCloseHandler { _ in
            await Reply.collect(submission)
        } onInboundClosed: {
            engine.cancel(submission.ticket)
        }
        var response = jsonResponse(reply.whole(whole))
        response.headers[.connection] = "close"
        return response
    }

    /// The body, up to --max-body-bytes. Past that the rest is read and dropped
    /// (so that a client still sending gets to read the 413), up to
    /// `maxDroppedBytes`; beyond those the connection is closed.
    private func collectBody(_ request: inout Request) async throws -> ByteBuffer {
        var body = ByteBuffer(), total = 0
        for try await part in request.body {
            total += part.readableBytes
            if total <= config.maxBodyBytes {
                var part = part
                body.writeBuffer(&part)
            } else if total > config.maxBodyBytes + Self.maxDroppedBytes {
                break
            }
        }
        guard total <= config.maxBodyBytes else {
            var error = APIError(status: .contentTooLarge, message: "the request body exceeds \(config.maxBodyBytes) bytes",
                                 type: "invalid_request_error", code: "request_too_large")
            error.closeConnection = total > config.maxBodyBytes + Self.maxDroppedBytes
            throw error
        }
        request.body = RequestBody(buffer: body)
        return body
    }

    private func tokens(of prompt: GenerationRequest.Prompt, model: Model) throws -> [Int32] {
        let tokenizer = model.tokenizer
        let addBOS = Defaults.addBOS && tokenizer.vocabulary.addBOS
        let ids: [Int32]
        switch prompt {
        case .tokens(let t):
            do { try model.checkTokens(t, what: "prompt token") } catch let e as RTXError { throw APIError.invalid(e.message, param: "prompt") }
            ids = t
        case .text(let text):
            // As `rtx generate -p`: BOS if the model asks for it, special-token text parsed.
            ids = tokenizer.encode(text, addBOS: addBOS, parseSpecial: Defaults.parseSpecial)
        case .messages(let messages):
            ids = tokenizer.encode(model.chat.render(messages, addGenerationPrompt: true), addBOS: addBOS, parseSpecial: true)
        }
        guard !ids.isEmpty else { throw APIError.invalid("the prompt is empty", param: "prompt") }
        return ids
    }
}

/// A request's text, as it ended.
struct Whole: Sendable {
    var text: [UInt8] = []
    var reason = StopReason.none
    var usage = RequestUsage(promptTokens: 0, exitHistogram: [])
}

/// The response shapes of one request (completions or chat), whole or streamed.
struct Reply: Sendable {
    let endpoint: Endpoint
    let id: String
    let created: Int
    let model: String

    static func collect(_ submission: Submission) async -> Whole {
        var whole = Whole()
        for await event in submission.events {
            switch event {
            case .token(let text, _): whole.text += text
            case .finished(let reason, let text, let usage):
                whole.text += text; whole.reason = reason; whole.usage = usage
            }
        }
        return whole
    }

    func whole(_ w: Whole) -> JSONOut {
        let text = JSONOut.string(String(decoding: w.text, as: UTF8.self))
        let choice: JSONOut = endpoint == .chat
            ? .object([("index", .int(0)), ("message", .object([("role", .string("assistant")), ("content", text)])),
                       ("logprobs", .null), ("finish_reason", finishReason(w.reason))])
            : .object([("text", text), ("index", .int(0)), ("logprobs", .null), ("finish_reason", finishReason(w.reason))])
        return envelope(choices: [choice], usage: usage(w.usage), whole: true)
    }

    /// SSE: one chunk per token (chat opens with the assistant role), a last chunk
    /// with the finish reason, optionally one with usage, then `data: [DONE]`.
    func stream(_ submission: Submission, includeUsage: Bool, to writer: inout any ResponseBodyWriter) async throws {
        if endpoint == .chat {
            try await send(envelope(choices: [delta(.object([("role", .string("assistant")), ("content", .string(""))]), finish: .null)]), to: &writer)
        }
        for await event in submission.events {
            switch event {
            case .token(let text, _):
                guard !text.isEmpty else { continue }
                try await send(envelope(choices: [piece(text)]), to: &writer)
            case .finished(let reason, let text, let usage):
                if !text.isEmpty { try await send(envelope(choices: [piece(text)]), to: &writer) }
                let last = endpoint == .chat ? delta(.object([]), finish: finishReason(reason))
                    : .object([("text", .string("")), ("index", .int(0)), ("logprobs", .null), ("finish_reason", finishReason(reason))])
                try await send(envelope(choices: [last]), to: &writer)
                if includeUsage { try await send(envelope(choices: [], usage: self.usage(usage)), to: &writer) }
            }
        }
        try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
    }

    private func piece(_ text: [UInt8]) -> JSONOut {
        let s = JSONOut.string(String(decoding: text, as: UTF8.self))
        return endpoint == .chat ? delta(.object([("content", s)]), finish: .null)
            : .object([("text", s), ("index", .int(0)), ("logprobs", .null), ("finish_reason", .null)])
    }

    private func delta(_ d: JSONOut, finish: JSONOut) -> JSONOut {
        .object([("index", .int(0)), ("delta", d), ("logprobs", .null), ("finish_reason", finish)])
    }

    private func send(_ chunk: JSONOut, to writer: inout any ResponseBodyWriter) async throws {
        var bytes = Array("data: ".utf8)
        chunk.write(into: &bytes)
        bytes += Array("\n\n".utf8)
        try await writer.write(ByteBuffer(bytes: bytes))
    }

    private func envelope(choices: [JSONOut], usage: JSONOut? = nil, whole: Bool = false) -> JSONOut {
        let object = endpoint == .completions ? "text_completion" : whole ? "chat.completion" : "chat.completion.chunk"
        var members: [(String, JSONOut)] = [("id", .string(id)), ("object", .string(object)), ("created", .int(created)),
                                            ("model", .string(model)), ("choices", .array(choices))]
        if let usage { members.append(("usage", usage)) }
        return .object(members)
    }

    /// OpenAI's usage, plus RTX's exits: the loops each generated token ran.
    private func usage(_ u: RequestUsage) -> JSONOut {
        let tokens = u.exitHistogram.reduce(0, +)
        let loops = u.exitHistogram.enumerated().reduce(0) { $0 + ($1.offset + 1) * $1.element }
        return .object([("prompt_tokens", .int(u.promptTokens)), ("completion_tokens", .int(u.completionTokens)),
                        ("total_tokens", .int(u.promptTokens + u.completionTokens)),
                        ("rtx_exit_histogram", .array(u.exitHistogram.map { .int($0) })),
                        ("rtx_mean_loops_per_token", .double(tokens == 0 ? 0 : Double(loops) / Double(tokens)))])
    }

    private func finishReason(_ reason: StopReason) -> JSONOut {
        switch reason {
        case .endOfGeneration, .stopString: return .string("stop")
        case .maxTokens, .contextFull: return .string("length")
        case .cancelled, .callback, .none: return .string("cancelled")
        }
    }
}

func jsonResponse(_ value: JSONOut, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: value.bytes)))
}

// MARK: Middleware

/// Every error leaves as OpenAI's JSON error (an unknown route too), counted by outcome.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as APIError {
            metrics.request(outcome: e.outcome)
            return e.response()
        } catch let e as any HTTPResponseError {
            let status = e.status
            let type = status.code < 500 ? "invalid_request_error" : "server_error"
            let message = status == .notFound ? "no route for \(request.method) \(request.uri.path)" : status.reasonPhrase
            let error = APIError(status: status, message: message, type: type, param: nil, code: nil)
            metrics.request(outcome: error.outcome)
            return error.response()
        } catch {
            let e = APIError(status: .internalServerError, message: "\(error)", type: "server_error", param: nil, code: nil)
            metrics.request(outcome: e.outcome)
            return e.response()
        }
    }
}

/// `--api-key`: /v1/* needs `Authorization: Bearer KEY`, compared in constant
/// time; /health and /metrics stay open (probes and scrapers).
struct BearerMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: [UInt8]
    init(key: String) { self.key = Array(key.utf8) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/v1/") else { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        let given = header.hasPrefix(prefix) ? Array(header.utf8.dropFirst(prefix.utf8.count)) : []
        guard Self.constantTimeEqual(given, key) else {
            throw APIError(status: .unauthorized,
                           message: header.isEmpty ? "missing API key: send 'Authorization: Bearer KEY'" : "incorrect API key",
                           type: "invalid_request_error", param: nil, code: "invalid_api_key")
        }
        return try await next(request, context)
    }

    /// Time depends on the key's length only, never on where the bytes differ.
    static func constantTimeEqual(_ given: [UInt8], _ key: [UInt8]) -> Bool {
        var diff = UInt(bitPattern: given.count ^ key.count)
        for i in 0..<key.count {
            let g: UInt8 = i < given.count ? given[i] : 0
            diff |= UInt(g ^ key[i])
        }
        return diff == 0
    }
}
