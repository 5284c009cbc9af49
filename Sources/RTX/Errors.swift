// Errors.swift — the one error type of the engine. Every message names the file,
// tensor, key or value that was wrong; the C ABI maps `code` to rtx_status once.

/// Categories mirror `rtx_status` in include/rtx.h.
public enum RTXErrorCode: Int32, Sendable {
    case invalidArgument = 1
    case io = 2
    case format = 3
    case unsupported = 4
    case outOfMemory = 5
    case contextFull = 6
    case tokenOutOfRange = 7
    case bufferTooSmall = 8
    case aborted = 9
    case `internal` = 10
}

public struct RTXError: Error, CustomStringConvertible, Sendable {
    public let code: RTXErrorCode
    public let message: String

    public init(_ code: RTXErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func format(_ message: String) -> RTXError { RTXError(.format, message) }
    public static func invalid(_ message: String) -> RTXError { RTXError(.invalidArgument, message) }
    public static func unsupported(_ message: String) -> RTXError { RTXError(.unsupported, message) }
}
