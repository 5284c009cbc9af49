"""_handle.py — the lifetime of an owned C handle, written once: close() frees it
exactly once (after closing what depends on it), `with` closes it, __del__ is the
safety net, and _h() is the handle for a call (or an error once closed)."""
from __future__ import annotations

from typing import Optional

from .errors import InvalidArgumentError


def _closed(kind: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{kind} is closed")


class _Handle:
    _handle: Optional[int] = None
    _kind = "handle"  # the name in the "... is closed" error

    def _free(self, handle: int) -> None:
        """Free the C handle (each subclass calls its rtx_*_free)."""
        raise NotImplementedError

    def _close_dependents(self) -> None:
        """Close whatever borrows this handle; runs before it is freed."""

    @property
    def closed(self) -> bool:
        return self._handle is None

    def close(self) -> None:
        """Free the handle (closing its dependents first). Idempotent."""
        if self._handle is None:
            return
        self._close_dependents()
        handle, self._handle = self._handle, None
        self._free(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise at interpreter shutdown
            pass

    def _h(self) -> int:
        if self._handle is None:
            raise _closed(self._kind)
        return self._handle
