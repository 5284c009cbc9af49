# convert.py — vanilla → recursive conversion and unrolled export (rtx.h §8).
from __future__ import annotations

import ctypes
import os
from typing import Callable, Optional, Union

from . import _capi
from ._callbacks import ProgressCallback
from .errors import check

lib = _capi.lib
PathLike = Union[str, bytes, os.PathLike]


def _path(p: PathLike) -> bytes:
    return os.fsencode(p)


def _run_with_progress(call, progress: Optional[Callable[[float], Optional[bool]]]):
    callback = ProgressCallback(progress) if progress is not None else None
    status = call(callback.c_callback if callback else _capi.rtx_progress_callback())
    if callback is not None and callback.error is not None:
        raise callback.error
    check(status)


def convert(source: PathLike, output: PathLike, *, loops: int = 0, unique_layers: int = 0,
            strategy: str = "cycle", init: str = "average", lora_rank: Union[int, str] = 0,
            per_position_norms: bool = False, shared_type: str = "f32", lora_type: str = "f32",
            calibration: Optional[PathLike] = None, calibration_tokens: Optional[int] = None,
            calibration_lambda: Optional[float] = None, sequential: bool = False, threads: Optional[int] = None,
            progress: Optional[Callable[[float], Optional[bool]]] = None) -> None:
    """Convert a vanilla model (GGUF file or Hugging Face folder) into a (relaxed) recursive GGUF.

    loops (B) or unique_layers (K) chooses the recursion (default B = 2);
    lora_rank is 0 (pure recursive), a rank, or "full" (min(in, out) per module).
    calibration: a text file whose activations weigh the conversion (whitened
    SVD; enables init="regmean"); sequential=True refits each position on the
    inputs of the recursive model converted up to it. None takes the C default.
    """
    params = _capi.sized(_capi.rtx_convert_params)
    lib.rtx_convert_default_params(ctypes.byref(params))
    if loops or unique_layers:
        params.loops = loops
        params.unique_layers = unique_layers
    params.strategy = strategy.encode()
    params.init = init.encode()
    params.lora_rank = _capi.RTX_LORA_RANK_FULL if lora_rank == "full" else int(lora_rank)
    params.per_position_norms = per_position_norms
    params.shared_type = shared_type.encode()
    params.lora_type = lora_type.encode()
    if calibration is not None:
        params.calibration_path = _path(calibration)
    if calibration_tokens is not None:
        params.calibration_tokens = calibration_tokens
    if calibration_lambda is not None:
        params.calibration_lambda = calibration_lambda
    if threads is not None:
        params.calibration_threads = threads
    params.calibration_sequential = sequential

    def call(c_callback):
        params.progress = c_callback
        return lib.rtx_convert(_path(source), _path(output), ctypes.byref(params))

    _run_with_progress(call, progress)


def export_unrolled(source: PathLike, output: PathLike, type: str = "f32",
                    progress: Optional[Callable[[float], Optional[bool]]] = None) -> None:
    """Write a recursive GGUF as a plain GGUF of L layers (W' + B·A merged per position)."""
    _run_with_progress(
        lambda cb: lib.rtx_export_unrolled(_path(source), _path(output), type.encode(), cb, None), progress)
