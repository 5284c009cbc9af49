# scheduler.py — continuous depth-wise batching with early exit (rtx.h §10).
from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Union

import numpy as np

from . import _capi
from .errors import BufferTooSmallError, InvalidArgumentError, check
from ._handle import _Handle
from .model import (Model, StopReason, _encode_c_string, _int32_ptr, _override, _sampling_params, _stop_reason,
                    _token_array)

lib = _capi.lib


@dataclass(frozen=True)
class ExitPolicy:
    """When a token stops looping. Build with the class methods."""
    kind: int = _capi.RTX_EXIT_FULL_DEPTH
    threshold: float = 0.0
    min_loops: int = 1
    fixed_loops: int = 0
    oracle_loops: Sequence[int] = ()

    @classmethod
    def full_depth(cls) -> "ExitPolicy":
        return cls()

    @classmethod
    def confidence(cls, threshold: float, min_loops: int = 1) -> "ExitPolicy":
        """Exit once the exit head's max softmax probability >= threshold (after min_loops loops)."""
        return cls(_capi.RTX_EXIT_CONFIDENCE, threshold=threshold, min_loops=min_loops)

    @classmethod
    def gate(cls, threshold: float, min_loops: int = 1) -> "ExitPolicy":
        """Exit once the learned exit gate's λ >= threshold (after min_loops loops); the LM head
        runs only for rows that exit. Needs a model with exit gates."""
        return cls(_capi.RTX_EXIT_GATE, threshold=threshold, min_loops=min_loops)

    @classmethod
    def ouro(cls, threshold: float) -> "ExitPolicy":
        """Ouro's rule: exit after the first loop whose cumulative exit probability
        sum_{s<=t} λ_s prod_{j<s} (1 - λ_j) reaches threshold (the last loop takes the
        rest). Needs exit gates (an Ouro checkpoint's early_exit_gate)."""
        return cls(_capi.RTX_EXIT_OURO, threshold=threshold)

    @classmethod
    def fixed(cls, loops: int) -> "ExitPolicy":
        return cls(_capi.RTX_EXIT_FIXED, fixed_loops=loops)

    @classmethod
    def measure_oracle(cls) -> "ExitPolicy":
        """Full depth, recording each token's oracle exit loop (Scheduler.oracle_loops)."""
        return cls(_capi.RTX_EXIT_ORACLE_MEASURE)

    @classmethod
    def oracle(cls, loops: Sequence[int]) -> "ExitPolicy":
        """Replay a recorded oracle trajectory: token i exits after loops[i] loops."""
        return cls(_capi.RTX_EXIT_ORACLE_REPLAY, oracle_loops=tuple(int(x) for x in loops))


@dataclass(frozen=True)
class Event:
    """A scheduler event: a generated token (kind "token") or the end of a request ("finished")."""
    request_id: int
    kind: str
    token: int = -1
    loops: int = 0
    text: bytes = b""
    stop_reason: Union[StopReason, int, None] = None


@dataclass
class SchedulerStats:
    steps: int
    generated_tokens: int
    prompt_tokens: int
    fill_rows: int
    mean_loops_per_token: float
    pending_requests: int
    exit_histogram: List[int] = field(default_factory=list)
    head_rows: int = 0   # rows run through the exit head (final norm + LM head)
    gate_rows: int = 0   # rows run through an exit gate (final norm + d multiply-adds)


class Scheduler(_Handle):
    """Up to max_rows rows in flight, each at its own loop and request; each step()
    is one pass of the shared block over all of them."""

    _kind = "scheduler"

    def __init__(self, model: Model, max_rows: Optional[int] = None, prefill_chunk: Optional[int] = None,
                 n_threads: Optional[int] = None, batch_invariant: Optional[bool] = None,
                 max_memory: Optional[int] = None):
        """Arguments left None take rtx_scheduler_default_params' values. max_memory:
        bytes the scratch and the KV caches of all queued and running requests may
        take (0 = physical memory); creating or submitting past it raises OutOfMemoryError."""
        self.model = model
        params = _capi.sized(_capi.rtx_scheduler_params)
        lib.rtx_scheduler_default_params(ctypes.byref(params))
        _override(params, max_rows=max_rows, prefill_chunk=prefill_chunk, n_threads=n_threads,
                  batch_invariant=batch_invariant, max_memory=max_memory)
        handle = _capi.rtx_scheduler_p()
        check(lib.rtx_scheduler_create(model._h(), ctypes.byref(params), ctypes.byref(handle)))
        self._handle = handle.value
        model._dependents.add(self)   # closing the model closes its schedulers first

    def _free(self, handle: int) -> None:
        lib.rtx_scheduler_free(handle)

    def submit(self, prompt: Union[str, Sequence[int], np.ndarray], max_tokens: Optional[int] = None,
               temperature: Optional[float] = None, top_k: Optional[int] = None, top_p: Optional[float] = None,
               min_p: Optional[float] = None, repeat_penalty: Optional[float] = None,
               repeat_last_n: Optional[int] = None, seed: Optional[int] = None, exit: ExitPolicy = ExitPolicy(),
               stop: Optional[Sequence[str]] = None, stop_at_eos: Optional[bool] = None,
               add_bos: Optional[bool] = None, special: Optional[bool] = None) -> int:
        """Queue a request (text or token ids); returns its id. Arguments left None
        take rtx_request_default_params' values (a request decodes greedily unless
        given a temperature)."""
        params = _capi.sized(_capi.rtx_request_params)
        lib.rtx_request_default_params(ctypes.byref(params))
        _override(params, max_tokens=max_tokens, stop_at_eos=stop_at_eos, add_bos=add_bos, parse_special=special)
        _sampling_params(params.sampling, temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed)
        params.exit.kind = exit.kind
        params.exit.threshold = exit.threshold
        params.exit.min_loops = exit.min_loops
        params.exit.fixed_loops = exit.fixed_loops
        oracle = np.asarray(exit.oracle_loops, dtype=np.int32)
        if len(oracle):
            params.exit.oracle_loops = oracle.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))
            params.exit.n_oracle_loops = len(oracle)
        stops = [_encode_c_string(s, "stop string") for s in (stop or [])]
        stop_array = (ctypes.c_char_p * max(len(stops), 1))(*stops)
        params.stop = ctypes.cast(stop_array, ctypes.POINTER(ctypes.c_char_p))
        params.n_stop = len(stops)
        out = ctypes.c_int32()
        if isinstance(prompt, str):
            check(lib.rtx_scheduler_submit(self._h(), _encode_c_string(prompt, "prompt"), ctypes.byref(params), ctypes.byref(out)))
        else:
            array = _token_array(prompt, self.model.info.n_vocab)
            check(lib.rtx_scheduler_submit_tokens(self._h(), _int32_ptr(array), len(array), ctypes.byref(params),
                                                  ctypes.byref(out)))
        return out.value

    def cancel(self, request_id: int) -> None:
        """Cancel a queued or running request; its "finished" event comes with the next step."""
        check(lib.rtx_scheduler_cancel(self._h(), request_id))

    def step(self) -> List[Event]:
        """One pass of the shared block over every row in flight."""
        events = ctypes.POINTER(_capi.rtx_scheduler_event)()
        n = ctypes.c_size_t()
        check(lib.rtx_scheduler_step(self._h(), ctypes.byref(events), ctypes.byref(n)))
        out = []
        for i in range(n.value):
            e = events[i]
            text = ctypes.string_at(e.text, e.text_len) if e.text_len else b""
            if e.kind == _capi.RTX_EVENT_TOKEN:
                out.append(Event(e.request_id, "token", e.token, e.loops, text))
            else:
                out.append(Event(e.request_id, "finished", text=text, stop_reason=_stop_reason(e.stop_reason)))
        return out

    @property
    def stats(self) -> SchedulerStats:
        s = _capi.sized(_capi.rtx_scheduler_stats)
        check(lib.rtx_scheduler_get_stats(self._h(), ctypes.byref(s)))
        return SchedulerStats(s.steps, s.generated_tokens, s.prompt_tokens, s.fill_rows, s.mean_loops_per_token,
                              s.pending_requests, list(s.exit_histogram[:s.n_loops]), s.head_rows, s.gate_rows)

    @property
    def idle(self) -> bool:
        return self.stats.pending_requests == 0

    def run(self) -> Iterator[Event]:
        """Step until every request is over, yielding events as they happen."""
        while not self.idle:
            yield from self.step()

    def oracle_loops(self, request_id: int) -> List[int]:
        """The oracle trajectory of a finished measure_oracle request (read once)."""
        n = ctypes.c_size_t()
        status = lib.rtx_scheduler_oracle_loops(self._h(), request_id, None, 0, ctypes.byref(n))
        if status not in (_capi.RTX_OK, _capi.RTX_ERR_BUFFER_TOO_SMALL):
            check(status)
        buf = (ctypes.c_int32 * max(n.value, 1))()
        check(lib.rtx_scheduler_oracle_loops(self._h(), request_id, buf, n.value, ctypes.byref(n)))
        return list(buf[:n.value])
