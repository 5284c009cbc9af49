// Metrics.swift — what GET /metrics reports, in the Prometheus text format
// (swift-prometheus). Counters and histograms are fed by the scheduler loop
// (Engine) and by the handlers (rejections); gauges are set after every step.
import Prometheus
import RTX

final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    let promptTokens: Counter
    let generatedTokens: Counter
    let queueDepth: Gauge
    let rowsInFlight: Gauge
    let requestsInFlight: Gauge
    let meanLoopsPerToken: Gauge
    let kvCaches: Gauge
    let kvCacheBytes: Gauge
    /// Loops each generated token ran before it exited (buckets 1...B).
    let exitLoops: ValueHistogram
    let timeToFirstTokenSeconds: ValueHistogram
    let interTokenSeconds: ValueHistogram

    /// How a request ended: the finish reasons, then the refusals.
    static let outcomes = ["stop", "length", "cancelled", "invalid", "unauthorized", "overloaded", "error"]

    init(loops: Int) {
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "rtx", metricName: metric, unitName: unit, helpText: help)
        }
        promptTokens = registry.makeCounter(descriptor: name("prompt_tokens", "total", "Prompt tokens of accepted requests."))
        generatedTokens = registry.makeCounter(descriptor: name("generated_tokens", "total", "Tokens generated."))
        queueDepth = registry.makeGauge(descriptor: name("queue_depth", "", "Requests waiting for rows."))
        rowsInFlight = registry.makeGauge(descriptor: name("rows_in_flight", "", "Rows (tokens) in the last scheduler step; 0 when idle."))
        requestsInFlight = registry.makeGauge(descriptor: name("requests_in_flight", "", "Requests accepted and not over."))
        meanLoopsPerToken = registry.makeGauge(descriptor: name("mean_loops_per_token", "", "Mean loops of the shared block per generated token, since start."))
        kvCaches = registry.makeGauge(descriptor: name("kv_caches", "", "KV caches alive in the process."))
        kvCacheBytes = registry.makeGauge(descriptor: name("kv_cache", "bytes", "Bytes of the KV caches alive (allocated; pages are touched as tokens fill them)."))
        exitLoops = registry.makeValueHistogram(descriptor: name("token_exit", "loops", "Loops each generated token ran before it exited (the exit histogram)."),
                                                buckets: (1...max(loops, 1)).map(Double.init))
        let latency: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
        timeToFirstTokenSeconds = registry.makeValueHistogram(descriptor: name("time_to_first_token", "seconds", "From the request's arrival to its first token."),
                                                              buckets: latency)
        interTokenSeconds = registry.makeValueHistogram(descriptor: name("inter_token", "seconds", "Between consecutive tokens of one request."),
                                                        buckets: latency)
        for outcome in Self.outcomes { _ = counter(outcome) }
    }

    private func counter(_ outcome: String) -> Counter {
        registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "rtx", metricName: "requests", unitName: "total", helpText: "Requests by outcome."),
                             labels: [("outcome", outcome)])
    }

    func request(outcome: String) { counter(outcome).increment() }

    static func outcome(of reason: StopReason) -> String {
        switch reason {
        case .endOfGeneration, .stopString: return "stop"
        case .maxTokens, .contextFull: return "length"
        case .cancelled, .callback: return "cancelled"
        case .none: return "error"
        }
    }

    func text() -> [UInt8] { registry.emitToBuffer() }
}
