#!/usr/bin/env python3
"""make_bad_gguf.py — a tiny valid GGUF v3 Llama and a corpus of hostile
corruptions of it, each paired with the rtx_status the loader must return.

    python3 Tests/data/make_bad_gguf.py OUT_DIR     # writes the files + OUT_DIR/manifest.tsv

As a module: make_all(out_dir) -> [(filename, expected_status_name, description)].

The GGUF writer is hand-written with `struct` (no dependency on the `gguf`
package) so that every corruption is byte-precise: each case either edits the
file *spec* (keys, tensor infos) and re-serialises, or patches bytes of the
valid file at offsets the writer recorded.

Status policy (see include/rtx.h and README.md, "Hostile input"):
- RTX_ERR_FORMAT: structural damage or inconsistency — truncation, bad magic,
  byte-swapped or unknown version, counts/lengths/offsets that cannot fit,
  unknown value types, nested arrays, wrong key types, duplicates, bad
  shapes, out-of-range hyper-parameters or token ids, a tensor type id that
  ggml never defined (its size is unknowable, so the file cannot be parsed).
- RTX_ERR_UNSUPPORTED: a well-formed file RTX cannot run — GGUF version 1 or
  2 (real, older versions of the format), an unknown architecture, a
  tokenizer model RTX lacks, a tensor type ggml defines but RTX has no
  kernel for.
- RTX_OK plus a logged warning ("[warn]" in the description): NaN in a big
  weight matrix or in a quant scale. Scanning every weight is optional; a
  warning is the minimum. NaN in a norm vector, which RTX
  reads eagerly at load, is rejected as RTX_ERR_FORMAT.
Every file is far below 1 MB (the valid one is ~170 KB).
"""

from __future__ import annotations

import math
import os
import random
import struct
import sys
from dataclasses import dataclass, field, replace
from typing import Callable

# --------------------------------------------------------------------------
# GGUF constants
# --------------------------------------------------------------------------
GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
ALIGNMENT = 32

# Metadata value types.
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
_SCALAR_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i",
               F32: "<f", BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}

# ggml tensor types used here: (id, block elements, block bytes).
GGML_F32 = 0
GGML_Q8_0 = 8
GGML_I32 = 26  # defined by ggml, but RTX has no kernel for it
QK8_0 = 32


def _u32(v: int) -> bytes:
    return struct.pack("<I", v & 0xFFFFFFFF)


def _u64(v: int) -> bytes:
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


def _str(s: str | bytes) -> bytes:
    b = s.encode("utf-8") if isinstance(s, str) else s
    return _u64(len(b)) + b


def encode_value(vtype: int, value) -> bytes:
    """Encode a metadata value (without its type tag). Arrays: value = (elem_type, items)."""
    if vtype == STRING:
        return _str(value)
    if vtype == ARRAY:
        et, items = value
        return _u32(et) + _u64(len(items)) + b"".join(encode_value(et, x) for x in items)
    return struct.pack(_SCALAR_FMT[vtype], value)


@dataclass
class KV:
    key: str | bytes
    vtype: int
    value: object = None
    # Raw override of everything after the key (type tag + value), for corruptions.
    raw: bytes | None = None

    def encode_body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return _u32(self.vtype) + encode_value(self.vtype, self.value)


@dataclass
class Tensor:
    name: str | bytes
    dims: list[int]                   # GGUF order: dims[0] = ne0 = row length (input dim)
    ggml_type: int
    data: bytes
    offset: int | None = None         # override of the (data-relative) offset written in the info
    n_dims: int | None = None         # override of the dimension count written in the info


@dataclass
class Spec:
    kvs: list[KV]
    tensors: list[Tensor]
    magic: bytes = GGUF_MAGIC
    version: int = GGUF_VERSION
    tensor_count: int | None = None   # override of the header counts
    kv_count: int | None = None
    layout_alignment: int = ALIGNMENT  # alignment actually used to place data

    def kv(self, key: str) -> KV:
        return next(k for k in self.kvs if k.key == key)

    def tensor(self, name: str) -> Tensor:
        return next(t for t in self.tensors if t.name == name)


@dataclass
class Layout:
    """Byte offsets the writer produced (absolute unless noted)."""
    kv_start: int = 24
    kv_end: int = 0
    ti_start: int = 0
    ti_end: int = 0
    data_start: int = 0
    size: int = 0
    kv_value: dict = field(default_factory=dict)     # key -> offset of its type tag
    ti_fields: dict = field(default_factory=dict)    # tensor name -> {"ndims","dims","type","offset"} offsets
    tensor_rel: dict = field(default_factory=dict)   # tensor name -> data-relative offset actually used


def _align(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def serialize(spec: Spec) -> tuple[bytes, Layout]:
    lay = Layout()
    out = bytearray()
    out += spec.magic + _u32(spec.version)
    out += _u64(len(spec.tensors) if spec.tensor_count is None else spec.tensor_count)
    out += _u64(len(spec.kvs) if spec.kv_count is None else spec.kv_count)
    lay.kv_start = len(out)
    for kv in spec.kvs:
        out += _str(kv.key)
        lay.kv_value[kv.key if isinstance(kv.key, str) else kv.key.decode("latin-1")] = len(out)
        out += kv.encode_body()
    lay.kv_end = lay.ti_start = len(out)

    # Place tensor data: each tensor at an aligned data-relative offset, no
    # padding after the last one (so cutting one byte truncates a tensor).
    rel = 0
    placed = []
    for t in spec.tensors:
        rel = _align(rel, spec.layout_alignment)
        placed.append(rel)
        rel += len(t.data)

    for t, pos in zip(spec.tensors, placed):
        key = t.name if isinstance(t.name, str) else t.name.decode("latin-1")
        f = {}
        out += _str(t.name)
        f["ndims"] = len(out)
        nd = len(t.dims) if t.n_dims is None else t.n_dims
        out += _u32(nd)
        f["dims"] = len(out)
        for d in t.dims:
            out += _u64(d)
        f["type"] = len(out)
        out += _u32(t.ggml_type)
        f["offset"] = len(out)
        out += _u64(pos if t.offset is None else t.offset)
        lay.ti_fields[key] = f
        lay.tensor_rel[key] = pos
    lay.ti_end = len(out)

    lay.data_start = _align(len(out), spec.layout_alignment)
    out += b"\0" * (lay.data_start - len(out))
    for t, pos in zip(spec.tensors, placed):
        out += b"\0" * (lay.data_start + pos - len(out))
        out += t.data
    lay.size = len(out)
    return bytes(out), lay


# --------------------------------------------------------------------------
# Tensor data
# --------------------------------------------------------------------------
def f32_bytes(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def q8_0_bytes(values: list[float]) -> bytes:
    """ggml block_q8_0: f16 scale d = amax/127, then 32 int8 quants."""
    assert len(values) % QK8_0 == 0
    out = bytearray()
    for b in range(0, len(values), QK8_0):
        blk = values[b:b + QK8_0]
        amax = max(abs(x) for x in blk)
        d = amax / 127.0
        inv = 1.0 / d if d else 0.0
        out += struct.pack("<e", d)
        out += struct.pack("<32b", *[max(-127, min(127, int(round(x * inv)))) for x in blk])
    return bytes(out)


# --------------------------------------------------------------------------
# The tiny Llama
# --------------------------------------------------------------------------
N_LAYER = 2
N_EMBD = 64
N_HEAD = 4
N_HEAD_KV = 2
HEAD_DIM = N_EMBD // N_HEAD          # 16
N_FF = 128
N_CTX_TRAIN = 256

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
BOS_ID, EOS_ID = 1, 2

CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Merges in priority order; each part must exist when the merge is added.
MERGES = [
    ("Ġ", "t"), ("h", "e"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġt", "he"),
    ("r", "e"), ("Ġ", "s"), ("a", "t"), ("e", "n"), ("o", "r"), ("Ġ", "w"), ("Ġ", "o"),
    ("i", "s"), ("e", "s"), ("Ġ", "c"), ("a", "n"), ("l", "l"), ("Ġ", "b"), ("Ġ", "f"),
    ("Ġ", "m"), ("Ġ", "p"), ("i", "t"), ("a", "r"), ("Ġ", "h"), ("o", "u"), ("Ġ", "d"),
    ("e", "d"), ("in", "g"), ("Ġ", "i"), ("Ġo", "f"), ("n", "d"), ("Ġa", "nd"), ("Ġ", "l"),
    ("l", "o"), ("Ġ", "H"), ("e", "ll"), ("H", "ell"), ("Hell", "o"), ("Ġw", "or"),
]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable-unicode map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tiny_vocab() -> tuple[list[str], list[int], list[str]]:
    tokens = list(SPECIAL_TOKENS)
    types = [3] * len(SPECIAL_TOKENS)                   # control
    b2u = bytes_to_unicode()
    for b in range(256):
        tokens.append(b2u[b])
        types.append(1)                                 # normal (as llama.cpp's gpt2 vocabs do)
    have = set(tokens)
    merges = []
    for a, b in MERGES:
        assert a in have and b in have, (a, b)
        merges.append(f"{a} {b}")
        if a + b not in have:
            tokens.append(a + b)
            types.append(1)
            have.add(a + b)
    return tokens, types, merges


def tiny_spec(seed: int = 1234) -> Spec:
    rng = random.Random(seed)
    tokens, types, merges = tiny_vocab()
    n_vocab = len(tokens)

    def gauss(n: int, scale: float) -> list[float]:
        return [rng.gauss(0.0, scale) for _ in range(n)]

    def ones(n: int) -> list[float]:
        return [1.0 + rng.uniform(-0.05, 0.05) for _ in range(n)]

    kvs = [
        KV("general.architecture", STRING, "llama"),
        KV("general.type", STRING, "model"),
        KV("general.name", STRING, "rtx-tiny-llama"),
        KV("general.alignment", U32, ALIGNMENT),
        KV("llama.block_count", U32, N_LAYER),
        KV("llama.context_length", U32, N_CTX_TRAIN),
        KV("llama.embedding_length", U32, N_EMBD),
        KV("llama.feed_forward_length", U32, N_FF),
        KV("llama.attention.head_count", U32, N_HEAD),
        KV("llama.attention.head_count_kv", U32, N_HEAD_KV),
        KV("llama.rope.freq_base", F32, 10000.0),
        KV("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
        KV("llama.rope.dimension_count", U32, HEAD_DIM),
        KV("llama.vocab_size", U32, n_vocab),
        KV("general.file_type", U32, 7),                # mostly Q8_0
        KV("tokenizer.ggml.model", STRING, "gpt2"),
        KV("tokenizer.ggml.pre", STRING, "gpt2"),
        KV("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
        KV("tokenizer.ggml.token_type", ARRAY, (I32, types)),
        KV("tokenizer.ggml.merges", ARRAY, (STRING, merges)),
        KV("tokenizer.ggml.bos_token_id", U32, BOS_ID),
        KV("tokenizer.ggml.eos_token_id", U32, EOS_ID),
        KV("tokenizer.ggml.padding_token_id", U32, EOS_ID),
        KV("tokenizer.ggml.add_bos_token", BOOL, False),
        KV("tokenizer.ggml.add_space_prefix", BOOL, False),
        KV("tokenizer.chat_template", STRING, CHATML_TEMPLATE),
        KV("general.quantization_version", U32, 2),
    ]

    # GGUF dims: [ne0 = input dim, ne1 = output dim]. Tied output (no output.weight),
    # like SmolLM2.
    kv_dim = N_HEAD_KV * HEAD_DIM
    tensors = [
        Tensor("token_embd.weight", [N_EMBD, n_vocab], GGML_F32, f32_bytes(gauss(N_EMBD * n_vocab, 0.5))),
        Tensor("output_norm.weight", [N_EMBD], GGML_F32, f32_bytes(ones(N_EMBD))),
    ]
    s_in = 1.0 / math.sqrt(N_EMBD)
    s_ff = 1.0 / math.sqrt(N_FF)
    for i in range(N_LAYER):
        p = f"blk.{i}."
        tensors += [
            Tensor(p + "attn_norm.weight", [N_EMBD], GGML_F32, f32_bytes(ones(N_EMBD))),
            Tensor(p + "attn_q.weight", [N_EMBD, N_EMBD], GGML_Q8_0, q8_0_bytes(gauss(N_EMBD * N_EMBD, s_in))),
            Tensor(p + "attn_k.weight", [N_EMBD, kv_dim], GGML_Q8_0, q8_0_bytes(gauss(N_EMBD * kv_dim, s_in))),
            Tensor(p + "attn_v.weight", [N_EMBD, kv_dim], GGML_Q8_0, q8_0_bytes(gauss(N_EMBD * kv_dim, s_in))),
            Tensor(p + "attn_output.weight", [N_EMBD, N_EMBD], GGML_Q8_0, q8_0_bytes(gauss(N_EMBD * N_EMBD, s_in))),
            Tensor(p + "ffn_norm.weight", [N_EMBD], GGML_F32, f32_bytes(ones(N_EMBD))),
            Tensor(p + "ffn_gate.weight", [N_EMBD, N_FF], GGML_Q8_0, q8_0_bytes(gauss(N_EMBD * N_FF, s_in))),
            Tensor(p + "ffn_up.weight", [N_EMBD, N_FF], GGML_Q8_0, q8_0_bytes(gauss(N_EMBD * N_FF, s_in))),
            Tensor(p + "ffn_down.weight", [N_FF, N_EMBD], GGML_Q8_0, q8_0_bytes(gauss(N_FF * N_EMBD, s_ff))),
        ]
    return Spec(kvs=kvs, tensors=tensors)


# --------------------------------------------------------------------------
# Corruptions
# --------------------------------------------------------------------------
OK, FORMAT, UNSUPPORTED = "RTX_OK", "RTX_ERR_FORMAT", "RTX_ERR_UNSUPPORTED"
BIG = 1 << 62


def _copy(spec: Spec) -> Spec:
    return replace(spec, kvs=[replace(k) for k in spec.kvs], tensors=[replace(t, dims=list(t.dims)) for t in spec.tensors])


def _set_kv(spec: Spec, key: str, vtype: int, value) -> Spec:
    s = _copy(spec)
    for k in s.kvs:
        if k.key == key:
            k.vtype, k.value, k.raw = vtype, value, None
            return s
    s.kvs.append(KV(key, vtype, value))
    return s


def _raw_kv(spec: Spec, key: str | bytes, raw: bytes, replace_existing: bool = True) -> Spec:
    s = _copy(spec)
    for k in s.kvs:
        if replace_existing and k.key == key:
            k.raw = raw
            return s
    s.kvs.append(KV(key, 0, None, raw=raw))
    return s


def _drop_kv(spec: Spec, key: str) -> Spec:
    s = _copy(spec)
    s.kvs = [k for k in s.kvs if k.key != key]
    return s


def _edit_tensor(spec: Spec, tensor_name: str, **changes) -> Spec:
    s = _copy(spec)
    for i, t in enumerate(s.tensors):
        if t.name == tensor_name:
            s.tensors[i] = replace(t, **changes)
            return s
    raise KeyError(tensor_name)


def _add_tensors(spec: Spec, *tensors: Tensor) -> Spec:
    s = _copy(spec)
    s.tensors += list(tensors)
    return s


def _patch(buf: bytes, off: int, new: bytes) -> bytes:
    return buf[:off] + new + buf[off + len(new):]


def _nan_in_f32(data: bytes, index: int) -> bytes:
    return _patch(data, 4 * index, struct.pack("<I", 0x7FC00000))


def _nan_in_q8_scale(data: bytes, block: int) -> bytes:
    return _patch(data, 34 * block, struct.pack("<H", 0x7E00))  # f16 quiet NaN


def corruptions(spec: Spec, valid: bytes, lay: Layout) -> list[tuple[str, str, str, Callable[[], bytes]]]:
    """(filename, expected status, description, builder) for every hostile file."""
    S = lambda s: serialize(s)[0]  # noqa: E731
    ti = lay.ti_fields
    rel = lay.tensor_rel
    q0, k0 = "blk.0.attn_q.weight", "blk.0.attn_k.weight"
    n_vocab = len(spec.kv("tokenizer.ggml.tokens").value[1])
    tokens = spec.kv("tokenizer.ggml.tokens").value[1]
    types = spec.kv("tokenizer.ggml.token_type").value[1]
    merges = spec.kv("tokenizer.ggml.merges").value[1]
    kv_mid = (lay.kv_start + lay.kv_end) // 2
    ti_mid = (lay.ti_start + lay.ti_end) // 2
    data_mid = (lay.data_start + lay.size) // 2
    name_kv = lay.kv_value["general.name"]  # offset of its type tag; the string length follows

    cases = [
        # 1. Size, magic, version
        ("empty.gguf", FORMAT, "empty file (0 bytes)", lambda: b""),
        ("trunc_header_12.gguf", FORMAT, "truncated inside the fixed header (12 of 24 bytes)", lambda: valid[:12]),
        ("trunc_header_23.gguf", FORMAT, "one byte short of the fixed 24-byte header", lambda: valid[:23]),
        ("bad_magic.gguf", FORMAT, "magic 'GGML' instead of 'GGUF'", lambda: b"GGML" + valid[4:]),
        ("zeros_4k.gguf", FORMAT, "4096 zero bytes (no magic)", lambda: b"\0" * 4096),
        ("version_1.gguf", UNSUPPORTED, "GGUF version 1 (old format RTX does not read)", lambda: _patch(valid, 4, _u32(1))),
        ("version_2.gguf", UNSUPPORTED, "GGUF version 2 (old format RTX does not read)", lambda: _patch(valid, 4, _u32(2))),
        ("version_byteswapped.gguf", FORMAT, "version 0x03000000: a big-endian (byte-swapped) file", lambda: _patch(valid, 4, _u32(0x03000000))),
        # 2. Truncation inside each section
        ("trunc_kv.gguf", FORMAT, f"truncated inside the metadata section (at byte {kv_mid})", lambda: valid[:kv_mid]),
        ("trunc_kv_string.gguf", FORMAT, "truncated inside the length of the general.name string", lambda: valid[:name_kv + 4 + 3]),
        ("trunc_tensor_info.gguf", FORMAT, f"truncated inside the tensor infos (at byte {ti_mid})", lambda: valid[:ti_mid]),
        ("trunc_after_tensor_info.gguf", FORMAT, "truncated right after the tensor infos: no data section", lambda: valid[:lay.ti_end]),
        ("trunc_data.gguf", FORMAT, f"truncated in the middle of the tensor data (at byte {data_mid})", lambda: valid[:data_mid]),
        ("trunc_last_byte.gguf", FORMAT, "last byte of the last tensor missing", lambda: valid[:-1]),
        # 3. Counts
        ("tensor_count_huge.gguf", FORMAT, "tensor count 2^62", lambda: _patch(valid, 8, _u64(BIG))),
        ("kv_count_huge.gguf", FORMAT, "metadata (KV) count 2^62", lambda: _patch(valid, 16, _u64(BIG))),
        ("kv_count_max.gguf", FORMAT, "metadata count 2^64-1 (count x entry size overflows)", lambda: _patch(valid, 16, _u64(-1))),
        # 4/5. Strings, arrays, value types
        ("string_len_huge.gguf", FORMAT, "general.name string length 2^63",
         lambda: _patch(valid, name_kv + 4, _u64(1 << 63))),
        ("string_len_past_eof.gguf", FORMAT, "general.name string length one past the end of the file",
         lambda: _patch(valid, name_kv + 4, _u64(lay.size - (name_kv + 12) + 1))),
        ("key_len_huge.gguf", FORMAT, "first key length 2^63", lambda: _patch(valid, lay.kv_start, _u64(1 << 63))),
        ("key_empty.gguf", FORMAT, "a metadata key of length 0", lambda: S(_raw_kv(spec, "", _u32(U32) + _u32(1), False))),
        ("key_not_utf8.gguf", FORMAT, "a metadata key with invalid UTF-8 bytes",
         lambda: S(_raw_kv(spec, b"general.\xff\xfe", _u32(U32) + _u32(1), False))),
        ("key_overlong.gguf", FORMAT, "a 70000-byte metadata key (over any sane key limit)",
         lambda: S(_raw_kv(spec, "k" * 70000, _u32(U32) + _u32(1), False))),
        ("array_count_past_eof.gguf", FORMAT, "tokenizer.ggml.merges claims more strings than bytes remain (2^32)",
         lambda: _patch(valid, lay.kv_value["tokenizer.ggml.merges"] + 8, _u64(1 << 32))),
        ("array_u8_past_eof.gguf", FORMAT, "a u8 array whose count is one more than the bytes left in the file",
         lambda: S(_raw_kv(spec, "general.blob", _u32(ARRAY) + _u32(U8) + _u64(lay.size + 1) + b"\1\2\3", False))),
        ("array_count_overflow.gguf", FORMAT, "a u64 array of 2^61 elements (count x 8 overflows 64 bits)",
         lambda: S(_raw_kv(spec, "general.blob", _u32(ARRAY) + _u32(U64) + _u64(1 << 61) + _u64(7), False))),
        ("value_type_99.gguf", FORMAT, "metadata value of unknown type 99",
         lambda: S(_raw_kv(spec, "general.mystery", _u32(99) + _u32(0), False))),
        ("array_elem_type_99.gguf", FORMAT, "array of unknown element type 99",
         lambda: S(_raw_kv(spec, "general.mystery", _u32(ARRAY) + _u32(99) + _u64(1) + _u32(0), False))),
        ("nested_array.gguf", FORMAT, "an array of arrays (nested arrays are rejected)",
         lambda: S(_raw_kv(spec, "general.nested", _u32(ARRAY) + _u32(ARRAY) + _u64(1) + _u32(U8) + _u64(1) + b"\0", False))),
        ("bool_value_2.gguf", FORMAT, "bool metadata with byte value 2",
         lambda: S(_raw_kv(spec, "tokenizer.ggml.add_bos_token", _u32(BOOL) + b"\2"))),
        # 6. Key types and presence
        ("block_count_string.gguf", FORMAT, "required key llama.block_count is a string (\"2\")",
         lambda: S(_set_kv(spec, "llama.block_count", STRING, "2"))),
        ("embedding_length_missing.gguf", FORMAT, "required key llama.embedding_length is missing",
         lambda: S(_drop_kv(spec, "llama.embedding_length"))),
        ("architecture_missing.gguf", FORMAT, "general.architecture is missing", lambda: S(_drop_kv(spec, "general.architecture"))),
        ("architecture_u32.gguf", FORMAT, "general.architecture is a u32, not a string",
         lambda: S(_set_kv(spec, "general.architecture", U32, 1))),
        ("duplicate_key.gguf", FORMAT, "llama.block_count appears twice",
         lambda: S(replace(_copy(spec), kvs=_copy(spec).kvs + [KV("llama.block_count", U32, N_LAYER)]))),
        ("arch_mamba.gguf", UNSUPPORTED, "general.architecture = \"mamba\" (well-formed, unknown architecture)",
         lambda: S(_set_kv(spec, "general.architecture", STRING, "mamba"))),
        ("tokenizer_model_bert.gguf", UNSUPPORTED, "tokenizer.ggml.model = \"bert\" (well-formed, tokenizer RTX lacks)",
         lambda: S(_set_kv(spec, "tokenizer.ggml.model", STRING, "bert"))),
        # 4. Tensor names
        ("duplicate_tensor.gguf", FORMAT, "blk.1.ffn_down.weight renamed to blk.0.ffn_down.weight (same shape): duplicate name",
         lambda: S(_edit_tensor(spec, "blk.1.ffn_down.weight", name="blk.0.ffn_down.weight"))),
        ("tensor_name_empty.gguf", FORMAT, "output_norm.weight renamed to the empty string",
         lambda: S(_edit_tensor(spec, "output_norm.weight", name=""))),
        ("tensor_name_not_utf8.gguf", FORMAT, "a tensor name with invalid UTF-8 bytes",
         lambda: S(_edit_tensor(spec, "output_norm.weight", name=b"output_norm.\xc3\x28"))),
        # 10. Dimensions
        ("n_dims_0.gguf", FORMAT, "output_norm.weight with n_dims 0",
         lambda: S(_edit_tensor(spec, "output_norm.weight", dims=[]))),
        ("n_dims_9.gguf", FORMAT, "output_norm.weight with n_dims 9 (ggml allows at most 4)",
         lambda: S(_edit_tensor(spec, "output_norm.weight", dims=[N_EMBD] + [1] * 8))),
        ("dim_zero.gguf", FORMAT, "blk.0.attn_q.weight dims [64, 0]",
         lambda: S(_edit_tensor(spec, q0, dims=[N_EMBD, 0]))),
        ("dim_negative.gguf", FORMAT, "output_norm.weight dim 2^64-1 (-1 as int64)",
         lambda: _patch(valid, ti["output_norm.weight"]["dims"], _u64(-1))),
        ("dim_overflow.gguf", FORMAT, "token_embd.weight dims [2^32, 2^32, 2^32]: element count overflows 64 bits",
         lambda: S(_edit_tensor(spec, "token_embd.weight", dims=[1 << 32] * 3))),
        ("tensor_size_past_eof.gguf", FORMAT, "output_norm.weight dims [2^20, 2^20] f32: 4 TiB of data in a small file",
         lambda: S(_edit_tensor(spec, "output_norm.weight", dims=[1 << 20, 1 << 20]))),
        ("q8_row_not_block_multiple.gguf", FORMAT, "blk.0.attn_q.weight Q8_0 with row length 16 ([16, 256]; the block is 32)",
         lambda: S(_edit_tensor(spec, q0, dims=[16, 256]))),
        # 11. Types and shapes
        ("tensor_type_1234.gguf", FORMAT, "blk.0.attn_q.weight type id 1234 (never defined by ggml: its size is unknowable)",
         lambda: _patch(valid, ti[q0]["type"], _u32(1234))),
        ("tensor_type_negative.gguf", FORMAT, "output_norm.weight type id 0xFFFFFFFF (-1)",
         lambda: _patch(valid, ti["output_norm.weight"]["type"], _u32(-1))),
        ("tensor_type_i32.gguf", UNSUPPORTED, "output_norm.weight stored as I32 (a ggml type RTX cannot compute with; same size as F32)",
         lambda: _patch(valid, ti["output_norm.weight"]["type"], _u32(GGML_I32))),
        ("attn_k_transposed.gguf", FORMAT, "blk.0.attn_k.weight stored [32, 64] instead of [64, 32] (attn_q is square here, so k is the transposable one)",
         lambda: S(_edit_tensor(spec, k0, dims=[N_HEAD_KV * HEAD_DIM, N_EMBD]))),
        ("norm_wrong_length.gguf", FORMAT, "blk.1.ffn_norm.weight has 32 elements, embedding is 64",
         lambda: S(_edit_tensor(spec, "blk.1.ffn_norm.weight", dims=[32], data=f32_bytes([1.0] * 32)))),
        ("missing_tensor.gguf", FORMAT, "blk.1.ffn_down.weight is missing",
         lambda: S(replace(_copy(spec), tensors=[t for t in spec.tensors if t.name != "blk.1.ffn_down.weight"]))),
        ("missing_token_embd.gguf", FORMAT, "token_embd.weight is missing",
         lambda: S(replace(_copy(spec), tensors=[t for t in spec.tensors if t.name != "token_embd.weight"]))),
        # 12. Offsets
        ("offset_past_eof.gguf", FORMAT, "blk.0.attn_q.weight offset 2^32 (past the end of the file, aligned)",
         lambda: _patch(valid, ti[q0]["offset"], _u64(1 << 32))),
        ("offset_size_overflow.gguf", FORMAT, "blk.0.attn_q.weight offset 2^64-32: offset + size wraps",
         lambda: _patch(valid, ti[q0]["offset"], _u64(-32))),
        ("offset_overlap.gguf", FORMAT, "blk.0.attn_k.weight starts 32 bytes into blk.0.attn_q.weight (overlap)",
         lambda: _patch(valid, ti[k0]["offset"], _u64(rel[q0] + 32))),
        ("offset_misaligned.gguf", FORMAT, "blk.0.attn_k.weight offset +1 (not a multiple of the alignment 32)",
         lambda: _patch(valid, ti[k0]["offset"], _u64(rel[k0] + 1))),
        ("alignment_0.gguf", FORMAT, "general.alignment = 0", lambda: S(_set_kv(spec, "general.alignment", U32, 0))),
        ("alignment_3.gguf", FORMAT, "general.alignment = 3 (not a power of two)", lambda: S(_set_kv(spec, "general.alignment", U32, 3))),
        ("alignment_huge.gguf", FORMAT, "general.alignment = 2^31 (padding arithmetic puts the data far past the end)",
         lambda: S(_set_kv(spec, "general.alignment", U32, 1 << 31))),
        ("alignment_u64.gguf", FORMAT, "general.alignment stored as u64 (the spec says u32)",
         lambda: S(_set_kv(spec, "general.alignment", U64, 32))),
        # 8. Hyper-parameters
        ("head_count_0.gguf", FORMAT, "llama.attention.head_count = 0", lambda: S(_set_kv(spec, "llama.attention.head_count", U32, 0))),
        ("heads_not_dividing_embd.gguf", FORMAT, "head_count 6 does not divide embedding_length 64 (kv heads 2 divide 6)",
         lambda: S(_set_kv(spec, "llama.attention.head_count", U32, 6))),
        ("kv_heads_not_dividing.gguf", FORMAT, "head_count_kv 3 does not divide head_count 4",
         lambda: S(_set_kv(spec, "llama.attention.head_count_kv", U32, 3))),
        ("kv_heads_0.gguf", FORMAT, "llama.attention.head_count_kv = 0", lambda: S(_set_kv(spec, "llama.attention.head_count_kv", U32, 0))),
        ("block_count_0.gguf", FORMAT, "llama.block_count = 0", lambda: S(_set_kv(spec, "llama.block_count", U32, 0))),
        ("block_count_huge.gguf", FORMAT, "llama.block_count = 2^31 (only 2 layers of tensors)",
         lambda: S(_set_kv(spec, "llama.block_count", U32, 1 << 31))),
        ("embedding_length_mismatch.gguf", FORMAT, "llama.embedding_length = 32 but the tensors are 64 wide",
         lambda: S(_set_kv(spec, "llama.embedding_length", U32, 32))),
        ("context_length_0.gguf", FORMAT, "llama.context_length = 0", lambda: S(_set_kv(spec, "llama.context_length", U32, 0))),
        ("rms_eps_nan.gguf", FORMAT, "llama.attention.layer_norm_rms_epsilon = NaN",
         lambda: S(_set_kv(spec, "llama.attention.layer_norm_rms_epsilon", F32, float("nan")))),
        ("rope_freq_base_0.gguf", FORMAT, "llama.rope.freq_base = 0", lambda: S(_set_kv(spec, "llama.rope.freq_base", F32, 0.0))),
        ("rope_dims_too_big.gguf", FORMAT, "llama.rope.dimension_count 32 exceeds the head dimension 16",
         lambda: S(_set_kv(spec, "llama.rope.dimension_count", U32, 32))),
        # 7/9. Tokenizer
        ("bos_out_of_range.gguf", FORMAT, f"tokenizer.ggml.bos_token_id = {n_vocab} (= vocabulary size)",
         lambda: S(_set_kv(spec, "tokenizer.ggml.bos_token_id", U32, n_vocab))),
        ("eos_out_of_range.gguf", FORMAT, "tokenizer.ggml.eos_token_id = 2^32-1",
         lambda: S(_set_kv(spec, "tokenizer.ggml.eos_token_id", U32, 0xFFFFFFFF))),
        ("token_type_length_mismatch.gguf", FORMAT, "tokenizer.ggml.token_type has one entry fewer than tokens",
         lambda: S(_set_kv(spec, "tokenizer.ggml.token_type", ARRAY, (I32, types[:-1])))),
        ("token_type_unknown.gguf", FORMAT, "a token type of 99",
         lambda: S(_set_kv(spec, "tokenizer.ggml.token_type", ARRAY, (I32, types[:-1] + [99])))),
        ("vocab_embedding_mismatch.gguf", FORMAT, "one token fewer in tokens/token_type/vocab_size than embedding rows",
         lambda: S(_set_kv(_set_kv(_set_kv(spec, "tokenizer.ggml.tokens", ARRAY, (STRING, tokens[:-1])),
                                   "tokenizer.ggml.token_type", ARRAY, (I32, types[:-1])),
                           "llama.vocab_size", U32, n_vocab - 1))),
        ("token_with_nul.gguf", FORMAT, "a token whose text contains a NUL byte",
         lambda: S(_set_kv(spec, "tokenizer.ggml.tokens", ARRAY, (STRING, tokens[:-1] + ["wo\0rld"])))),
        ("merge_missing_token.gguf", FORMAT, "a merge naming a token that is not in the vocabulary",
         lambda: S(_set_kv(spec, "tokenizer.ggml.merges", ARRAY, (STRING, merges + ["zz qq"])))),
        # 13. Non-finite weights
        ("nan_in_norm.gguf", FORMAT, "NaN in output_norm.weight (a norm vector, read eagerly at load)",
         lambda: S(_edit_tensor(spec, "output_norm.weight", data=_nan_in_f32(spec.tensor("output_norm.weight").data, 3)))),
        ("nan_in_embedding.gguf", OK, "[warn] NaN in token_embd.weight (f32, row 100): loads, but a warning must be logged",
         lambda: S(_edit_tensor(spec, "token_embd.weight", data=_nan_in_f32(spec.tensor("token_embd.weight").data, 100 * N_EMBD + 5)))),
        ("nan_q8_scale.gguf", OK, "[warn] NaN as the f16 scale of block 3 of blk.0.ffn_up.weight (Q8_0): loads, but a warning must be logged",
         lambda: S(_edit_tensor(spec, "blk.0.ffn_up.weight", data=_nan_in_q8_scale(spec.tensor("blk.0.ffn_up.weight").data, 3)))),
        # 14. Exit gates (docs/recursive-gguf.md): one after each loop but the last, so a
        # vanilla file (one loop) has none. The recursive cases are in ExitGateTests.swift.
        ("gate_in_vanilla.gguf", FORMAT, "an exit gate (rtx.gate.0.weight/bias) in a vanilla file, whose one loop has no boundary",
         lambda: S(_add_tensors(spec, Tensor("rtx.gate.0.weight", [N_EMBD], GGML_F32, f32_bytes([0.01] * N_EMBD)),
                                Tensor("rtx.gate.0.bias", [1], GGML_F32, f32_bytes([0.0]))))),
    ]
    return cases


# --------------------------------------------------------------------------
# The same tiny model in every other architecture RTX reads
# --------------------------------------------------------------------------
ARCHITECTURES = ["gemma", "gemma2", "gemma3", "gptneox"]


def arch_spec(arch: str, seed: int = 99) -> Spec:
    """The tiny model as `arch`: the Llama keys renamed to "{arch}.", and the tensors
    that architecture adds (Gemma 2: post-norms; Gemma 3: q/k norms; GPT-NeoX: fused
    Q/K/V, biases, LayerNorm epsilon, plain FFN, as many K/V heads as query heads)."""
    rng = random.Random(seed)
    base = tiny_spec()
    s = _copy(base)
    for kv in s.kvs:
        if isinstance(kv.key, str) and kv.key.startswith("llama."):
            kv.key = arch + "." + kv.key[len("llama."):]
    s.kv("general.architecture").value = arch

    def norm(name: str, n: int) -> Tensor:
        return Tensor(name, [n], GGML_F32, f32_bytes([1.0 + rng.uniform(-0.05, 0.05) for _ in range(n)]))

    def small(name: str, n: int) -> Tensor:
        return Tensor(name, [n], GGML_F32, f32_bytes([rng.gauss(0.0, 0.02) for _ in range(n)]))

    def linear(name: str, n_in: int, n_out: int) -> Tensor:
        return Tensor(name, [n_in, n_out], GGML_Q8_0,
                      q8_0_bytes([rng.gauss(0.0, 1.0 / math.sqrt(n_in)) for _ in range(n_in * n_out)]))

    if arch in ("gemma2", "gemma3"):
        for i in range(N_LAYER):
            s.tensors += [norm(f"blk.{i}.post_attention_norm.weight", N_EMBD), norm(f"blk.{i}.post_ffw_norm.weight", N_EMBD)]
    if arch == "gemma3":
        for i in range(N_LAYER):
            s.tensors += [norm(f"blk.{i}.attn_q_norm.weight", HEAD_DIM), norm(f"blk.{i}.attn_k_norm.weight", HEAD_DIM)]
    if arch == "gptneox":
        s.kv(arch + ".attention.head_count_kv").value = N_HEAD
        eps = s.kv(arch + ".attention.layer_norm_rms_epsilon")
        eps.key = arch + ".attention.layer_norm_epsilon"
        s.kvs.append(KV(arch + ".use_parallel_residual", BOOL, True))
        keep = ("token_embd.weight", "output_norm.weight")
        s.tensors = [t for t in s.tensors if t.name in keep] + [small("output_norm.bias", N_EMBD)]
        for i in range(N_LAYER):
            p = f"blk.{i}."
            s.tensors += [
                norm(p + "attn_norm.weight", N_EMBD), small(p + "attn_norm.bias", N_EMBD),
                linear(p + "attn_qkv.weight", N_EMBD, 3 * N_EMBD), small(p + "attn_qkv.bias", 3 * N_EMBD),
                linear(p + "attn_output.weight", N_EMBD, N_EMBD), small(p + "attn_output.bias", N_EMBD),
                norm(p + "ffn_norm.weight", N_EMBD), small(p + "ffn_norm.bias", N_EMBD),
                linear(p + "ffn_up.weight", N_EMBD, N_FF), small(p + "ffn_up.bias", N_FF),
                linear(p + "ffn_down.weight", N_FF, N_EMBD), small(p + "ffn_down.bias", N_EMBD),
            ]
    return s


def count_and_id_cases(spec: Spec, arch: str) -> list[tuple[str, str, str, Callable[[], bytes]]]:
    """Counts the readers allocate by and ids the runtime narrows to Int32, for one
    architecture: each must be refused before any allocation or conversion."""
    S = lambda s: serialize(s)[0]  # noqa: E731
    k = arch + "."
    raw_i32 = lambda v: _u32(I32) + struct.pack("<i", v)  # noqa: E731
    raw_u64 = lambda v: _u32(U64) + _u64(v)  # noqa: E731
    cases = [] if arch == "llama" else [  # llama: block_count_huge.gguf above
        (f"{arch}_block_count_2e31.gguf", FORMAT, f"{k}block_count = 2^31", lambda: S(_set_kv(spec, k + "block_count", U32, 1 << 31))),
    ]
    cases += [
        (f"{arch}_block_count_u64_huge.gguf", FORMAT, f"{k}block_count = 2^62 (u64)",
         lambda: S(_raw_kv(spec, k + "block_count", raw_u64(BIG)))),
        (f"{arch}_block_count_u64_max.gguf", FORMAT, f"{k}block_count = 2^64-1 (u64: past Int64)",
         lambda: S(_raw_kv(spec, k + "block_count", raw_u64(-1)))),
        (f"{arch}_block_count_negative.gguf", FORMAT, f"{k}block_count = -1 (i32)",
         lambda: S(_raw_kv(spec, k + "block_count", raw_i32(-1)))),
        (f"{arch}_block_count_4096.gguf", FORMAT, f"{k}block_count = 4096 (the limit; only {N_LAYER} layers of tensors)",
         lambda: S(_set_kv(spec, k + "block_count", U32, 4096))),
        (f"{arch}_embedding_length_huge.gguf", FORMAT, f"{k}embedding_length = 2^40 (u64)",
         lambda: S(_raw_kv(spec, k + "embedding_length", raw_u64(1 << 40)))),
        (f"{arch}_feed_forward_negative.gguf", FORMAT, f"{k}feed_forward_length = -128 (i32)",
         lambda: S(_raw_kv(spec, k + "feed_forward_length", raw_i32(-128)))),
        (f"{arch}_head_count_huge.gguf", FORMAT, f"{k}attention.head_count = 2^31",
         lambda: S(_set_kv(spec, k + "attention.head_count", U32, 1 << 31))),
        (f"{arch}_vocab_size_huge.gguf", FORMAT, f"{k}vocab_size = 2^40 (u64)",
         lambda: S(_raw_kv(spec, k + "vocab_size", raw_u64(1 << 40)))),
        (f"{arch}_bos_u64_huge.gguf", FORMAT, "tokenizer.ggml.bos_token_id = 2^40 (u64, past Int32)",
         lambda: S(_raw_kv(spec, "tokenizer.ggml.bos_token_id", raw_u64(1 << 40)))),
        (f"{arch}_eos_negative.gguf", FORMAT, "tokenizer.ggml.eos_token_id = -1 (i32)",
         lambda: S(_raw_kv(spec, "tokenizer.ggml.eos_token_id", raw_i32(-1)))),
        (f"{arch}_pad_u64_max.gguf", FORMAT, "tokenizer.ggml.padding_token_id = 2^64-1 (u64)",
         lambda: S(_raw_kv(spec, "tokenizer.ggml.padding_token_id", raw_u64(-1)))),
        (f"{arch}_token_type_u64_max.gguf", FORMAT, "tokenizer.ggml.token_type as u64 with one element 2^64-1",
         lambda: S(_set_kv(spec, "tokenizer.ggml.token_type", ARRAY,
                           (U64, spec.kv("tokenizer.ggml.token_type").value[1][:-1] + [(1 << 64) - 1])))),
        # A numeric array is kept as the file's bytes: half a megabyte of u8 loads at no cost.
        (f"{arch}_big_u8_array.gguf", OK, "a 512 KiB u8 metadata array (kept as the file's bytes, not one value per element)",
         lambda: S(_raw_kv(spec, "general.blob", _u32(ARRAY) + _u32(U8) + _u64(1 << 19) + bytes(1 << 19), False))),
        (f"{arch}_bool_array_2.gguf", FORMAT, "a bool array holding the byte 2",
         lambda: S(_raw_kv(spec, "general.flags", _u32(ARRAY) + _u32(BOOL) + _u64(3) + b"\1\0\2", False))),
    ]
    if arch in ("gemma2", "gemma3"):
        cases += [
            (f"{arch}_sliding_window_pattern_huge.gguf", FORMAT, f"{k}attention.sliding_window_pattern = 2^32-1",
             lambda: S(_set_kv(spec, k + "attention.sliding_window_pattern", U32, 0xFFFFFFFF))),
            (f"{arch}_sliding_window_negative.gguf", FORMAT, f"{k}attention.sliding_window = -1 (i32)",
             lambda: S(_raw_kv(spec, k + "attention.sliding_window", raw_i32(-1), False))),
        ]
    if arch == "gptneox":
        cases += [
            ("gptneox_head_count_kv_2.gguf", FORMAT,
             "gptneox.attention.head_count_kv = 2 with 4 query heads (Q, K, V are equal thirds of attn_qkv)",
             lambda: S(_set_kv(spec, k + "attention.head_count_kv", U32, 2))),
            ("gptneox_qkv_short.gguf", FORMAT, "blk.0.attn_qkv.weight has 2·d rows instead of 3·d",
             lambda: S(_edit_tensor(spec, "blk.0.attn_qkv.weight", dims=[N_EMBD, 2 * N_EMBD],
                                    data=spec.tensor("blk.0.attn_qkv.weight").data[:len(spec.tensor("blk.0.attn_qkv.weight").data) * 2 // 3]))),
        ]
    return cases


def make_all(out_dir: str) -> list[tuple[str, str, str]]:
    """Write valid_tiny.gguf and every corruption into out_dir, plus manifest.tsv.
    Returns [(filename, expected_status_name, description)], valid file first."""
    os.makedirs(out_dir, exist_ok=True)
    spec = tiny_spec()
    valid, lay = serialize(spec)
    n_vocab = len(spec.kv("tokenizer.ggml.tokens").value[1])
    entries = [("valid_tiny.gguf", OK,
                f"valid GGUF v3 tiny Llama: {N_LAYER} layers, n_embd {N_EMBD}, {N_HEAD} heads, {N_HEAD_KV} kv heads, "
                f"ffn {N_FF}, vocab {n_vocab} (gpt2 BPE), F32 + Q8_0, alignment {ALIGNMENT}")]
    blobs = {"valid_tiny.gguf": valid}
    generated = corruptions(spec, valid, lay) + count_and_id_cases(spec, "llama")
    for arch in ARCHITECTURES:
        a = arch_spec(arch)
        a_valid = serialize(a)[0]
        generated.append((f"valid_{arch}.gguf", OK, f"the tiny model as a valid {arch} GGUF", lambda b=a_valid: b))
        generated += count_and_id_cases(a, arch)
    for fname, status, desc, build in generated:
        assert fname not in blobs, fname
        data = build()
        assert data != valid, fname
        assert len(data) < 1 << 20, (fname, len(data))
        assert data not in blobs.values(), f"{fname} repeats another file"
        blobs[fname] = data
        entries.append((fname, status, desc))
    for fname, data in blobs.items():
        with open(os.path.join(out_dir, fname), "wb") as f:
            f.write(data)
    with open(os.path.join(out_dir, "manifest.tsv"), "w", encoding="utf-8") as f:
        for fname, status, desc in entries:
            assert "\t" not in desc and "\n" not in desc
            f.write(f"{fname}\t{status}\t{desc}\n")
    return entries


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUT_DIR", file=sys.stderr)
        return 2
    entries = make_all(argv[1])
    for fname, status, desc in entries:
        print(f"{fname}\t{status}\t{desc}")
    print(f"# {len(entries)} files ({len(entries) - 1} corruptions) in {argv[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
