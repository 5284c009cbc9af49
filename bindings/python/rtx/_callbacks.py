# _callbacks.py — Python callables behind the C callbacks: the process-wide
# log sink (into `logging`), and progress/abort wrappers that keep their
# CFUNCTYPE objects alive and carry a raised exception back to the caller.
from __future__ import annotations

import atexit
import logging
from typing import Callable, Optional

from . import _capi

logger = logging.getLogger("rtx")

_LEVELS = {
    _capi.RTX_LOG_ERROR: logging.ERROR,
    _capi.RTX_LOG_WARN: logging.WARNING,
    _capi.RTX_LOG_INFO: logging.INFO,
    _capi.RTX_LOG_DEBUG: logging.DEBUG,
}


def _on_log(level: int, message: Optional[bytes], user_data) -> None:
    # Called from any native thread; never let an exception escape into C.
    try:
        text = message.decode("utf-8", "replace") if message else ""
        logger.log(_LEVELS.get(level, logging.INFO), "%s", text)
    except Exception:  # pragma: no cover - logging itself failed
        pass


# Module-level so the trampoline lives as long as the library may call it.
_log_callback = _capi.rtx_log_callback(_on_log)


def install_log_callback() -> None:
    _capi.lib.rtx_set_log_callback(_log_callback, None)


def _uninstall_log_callback() -> None:
    # At interpreter exit Python can no longer run callbacks: restore the
    # library's default sink before the trampoline is torn down.
    try:
        _capi.lib.rtx_set_log_callback(_capi.rtx_log_callback(), None)
    except Exception:
        pass


atexit.register(_uninstall_log_callback)


class ProgressCallback:
    """Wraps callable(progress: float) -> bool | None (None or True continue,
    False aborts). An exception aborts the load and is re-raised afterwards."""

    def __init__(self, fn: Callable[[float], Optional[bool]]):
        self._fn = fn
        self.error: Optional[BaseException] = None
        self.c_callback = _capi.rtx_progress_callback(self._call)

    def _call(self, progress: float, user_data) -> bool:
        try:
            keep_going = self._fn(float(progress))
            return keep_going is None or bool(keep_going)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
            self.error = exc
            return False


class AbortCallback:
    """Wraps callable() -> bool (True aborts the evaluation)."""

    def __init__(self, fn: Callable[[], bool]):
        self._fn = fn
        self.error: Optional[BaseException] = None
        self.c_callback = _capi.rtx_abort_callback(self._call)

    def _call(self, user_data) -> bool:
        try:
            return bool(self._fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
            self.error = exc
            return True

    def take_error(self) -> Optional[BaseException]:
        error, self.error = self.error, None
        return error
