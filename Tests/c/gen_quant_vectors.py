#!/usr/bin/env python3
"""Write bit-exactness vectors for rtxk_dequantize_row: random valid blocks of
each GGML type, dequantized by the `gguf` package (the reference).

Usage: gen_quant_vectors.py [OUT]   (default Tests/c/data/quant_vectors.bin)

File layout (little-endian): b"RTXQ" u32 version=1, then records until EOF:
  i32 type, i32 n_elems, raw blocks (n_elems / block_elems * block_bytes bytes),
  f32[n_elems] as gguf.quants.dequantize returns them.
"""
import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

rng = np.random.default_rng(20240611)


def random_fp16(k):
    """k finite fp16 values as bytes: random sign/exponent/mantissa (subnormals and
    zeros included), exponent != 31 so no inf/nan."""
    bits = rng.integers(0, 1 << 16, size=k, dtype=np.uint32).astype(np.uint16)
    exp = (bits >> 10) & 0x1F
    bits = np.where(exp == 0x1F, bits & ~np.uint16(0x4000), bits).astype(np.uint16)  # 31 -> 15
    # a few exact specials
    bits[: min(k, 4)] = np.array([0x0000, 0x8000, 0x0001, 0x3C00], dtype=np.uint16)[: min(k, 4)]
    return bits


def sane_fp16(k):
    """k small positive-or-negative fp16 scales in a realistic range (1e-4 .. 1)."""
    v = rng.uniform(1e-4, 1.0, size=k) * rng.choice([-1.0, 1.0], size=k)
    return v.astype(np.float16).view(np.uint16)


# byte offsets of the fp16 scale fields inside one block, per type
SCALE_FIELDS = {
    T.Q4_0: [0],
    T.Q4_1: [0, 2],
    T.Q5_0: [0],
    T.Q5_1: [0, 2],
    T.Q8_0: [0],
    T.Q4_K: [0, 2],
    T.Q6_K: [208],
}


def make_blocks(qtype, n_blocks):
    _, block_bytes = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for off in SCALE_FIELDS[qtype]:
        # mostly sane scales, a few adversarial finite ones (subnormal, zero, large)
        vals = sane_fp16(n_blocks)
        odd = random_fp16(n_blocks)
        pick = rng.random(n_blocks) < 0.2
        vals = np.where(pick, odd, vals).astype(np.uint16)
        raw[:, off:off + 2] = vals.view(np.uint8).reshape(n_blocks, 2)
    return raw


def records():
    # plain float types
    n = 515
    f32 = rng.standard_normal(n).astype(np.float32)
    f32[:4] = [0.0, -0.0, 1e-40, -3.4e38]
    yield T.F32, n, f32.tobytes(), f32
    h = random_fp16(n)
    h[4:6] = [0x7C00, 0xFC00]  # +-inf
    yield T.F16, n, h.tobytes(), h.view(np.float16).astype(np.float32)
    b = rng.integers(0, 1 << 16, size=n, dtype=np.uint32).astype(np.uint16)
    b = np.where((b & 0x7F80) == 0x7F80, b & ~np.uint16(0x4000), b).astype(np.uint16)  # no inf/nan
    yield T.BF16, n, b.tobytes(), dequantize(b.view(np.uint8), T.BF16).reshape(-1)
    for qtype, nb in [(T.Q4_0, 48), (T.Q4_1, 48), (T.Q5_0, 48), (T.Q5_1, 48), (T.Q8_0, 48),
                      (T.Q4_K, 12), (T.Q6_K, 12)]:
        be, _ = GGML_QUANT_SIZES[qtype]
        raw = make_blocks(qtype, nb)
        ref = dequantize(raw.reshape(1, -1), qtype).reshape(-1).astype(np.float32)
        assert ref.size == nb * be
        yield qtype, nb * be, raw.tobytes(), ref


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "data", "quant_vectors.bin")
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "wb") as f:
        f.write(b"RTXQ" + struct.pack("<I", 1))
        for qtype, n, raw, ref in records():
            f.write(struct.pack("<ii", int(qtype), n))
            f.write(raw)
            f.write(np.asarray(ref, dtype="<f4").tobytes())
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
