// VersionAPI.swift — rtx.h §1-3: version, ABI checks, status names, errors, logging.
import CRTXABI
import RTX

@_cdecl("rtx_version")
public func rtx_version() -> UnsafePointer<CChar> {
    UnsafeRawPointer(("0.2.0" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("rtx_abi_version")
public func rtx_abi_version() -> Int32 { RTX_API_VERSION }

@_cdecl("rtx_struct_size")
public func rtx_struct_size(_ name: UnsafePointer<CChar>?) -> Int { rtxabi_struct_size(name) }

@_cdecl("rtx_status_name")
public func rtx_status_name(_ status: Int32) -> UnsafePointer<CChar> {
    let name: StaticString
    switch status {
    case 0: name = "RTX_OK"
    case 1: name = "RTX_ERR_INVALID_ARGUMENT"
    case 2: name = "RTX_ERR_IO"
    case 3: name = "RTX_ERR_FORMAT"
    case 4: name = "RTX_ERR_UNSUPPORTED"
    case 5: name = "RTX_ERR_OUT_OF_MEMORY"
    case 6: name = "RTX_ERR_CONTEXT_FULL"
    case 7: name = "RTX_ERR_TOKEN_OUT_OF_RANGE"
    case 8: name = "RTX_ERR_BUFFER_TOO_SMALL"
    case 9: name = "RTX_ERR_ABORTED"
    case 10: name = "RTX_ERR_INTERNAL"
    default: name = "RTX_ERR_UNKNOWN"
    }
    return UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("rtx_last_error")
public func rtx_last_error() -> UnsafePointer<CChar> { lastErrorPointer() }

@_cdecl("rtx_set_log_callback")
public func rtx_set_log_callback(_ callback: (@convention(c) (Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void)?,
                                 _ user: UnsafeMutableRawPointer?) {
    guard let callback else { Log.setSink(nil); return }
    let userBits = UInt(bitPattern: user)
    Log.setSink { level, message in
        message.withCString { callback(level.rawValue, $0, UnsafeMutableRawPointer(bitPattern: userBits)) }
    }
}
