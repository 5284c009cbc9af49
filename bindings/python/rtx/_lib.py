# _lib.py — find and load librtx, then check that it matches these bindings
# (ABI version and the size of every mirrored struct) before anything calls it.
from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Type

# RTX_API_VERSION in include/rtx.h that these bindings mirror.
EXPECTED_ABI_VERSION = 1

_LIB_NAME = "librtx.so"
_BUILD_SUBPATH = Path("build") / "lib" / _LIB_NAME


def _walk_up(start: Path) -> List[Path]:
    """`start` and every folder above it."""
    start = start.resolve()
    return [start, *start.parents]


def candidate_paths() -> List[Tuple[str, str]]:
    """Where the library is looked for, in order, as (how, path-or-name)."""
    candidates: List[Tuple[str, str]] = []
    env = os.environ.get("RTX_LIBRARY")
    if env:
        candidates.append(("$RTX_LIBRARY", env))
    package_dir = Path(__file__).resolve().parent
    candidates.append(("package directory", str(package_dir / _LIB_NAME)))
    seen = set()
    for origin, start in (("above the package", package_dir), ("above the current directory", Path.cwd())):
        for folder in _walk_up(start):
            path = folder / _BUILD_SUBPATH
            if path not in seen:
                seen.add(path)
                candidates.append((origin, str(path)))
    found = ctypes.util.find_library("rtx")
    if found:
        candidates.append(("ctypes.util.find_library('rtx')", found))
    candidates.append(("system loader", "librtx.so.0"))
    return candidates


def load() -> ctypes.CDLL:
    """Load the first candidate that exists and opens; ImportError lists every place tried."""
    tried: List[str] = []
    for how, where in candidate_paths():
        is_path = os.sep in where
        if is_path and not os.path.isfile(where):
            tried.append(f"  {where} ({how}): not found")
            if how == "$RTX_LIBRARY":
                # An explicit choice that is wrong must not silently fall back.
                break
            continue
        try:
            return ctypes.CDLL(where)
        except OSError as exc:
            tried.append(f"  {where} ({how}): {exc}")
            if how == "$RTX_LIBRARY":
                break
    raise ImportError(
        "rtx: cannot load the RTX shared library (librtx.so). Looked at:\n"
        + "\n".join(tried)
        + "\nInstall the package with `pip install ./bindings/python` (the wheel carries librtx.so), "
        "build it (`make lib` writes build/lib/librtx.so), or set RTX_LIBRARY to its path."
    )


def check_abi(lib: ctypes.CDLL, structs: Dict[str, Type[ctypes.Structure]]) -> None:
    """Refuse a library built from another rtx.h: mismatched layouts would corrupt memory."""
    where = getattr(lib, "_name", "librtx")
    version = lib.rtx_abi_version()
    if version != EXPECTED_ABI_VERSION:
        raise ImportError(
            f"rtx: {where} has ABI version {version}, these bindings need {EXPECTED_ABI_VERSION}; "
            "install bindings that match the library"
        )
    mismatches = []
    for name, struct in structs.items():
        native = lib.rtx_struct_size(name.encode())
        if native != ctypes.sizeof(struct):
            mismatches.append(f"{name}: library {native} bytes, bindings {ctypes.sizeof(struct)} bytes")
    if mismatches:
        raise ImportError(f"rtx: struct layouts of {where} differ from the bindings: " + "; ".join(mismatches))


def library_path(lib: Optional[ctypes.CDLL]) -> Optional[str]:
    return getattr(lib, "_name", None)
