# model.py — the Python API: Model (weights + tokenizer), Context (KV cache,
# logits), Sampler, and Generation (a lazy iterator over rtx_generator).
# Ownership mirrors rtx.h: a Generation borrows its Context, a Context its
# Model; closing an owner first closes what borrows it, so no handle outlives
# the handle it points into.
from __future__ import annotations

import codecs
import ctypes
import enum
import math
import os
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _capi
from ._callbacks import AbortCallback, ProgressCallback
from ._handle import _Handle, _closed
from .errors import InvalidArgumentError, TokenOutOfRangeError, check, error_for

lib = _capi.lib
_c_size_t = ctypes.c_size_t


def _encode_c_string(value: Union[str, bytes, os.PathLike], what: str) -> bytes:
    """UTF-8 bytes for a `const char *` argument; an embedded NUL would silently
    truncate the string on the C side, so refuse it here."""
    if isinstance(value, os.PathLike):
        value = os.fsencode(value)
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if b"\0" in data:
        raise InvalidArgumentError(f"{what} contains a NUL character")
    return data


class StopReason(enum.IntEnum):
    """rtx_stop_reason."""
    NONE = _capi.RTX_STOP_NONE
    MAX_TOKENS = _capi.RTX_STOP_MAX_TOKENS
    EOS = _capi.RTX_STOP_EOS
    STRING = _capi.RTX_STOP_STRING
    CALLBACK = _capi.RTX_STOP_CALLBACK
    CONTEXT_FULL = _capi.RTX_STOP_CONTEXT_FULL
    CANCELLED = _capi.RTX_STOP_CANCELLED


def _stop_reason(value: int) -> Union[StopReason, int]:
    try:
        return StopReason(value)
    except ValueError:  # a newer library may add reasons
        return value


@dataclass(frozen=True)
class LoopResult:
    """rtx_loop_result: what one loop of the shared block produced."""
    loop: int
    is_last: bool
    top_token: int
    confidence: float
    margin: float
    gate: Optional[float] = None  # the learned exit gate's λ after this loop (None: no gates, or the last loop)


@dataclass(frozen=True)
class ModelInfo:
    """rtx_model_info."""
    n_vocab: int
    n_embd: int
    n_positions: int       # unrolled depth L (layers of the vanilla model)
    n_unique_layers: int   # K: layers stored in the shared block
    n_loops: int           # B: times the shared block runs (1 = vanilla)
    n_head: int
    n_head_kv: int
    n_ctx_train: int
    bos_token: int         # -1 if none
    eos_token: int         # -1 if none
    n_params: int
    file_bytes: int
    architecture: str

    @classmethod
    def _from_c(cls, info: _capi.rtx_model_info) -> "ModelInfo":
        values = {name: getattr(info, name) for name in cls.__dataclass_fields__ if name != "architecture"}
        return cls(architecture=info.architecture.decode("utf-8", "replace"), **values)


# Keyword arguments left as None keep the value the C library's
# rtx_*_default_params put in the struct: the defaults are defined once, in the
# engine, and are the same through C, Python and the rtx CLI.

def _override(out: ctypes.Structure, **values: Any) -> None:
    """Set the fields given a value; None leaves the struct's default."""
    for name, value in values.items():
        if value is not None:
            setattr(out, name, value)


def _sampling_params(out: _capi.rtx_sampling_params, temperature: Optional[float], top_k: Optional[int],
                     top_p: Optional[float], min_p: Optional[float], repeat_penalty: Optional[float],
                     repeat_last_n: Optional[int], seed: Optional[int]) -> None:
    """Overrides on `out`, which holds C's defaults. seed=None: C's default
    (RTX_SEED_RANDOM, a fresh seed per run); an int gives reproducible tokens."""
    if seed is not None and not 0 <= int(seed) < 2 ** 64:
        raise InvalidArgumentError(f"seed {seed} is outside [0, 2**64)")
    _override(out, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, repeat_penalty=repeat_penalty,
              repeat_last_n=repeat_last_n, seed=None if seed is None else int(seed))


def _fields(struct: ctypes.Structure, names: Iterable[str]) -> Dict[str, Any]:
    """Field values of a params struct, by name (what `.params` properties report)."""
    return {name: getattr(struct, name) for name in names}


_SAMPLING_FIELDS = ("temperature", "top_k", "top_p", "min_p", "repeat_penalty", "repeat_last_n", "seed")
_CONTEXT_FIELDS = ("n_ctx", "n_batch", "n_threads", "float_prompts")


def _token_array(tokens: Union[Sequence[int], np.ndarray], n_vocab: Optional[int] = None) -> np.ndarray:
    """A contiguous int32 array; ids that do not even fit int32 are reported as out of range."""
    wide = np.asarray(tokens, dtype=np.int64).reshape(-1)
    if wide.size and (wide.min() < np.iinfo(np.int32).min or wide.max() > np.iinfo(np.int32).max):
        bad = int(wide[(wide < np.iinfo(np.int32).min) | (wide > np.iinfo(np.int32).max)][0])
        bound = f"[0, {n_vocab})" if n_vocab is not None else "int32"
        raise TokenOutOfRangeError(f"token id {bad} is outside {bound}", _capi.RTX_ERR_TOKEN_OUT_OF_RANGE)
    return np.ascontiguousarray(wide, dtype=np.int32)


def _int32_ptr(array: np.ndarray):
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))


# ======================================================================== #
# Model                                                                     #
# ======================================================================== #

class Model(_Handle):
    """A loaded checkpoint (a GGUF file or a Hugging Face folder with config.json
    and safetensors). Immutable once loaded; any number of
    contexts may share it. Use as a context manager or call close()."""

    _kind = "Model"

    def __init__(self, path: Union[str, bytes, os.PathLike],
                 progress: Optional[Callable[[float], Optional[bool]]] = None):
        self.path = os.fspath(path)
        c_path = _encode_c_string(path, "model path")
        params = _capi.sized(_capi.rtx_model_params)
        lib.rtx_model_default_params(ctypes.byref(params))
        progress_callback = None
        if progress is not None:
            # Referenced from this frame for the whole call: C holds it only during load.
            progress_callback = ProgressCallback(progress)
            params.progress = progress_callback.c_callback
        handle = _capi.rtx_model_p()
        status = lib.rtx_model_load(c_path, ctypes.byref(params), ctypes.byref(handle))
        if progress_callback is not None and progress_callback.error is not None:
            if handle.value:
                lib.rtx_model_free(handle)
            raise progress_callback.error
        check(status)
        self._handle = handle.value
        self._dependents: "weakref.WeakSet[Any]" = weakref.WeakSet()
        info = _capi.sized(_capi.rtx_model_info)
        check(lib.rtx_model_get_info(self._handle, ctypes.byref(info)))
        self.info = ModelInfo._from_c(info)

    # -- lifetime (close() frees the model after its contexts, generations and schedulers)
    def _close_dependents(self) -> None:
        for dependent in list(self._dependents):
            dependent.close()

    def _free(self, handle: int) -> None:
        lib.rtx_model_free(handle)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.info.architecture}, {self.info.n_params} params"
        return f"<rtx.Model {self.path!r} ({state})>"

    # -- metadata and tensors -----------------------------------------------
    def meta(self, key: str) -> str:
        """A metadata value rendered as text (arrays as "[n items]")."""
        c_key = _encode_c_string(key, "metadata key")
        size = 256
        while True:
            buf = ctypes.create_string_buffer(size)
            length = _c_size_t()
            status = lib.rtx_model_meta(self._h(), c_key, buf, size, ctypes.byref(length))
            if status == _capi.RTX_ERR_BUFFER_TOO_SMALL and length.value + 1 > size:
                size = length.value + 1
                continue
            check(status)
            return buf.raw[:length.value].decode("utf-8", "replace")

    def tensor(self, name: str) -> np.ndarray:
        """A stored tensor, dequantized to float32, flattened (1-D, file order)."""
        c_name = _encode_c_string(name, "tensor name")
        capacity = 4096
        while True:
            out = np.empty(capacity, dtype=np.float32)
            count = _c_size_t()
            status = lib.rtx_model_tensor_f32(self._h(), c_name, out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                              capacity, ctypes.byref(count))
            if status == _capi.RTX_ERR_BUFFER_TOO_SMALL and count.value > capacity:
                capacity = count.value
                continue
            check(status)
            return out[:count.value] if count.value != capacity else out

    # -- tokenizer ------------------------------------------------------------
    def tokenize(self, text: Union[str, bytes], add_bos: bool = False, special: bool = False) -> List[int]:
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        capacity = len(data) + 8
        while True:
            out = np.empty(capacity, dtype=np.int32)
            count = _c_size_t()
            status = lib.rtx_tokenize(self._h(), data, len(data), add_bos, special,
                                      _int32_ptr(out), capacity, ctypes.byref(count))
            if status == _capi.RTX_ERR_BUFFER_TOO_SMALL and count.value > capacity:
                capacity = count.value
                continue
            check(status)
            return out[:count.value].tolist()

    def detokenize(self, ids: Union[Sequence[int], np.ndarray], special: bool = False) -> bytes:
        """Token ids → the model's bytes (possibly not valid UTF-8 on their own)."""
        tokens = _token_array(ids, self.info.n_vocab if self._handle else None)
        size = 16 * len(tokens) + 16
        while True:
            buf = ctypes.create_string_buffer(size)
            length = _c_size_t()
            status = lib.rtx_detokenize(self._h(), _int32_ptr(tokens), len(tokens), special,
                                        buf, size, ctypes.byref(length))
            if status == _capi.RTX_ERR_BUFFER_TOO_SMALL and length.value + 1 > size:
                size = length.value + 1
                continue
            check(status)
            return buf.raw[:length.value]

    def decode(self, ids: Union[Sequence[int], np.ndarray], special: bool = False) -> str:
        return self.detokenize(ids, special=special).decode("utf-8", errors="replace")

    def chat(self, messages: Iterable[Mapping[str, str]], add_generation_prompt: bool = True) -> str:
        """Render messages ({"role": ..., "content": ...}) in the model's chat format."""
        encoded = []
        for index, message in enumerate(messages):
            try:
                role, content = message["role"], message["content"]
            except (KeyError, TypeError):
                raise InvalidArgumentError(f"chat message {index} needs 'role' and 'content'") from None
            encoded.append((_encode_c_string(role, f"role of chat message {index}"),
                            _encode_c_string(content, f"content of chat message {index}")))
        array = (_capi.rtx_chat_message * max(len(encoded), 1))()
        for slot, (role, content) in zip(array, encoded):
            slot.role, slot.content = role, content
        size = 1024
        while True:
            buf = ctypes.create_string_buffer(size)
            length = _c_size_t()
            status = lib.rtx_chat_apply(self._h(), array, len(encoded), add_generation_prompt,
                                        buf, size, ctypes.byref(length))
            if status == _capi.RTX_ERR_BUFFER_TOO_SMALL and length.value + 1 > size:
                size = length.value + 1
                continue
            check(status)
            return buf.raw[:length.value].decode("utf-8", "replace")

    # -- contexts and generation ----------------------------------------------
    def context(self, n_ctx: Optional[int] = None, n_batch: Optional[int] = None, n_threads: Optional[int] = None,
                abort: Optional[Callable[[], bool]] = None, float_prompts: Optional[bool] = None,
                max_memory: Optional[int] = None) -> "Context":
        """A new KV cache over this model (n_ctx 0 = min(n_ctx_train, 4096)). Prompt
        batches run the integer GEMM over 8-bit activations (llama.cpp's numerics);
        float_prompts=True computes them in float instead (slower, exact to float rounding).
        max_memory: bytes the KV cache and scratch may take (0 = physical memory); a
        context that would not fit raises OutOfMemoryError before allocating.
        Arguments left None take rtx_context_default_params' values."""
        return Context(self, n_ctx=n_ctx, n_batch=n_batch, n_threads=n_threads, abort=abort,
                       float_prompts=float_prompts, max_memory=max_memory)

    def generate(self, prompt: str, max_tokens: Optional[int] = None, temperature: Optional[float] = None,
                 top_k: Optional[int] = None, top_p: Optional[float] = None, min_p: Optional[float] = None,
                 repeat_penalty: Optional[float] = None, repeat_last_n: Optional[int] = None,
                 seed: Optional[int] = None, stop: Optional[Sequence[str]] = None,
                 add_bos: Optional[bool] = None, special: Optional[bool] = None, context: Optional["Context"] = None,
                 stop_at_eos: Optional[bool] = None, draft_loops: Optional[int] = None,
                 draft_len: Optional[int] = None, lookup_ngram: Optional[int] = None,
                 draft_gate: Optional[float] = None, batch_invariant: Optional[bool] = None) -> "Generation":
        """Stream the continuation of `prompt` as text pieces. Lazy: nothing runs
        until the first next(). Without `context`, a private one is created and
        closed with the generation; with one, the prompt is appended to it.
        Arguments left None take rtx_generate_default_params' values, llama.cpp's:
        sampling with a fresh random seed per run. Pass temperature=0 for greedy
        decoding, or a seed for reproducible sampling.

        Speculative decoding (off by default; same greedy tokens, same sampling
        distribution): draft_loops=b drafts with the first b loops of a recursive
        model, lookup_ngram=n with prompt lookup (any model), draft_len tokens per
        verification pass; draft_gate stops loop drafts where the model's exit gate
        is below it. `.result` reports n_draft_rounds, n_drafted and n_accepted.
        Drafts run batch-invariant products; batch_invariant=True runs plain
        decoding the same way (the reference speculative output equals bit for bit)."""
        if context is not None and context.model is not self:
            raise InvalidArgumentError("context belongs to another model")
        self._h()
        return Generation(self, prompt, context=context, max_tokens=max_tokens, temperature=temperature,
                          top_k=top_k, top_p=top_p, min_p=min_p, repeat_penalty=repeat_penalty,
                          repeat_last_n=repeat_last_n, seed=seed, stop=stop, add_bos=add_bos,
                          special=special, stop_at_eos=stop_at_eos, draft_loops=draft_loops,
                          draft_len=draft_len, lookup_ngram=lookup_ngram, draft_gate=draft_gate,
                          batch_invariant=batch_invariant)


# ======================================================================== #
# Context                                                                   #
# ======================================================================== #

class Context(_Handle):
    """A sequence and its KV cache. Used by one thread at a time."""

    _kind = "Context"

    def __init__(self, model: Model, n_ctx: Optional[int] = None, n_batch: Optional[int] = None,
                 n_threads: Optional[int] = None, abort: Optional[Callable[[], bool]] = None,
                 float_prompts: Optional[bool] = None, max_memory: Optional[int] = None):
        self.model = model  # keeps the model alive at least as long as this context
        params = _capi.sized(_capi.rtx_context_params)
        lib.rtx_context_default_params(ctypes.byref(params))
        _override(params, n_ctx=n_ctx, n_batch=n_batch, n_threads=n_threads,
                  float_prompts=None if float_prompts is None else bool(float_prompts), max_memory=max_memory)
        # The parameters it was created with (n_ctx 0 and n_threads 0 as given; n_ctx resolves them).
        self.params: Dict[str, Any] = _fields(params, _CONTEXT_FIELDS)
        self._abort = AbortCallback(abort) if abort is not None else None
        if self._abort is not None:
            params.abort = self._abort.c_callback  # kept alive by self._abort
        handle = _capi.rtx_context_p()
        check(lib.rtx_context_create(model._h(), ctypes.byref(params), ctypes.byref(handle)))
        self._handle = handle.value
        self._generation: Optional["weakref.ReferenceType[Generation]"] = None
        model._dependents.add(self)

    # -- lifetime (close() frees the KV cache after any generation borrowing it)
    def _close_dependents(self) -> None:
        generation = self._generation() if self._generation is not None else None
        self._generation = None
        if generation is not None:
            generation.close()

    def _free(self, handle: int) -> None:
        lib.rtx_context_free(handle)

    def _check(self, status: int) -> None:
        if status != _capi.RTX_OK and self._abort is not None:
            error = self._abort.take_error()
            if error is not None:
                raise error
        check(status)

    @property
    def n_past(self) -> int:
        value = ctypes.c_uint32()
        check(lib.rtx_context_n_past(self._h(), ctypes.byref(value)))
        return value.value

    @property
    def n_ctx(self) -> int:
        value = ctypes.c_uint32()
        check(lib.rtx_context_n_ctx(self._h(), ctypes.byref(value)))
        return value.value

    def reset(self) -> None:
        check(lib.rtx_context_reset(self._h()))

    def truncate(self, n_past: int) -> None:
        """Keep the first n_past cached tokens and forget the rest (every loop's
        K/V): evaluating from there equals a fresh context. The logits of a kept
        token of the last eval stay readable. n_past > n_past now raises."""
        if not isinstance(n_past, (int, np.integer)) or isinstance(n_past, bool) or not 0 <= n_past < 2 ** 32:
            raise InvalidArgumentError(f"n_past must be an int in [0, 2^32), got {n_past!r}")
        self._check(lib.rtx_context_truncate(self._h(), int(n_past)))

    def eval(self, tokens: Union[Sequence[int], np.ndarray], all_logits: bool = False) -> np.ndarray:
        """Append tokens and run the model. Returns a copy of the logits: (n_vocab,)
        for the last token, or (n_tokens, n_vocab) with all_logits."""
        array = _token_array(tokens, self.model.info.n_vocab)
        handle = self._h()
        self._check(lib.rtx_eval(handle, _int32_ptr(array), len(array), all_logits))
        if not all_logits:
            return self.logits(-1)
        return np.stack([self.logits(i) for i in range(len(array))]) if len(array) else \
            np.empty((0, self.model.info.n_vocab), dtype=np.float32)

    # Loop stepping (rtx.h §9): one loop of the shared block at a time.

    def loop_begin(self, token: int) -> None:
        """Start `token` (appended at the next position) loop by loop."""
        self._check(lib.rtx_loop_begin(self._h(), int(token)))

    def loop_step(self) -> "LoopResult":
        """Run the next loop; its exit logits become `logits()`."""
        out = _capi.sized(_capi.rtx_loop_result)
        self._check(lib.rtx_loop_step(self._h(), ctypes.byref(out)))
        gate = None if math.isnan(out.gate) else float(out.gate)
        return LoopResult(out.loop, bool(out.is_last), out.top_token, out.confidence, out.margin, gate)

    def loop_exit(self) -> None:
        """Finish the pending token; skipped positions are filled by state propagation."""
        self._check(lib.rtx_loop_exit(self._h()))

    def logits(self, index: int = -1) -> np.ndarray:
        """A copy of the logits of token `index` of the last eval (-1 = last)."""
        pointer = ctypes.POINTER(ctypes.c_float)()
        n_vocab = _c_size_t()
        check(lib.rtx_get_logits(self._h(), index, ctypes.byref(pointer), ctypes.byref(n_vocab)))
        return np.ctypeslib.as_array(pointer, shape=(n_vocab.value,)).copy()


# ======================================================================== #
# Sampler                                                                   #
# ======================================================================== #

class Sampler(_Handle):
    """Temperature / top-k / top-p / min-p sampling with a repetition penalty."""

    _kind = "Sampler"

    def __init__(self, temperature: Optional[float] = None, top_k: Optional[int] = None,
                 top_p: Optional[float] = None, min_p: Optional[float] = None,
                 repeat_penalty: Optional[float] = None, repeat_last_n: Optional[int] = None,
                 seed: Optional[int] = None):
        """Arguments left None take rtx_sampling_default_params' values."""
        params = _capi.sized(_capi.rtx_sampling_params)
        lib.rtx_sampling_default_params(ctypes.byref(params))
        _sampling_params(params, temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed)
        self.params: Dict[str, Any] = _fields(params, _SAMPLING_FIELDS)  # the effective parameters
        handle = _capi.rtx_sampler_p()
        check(lib.rtx_sampler_create(ctypes.byref(params), ctypes.byref(handle)))
        self._handle = handle.value

    def sample(self, logits: np.ndarray) -> int:
        """A token id from logits (n_vocab,); it joins the penalty history."""
        values = np.ascontiguousarray(logits, dtype=np.float32)
        if values.ndim != 1:
            raise InvalidArgumentError(f"logits must be 1-D (n_vocab,), got shape {values.shape}")
        token = ctypes.c_int32()
        check(lib.rtx_sampler_sample(self._h(), values.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                     values.size, ctypes.byref(token)))
        return token.value

    def accept(self, token: int) -> None:
        """Add a token (e.g. of the prompt) to the penalty history without sampling."""
        check(lib.rtx_sampler_accept(self._h(), int(_token_array([token])[0])))

    def _free(self, handle: int) -> None:
        lib.rtx_sampler_free(handle)


# ======================================================================== #
# Generation                                                                #
# ======================================================================== #

class Generation:
    """A lazy iterator of generated text pieces (str). The prompt is evaluated
    on the first next(); the native generator is freed when the iteration ends,
    on close(), or when this object is collected. Afterwards `.result` holds
    n_prompt_tokens, n_generated, stop_reason, prompt_seconds, generate_seconds,
    n_draft_rounds, n_drafted, n_accepted (speculative decoding), and `.tokens`
    the generated ids."""

    _handle: Optional[int] = None

    def __init__(self, model: Model, prompt: str, *, context: Optional[Context], max_tokens: Optional[int],
                 temperature: Optional[float], top_k: Optional[int], top_p: Optional[float],
                 min_p: Optional[float], repeat_penalty: Optional[float], repeat_last_n: Optional[int],
                 seed: Optional[int], stop: Optional[Sequence[str]], add_bos: Optional[bool],
                 special: Optional[bool], stop_at_eos: Optional[bool], draft_loops: Optional[int] = None,
                 draft_len: Optional[int] = None, lookup_ngram: Optional[int] = None,
                 draft_gate: Optional[float] = None, batch_invariant: Optional[bool] = None):
        self.model = model
        self._prompt = _encode_c_string(prompt, "prompt")
        self._stop = [_encode_c_string(s, "stop string") for s in (stop or [])]
        if any(len(s) == 0 for s in self._stop):
            raise InvalidArgumentError("stop strings must not be empty")
        # Kept alive here: the C generator may read them until it is freed.
        self._stop_array = (ctypes.c_char_p * max(len(self._stop), 1))(*self._stop)
        params = _capi.sized(_capi.rtx_generate_params)
        lib.rtx_generate_default_params(ctypes.byref(params))
        _override(params, max_tokens=max_tokens, add_bos=add_bos, parse_special=special, stop_at_eos=stop_at_eos,
                  draft_loops=draft_loops, draft_len=draft_len, lookup_ngram=lookup_ngram, draft_gate=draft_gate,
                  batch_invariant=batch_invariant)
        _sampling_params(params.sampling, temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed)
        params.stop = ctypes.cast(self._stop_array, ctypes.POINTER(ctypes.c_char_p))
        params.n_stop = len(self._stop)
        self._params = params
        # The effective parameters, by rtx_generate_params' names (sampling flattened).
        self.params: Dict[str, Any] = {**_fields(params.sampling, _SAMPLING_FIELDS),
                                       **_fields(params, ("max_tokens", "add_bos", "parse_special", "stop_at_eos",
                                                          "draft_loops", "draft_len", "lookup_ngram", "draft_gate",
                                                          "batch_invariant"))}
        self._context = context
        self._owns_context = context is None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._started = False
        self._finished = False
        self._result: Optional[Dict[str, Any]] = None
        self.tokens: List[int] = []

    # -- lifetime ---------------------------------------------------------
    def _start(self) -> None:
        self._started = True
        if self._context is None:
            self._context = Context(self.model)
        context = self._context
        current = context._generation() if context._generation is not None else None
        if current is not None and not current._finished:
            raise InvalidArgumentError("the context already has an unfinished generation; close it first")
        handle = _capi.rtx_generator_p()
        check(lib.rtx_generator_create(context._h(), self._prompt, ctypes.byref(self._params),
                                       ctypes.byref(handle)))
        self._handle = handle.value
        context._generation = weakref.ref(self)

    def close(self) -> None:
        """Stop generating and free the native generator (and a private context). Idempotent."""
        if self._handle is not None:
            try:
                self._result = self._read_result()
            except Exception:
                pass
            handle, self._handle = self._handle, None
            lib.rtx_generator_free(handle)
        self._finished = True
        if self._owns_context and self._context is not None:
            context, self._context = self._context, None
            context.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self) -> "Generation":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- iteration ------------------------------------------------------------
    def __iter__(self) -> "Generation":
        return self

    def __next__(self) -> str:
        if self._finished:
            raise StopIteration
        try:
            if not self._started:
                self._start()
            while True:
                if self._handle is None:  # the context (or model) was closed under us
                    raise _closed("Generation's context")
                out = _capi.sized(_capi.rtx_generated_token)
                status = lib.rtx_generator_next(self._handle, ctypes.byref(out))
                if status != _capi.RTX_OK:
                    raise error_for(status)
                data = ctypes.string_at(out.text, out.text_len) if out.text_len else b""
                if out.token < 0:  # done; flush text held back for stop-string matching
                    text = self._decoder.decode(data, final=True)
                    self.close()
                    if text:
                        return text
                    raise StopIteration
                self.tokens.append(out.token)
                text = self._decoder.decode(data)
                if text:
                    return text
        except BaseException:
            self.close()
            raise

    # -- results ------------------------------------------------------------
    def _read_result(self) -> Dict[str, Any]:
        result = _capi.sized(_capi.rtx_generate_result)
        check(lib.rtx_generator_result(self._handle, ctypes.byref(result)))
        return {
            "n_prompt_tokens": result.n_prompt_tokens,
            "n_generated": result.n_generated,
            "stop_reason": _stop_reason(result.stop_reason),
            "prompt_seconds": result.prompt_seconds,
            "generate_seconds": result.generate_seconds,
            "n_draft_rounds": result.n_draft_rounds,
            "n_drafted": result.n_drafted,
            "n_accepted": result.n_accepted,
        }

    @property
    def result(self) -> Optional[Dict[str, Any]]:
        """Counts and timings: live while running, final once finished, None before start."""
        if self._handle is not None:
            return self._read_result()
        return self._result

    @property
    def finished(self) -> bool:
        return self._finished
