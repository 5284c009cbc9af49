// Engine.swift — the one scheduler loop that owns the model. HTTP handlers never
// touch the Scheduler: they `submit` (awaiting acceptance or a rejection) and
// read their request's events from an AsyncStream; `cancel` (a client that went
// away, a stream dropped) frees the request's rows before the next step.
//
// The loop runs on its own thread, not on a Swift concurrency executor: a step
// is tens of milliseconds of OpenMP kernels, and the cooperative pool has one
// thread per core, which the HTTP handlers need meanwhile. Handlers and loop
// meet only at `inbox` (under `condition`) and at the streams' continuations.
import Foundation
import RTX
#if canImport(Glibc)
import Glibc
#endif

/// glibc's malloc_trim(3) (in <malloc.h>, which the Glibc module leaves out):
/// hands freed heap pages back to the system, so RSS follows the KV caches down.
@_silgen_name("malloc_trim") private func malloc_trim(_ pad: Int) -> Int32

/// What a request's stream carries, in order: tokens, then one `finished`.
enum EngineEvent: Sendable {
    case token(text: [UInt8], loops: Int)
    case finished(reason: StopReason, text: [UInt8], usage: RequestUsage)
}

struct RequestUsage: Sendable {
    var promptTokens: Int
    var completionTokens = 0
    /// exitHistogram[b-1]: this request's tokens that exited after b loops.
    var exitHistogram: [Int]
}

/// An accepted request: its events, in order, end with `.finished`.
struct Submission: Sendable {
    let ticket: UInt64
    let promptTokens: Int
    let events: AsyncStream<EngineEvent>
}

enum EngineRejection: Error {
    /// Rows and queue are full (HTTP 503 + Retry-After).
    case overloaded
    /// The server is shutting down.
    case draining
}

final class Engine: @unchecked Sendable {
    let model: Model
    /// Requests admitted at once: rows in flight plus the queue behind them.
    let capacity: Int
    private let scheduler: Scheduler          // the loop thread's only
    private let metrics: ServerMetrics

    private enum Command {
        case submit(ticket: UInt64, prompt: [Int32], options: RequestOptions, arrival: Double,
                    events: AsyncStream<EngineEvent>.Continuation, accepted: CheckedContinuation<Void, any Error>)
        case cancel(UInt64)
        case cancelAll
    }

    // Shared between handlers and the loop, under `condition`.
    private let condition = NSCondition()
    private var inbox: [Command] = []
    private var admitted = 0
    private var accepting = true
    private var stopping = false
    private var nextTicket: UInt64 = 1
    private var stopped: CheckedContinuation<Void, Never>?
    private var loopFinished = false

    // The loop thread's own.
    private struct Live {
        let schedulerID: Int
        let events: AsyncStream<EngineEvent>.Continuation
        let arrival: Double
        var lastToken: Double?
        var usage: RequestUsage
    }
    private var live: [UInt64: Live] = [:]
    private var ticketOf: [Int: UInt64] = [:]

    init(model: Model, options: SchedulerOptions, maxQueued: Int, metrics: ServerMetrics) throws {
        self.model = model
        self.scheduler = try Scheduler(model: model, options: options)
        self.capacity = options.maxRows + maxQueued
        self.metrics = metrics
        let thread = Thread { [self] in self.loop() }
        thread.name = "rtx-scheduler"
        thread.stackSize = 16 << 20
        thread.start()
    }

    // MARK: Handler side

    /// Queue a request. Returns once the loop accepted it (its events then flow),
    /// or throws EngineRejection (full, shutting down) or the Scheduler's RTXError.
    func submit(prompt: [Int32], options: RequestOptions, arrival: Double) async throws -> Submission {
        let (stream, continuation) = AsyncStream<EngineEvent>.makeStream()
        let ticket: UInt64 = condition.withLock { defer { nextTicket += 1 }; return nextTicket }
        // A consumer that stops listening (client gone, handler cancelled) cancels.
        continuation.onTermination = { [weak self] termination in
            if case .cancelled = termination { self?.cancel(ticket) }
        }
        try await withCheckedThrowingContinuation { (accepted: CheckedContinuation<Void, any Error>) in
            condition.lock()
            defer { condition.unlock() }
            guard accepting else { accepted.resume(throwing: EngineRejection.draining); return }
            guard admitted < capacity else { accepted.resume(throwing: EngineRejection.overloaded); return }
            admitted += 1
            inbox.append(.submit(ticket: ticket, prompt: prompt, options: options, arrival: arrival,
                                 events: continuation, accepted: accepted))
            condition.signal()
        }
        return Submission(ticket: ticket, promptTokens: prompt.count, events: stream)
    }

    /// Cancel a request (a no-op once it is over); its stream ends with `.cancelled`.
    func cancel(_ ticket: UInt64) { post(.cancel(ticket)) }

    /// Requests admitted and not yet over.
    var admittedRequests: Int { condition.withLock { admitted } }

    /// Stop admitting (new submissions get `.draining`), give the requests in
    /// flight until `deadline` (monotonic seconds) to finish, then cancel the rest.
    func drain(until deadline: Double) async {
        condition.withLock { accepting = false }
        while admittedRequests > 0 && monotonicSeconds() < deadline {
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        if admittedRequests > 0 { post(.cancelAll) }
    }

    /// Cancel everything and end the loop thread.
    func stop() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            condition.lock()
            defer { condition.unlock() }
            accepting = false
            if loopFinished { done.resume(); return }
            stopping = true
            stopped = done
            condition.signal()
        }
    }

    private func post(_ command: Command) {
        condition.withLock {
            inbox.append(command)
            condition.signal()
        }
    }

    // MARK: The loop

    private func loop() {
        while true {
            condition.lock()
            while inbox.isEmpty && scheduler.isIdle && !stopping { condition.wait() }
            let commands = inbox
            inbox.removeAll()
            let stop = stopping
            condition.unlock()

            for command in commands { handle(command) }
            if stop {
                for ticket in Array(live.keys) { handle(.cancel(ticket)) }
                break
            }
            if !scheduler.isIdle {
                do {
                    deliver(try scheduler.step())
                } catch {
                    // A kernel-level failure: every request in flight ends with it.
                    Log.write(.error, "scheduler step failed: \(error)")
                    for ticket in Array(live.keys) { handle(.cancel(ticket)) }
                }
            }
            publishGauges()
            if scheduler.isIdle { _ = malloc_trim(0) }   // freed KV caches back to the system
        }
        publishGauges()
        condition.withLock {
            loopFinished = true
            stopped?.resume()
            stopped = nil
        }
    }

    private func handle(_ command: Command) {
        switch command {
        case .submit(let ticket, let prompt, let options, let arrival, let events, let accepted):
            do {
                let id = try scheduler.submit(prompt: prompt, options: options)
                live[ticket] = Live(schedulerID: id, events: events, arrival: arrival,
                                    usage: RequestUsage(promptTokens: prompt.count,
                                                        exitHistogram: Array(repeating: 0, count: model.plan.loops)))
                ticketOf[id] = ticket
                metrics.promptTokens.increment(by: Int64(prompt.count))
                accepted.resume()
            } catch {
                release()
                events.finish()
                accepted.resume(throwing: error)
            }
        case .cancel(let ticket):
            guard let l = live[ticket], let event = scheduler.cancel(l.schedulerID) else { return }
            deliver([event])
        case .cancelAll:
            for ticket in Array(live.keys) { handle(.cancel(ticket)) }
        }
    }

    private func deliver(_ events: [SchedulerEvent]) {
        let now = monotonicSeconds()
        for event in events {
            switch event {
            case .token(let id, _, let text, let loops):
                guard let ticket = ticketOf[id], var l = live[ticket] else { continue }
                if let last = l.lastToken {
                    metrics.interTokenSeconds.record(now - last)
                } else {
                    metrics.timeToFirstTokenSeconds.record(now - l.arrival)
                }
                l.lastToken = now
                l.usage.completionTokens += 1
                l.usage.exitHistogram[loops - 1] += 1
                live[ticket] = l
                metrics.generatedTokens.increment()
                metrics.exitLoops.record(Double(loops))
                l.events.yield(.token(text: text, loops: loops))
            case .finished(let id, let reason, let text):
                _ = scheduler.takeResult(id)
                guard let ticket = ticketOf.removeValue(forKey: id), let l = live.removeValue(forKey: ticket) else { continue }
                metrics.request(outcome: ServerMetrics.outcome(of: reason))
                l.events.yield(.finished(reason: reason, text: text, usage: l.usage))
                l.events.finish()
                release()
            }
        }
    }

    private func release() { condition.withLock { admitted -= 1 } }

    private func publishGauges() {
        metrics.queueDepth.set(Double(scheduler.queuedRequests))
        metrics.rowsInFlight.set(Double(scheduler.isIdle ? 0 : scheduler.rowsInFlight))
        metrics.requestsInFlight.set(Double(live.count))
        metrics.meanLoopsPerToken.set(scheduler.stats.meanLoopsPerToken)
        let kv = KVCache.liveCaches
        metrics.kvCaches.set(Double(kv.count))
        metrics.kvCacheBytes.set(Double(kv.bytes))
    }
}
