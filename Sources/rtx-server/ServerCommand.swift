// ServerCommand.swift — `rtx-server`: options, model loading, and the service
// group that runs it. Services shut down in reverse order on SIGINT/SIGTERM:
// the drain (stop admitting, let requests in flight finish until the
// deadline, cancel the rest), then the HTTP server (stops accepting, waits for
// its handlers, which by then have ended), then the scheduler loop. Exit 0.
import ArgumentParser
import Foundation
import Hummingbird
import Logging
import RTX
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

@main
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rtx-server",
        abstract: "Serve a model over OpenAI's HTTP API with continuous depth-wise batching.",
        version: "0.2.0")

    @Option(name: [.short, .long], help: "Path to a GGUF model (default: $RTX_MODEL or the SmolLM2 model in .models/).")
    var model: String = ProcessInfo.processInfo.environment["RTX_MODEL"] ?? ".models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(help: "The model id clients name in 'model' (default: the file name without .gguf).")
    var modelID: String?

    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port (0: any free port; the line 'listening on http://HOST:PORT' on stdout says which).") var port = 8080

    @Option(help: "Rows (tokens) in flight per scheduler step.") var maxRows = SchedulerOptions().maxRows
    @Option(help: "Requests that may wait for rows; beyond rows + queue a request gets 503 with Retry-After.") var maxQueue = 64
    @Option(help: "Prompt tokens a request brings into one step.") var prefillChunk = SchedulerOptions().prefillChunk
    @Option(name: [.short, .long], help: "Threads (0 = physical cores).") var threads = Defaults.threads
    @Option(help: "Prompt + max_tokens of one request, at most (0: min(trained context, \(Defaults.automaticContextLimit))).")
    var ctx = Defaults.contextLength
    @Flag(inversion: .prefixedNo, help: "Every product takes the per-row path, so a request's tokens do not depend on its neighbours (same seed, same text).")
    var batchInvariant = SchedulerOptions().batchInvariant

    @Option(help: "Require 'Authorization: Bearer KEY' on /v1/* (default: $RTX_API_KEY; none: open).")
    var apiKey: String = ProcessInfo.processInfo.environment["RTX_API_KEY"] ?? ""
    @Option(help: "Largest request body in bytes.") var maxBodyBytes = 1 << 20
    @Option(help: "Default exit policy: full, confidence:τ[:min_loops], gate:τ[:min_loops], fixed:n (requests override it with 'rtx_exit').")
    var exit = "full"
    @Option(help: "Seconds that requests in flight get to finish after SIGINT/SIGTERM before they are cancelled.")
    var shutdownTimeout: Double = 10

    func run() async throws {
        var logger = Logger(label: "rtx-server")
        logger.logLevel = .info
        guard let defaultExit = ExitSpec.parse(exit) else { throw ValidationError("--exit '\(exit)': expected full, confidence:τ[:m], gate:τ[:m] or fixed:n") }
        let model: Model
        do { model = try Model(path: self.model) } catch let e as RTXError { throw ValidationError(e.message) }
        do { try defaultExit.validate(loops: model.plan.loops, hasExitGates: model.hasExitGates) } catch let e as RTXError {
            throw ValidationError("--exit: \(e.message)")
        }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be >= 0") }
        let contextLimit = min(ctx > 0 ? ctx : Defaults.automaticContextLimit, model.hyper.contextLength)
        let metrics = ServerMetrics(loops: model.plan.loops)
        let engine: Engine
        do {
            engine = try Engine(model: model, options: SchedulerOptions(maxRows: maxRows, prefillChunk: prefillChunk, threads: threads,
                                                                        batchInvariant: batchInvariant),
                                maxQueued: maxQueue, metrics: metrics)
        } catch let e as RTXError { throw ValidationError(e.message) }
        let file = self.model.split(separator: "/").last.map(String.init) ?? self.model
        let id = modelID ?? (file.hasSuffix(".gguf") ? String(file.dropLast(5)) : file)
        let routes = Routes(engine: engine, metrics: metrics,
                            config: ServerConfig(modelID: id, contextLimit: contextLimit, maxBodyBytes: maxBodyBytes,
                                                 apiKey: apiKey.isEmpty ? nil : apiKey, defaultExit: defaultExit))
        let host = self.host
        let app = Application(
            router: routes.router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "rtx-server"),
            onServerRunning: { channel in
                print("rtx-server: serving '\(id)' (\(model.plan.loops) loops, \(engine.capacity) requests at once), listening on http://\(host):\(channel.localAddress?.port ?? 0)")
                fflush(stdout)
            },
            logger: logger)
        var config = ServiceGroupConfiguration(
            services: [EngineService(engine: engine), app, DrainService(engine: engine, seconds: shutdownTimeout)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        config.maximumGracefulShutdownDuration = .seconds(shutdownTimeout + 5)
        try await ServiceGroup(configuration: config).run()
        logger.info("stopped")
    }
}

/// Runs until shutdown, then ends the scheduler loop (cancelling what is left).
struct EngineService: Service {
    let engine: Engine
    func run() async throws {
        try? await gracefulShutdown()
        await engine.stop()
    }
}

/// First to hear the shutdown: no new requests, a deadline for the ones in flight.
struct DrainService: Service {
    let engine: Engine
    let seconds: Double
    func run() async throws {
        try? await gracefulShutdown()
        await engine.drain(until: monotonicSeconds() + seconds)
    }
}
