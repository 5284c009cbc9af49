// Fuzz.swift — the libFuzzer driver shared by the fuzz-* targets, plus the
// scratch files they hand to RTX's path-based loaders.
//
// Each target's main.swift calls `Fuzz.run { bytes in ... }`. The body feeds the
// bytes to one loader or parser and must return normally for every input: an
// RTXError thrown by the engine is the expected outcome for garbage, while a
// trap, a sanitizer report, a timeout or an out-of-memory is a finding
// (libFuzzer writes the input to crash-*/timeout-*/oom-* and exits non-zero).
#if canImport(Glibc)
import Glibc
#endif
import RTX

public enum Fuzz {
    nonisolated(unsafe) static var body: ((UnsafeRawBufferPointer) -> Void)?

    /// Runs libFuzzer's driver over `body` with this process's arguments
    /// (libFuzzer flags and corpus folders: `-max_total_time=N corpus/ seeds/`).
    public static func run(_ body: @escaping (UnsafeRawBufferPointer) -> Void) -> Never {
        // A Swift trap must reach libFuzzer's signal handler, not the backtracer.
        setenv("SWIFT_BACKTRACE", "enable=no", 1)
        Log.setSink { _, _ in }   // warnings about hostile files are expected, by the million
        Fuzz.body = body
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
    }

    /// The directory of the default models (RTX_FUZZ_MODELS, default `.models`).
    public static var modelsDirectory: String {
        ProcessInfoLite.environment("RTX_FUZZ_MODELS") ?? ".models"
    }

    /// Throws are the expected way to reject input; anything else is a finding.
    public static func expectingErrors(_ work: () throws -> Void) {
        do { try work() } catch is RTXError {} catch { fatalError("non-RTXError thrown: \(error)") }
    }
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    Fuzz.body?(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

enum ProcessInfoLite {
    static func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
}

// glibc has memfd_create since 2.27; its header declares it under _GNU_SOURCE only.
@_silgen_name("memfd_create")
func memfdCreate(_ name: UnsafePointer<CChar>, _ flags: CUnsignedInt) -> CInt

/// A file that lives in memory (memfd), rewritten per input: RTX maps it through
/// its /proc/self/fd path exactly as it maps a file on disk.
public final class MemoryFile {
    public let fd: CInt
    public let path: String

    public init(name: String) {
        fd = memfdCreate(name, 0)
        precondition(fd >= 0, "memfd_create failed")
        path = "/proc/self/fd/\(fd)"
    }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        precondition(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0)
        writeAll(fd, bytes, path)
    }
}

/// Writes every byte (write(2) may write fewer than asked).
func writeAll(_ fd: CInt, _ bytes: UnsafeRawBufferPointer, _ path: String) {
    var done = 0
    while done < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
        precondition(n > 0, "write to \(path) failed")
        done += n
    }
}

/// A per-process folder on tmpfs for loaders that read a directory.
public final class ScratchFolder {
    public let path: String

    public init(name: String) {
        path = "/dev/shm/rtx-fuzz-\(name)-\(getpid())"
        mkdir(path, 0o700)
    }

    public func write(_ file: String, _ bytes: UnsafeRawBufferPointer) {
        let full = path + "/" + file
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot write \(full)")
        defer { close(fd) }
        writeAll(fd, bytes, full)
    }

    public func remove(_ file: String) { unlink(path + "/" + file) }
}

/// Splits a fuzz input into `count` parts at a separator line, so one input can
/// carry several files (config.json, model.safetensors, tokenizer.json).
public enum Parts {
    public static let separator: [UInt8] = Array("\n--rtx-fuzz-part--\n".utf8)

    /// The search is libc's memchr + memcmp (not instrumented): a byte loop here,
    /// compiled with coverage hooks on every comparison, was half of fuzz-hf's time.
    public static func split(_ bytes: UnsafeRawBufferPointer, count: Int) -> [UnsafeRawBufferPointer] {
        var parts: [UnsafeRawBufferPointer] = []
        var start = 0, i = 0
        separator.withUnsafeBytes { sep in
            while parts.count < count - 1, i + sep.count <= bytes.count,
                  let hit = memchr(bytes.baseAddress! + i, Int32(sep[0]), bytes.count - sep.count + 1 - i) {
                i = bytes.baseAddress!.distance(to: UnsafeRawPointer(hit))
                if memcmp(hit, sep.baseAddress!, sep.count) == 0 {
                    parts.append(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
                    i += sep.count
                    start = i
                } else {
                    i += 1
                }
            }
        }
        parts.append(UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count]))
        while parts.count < count { parts.append(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return parts
    }
}
