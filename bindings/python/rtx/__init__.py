# rtx — Python bindings for RTX (ctypes over include/rtx.h).
# Importing loads librtx, checks its ABI version and struct layouts, and routes
# the library's log lines into the `logging` logger "rtx".
from . import _capi
from ._callbacks import install_log_callback as _install_log_callback
from .errors import (
    AbortedError, BufferTooSmallError, ContextFullError, FormatError, InternalError, InvalidArgumentError,
    OutOfMemoryError, RTXError, RTXIOError, TokenOutOfRangeError, UnsupportedError,
)
from .convert import convert, export_unrolled
from .model import Context, Generation, LoopResult, Model, ModelInfo, Sampler, StopReason
from .scheduler import Event, ExitPolicy, Scheduler, SchedulerStats

__version__ = _capi.lib.rtx_version().decode("utf-8", "replace")
ABI_VERSION = _capi.lib.rtx_abi_version()
library_path = _capi.lib._name

_install_log_callback()

__all__ = [
    "Model", "Context", "Sampler", "Generation", "ModelInfo", "StopReason", "convert", "export_unrolled",
    "LoopResult", "Scheduler", "ExitPolicy", "Event", "SchedulerStats",
    "RTXError", "InvalidArgumentError", "RTXIOError", "FormatError", "UnsupportedError", "OutOfMemoryError",
    "ContextFullError", "TokenOutOfRangeError", "BufferTooSmallError", "AbortedError", "InternalError",
    "__version__", "ABI_VERSION", "library_path",
]
