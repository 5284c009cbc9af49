// Log.swift — the engine's log sink. Front ends install one (the C ABI routes it
// to rtx_set_log_callback); the default writes warnings and errors to stderr.
#if canImport(Glibc)
import Glibc
#endif

public enum LogLevel: Int32, Sendable { case error = 0, warn = 1, info = 2, debug = 3 }

public enum Log {
    public typealias Sink = @Sendable (LogLevel, String) -> Void
    nonisolated(unsafe) private static var sink: Sink?
    nonisolated(unsafe) private static var lock = pthread_mutex_t()
    private static let initialized: Bool = { pthread_mutex_init(&lock, nil); return true }()

    public static func setSink(_ newSink: Sink?) {
        _ = initialized
        pthread_mutex_lock(&lock); sink = newSink; pthread_mutex_unlock(&lock)
    }

    public static func write(_ level: LogLevel, _ message: @autoclosure () -> String) {
        _ = initialized
        pthread_mutex_lock(&lock); let s = sink; pthread_mutex_unlock(&lock)
        if let s { s(level, message()); return }
        if level.rawValue <= LogLevel.warn.rawValue {
            let tag = level == .error ? "error" : "warning"
            fputs("rtx \(tag): \(message())\n", stderr)
        }
    }
}
