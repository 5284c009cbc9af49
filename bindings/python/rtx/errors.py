# errors.py — one exception class per rtx_status, carrying the library's message.
from __future__ import annotations

from typing import Dict, Optional, Type

from . import _capi


class RTXError(Exception):
    """A failed RTX call. `.status` is the rtx_status code, `.message` the
    library's explanation (rtx_last_error at the time of the failure)."""

    status: int = _capi.RTX_ERR_INTERNAL
    status_name: str = "RTX_ERR_INTERNAL"

    def __init__(self, message: str = "", status: Optional[int] = None):
        # One positional argument only: OSError would read two as (errno, strerror).
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class InvalidArgumentError(RTXError, ValueError):
    status, status_name = _capi.RTX_ERR_INVALID_ARGUMENT, "RTX_ERR_INVALID_ARGUMENT"


class RTXIOError(RTXError, OSError):
    status, status_name = _capi.RTX_ERR_IO, "RTX_ERR_IO"


class FormatError(RTXError):
    status, status_name = _capi.RTX_ERR_FORMAT, "RTX_ERR_FORMAT"


class UnsupportedError(RTXError):
    status, status_name = _capi.RTX_ERR_UNSUPPORTED, "RTX_ERR_UNSUPPORTED"


class OutOfMemoryError(RTXError, MemoryError):
    status, status_name = _capi.RTX_ERR_OUT_OF_MEMORY, "RTX_ERR_OUT_OF_MEMORY"


class ContextFullError(RTXError):
    status, status_name = _capi.RTX_ERR_CONTEXT_FULL, "RTX_ERR_CONTEXT_FULL"


class TokenOutOfRangeError(RTXError):
    status, status_name = _capi.RTX_ERR_TOKEN_OUT_OF_RANGE, "RTX_ERR_TOKEN_OUT_OF_RANGE"


class BufferTooSmallError(RTXError):
    status, status_name = _capi.RTX_ERR_BUFFER_TOO_SMALL, "RTX_ERR_BUFFER_TOO_SMALL"


class AbortedError(RTXError):
    status, status_name = _capi.RTX_ERR_ABORTED, "RTX_ERR_ABORTED"


class InternalError(RTXError):
    status, status_name = _capi.RTX_ERR_INTERNAL, "RTX_ERR_INTERNAL"


EXCEPTIONS_BY_STATUS: Dict[int, Type[RTXError]] = {
    cls.status: cls
    for cls in (InvalidArgumentError, RTXIOError, FormatError, UnsupportedError, OutOfMemoryError,
                ContextFullError, TokenOutOfRangeError, BufferTooSmallError, AbortedError, InternalError)
}
EXCEPTIONS_BY_NAME: Dict[str, Type[RTXError]] = {cls.status_name: cls for cls in EXCEPTIONS_BY_STATUS.values()}


def status_name(status: int) -> str:
    name = _capi.lib.rtx_status_name(status)
    return name.decode("utf-8", "replace") if name else f"rtx_status({status})"


def error_for(status: int, message: Optional[str] = None) -> RTXError:
    """The exception for `status`; the message defaults to rtx_last_error()."""
    if message is None:
        raw = _capi.lib.rtx_last_error()
        message = raw.decode("utf-8", "replace") if raw else ""
    if not message:
        message = status_name(status)
    cls = EXCEPTIONS_BY_STATUS.get(status, InternalError)
    return cls(message, status)


def check(status: int) -> None:
    """Raise the matching RTXError unless status is RTX_OK."""
    if status != _capi.RTX_OK:
        raise error_for(status)
