// Status.swift — the ABI's one error boundary: Swift errors → rtx_status codes,
// messages kept per thread for rtx_last_error(), and handle boxing.
import RTX
#if canImport(Glibc)
import Glibc
#endif

typealias Status = Int32  // rtx_status
let statusOK: Status = 0

/// Per-thread message of the last failure (a malloc'ed C string owned by the key).
nonisolated(unsafe) private var errorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

func setLastError(_ message: String) {
    if let old = pthread_getspecific(errorKey) { free(old) }
    pthread_setspecific(errorKey, strdup(message))
}

func lastErrorPointer() -> UnsafePointer<CChar> {
    if let p = pthread_getspecific(errorKey) { return UnsafePointer(p.assumingMemoryBound(to: CChar.self)) }
    return emptyCString
}

nonisolated(unsafe) let emptyCString: UnsafePointer<CChar> = UnsafePointer(strdup("")!)

func fail(_ code: RTXErrorCode, _ message: String) -> Status {
    setLastError(message)
    return code.rawValue
}

/// Run `body`, turning a thrown error into its status code and message.
func guarded(_ function: StaticString, _ body: () throws -> Void) -> Status {
    do {
        try body()
        return statusOK
    } catch let e as RTXError {
        return fail(e.code, "\(function): \(e.message)")
    } catch {
        return fail(.internal, "\(function): \(error)")
    }
}

/// Unwrap a required pointer argument or throw invalidArgument naming it.
func required<T>(_ p: T?, _ name: String) throws -> T {
    guard let p else { throw RTXError.invalid("\(name) is NULL") }
    return p
}

// MARK: Handles

/// Retained boxes behind the opaque C handles.
final class ModelHandle { let model: Model; init(_ m: Model) { model = m } }
final class ContextHandle {
    let session: Session
    let modelHandle: ModelHandle
    init(_ s: Session, _ m: ModelHandle) { session = s; modelHandle = m }
}
final class SamplerHandle { var sampler: Sampler; init(_ s: Sampler) { sampler = s } }
final class GeneratorHandle {
    let generator: Generator
    let contextHandle: ContextHandle
    /// Text of the last item, NUL-terminated; owned here, valid until the next call.
    private(set) var text = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
    init(_ g: Generator, _ c: ContextHandle) { generator = g; contextHandle = c; text[0] = 0 }
    deinit { text.deallocate() }

    func setText(_ bytes: [UInt8]) {
        text.deallocate()
        text = .allocate(capacity: bytes.count + 1)
        for (i, b) in bytes.enumerated() { text[i] = CChar(bitPattern: b) }
        text[bytes.count] = 0
    }
}

func box<T: AnyObject>(_ object: T) -> OpaquePointer { OpaquePointer(Unmanaged.passRetained(object).toOpaque()) }
func unbox<T: AnyObject>(_ handle: OpaquePointer?, _ type: T.Type, _ name: String) throws -> T {
    guard let handle else { throw RTXError.invalid("\(name) handle is NULL") }
    return Unmanaged<T>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}
func release<T: AnyObject>(_ handle: OpaquePointer?, _ type: T.Type) {
    guard let handle else { return }
    Unmanaged<T>.fromOpaque(UnsafeRawPointer(handle)).release()
}

/// Copy bytes + NUL into a caller buffer; reports the length, or bufferTooSmall.
func copyOut(_ bytes: [UInt8], nulTerminate: Bool, _ buf: UnsafeMutablePointer<CChar>?, _ size: Int,
             _ outLen: UnsafeMutablePointer<Int>?) throws {
    outLen?.pointee = bytes.count
    let needed = bytes.count + (nulTerminate ? 1 : 0)
    guard size >= needed else {
        throw RTXError(.bufferTooSmall, "buffer of \(size) bytes is too small: \(needed) needed")
    }
    guard needed > 0 else { return }  // nothing to write: buf may be NULL
    let buf = try required(buf, "buf")
    bytes.withUnsafeBytes { UnsafeMutableRawPointer(buf).copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(buf), byteCount: bytes.count) }
    if nulTerminate { buf[bytes.count] = 0 }
}

/// The most stop strings a generate or request params struct may list (rtx.h).
let maxStopStrings = 1024

/// The stop strings of a params struct: n_stop within 0...maxStopStrings (a size_t
/// near SIZE_MAX arrives here negative), `stop` non-NULL when n_stop > 0, and every
/// entry non-NULL.
func stopStrings(_ stop: UnsafePointer<UnsafePointer<CChar>?>?, _ n: Int, _ owner: String) throws -> [String] {
    guard n >= 0, n <= maxStopStrings else {
        throw RTXError.invalid("\(owner).n_stop \(UInt(bitPattern: n)) is over the limit of \(maxStopStrings) stop strings")
    }
    guard n > 0 else { return [] }
    let stops = try required(stop, "\(owner).stop")
    return try (0..<n).map { String(cString: try required(stops[$0], "\(owner).stop[\($0)]")) }
}

/// Check a caller-declared struct_size against the library's.
func checkStructSize(_ declared: UInt32, _ expected: Int, _ name: String) throws {
    guard declared == UInt32(expected) else {
        throw RTXError.invalid("\(name).struct_size is \(declared) but the library expects \(expected): header and library versions differ (use \(name.replacingDefaultSuffix())())")
    }
}

/// An input params struct from a caller built against this header or an older one:
/// fields are only appended, so the caller's struct_size bytes (at least `minimum`,
/// the size of the first version) are copied over the library's defaults.
func readParams<T>(_ params: UnsafePointer<T>, declared: UInt32, minimum: Int, defaults: T, _ name: String) throws -> T {
    let size = MemoryLayout<T>.size
    guard Int(declared) >= minimum, Int(declared) <= size else {
        throw RTXError.invalid("\(name).struct_size is \(declared) but the library accepts \(minimum)...\(size): header and library versions differ (use \(name.replacingDefaultSuffix())())")
    }
    var out = defaults
    withUnsafeMutableBytes(of: &out) { dst in
        dst.copyMemory(from: UnsafeRawBufferPointer(start: UnsafeRawPointer(params), count: Int(declared)))
    }
    return out
}

/// The bytes of an output struct a caller built against this header or an older
/// one declares (at least `minimum`, the size of the first version): fields are
/// only appended, so `writeResult` writes no more than these.
func resultBytes<T>(_ out: UnsafeMutablePointer<T>, declared: UInt32, minimum: Int, _ name: String) throws -> Int {
    let size = MemoryLayout<T>.size
    guard Int(declared) >= minimum, Int(declared) <= size else {
        throw RTXError.invalid("\(name).struct_size is \(declared) but the library accepts \(minimum)...\(size): header and library versions differ")
    }
    return Int(declared)
}

/// Write the first `bytes` bytes of `value` (from `resultBytes`) to the caller's struct.
func writeResult<T>(_ value: T, to out: UnsafeMutablePointer<T>, bytes: Int) {
    withUnsafeBytes(of: value) { UnsafeMutableRawPointer(out).copyMemory(from: $0.baseAddress!, byteCount: bytes) }
}

extension String {
    fileprivate func replacingDefaultSuffix() -> String {
        hasSuffix("_params") ? String(dropLast(7)) + "_default_params" : self
    }
}
